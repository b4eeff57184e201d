#!/bin/bash
# ops_shared.sh - one Mosquitto 2.0 serving an existing fleet and mqe2e:
# per_listener_settings true, listener A with a password file and the
# plugin as a guard (plugin_opt_role guard), listener B with the plugin as
# the mqe2e broker.  A plain password client works on A as before and can
# neither read, write, subscribe into, nor take over anything of mqe2e;
# mqe2e clients work on B.  Misconfigurations stop Mosquitto at start.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need mosquitto_passwd
t_need mosquitto_pub

kms_start
enrol broker broker
enrol pub client
enrol sub1 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub

PLAIN_PORT=$(t_free_port)
MQTT_PORT=$(t_free_port)
touch "$T_DIR/passwd"
mosquitto_passwd -b "$T_DIR/passwd" fleet s3cret >/dev/null 2>&1 || t_fail "mosquitto_passwd"
PRE=$(t_san_preload)

# shared_conf FILE [guard opts...]: write the two-listener configuration.
shared_conf() {
	local f=$1
	shift
	{
		echo "user root"
		echo "per_listener_settings true"
		echo "log_dest stderr"
		echo "log_type error"
		echo "log_type warning"
		echo "log_type notice"
		echo "log_type information"
		echo "listener $PLAIN_PORT 127.0.0.1"
		echo "allow_anonymous false"
		echo "password_file $T_DIR/passwd"
		echo "plugin $PLUGIN"
		for o in "$@"; do echo "plugin_opt_$o"; done
		echo "listener $MQTT_PORT 127.0.0.1"
		echo "plugin $PLUGIN"
		echo "plugin_opt_kms_url $KMS_URL"
		echo "plugin_opt_cert $PKI/broker.crt"
		echo "plugin_opt_key $PKI/broker.key"
		echo "plugin_opt_cafile $PKI/ca.crt"
		echo "plugin_opt_metrics_file $T_DIR/broker.prom"
	} >"$f"
}

# must_fail CONF PATTERN: Mosquitto exits at start and logs PATTERN.
must_fail() {
	# shellcheck disable=SC2086
	env $PRE "$MOSQUITTO" -c "$1" >"$T_DIR/fail.log" 2>&1 &
	local p=$!
	t_track "$p"
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && { cat "$T_DIR/fail.log" >&2; t_fail "mosquitto started with: $2"; }
	grep -q -- "$2" "$T_DIR/fail.log" || { cat "$T_DIR/fail.log" >&2; t_fail "no message: $2"; }
}

# 1. Misconfigurations are errors at start, naming the fix.
shared_conf "$T_DIR/bad1.conf" "role guard"
must_fail "$T_DIR/bad1.conf" "plugin_opt_role guard needs plugin_opt_fleet"
shared_conf "$T_DIR/bad2.conf" "role guard" "fleet maybe"
must_fail "$T_DIR/bad2.conf" "plugin_opt_fleet: 'maybe' is not allow or acl_file"
shared_conf "$T_DIR/bad3.conf" "kms_url $KMS_URL" "cert $PKI/broker.crt" "key $PKI/broker.key" "cafile $PKI/ca.crt"
must_fail "$T_DIR/bad3.conf" "loaded twice with role mqe2e"
shared_conf "$T_DIR/bad4.conf" "role guard" "fleet allow" "kms_url $KMS_URL"
must_fail "$T_DIR/bad4.conf" "plugin_opt_role guard takes no kms_url"
t_log "misconfigurations stop Mosquitto at start with the fix in the message"

# 2. The shared broker.
shared_conf "$T_DIR/mosquitto.conf" "role guard" "fleet allow"
# shellcheck disable=SC2086
env $PRE "$MOSQUITTO" -c "$T_DIR/mosquitto.conf" >"$T_DIR/mosquitto.log" 2>&1 &
BROKER_PID=$!
t_track "$BROKER_PID"
t_wait_port "$MQTT_PORT" || { cat "$T_DIR/mosquitto.log" >&2; t_fail "mosquitto did not start"; }
t_wait_port "$PLAIN_PORT" || t_fail "no plain listener"

plain_sub() {   # plain_sub OUT ARGS...: a password client on listener A
	local out=$1
	shift
	mosquitto_sub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -V mqttv5 "$@" >"$out" 2>&1 &
	echo $!
}

# mqe2e on B (with per_listener_settings true: the plugin's timer runs from
# its callbacks, so it gets a policy; the old plugin refused every client).
ok=0
for _ in $(seq 1 30); do
	# shellcheck disable=SC2046
	if "$PUB" $(client_args pub) -t e2e/probe -m hi -q 1 --timeout 3 2>"$T_DIR/probe.err"; then ok=1; break; fi
	sleep 0.5
done
[ "$ok" = 1 ] || { cat "$T_DIR/probe.err" "$T_DIR/mosquitto.log" >&2; t_fail "mqe2e clients are refused on the mqe2e listener"; }

# Listeners for what leaks: a plain '#' and an mqe2e subscriber.
P1=$(plain_sub "$T_DIR/plain_all.out" -t '#' -v)
t_track "$P1"
sub_bg sub1 "$T_DIR/sub1.out" -t 'e2e/#' -q 1
sleep 1.5

# A plain client works on A exactly as before: password, publish, receive.
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t fleet/temp -m 21 -q 1 ||
	t_fail "the fleet client cannot publish on its listener"
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P wrong -t fleet/temp -m 22 2>/dev/null &&
	t_fail "a wrong password was accepted"
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -t fleet/temp -m 23 2>/dev/null &&
	t_fail "an anonymous client was accepted (allow_anonymous false)"

# mqe2e traffic on B.
MARK=$(marker)
# shellcheck disable=SC2046
"$PUB" $(client_args pub) -t e2e/room -m "$MARK" -q 1 || t_fail "mqe2e publish failed"
wait_for "$T_DIR/sub1.out" "$MARK" || t_fail "sub1 did not receive on the mqe2e listener"

# Attacks from the plain side.
# a) inject into a group topic and into mqe2e's own topics
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -V mqttv5 -t e2e/room -m FORGED -q 1 \
	>"$T_DIR/inj1" 2>&1
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -V mqttv5 -t mqe2e/v1/rekey/sub1 \
	-m FORGED -q 1 >"$T_DIR/inj2" 2>&1
# b) subscribe exactly to the group and to mqe2e's topics
P2=$(plain_sub "$T_DIR/plain_grp.out" -t 'e2e/#' -t 'mqe2e/#' -v)
t_track "$P2"
# c) take over sub1's id with a valid password
mosquitto_sub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -i sub1 -t x -C 1 -W 3 \
	>"$T_DIR/takeover" 2>&1
# d) an mqe2e handshake on the fleet listener
# shellcheck disable=SC2046
"$PUB" -h 127.0.0.1 -p "$PLAIN_PORT" --cert "$PKI/pub.crt" --key "$PKI/pub.key" --cafile "$PKI/ca.crt" \
	--kms "$KMS_URL" -t e2e/room -m x --timeout 3 2>"$T_DIR/wrongport.err" &&
	t_fail "an mqe2e client was served on the fleet listener"
sleep 1
MARK2=$(marker)
# shellcheck disable=SC2046
"$PUB" $(client_args pub) -t e2e/room -m "$MARK2" -q 1 || t_fail "mqe2e publish failed"
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t fleet/end -m done -q 1
wait_for "$T_DIR/sub1.out" "$MARK2" || t_fail "sub1 stopped receiving (taken over?)"
wait_for "$T_DIR/plain_all.out" "fleet/end done" || t_fail "the fleet subscriber stopped"
kill "$SUB_PID" "$P1" "$P2" 2>/dev/null

grep -q FORGED "$T_DIR/sub1.out" && t_fail "a plain client injected into the group"
grep -q "fleet/temp 21" "$T_DIR/plain_all.out" || { cat "$T_DIR/plain_all.out" >&2; t_fail "the fleet subscriber missed fleet/temp"; }
if grep -E "^(e2e|mqe2e)/" "$T_DIR/plain_all.out" "$T_DIR/plain_grp.out"; then
	t_fail "a plain client received mqe2e traffic"
fi
grep -q -- "$MARK" "$T_DIR/plain_all.out" && t_fail "plaintext on the plain side"
[ "$(grep -c "denied publish of 'e2e/room' to client" "$T_DIR/mosquitto.log")" -ge 1 ] ||
	{ cat "$T_DIR/mosquitto.log" >&2; t_fail "the injection was not refused by the guard"; }
grep -q "denied publish of 'mqe2e/v1/rekey/sub1'" "$T_DIR/mosquitto.log" || t_fail "rekey injection not refused"
grep -q "denied subscription of 'e2e/#'" "$T_DIR/mosquitto.log" || t_fail "subscription into the group not refused"
grep -q "refused client 'sub1' .*without mqe2e: the id belongs to an mqe2e client" "$T_DIR/mosquitto.log" ||
	{ cat "$T_DIR/takeover" >&2; t_fail "the takeover of sub1 was not refused"; }
grep -q "refused mqe2e client 'pub': this listener serves the existing fleet" "$T_DIR/mosquitto.log" ||
	t_fail "the mqe2e handshake on the fleet listener was not refused with a reason"
# The plugin's counters in Prometheus text (node_exporter's textfile format).
sleep 1.2
python3 "$top_srcdir/tests/prom_check.py" "$T_DIR/broker.prom" mqe2e_broker_handshakes_total \
	mqe2e_broker_messages_relayed_total mqe2e_broker_fleet_denied_total >"$T_DIR/prom.samples" ||
	t_fail "plugin_opt_metrics_file is not valid Prometheus text"
grep -q '^mqe2e_broker_fleet_denied_total{} [1-9]' "$T_DIR/prom.samples" || { cat "$T_DIR/prom.samples" >&2; t_fail "fleet_denied not counted"; }
grep -q '^mqe2e_broker_handshakes_total{result="ok"} [1-9]' "$T_DIR/prom.samples" || t_fail "handshakes not counted"
grep -q '^mqe2e_broker_messages_relayed_total{scheme="4"} [1-9]' "$T_DIR/prom.samples" || t_fail "relayed not counted"
grep -q '^mqe2e_broker_plain_clients_total{result="identity_refused"} [1-9]' "$T_DIR/prom.samples" || t_fail "identity refusal not counted"
t_log "fleet on A: password works, wrong/anonymous refused; mqe2e on B works; from A: injection, rekey forgery, subscription, id takeover and mqe2e handshake all refused, no mqe2e topic delivered to '#'"
# How long SIGTERM takes with the plugin's policy long poll open (printed,
# not asserted: the KMS thread's request is cancelled, not waited for).
t0=$(date +%s%N)
broker_stop
t_log "mosquitto stopped $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGTERM"

# 2b. plugin_opt_fleet acl_file: the fleet listener's acl_file still decides
# (a user it grants nothing gets nothing), and a grant of '#' there does not
# reach mqe2e's topics.
mosquitto_passwd -b "$T_DIR/passwd" other 0ther >/dev/null 2>&1 || t_fail "mosquitto_passwd"
printf 'user fleet\ntopic readwrite #\n' >"$T_DIR/acl"
shared_conf "$T_DIR/acl.conf" "role guard" "fleet acl_file"
sed -i "s|^password_file .*|&\nacl_file $T_DIR/acl|" "$T_DIR/acl.conf"
# shellcheck disable=SC2086
env $PRE "$MOSQUITTO" -c "$T_DIR/acl.conf" >"$T_DIR/mosquitto.log" 2>&1 &
BROKER_PID=$!
t_track "$BROKER_PID"
t_wait_port "$MQTT_PORT" || { cat "$T_DIR/mosquitto.log" >&2; t_fail "mosquitto (acl_file) did not start"; }
t_wait_port "$PLAIN_PORT" || t_fail "no plain listener (acl_file)"
for _ in $(seq 1 30); do
	# shellcheck disable=SC2046
	"$PUB" $(client_args pub) -t e2e/probe -m hi -q 1 --timeout 3 2>/dev/null && break
	sleep 0.5
done
sub_bg sub1 "$T_DIR/a_sub1.out" -t 'e2e/#' -q 1
P1=$(plain_sub "$T_DIR/a_all.out" -t '#' -v)
t_track "$P1"
sleep 2
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u other -P 0ther -t fleet/o -m from-other -q 1 2>/dev/null
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t e2e/room -m FORGED -q 1 2>/dev/null
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t fleet/a -m 41 -q 1 ||
	t_fail "acl_file: the granted fleet user cannot publish"
MARK4=$(marker)
# shellcheck disable=SC2046
"$PUB" $(client_args pub) -t e2e/room -m "$MARK4" -q 1 || t_fail "acl_file: mqe2e publish failed"
wait_for "$T_DIR/a_all.out" "fleet/a 41" || t_fail "acl_file: the fleet subscriber missed fleet/a"
wait_for "$T_DIR/a_sub1.out" "$MARK4" || t_fail "acl_file: sub1 did not receive"
kill "$SUB_PID" "$P1" 2>/dev/null
grep -q "from-other" "$T_DIR/a_all.out" && t_fail "acl_file: a user the acl_file grants nothing published"
grep -q FORGED "$T_DIR/a_sub1.out" && t_fail "acl_file: an injection reached the group"
grep -E "^(e2e|mqe2e)/" "$T_DIR/a_all.out" && t_fail "acl_file: 'topic readwrite #' let a fleet client read mqe2e"
grep -q "denied publish of 'e2e/room'" "$T_DIR/mosquitto.log" || t_fail "acl_file: the injection was not refused by the guard"
broker_stop
t_log "guard with plugin_opt_fleet acl_file: the acl_file still rules the fleet, its '#' does not reach mqe2e"

# 3. The same without per_listener_settings: one plugin, plugin_opt_fleet;
# clients that connect without mqe2e are the fleet, on any listener.
cat >"$T_DIR/global.conf" <<CONF
user root
per_listener_settings false
log_dest stderr
log_type error
log_type warning
log_type notice
allow_anonymous false
password_file $T_DIR/passwd
listener $PLAIN_PORT 127.0.0.1
listener $MQTT_PORT 127.0.0.1
plugin $PLUGIN
plugin_opt_kms_url $KMS_URL
plugin_opt_cert $PKI/broker.crt
plugin_opt_key $PKI/broker.key
plugin_opt_cafile $PKI/ca.crt
plugin_opt_fleet allow
plugin_opt_log_format json
log_timestamp false
CONF
# shellcheck disable=SC2086
env $PRE "$MOSQUITTO" -c "$T_DIR/global.conf" >"$T_DIR/mosquitto.log" 2>&1 &
BROKER_PID=$!
t_track "$BROKER_PID"
t_wait_port "$MQTT_PORT" || { cat "$T_DIR/mosquitto.log" >&2; t_fail "mosquitto (global) did not start"; }
sleep 1
P1=$(plain_sub "$T_DIR/g_all.out" -t '#' -v)
t_track "$P1"
sub_bg sub1 "$T_DIR/g_sub1.out" -t 'e2e/#' -q 1
sleep 1.5
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t fleet/temp -m 31 -q 1 ||
	t_fail "global: the fleet client cannot publish"
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P wrong -t fleet/temp -m 32 2>/dev/null &&
	t_fail "global: a wrong password was accepted"
mosquitto_pub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -t e2e/room -m FORGED -q 1 2>/dev/null
mosquitto_sub -h 127.0.0.1 -p "$PLAIN_PORT" -u fleet -P s3cret -i sub1 -t x -C 1 -W 3 >/dev/null 2>&1
MARK3=$(marker)
# shellcheck disable=SC2046
"$PUB" $(client_args pub) -t e2e/room -m "$MARK3" -q 1 || t_fail "global: mqe2e publish failed"
wait_for "$T_DIR/g_sub1.out" "$MARK3" || t_fail "global: sub1 did not receive"
wait_for "$T_DIR/g_all.out" "fleet/temp 31" || t_fail "global: the fleet subscriber missed fleet/temp"
kill "$SUB_PID" "$P1" 2>/dev/null
grep -q FORGED "$T_DIR/g_sub1.out" && t_fail "global: a plain client injected into the group"
grep -E "^(e2e|mqe2e)/" "$T_DIR/g_all.out" && t_fail "global: a plain client received mqe2e traffic"
grep -q "refused client 'sub1' .*the id belongs to an mqe2e client" "$T_DIR/mosquitto.log" ||
	t_fail "global: the takeover of sub1 was not refused"
broker_stop
# plugin_opt_log_format json: each plugin line is one JSON object.
python3 - "$T_DIR/mosquitto.log" <<'PY' || { cat "$T_DIR/mosquitto.log" >&2; t_fail "plugin_opt_log_format json: not JSON"; }
import json, sys
n = 0
for line in open(sys.argv[1]):
    if '"program":"mqe2e_plugin"' not in line:
        continue
    o = json.loads(line)
    assert set(o) == {"level", "program", "message"}, o
    n += 1
assert n >= 2, n
print("# %d JSON lines from the plugin" % n)
PY
t_log "global plugin_opt_fleet allow: the same protections, the fleet's password file still rules"
exit 0
