#!/bin/bash
# kms9_slow.sh - issue 9 item 4: slow clients cannot take the KMS from the
# brokers and the admin.
#
# One address opens 40 connections that send their request one byte a second
# (slowloris); libmicrohttpd's inactivity timeout never fires on them.  Then:
#   - every slow connection is closed by the absolute request deadline
#     (request_timeout, 10 s; 2 s for those over the per-address limit);
#   - while they hold the address's 32 slots and half of the daemon's
#     (max_connections 64 here: an address may use more than its share only
#     while the daemon is less than half full), a plain request gets HTTP 503
#     with Retry-After, not a TCP reset, and the callers say so clearly;
#   - the admin (mqe2e-kmsctl client revoke) and the broker (policy and keys)
#     still get through;
#   - once they are gone, everything is served again.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

KMS_CONF="$T_DIR/kmsd.conf"
echo "max_connections = 64" >"$KMS_CONF"
kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
enrol sub1 client
enrol victim client
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add sub1 temps sub
expect_rc 0 kmsctl grant add victim temps sub

python3 "$top_srcdir/tests/kms9_trickle.py" "$KMS_PORT" 40 16 "$T_DIR/slow" &
slow=$!
t_track $slow

# --- while the slow connections hold the address's slots ---------------------------
# until they do (their connects take a moment on a loaded machine), health
# is served; every answer must be an HTTP answer, never a reset
for _ in $(seq 1 80); do
	code=$(curl -s -o "$T_DIR/body" -D "$T_DIR/hdr" -w '%{http_code}' "$KMS_URL/v1/health")
	rc=$?
	[ "$rc" = 0 ] || t_fail "health during the slow flood: curl exit $rc (connection reset?)"
	[ "$code" = 503 ] && break
	sleep 0.1
done
[ "$code" = 503 ] || t_fail "health during the slow flood: HTTP $code, expected 503 within 8 s: $(cat "$T_DIR/body")"
ra=$(awk 'tolower($1) == "retry-after:" {print $2}' "$T_DIR/hdr" | tr -d '\r')
[ -n "$ra" ] && [ "$ra" -ge 1 ] || t_fail "503 without Retry-After: $(cat "$T_DIR/hdr")"
[ "$(jget 'd["error"]["code"]' <"$T_DIR/body")" = busy ] || t_fail "503 body: $(cat "$T_DIR/body")"
# a client's key request: 503, reported as such by the caller
expect_rc 2 keyreq sub1
grep -q '^error 503 busy$' "$T_DIR/out" || t_fail "sub1 during the flood: $(cat "$T_DIR/out" "$T_DIR/err")"
grep -q 'retry in [0-9]* s' "$T_DIR/err" || t_fail "the 503 is not reported with its delay: $(cat "$T_DIR/err")"
# the broker's policy and keys, and the admin, get through
t0=$(date +%s%N)
expect_rc 0 keyreq broker1 --policy
grep -q '^version ' "$T_DIR/out" || t_fail "broker policy during the flood: $(cat "$T_DIR/out")"
expect_rc 0 keyreq broker1
grep -q '^temps GK_B ' "$T_DIR/out" || t_fail "broker keys during the flood: $(cat "$T_DIR/out")"
expect_rc 0 kmsctl client revoke victim --reason "revoked during a slow flood"
t1=$(date +%s%N)
echo "# during the slow flood: health 503 (Retry-After $ra s), sub1 503, broker policy+keys and the admin's revoke served in $(( (t1 - t0) / 1000000 )) ms"

# --- the deadline closes every slow connection -----------------------------------------
wait $slow
cut=$(grep -c '^cut' "$T_DIR/slow")
open=$(grep -c '^open' "$T_DIR/slow")
reset=$(grep -c '^reset' "$T_DIR/slow")
max=$(awk '$1 == "cut" && $2 > m {m = $2} END {print m + 0}' "$T_DIR/slow")
echo "# 40 slow connections: $cut closed by the deadline (the last after $max s), $reset reset, $open still open after 16 s"
[ "$open" = 0 ] || t_fail "$open slow connections outlived the deadline: $(sort "$T_DIR/slow" | uniq -c)"
[ "$reset" = 0 ] || t_fail "$reset slow connections were reset at once: $(sort "$T_DIR/slow" | uniq -c)"
awk '$1 == "cut" && $2 > 12 {exit 1}' "$T_DIR/slow" || t_fail "a slow connection lived past 12 s: $(sort -k2 -n "$T_DIR/slow" | tail -3)"

# --- served again ------------------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' "$KMS_URL/v1/health")
[ "$code" = 200 ] || t_fail "health after the flood: $code"
expect_rc 0 keyreq sub1
grep -q '^temps GK_B ' "$T_DIR/out" || t_fail "sub1 after the flood: $(cat "$T_DIR/out")"
exit 0
