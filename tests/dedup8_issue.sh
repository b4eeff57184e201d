#!/bin/bash
# dedup8_issue.sh - the two ways mqe2e-kmsd issues a certificate share one
# path (rest_certs.c: the live client, then issue and store), and each keeps
# its answers, against a real mqe2e-kmsd on a real database:
#   POST /v1/clients/{name}/certs (admin): 201 with a generated key; 400 for
#     days out of 1..3650; 404 for an unknown client; 409 for a revoked one;
#   POST /v1/clients/{name}/certs/renew (the device, no token): 201 naming
#     the certificate it renews; 400 for days; 404 unknown; 403 "revoked"
#     for a revoked client; 403 "forbidden" for a key no live certificate
#     holds.
# The attacks - re-enrolling a revoked name, renewing a revoked client,
# renewing with a foreign key - fail and leave the certificate list as it was.
# Both revocations (client, certificate) refuse a bad reason alike, and the
# three collections (clients, groups, grants) route alike.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
# says TEXT WHAT: the last body holds TEXT
says() { grep -qF -- "$1" "$T_DIR/body" || t_fail "$2: $(cat "$T_DIR/body")"; }
# ncerts NAME: how many certificates NAME has
ncerts() { kms_api GET "/v1/clients/$1/certs" | jget 'len(d["items"])'; }
# csr_json KEYFILE CN [DAYS]: a renewal request for a CSR of KEYFILE
csr_json() {
	openssl req -new -key "$1" -subj "/CN=$2" -out "$T_DIR/req.csr" 2>/dev/null ||
		t_fail "openssl req for $2"
	python3 -c 'import json, sys; d = {"csr": open(sys.argv[1]).read()}
if len(sys.argv) > 2: d["days"] = int(sys.argv[2])
print(json.dumps(d))' "$T_DIR/req.csr" ${3:+"$3"}
}

for c in dev gone; do WANT=201 kms_api POST /v1/clients "{\"name\":\"$c\"}"; done >/dev/null

# issue: a generated key, out once with the certificate
WANT=201 kms_api POST /v1/clients/dev/certs '{"generate":true,"days":30}' >/dev/null
jget 'd["key_pem"]' <"$T_DIR/body" >"$T_DIR/dev.key"
FIRST=$(jget 'd["serial"]' <"$T_DIR/body")
[ -n "$FIRST" ] && grep -q 'BEGIN CERTIFICATE' "$T_DIR/body" || t_fail "issue: no certificate: $(cat "$T_DIR/body")"
for d in 0 3651; do
	WANT=400 kms_api POST /v1/clients/dev/certs "{\"generate\":true,\"days\":$d}" >/dev/null
	says "days must be from 1 to 3650" "issue with days $d"
done
WANT=404 kms_api POST /v1/clients/nobody/certs '{"generate":true}' >/dev/null
says "client 'nobody' does not exist: create it first" "issue to an unknown client"
WANT=201 kms_api POST /v1/clients/gone/certs '{"generate":true}' >/dev/null
jget 'd["key_pem"]' <"$T_DIR/body" >"$T_DIR/gone.key"
WANT=200 kms_api POST /v1/clients/gone/revoke '{"reason":"test"}' >/dev/null
WANT=409 kms_api POST /v1/clients/gone/certs '{"generate":true}' >/dev/null
says "client 'gone' is revoked and can never be enrolled again" "issue to a revoked client"
[ "$(ncerts gone)" = 1 ] || t_fail "a refused issue added a certificate to 'gone'"
t_log "issue: 201, and 400/404/409 with their messages"

# renew: the device's own key, no admin token
KMS_API_TOKEN= WANT=201 kms_api POST /v1/clients/dev/certs/renew "$(csr_json "$T_DIR/dev.key" dev 10)" >/dev/null
[ "$(jget 'd["renews"]' <"$T_DIR/body")" = "$FIRST" ] || t_fail "renew does not name $FIRST: $(cat "$T_DIR/body")"
[ "$(jget 'd["serial"] != d["renews"]' <"$T_DIR/body")" = True ] || t_fail "renew kept the serial"
[ "$(ncerts dev)" = 2 ] || t_fail "renewal did not store the new certificate"
KMS_API_TOKEN= WANT=400 kms_api POST /v1/clients/dev/certs/renew "$(csr_json "$T_DIR/dev.key" dev 0)" >/dev/null
says "days must be from 1 to 3650" "renew with days 0"
KMS_API_TOKEN= WANT=404 kms_api POST /v1/clients/nobody/certs/renew "$(csr_json "$T_DIR/dev.key" nobody)" >/dev/null
says "client 'nobody' does not exist" "renew of an unknown client"
KMS_API_TOKEN= WANT=403 kms_api POST /v1/clients/gone/certs/renew "$(csr_json "$T_DIR/gone.key" gone)" >/dev/null
says '"revoked"' "renew of a revoked client (error code)"
says "client 'gone' is revoked" "renew of a revoked client"
# a key no live certificate of dev holds
openssl genpkey -algorithm ed25519 -out "$T_DIR/evil.key" 2>/dev/null || t_fail "openssl genpkey"
KMS_API_TOKEN= WANT=403 kms_api POST /v1/clients/dev/certs/renew "$(csr_json "$T_DIR/evil.key" dev)" >/dev/null
says '"forbidden"' "renew with a foreign key (error code)"
says "not the key of a live certificate of 'dev'" "renew with a foreign key"
[ "$(ncerts dev)" = 2 ] || t_fail "a refused renewal added a certificate to 'dev'"
[ "$(ncerts gone)" = 1 ] || t_fail "a refused renewal added a certificate to 'gone'"
t_log "renew: 201 naming $FIRST, and 400/404/403 with their messages"

# Both revocations read their body alike (kms_req_reason): a reason that is
# not a string or longer than 256 bytes is refused and revokes nothing; 256
# bytes are accepted.
long=$(printf 'x%.0s' $(seq 1 257))
WANT=400 kms_api POST /v1/clients/dev/revoke "{\"reason\":\"$long\"}" >/dev/null
says 'with at most 256 bytes of reason' "client revoke with a 257-byte reason"
[ "$(kms_api GET /v1/clients/dev | jget 'd["revoked"]')" = False ] || t_fail "a refused revocation revoked dev"
WANT=400 kms_api POST "/v1/clients/dev/certs/$FIRST/revoke" '{"reason":5}' >/dev/null
says 'with at most 256 bytes of reason' "cert revoke with a number as reason"
kms_api POST "/v1/clients/dev/certs/$FIRST/revoke" "{\"reason\":\"${long:1}\"}" >/dev/null
[ "$(jget 'len(d["revoked_serials"])' <"$T_DIR/body")" = 2 ] ||
	t_fail "revoking dev's key did not revoke both its certificates: $(cat "$T_DIR/body")"
WANT=409 kms_api POST "/v1/clients/dev/certs/$FIRST/revoke" '{}' >/dev/null
says "is already revoked" "a second revocation of $FIRST"
t_log "revocation bodies: 400 for a bad reason (nothing revoked), 256 bytes accepted"

# The three collections route alike (kms_route_collection): GET lists, any
# method but GET and POST is 405 with "Allow: GET, POST".
for c in clients groups grants; do
	kms_api GET "/v1/$c" | jget 'd["next_cursor"]' >/dev/null || t_fail "GET /v1/$c is not a list"
	code=$(curl -s -D "$T_DIR/hdr" -o "$T_DIR/body" -w '%{http_code}' -X PUT \
	    -H "Authorization: Bearer $(cat "$KMS_DIR/admin.token")" "$KMS_URL/v1/$c") ||
		t_fail "curl PUT /v1/$c"
	[ "$code" = 405 ] || t_fail "PUT /v1/$c: HTTP $code, expected 405"
	grep -qi '^allow: GET, POST' "$T_DIR/hdr" || t_fail "PUT /v1/$c: no Allow: GET, POST: $(cat "$T_DIR/hdr")"
	says "method PUT is not allowed here; use GET, POST" "PUT /v1/$c"
done
t_log "/v1/clients, /v1/groups and /v1/grants: GET lists, PUT is 405 with Allow"
kms_stop
exit 0
