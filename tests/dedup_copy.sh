#!/bin/bash
# dedup_copy.sh - `mqe2e-kmsd --copy-to FILE`: a populated KMS (SQLite, or
# PostgreSQL as pg_dedup_copy.sh) copied into a new SQLite file, the
# direction pg13_copy.sh does not take.  Every table arrives with the same
# rows (meta's counters replace the new file's own, the sealed group keys
# byte for byte); mqe2e-kmsd on the copy serves the same admin state, keys,
# broker policy and CRL, and goes on writing (new ids, the next epoch).  A
# second copy onto the existing file is refused and changes nothing.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
t_need sqlite3

# --- a populated KMS --------------------------------------------------------------------
kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
for c in sub1 sub2 pub1; do enrol $c client; done
enrol broker1 broker
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 86400 --grace 3600
expect_rc 0 kmsctl group add g2 --filter 'b/#' --scheme 3 --rotate 86400 --grace 3600
for g in g1 g2; do
	expect_rc 0 kmsctl grant add sub1 $g sub
	expect_rc 0 kmsctl grant add pub1 $g pub
done
expect_rc 0 kmsctl grant add sub2 g1 sub
for i in 1 2; do expect_rc 0 kmsctl group rotate g2; done
expect_rc 0 kmsctl client revoke sub2 --reason "lost device"
expect_rc 0 kmsctl cert issue sub1 --generate --out-dir "$T_DIR/renewed"
serial=$(kmsctl --json cert list sub1 | jget 'd["items"][0]["serial"]')
expect_rc 0 kmsctl cert revoke sub1 "$serial"
kms_state_save before pub1 broker1
version=$(curl -sf "$KMS_URL/v1/health" | jget 'd["policy_version"]')
kms_stop

# --- the copy, into a new data directory's kms.db ---------------------------------------
NEW="$T_DIR/kms-copy"
mkdir -m 700 "$NEW"
expect_rc 0 kmsd --data-dir "$KMS_DIR" --copy-to "$NEW/kms.db"
for t in meta:3 clients:4 certs:5 topic_groups:2 epochs:12 grants:4 rekeys:3 keycheck:1 crl:1; do
	grep -Eq "copied +${t%%:*} +${t##*:} rows" "$T_DIR/err" ||
		t_fail "progress for ${t%%:*}: $(cat "$T_DIR/err")"
done
grep -q "copied [0-9]* rows into $NEW/kms.db" "$T_DIR/err" || t_fail "no summary: $(cat "$T_DIR/err")"

# every row, byte for byte (keys as hex), in the same order; HEX is the
# backend's spelling of lower-case hex
dump() {
	local run=$1 hex=$2
	$run "SELECT key, value FROM meta WHERE key != 'policy_log_floor' ORDER BY key" \
	"SELECT id, name, kind, created, revoked_at, revoke_reason FROM clients ORDER BY id" \
	"SELECT id, serial, client_id, cert_pem, not_before, not_after, created, revoked_at, revoke_reason FROM certs ORDER BY id" \
	"SELECT id, name, filter, scheme, rotate_s, grace_s, created, next_rotation, future_epochs FROM topic_groups ORDER BY id" \
	"SELECT group_id, epoch, state, created, activated, expires, ${hex/X/gk_p}, ${hex/X/gk_b}, cause FROM epochs ORDER BY group_id, epoch" \
	"SELECT client_id, group_id, \"right\", created FROM grants ORDER BY 1, 2, 3" \
	"SELECT group_id, epoch, client, reason, at FROM rekeys ORDER BY 1, 2" \
	"SELECT id, ${hex/X/sealed}, created FROM keycheck" \
	"SELECT id, number, issued, revoked, pem FROM crl"
}
copy_sql() { sqlite3 "$NEW/kms.db" "$@"; }
if [ "$KMS_TEST_DB" = postgresql ]; then src_hex="encode(X, 'hex')"; else src_hex="lower(hex(X))"; fi
dump kms_sql "$src_hex" >"$T_DIR/rows.from"
dump copy_sql "lower(hex(X))" >"$T_DIR/rows.to"
cmp -s "$T_DIR/rows.from" "$T_DIR/rows.to" ||
	t_fail "the copy differs: $(diff "$T_DIR/rows.from" "$T_DIR/rows.to" | head -20)"
grep -q "^policy_version|$version\$" "$T_DIR/rows.to" ||
	t_fail "the copy's policy_version is not $version (meta not replaced)"
[ "$(copy_sql "SELECT count(*) FROM policy_log")" = 0 ] ||
	t_fail "the copy carries change-log rows"
[ "$(copy_sql "SELECT value FROM meta WHERE key = 'policy_log_floor'")" = "$version" ] ||
	t_fail "the copy's change log does not start at its policy version $version"
t_log "rows identical: $(wc -l <"$T_DIR/rows.to") lines"

# a second copy onto the file is refused and changes nothing
expect_rc 1 kmsd --data-dir "$KMS_DIR" --copy-to "$NEW/kms.db"
grep -q "$NEW/kms.db: already exists: copy only into a new database" "$T_DIR/err" ||
	t_fail "second copy: $(cat "$T_DIR/err")"
dump copy_sql "lower(hex(X))" >"$T_DIR/rows.to2"
cmp -s "$T_DIR/rows.to" "$T_DIR/rows.to2" || t_fail "the refused copy changed the target"

# --- mqe2e-kmsd on the copy: same state, same keys ------------------------------------
for f in "$KMS_DIR"/*; do
	case ${f##*/} in kms.db*|kmsd.lock) ;; *) cp -p "$f" "$NEW/" ;; esac
done
KMS_DIR=$NEW
KMS_TEST_DB=sqlite
kms_start
kms_state_same pub1 broker1
expect_rc 2 keyreq sub2
t_log "on the copy: $(wc -l <"$T_DIR/keys.after") keys for pub1 identical, revoked sub2 refused"

# it goes on: the next id, the next epoch number
enrol sub4 client
[ "$(copy_sql "SELECT id FROM clients WHERE name = 'sub4'")" = 5 ] ||
	t_fail "the new client got id $(copy_sql "SELECT id FROM clients WHERE name = 'sub4'"), not 5"
max=$(copy_sql "SELECT max(epoch) FROM epochs e JOIN topic_groups g ON g.id = e.group_id WHERE g.name = 'g2'")
expect_rc 0 kmsctl group rotate g2
[ "$(copy_sql "SELECT max(epoch) FROM epochs e JOIN topic_groups g ON g.id = e.group_id WHERE g.name = 'g2'")" = $((max + 1)) ] ||
	t_fail "rotation after the copy did not add epoch $((max + 1))"
kms_stop
exit 0
