#!/bin/bash
# kms_revoke.sh - revocation is one action: the CRL lists the serial, the
# client's next key request is refused, the groups it could read move to a
# new epoch (the pre-issued next one is voided), and a broker's policy
# long-poll started before the revoke wakes up with a higher version.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
enrol pub1 client
enrol sub1 client
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4 --grace 60
expect_rc 0 kmsctl group add other --filter 'other/#' --scheme 4 --grace 60
expect_rc 0 kmsctl grant add pub1 temps pub
expect_rc 0 kmsctl grant add sub1 temps sub
expect_rc 0 kmsctl grant add pub1 other pub

serial=$(kmsctl --json cert list sub1 | jget 'd["items"][0]["serial"]')
[ -n "$serial" ] || t_fail "no serial for sub1"
expect_rc 0 keyreq pub1
expect_rc 0 keyreq sub1
[ -s "$T_DIR/out" ] || t_fail "sub1 got no keys before the revoke"
other_before=$(epochs other)

# a broker watches the policy
expect_rc 0 keyreq broker1 --policy
v0=$(awk '$1 == "version" {print $2}' "$T_DIR/out")
[ -n "$v0" ] || t_fail "no policy version: $(cat "$T_DIR/out")"
keyreq_bg broker1 --watch "$v0" --timeout 30 >"$T_DIR/watch.out" 2>"$T_DIR/watch.err"
watcher=$KEYREQ_PID
sleep 1
kill -0 $watcher 2>/dev/null || t_fail "the watch returned before any change: $(cat "$T_DIR/watch.out" "$T_DIR/watch.err")"

# --- revoke ------------------------------------------------------------------------
t0=$(date +%s)
expect_rc 0 kmsctl client revoke sub1 --reason "device stolen"
grep -q "rekeyed_groups *temps" "$T_DIR/out" || t_fail "revoke output: $(cat "$T_DIR/out")"

# the watcher wakes (well before its 30 s timeout) with a higher version
for i in $(seq 1 100); do kill -0 $watcher 2>/dev/null || break; sleep 0.1; done
kill -0 $watcher 2>/dev/null && t_fail "the policy watcher did not wake within 10 s of the revoke"
wait $watcher || t_fail "watcher failed: $(cat "$T_DIR/watch.err")"
v1=$(awk '$1 == "version" {print $2}' "$T_DIR/watch.out")
[ -n "$v1" ] && [ "$v1" -gt "$v0" ] || t_fail "watch: version $v1 after $v0"
[ $(( $(date +%s) - t0 )) -lt 15 ] || t_fail "the watcher woke only at its timeout"
# the signed policy it got names the revoked certificate and client
grep -qx "revoked_serial $serial" "$T_DIR/watch.out" || t_fail "watch: serial missing: $(cat "$T_DIR/watch.out")"
grep -qx "revoked_client sub1" "$T_DIR/watch.out" || t_fail "watch: client missing: $(cat "$T_DIR/watch.out")"

# the CRL, signed by the CA, lists the serial
curl -sf "$KMS_URL/v1/crl" >"$T_DIR/crl.pem" || t_fail "GET /v1/crl"
openssl crl -in "$T_DIR/crl.pem" -CAfile "$T_DIR/ca.crt" -noout 2>&1 | grep -q 'verify OK' ||
	t_fail "the CRL does not verify against the CA"
norm() { tr 'a-f' 'A-F' | sed 's/^0*//'; }
want=$(echo "$serial" | norm)
openssl crl -in "$T_DIR/crl.pem" -noout -text | awk '/Serial Number:/ {print $3}' | norm |
	grep -qx "$want" || t_fail "serial $serial not in the CRL: $(openssl crl -in "$T_DIR/crl.pem" -noout -text)"

# the next key request of that client is refused
expect_rc 2 keyreq sub1
grep -q '^error 403 revoked$' "$T_DIR/out" || t_fail "revoked key request: $(cat "$T_DIR/out" "$T_DIR/err")"

# its group moved on: old next voided, fresh current and next; others untouched
ep=$(epochs temps)
[ "$ep" = "1:grace 2:void 3:current 4:next" ] || t_fail "temps after revoke: $ep"
[ "$(epochs other)" = "$other_before" ] || t_fail "group other was rekeyed: $(epochs other)"
# ... and the publisher's certificate, verified before the revoke, is
# still answered from the KMS's cache of verified certificates: a new CRL
# and revoked set leave the cache in place (revocation is checked at every
# lookup; sub1's refusal above came through it)
lookups() { curl -sf "$KMS_URL/metrics" | awk -v r="$1" '$1 == "mqe2e_kms_cert_cache_lookups_total{result=\""r"\"}" {print $2}'; }
h0=$(lookups hit)
m0=$(lookups miss)
expect_rc 0 keyreq pub1 --group temps
[ "$(awk '{print $3}' "$T_DIR/out" | sort -n | tr '\n' ' ')" = "1 3 4 " ] ||
	t_fail "publisher after revoke got epochs: $(cat "$T_DIR/out")"
h1=$(lookups hit)
m1=$(lookups miss)
[ -n "$h0" ] && [ "$h1" = $((h0 + 1)) ] && [ "$m1" = "$m0" ] ||
	t_fail "pub1's certificate was checked again after the revoke (hits $h0 -> $h1, misses $m0 -> $m1)"

# the client stays revoked: shown so, no grants, no new certificate, no re-use
expect_rc 0 kmsctl client show sub1
grep -q '^revoked *yes' "$T_DIR/out" || t_fail "client show: $(cat "$T_DIR/out")"
grep -q '^revoke_reason *device stolen' "$T_DIR/out" || t_fail "reason not kept: $(cat "$T_DIR/out")"
[ "$(kmsctl --json grant list --client sub1 | jget 'len(d["items"])')" = 0 ] || t_fail "grants left"
[ "$(kmsctl --json cert list sub1 | jget 'd["items"][0]["revoked"]')" = True ] || t_fail "cert not revoked"
mkdir -p "$T_DIR/re"
expect_rc 2 kmsctl cert issue sub1 --generate --out-dir "$T_DIR/re"
grep -q conflict "$T_DIR/err" || t_fail "re-enrol: $(cat "$T_DIR/err")"
[ -e "$T_DIR/re/sub1.key" ] && t_fail "a key was written for a refused issue"
expect_rc 2 kmsctl client add sub1
expect_rc 2 kmsctl client revoke sub1
grep -q conflict "$T_DIR/err" || t_fail "second revoke: $(cat "$T_DIR/err")"
t_log "revocation ok (policy $v0 -> $v1)"
exit 0
