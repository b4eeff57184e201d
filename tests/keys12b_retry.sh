#!/bin/bash
# keys12b_retry.sh - a retried KEY_REQUEST is a new request (issue 12).
# The KMS sits behind a loopback proxy (keys12b_proxy.py) that lets a
# request reach the KMS, which processes it and records its nonce, and then
# loses the answer: the client sees the connection close without a reply
# and retries.  A retry that resent the same signed bytes was refused by the
# KMS as a replay (409 nonce_reused) and the fetch failed; each attempt is
# now signed afresh, so the retry is answered.  Shown for the broker
# plugin (its first policy request and its first key request) and for the
# client library (mqe2e-pub's first key fetch); the proxy's log shows the
# lost answer, then the 200 of the retry, and no 409 anywhere.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
KMS_TLS=0   # the proxy speaks plain HTTP on loopback
. "$top_srcdir/tests/client_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol pub client
enrol sub1 client
expect_rc 0 kmsctl group add g --filter 'g/#' --scheme 4
expect_rc 0 kmsctl grant add pub g pub
expect_rc 0 kmsctl grant add sub1 g sub

# the broker's first policy answer and its first key answer are lost
proxy_start "$T_DIR/pa.port" "$T_DIR/pa.log" /v1/policy:1 /v1/keys:1
DIRECT_URL=$KMS_URL
KMS_URL=$PROXY_URL
broker_start
wait_for "$T_DIR/pa.log" '^/v1/keys 200 passed' 1 300 ||
	{ cat "$T_DIR/mosquitto.log" >&2; t_fail "the broker did not get its keys through the retries"; }
grep -q '^/v1/policy [0-9]* dropped' "$T_DIR/pa.log" || t_fail "no policy answer was lost (the proxy did not work)"
grep -q '^/v1/keys [0-9]* dropped' "$T_DIR/pa.log" || t_fail "no key answer was lost (the proxy did not work)"
t_log "broker: $(tr '\n' ';' <"$T_DIR/pa.log")"

# a subscriber straight to the KMS; the publisher's first answer is lost
KMS_URL=$DIRECT_URL
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'g/x' -C 1 -W 60
SUB1_PID=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" 1 300 || t_fail "sub1 did not subscribe"
proxy_start "$T_DIR/pb.port" "$T_DIR/pb.log" /v1/keys:1
KMS_URL=$PROXY_URL
echo "after a lost answer" | pub pub -t g/x -q 1 -l --no-key-cache 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "the publisher's key fetch failed after a lost answer"; }
wait_pid "$SUB1_PID" 300 || t_fail "sub1 did not receive the message"
grep -qx "after a lost answer" "$T_DIR/sub1.out" || t_fail "sub1 received: $(cat "$T_DIR/sub1.out")"
grep -q '^/v1/keys [0-9]* dropped' "$T_DIR/pb.log" || t_fail "no key answer of the publisher was lost"
grep -q '^/v1/keys 200 passed' "$T_DIR/pb.log" || t_fail "no answer after the retry"
t_log "publisher: $(tr '\n' ';' <"$T_DIR/pb.log")"

# never a replay refusal: each attempt was a new request
! grep -q ' 409 ' "$T_DIR/pa.log" "$T_DIR/pb.log" || t_fail "a retry was refused as a replay (409)"
! grep -q 'nonce' "$T_DIR/pub.err" "$T_DIR/mosquitto.log" || t_fail "nonce refusal logged"
broker_stop
kms_stop
exit 0
