#!/bin/bash
# keys12_10k.sh - no cliff in the number of groups (issue 12): 10,000 groups
# (created through "mqe2e-kmsctl group import": POST /v1/groups batches of
# 400 groups, one transaction each) plus 10 on which a client is granted.
# The broker fetches its policy and the GK_B keys of all 10,010 groups page
# by page and becomes ready (version 1 of the protocol capped a bundle at
# 4,096 keys: the broker never did); the client fetches only its 10 groups'
# keys, then publishes and receives end to end through the broker.  Prints
# the sizes and times it measured.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/client_lib.sh" || exit 99

NGROUPS=10000
ms() { date +%s%3N; }

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol dev client
enrol sensor client

# 10,000 groups on the default schedule, then the device's 10
for i in $(seq -w 1 $NGROUPS); do
	printf '{"name":"bulk%s","filter":"bulk/g%s/#","scheme":4}\n' "$i" "$i"
done >"$T_DIR/groups.jsonl"
t0=$(ms)
expect_rc 0 kmsctl group import "$T_DIR/groups.jsonl"
t1=$(ms)
grep -q "^created $NGROUPS groups" "$T_DIR/out" || t_fail "import: $(cat "$T_DIR/out")"
t_log "created $NGROUPS groups in $((t1 - t0)) ms ($(( (NGROUPS / 400) + 1 )) batches)"
for i in $(seq 0 9); do
	expect_rc 0 kmsctl group add "dev$i" --filter "dev/$i/#" --scheme 4
	expect_rc 0 kmsctl grant add dev "dev$i" pub
	expect_rc 0 kmsctl grant add dev "dev$i" sub
done
expect_rc 0 kmsctl grant add sensor dev3 pub
# an overlapping filter is still refused (the bucketed check)
expect_rc 2 kmsctl group add clash --filter 'bulk/g00042/x' --scheme 4
grep -q "bulk00042" "$T_DIR/err" || t_fail "overlap not named: $(cat "$T_DIR/err")"
printf '{"name":"clash2","filter":"bulk/+/y","scheme":4}\n' >"$T_DIR/clash.jsonl"
expect_rc 2 kmsctl group import "$T_DIR/clash.jsonl"
grep -q "overlaps" "$T_DIR/err" || t_fail "wildcard overlap not refused: $(cat "$T_DIR/err")"

# the broker: policy of 10,010 groups and their keys, page by page
BROKER_EXTRA_CONF="log_type information"
t0=$(ms)
broker_start
for _ in $(seq 1 400); do
	grep -q "KMS policy version [0-9]*: $((NGROUPS + 10)) groups" "$T_DIR/mosquitto.log" && break
	sleep 0.1
done
t1=$(ms)
line=$(grep "KMS policy version [0-9]*: $((NGROUPS + 10)) groups" "$T_DIR/mosquitto.log" | head -1)
[ -n "$line" ] || { tail -20 "$T_DIR/mosquitto.log" >&2; t_fail "the broker did not load the policy of $((NGROUPS + 10)) groups within 40 s"; }
keys=$(echo "$line" | sed -n 's/.* \([0-9]*\) group keys.*/\1/p')
[ "${keys:-0}" -ge $(( (NGROUPS + 10) * 2 )) ] || t_fail "the broker holds $keys group keys: $line"
pages=$(grep -c '"actor":"broker:broker","action":"keys.fetch".*"result":"ok"' "$KMS_DIR/audit.log")
bbytes=$(grep '"actor":"broker:broker","action":"keys.fetch".*"result":"ok"' "$KMS_DIR/audit.log" |
	sed -n 's/.*groups, \([0-9]*\) bytes.*/\1/p' | awk '{s += $1} END {print s + 0}')
t_log "broker ready in $((t1 - t0)) ms after start: $keys GK_B keys of $((NGROUPS + 10)) groups in $pages pages, $bbytes bytes of KEY_RESPONSE"
[ "$pages" -ge 10 ] || t_fail "the broker's keys came in $pages answers (pages of at most 1024 groups expected)"

# the client: only its 10 groups' keys
t0=$(ms)
keyreq dev >"$T_DIR/dev.keys" || t_fail "the client's key fetch failed: $(cat "$T_DIR/dev.keys")"
t1=$(ms)
n=$(wc -l <"$T_DIR/dev.keys")
ng=$(awk '{print $1}' "$T_DIR/dev.keys" | sort -u | wc -l)
[ "$ng" = 10 ] || t_fail "the client got keys of $ng groups, not its 10"
grep -q '^bulk' "$T_DIR/dev.keys" && t_fail "the client got keys of groups it holds no grant on"
cbytes=$(grep '"actor":"client:dev","action":"keys.fetch".*"result":"ok"' "$KMS_DIR/audit.log" | tail -1 |
	sed -n 's/.*groups, \([0-9]*\) bytes.*/\1/p')
t_log "client key fetch: $n keys of $ng groups, ${cbytes:-?} bytes of KEY_RESPONSE, $((t1 - t0)) ms (tool start included)"

# and the client works end to end through the broker (scheme 4), here as
# the subscriber of a sensor's readings (the same MQTT client id cannot be
# connected twice)
sub_bg dev "$T_DIR/sub.out" -q 1 -t 'dev/3/#' -C 5 -W 60
wait_for "$T_DIR/sub.out.err" "subscribed to" 1 300 || t_fail "the client did not subscribe"
t0=$(ms)
for i in 1 2 3 4 5; do echo "reading $i"; done >"$T_DIR/expected"
pub sensor -t dev/3/temp -q 1 -l <"$T_DIR/expected" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub failed"; }
wait_pid "$SUB_PID" 600 || { cat "$T_DIR/sub.out.err" >&2; t_fail "mqe2e-sub failed"; }
t1=$(ms)
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || t_fail "the messages did not arrive intact: $(cat "$T_DIR/sub.out")"
t_log "5 messages published and received end to end in $((t1 - t0)) ms"
broker_stop
kms_stop
exit 0
