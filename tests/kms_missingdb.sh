#!/bin/bash
# kms_missingdb.sh - issue 10 items 2 and 9 (KMS): a missing or 0-byte kms.db
# next to master.key and ca.key is refused, naming the file and what to
# restore, and is not re-created; only 'mqe2e-kmsd --init' makes a new, empty
# database (never over an existing one).  A client the new database does not
# know is told "unknown_client", not "revoked".  A data directory or file the
# daemon's user may not read is reported as a permission problem naming that
# user, not as "missing ... restore from a backup" (run as root: the daemon is
# started as nobody; skipped otherwise).  A missing master.key, ca.key or
# ca.crt and a corrupt kms.db are refused, naming the file.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
t_need sqlite3

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4
expect_rc 0 kmsctl grant add sub1 g1 sub
expect_rc 0 keyreq sub1
kms_stop
mkdir "$T_DIR/backup"
mv "$KMS_DIR"/kms.db* "$T_DIR/backup/"

# --- missing ---------------------------------------------------------------------------
kms_refused "missing kms.db"
grep -q "$KMS_DIR/kms.db: missing, but $KMS_DIR holds the keys of an initialised KMS.*restore kms.db" \
	"$T_DIR/refusal" || t_fail "missing kms.db: $(cat "$T_DIR/refusal")"
grep -q -- "--init" "$T_DIR/refusal" || t_fail "the refusal does not say how to start afresh"
[ -e "$KMS_DIR/kms.db" ] && t_fail "a missing kms.db was re-created"
t_log "missing: $(cat "$T_DIR/refusal")"

# --- 0 bytes ---------------------------------------------------------------------------
: >"$KMS_DIR/kms.db"
kms_refused "0-byte kms.db"
grep -q "$KMS_DIR/kms.db: empty (0 bytes), but .*restore kms.db" "$T_DIR/refusal" ||
	t_fail "0-byte kms.db: $(cat "$T_DIR/refusal")"
[ -s "$KMS_DIR/kms.db" ] && t_fail "a 0-byte kms.db was filled in"

# --- --init never replaces a database ---------------------------------------------------
cp "$T_DIR"/backup/kms.db* "$KMS_DIR/"
expect_rc 1 "$KMSD" --init --data-dir "$KMS_DIR"
grep -q "kms.db: already holds a database" "$T_DIR/err" || t_fail "--init over a database: $(cat "$T_DIR/err")"
# ... and the restored database works as before
kms_start
expect_rc 0 keyreq sub1
kms_stop

# --- the other files of the table in mqe2e-kmsd(8), FAULTS -------------------------------
for f in master.key ca.key ca.crt; do
	mv "$KMS_DIR/$f" "$T_DIR/$f.away"
	kms_refused "missing $f"
	grep -q "$KMS_DIR/$f: missing: .*restore" "$T_DIR/refusal" || t_fail "missing $f: $(cat "$T_DIR/refusal")"
	[ -e "$KMS_DIR/$f" ] && t_fail "a missing $f was re-created"
	mv "$T_DIR/$f.away" "$KMS_DIR/$f"
done
# a corrupt database (the root page of the certs table overwritten)
cp "$KMS_DIR/kms.db" "$T_DIR/kms.db.good"
root=$(sqlite3 "$KMS_DIR/kms.db" "SELECT rootpage FROM sqlite_master WHERE name = 'certs'")
psize=$(sqlite3 "$KMS_DIR/kms.db" "PRAGMA page_size")
dd if=/dev/urandom of="$KMS_DIR/kms.db" bs="$psize" seek=$((root - 1)) count=1 conv=notrunc 2>/dev/null
kms_refused "corrupt kms.db"
grep -q "$KMS_DIR/kms.db: the database is corrupt: restore it from a backup" "$T_DIR/refusal" || t_fail "corrupt kms.db: $(cat "$T_DIR/refusal")"
cp "$T_DIR/kms.db.good" "$KMS_DIR/kms.db"

# --- --init: a new, empty database that keeps the CA ----------------------------------
rm -f "$KMS_DIR"/kms.db*
expect_rc 0 "$KMSD" --init --data-dir "$KMS_DIR"
[ -s "$KMS_DIR/kms.db" ] || t_fail "--init made no database"
kms_start
expect_rc 0 kmsctl ca show
cmp -s "$T_DIR/out" "$T_DIR/ca.crt" || t_fail "--init replaced the CA"
[ "$(kmsctl --json client list | jget 'len(d["items"])')" = 0 ] || t_fail "the new database is not empty"
# sub1's certificate chains to the CA, but the new database does not know it
expect_rc 2 keyreq sub1
grep -q "^error 403 unknown_client$" "$T_DIR/out" || t_fail "unknown client answered: $(cat "$T_DIR/out")"
grep -q "revoked" "$T_DIR/err" && t_fail "an unknown client is told 'revoked': $(cat "$T_DIR/err")"
grep -q "client 'sub1' with certificate serial [0-9a-f]* is not known to this KMS" "$T_DIR/err" ||
	t_fail "unknown client message: $(cat "$T_DIR/err")"
kms_stop

# --- permissions: the daemon's user may not read the data ----------------------------------
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
	t_log "not root (or no setpriv/nobody): permission checks skipped"
	exit 0
fi
# as_nobody: start the daemon as nobody (expecting a refusal, output in refusal)
as_nobody() {
	timeout 20 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- \
		"$KMSD" --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT" >"$T_DIR/refusal" 2>&1
}
chmod 711 "$T_DIR"
# a data directory nobody may not search (root's, mode 700)
as_nobody
rc=$?
[ "$rc" = 1 ] || t_fail "nobody on root's data directory: exit $rc: $(cat "$T_DIR/refusal")"
grep -q "permission denied to user 'nobody' (uid $(id -u nobody))" "$T_DIR/refusal" ||
	t_fail "not reported as a permission problem: $(cat "$T_DIR/refusal")"
grep -qi "missing\|restore" "$T_DIR/refusal" && t_fail "reported as missing: $(cat "$T_DIR/refusal")"
t_log "permission: $(cat "$T_DIR/refusal")"
# nobody owns everything but master.key
chown -R nobody "$KMS_DIR"
chown root "$KMS_DIR/master.key"
as_nobody
rc=$?
[ "$rc" = 1 ] || t_fail "nobody without master.key: exit $rc: $(cat "$T_DIR/refusal")"
grep -q "$KMS_DIR/master.key: permission denied to user 'nobody'" "$T_DIR/refusal" ||
	t_fail "master.key not reported as a permission problem: $(cat "$T_DIR/refusal")"
chown -R root "$KMS_DIR"
exit 0
