#!/bin/bash
# Issue 9.10: a captured CONNECT replayed after a broker restart, or to a
# sibling broker of the same KMS, must be refused (docs/PROTOCOL.md 2.2).
# The hello (version 2) names the broker it is for, and a broker refuses
# hellos dated before its own start, which its empty nonce cache cannot
# judge.  Before the fix both replays were accepted (the replayer took the
# victim's session).  Also: a broker with plugin_opt_require_broker_id
# refuses hellos that name no broker, and mqe2e-sub --broker-id reaches only
# that broker.  Real mqe2e-kmsd, two Mosquittos with the plugin, the real
# mqe2e-sub as the victim; proto9_relay.py captures its CONNECT on the wire
# and sends it again; broker_probe makes bound and unbound hellos.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

t_need python3
PROBE="$top_builddir/tests/broker_probe"
RELAY="$top_srcdir/tests/proto9_relay.py"
[ -x "$PROBE" ] || t_skip "broker_probe not built"

kms_start
enrol broker broker
enrol broker2 broker
enrol alice client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4
expect_rc 0 kmsctl grant add alice grp sub
broker_start

# A sibling broker of the same KMS, which wants every hello bound.
PORT2=$(t_free_port)
cat >"$T_DIR/mosquitto2.conf" <<EOF
user root
per_listener_settings false
listener $PORT2 127.0.0.1
allow_anonymous true
plugin $PLUGIN
plugin_opt_kms_url $KMS_URL
plugin_opt_cert $PKI/broker2.crt
plugin_opt_key $PKI/broker2.key
plugin_opt_cafile $PKI/ca.crt
plugin_opt_require_broker_id true
log_dest stderr
log_type error
log_type warning
log_type notice
EOF
# shellcheck disable=SC2046
env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/mosquitto2.conf" >>"$T_DIR/mosquitto2.log" 2>&1 3>&- &
t_track $!
t_wait_port "$PORT2" || { cat "$T_DIR/mosquitto2.log" >&2; t_fail "the second broker did not start"; }
sleep 0.5

# alice_connect PORT [args]: broker_probe connect as alice
alice_connect() {
	local port=$1
	shift
	"$PROBE" connect --port "$port" --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
	    --ca "$PKI/ca.crt" "$@"
}

# 1. alice (the real mqe2e-sub, bound to broker) connects through a relay
#    that captures her CONNECT off the wire
RELAY_PORT=$(t_free_port)
python3 "$RELAY" "$RELAY_PORT" "$MQTT_PORT" connect "$T_DIR/connect.pkt" >"$T_DIR/relay.out" 2>&1 &
t_track $!
wait_for "$T_DIR/relay.out" ready || t_fail "relay did not start"
# shellcheck disable=SC2046
"$SUB" $(client_args alice) -p "$RELAY_PORT" --broker-id broker -d -t 'e2e/#' -W 2 \
    >/dev/null 2>"$T_DIR/victim.err"
grep -q "subscribed to" "$T_DIR/victim.err" || { cat "$T_DIR/victim.err" >&2; t_fail "alice did not connect"; }
[ -s "$T_DIR/connect.pkt" ] || t_fail "the relay captured no CONNECT"

# 2. the captured CONNECT sent to the sibling broker: refused (0x87), the
#    hello names another broker
python3 "$RELAY" replay-connect "$PORT2" "$T_DIR/connect.pkt" >"$T_DIR/out" 2>&1
grep -q "^connack rc=135$" "$T_DIR/out" || { cat "$T_DIR/out" >&2;
	t_fail "a CONNECT for broker was accepted by broker2"; }
grep -q "refused client 'alice'.*the hello is for broker 'broker', this is 'broker2'" \
    "$T_DIR/mosquitto2.log" || t_fail "broker2 did not log why it refused"
t_log "replay to a sibling broker: $(grep "refused client 'alice'" "$T_DIR/mosquitto2.log" | tail -1 | sed 's/.*mqe2e: //')"

# 3. sent 4 s after a restart of broker: refused, dated before its start
broker_stop
broker_start
sleep 3
python3 "$RELAY" replay-connect "$MQTT_PORT" "$T_DIR/connect.pkt" >"$T_DIR/out" 2>&1
grep -q "^connack rc=135$" "$T_DIR/out" || { cat "$T_DIR/out" >&2;
	t_fail "a CONNECT from before the restart was accepted after it"; }
grep -q "refused client 'alice'.*dated [0-9]* ms before this broker started" "$T_DIR/mosquitto.log" ||
	t_fail "the restarted broker did not log why it refused"
t_log "replay after a restart: $(grep "refused client 'alice'" "$T_DIR/mosquitto.log" | tail -1 | sed 's/.*mqe2e: //')"
# while a fresh hello is welcome
alice_connect "$MQTT_PORT" --broker-id broker >"$T_DIR/out" 2>&1
grep -q "^connected broker=broker$" "$T_DIR/out" || { cat "$T_DIR/out" >&2;
	t_fail "a fresh CONNECT after the restart was refused"; }

# 4. binding required by broker2: an unbound hello is refused, a bound one not
alice_connect "$PORT2" >"$T_DIR/out" 2>&1
grep -q "^refused rc=135$" "$T_DIR/out" || { cat "$T_DIR/out" >&2;
	t_fail "broker2 (require_broker_id) accepted a hello naming no broker"; }
alice_connect "$PORT2" --broker-id broker2 >"$T_DIR/out" 2>&1
grep -q "^connected broker=broker2$" "$T_DIR/out" || { cat "$T_DIR/out" >&2;
	t_fail "broker2 refused a hello bound to it"; }

# 5. the real tools: --broker-id reaches that broker and no other
# shellcheck disable=SC2046
"$SUB" $(client_args alice) -t 'e2e/#' --broker-id broker2 -W 2 >/dev/null 2>"$T_DIR/wrong.err"
rc=$?
[ "$rc" -eq 4 ] || { cat "$T_DIR/wrong.err" >&2; t_fail "mqe2e-sub --broker-id broker2 against broker: exit $rc, not 4"; }
t_log "mqe2e-sub --broker-id broker2 against broker: $(head -1 "$T_DIR/wrong.err")"
exit 0
