#!/bin/bash
# tls12_retry.sh - issue 12: the KMS transport rides out overload and
# outages within its deadline, and fails over between KMS URLs.
#
# A real mqe2e-kmsd on https with per_ip_connections = 2 (max_connections
# 4); real Mosquitto +
# plugin, mqe2e-kmsctl, mqe2e-pub/sub.
#   1. overload: two idle connections hold this address's slots, so the KMS
#      answers a client's key request 503 + Retry-After (its admission, not a
#      reset).  A client whose deadline leaves no room gives up at once and
#      says so; one with room waits as told and gets its keys once the KMS
#      cuts the idle connections (request_timeout);
#   2. outage: the KMS is stopped when a client asks for keys and comes back
#      a second later: the fetch succeeds within the same deadline;
#   3. failover: a dead URL first in the list - kmsctl, the plugin and the
#      client library go on to the live one.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

# max_connections 4: an address may exceed per_ip_connections only while the
# daemon is less than half full, so two idle connections fill this one's share
cat >"$T_DIR/kmsd.conf" <<EOF
per_ip_connections = 2
max_connections = 4
request_timeout = 3
EOF
KMS_CONF="$T_DIR/kmsd.conf"
KMS_TLS=1
kms_start
enrol broker broker
enrol pub client
enrol sub1 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
dead=$(t_free_port)     # nobody listens there
MQTT_PORT=$(t_free_port) # the broker starts in part 3: before, pub stops after its keys (exit 4)
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
metric503() {
	curl -sf "$KMS_URL/metrics" | awk '/^mqe2e_kms_http_requests_total/ && /code="503"/ {n += $2} END {print n + 0}'
}

# hold: N idle TCP connections to the KMS for S seconds (sends nothing: the
# KMS's request_timeout closes them); prints "closed T" per connection.
hold() {
	python3 - "$KMS_PORT" "$1" "$2" <<'PY' >"$T_DIR/hold.out" 2>&1 &
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
t0 = time.time()
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("open %d" % n, flush=True)
for c in conns:
    c.settimeout(max(0.1, secs - (time.time() - t0)))
    try:
        c.recv(1)
        print("closed %.1f" % (time.time() - t0), flush=True)
    except OSError:
        print("held", flush=True)
PY
	HOLD_PID=$!
	t_track "$HOLD_PID"
	wait_for "$T_DIR/hold.out" "^open" 1 50 || t_fail "cannot open idle connections"
}

# --- 1. overload: 503 + Retry-After ---------------------------------------------------
before=$(metric503)
hold 2 8
# no room for Retry-After (2 s) within a 1.5 s deadline: gives up at once
printf 'kms_timeout_ms 1500\n' >"$T_DIR/short.conf"
t0=$(now_ms)
pub pub --config "$T_DIR/short.conf" --no-key-cache -t e2e/x -m x >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
t1=$(now_ms)
[ "$rc" = 3 ] || t_fail "overloaded KMS, short deadline: exit $rc, expected 3: $(cat "$T_DIR/err")"
grep -q "HTTP 503" "$T_DIR/err" && grep -q "retry in [0-9]* s" "$T_DIR/err" ||
	t_fail "the 503 is not reported with its delay: $(cat "$T_DIR/err")"
[ $((t1 - t0)) -lt 1500 ] || t_fail "gave up after $((t1 - t0)) ms: it waited for nothing"
t_log "short deadline: gave up after $((t1 - t0)) ms: $(cat "$T_DIR/err")"
# room enough: waits as told, gets the keys when the idle connections are cut
printf 'kms_timeout_ms 10000\n' >"$T_DIR/long.conf"
t0=$(now_ms)
pub pub --config "$T_DIR/long.conf" -d -t e2e/x -m x >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
t1=$(now_ms)
grep -q "fetched keys of client 'pub'" "$T_DIR/err" ||
	t_fail "no keys through the overload (exit $rc): $(cat "$T_DIR/err")"
[ "$rc" = 4 ] || t_fail "exit $rc, expected 4 (no broker in this part): $(cat "$T_DIR/err")"
wait "$HOLD_PID" 2>/dev/null
after=$(metric503)
[ "$after" -ge $((before + 2)) ] || t_fail "the KMS answered only $((after - before)) requests 503"
t_log "overload: the KMS answered 503 $((after - before)) times; mqe2e-pub got its keys after $((t1 - t0)) ms ($(grep -c closed "$T_DIR/hold.out") idle connections cut by request_timeout = 3 s)"

# --- 2. outage: the KMS comes back within the deadline ------------------------------------
kms_stop
pub_bg pub /dev/null "$T_DIR/err" --config "$T_DIR/long.conf" -t e2e/x -m x >"$T_DIR/out"
p=$PUB_PID
t0=$(now_ms)
sleep 1
kms_start
wait "$p"
rc=$?
t1=$(now_ms)
grep -q "fetched keys of client 'pub'" "$T_DIR/err" ||
	t_fail "the fetch did not outlast a 1 s outage (exit $rc): $(cat "$T_DIR/err")"
t_log "outage: KMS down for 1 s; mqe2e-pub started during it got its keys after $((t1 - t0)) ms"
# ... and one that stays down: the error says how often it tried
kms_stop
printf 'kms_timeout_ms 2000\n' >"$T_DIR/mid.conf"
pub pub --config "$T_DIR/mid.conf" --no-key-cache -t e2e/x -m x >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ "$rc" = 3 ] || t_fail "KMS down: exit $rc: $(cat "$T_DIR/err")"
grep -q "cannot reach the KMS at $KMS_URL: Connection refused" "$T_DIR/err" &&
	grep -q "gave up after [0-9]* attempts" "$T_DIR/err" || t_fail "KMS down: $(cat "$T_DIR/err")"
t_log "KMS down: $(cat "$T_DIR/err")"
kms_start

# --- 3. failover: a dead URL first ---------------------------------------------------------
list="https://127.0.0.1:$dead,$KMS_URL"
expect_rc 0 kmsctl --addr "$list" group list
grep -q grp "$T_DIR/out" || t_fail "kmsctl over $list: $(cat "$T_DIR/out")"
KMS_URL=$list broker_start       # plugin_opt_kms_url with both
expect_rc 0 kmsctl status         # (the helper's own URL is still the live one)
sub_bg sub1 "$T_DIR/sub.out" -t 'e2e/#' -C 2 -W 30 --kms "$list"
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe through $list"
printf 'one\ntwo\n' >"$T_DIR/expected"
pub pub --kms "$list" -t e2e/f/1 -l <"$T_DIR/expected" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub over $list failed"; }
wait_pid "$SUB_PID" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 failed"; }
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || t_fail "sub1 got: $(cat "$T_DIR/sub.out")"
t_log "failover: kmsctl, the plugin (policy, keys, CRL) and pub/sub went from the dead $dead to $KMS_URL"
exit 0
