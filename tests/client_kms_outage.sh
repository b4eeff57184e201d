#!/bin/bash
# The KMS stops in the middle of a run: the live publisher and subscriber
# keep exchanging messages on the keys they hold; a new client cannot
# connect and says clearly that the KMS is unreachable; once the KMS is back
# new clients connect again.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
# a second publisher that connects only during and after the outage (with
# its own identity: the same client id would take over the live session)
enrol late client
expect_rc 0 kmsctl grant add late grp pub
sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'e2e/#' -C 21 -W 120
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"

mkfifo "$T_DIR/lines"
pub_bg pub "$T_DIR/lines" "$T_DIR/pub.err" -t e2e/a -q 1 -l
PUBP=$PUB_PID
exec 3>"$T_DIR/lines"
for i in $(seq 1 10); do echo "before outage $i" >&3; done
wait_for "$T_DIR/sub.out" "before outage" 10 || t_fail "messages before the outage did not arrive"

kms_stop
t_log "KMS stopped"
for i in $(seq 1 10); do echo "during outage $i" >&3; done
wait_for "$T_DIR/sub.out" "during outage" 10 ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "live clients stopped delivering while the KMS was down"; }
t_log "live session delivered 10 messages on cached keys while the KMS was down"

# a new client cannot get keys: exit 3 and a message naming the KMS URL
expect_rc 3 pub late -t e2e/a -q 1 -m "new client during outage"
grep -q "KMS at $KMS_URL" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no clear KMS error"; }
grep -q "mqe2e-kmsd" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "the error does not say what to do"; }
t_log "new client refused: $(head -n 1 "$T_DIR/err")"

kms_start 3>&-   # the daemon must not hold the FIFO open
expect_rc 0 pub late -t e2e/a -q 1 -m "after the KMS came back"
wait_for "$T_DIR/sub.out" "after the KMS came back" || t_fail "new client after the outage did not deliver"

exec 3>&-
wait_pid "$PUBP" 100 || { cat "$T_DIR/pub.err" >&2; t_fail "the live publisher failed"; }
wait_pid "$SUBP" 100 || { cat "$T_DIR/sub.out.err" >&2; t_fail "the subscriber failed"; }
{
	for i in $(seq 1 10); do echo "before outage $i"; done
	for i in $(seq 1 10); do echo "during outage $i"; done
	echo "after the KMS came back"
} >"$T_DIR/expected"
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || { diff "$T_DIR/expected" "$T_DIR/sub.out" >&2; t_fail "messages lost or out of order"; }
exit 0
