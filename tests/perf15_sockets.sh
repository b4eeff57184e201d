#!/bin/bash
# Issue 15, the library's sockets: eight libmqe2e clients in one process
# (tests/perf15_clients.c) connect one after another to Mosquitto + plugin.
#  - Every TCP socket the process holds to the broker has TCP_NODELAY: the
#    library sets it (paho leaves Nagle on, so a small publish would wait for
#    the broker's delayed ACK).
#  - paho's one receive thread, asleep in poll() on the quiet links of the
#    earlier clients, is woken for each later connect: the broker sees the
#    library's UNSUBSCRIBE of mqe2e/v1/wake from an up client while a later
#    one connects, and never once all are up (the waker costs nothing while
#    nobody connects).
# How fast the connects are is mqe2e-bench's business; nothing is timed here.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

N=8
PROG="$top_builddir/tests/perf15_clients"
[ -x "$PROG" ] || t_skip "perf15_clients not built"
BROKER_EXTRA_CONF="log_type unsubscribe
log_timestamp false"
setup_world 4 "$N"

"$PROG" "tcp://127.0.0.1:$MQTT_PORT" "$KMS_URL" "$PKI" "$N" 'e2e/#' >"$T_DIR/clients.out" \
	2>"$T_DIR/clients.err" &
PID=$!
t_track "$PID"
wait_for "$T_DIR/clients.out" "^sockets " 1 600 || t_fail "the clients did not all connect"
wakes_up=$(grep -c "mqe2e/v1/wake" "$T_DIR/mosquitto.log")
wait_pid "$PID" 300 || { cat "$T_DIR/clients.err" >&2; t_fail "perf15_clients failed"; }
cat "$T_DIR/clients.out"

read -r _ all _ nodelay < <(grep "^sockets " "$T_DIR/clients.out")
[ "$all" -eq "$N" ] || t_fail "expected $N sockets to the broker, found $all"
[ "$nodelay" -eq "$all" ] || t_fail "only $nodelay of the $all sockets to the broker have TCP_NODELAY"
t_log "all $all broker sockets of the process have TCP_NODELAY"

# the wake-ups come from clients of the process (sub1..sub$N) that were up
[ "$wakes_up" -ge 1 ] || t_fail "no UNSUBSCRIBE of mqe2e/v1/wake while clients 2..$N connected"
if grep "mqe2e/v1/wake" "$T_DIR/mosquitto.log" | grep -qv "^sub[0-9]* mqe2e/v1/wake$"; then
	t_fail "an UNSUBSCRIBE of mqe2e/v1/wake not from one of the clients: $(grep mqe2e/v1/wake "$T_DIR/mosquitto.log" | head -3)"
fi
# sub$N connected last: it was never up while another connected
if grep -q "^sub$N mqe2e/v1/wake$" "$T_DIR/mosquitto.log"; then
	t_fail "sub$N sent a wake-up, but no client connected after it was up"
fi
t_log "$wakes_up wake-ups (UNSUBSCRIBE mqe2e/v1/wake) while clients 2..$N connected"
total=$(grep -c "mqe2e/v1/wake" "$T_DIR/mosquitto.log")
[ "$total" -eq "$wakes_up" ] ||
	t_fail "wake-ups went on after every client was up ($wakes_up then $total)"
exit 0
