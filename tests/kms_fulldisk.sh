#!/bin/bash
# kms_fulldisk.sh - issue 10 item 3: the data directory on a real full file
# system (a 4 MiB tmpfs mounted for the test, filled with a file until
# write() gives ENOSPC; so SQLite meets the real ENOSPC / SQLITE_FULL, no
# fault injection).  Keys keep being served; every write (group add, grant,
# revoke) answers 507 insufficient_storage naming the full disk; the log has
# no "cannot rollback" line and says "the disk is full" once, not per
# request or per scheduler pass, and the audit log loses lines without
# leaving a torn one; the daemon restarts on the full disk (after
# SIGTERM and after kill -9) and serves keys and the CRL; once space is freed,
# writes work again.  Needs root (mount); skipped otherwise.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

[ "$(id -u)" = 0 ] || t_skip "needs root to mount a small tmpfs"
mkdir -p "$KMS_DIR"
mount -t tmpfs -o size=4m,mode=700 tmpfs "$KMS_DIR" 2>"$T_DIR/mount.err" ||
	t_skip "cannot mount a tmpfs: $(cat "$T_DIR/mount.err")"
# at exit, once the KMS is stopped (lib.sh's checked stop), before $T_DIR goes
unmount() { umount "$KMS_DIR" 2>/dev/null || umount -l "$KMS_DIR"; }
t_atexit unmount

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
enrol sub2 client
enrol broker1 broker
expect_rc 0 kmsctl group add g1 --filter 'a/#' --scheme 4 --rotate 86400 --grace 600
# a group due every 2 s: the scheduler meets the full disk too
expect_rc 0 kmsctl group add fast --filter 'f/#' --scheme 4 --rotate 2 --grace 600
expect_rc 0 kmsctl grant add sub1 g1 sub
expect_rc 0 kmsctl grant add sub1 fast sub
expect_rc 0 kmsctl grant add sub2 g1 sub
keyreq sub1 | sort >"$T_DIR/keys.before" || t_fail "key fetch before the disk is full"

# --- fill the file system -------------------------------------------------------------
dd if=/dev/zero of="$KMS_DIR/filler" bs=4k 2>/dev/null
head -c 1 /dev/zero >>"$KMS_DIR/filler" 2>/dev/null && t_fail "the file system is not full"
t_log "disk full: $(df -k "$KMS_DIR" | tail -1)"

# keys are served (enough requests to fill the audit log's last page too)
for i in $(seq 1 15); do
	expect_rc 0 keyreq sub1
	expect_rc 0 keyreq broker1
done
# every write answers 507 naming the full disk, and changes nothing
expect_rc 2 kmsctl group add g2 --filter 'b/#' --scheme 4
grep -q "insufficient_storage\|507" "$T_DIR/err" || t_fail "group add on a full disk: $(cat "$T_DIR/err")"
grep -q "disk of the KMS data directory $KMS_DIR is full" "$T_DIR/err" ||
	t_fail "the error does not name the full disk: $(cat "$T_DIR/err")"
t_log "write on a full disk: $(cat "$T_DIR/err")"
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$KMS_DIR/admin.token")" \
	-H 'Content-Type: application/json' -d '{"client":"sub2","group":"fast","right":"sub"}' "$KMS_URL/v1/grants")
[ "$code" = 507 ] || t_fail "grant add on a full disk answered $code: $(cat "$T_DIR/body")"
grep -q '"code":"insufficient_storage"' "$T_DIR/body" || t_fail "grant add body: $(cat "$T_DIR/body")"
expect_rc 2 kmsctl client revoke sub2
grep -q "is full" "$T_DIR/err" || t_fail "revoke on a full disk: $(cat "$T_DIR/err")"
expect_rc 0 kmsctl --json client show sub2
[ "$(jget 'd["revoked"]' <"$T_DIR/out")" = False ] || t_fail "a failed revocation left a trace"
kmsctl group show g2 >/dev/null 2>&1 && t_fail "group g2 exists after a failed add"
# the scheduler cannot rotate 'fast' (due every 2 s) but keeps the log quiet
sleep 5
expect_rc 0 keyreq sub1
grep -q "cannot rollback" "$T_DIR/kmsd.log" && t_fail "spurious rollback message: $(grep "cannot rollback" "$T_DIR/kmsd.log" | head -1)"
n=$(grep -c "the disk is full" "$T_DIR/kmsd.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || t_fail "'the disk is full' logged $n times in 5 s"
# health: still 200 (keys flow), "degraded" with the problem, for monitoring
code=$(curl -s -o "$T_DIR/health" -w '%{http_code}' "$KMS_URL/v1/health")
[ "$code" = 200 ] && grep -q '"status":"degraded"' "$T_DIR/health" &&
	grep -q "the disk of the data directory $KMS_DIR is full" "$T_DIR/health" ||
	t_fail "health on a full disk: $code $(cat "$T_DIR/health")"
curl -sf "$KMS_URL/metrics" | grep -q '^mqe2e_kms_disk_full_since_seconds [1-9]' ||
	t_fail "metrics do not show the full disk"
expect_rc 0 kmsctl status
grep -q "^status *degraded" "$T_DIR/out" && grep -q "^problem .* is full" "$T_DIR/out" ||
	t_fail "kmsctl status on a full disk: $(cat "$T_DIR/out")"
n=$(grep -c "scheduled rotation failed" "$T_DIR/kmsd.log")
[ "$n" -le 2 ] || t_fail "'scheduled rotation failed' logged $n times in 5 s"
# the audit log: its failure is logged once, not per request, and no torn line is left
n=$(grep -c "cannot write the audit log" "$T_DIR/kmsd.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || t_fail "'cannot write the audit log' logged $n times"
python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$KMS_DIR/audit.log" ||
	t_fail "the audit log has a torn line"

# --- restart on the full disk: after SIGTERM, then after kill -9 ---------------------------
curl -sf "$KMS_URL/v1/crl" >"$T_DIR/crl.before" || t_fail "no CRL on the full disk"
for how in -TERM -9; do
	kms_stop $how
	head -c 4096 /dev/zero >>"$KMS_DIR/filler" 2>/dev/null   # whatever the stop freed
	kms_start
	keyreq sub1 | sort >"$T_DIR/keys.after" || t_fail "no keys after a restart ($how) on a full disk"
	cmp -s "$T_DIR/keys.before" "$T_DIR/keys.after" ||
		t_fail "keys changed across a restart ($how) on a full disk: $(diff "$T_DIR/keys.before" "$T_DIR/keys.after")"
	curl -sf "$KMS_URL/v1/crl" | grep -q "BEGIN X509 CRL" || t_fail "no CRL after a restart ($how) on a full disk"
	curl -sf "$KMS_URL/v1/health" | grep -q '"status":"\(ok\|degraded\)"' ||
		t_fail "not serving after a restart ($how)"
	# start-up wrote nothing: the CRL is the one stored before
	curl -sf "$KMS_URL/v1/crl" | cmp -s - "$T_DIR/crl.before" ||
		t_fail "the CRL changed across a restart ($how) on a full disk"
	t_log "restarted ($how) on the full disk: keys and CRL served"
done

# --- space again: writes work ----------------------------------------------------------------
rm -f "$KMS_DIR/filler"
expect_rc 0 kmsctl group add g2 --filter 'b/#' --scheme 4
expect_rc 0 kmsctl client revoke sub2
for i in $(seq 1 30); do
	[ "$(kmsctl --json group show fast | jget 'd["current_epoch"]')" -ge 2 ] && break
	sleep 0.5
done
[ "$(kmsctl --json group show fast | jget 'd["current_epoch"]')" -ge 2 ] || t_fail "the scheduler did not resume"
grep -q "scheduled rotation works again" "$T_DIR/kmsd.log" || t_fail "no log line when rotation resumed"
grep -q "the audit log is written again" "$T_DIR/kmsd.log" || t_fail "no log line when the audit log resumed"
curl -sf "$KMS_URL/v1/health" | grep -q '"status":"ok"' || t_fail "health not back to ok with space"
curl -sf "$KMS_URL/metrics" | grep -q '^mqe2e_kms_disk_full_since_seconds 0$' ||
	t_fail "metrics still show a full disk"
# the revocation made once space was back is in the CRL (re-issued at once)
serial=$(kmsctl --json cert list sub2 | jget 'd["items"][0]["serial"]')
curl -sf "$KMS_URL/v1/crl" | openssl crl -noout -text | tr -d ':' | grep -qi "serial number 0*${serial#0}" ||
	t_fail "the CRL does not list sub2's certificate $serial"
python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$KMS_DIR/audit.log" ||
	t_fail "the audit log has a torn line"
exit 0
