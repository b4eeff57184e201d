#!/bin/bash
# client_kms_kill.sh - no acknowledged message lost when the KMS is killed
# right after a rekey (issue 10 item 5).  A QoS 1 stream runs through 20
# rounds of: rotate the group twice (to an epoch the subscriber does not
# hold), wait for the publisher to fetch it, kill -9 the KMS, restart it.
# The subscriber's way to the KMS is cut from the rotation until the KMS is
# back (a relay that refuses), so every round it meets the new epoch before
# it can fetch it - the window that, by timing, lost 21-23 messages in 3 of
# 60 rounds on today's main.  Each round ends when the subscriber has
# caught up.  Every message must arrive once, in order.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

ROUNDS=${ROUNDS:-20}
kms_start
enrol broker broker
enrol pub client
enrol sub client
expect_rc 0 kmsctl group add grp --filter 'k/#' --scheme 4 --grace 600
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub grp sub
broker_start

RELAY_PORT=$(t_free_port)
echo forward >"$T_DIR/relay.mode"
python3 "$top_srcdir/tests/client_relay.py" "$RELAY_PORT" "$KMS_PORT" "$T_DIR/relay.mode" \
	>"$T_DIR/relay.out" 2>&1 &
t_track $!
wait_for "$T_DIR/relay.out" ready || t_fail "the KMS relay did not start"

# the subscriber reaches the KMS through the relay
# shellcheck disable=SC2046
"$SUB" $(client_args sub | sed "s#--kms [^ ]*#--kms ${KMS_URL%%://*}://127.0.0.1:$RELAY_PORT#") \
	-d -q 1 -t 'k/#' >"$T_DIR/sub.out" 2>"$T_DIR/sub.out.err" &
SUBP=$!
t_track "$SUBP"
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "the subscriber did not subscribe"

# the stream: one QoS 1 message every 20 ms until "$T_DIR/stop" appears
pub_bg pub <( i=0; while [ ! -e "$T_DIR/stop" ]; do i=$((i + 1)); echo "m-$i"; echo "$i" >"$T_DIR/sent"; sleep 0.02; done ) \
	"$T_DIR/pub.err" -t k/s -q 1 -l
PUBP=$PUB_PID
sleep 1

# sent: the number of the last message handed to the publisher (the file is
# rewritten for each one: read again if we caught it empty)
sent() {
	local v=""
	while [ -z "$v" ]; do v=$(cat "$T_DIR/sent" 2>/dev/null); done
	echo "$v"
}

moved=0
for r in $(seq 1 "$ROUNDS"); do
	before=$(fetches pub)
	echo refuse >"$T_DIR/relay.mode"
	expect_rc 0 kmsctl group rotate grp
	expect_rc 0 kmsctl group rotate grp
	# the rekey notice makes the publisher fetch the new epoch
	for _ in $(seq 1 30); do [ "$(fetches pub)" -gt "$before" ] && break; sleep 0.1; done
	m=no
	[ "$(fetches pub)" -gt "$before" ] && { moved=$((moved + 1)); m=yes; }
	sleep 0.2   # messages under the new epoch reach the subscriber
	kms_stop -9
	k=$(sent)
	sleep 0.3
	kms_start
	echo forward >"$T_DIR/relay.mode"
	t0=$(now_ms)
	# until the subscriber has what was sent before the kill (it fetches
	# the new epoch at its next try), or a drop lost it
	for _ in $(seq 1 100); do grep -qx "m-$k" "$T_DIR/sub.out" && break; sleep 0.1; done
	t_log "round $r: publisher on the new epoch before the kill: $m; subscriber had m-$k" \
	    "$(($(now_ms) - t0)) ms after the KMS was back; dropped so far $(drops "$T_DIR/sub.out.err")"
done
touch "$T_DIR/stop"
wait "$PUBP" || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
n=$(sent)
wait_for "$T_DIR/sub.out" "^m-$n\$" 1 300
kill "$SUBP"
wait "$SUBP"

read -r lost dup extra inorder <<<"$(check_stream "$T_DIR/sub.out" "$n")"
d=$(drops "$T_DIR/sub.out.err")
t_log "$ROUNDS rounds (publisher on the new epoch before the kill in $moved), $n messages" \
    "sent and acknowledged: lost $lost, duplicated $dup, foreign $extra, in order $inorder," \
    "dropped $d; epochs $(epochs_seen "$T_DIR/sub.out.err"); subscriber key requests" \
    "refused $(grep -c '^refuse' "$T_DIR/relay.out")"
[ "$moved" -ge $((ROUNDS / 2)) ] || t_fail "the publisher moved to the new epoch in only $moved of $ROUNDS rounds: the test did not test"
[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$extra" = 0 ] && [ "$inorder" = 1 ] && [ "$d" = 0 ] ||
	{ grep dropped "$T_DIR/sub.out.err" | head -5 >&2; t_fail "messages lost, duplicated, reordered or dropped"; }
exit 0
