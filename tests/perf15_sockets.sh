#!/bin/bash
# Issue 15, the library's sockets: eight libmqe2e clients in one process
# (tests/perf15_clients.c) connect one after another to Mosquitto + plugin.
#  - Every TCP socket the process holds to the broker has TCP_NODELAY: the
#    library sets it (paho leaves Nagle on, so a small publish would wait for
#    the broker's delayed ACK).
#  - paho's one receive thread, asleep in poll() on the quiet links of the
#    earlier clients, is woken for each later connect: down the line the
#    process holds to itself (client/hold.c), which carries more bytes once
#    clients 2..N have connected than when sub1 was up, and not one byte more
#    in the 500 ms after all are up (the waker costs nothing while nobody
#    connects), each sent at once (TCP_NODELAY on the line's writing end).
#    The broker sees no wake-up at all (no UNSUBSCRIBE of
#    mqe2e/v1/wake, the old way, through another client and the broker).
#  - The clients' paho handles were made on the library's one maker thread
#    (client/maker.c), which keeps paho's per-client structures together.
#  - Their key caches were written by the library's one cache writer, a
#    thread under SCHED_IDLE (client/cache.c), which ends with the last client.
#  - Their key fetches shared KMS connections (client/kmspool.c): the KMS
#    accepted at most half as many connections as it answered key requests.
# How fast the connects are is mqe2e-bench's business; nothing is timed here.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

N=8
PROG="$top_builddir/tests/perf15_clients"
[ -x "$PROG" ] || t_skip "perf15_clients not built"
BROKER_EXTRA_CONF="log_type unsubscribe
log_timestamp false"
setup_world 4 "$N"

# the KMS's counters: connections accepted, key requests answered
kms_counts() {
	curl -sf "$KMS_URL/metrics" | awk '
		$1 == "mqe2e_kms_http_connections_total" { c = $2 }
		$1 ~ /^mqe2e_kms_http_requests_total\{endpoint="keys",/ { r += $2 }
		END { printf "%d %d\n", c, r }'
}
read -r conn0 req0 < <(kms_counts)
"$PROG" "tcp://127.0.0.1:$MQTT_PORT" "$KMS_URL" "$PKI" "$N" 'e2e/#' >"$T_DIR/clients.out" \
	2>"$T_DIR/clients.err" &
PID=$!
t_track "$PID"
wait_for "$T_DIR/clients.out" "^sockets " 1 600 || t_fail "the clients did not all connect"
wait_pid "$PID" 300 || { cat "$T_DIR/clients.err" >&2; t_fail "perf15_clients failed"; }
cat "$T_DIR/clients.out"

read -r _ all _ nodelay < <(grep "^sockets " "$T_DIR/clients.out")
[ "$all" -eq "$N" ] || t_fail "expected $N sockets to the broker, found $all"
[ "$nodelay" -eq "$all" ] || t_fail "only $nodelay of the $all sockets to the broker have TCP_NODELAY"
t_log "all $all broker sockets of the process have TCP_NODELAY"

# the clients' paho handles were made on one thread of the library's
# (client/maker.c: paho walks them all for every packet it reads)
read -r _ _ makers < <(grep "^maker threads " "$T_DIR/clients.out")
[ "${makers:-0}" -eq 1 ] || t_fail "expected one mqe2e-maker thread in the process, found ${makers:-none}"
t_log "the $N clients' paho handles were made on the one mqe2e-maker thread"

# the key caches: written by the process's one writer thread, at SCHED_IDLE
# (client/cache.c: a connect storm does not share the CPU with 200 writes),
# which ends with the last client
read -r _ caches < <(grep "^caches " "$T_DIR/clients.out")
[ "${caches:-0}" -eq "$N" ] || t_fail "expected $N key cache files, found ${caches:-none}"
read -r _ _ writers _ idle < <(grep "^cache threads [0-9]" "$T_DIR/clients.out")
[ "${writers:-0}" -eq 1 ] || t_fail "expected one mqe2e-cache thread in the process, found ${writers:-none}"
[ "${idle:-0}" -eq 1 ] || t_fail "the mqe2e-cache thread does not run under SCHED_IDLE"
read -r _ _ _ _ after < <(grep "^cache threads after free " "$T_DIR/clients.out")
[ "${after:-1}" -eq 0 ] || t_fail "the mqe2e-cache thread outlived the process's last client"
t_log "the $N key caches were written by the one mqe2e-cache thread, under SCHED_IDLE, gone with the last client"

# the key fetches of the process's clients, one after another, went down
# the KMS connection the one before gave back (client/kmspool.c): the KMS
# accepted fewer connections than it answered key requests (with a
# connection per fetch, at least as many)
read -r conn1 req1 < <(kms_counts)
conns=$((conn1 - conn0))
reqs=$((req1 - req0))
[ "$reqs" -ge "$N" ] || t_fail "the KMS answered $reqs key requests, expected at least $N"
[ $((2 * conns)) -le "$reqs" ] ||
	t_fail "the KMS accepted $conns connections for $reqs key requests: the clients did not share them"
t_log "the $N clients' $reqs key requests came over $conns KMS connections"

# the line: one, from the first client on; wakes while clients 2..N
# connected; none once all were up
mapfile -t L < <(grep "^line " "$T_DIR/clients.out")
[ "${#L[@]}" -eq 3 ] || t_fail "expected 3 'line' reports, got ${#L[@]}"
for l in "${L[@]}"; do
	[ "$(echo "$l" | cut -d' ' -f2)" = 1 ] ||
		t_fail "expected 1 connection of the process to itself (client/hold.c's line): $l"
	# its wakes are 2-byte writes that paho never answers: with Nagle on,
	# each waited for the delayed ACK of the one before (40 ms)
	[ "$(echo "$l" | cut -d' ' -f6)" = 1 ] ||
		t_fail "the line's writing end has no TCP_NODELAY (wakes wait for delayed ACKs): $l"
done
b1=$(echo "${L[0]}" | cut -d' ' -f4)
b2=$(echo "${L[1]}" | cut -d' ' -f4)
b3=$(echo "${L[2]}" | cut -d' ' -f4)
[ "$b2" -gt "$b1" ] || t_fail "no wake down the line while clients 2..$N connected ($b1 then $b2 bytes)"
[ "$b3" -eq "$b2" ] || t_fail "wakes went on after every client was up ($b2 then $b3 bytes)"
t_log "$(( (b2 - b1) / 2 )) wakes (PINGRESPs down the line) while clients 2..$N connected, none in the 500 ms after"
if grep -q "mqe2e/v1/wake" "$T_DIR/mosquitto.log"; then
	t_fail "the broker saw wake-ups: $(grep mqe2e/v1/wake "$T_DIR/mosquitto.log" | head -3)"
fi
exit 0
