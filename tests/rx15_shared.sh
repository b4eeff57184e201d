#!/bin/bash
# Issue 15, fourth pass: four libmqe2e subscribers of a scheme 4 group in one
# process (tests/rx15_shared.c), the bench's case in small.  Every message
# reaches the four clients as the same bytes: the first copy is checked
# with OpenSSL, the memo answers the others, and for those the library no
# longer releases OpenSSL's state of paho's receive thread
# (client__paho_thread_done_if).  sub1's message callback publishes each
# message again on e2e/relay/ from that thread, and every client receives
# the relays too.  All 4 x 2 x 30 messages must arrive intact from the right
# sender, and the process must exit 0 (in the sanitizer build: no leak or
# memory error reported).  Nothing is timed.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

N=4
COUNT=30
PROG="$top_builddir/tests/rx15_shared"
[ -x "$PROG" ] || t_skip "rx15_shared not built"
setup_world 4 "$N"
expect_rc 0 kmsctl grant add sub1 grp pub

"$PROG" "tcp://127.0.0.1:$MQTT_PORT" "$KMS_URL" "$PKI" "$N" "$COUNT" >"$T_DIR/shared.out" \
	2>"$T_DIR/shared.err" &
PID=$!
t_track "$PID"
wait_for "$T_DIR/shared.out" "^ready" 1 600 || {
	cat "$T_DIR/shared.err" >&2
	t_fail "the $N clients did not all connect and subscribe"
}
for i in $(seq 1 "$COUNT"); do echo "msg $i of $COUNT"; done >"$T_DIR/lines"
pub pub -t e2e/line/1 -q 1 -l <"$T_DIR/lines" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub failed"; }
wait_pid "$PID" 1500
rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/shared.err" >&2; t_fail "rx15_shared exited $rc"; }
grep -q "^received $((N * COUNT)) $((N * COUNT))\$" "$T_DIR/shared.out" ||
	t_fail "expected 'received $((N * COUNT)) $((N * COUNT))', got: $(cat "$T_DIR/shared.out")"
if grep -q "LeakSanitizer\|ERROR: AddressSanitizer" "$T_DIR/shared.err"; then
	cat "$T_DIR/shared.err" >&2
	t_fail "the sanitizers reported an error"
fi
t_log "$N clients in one process: $COUNT lines and $COUNT relays each, exit 0"
exit 0
