#!/bin/bash
# keys12_deltas.sh - broker policy deltas (issue 12): after a mix of changes
# (groups added, changed, rotated, deleted; grants added and removed; a
# client revoked) the delta since a version, applied to the full policy of
# that version the way the plugin applies it (broker-ext/delta.c), gives
# exactly the full snapshot of the new version; a tampered delta is refused
# (the CA signature); the plugin follows deltas and re-fetches only the
# keys of the groups a delta names, also with plugin_opt_policy_cache (whose
# file then holds the signed chain, loaded after a restart with the KMS
# down).  Prints the bytes of each.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/client_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
for c in c1 c2 c3; do enrol $c client; done
for g in 1 2 3 4; do expect_rc 0 kmsctl group add g$g --filter "g$g/#" --scheme 4; done
expect_rc 0 kmsctl grant add c1 g1 pub
expect_rc 0 kmsctl grant add c2 g1 sub
expect_rc 0 kmsctl grant add c3 g2 sub
expect_rc 0 kmsctl grant add c3 g4 pub

# version v0 and its full policy
keyreq broker --policy --json >"$T_DIR/base.json" 2>"$T_DIR/base.err" || t_fail "full policy: $(cat "$T_DIR/base.err")"
v0=$(jget 'd["version"]' <"$T_DIR/base.json")
full0=$(sed -n 's/.*policy \([0-9]*\) bytes.*/\1/p' "$T_DIR/base.err")

# a mix of changes
expect_rc 0 kmsctl group add g5 --filter 'g5/#' --scheme 3 --future-epochs 2
expect_rc 0 kmsctl group update g1 --filter 'g1/+/x'
expect_rc 0 kmsctl grant add c1 g5 pub
expect_rc 0 kmsctl grant rm c2 g1 sub
expect_rc 0 kmsctl group rotate g2
expect_rc 0 kmsctl client revoke c3 --reason "test"
expect_rc 0 kmsctl group delete g4 --force

keyreq broker --watch "$v0" --timeout 1 --delta --json --base "$T_DIR/base.json" \
	>"$T_DIR/merged.json" 2>"$T_DIR/delta.err" || t_fail "delta: $(cat "$T_DIR/delta.err")"
grep -q '(delta)' "$T_DIR/delta.err" || t_fail "the watch did not answer a delta: $(cat "$T_DIR/delta.err")"
keyreq broker --policy --json >"$T_DIR/full.json" 2>"$T_DIR/full.err" || t_fail "full policy: $(cat "$T_DIR/full.err")"
cmp -s "$T_DIR/merged.json" "$T_DIR/full.json" || {
	echo "--- base + delta"; cat "$T_DIR/merged.json"; echo "--- full"; cat "$T_DIR/full.json"
	t_fail "the policy built from the delta differs from the full snapshot"
} >&2
grep -q '"g4"' "$T_DIR/full.json" && t_fail "the deleted group is still in the policy"
grep -q '"c3"' "$T_DIR/full.json" || t_fail "the revoked client is not in the policy"
dbytes=$(sed -n 's/.*policy \([0-9]*\) bytes.*/\1/p' "$T_DIR/delta.err")
fbytes=$(sed -n 's/.*policy \([0-9]*\) bytes.*/\1/p' "$T_DIR/full.err")
t_log "7 changes since version $v0: delta $dbytes bytes, full snapshot $fbytes bytes (was $full0); base + delta = full"

# a tampered delta is refused; a delta for another base does not apply
keyreq broker --watch "$v0" --timeout 1 --delta --json --base "$T_DIR/base.json" --tamper \
	>"$T_DIR/out" 2>"$T_DIR/err"
[ $? = 5 ] || t_fail "a tampered delta was not refused: $(cat "$T_DIR/err")"
grep -q 'signature does not verify' "$T_DIR/err" || t_fail "tampered: $(cat "$T_DIR/err")"
jget 'dict(d, version=d["version"] - 1)' <"$T_DIR/base.json" >"$T_DIR/other.json"
keyreq broker --watch "$v0" --timeout 1 --delta --json --base "$T_DIR/other.json" \
	>"$T_DIR/out" 2>"$T_DIR/err"
[ $? = 5 ] || t_fail "a delta since $v0 applied to a base of version $((v0 - 1)): $(cat "$T_DIR/err")"

# the plugin follows deltas: a new group and a grant on it are small
# answers and one group's keys, and the client can publish there
BROKER_EXTRA_CONF="log_type information"
broker_start
for _ in $(seq 1 100); do grep -q 'KMS policy version' "$T_DIR/mosquitto.log" && break; sleep 0.1; done
expect_rc 0 kmsctl group add g6 --filter 'g6/#' --scheme 4
expect_rc 0 kmsctl grant add c1 g6 pub
for _ in $(seq 1 100); do grep -q '(a delta)' "$T_DIR/mosquitto.log" && break; sleep 0.1; done
line=$(grep '(a delta)' "$T_DIR/mosquitto.log" | tail -1)
[ -n "$line" ] || { tail "$T_DIR/mosquitto.log" >&2; t_fail "the plugin did not take a delta"; }
t_log "plugin: ${line#*mqe2e: }"
first=$(grep 'KMS policy version' "$T_DIR/mosquitto.log" | head -1)
t_log "plugin, first (full): ${first#*mqe2e: }"
sleep 1
echo "after the delta" | pub c1 -t g6/x -q 1 -l 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; tail "$T_DIR/mosquitto.log" >&2; t_fail "c1 could not publish on g6 after the deltas granted it"; }

# with plugin_opt_policy_cache the plugin follows deltas the same way: its
# cache holds the chain (the full snapshot, then each signed delta), and a
# broker restarted while the KMS is down loads the newest version from it
broker_stop
BROKER_EXTRA_CONF="log_type information
plugin_opt_policy_cache $T_DIR/policy.cache"
mark=$(wc -l <"$T_DIR/mosquitto.log")
after_mark() { tail -n +$((mark + 1)) "$T_DIR/mosquitto.log"; }
broker_start
for _ in $(seq 1 300); do after_mark | grep -q 'KMS policy version' && break; sleep 0.1; done
after_mark | grep -q 'KMS policy version' || t_fail "the broker with a policy cache took no policy"
expect_rc 0 kmsctl group add g7 --filter 'g7/#' --scheme 4
expect_rc 0 kmsctl grant add c1 g7 pub
keyreq broker --policy --json >"$T_DIR/full2.json" 2>"$T_DIR/full2.err" || t_fail "full policy: $(cat "$T_DIR/full2.err")"
v2=$(jget 'd["version"]' <"$T_DIR/full2.json")
for _ in $(seq 1 300); do after_mark | grep -q "KMS policy version $v2" && break; sleep 0.1; done
after_mark | grep -q "KMS policy version $v2 (a delta)" ||
	{ after_mark | grep 'KMS policy' >&2; t_fail "the broker with a policy cache did not take version $v2 as a delta"; }
nfull=$(after_mark | grep 'KMS policy version' | grep -vc '(a delta)')
[ "$nfull" = 1 ] || t_fail "the broker with a policy cache took $nfull full snapshots (1 expected, then deltas)"
chain=$(jget 'len(d["answers"])' <"$T_DIR/policy.cache")
[ "$chain" -ge 2 ] || t_fail "the policy cache holds $chain answers (a full snapshot and deltas expected)"
t_log "plugin with a policy cache: 1 full snapshot, then deltas; the cache holds $chain signed answers"
kms_stop
broker_stop
mark=$(wc -l <"$T_DIR/mosquitto.log")
broker_start
for _ in $(seq 1 100); do after_mark | grep -q "policy version $v2 loaded from" && break; sleep 0.1; done
after_mark | grep -q "policy version $v2 loaded from" ||
	{ after_mark >&2; t_fail "a broker restarted with the KMS down did not load version $v2 from its cache"; }
t_log "restarted with the KMS down: version $v2 (full snapshot + deltas) loaded from the cache"
broker_stop
exit 0
