#!/bin/bash
# layout13_revoked_expiry.sh - revoked certificates leave the lists once
# they have expired (issue 12: "expired certificates leave the list"), so
# the CRL and the brokers' revoked serials do not grow without bound.
#
# A real mqe2e-kmsd runs on a clock two days behind (libfaketime, offset
# read from a file on every call) while it issues a 1-day certificate
# ("short") and a 1-year one ("long") and revokes both (as certificates,
# not clients, so that only the serial lists say they are revoked).  Then
# its clock jumps to the real time, where "short" expired a day ago: the
# running daemon's maintenance path must re-issue the CRL without it and
# bump the policy version within seconds, while "long" stays listed.  (On
# the way, 90 s after short's notAfter, it is still listed: the allowance
# for clocks that lag.)  A
# real Mosquitto with the plugin then still refuses "short" - because it
# is expired (auth_cert_expired) - and "long" because it is revoked
# (auth_revoked); "keep", never revoked, connects.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$FT" ] || t_skip "libfaketime not installed"

echo "-2d" >"$T_DIR/clock"
cat >"$T_DIR/kmsd-faketime" <<EOF
#!/bin/sh
exec env LD_PRELOAD="$FT" FAKETIME_TIMESTAMP_FILE="$T_DIR/clock" FAKETIME_NO_CACHE=1 \\
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="\${ASAN_OPTIONS:-}:verify_asan_link_order=0" \\
	"$KMSD" "\$@"
EOF
chmod +x "$T_DIR/kmsd-faketime"
KMSD="$T_DIR/kmsd-faketime"

# crl_serials: the serials the served CRL lists, one per line (lower case).
crl_serials() {
	curl -sf "$KMS_URL/v1/crl" | openssl crl -noout -text |
		sed -n 's/^ *Serial Number: *//p' | tr 'A-F' 'a-f'
}
listed() { crl_serials | grep -qx "0*${1#0}"; }
policy_version() { curl -sf "$KMS_URL/v1/health" | jget 'd["policy_version"]'; }

kms_start
kms_date=$(curl -sf "$KMS_URL/v1/health" | jget 'd["time"]')
t_log "kmsd started with its clock at $kms_date (real: $(date -u +%FT%TZ))"
enrol broker1 broker
enrol keep client
enrol long client
expect_rc 0 kmsctl group add g --filter 'g/#' --scheme 4 --rotate 604800   # no rotation below
for c in keep long; do expect_rc 0 kmsctl grant add "$c" g sub; done
# short last: the steps below need its issue, the revocations and the jump
# to the real time within MARGIN (90 s) of real time.
expect_rc 0 kmsctl client add short
expect_rc 0 kmsctl cert issue short --generate --days 1 --out-dir "$T_DIR"
expect_rc 0 kmsctl grant add short g sub
S_SHORT=$(kmsctl --json cert list short | jget 'd["items"][0]["serial"]' | tr 'A-F' 'a-f')
S_LONG=$(kmsctl --json cert list long | jget 'd["items"][0]["serial"]' | tr 'A-F' 'a-f')
expect_rc 0 kmsctl cert revoke short "$S_SHORT" --reason "lost"
expect_rc 0 kmsctl cert revoke long "$S_LONG" --reason "lost"
listed "$S_SHORT" && listed "$S_LONG" ||
	{ crl_serials >&2; t_fail "the CRL does not list both revoked certificates"; }
# By the real clock, short's certificate ended a day ago.
openssl x509 -in "$T_DIR/short.crt" -noout -checkend 0 >/dev/null &&
	t_fail "short.crt has not expired by the real clock"
openssl x509 -in "$T_DIR/long.crt" -noout -checkend 86400 >/dev/null ||
	t_fail "long.crt should be valid for a year"
crl_number() { curl -sf "$KMS_URL/v1/crl" | openssl crl -noout -crlnumber | sed 's/.*=//'; }

# --- 90 s after short's notAfter: still listed (the 120 s clock-skew allowance) -------------
# This step also lets the daily re-issue happen (the CRL is a day old here),
# so that below only the expiry can re-issue it: the CRL made here is less
# than a day old at the real time as long as fewer than 90 s passed since
# short's certificate was issued.
na=$(date -d "$(openssl x509 -in "$T_DIR/short.crt" -noout -enddate | sed 's/notAfter=//')" +%s)
n0=$(crl_number)
echo "$((na + 90 - $(date +%s)))" >"$T_DIR/clock"
for _ in $(seq 1 50); do
	[ "$(crl_number)" != "$n0" ] && break
	sleep 0.1
done
[ "$(crl_number)" != "$n0" ] || t_fail "the day-old CRL was not re-issued"
listed "$S_SHORT" || t_fail "a certificate expired 90 s ago left the CRL (within the clock skew allowance)"
sleep 1.5   # any policy change of the re-issue is done
v_before=$(policy_version)
n1=$(crl_number)

# --- the daemon's clock jumps to now: short's entry leaves ------------------------------
echo "+0" >"$T_DIR/clock"
t0=$(date +%s%N)
for _ in $(seq 1 50); do
	listed "$S_SHORT" || break
	sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
listed "$S_SHORT" && { crl_serials >&2; t_fail "the CRL still lists the expired certificate after ${ms} ms"; }
listed "$S_LONG" || t_fail "the CRL dropped the revoked certificate that is still valid"
n=$(crl_serials | wc -l)
[ "$n" = 1 ] || { crl_serials >&2; t_fail "the CRL lists $n serials, expected 1"; }
[ "$(crl_number)" != "$n1" ] || t_fail "the CRL number did not move"
v_after=$(policy_version)
[ "$v_after" = $((v_before + 1)) ] || t_fail "the policy version did not move by one ($v_before -> $v_after): brokers keep the old list"
t_log "expired revoked certificate left the CRL ${ms} ms after the clock moved; policy version $v_before -> $v_after"

# The broker's policy (signed, as the plugin gets it): only the valid one.
expect_rc 0 keyreq broker1 --policy
grep -qix "revoked_serial 0*${S_LONG#0}" "$T_DIR/out" || { cat "$T_DIR/out" >&2; t_fail "the policy lacks the revoked valid certificate"; }
grep -qi "revoked_serial 0*${S_SHORT#0}" "$T_DIR/out" && { cat "$T_DIR/out" >&2; t_fail "the policy still lists the expired certificate"; }

# The KMS refuses both: one expired, one revoked.
expect_rc 2 keyreq short
expect_rc 2 keyreq long
expect_rc 0 keyreq keep

# --- a real broker: the expired certificate still fails, because it is expired ------------
mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS"
mosq_start
wait_stat policy_updates 1 100
probe connect short >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused"
probe connect long >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused"
probe connect keep >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "connected"
expect_stat auth_cert_expired 1
[ "$(bstat auth_revoked)" = 1 ] || { cat "$MOSQ_STATS" >&2; t_fail "auth_revoked is $(bstat auth_revoked), expected 1 (long)"; }
t_log "broker: short refused as expired, long as revoked, keep connected"
mosq_stop
kms_stop
grep -q "ERROR: AddressSanitizer\|runtime error" "$MOSQ_LOG" "$T_DIR/kmsd.log" &&
	{ cat "$MOSQ_LOG" "$T_DIR/kmsd.log" >&2; t_fail "sanitizer report"; }
exit 0
