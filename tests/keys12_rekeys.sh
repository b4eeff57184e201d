#!/bin/bash
# keys12_rekeys.sh - no cliff in the number of rekeys (issue 12): a group is
# rotated 3,000 times within its grace period (version 1 of the protocol put
# every grace epoch in every key bundle and failed every fetch for good past
# 4,096 keys).  While a publisher keeps publishing, subscribers keep
# decrypting every message (none lost); afterwards every fetch still works and stays small (the
# group's window), an old grace epoch beyond the window is fetched by number
# (a retained message sealed before the burst is read by a new subscriber),
# and traffic flows.  Prints the sizes and times it measured.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/client_lib.sh" || exit 99

NROT=3000
ms() { date +%s%3N; }

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol pub client
enrol sub1 client
enrol late client
expect_rc 0 kmsctl group add hot --filter 'hot/#' --scheme 4 --rotate 86400 --grace 3600
expect_rc 0 kmsctl grant add pub hot pub
expect_rc 0 kmsctl grant add sub1 hot sub
expect_rc 0 kmsctl grant add late hot sub
broker_start

# a retained message under epoch 1, before the burst
echo "retained before the burst" | pub pub -t hot/status -q 1 -r -l 2>"$T_DIR/pubr.err" ||
	{ cat "$T_DIR/pubr.err" >&2; t_fail "retained publish failed"; }

# a subscriber, and a publisher that keeps publishing through the burst
NMSG=100
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'hot/live' -W 240
SUB1_PID=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" 1 300 || t_fail "sub1 did not subscribe"
mkfifo "$T_DIR/gen.fifo"
# (the FIFO is opened in the background: its reader, the publisher, comes next)
gen() { for i in $(seq 1 $NMSG); do echo "during $i"; sleep 0.1; done >"$T_DIR/gen.fifo"; }
t_bg_func GEN_PID gen
pub_bg pub "$T_DIR/gen.fifo" "$T_DIR/pub.err" -t hot/live -q 1 -l
sleep 1

# the burst
python3 "$top_srcdir/tests/keys12_burst.py" "$KMS_URL" "$KMS_DIR/admin.token" hot $NROT "$KMS_DIR/ca.crt" \
	>"$T_DIR/burst.out" 2>"$T_DIR/burst.err" || t_fail "the burst failed: $(cat "$T_DIR/burst.err")"
t_log "burst: $(cat "$T_DIR/burst.out") (one keep-alive admin connection)"
wait_pid "$PUB_PID" 600 || { tail -5 "$T_DIR/pub.err" >&2; t_fail "the publisher failed during the burst"; }
npub=$(grep -c '^mqe2e-pub: published' "$T_DIR/pub.err")
[ "$npub" = $NMSG ] || t_fail "the publisher published $npub of $NMSG messages"
# no message is lost: a subscriber entitled to an epoch gets it, by number
# if the burst moved the window past it (the held messages wait for the
# fetch that asks for their epoch); bounded by the hold time (hold_s 30)
t0=$(ms)
wait_for "$T_DIR/sub1.out" '^during' $NMSG 600 || t_fail "the subscriber lost messages published during the burst"
during=$(grep -c '^during' "$T_DIR/sub1.out")
dropped=$(grep -c 'dropped a message' "$T_DIR/sub1.out.err")
t_log "during the burst: $during of $NMSG messages decrypted, $dropped dropped; the last $(( $(ms) - t0 )) ms after the publisher ended"
[ "$dropped" = 0 ] || { grep 'dropped a message' "$T_DIR/sub1.out.err" | head -5 >&2; t_fail "$dropped messages dropped during the burst"; }
grep '^during' "$T_DIR/sub1.out" | sort -c -t' ' -k2,2n 2>/dev/null || t_fail "messages out of order"

# after the burst: every message arrives
for i in $(seq 1 20); do echo "after $i"; done >"$T_DIR/after"
pub pub -t hot/live -q 1 -l <"$T_DIR/after" 2>"$T_DIR/pub2.err" ||
	{ cat "$T_DIR/pub2.err" >&2; t_fail "publishing after the burst failed"; }
wait_for "$T_DIR/sub1.out" '^after' 20 300 || t_fail "the subscriber lost messages after the burst"
grep '^after' "$T_DIR/sub1.out" | cmp -s - "$T_DIR/after" || t_fail "messages after the burst altered or out of order"
t_log "after the burst: 20 of 20 messages decrypted"
kill "$SUB1_PID" 2>/dev/null
wait "$SUB1_PID" 2>/dev/null

# fetches work and stay small: the window, not 3,000 grace epochs
t0=$(ms)
keyreq sub1 >"$T_DIR/sub1.keys" || t_fail "key fetch after the burst: $(cat "$T_DIR/sub1.keys")"
t1=$(ms)
n=$(wc -l <"$T_DIR/sub1.keys")
bytes=$(grep '"actor":"client:sub1","action":"keys.fetch".*"result":"ok"' "$KMS_DIR/audit.log" | tail -1 |
	sed -n 's/.*groups, \([0-9]*\) bytes.*/\1/p')
t_log "key fetch after $NROT rekeys: $n keys, ${bytes:-?} bytes, $((t1 - t0)) ms"
[ "$n" -le 12 ] || t_fail "$n keys: the window is current + 1 next + 4 grace epochs, 2 kinds"
# an old grace epoch by number
keyreq sub1 --group hot@1 | awk '$3 == 1' | grep -q GK_P || t_fail "epoch 1 (in grace) not delivered by number"
# ... and the retained message of epoch 1 is read by a new subscriber
sub_bg late "$T_DIR/late.out" -q 1 -t 'hot/status' -C 1 -W 60
wait_pid "$SUB_PID" 700 || { cat "$T_DIR/late.out.err" >&2; t_fail "the late subscriber did not read the retained message"; }
grep -q "retained before the burst" "$T_DIR/late.out" || t_fail "retained message: $(cat "$T_DIR/late.out")"
t_log "a retained message of epoch 1 read after $NROT rekeys (its key fetched by number)"
broker_stop
kms_stop
exit 0
