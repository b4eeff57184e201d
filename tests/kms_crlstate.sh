#!/bin/bash
# kms_crlstate.sh - the CRL is durable state: a restart serves the stored CRL
# unchanged (start-up writes nothing), and a revocation whose CRL was not
# re-issued before a crash (the state a kill -9 between the revocation's
# commit and the CRL's leaves) is put in a new CRL by the scheduler within
# seconds of the restart.  A database from before stored CRLs gets one too.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
[ "$KMS_TEST_DB" = sqlite ] && t_need sqlite3

sql() { kms_sql "$@"; }
# the served CRL's number (0x.. hex), whether it lists a serial
crl_number() { curl -sf "$KMS_URL/v1/crl" | openssl crl -noout -crlnumber | sed 's/.*=//'; }
crl_lists() { curl -sf "$KMS_URL/v1/crl" | openssl crl -noout -text | tr -d ':' | grep -qi "serial number 0*${1#0}"; }

kms_start
enrol c1 client
enrol c2 client
expect_rc 0 kmsctl client revoke c1
s1=$(kmsctl --json cert list c1 | jget 'd["items"][0]["serial"]')
s2=$(kmsctl --json cert list c2 | jget 'd["items"][0]["serial"]')
crl_lists "$s1" || t_fail "the CRL does not list c1"
curl -sf "$KMS_URL/v1/crl" >"$T_DIR/crl.1"

# --- a restart serves the stored CRL, byte for byte ----------------------------------
kms_stop
kms_start
curl -sf "$KMS_URL/v1/crl" | cmp -s - "$T_DIR/crl.1" || t_fail "the CRL changed across a restart"

# --- a revocation committed but not yet in the CRL when the daemon died --------------
kms_stop -9
sql "UPDATE certs SET revoked_at = $KMS_SQL_NOW, revoke_reason = 'test'
	WHERE serial = '$s2'"
n1=$(openssl crl -in "$T_DIR/crl.1" -noout -crlnumber | sed 's/.*=//')
kms_start
for i in $(seq 1 50); do crl_lists "$s2" && break; sleep 0.1; done
crl_lists "$s2" || t_fail "the scheduler did not re-issue the CRL with the revocation missing from it"
crl_lists "$s1" || t_fail "the re-issued CRL lost c1"
n2=$(crl_number)
case "$n1$n2" in *[!0-9a-fA-Fx]*|'') t_fail "CRL numbers: '$n1' '$n2'" ;; esac
[ $((n2)) -gt $((n1)) ] || t_fail "CRL number did not grow: $n1 -> $n2"

# --- a database from before stored CRLs ----------------------------------------------------
kms_stop
sql 'DELETE FROM crl'
kms_start
for i in $(seq 1 50); do curl -sf "$KMS_URL/v1/crl" >/dev/null && break; sleep 0.1; done
crl_lists "$s1" && crl_lists "$s2" || t_fail "no full CRL after a start without a stored one"
[ "$(sql 'SELECT count(*) FROM crl')" = 1 ] || t_fail "the CRL was not stored"
kms_stop
exit 0
