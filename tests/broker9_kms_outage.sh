#!/bin/bash
# broker9_kms_outage.sh - issue 10.6: a KMS outage across a due rotation.
#
# The group rotates every 6 s with 1 s of grace; the KMS is stopped.  The
# broker used to frame only under the policy's current epoch, so 1 s after
# the due rotation it refused every publish (drop_no_key, one log line
# each) and the publisher was told nothing useful.  Now it frames under the
# newest epoch it holds whose time has come - the pre-issued next epoch,
# which the subscriber already holds too - so the outage costs nothing until
# that epoch ends as well (about rotate + grace after the due rotation).
# Then the publishes are refused under drop_key_stale, and the log says
# once (not once per message) that the keys ended and since when the KMS
# has not answered.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

kms_start
enrol broker1 broker
for c in alice bob; do enrol "$c" client; done
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4 --rotate 6 --grace 1
expect_rc 0 kmsctl grant add alice temps pub
expect_rc 0 kmsctl grant add bob temps sub

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS"
mosq_start
wait_stat policy_updates 1 100
# Right after a rotation, so that the whole run sees one due rotation.
cur=$(kmsctl --json group show temps | jget '[e["epoch"] for e in d["epochs"] if e["state"] == "current"][0]')
for i in $(seq 1 60); do
	now=$(kmsctl --json group show temps | jget '[e["epoch"] for e in d["epochs"] if e["state"] == "current"][0]')
	[ "$now" != "$cur" ] && break
	sleep 0.1
done
before=$(bstat policy_updates)
wait_stat policy_updates $((before + 1)) 100
probe keys alice --keys "$T_DIR/alice.keys" >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "alice keys"
probe_bg sub bob --topic 'plant/+/temp' --count 100 --timeout 30000 >"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
for i in $(seq 1 50); do grep -q subscribed "$T_DIR/bob.out" && break; sleep 0.1; done
kms_stop
t0=$(date +%s)
t_log "KMS stopped (rotation due within 6 s, grace 1 s)"

# 8 s of publishing: across the due rotation and past its grace.
ok=0 refused=0 n=0
while [ $(( $(date +%s) - t0 )) -lt 8 ]; do
	probe pub alice --keys "$T_DIR/alice.keys" --topic plant/1/temp --group temps \
		--message "outage-$n" >"$T_DIR/out" 2>"$T_DIR/err"
	if grep -q "rc=0" "$T_DIR/out"; then ok=$((ok + 1)); else refused=$((refused + 1)); fi
	n=$((n + 1))
	sleep 0.3
done
t_log "during the first 8 s of the outage (across the due rotation and its grace): $ok accepted, $refused refused"
[ "$refused" = 0 ] || { cat "$MOSQ_LOG" | grep mqe2e | tail -5 >&2; t_fail "$refused publishes refused within rotate + grace of the due rotation"; }
sleep 1
got=$(grep -c "^recv plant/1/temp outage-" "$T_DIR/bob.out")
epochs=$(grep "^epoch" "$T_DIR/bob.out" | sort -u | tr '\n' ' ')
t_log "bob received $got of $ok, frames under: $epochs"
[ "$got" = "$ok" ] || { cat "$T_DIR/bob.out" >&2; t_fail "bob lost messages"; }
[ "$(grep "^epoch" "$T_DIR/bob.out" | sort -u | wc -l)" -ge 2 ] ||
	{ cat "$T_DIR/bob.out" >&2; t_fail "the broker never moved to the next epoch without the KMS"; }

# Past the next epoch's end too: refused, counted, explained once.  (alice
# keeps sealing under the last epoch she holds; a real client stops itself.)
last=$(grep "^epoch" "$T_DIR/bob.out" | tail -1 | cut -d' ' -f2)
for i in $(seq 1 80); do
	probe pub alice --keys "$T_DIR/alice.keys" --topic plant/1/temp --group temps \
		--epoch "$last" --message "late" >"$T_DIR/out" 2>"$T_DIR/err"
	grep -q "rc=135" "$T_DIR/out" && break
	sleep 0.3
done
expect_out "rc=135"
t_log "refused $(( $(date +%s) - t0 )) s after the KMS stopped (all keys ended)"
for i in 1 2 3 4 5; do
	probe pub alice --keys "$T_DIR/alice.keys" --topic plant/1/temp --group temps \
		--epoch "$last" --message "late" >"$T_DIR/out" 2>"$T_DIR/err"
done
wait_stat drop_key_stale 6
expect_log "every broker key of epoch"
expect_log "has not answered since"
lines=$(grep -c "every broker key of epoch" "$MOSQ_LOG")
[ "$lines" = 1 ] || t_fail "$lines log lines for $(bstat drop_key_stale) refusals, expected 1"
t_log "$(bstat drop_key_stale) publishes refused as drop_key_stale, $lines log line: $(grep -o 'group .temps.: every.*' "$MOSQ_LOG" | cut -c1-160)"
mosq_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "sanitizer report"; }
exit 0
