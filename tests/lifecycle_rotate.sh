#!/bin/bash
# lifecycle_rotate.sh - rotation without loss: the group rotates every 2 s
# during a 10 s QoS 1 stream to 3 subscribers.  Every subscriber gets every
# message exactly once, in order, and the library reports no message it
# could not verify or decrypt; the stream spans several epochs.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

N=200           # messages, one every 50 ms: about 10 s
kms_start
enrol broker broker
enrol pub client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 2 --grace 10
expect_rc 0 kmsctl grant add pub grp pub
for i in 1 2 3; do
	enrol "sub$i" client
	expect_rc 0 kmsctl grant add "sub$i" grp sub
done
broker_start

for i in 1 2 3; do
	sub_bg "sub$i" "$T_DIR/sub$i.out" -q 1 -t 'e2e/#' -C "$N" -W 50
	eval "SUB${i}_PID=$SUB_PID"
	wait_for "$T_DIR/sub$i.out.err" "subscribed to" || t_fail "sub$i did not subscribe"
done
e0=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
t0=$(now_ms)
pub_bg pub <( for i in $(seq 1 "$N"); do echo "m-$i"; sleep 0.05; done ) "$T_DIR/pub.err" -t e2e/stream -q 1 -l
PUBP=$PUB_PID
wait "$PUBP" || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
t1=$(now_ms)
e1=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
for i in 1 2 3; do
	eval "p=\$SUB${i}_PID"
	wait_pid "$p" 300 || { cat "$T_DIR/sub$i.out.err" >&2; t_fail "sub$i did not get all $N messages"; }
done

fail=0
for i in 1 2 3; do
	read -r lost dup extra inorder <<<"$(check_stream "$T_DIR/sub$i.out" "$N")"
	d=$(drops "$T_DIR/sub$i.out.err")
	t_log "sub$i: lost $lost, duplicated $dup, foreign $extra, in order $inorder," \
	    "decryption failures $d, epochs $(epochs_seen "$T_DIR/sub$i.out.err")," \
	    "key fetches $(fetches "sub$i")"
	[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$extra" = 0 ] && [ "$inorder" = 1 ] && [ "$d" = 0 ] || fail=1
done
[ "$fail" = 0 ] || { cat "$T_DIR"/sub*.out.err >&2; t_fail "messages lost, duplicated or refused"; }
n=$(epochs_seen "$T_DIR/sub1.out.err" | wc -w)
t_log "stream of $N messages in $((t1 - t0)) ms; KMS epochs $e0 -> $e1; publisher used $n epochs;" \
    "publisher key fetches $(fetches pub); rekey notice rounds" \
    "$(grep -c 'sending rekey notices' "$T_DIR/mosquitto.log")"
[ "$e1" -gt "$e0" ] || t_fail "the KMS did not rotate during the stream"
[ "$n" -ge 2 ] || t_fail "the publisher never moved to a new epoch (epochs: $(epochs_seen "$T_DIR/sub1.out.err"))"
grep -q "dropped\|refused\|cannot" "$T_DIR/pub.err" && { cat "$T_DIR/pub.err" >&2; t_fail "the publisher reported errors"; }
exit 0
