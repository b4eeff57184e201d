#!/bin/bash
# ready15_overlap.sh - a client's first connect does not wait for its keys
# before it sends CONNECT (issue 15, "ready in under 300 ms"): the KMS
# fetch and the broker handshake run at once.  Shown by order, not by time:
# with the KMS stopped (SIGSTOP: connections are accepted, nothing is
# answered) the broker sees the client's CONNECT, but the client says
# "connected" only once the KMS answers, and then receives.  A client whose
# KMS is unreachable fails with the KMS's error, never says "connected",
# and leaves no session at the broker.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

LAT="$top_builddir/tests/client_latency"
[ -x "$LAT" ] || t_skip "client_latency not built"

kms_start
enrol broker broker
for n in pub sub; do enrol "$n" client; done
expect_rc 0 kmsctl group add ga --filter 'a/#' --scheme 4
expect_rc 0 kmsctl grant add pub ga pub
expect_rc 0 kmsctl grant add sub ga sub
broker_start

# sub_conf FILE KMS_URL: client "sub", no key cache (the keys come from the KMS)
sub_conf() {
	cat >"$1" <<CONF
broker tcp://127.0.0.1:$MQTT_PORT
cert $PKI/sub.crt
key $PKI/sub.key
cafile $PKI/ca.crt
kms $2
key_cache 0
kms_timeout_ms $3
CONF
}

# 1. the KMS stopped: CONNECT reaches the broker while the fetch waits
sub_conf "$T_DIR/sub.conf" "$KMS_URL" 120000
kill -STOP "$KMS_PID"
"$LAT" "$T_DIR/sub.conf" 'a/#' >"$T_DIR/lat.out" 2>"$T_DIR/lat.err" &
LATP=$!
t_track "$LATP"
if ! wait_for "$T_DIR/mosquitto.log" "New client connected .* as sub " 1 600; then
	kill -CONT "$KMS_PID"
	cat "$T_DIR/lat.err" >&2
	t_fail "the broker saw no CONNECT of sub while its key fetch waited for the KMS"
fi
# the keys cannot have come: the KMS is still stopped
if grep -q "state 1\| ready" "$T_DIR/lat.out"; then
	kill -CONT "$KMS_PID"
	t_fail "sub said connected before the KMS answered: $(cat "$T_DIR/lat.out")"
fi
kill -CONT "$KMS_PID"
wait_for "$T_DIR/lat.out" " ready" 1 600 ||
	{ cat "$T_DIR/lat.err" >&2; t_fail "sub did not connect once the KMS answered"; }
[ "$(grep -c "state 1" "$T_DIR/lat.out")" = 1 ] ||
	t_fail "sub said 'connected' $(grep -c "state 1" "$T_DIR/lat.out") times, not once"
# "connected" before mqe2e_connect returned (it is said once the keys are in)
[ "$(grep -n "state 1\| ready" "$T_DIR/lat.out" | head -1 | grep -c "state 1")" = 1 ] ||
	t_fail "mqe2e_connect returned before the state callback said connected"
expect_rc 0 pub pub -t a/x -q 1 -m "after-overlap"
wait_for "$T_DIR/lat.out" "msg a/x ga .* after-overlap" 1 300 ||
	{ cat "$T_DIR/lat.err" >&2; t_fail "sub did not receive after its overlapped connect"; }
kill "$LATP"
wait_pid "$LATP" >/dev/null

# 2. no KMS at all: the connect fails with the KMS's error, never "connected"
DEAD=$(t_free_port)
sub_conf "$T_DIR/dead.conf" "http://127.0.0.1:$DEAD" 1000
"$LAT" "$T_DIR/dead.conf" 'a/#' >"$T_DIR/dead.out" 2>"$T_DIR/dead.err" &
DP=$!
t_track "$DP"
wait_pid "$DP" 600
rc=$?
[ "$rc" = 1 ] || t_fail "client_latency without a KMS exited $rc, not 1"
grep -q "cannot fetch the keys of client 'sub'" "$T_DIR/dead.err" ||
	{ cat "$T_DIR/dead.err" >&2; t_fail "the failure does not name the key fetch"; }
grep -q "state 1" "$T_DIR/dead.out" && t_fail "sub said connected without keys"
t_log "ok: CONNECT sent while the fetch waited; 'connected' only with keys"
exit 0
