#!/bin/bash
# broker_scheme4.sh - a real mqe2e-kmsd and a real mosquitto with
# mqe2e_plugin.so: the CONNECT handshake, a scheme 4 group end to end
# (publisher -> MAC(SK_CB) -> broker -> MAC(GK_B) -> subscriber), what a
# curious plain subscriber sees, and every attack of broker_probe refused and
# counted under its reason.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

kms_start
enrol broker1 broker
for c in alice bob mallory eve; do enrol "$c" client; done
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add alice temps pub
expect_rc 0 kmsctl grant add mallory temps pub
expect_rc 0 kmsctl grant add bob temps sub
expect_rc 0 kmsctl grant add mallory temps sub

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS" "allow_plain true"
mosq_start
wait_stat policy_updates 1 100

# bob (verifying subscriber) and a curious plain subscriber.
probe_bg sub bob --topic 'plant/+/temp' --count 5 --timeout 30000 >"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
"$PROBE" sub --plain --port "$MOSQ_PORT" --topic '#' --count 4 --timeout 20000 \
	>"$T_DIR/curious.out" 2>&1 &
CURIOUS=$!
t_track "$CURIOUS"
for i in $(seq 1 50); do
	grep -q subscribed "$T_DIR/bob.out" && grep -q subscribed "$T_DIR/curious.out" && break
	sleep 0.1
done
grep -q subscribed "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "bob did not subscribe"; }

# Three good messages.
probe pub alice --topic plant/1/temp --group temps --count 3 --message "21.5C" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "alice could not publish"
expect_out "connected broker=broker1"
[ "$(grep -c 'puback .* rc=0' "$T_DIR/out")" = 3 ] || { cat "$T_DIR/out" >&2; t_fail "3 PUBACKs expected"; }
wait_stat msg_relayed_scheme4 3
grep -q "^epoch 1$" "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "first frames not under epoch 1"; }

# Rotation: the broker re-frames under the new current epoch at once; bob,
# holding the pre-issued next epoch, verifies without fetching keys again.
POLICY_BEFORE=$(bstat policy_updates)
expect_rc 0 kmsctl group rotate temps
wait_stat policy_updates $((POLICY_BEFORE + 1)) 100
probe pub alice --topic plant/2/temp --group temps --message "rotated" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "publish after rotation failed"
expect_out "puback 0 rc=0"
for i in $(seq 1 50); do grep -q "^epoch 2$" "$T_DIR/bob.out" && break; sleep 0.1; done
grep -q "^recv plant/2/temp rotated 0$" "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "bob lacks the message after rotation"; }
grep -q "^epoch 2$" "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "broker did not move to epoch 2"; }

# Attacks on the message path: each PUBACK says 0x87 and the reason is counted.
attack() {   # attack NAME CLIENT COUNTER VALUE [extra probe args]
	local name=$1 who=$2 counter=$3 value=$4
	shift 4
	probe pub "$who" --topic plant/9/temp --group temps --attack "$name" "$@" \
		>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "attack $name: probe failed"
	expect_out "rc=135"
	wait_stat "$counter" "$value"
	t_log "attack $name refused ($counter=$value)"
}
attack tamper-envelope alice drop_bad_mac 1
attack tamper-mac alice drop_bad_mac 2
attack replay alice drop_replay 1
expect_out "puback 0 rc=0"                       # the original went through
attack other-sender mallory drop_sender_mismatch 1 --other-id alice
attack frame-sender mallory drop_sender_mismatch 2 --other-id alice
attack none eve drop_no_grant 1
attack none bob drop_no_grant 2
probe pub alice --topic elsewhere/x --group temps >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_unknown_group 1
expect_log "dropped publish from 'alice' to 'plant/9/temp': channel MAC does not verify"
expect_log "envelope names another sender"

# Attacks on the handshake: CONNACK 0x87, counted under the reason.
probe connect alice --attack stale-ts >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
wait_stat auth_clock_skew 1
probe connect alice --attack reuse-nonce >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "^connected"
expect_out "refused rc=135"
wait_stat auth_nonce_reuse 1
probe connect alice --attack id-mismatch --other-id bob >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
wait_stat auth_id_mismatch 1
mk_ca evilca
mk_leaf evilca evil client
cp "$T_DIR/evil.crt" "$T_DIR/evil-alice.crt"
"$PROBE" connect --port "$MOSQ_PORT" --cert "$T_DIR/evil.crt" --key "$T_DIR/evil.key" \
	--ca "$T_DIR/ca.crt" >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
wait_stat auth_unknown_ca 1
expect_log "refused client 'evil' from 127.0.0.1: "

# Subscriptions outside the grants are refused; plain clients cannot publish.
probe sub bob --topic 'plant/#' --timeout 500 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "suback rc=135"
wait_stat subscribe_denied 1
mosquitto_pub -p "$MOSQ_PORT" -V mqttv5 -q 1 -t plant/1/temp -m forged >/dev/null 2>&1
wait_stat plain_publish_denied 1

# bob got exactly the good messages; the curious client saw only ciphertext.
wait "$BOB" || { cat "$T_DIR/bob.out" >&2; t_fail "bob did not get 5 messages"; }
grep -q "^bad" "$T_DIR/bob.out" && { cat "$T_DIR/bob.out" >&2; t_fail "bob saw a bad message"; }
for n in 0 1 2; do
	grep -q "^recv plant/1/temp 21.5C $n\$" "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "bob lacks message $n"; }
done
wait "$CURIOUS" || { cat "$T_DIR/curious.out" >&2; t_fail "curious subscriber got nothing"; }
grep -q "^raw plant/1/temp" "$T_DIR/curious.out" || t_fail "curious saw no ciphertext"
grep -q "21.5C" "$T_DIR/curious.out" && t_fail "curious subscriber saw plaintext"

# Revocation: a connected subscriber is kicked within seconds, then refused.
probe_bg sub mallory --topic 'plant/+/temp' --count 1 --timeout 20000 >"$T_DIR/mallory.out" 2>&1
MAL=$PROBE_PID
for i in $(seq 1 50); do grep -q subscribed "$T_DIR/mallory.out" && break; sleep 0.1; done
expect_rc 0 kmsctl client revoke mallory --reason "test"
wait_stat kicked 1 100
for i in $(seq 1 50); do grep -q lost "$T_DIR/mallory.out" && break; sleep 0.1; done
grep -q lost "$T_DIR/mallory.out" || { cat "$T_DIR/mallory.out" >&2; t_fail "mallory was not disconnected"; }
probe connect mallory >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
wait_stat auth_revoked 1
expect_log "disconnecting revoked client 'mallory'"

# Every connection's state (keys included) went with its DISCONNECT.
for i in $(seq 1 30); do [ "$(bstat sessions)" = 0 ] && break; sleep 0.2; done
[ "$(bstat sessions)" = 0 ] || { cat "$MOSQ_STATS" >&2; t_fail "sessions left after every client left"; }
mosq_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "sanitizer report"; }
exit 0
