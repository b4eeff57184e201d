#!/bin/bash
# keys12b_ahead.sh - made-up epochs cannot make subscribers poll the KMS
# (issue 12).  The broker passes an envelope naming an epoch up to 4,096
# past its policy's (in a burst of rekeys a publisher's keys are fresher than
# the broker's policy), so a granted publisher could name epochs at will and
# send every subscriber to the KMS for each, once a second.  Now a
# subscriber asks for an epoch beyond the newest it holds only through the
# window of its next fetch (an answer carries every epoch issued), drops
# such a message once an answer given after it arrived lacks the epoch
# (never issued), and then pauses such fetches for the group (2, 4, 8 ... 60
# s), dropping the messages meanwhile without a fetch.  A subscriber reaches
# the KMS through a counting proxy; an attacker (broker_probe --attack
# epoch-walk) sends 4 x 25 envelopes naming new epochs; the subscriber's
# key requests are counted (the old code made one or two a second while the
# flood lasted); real messages still flow, also across a real rotation.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
KMS_TLS=0   # the proxy speaks plain HTTP on loopback
. "$top_srcdir/tests/client_lib.sh" || exit 99
PROBE="$top_builddir/tests/broker_probe"
[ -x "$PROBE" ] || t_skip "broker_probe not built"

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol pub client
enrol evil client
enrol sub1 client
expect_rc 0 kmsctl group add g --filter 'g/#' --scheme 4
expect_rc 0 kmsctl grant add pub g pub
expect_rc 0 kmsctl grant add evil g pub
expect_rc 0 kmsctl grant add sub1 g sub
broker_start

proxy_start "$T_DIR/p.port" "$T_DIR/p.log"
DIRECT_URL=$KMS_URL
KMS_URL=$PROXY_URL
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'g/x' -W 240 --no-key-cache
SUB1_PID=$SUB_PID
KMS_URL=$DIRECT_URL
wait_for "$T_DIR/sub1.out.err" "subscribed to" 1 300 || t_fail "sub1 did not subscribe"

echo "before" | pub pub -t g/x -q 1 -l 2>"$T_DIR/pub.err" || { cat "$T_DIR/pub.err" >&2; t_fail "pub failed"; }
wait_for "$T_DIR/sub1.out" '^before$' 1 300 || t_fail "sub1 did not receive a real message"
n0=$(grep -c '^/v1/keys ' "$T_DIR/p.log")

# the flood: 4 rounds of 25 envelopes, each naming a new epoch (100, 101, ...)
t0=$(date +%s%3N)
for r in 1 2 3 4; do
	"$PROBE" pub --port "$MQTT_PORT" --cert "$T_DIR/evil.crt" --key "$T_DIR/evil.key" \
		--ca "$T_DIR/ca.crt" --kms "$KMS_URL" --topic g/x --group g --scheme 4 \
		--epoch $((r * 100)) --count 25 --attack epoch-walk --message bogus \
		>"$T_DIR/evil.$r.out" 2>"$T_DIR/evil.$r.err" || t_fail "the attacker failed: $(cat "$T_DIR/evil.$r.err")"
	[ "$(grep -c 'rc=0$' "$T_DIR/evil.$r.out")" = 25 ] || t_fail "the broker did not pass the envelopes: $(head -3 "$T_DIR/evil.$r.out")"
	sleep 1
done
wait_for "$T_DIR/sub1.out.err" 'dropped a message' 100 600 || t_fail "sub1 did not drop the 100 envelopes"
t1=$(date +%s%3N)
n1=$(grep -c '^/v1/keys ' "$T_DIR/p.log")
never=$(grep -c 'dropped a message.*was never issued' "$T_DIR/sub1.out.err")
paused=$(grep -c 'dropped a message.*fetched for at most once per pause' "$T_DIR/sub1.out.err")
t_log "100 envelopes with made-up epochs over $((t1 - t0)) ms: sub1 made $((n1 - n0)) key requests; $never dropped after a fetch (never issued), $paused without one (paused)"
[ $((n1 - n0)) -ge 1 ] || t_fail "sub1 never asked the KMS (the first made-up epoch must be checked)"
# the pauses let a fetch start at 0, 2, 6, 14, 30 s, ... into the flood; a
# fetch is one request for the window and one for the epochs named
fetches=0
for at in 0 2000 6000 14000 30000 62000; do [ $at -le $((t1 - t0)) ] && fetches=$((fetches + 1)); done
[ $((n1 - n0)) -le $((2 * fetches)) ] || t_fail "sub1 made $((n1 - n0)) key requests for made-up epochs in $((t1 - t0)) ms (at most $((2 * fetches)): $fetches fetches)"
grep -q bogus "$T_DIR/sub1.out" && t_fail "a made-up message was delivered"
grep 'dropped a message' "$T_DIR/sub1.out.err" | grep -v 'never issued\|at most once per pause' | head -3 >&2
[ $((never + paused)) = 100 ] || t_fail "drops for other reasons"

# real traffic flows, also under a new epoch (a real rotation, the group paused)
echo "after" | pub pub -t g/x -q 1 -l 2>"$T_DIR/pub.err" || { cat "$T_DIR/pub.err" >&2; t_fail "pub failed"; }
wait_for "$T_DIR/sub1.out" '^after$' 1 300 || t_fail "sub1 did not receive a real message after the flood"
n2=$(grep -c '^/v1/keys ' "$T_DIR/p.log")
expect_rc 0 kmsctl group rotate g
# the rotation's notice reaches sub1 through the broker: it fetches
for _ in $(seq 1 300); do
	[ "$(grep -c '^/v1/keys ' "$T_DIR/p.log")" -gt "$n2" ] && break
	sleep 0.1
done
[ "$(grep -c '^/v1/keys ' "$T_DIR/p.log")" -gt "$n2" ] || t_fail "sub1 did not fetch after the rotation's notice"
echo "rotated" | pub pub -t g/x -q 1 -l 2>"$T_DIR/pub.err" || { cat "$T_DIR/pub.err" >&2; t_fail "pub failed"; }
wait_for "$T_DIR/sub1.out" '^rotated$' 1 300 || t_fail "sub1 did not receive a message of the new epoch"
t_log "real messages delivered after the flood, also under a new epoch"
kill "$SUB1_PID" 2>/dev/null
wait "$SUB1_PID" 2>/dev/null
broker_stop
kms_stop
exit 0
