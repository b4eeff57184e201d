#!/bin/bash
# kms_badinput.sh - bad input changes nothing and gets the right 4xx with a
# clear message: malformed JSON, wrong types, oversized bodies, unknown ids,
# missing or wrong token, wrong media type, a replayed key request, a stale
# timestamp, a certificate from another CA, garbage key requests, a client
# certificate on a broker endpoint, a revoked certificate; a bad CSR gets the
# same answer from the admin's issue and the device's renewal.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
enrol sub1 client
enrol gone client
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add sub1 temps sub
expect_rc 0 kmsctl grant add gone temps pub
TOKEN=$(cat "$KMS_DIR/admin.token")

kms_snapshot >"$T_DIR/state.before" || t_fail "snapshot"

# http_expect STATUS CODE METHOD PATH [curl args]: the error shape of
# docs/API.md with that status and code, a message, and the request id of
# the X-Request-Id header.
http_expect() {
	local status=$1 code=$2 method=$3 path=$4 got
	shift 4
	got=$(curl -s -X "$method" -D "$T_DIR/hdr" -o "$T_DIR/body" -w '%{http_code}' "$@" \
		"$KMS_URL$path") || t_fail "curl $method $path failed"
	[ "$got" = "$status" ] || t_fail "$method $path: HTTP $got, expected $status: $(cat "$T_DIR/body")"
	[ "$(jget 'd["error"]["code"]' <"$T_DIR/body")" = "$code" ] ||
		t_fail "$method $path: error code $(cat "$T_DIR/body"), expected $code"
	[ -n "$(jget 'd["error"]["message"]' <"$T_DIR/body")" ] || t_fail "$method $path: no message"
	rid=$(awk 'tolower($1) == "x-request-id:" {print $2}' "$T_DIR/hdr" | tr -d '\r')
	[ -n "$rid" ] && [ "$(jget 'd["error"]["request_id"]' <"$T_DIR/body")" = "$rid" ] ||
		t_fail "$method $path: request id missing or not the X-Request-Id header"
}
A=(-H "Authorization: Bearer $TOKEN")
J=(-H "Content-Type: application/json")

# --- admin token ---------------------------------------------------------------------
http_expect 401 unauthorized GET /v1/clients
http_expect 401 unauthorized POST /v1/clients "${J[@]}" -d '{"name":"x1"}'
http_expect 401 unauthorized GET /v1/clients -H "Authorization: Basic $TOKEN"
# the token with its last digit changed (not merely replaced: it may be 0)
[ "${TOKEN: -1}" = 0 ] && WRONG="${TOKEN%?}1" || WRONG="${TOKEN%?}0"
http_expect 403 forbidden POST /v1/clients -H "Authorization: Bearer $WRONG" "${J[@]}" -d '{"name":"x1"}'
http_expect 403 forbidden POST /v1/groups/temps/rotate -H "Authorization: Bearer x"
printf 'not-the-token\n' >"$T_DIR/wrong.token"
expect_rc 2 kmsctl --token-file "$T_DIR/wrong.token" client add x1
grep -q 'forbidden' "$T_DIR/err" && grep -q 'request id [0-9a-f]' "$T_DIR/err" ||
	t_fail "kmsctl, wrong token: $(cat "$T_DIR/err")"
expect_rc 4 kmsctl --token-file "$T_DIR/no-such.token" client list
grep -q "no-such.token" "$T_DIR/err" || t_fail "kmsctl, missing token file: $(cat "$T_DIR/err")"

# --- malformed JSON, wrong types, bad values -----------------------------------------
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":"x1"} trailing'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '["x1"]'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":123}'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":"x1","kind":"god"}'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":"../etc"}'
http_expect 400 bad_request POST /v1/clients "${A[@]}" "${J[@]}" -d '{}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":"4"}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":5}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/#/b","scheme":4}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":4,"rotate_s":0}'
# an explicit -1 is a bad value, not "field absent"
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":4,"rotate_s":-1}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":4,"grace_s":-1}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":-1}'
http_expect 400 bad_request PATCH /v1/groups/temps "${A[@]}" "${J[@]}" -d '{"rotate_s":-1}'
http_expect 400 bad_request PATCH /v1/groups/temps "${A[@]}" "${J[@]}" -d '{"grace_s":-1}'
http_expect 400 bad_request PATCH /v1/groups/temps "${A[@]}" "${J[@]}" -d '{"scheme":-1}'
http_expect 400 bad_request POST /v1/groups "${A[@]}" "${J[@]}" -d '{"name":"g1","filter":"a/b","scheme":4,"grace_s":1.5}'
http_expect 400 bad_request PATCH /v1/groups/temps "${A[@]}" "${J[@]}" -d '{"scheme":0}'
http_expect 400 bad_request POST /v1/grants "${A[@]}" "${J[@]}" -d '{"client":"sub1","group":"temps","right":"admin"}'
http_expect 400 bad_request GET '/v1/clients?limit=0' "${A[@]}"
http_expect 400 bad_csr POST /v1/clients/sub1/certs "${A[@]}" "${J[@]}" -d '{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}'
# an RSA CSR is refused (Ed25519 only)
openssl req -new -newkey rsa:2048 -nodes -keyout "$T_DIR/rsa.key" -subj /CN=sub1 \
	-out "$T_DIR/rsa.csr" 2>/dev/null || t_fail "openssl rsa csr"
expect_rc 2 kmsctl cert issue sub1 --csr "$T_DIR/rsa.csr" --out-dir "$T_DIR"
grep -q bad_csr "$T_DIR/err" || t_fail "RSA CSR: $(cat "$T_DIR/err")"
# A bad CSR gets the same answer from both endpoints that take one, the
# admin's issue and the device's renewal (csr_key in kmsd/rest_certs.c):
# what is wrong with it and, for a key that is not Ed25519, the command that
# makes one.  CSRs: not PEM, RSA, Ed25519 with its signature's last byte
# flipped.
openssl genpkey -algorithm ed25519 -out "$T_DIR/ed.key" 2>/dev/null &&
	openssl req -new -key "$T_DIR/ed.key" -subj /CN=sub1 -out "$T_DIR/ed.csr" 2>/dev/null ||
	t_fail "openssl: an Ed25519 CSR"
python3 - "$T_DIR/ed.csr" >"$T_DIR/badsig.csr" <<'PY' || t_fail "a CSR with a bad signature"
import base64, sys, textwrap
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
der[-1] ^= 1
print(lines[0], *textwrap.wrap(base64.b64encode(der).decode(), 64), lines[-2], sep="\n")
PY
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' >"$T_DIR/junk.csr"
while read -r f want; do
	body=$(python3 -c 'import json, sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' "$T_DIR/$f") ||
		t_fail "json of $f"
	WANT=400 kms_api POST /v1/clients/sub1/certs "$body" >/dev/null
	issue=$(jget 'd["error"]["code"] + " " + d["error"]["message"]' <"$T_DIR/body")
	KMS_API_TOKEN= WANT=400 kms_api POST /v1/clients/sub1/certs/renew "$body" >/dev/null
	renew=$(jget 'd["error"]["code"] + " " + d["error"]["message"]' <"$T_DIR/body")
	[ "$issue" = "bad_csr the CSR for client 'sub1' $want" ] || t_fail "issue, $f: $issue"
	[ "$renew" = "$issue" ] || t_fail "renew, $f: '$renew', not the issue's '$issue'"
done <<'EOF'
junk.csr is not a PEM certificate request
rsa.csr does not hold an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)
badsig.csr has an invalid signature
EOF
t_log "a bad CSR: issue and renew give the same 400 bad_csr (not PEM, RSA with the genpkey hint, bad signature)"
http_expect 415 unsupported_media_type POST /v1/clients "${A[@]}" -H 'Content-Type: text/plain' -d '{"name":"x1"}'

# --- oversized body ------------------------------------------------------------------------
python3 -c 'print("{\"name\":\"x1\",\"pad\":\"" + "a" * 70000 + "\"}")' >"$T_DIR/big.json"
http_expect 413 too_large POST /v1/clients "${A[@]}" "${J[@]}" --data-binary @"$T_DIR/big.json"
head -c 70000 /dev/urandom >"$T_DIR/big.bin"
http_expect 413 too_large POST /v1/keys -H 'Content-Type: application/octet-stream' --data-binary @"$T_DIR/big.bin"

# --- unknown ids, endpoints, methods ---------------------------------------------------------
http_expect 404 not_found GET /v1/clients/nobody "${A[@]}"
http_expect 404 not_found POST /v1/clients/nobody/certs "${A[@]}" "${J[@]}" -d '{"generate":true}'
http_expect 404 not_found POST /v1/clients/nobody/revoke "${A[@]}" "${J[@]}" -d '{}'
http_expect 404 not_found GET /v1/groups/nogroup "${A[@]}"
http_expect 404 not_found POST /v1/groups/nogroup/rotate "${A[@]}" "${J[@]}" -d '{}'
http_expect 404 not_found POST /v1/grants "${A[@]}" "${J[@]}" -d '{"client":"nobody","group":"temps","right":"pub"}'
http_expect 404 not_found POST /v1/grants "${A[@]}" "${J[@]}" -d '{"client":"sub1","group":"nogroup","right":"pub"}'
http_expect 404 not_found DELETE /v1/grants/sub1/temps/pub "${A[@]}"
http_expect 404 not_found GET /v1/nothing-here "${A[@]}"
http_expect 405 method_not_allowed DELETE /v1/clients "${A[@]}"
http_expect 409 conflict POST /v1/clients "${A[@]}" "${J[@]}" -d '{"name":"sub1"}'
http_expect 409 conflict POST /v1/grants "${A[@]}" "${J[@]}" -d '{"client":"sub1","group":"temps","right":"sub"}'
expect_rc 2 kmsctl client show nobody
grep -q "not_found" "$T_DIR/err" && grep -q "request id" "$T_DIR/err" ||
	t_fail "kmsctl client show nobody: $(cat "$T_DIR/err")"
expect_rc 1 kmsctl client show '../x'
expect_rc 1 kmsctl group add g2 --filter a --scheme 9

# --- key requests ------------------------------------------------------------------------
# garbage and empty bodies
http_expect 400 malformed POST /v1/keys -H 'Content-Type: application/octet-stream' --data-binary 'garbage'
http_expect 400 malformed POST /v1/keys -H 'Content-Type: application/octet-stream' --data-binary ''
http_expect 415 unsupported_media_type POST /v1/keys "${J[@]}" -d '{}'
# the same request twice: the second is a replay
expect_rc 2 keyreq sub1 --replay
grep -q '^error 409 nonce_reused$' "$T_DIR/out" || t_fail "replay: $(cat "$T_DIR/out" "$T_DIR/err")"
# a timestamp 10 minutes old, or 10 minutes ahead
expect_rc 2 keyreq sub1 --ts-offset-ms -600000
grep -q '^error 400 clock_skew$' "$T_DIR/out" || t_fail "stale: $(cat "$T_DIR/out" "$T_DIR/err")"
expect_rc 2 keyreq sub1 --ts-offset-ms 600000
grep -q '^error 400 clock_skew$' "$T_DIR/out" || t_fail "future: $(cat "$T_DIR/out" "$T_DIR/err")"
# a client certificate on the broker-only endpoint
expect_rc 2 keyreq sub1 --policy
grep -q '^error 400 wrong_kind$' "$T_DIR/out" || t_fail "client on /v1/policy: $(cat "$T_DIR/out" "$T_DIR/err")"
# a certificate for the same name from another CA, made with the openssl CLI
openssl genpkey -algorithm ed25519 -out "$T_DIR/ca2.key" 2>/dev/null
openssl req -x509 -new -key "$T_DIR/ca2.key" -subj "/CN=mqe2e CA" -days 2 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
	-out "$T_DIR/ca2.crt" 2>/dev/null || t_fail "openssl: other CA"
openssl genpkey -algorithm ed25519 -out "$T_DIR/evil.key" 2>/dev/null
openssl req -new -key "$T_DIR/evil.key" -subj "/CN=sub1/OU=client" -out "$T_DIR/evil.csr" 2>/dev/null
openssl x509 -req -in "$T_DIR/evil.csr" -CA "$T_DIR/ca2.crt" -CAkey "$T_DIR/ca2.key" \
	-set_serial 0x$(openssl rand -hex 16) -days 2 -out "$T_DIR/evil.crt" 2>/dev/null ||
	t_fail "openssl: certificate from the other CA"
expect_rc 2 "$KEYREQ" --kms "$KMS_URL" --cert "$T_DIR/evil.crt" --key "$T_DIR/evil.key" --ca "$T_DIR/ca.crt"
grep -q '^error 401 unknown_ca$' "$T_DIR/out" || t_fail "other CA: $(cat "$T_DIR/out" "$T_DIR/err")"
# a valid request still works after all that
expect_rc 0 keyreq sub1
[ -s "$T_DIR/out" ] || t_fail "sub1 gets no keys after the bad requests"

# --- nothing changed -----------------------------------------------------------------------
kms_snapshot >"$T_DIR/state.after" || t_fail "snapshot"
diff -u "$T_DIR/state.before" "$T_DIR/state.after" >&2 || t_fail "bad input changed the state"

# --- a revoked certificate ---------------------------------------------------------------
expect_rc 0 kmsctl client revoke gone
expect_rc 2 keyreq gone
grep -q '^error 403 revoked$' "$T_DIR/out" || t_fail "revoked: $(cat "$T_DIR/out" "$T_DIR/err")"
t_log "bad input refused with the right status and code, state unchanged"
exit 0
