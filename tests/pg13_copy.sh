#!/bin/bash
# pg13_copy.sh - issue 13, migration: `mqe2e-kmsd --copy-to` moves a
# populated SQLite KMS into a real PostgreSQL 15 (tests/pglib.sh).  Every
# table arrives with the same rows (the sealed group keys byte for byte,
# the counters, the stored CRL); mqe2e-kmsd on the copy, with the same data
# directory (master.key stays a file), serves the same admin state, the
# same keys to a signed key request and the same CRL and broker policy, and
# goes on writing (new ids, next epoch numbers).  A second copy into the
# now non-empty database is refused and changes nothing, as is a copy while
# a daemon runs on the data directory, and a password on the command line.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
MQE2E_TEST_DB=sqlite   # the source; the target is started below
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
. "$top_srcdir/tests/pglib.sh" || exit 99
t_need sqlite3

# --- a populated SQLite KMS ------------------------------------------------------------
kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
for c in sub1 sub2 sub3 pub1; do enrol $c client; done
enrol broker1 broker
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 86400 --grace 3600
expect_rc 0 kmsctl group add g2 --filter 'b/#' --scheme 3 --rotate 86400 --grace 3600
expect_rc 0 kmsctl group add g3 --filter 'c/#' --scheme 1 --rotate 86400 --grace 0
for g in g1 g2 g3; do
	expect_rc 0 kmsctl grant add sub1 $g sub
	expect_rc 0 kmsctl grant add sub3 $g sub
	expect_rc 0 kmsctl grant add pub1 $g pub
done
expect_rc 0 kmsctl grant add sub2 g1 sub
for i in 1 2 3; do expect_rc 0 kmsctl group rotate g2; done
expect_rc 0 kmsctl client revoke sub2 --reason "lost device"
expect_rc 0 kmsctl cert issue sub3 --generate --out-dir "$T_DIR/renewed"
serial=$(kmsctl --json cert list sub3 | jget 'd["items"][0]["serial"]')
expect_rc 0 kmsctl cert revoke sub3 "$serial"
kms_state_save before sub1 broker1
version=$(curl -sf "$KMS_URL/v1/health" | jget 'd["policy_version"]')
t_log "SQLite KMS: $(wc -l <"$T_DIR/keys.before") keys for sub1, policy version $version"

# a copy while the daemon runs is refused: the data directory is in use
pg_start
printf '127.0.0.1:%s:%s:%s:%s\n' "$PG_PORT" "$PG_DB" "$PG_ROLE" "$PG_PASSWORD" >"$T_DIR/pgpass"
chmod 600 "$T_DIR/pgpass"
export PGPASSFILE="$T_DIR/pgpass"
URL="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB"
expect_rc 1 "$KMSD" --data-dir "$KMS_DIR" --copy-to "$URL"
grep -q "in use by another mqe2e-kmsd (pid $KMS_PID" "$T_DIR/err" ||
	t_fail "copy beside a running daemon: $(cat "$T_DIR/err")"
[ "$(pg_sql "SELECT to_regclass('clients') IS NULL")" = t ] || t_fail "the refused copy wrote"
kms_stop

# a password on the command line is refused (other users see it in ps)
expect_rc 1 "$KMSD" --data-dir "$KMS_DIR" --copy-to "postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
grep -q "holds a password" "$T_DIR/err" || t_fail "password on the command line: $(cat "$T_DIR/err")"
grep -qF "$PG_PASSWORD" "$T_DIR/err" && t_fail "the password was printed"

# --- the copy -----------------------------------------------------------------------
expect_rc 0 "$KMSD" --data-dir "$KMS_DIR" --copy-to "$URL"
cat "$T_DIR/err"
for t in clients:5 certs:6 topic_groups:3 grants:9 rekeys:4 keycheck:1 crl:1; do
	grep -Eq "copied +${t%%:*} +${t##*:} rows" "$T_DIR/err" || t_fail "progress for ${t%%:*}: $(cat "$T_DIR/err")"
done
grep -q "copied [0-9]* rows into postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB" "$T_DIR/err" ||
	t_fail "no summary: $(cat "$T_DIR/err")"

# every row, byte for byte (keys as hex, lower case), in the same order
dump_sqlite() {
	sqlite3 "$KMS_DIR/kms.db" \
	"SELECT key, value FROM meta WHERE key != 'policy_log_floor' ORDER BY key" \
	"SELECT id, name, kind, created, revoked_at, revoke_reason FROM clients ORDER BY id" \
	"SELECT id, serial, client_id, cert_pem, not_before, not_after, created, revoked_at, revoke_reason FROM certs ORDER BY id" \
	"SELECT id, name, filter, scheme, rotate_s, grace_s, created, next_rotation, future_epochs FROM topic_groups ORDER BY id" \
	"SELECT group_id, epoch, state, created, activated, expires, lower(hex(gk_p)), lower(hex(gk_b)), cause FROM epochs ORDER BY group_id, epoch" \
	"SELECT client_id, group_id, \"right\", created FROM grants ORDER BY 1, 2, 3" \
	"SELECT group_id, epoch, client, reason, at FROM rekeys ORDER BY 1, 2" \
	"SELECT id, lower(hex(sealed)), created FROM keycheck" \
	"SELECT id, number, issued, revoked, pem FROM crl"
}
dump_pg() {
	pg_sql "SELECT key, value FROM meta WHERE key != 'policy_log_floor' ORDER BY key" \
	"SELECT id, name, kind, created, revoked_at, revoke_reason FROM clients ORDER BY id" \
	"SELECT id, serial, client_id, cert_pem, not_before, not_after, created, revoked_at, revoke_reason FROM certs ORDER BY id" \
	"SELECT id, name, filter, scheme, rotate_s, grace_s, created, next_rotation, future_epochs FROM topic_groups ORDER BY id" \
	"SELECT group_id, epoch, state, created, activated, expires, encode(gk_p, 'hex'), encode(gk_b, 'hex'), cause FROM epochs ORDER BY group_id, epoch" \
	"SELECT client_id, group_id, \"right\", created FROM grants ORDER BY 1, 2, 3" \
	"SELECT group_id, epoch, client, reason, at FROM rekeys ORDER BY 1, 2" \
	"SELECT id, encode(sealed, 'hex'), created FROM keycheck" \
	"SELECT id, number, issued, revoked, pem FROM crl"
}
dump_sqlite >"$T_DIR/rows.sqlite"
dump_pg >"$T_DIR/rows.pg"
cmp -s "$T_DIR/rows.sqlite" "$T_DIR/rows.pg" ||
	t_fail "the copy differs: $(diff "$T_DIR/rows.sqlite" "$T_DIR/rows.pg" | head -20)"
# the change log behind policy deltas is not copied: it starts at the copied
# version (a broker behind it gets a full snapshot, never a short delta)
[ "$(pg_sql "SELECT count(*) FROM policy_log")" = 0 ] ||
	t_fail "the copy carries change-log rows: $(pg_sql "SELECT * FROM policy_log" | head -5)"
[ "$(pg_sql "SELECT value FROM meta WHERE key = 'policy_log_floor'")" = \
  "$(pg_sql "SELECT value FROM meta WHERE key = 'policy_version'")" ] ||
	t_fail "the copy's change log does not start at its policy version"
t_log "rows identical: $(wc -l <"$T_DIR/rows.pg") lines, $(grep -c '^[0-9]*|[0-9]*|[a-z]*|.*|[0-9a-f]\{120\}|' "$T_DIR/rows.pg") epochs with sealed keys"

# --- a second copy into it is refused and changes nothing -----------------------------
expect_rc 1 "$KMSD" --data-dir "$KMS_DIR" --copy-to "$URL"
grep -q "is not empty (table clients has rows): copy only into a new database" "$T_DIR/err" ||
	t_fail "second copy: $(cat "$T_DIR/err")"
dump_pg >"$T_DIR/rows.pg2"
cmp -s "$T_DIR/rows.pg" "$T_DIR/rows.pg2" || t_fail "the refused copy changed the target"

# --- mqe2e-kmsd on the copy: same state, same keys ------------------------------------
KMS_TEST_DB=postgresql
KMS_DB_URL=$URL
printf '%s\n' "$PG_PASSWORD" >"$T_DIR/kmsd-db.password"
chmod 600 "$T_DIR/kmsd-db.password"
kms_start
grep -q "note: $KMS_DIR/kms.db is not used: the database is $URL" "$T_DIR/kmsd.log" ||
	t_fail "the daemon does not say the SQLite file is left aside"
kms_state_same sub1 broker1
[ "$(curl -sf "$KMS_URL/v1/health" | jget 'd["policy_version"]')" = "$version" ] ||
	t_fail "policy version changed"
expect_rc 2 keyreq sub2
t_log "on PostgreSQL: $(wc -l <"$T_DIR/keys.after") keys for sub1 identical, revoked sub2 refused"

# it goes on: new ids after the copied ones, the next epoch number
enrol sub4 client
id4=$(pg_sql "SELECT id FROM clients WHERE name = 'sub4'")
[ "$id4" = 6 ] || t_fail "the new client got id $id4, not 6"
max=$(pg_sql "SELECT max(epoch) FROM epochs e JOIN topic_groups g ON g.id = e.group_id WHERE g.name = 'g2'")
expect_rc 0 kmsctl group rotate g2
[ "$(pg_sql "SELECT max(epoch) FROM epochs e JOIN topic_groups g ON g.id = e.group_id WHERE g.name = 'g2'")" = $((max + 1)) ] ||
	t_fail "rotation after the copy did not add epoch $((max + 1))"
kms_stop
exit 0
