#!/bin/bash
# kmsperf12_overload.sh - issue 12: no TCP resets.  80 clients started at
# once from one address (the issue's figure: 19 of 80 were reset when an
# address was cut off at 32 connections), each a key request over its own
# connection:
#   1. default settings: all 80 get their keys (an address may use more than
#      per_ip_connections while the daemon is less than half full);
#   2. tight limits (max_connections 8, per_ip_connections 2): every answer
#      is HTTP 200 or 503 with Retry-After, none a reset or a connection
#      closed without an answer, and the KMS serves again right after.
# Real mqe2e-kmsd, tests/kms_keyreq (the client library's request code).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

N=80

# burst NAME: N key requests of sub1 at once, each in its own process and
# connection; tallies in $T_DIR/NAME.sum ("STATUS COUNT", "errors COUNT").
burst() {
	local i pids=""
	mkdir -p "$T_DIR/$1"
	for i in $(seq 1 $N); do
		keyreq_bg sub1 --count 1 >"$T_DIR/$1/$i.out" 2>"$T_DIR/$1/$i.err"
		pids="$pids $KEYREQ_PID"
	done
	for i in $pids; do wait "$i"; done
	cat "$T_DIR/$1"/*.out | awk '
		$1 == "status" { s[$2] += $3 }
		$1 == "errors" { e += $2 }
		$1 == "retry_after" && $2 != "-" { if (min == "" || $2 < min) min = $2 }
		END { for (k in s) print k, s[k]; print "errors", e + 0;
		      print "retry_after_min", (min == "" ? "-" : min) }' >"$T_DIR/$1.sum"
	echo "# $1: $(tr '\n' ' ' <"$T_DIR/$1.sum")"
}

count() { awk -v k="$2" '$1 == k {print $2}' "$T_DIR/$1.sum"; }

setup() {
	kms_start
	expect_rc 0 kmsctl ca show
	cp "$T_DIR/out" "$T_DIR/ca.crt"
	enrol sub1 client
	expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
	expect_rc 0 kmsctl grant add sub1 temps sub
}

# --- 1. default settings ------------------------------------------------------------
setup
burst defaults
[ "$(count defaults errors)" = 0 ] || t_fail "default settings: connections without an answer: $(head -3 "$T_DIR"/defaults/*.err)"
[ "$(count defaults 200)" = "$N" ] || t_fail "default settings: not all $N served: $(cat "$T_DIR/defaults.sum")"
kms_stop

# --- 2. tight limits: 503 with Retry-After past them, never a reset ----------------------
rm -rf "$KMS_DIR" "$T_DIR"/sub1.* "$T_DIR/ca.crt"
unset KMS_PORT
KMS_CONF="$T_DIR/kmsd.conf"
printf 'max_connections = 8\nper_ip_connections = 2\n' >"$KMS_CONF"
setup
burst tight
[ "$(count tight errors)" = 0 ] || t_fail "tight limits: connections without an answer: $(cat "$T_DIR"/tight/*.err | head -3)"
ok=$(count tight 200)
busy=$(count tight 503)
other=$(awk '$1 ~ /^[0-9]+$/ && $1 != 200 && $1 != 503 {n += $2} END {print n + 0}' "$T_DIR/tight.sum")
[ "$other" = 0 ] || t_fail "tight limits: answers other than 200 and 503: $(cat "$T_DIR/tight.sum")"
[ "$(( ${ok:-0} + ${busy:-0} ))" = "$N" ] || t_fail "tight limits: $N requests, answers: $(cat "$T_DIR/tight.sum")"
if [ "${busy:-0}" -gt 0 ]; then
	ra=$(count tight retry_after_min)
	[ "$ra" != - ] && [ "$ra" -ge 1 ] || t_fail "503 without Retry-After: $(cat "$T_DIR/tight.sum")"
fi
# and it serves again at once
expect_rc 0 keyreq sub1
grep -q '^temps GK_B ' "$T_DIR/out" || t_fail "sub1 after the burst: $(cat "$T_DIR/out" "$T_DIR/err")"
echo "# $N at once: defaults $N served; max_connections 8: ${ok:-0} served, ${busy:-0} answered 503 with Retry-After, 0 reset"
exit 0
