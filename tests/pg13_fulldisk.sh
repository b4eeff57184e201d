#!/bin/bash
# pg13_fulldisk.sh - issue 13 with issue 10 item 3 on PostgreSQL: the KMS's
# database on a real full file system of a real PostgreSQL 15 (its tables
# in a tablespace on a 24 MiB tmpfs mounted for the test and filled until
# write() gives ENOSPC; the server's WAL stays on another disk, so the
# server keeps running and reports SQLSTATE 53100 disk_full).  Keys keep
# being served; writes answer 507 naming the database (not its password)
# and change nothing; health says "degraded"; once space is freed, writes
# work again and health is "ok".  Needs root (mount); skipped otherwise.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
MQE2E_TEST_DB=postgresql
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

[ "$(id -u)" = 0 ] || t_skip "needs root to mount a small tmpfs"
pg_start
TS="$PG_DIR/ts"
mkdir -p "$TS"
mount -t tmpfs -o size=24m,mode=700 tmpfs "$TS" 2>"$T_DIR/mount.err" ||
	t_skip "cannot mount a tmpfs: $(cat "$T_DIR/mount.err")"
# at exit, once the KMS is stopped (lib.sh's checked stop), before pglib.sh
# removes $PG_DIR (t_atexit: the newest first)
unmount() { pg_stop; umount "$TS" 2>/dev/null || umount -l "$TS"; }
t_atexit unmount
[ -n "$PG_RUNAS" ] && chown "$PG_RUNAS:" "$TS"
pg_admin_sql "CREATE TABLESPACE small LOCATION '$TS'" \
	"CREATE DATABASE kmsfull OWNER $PG_ROLE TABLESPACE small" >/dev/null ||
	t_fail "cannot create the tablespace on the tmpfs"
KMS_DB_URL="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/kmsfull"
printf '%s\n' "$PG_PASSWORD" >"$T_DIR/kmsd-db.password"
chmod 600 "$T_DIR/kmsd-db.password"

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
enrol broker1 broker
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 86400 --grace 600
expect_rc 0 kmsctl grant add sub1 g1 sub
keyreq sub1 | sort >"$T_DIR/keys.before" || t_fail "key fetch before the disk is full"

# --- fill the file system, then write until a write needs a new block ----------------------
dd if=/dev/zero of="$TS/filler" bs=4k 2>/dev/null
head -c 1 /dev/zero >>"$TS/filler" 2>/dev/null && t_fail "the file system is not full"
t_log "tablespace full: $(df -k "$TS" | tail -1)"
full=0
for i in $(seq 1 200); do
	kmsctl client add "c$i" --kind client >"$T_DIR/out" 2>"$T_DIR/err" && continue
	full=$i
	break
done
[ "$full" != 0 ] || t_fail "200 clients added on a full tablespace"
grep -q "507\|insufficient_storage" "$T_DIR/err" || t_fail "a write on a full disk: $(cat "$T_DIR/err")"
grep -qF "the disk of the KMS database $KMS_DB_URL (on the PostgreSQL server) is full" "$T_DIR/err" ||
	t_fail "the error does not name the database: $(cat "$T_DIR/err")"
grep -qF "$PG_PASSWORD" "$T_DIR/err" "$T_DIR/kmsd.log" && t_fail "the password was printed"
t_log "write $full on a full disk: $(cat "$T_DIR/err")"
expect_rc 2 kmsctl client show "c$full"
# keys are served, health is degraded and says why
for i in 1 2 3; do expect_rc 0 keyreq sub1; done
keyreq sub1 | sort >"$T_DIR/keys.full"
cmp -s "$T_DIR/keys.before" "$T_DIR/keys.full" || t_fail "other keys on a full disk"
curl -s "$KMS_URL/v1/health" >"$T_DIR/health"
grep -q '"status":"degraded"' "$T_DIR/health" && grep -q "disk of the database" "$T_DIR/health" ||
	t_fail "health on a full disk: $(cat "$T_DIR/health")"
[ "$(grep -c "the disk is full" "$T_DIR/kmsd.log")" = 1 ] ||
	t_fail "the full disk is not logged once: $(grep -c "the disk is full" "$T_DIR/kmsd.log")"

# --- space again: writes work, health is ok ----------------------------------------------
rm -f "$TS/filler"
expect_rc 0 kmsctl client add "c$full" --kind client
grep -q "writes work again" "$T_DIR/kmsd.log" || t_fail "no log line when writes work again"
curl -s "$KMS_URL/v1/health" | grep -q '"status":"ok"' || t_fail "health not ok after space was freed"
t_log "space freed: writes work again, health ok"
kms_stop
exit 0
