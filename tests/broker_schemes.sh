#!/bin/bash
# broker_schemes.sh - schemes 3, 2 and 1 through a real mosquitto with
# mqe2e_plugin.so and a real mqe2e-kmsd:
#   scheme 3  AEAD(SK_CB) in, opened once, sealed once under GK_B;
#   scheme 2  AEAD(SK_CB) around a BUNDLE: each subscriber gets only its own
#             part, sealed under its own SK_CB b2c; nobody gets the original;
#   scheme 1  plain BUNDLE routed per recipient;
# plus the sender, tamper and grant checks of each.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

kms_start
enrol broker1 broker
for c in alice bob carol eve; do enrol "$c" client; done
expect_rc 0 kmsctl group add g3 --filter 's3/#' --scheme 3
expect_rc 0 kmsctl group add g2 --filter 's2/#' --scheme 2
expect_rc 0 kmsctl group add g1 --filter 's1/#' --scheme 1
for g in g3 g2 g1; do
	expect_rc 0 kmsctl grant add alice "$g" pub
	expect_rc 0 kmsctl grant add bob "$g" sub
done
expect_rc 0 kmsctl grant add carol g2 sub
expect_rc 0 kmsctl grant add carol g1 sub

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS" "allow_plain true"
mosq_start
wait_stat policy_updates 1 100

# sub NAME OUT ARGS...: background subscriber, waits until subscribed.
sub() {
	local name=$1 out=$2
	shift 2
	if [ "$name" = curious ]; then
		t_bg SUB_PID "$PROBE" sub --plain --port "$MOSQ_PORT" "$@" >"$T_DIR/$out" 2>&1
	else
		probe_bg sub "$name" "$@" >"$T_DIR/$out" 2>&1
		SUB_PID=$PROBE_PID
	fi
	for i in $(seq 1 50); do grep -q subscribed "$T_DIR/$out" && return 0; sleep 0.1; done
	cat "$T_DIR/$out" >&2
	t_fail "$name did not subscribe"
}

# ---- scheme 3 ----
sub bob bob3.out --topic 's3/#' --count 2 --timeout 15000
BOB3=$SUB_PID
probe pub alice --topic s3/a --group g3 --scheme 3 --count 2 --message "three" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "scheme 3 publish failed"
[ "$(grep -c 'rc=0' "$T_DIR/out")" = 2 ] || { cat "$T_DIR/out" >&2; t_fail "scheme 3: 2 PUBACKs expected"; }
wait "$BOB3" || { cat "$T_DIR/bob3.out" >&2; t_fail "scheme 3: bob did not get 2 messages"; }
grep -q "^recv s3/a three 1$" "$T_DIR/bob3.out" || t_fail "scheme 3: bob lacks message 1"
wait_stat msg_relayed_scheme3 2
probe pub alice --topic s3/a --group g3 --scheme 3 --attack tamper-mac >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_bad_mac 1
probe pub alice --topic s3/a --group g3 --scheme 3 --attack replay >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "puback 1 rc=135"
wait_stat drop_replay 1
# A MAC frame on a scheme 3 group is refused.
probe pub alice --topic s3/a --group g3 --scheme 4 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_wrong_scheme 1

# ---- scheme 2 ----
sub bob bob2.out --inbox --topic 's2/#' --count 2 --timeout 15000
BOB2=$SUB_PID
sub carol carol2.out --inbox --topic 's2/#' --count 2 --timeout 15000
CAROL2=$SUB_PID
sub curious curious2.out --topic 's2/#' --count 1 --timeout 3000
CURIOUS2=$SUB_PID
# The roster tells the publisher whom it can pair with; no grant, no roster.
probe sub alice --topic mqe2e/v1/roster/g2 --count 1 --timeout 5000 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "^roster mqe2e/v1/roster/g2 bob,carol$"
probe sub eve --topic mqe2e/v1/roster/g2 --timeout 500 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "suback rc=135"
# A group covering the control topics ('mqe2e/#') does not open others'
# rosters or pairing inboxes to its subscribers.  (A '#' group would overlap
# the filter of every other group, which the KMS refuses.)
POLICY_BEFORE=$(bstat policy_updates)
expect_rc 0 kmsctl group add zz --filter 'mqe2e/#' --scheme 4
expect_rc 0 kmsctl grant add eve zz sub
wait_stat policy_updates $((POLICY_BEFORE + 1)) 100
for i in 1 2 3 4 5; do   # until the broker holds the policy with eve's grant
	probe sub eve --topic 'mqe2e/#' --count 1 --timeout 2000 >"$T_DIR/out" 2>"$T_DIR/err"
	grep -q "^subscribed" "$T_DIR/out" && break
	sleep 1
done
expect_out "received 0"
wait_stat read_denied 1
# Only the broker writes rosters.
probe pub alice --topic mqe2e/v1/roster/g2 --group g3 --scheme 3 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
expect_log "only the broker writes rosters"
probe pub alice --topic s2/a --scheme 2 --group g2 --recipients bob,carol --count 2 --message "two" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "scheme 2 publish failed"
[ "$(grep -c '^puback' "$T_DIR/out")" = 2 ] || { cat "$T_DIR/out" >&2; t_fail "scheme 2: 2 PUBACKs expected"; }
wait "$BOB2" || { cat "$T_DIR/bob2.out" >&2; t_fail "scheme 2: bob did not get 2 messages"; }
wait "$CAROL2" || { cat "$T_DIR/carol2.out" >&2; t_fail "scheme 2: carol did not get 2 messages"; }
grep -q "^recv s2/a two 1$" "$T_DIR/bob2.out" || t_fail "scheme 2: bob lacks message 1"
grep -q "^recv s2/a two 1$" "$T_DIR/carol2.out" || t_fail "scheme 2: carol lacks message 1"
grep -q "^bad" "$T_DIR/bob2.out" "$T_DIR/carol2.out" && t_fail "scheme 2: a bad message was delivered"
wait "$CURIOUS2" && { cat "$T_DIR/curious2.out" >&2; t_fail "scheme 2: the original reached a plain subscriber"; }
wait_stat msg_relayed_scheme2 2
probe pub alice --topic s2/a --scheme 2 --group g2 --recipients bob --attack other-sender --other-id carol \
	>"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_sender_mismatch 1
wait_stat subscribe_denied 1
probe pub alice --topic s2/a --scheme 2 --group g2 --recipients bob --attack tamper-mac >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_bad_mac 2

# ---- scheme 1 ----
sub bob bob1.out --topic 's1/#' --count 1 --timeout 15000
BOB1=$SUB_PID
# eve has no grant: she may only listen on her pairing inbox, and must get nothing.
sub eve eve1.out --topic 'mqe2e/v1/pair/req/eve' --count 1 --timeout 3000
EVE1=$SUB_PID
probe pub alice --topic s1/a --scheme 1 --group g1 --recipients bob,eve --message "one" \
	>"$T_DIR/out" 2>"$T_DIR/err" || t_fail "scheme 1 publish failed"
wait "$BOB1" || { cat "$T_DIR/bob1.out" >&2; t_fail "scheme 1: bob did not get the message"; }
grep -q "^recv s1/a one 0$" "$T_DIR/bob1.out" || t_fail "scheme 1: bob lacks the message"
wait "$EVE1" && { cat "$T_DIR/eve1.out" >&2; t_fail "scheme 1: eve (no grant) got a part"; }
wait_stat msg_relayed_scheme1 1
probe pub alice --topic s1/a --scheme 1 --group g1 --recipients bob --attack other-sender --other-id carol \
	>"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_sender_mismatch 2
probe pub alice --topic s1/a --scheme 1 --group g1 --recipients bob --attack wrong-pair --other-id carol \
	>"$T_DIR/out" 2>"$T_DIR/err"
expect_out "rc=135"
wait_stat drop_malformed 1
# (Scheme 1 has no channel crypto: a tampered ciphertext is the recipient's to refuse.)

# Pairing inboxes: only one's own may be subscribed.
probe sub eve --topic 'mqe2e/v1/pair/req/bob' --timeout 500 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "suback rc=135"

# A group leaving schemes 1/2 loses its retained roster.
sub bob bobend.out --inbox --topic 's1/#' --count 1 --timeout 30000
probe sub alice --topic mqe2e/v1/roster/g1 --count 1 --timeout 5000 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "^roster mqe2e/v1/roster/g1 bob$"
POLICY_BEFORE=$(bstat policy_updates)
expect_rc 0 kmsctl group update g1 --scheme 4
wait_stat policy_updates $((POLICY_BEFORE + 1)) 100
sleep 0.5
probe sub alice --topic mqe2e/v1/roster/g1 --count 1 --timeout 1500 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "received 0"

mosq_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "sanitizer report"; }
exit 0
