#!/bin/bash
# pg13_store.sh - issue 13, the PostgreSQL backend of mqe2e-kmsd against a
# real PostgreSQL 15 (tests/pglib.sh):
#  - a database without a KMS next to a data directory with keys is refused
#    (naming the database, never its password) and not laid out; --init lays
#    it out, and never over a KMS database; a second instance with an empty
#    data directory is told which key files to copy, and with them serves
#    the same KMS; a wrong password and a `database` that is not a URL are
#    refused;
#  - writers of two instances are serialised: 40 rotations and 6
#    revocations of one group at once through both leave every epoch number
#    used exactly once, one current and one next epoch (prints the counts);
#  - two instances started at once on a database one migration behind
#    apply it once (the migration lock), both serve;
#  - the server restarts under a running KMS: requests fail with 503 while
#    it is down, the next ones after it is back succeed (reconnect).
# ~40 s (several daemon starts, one PostgreSQL restart).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
MQE2E_TEST_DB=postgresql
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 86400 --grace 3600
expect_rc 0 kmsctl grant add sub1 g1 sub
keyreq sub1 | sort >"$T_DIR/keys.a" || t_fail "key request"
URL_A=$KMS_URL
t_log "instance A on $URL_A, database $KMS_DB_URL"

# --- a second instance: the key files are the instance's, the rows the database's ------
DIR_B="$T_DIR/kms-b"
PORT_B=$(t_free_port)
URL_B="http://127.0.0.1:$PORT_B"
mkdir -m 700 "$DIR_B"
expect_rc 1 timeout 20 "$KMSD" --config "$KMS_START_CONF" --data-dir "$DIR_B" --listen "127.0.0.1:$PORT_B"
grep -qF "$KMS_DB_URL holds a KMS, but $DIR_B has neither its master.key nor its ca.key: copy master.key, ca.key, ca.crt and admin.token" "$T_DIR/err" ||
	t_fail "empty data directory on a KMS database: $(cat "$T_DIR/err")"
[ -e "$DIR_B/master.key" ] && t_fail "a master key was made up for the second instance"
t_log "second instance without keys: $(cat "$T_DIR/err")"
for f in master.key ca.key ca.crt admin.token; do cp -p "$KMS_DIR/$f" "$DIR_B/"; done
"$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$DIR_B" --listen "127.0.0.1:$PORT_B" >"$T_DIR/kmsd-b.log" 2>&1 &
PID_B=$!
t_track $PID_B
t_wait_port "$PORT_B" || t_fail "instance B did not start: $(cat "$T_DIR/kmsd-b.log")"
enrol sub2 client      # through A
expect_rc 0 kmsctl grant add sub2 g1 sub
KMS_URL=$URL_B keyreq sub2 | sort >"$T_DIR/keys.b" || t_fail "key request through B"
KMS_URL=$URL_B keyreq sub1 | sort >"$T_DIR/keys.b1" || t_fail "key request through B"
cmp -s "$T_DIR/keys.a" "$T_DIR/keys.b1" || t_fail "B serves other keys: $(diff "$T_DIR/keys.a" "$T_DIR/keys.b1")"
grep -q "^g1 GK_B" "$T_DIR/keys.b" || t_fail "sub2, enrolled through A, got no keys from B"

# --- concurrent writers through both instances ----------------------------------------
for c in r1 r2 r3 r4 r5 r6; do
	expect_rc 0 kmsctl client add $c --kind client
	expect_rc 0 kmsctl grant add $c g1 sub
done
before=$(kms_sql "SELECT max(epoch) FROM epochs")
fails=0
pids=""
for i in $(seq 1 20); do
	MQE2E_KMS_URL=$URL_A "$KMSCTL" group rotate g1 >"$T_DIR/rot.a.$i" 2>&1 & pids="$pids $!"
	MQE2E_KMS_URL=$URL_B "$KMSCTL" group rotate g1 >"$T_DIR/rot.b.$i" 2>&1 & pids="$pids $!"
	case $i in 3|6|9|12|15|18)
		c=r$((i / 3))
		if [ $((i % 2)) = 0 ]; then u=$URL_A; else u=$URL_B; fi
		MQE2E_KMS_URL=$u "$KMSCTL" client revoke $c >"$T_DIR/rev.$c" 2>&1 & pids="$pids $!" ;;
	esac
	[ $((i % 5)) = 0 ] && { for p in $pids; do wait $p || fails=$((fails + 1)); done; pids=""; }
done
for p in $pids; do wait $p || fails=$((fails + 1)); done
[ "$fails" = 0 ] || t_fail "$fails of 46 concurrent writes failed: $(cat "$T_DIR"/rot.* "$T_DIR"/rev.* | grep -v '^name\|^current\|^epoch' | sort | uniq -c | head)"
kms_sql "SELECT epoch, state FROM epochs e JOIN topic_groups g ON g.id = e.group_id WHERE g.name = 'g1' ORDER BY epoch" >"$T_DIR/epochs"
n=$(wc -l <"$T_DIR/epochs")
max=$(tail -1 "$T_DIR/epochs" | cut -d'|' -f1)
distinct=$(cut -d'|' -f1 "$T_DIR/epochs" | sort -un | wc -l)
cur=$(grep -c '|current$' "$T_DIR/epochs")
nxt=$(grep -c '|next$' "$T_DIR/epochs")
echo "# concurrent: 40 rotations + 6 revocations through 2 instances: $n epochs, numbers 1..$max, $distinct distinct, $cur current, $nxt next"
[ "$n" = "$max" ] && [ "$distinct" = "$n" ] || t_fail "epoch numbers skipped or repeated: $(tr '\n' ' ' <"$T_DIR/epochs")"
[ "$cur" = 1 ] && [ "$nxt" = 1 ] || t_fail "$cur current and $nxt next epochs"
# each rotation and revocation made its own new current epoch (2 epochs a rekey)
[ "$max" -ge $((before + 46)) ] || t_fail "only $((max - before)) epochs for 46 writes"
[ "$(kms_sql "SELECT count(*) FROM rekeys")" = 6 ] || t_fail "not one rekey per revocation"

# --- the server restarts under the running instances -----------------------------------
pg_stop
expect_rc 2 kmsctl group show g1
grep -q "503" "$T_DIR/err" || t_fail "with the database down: $(cat "$T_DIR/err")"
t_log "database down: $(head -1 "$T_DIR/err")"
pg_start >/dev/null
for i in 1 2; do
	expect_rc 0 kmsctl group show g1
	MQE2E_KMS_URL=$URL_B expect_rc 0 "$KMSCTL" group show g1
done
expect_rc 0 keyreq sub1
enrol sub3 client
grep -q "the database cannot be reached" "$T_DIR/kmsd.log" || t_fail "the outage is not logged"
grep -q "connected again" "$T_DIR/kmsd.log" || t_fail "the reconnect is not logged"
t_log "after the restart: reads and writes work on both instances"
kill $PID_B; wait $PID_B 2>/dev/null
kms_stop

# --- wrong password, not a URL ----------------------------------------------------------
echo "wrong-$PG_PASSWORD" >"$T_DIR/bad.password"
chmod 600 "$T_DIR/bad.password"
sed "s|^database_password_file = .*|database_password_file = $T_DIR/bad.password|" "$KMS_START_CONF" >"$T_DIR/bad.conf"
expect_rc 1 timeout 20 "$KMSD" --config "$T_DIR/bad.conf" --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT"
grep -qF "$KMS_DB_URL: cannot connect:" "$T_DIR/err" && grep -q "password authentication failed" "$T_DIR/err" ||
	t_fail "wrong password: $(cat "$T_DIR/err")"
grep -qF "$PG_PASSWORD" "$T_DIR/err" && t_fail "the password was printed"
echo "database = $KMS_DIR/other.db" >"$T_DIR/file.conf"
expect_rc 1 "$KMSD" --config "$T_DIR/file.conf" --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT"
grep -q "database must be a postgresql:// URL" "$T_DIR/err" || t_fail "database file: $(cat "$T_DIR/err")"

# --- an empty database next to keys, --init -----------------------------------------------
kms_new_db
kms_refused "empty database next to keys"
grep -qF "$KMS_DB_URL: the database is empty (no KMS schema): restore it from a backup (pg_restore)" "$T_DIR/refusal" &&
	grep -q -- "--init" "$T_DIR/refusal" || t_fail "empty database: $(cat "$T_DIR/refusal")"
[ "$(kms_sql "SELECT to_regclass('clients') IS NULL")" = t ] || t_fail "the refusal laid out a schema"
t_log "empty database: $(cat "$T_DIR/refusal")"
expect_rc 0 kmsd --init --data-dir "$KMS_DIR"
expect_rc 1 kmsd --init --data-dir "$KMS_DIR"
grep -q "already holds a KMS database: --init only lays out a new one" "$T_DIR/err" ||
	t_fail "--init over a KMS database: $(cat "$T_DIR/err")"
kms_start
expect_rc 0 kmsctl client list
grep -q sub1 "$T_DIR/out" && t_fail "the new database has the old clients"
kms_stop

# --- two instances at once on a database one migration behind ---------------------------
# Undo the newest migration (006) by hand: the schema of a KMS of the
# previous version.
kms_sql "DROP TABLE policy_log" "DROP FUNCTION policy_log_group CASCADE" \
	"DROP FUNCTION policy_log_epoch CASCADE" "DROP FUNCTION policy_log_grant CASCADE" \
	"DROP FUNCTION policy_log_client CASCADE" "DROP FUNCTION policy_log_cert CASCADE" \
	"DELETE FROM meta WHERE key = 'policy_log_floor'" \
	"UPDATE schema_version SET version = 5" >/dev/null
: >"$T_DIR/kmsd.log"
"$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$DIR_B" --listen "127.0.0.1:$PORT_B" >"$T_DIR/kmsd-b.log" 2>&1 &
PID_B=$!
t_track $PID_B
kms_start
t_wait_port "$PORT_B" || t_fail "instance B did not start: $(cat "$T_DIR/kmsd-b.log")"
applied=$(cat "$T_DIR/kmsd.log" "$T_DIR/kmsd-b.log" | grep -c "applied migration 006_policy_log.sql")
[ "$applied" = 1 ] || t_fail "migration 006 applied $applied times"
[ "$(kms_sql "SELECT version FROM schema_version")" = 6 ] || t_fail "schema version not 6"
expect_rc 0 kmsctl group add g9 --filter 'z/#' --scheme 4 --future-epochs 3
t_log "two instances at once: migration 006 applied once, both serve"
kill $PID_B; wait $PID_B 2>/dev/null
kms_stop
exit 0
