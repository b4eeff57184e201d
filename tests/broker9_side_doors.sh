#!/bin/bash
# broker9_side_doors.sh - issue 9 items 11-14 against a real mqe2e-kmsd, a
# real mosquitto with mqe2e_plugin.so and broker_probe clients: each attack
# refused and counted, and the subscribers see nothing of it.
#
#   9.14  MQTT 5 properties (user property, content type, response topic)
#         on a group publish never reach a subscriber: stripped.
#   9.13  an envelope naming an epoch the broker does not hold is refused
#         (it would send every subscriber to the KMS).
#   9.12  a will holding a valid scheme 1 BUNDLE, released by taking over
#         one's own session, reaches nobody and is not retained; a retained
#         message cannot be planted in a pairing inbox.
#   9.11  a plain client (allow_plain) cannot use an mqe2e client's id:
#         neither kick the live one nor take its session afterwards.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"
t_need mosquitto_sub

kms_start
enrol broker1 broker
for c in alice bob carol; do enrol "$c" client; done
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl group add chat --filter 'chat/#' --scheme 1
expect_rc 0 kmsctl grant add alice temps pub
expect_rc 0 kmsctl grant add bob temps sub
expect_rc 0 kmsctl grant add alice chat pub
expect_rc 0 kmsctl grant add bob chat sub
expect_rc 0 kmsctl grant add carol chat sub

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS" "allow_plain true"
mosq_start
wait_stat policy_updates 1 100

wait_subscribed() {   # wait_subscribed FILE
	local i
	for i in $(seq 1 50); do grep -q subscribed "$1" && return 0; sleep 0.1; done
	cat "$1" >&2
	t_fail "$1: no subscription"
}

# ---- 9.14 properties -----------------------------------------------------------
probe_bg sub bob --topic 'plant/+/temp' --count 1 --timeout 10000 >"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
wait_subscribed "$T_DIR/bob.out"
probe pub alice --topic plant/1/temp --group temps --props --message "with-props" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "alice could not publish"
expect_out "puback 0 rc=0"
wait "$BOB" || { cat "$T_DIR/bob.out" >&2; t_fail "bob did not get the message"; }
grep -q "^recv plant/1/temp with-props 0$" "$T_DIR/bob.out" || { cat "$T_DIR/bob.out" >&2; t_fail "bob lacks the message"; }
grep -q "^props" "$T_DIR/bob.out" && { cat "$T_DIR/bob.out" >&2; t_fail "unauthenticated MQTT 5 properties reached bob"; }
wait_stat props_stripped 1
t_log "9.14: user property, content type and response topic stripped (props_stripped $(bstat props_stripped))"

# ---- 9.13 epochs that do not exist -------------------------------------------------
probe pub alice --topic plant/1/temp --group temps --epoch 4242 --message "epoch-4242" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "probe failed"
expect_out "puback 0 rc=135"
wait_stat drop_unknown_epoch 1
expect_log "envelope names epoch 4242, which the broker does not know"
t_log "9.13: envelope naming epoch 4242 refused (drop_unknown_epoch)"

# ---- 9.12 wills and retained side paths ----------------------------------------------
probe_bg sub bob --topic 'chat/#' --scheme 1 --count 1 --timeout 6000 >"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
wait_subscribed "$T_DIR/bob.out"
probe_bg connect alice --will-bundle --topic chat/room --group chat --recipients bob,carol --timeout 8000 \
	>"$T_DIR/will.out" 2>&1
WILL=$PROBE_PID
for i in $(seq 1 50); do grep -q "^connected" "$T_DIR/will.out" && break; sleep 0.1; done
grep -q "^connected" "$T_DIR/will.out" || { cat "$T_DIR/will.out" >&2; t_fail "alice (with will) did not connect"; }
# alice takes over her own session: Mosquitto releases the old connection's will
probe connect alice >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "^connected"
wait_stat drop_will 1
wait "$BOB"
grep -q "^recv\|^bad\|^raw" "$T_DIR/bob.out" && { cat "$T_DIR/bob.out" >&2; t_fail "the will reached bob"; }
# and it was not retained for later subscribers
probe sub carol --topic 'chat/#' --scheme 1 --count 1 --timeout 1500 >"$T_DIR/carol.out" 2>&1
grep -q "^recv\|^bad\|^raw" "$T_DIR/carol.out" && { cat "$T_DIR/carol.out" >&2; t_fail "the will was retained"; }
t_log "9.12: will with a whole bundle dropped at the takeover (drop_will $(bstat drop_will)), not retained"
# a retained message planted in bob's pairing inbox
probe pub alice --topic mqe2e/v1/pair/req/bob --raw --retain --message planted \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "probe failed"
expect_out "puback 0 rc=135"
wait_stat drop_retain 1
probe sub bob --topic mqe2e/v1/pair/req/bob --count 1 --timeout 1500 >"$T_DIR/bob.out" 2>&1
grep -q "^recv\|^bad" "$T_DIR/bob.out" && { cat "$T_DIR/bob.out" >&2; t_fail "a retained message sat in bob's inbox"; }
t_log "9.12: retained publish into a pairing inbox refused (drop_retain)"

# ---- 9.11 allow_plain and mqe2e identities ---------------------------------------------
probe_bg sub bob --topic 'plant/+/temp' --count 1 --timeout 8000 >"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
wait_subscribed "$T_DIR/bob.out"
mosquitto_sub -p "$MOSQ_PORT" -V mqttv5 -i bob -t '#' -W 2 >"$T_DIR/plain.out" 2>&1
grep -qi "not authori" "$T_DIR/plain.out" || { cat "$T_DIR/plain.out" >&2; t_fail "a plain client connected as 'bob'"; }
sleep 0.5
grep -q "^lost\|^disconnected" "$T_DIR/bob.out" && { cat "$T_DIR/bob.out" >&2; t_fail "the plain client kicked bob"; }
probe pub alice --topic plant/2/temp --group temps --message "still-bob" >"$T_DIR/out" 2>"$T_DIR/err"
wait "$BOB" || { cat "$T_DIR/bob.out" >&2; t_fail "bob lost his connection"; }
# bob gone: his id (and any persistent session of it) stays his
mosquitto_sub -p "$MOSQ_PORT" -V mqttv5 -i bob -c -x 3600 -t '#' -W 2 >"$T_DIR/plain.out" 2>&1
grep -qi "not authori" "$T_DIR/plain.out" || { cat "$T_DIR/plain.out" >&2; t_fail "a plain client took bob's session"; }
# an id no enrolled client has is fine
mosquitto_sub -p "$MOSQ_PORT" -V mqttv5 -i curious -t '#' -W 1 >"$T_DIR/plain.out" 2>&1
grep -qi "not authori" "$T_DIR/plain.out" && { cat "$T_DIR/plain.out" >&2; t_fail "plain client 'curious' refused"; }
wait_stat plain_identity_refused 2
expect_log "refused plain client 'bob' from 127.0.0.1: the client id belongs to an mqe2e client"
t_log "9.11: plain clients refused as 'bob' (live and gone), accepted as 'curious'"

mosq_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "sanitizer report"; }
exit 0
