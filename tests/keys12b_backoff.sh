#!/bin/bash
# keys12b_backoff.sh - one retry layer in the client library (issue 12).
# The client's keys thread used to call a KMS request that itself retried
# for the whole kms_timeout_ms (about 6-8 attempts in 5 s), and then waited
# its own backoff and did it again: a fleet hammered a KMS that was down or
# overloaded with rounds inside rounds.  Now each background fetch makes one
# pass over the KMS URLs and the keys thread's jittered backoff (1, 2, 4, 8,
# 10 s) alone paces the next.  A subscriber reaches the KMS through a proxy
# (keys12b_proxy.py) that answers 503 while a file exists; after a rekey
# notice its fetches fail: the attempts in 12 s are counted (at most 5 by
# the backoff, at least 12 with the old nesting), then the KMS comes back
# and the next try succeeds.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
KMS_TLS=0   # the proxy speaks plain HTTP on loopback
. "$top_srcdir/tests/client_lib.sh" || exit 99

WINDOW=12

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol sub1 client
expect_rc 0 kmsctl group add g --filter 'g/#' --scheme 4
expect_rc 0 kmsctl grant add sub1 g sub
broker_start

proxy_start "$T_DIR/p.port" "$T_DIR/p.log" "fail-if=$T_DIR/down"
DIRECT_URL=$KMS_URL
KMS_URL=$PROXY_URL
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'g/x' -W 120 --no-key-cache
SUB1_PID=$SUB_PID
KMS_URL=$DIRECT_URL
wait_for "$T_DIR/sub1.out.err" "subscribed to" 1 300 || t_fail "sub1 did not subscribe"

# the KMS "goes down" behind the proxy; a rotation sends sub1 a rekey notice
touch "$T_DIR/down"
expect_rc 0 kmsctl group rotate g
wait_for "$T_DIR/p.log" ' 503 refused' 1 300 || t_fail "sub1 did not try to fetch after the rekey notice"
t0=$(date +%s%3N)
sleep $WINDOW   # a window to count attempts in, not a wait for an event
n=$(grep -c ' 503 refused' "$T_DIR/p.log")
t_log "$n attempts in the first $WINDOW s of a KMS answering 503 (one layer: at most 5)"
[ "$n" -ge 2 ] || t_fail "sub1 did not retry ($n attempts in $WINDOW s)"
[ "$n" -le 7 ] || t_fail "sub1 made $n attempts in $WINDOW s: retries inside retries"
grep -q 'asking again in' "$T_DIR/sub1.out.err" || t_fail "sub1 did not say when it asks again"

# back: the next try (within the 10 s cap of the backoff) gets the keys
rm -f "$T_DIR/down"
npass=$(grep -c ' passed' "$T_DIR/p.log")
for _ in $(seq 1 300); do
	[ "$(grep -c ' passed' "$T_DIR/p.log")" -gt "$npass" ] && break
	sleep 0.1
done
[ "$(grep -c ' passed' "$T_DIR/p.log")" -gt "$npass" ] || t_fail "sub1 did not fetch again after the KMS came back"
t_log "fetched again $(( $(date +%s%3N) - t0 )) ms after the first failure"
kill "$SUB1_PID" 2>/dev/null
wait "$SUB1_PID" 2>/dev/null
broker_stop
kms_stop
exit 0
