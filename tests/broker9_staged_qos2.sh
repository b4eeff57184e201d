#!/bin/bash
# broker9_staged_qos2.sh - issue 9.7: QoS 2 publishes staged (PUBREC 0)
# before the publisher's pub grant was removed are not delivered on PUBREL.
#
# broker_probe stage speaks raw MQTT 5 so that it can hold its PUBRELs back
# (paho answers PUBREC at once).  Round 1, grant kept: the three staged
# messages arrive at the release (QoS 2 still works).  Round 2: three staged,
# then `grant rm`, then the release: none arrives, also not as a retained
# message, and drop_staged_denied counts them.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

kms_start
enrol broker1 broker
for c in alice bob carol; do enrol "$c" client; done
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add alice temps pub
expect_rc 0 kmsctl grant add bob temps sub
expect_rc 0 kmsctl grant add carol temps sub

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS"
mosq_start
wait_stat policy_updates 1 100

# stage_round NAME: alice stages 3 QoS 2 messages "NAME i" (retained), then
# waits for a line on $T_DIR/NAME.fifo before releasing them.
stage_round() {
	mkfifo "$T_DIR/$1.fifo"
	# our end first (read-write: opening it does not wait for a reader),
	# so that alice's does not block the call; alice does not get it
	exec 7<>"$T_DIR/$1.fifo"
	probe_bg stage alice --topic plant/1/temp --group temps --count 3 --retain --message "$1" \
		<"$T_DIR/$1.fifo" >"$T_DIR/$1.out" 2>&1 7>&-
	STAGE=$PROBE_PID
	for i in $(seq 1 100); do grep -q "^staged" "$T_DIR/$1.out" && break; sleep 0.1; done
	grep -q "^staged" "$T_DIR/$1.out" || { cat "$T_DIR/$1.out" >&2; t_fail "$1: alice did not stage"; }
	[ "$(grep -c 'pubrec .* rc=0' "$T_DIR/$1.out")" = 3 ] || { cat "$T_DIR/$1.out" >&2; t_fail "$1: 3 PUBREC 0 expected"; }
}
release() {
	echo release >&7
	exec 7>&-
	wait "$STAGE" || { cat "$T_DIR/$1.out" >&2; t_fail "$1: release failed"; }
	[ "$(grep -c '^pubcomp' "$T_DIR/$1.out")" = 3 ] || { cat "$T_DIR/$1.out" >&2; t_fail "$1: 3 PUBCOMP expected"; }
}

# Round 1: the grant stays; the release delivers.
probe_bg sub bob --topic 'plant/+/temp' --qos 2 --count 3 --timeout 15000 >"$T_DIR/bob1.out" 2>&1
BOB=$PROBE_PID
for i in $(seq 1 50); do grep -q subscribed "$T_DIR/bob1.out" && break; sleep 0.1; done
stage_round kept
grep -q "^recv" "$T_DIR/bob1.out" && { cat "$T_DIR/bob1.out" >&2; t_fail "delivered before PUBREL"; }
release kept
wait "$BOB" || { cat "$T_DIR/bob1.out" >&2; t_fail "round 1: bob did not get the 3 released messages"; }
t_log "round 1 (grant kept): 3 staged, 3 delivered at PUBREL"

# Round 2: the grant goes while the messages are staged.
# (bob first gets round 1's retained message; he stays for four)
probe_bg sub bob --topic 'plant/+/temp' --qos 2 --count 4 --timeout 10000 >"$T_DIR/bob2.out" 2>&1
BOB=$PROBE_PID
for i in $(seq 1 50); do grep -q subscribed "$T_DIR/bob2.out" && break; sleep 0.1; done
stage_round removed
before=$(bstat policy_updates)
expect_rc 0 kmsctl grant rm alice temps pub
wait_stat policy_updates $((before + 1)) 100
release removed
sleep 1
grep -q "^recv plant/1/temp removed" "$T_DIR/bob2.out" && { cat "$T_DIR/bob2.out" >&2; t_fail "a message staged before the grant removal was delivered"; }
wait_stat drop_staged_denied 3
# nor is it served as the retained message to a later subscriber
probe sub carol --topic 'plant/+/temp' --count 1 --timeout 1500 >"$T_DIR/carol.out" 2>&1
grep -q "^recv plant/1/temp removed" "$T_DIR/carol.out" && { cat "$T_DIR/carol.out" >&2; t_fail "the refused message was retained"; }
t_log "round 2 (grant removed while staged): 3 staged, 0 delivered, drop_staged_denied $(bstat drop_staged_denied)"
expect_log "staged before PUBREL and its publisher may no longer publish"

mosq_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "sanitizer report"; }
exit 0
