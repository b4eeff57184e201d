#!/bin/bash
# kms_masterkey.sh - issue 10 item 1: a wrong master key is refused at start,
# naming master.key, before anything is sealed under it (a random key, one
# flipped bit, and a database from before key-check values, which is checked
# by opening a stored group key); the right key starts and records the
# check value.  At run time a stored group key that does not open marks the
# daemon unhealthy (GET /v1/health 503 naming the group), the other groups'
# keys are still delivered, and the scheduler stops sealing new epochs.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
[ "$KMS_TEST_DB" = sqlite ] && t_need sqlite3

sql() { kms_sql "$@"; }
# the epochs of every group, as "group:epoch:state" (nothing sealed since?)
all_epochs() { sql "SELECT g.name || ':' || e.epoch || ':' || e.state FROM epochs e JOIN topic_groups g ON g.id = e.group_id ORDER BY 1"; }

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 2 --grace 60
expect_rc 0 kmsctl grant add sub1 g1 sub
expect_rc 0 keyreq sub1
kms_stop
cp "$KMS_DIR/master.key" "$T_DIR/master.key.good"
all_epochs >"$T_DIR/epochs.before"

# --- a wrong master key: random, then the right one with one bit flipped ---------
head -c 32 /dev/urandom >"$KMS_DIR/master.key"
kms_refused "random master key"
grep -qF "$KMS_DIR/master.key: this is not the master key of $(kms_db_name)" "$T_DIR/refusal" ||
	t_fail "the refusal does not name master.key: $(cat "$T_DIR/refusal")"
python3 - "$T_DIR/master.key.good" "$KMS_DIR/master.key" <<'PY'
import sys
k = bytearray(open(sys.argv[1], "rb").read()); k[17] ^= 0x08
open(sys.argv[2], "wb").write(bytes(k))
PY
kms_refused "master key with one flipped bit"
grep -q "master.key: this is not the master key" "$T_DIR/refusal" ||
	t_fail "flipped bit: $(cat "$T_DIR/refusal")"
t_log "wrong master key refused: $(head -1 "$T_DIR/refusal")"

# --- a database from before key-check values: a group key tells ----------------
sql 'DELETE FROM keycheck'
kms_refused "wrong key, database without a key-check value"
grep -q "master.key: this is not the master key .*no stored group key opens under it, e.g. that of 'g1' epoch" "$T_DIR/refusal" ||
	t_fail "old database: $(cat "$T_DIR/refusal")"
# nothing was sealed under the wrong keys (2 s rotation: it would have been)
all_epochs >"$T_DIR/epochs.after"
cmp -s "$T_DIR/epochs.before" "$T_DIR/epochs.after" ||
	t_fail "epochs changed under a wrong key: $(diff "$T_DIR/epochs.before" "$T_DIR/epochs.after")"

# --- the right key starts, records the check value, keys flow -----------------------
cp "$T_DIR/master.key.good" "$KMS_DIR/master.key"
kms_start
[ "$(sql 'SELECT count(*) FROM keycheck')" = 1 ] || t_fail "the key-check value was not recorded"
grep -q "recorded the key-check value" "$T_DIR/kmsd.log" || t_fail "no log of the key-check value"
expect_rc 0 keyreq sub1
curl -sf "$KMS_URL/v1/health" | grep -q '"status":"ok"' || t_fail "health not ok"
curl -sf "$KMS_URL/metrics" | grep -q '^mqe2e_kms_healthy 1$' || t_fail "metrics: not healthy"

# --- run time: a stored group key that does not open ---------------------------------
expect_rc 0 kmsctl group add g2 --filter 'b/#' --scheme 4 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add sub1 g2 sub
sql "UPDATE epochs SET gk_b = $KMS_SQL_RANDOM60 WHERE state = 'current' AND group_id =
	(SELECT id FROM topic_groups WHERE name = 'g2')"
cur2=$(kmsctl --json group show g2 | jget 'd["current_epoch"]')
# the other group's keys are still delivered; the damaged one is left out
keyreq sub1 >"$T_DIR/keys" || t_fail "key fetch failed: $(cat "$T_DIR/err" 2>/dev/null)"
awk '$1 == "g1" && $2 == "GK_B"' "$T_DIR/keys" | grep -q . || t_fail "g1 keys not delivered: $(cat "$T_DIR/keys")"
awk -v e="$cur2" '$1 == "g2" && $2 == "GK_B" && $3 == e' "$T_DIR/keys" | grep -q . &&
	t_fail "a key that does not open was delivered"
code=$(curl -s -o "$T_DIR/health" -w '%{http_code}' "$KMS_URL/v1/health")
[ "$code" = 503 ] || t_fail "health answers $code after a key did not open: $(cat "$T_DIR/health")"
grep -q '"status":"unhealthy"' "$T_DIR/health" && grep -q "group key of 'g2' epoch $cur2" "$T_DIR/health" ||
	t_fail "health does not say what is wrong: $(cat "$T_DIR/health")"
t_log "health: $(cat "$T_DIR/health")"
curl -sf "$KMS_URL/metrics" | grep -q '^mqe2e_kms_healthy 0$' || t_fail "metrics: still healthy"
expect_rc 2 kmsctl status
grep -q "503 unhealthy: the group key of 'g2'" "$T_DIR/err" || t_fail "kmsctl status: $(cat "$T_DIR/err")"
# the scheduler seals nothing any more: g1 (2 s period) stays where it is
sleep 1
e1=$(kmsctl --json group show g1 | jget 'd["current_epoch"]')
sleep 5
e2=$(kmsctl --json group show g1 | jget 'd["current_epoch"]')
[ "$e1" = "$e2" ] || t_fail "the scheduler kept rotating while unhealthy: epoch $e1 -> $e2"
grep -q "scheduled rotation is paused" "$T_DIR/kmsd.log" || t_fail "no log line about the paused rotation"
kms_stop

# --- damaged rows are not a wrong key: an old database whose first keys do not
# open, but others do, starts (and the damage is the run-time fault above)
sql 'DELETE FROM keycheck'
sql "UPDATE epochs SET gk_b = $KMS_SQL_RANDOM60 WHERE gk_b IS NOT NULL AND group_id =
	(SELECT id FROM topic_groups WHERE name = 'g1')"
kms_start
[ "$(sql 'SELECT count(*) FROM keycheck')" = 1 ] || t_fail "the key-check value was not recorded again"
kms_stop
exit 0
