#!/bin/bash
# test_kmsd.sh - smoke test of mqe2e-kmsd through its REST API: first start,
# auth, clients and enrolment, groups, grants, key delivery, replay, policy
# and long poll, rotation, revocation, limits, SIGTERM, restart and broken
# data directories.  Needs curl, jq and openssl (skipped otherwise).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

t_need curl
t_need jq
t_need openssl

KMSD="$top_builddir/kmsd/mqe2e-kmsd"
KC="$top_builddir/tests/kms/test_keyclient"
D="$T_DIR/kms"
PORT=$(t_free_port)
URL="http://127.0.0.1:$PORT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

start() {
	"$KMSD" --data-dir "$D" --listen "127.0.0.1:$PORT" >>"$T_DIR/kmsd.log" 2>&1 &
	KPID=$!
	t_track "$KPID"
	t_wait_port "$PORT" || { cat "$T_DIR/kmsd.log"; t_fail "kmsd did not start"; }
}
stop() {
	kill -TERM "$KPID"
	wait "$KPID"
	local rc=$?
	[ "$rc" = 0 ] || { cat "$T_DIR/kmsd.log"; t_fail "kmsd exited with $rc after SIGTERM"; }
}
# api METHOD PATH [JSON] -> body on stdout, status in $T_DIR/status
api() {
	curl -s -o "$T_DIR/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
	    ${3:+-H 'Content-Type: application/json' -d "$3"} "$URL$2" >"$T_DIR/status"
	cat "$T_DIR/body"
}
status() { cat "$T_DIR/status"; }
expect() { # expect STATUS [jq-filter-that-must-be-true]
	[ "$(status)" = "$1" ] || t_fail "expected HTTP $1, got $(status): $(cat "$T_DIR/body")"
	if [ $# -ge 2 ]; then
		jq -e "$2" "$T_DIR/body" >/dev/null || t_fail "body fails '$2': $(cat "$T_DIR/body")"
	fi
}
mode() { stat -c %a "$1"; }

# ---- first start -------------------------------------------------------------
start
for f in ca.key master.key admin.token kms.db audit.log; do
	[ "$(mode "$D/$f")" = 600 ] || t_fail "$f has mode $(mode "$D/$f")"
done
[ "$(stat -c %s "$D/master.key")" = 32 ] || t_fail "master.key is not 32 bytes"
TOKEN=$(cat "$D/admin.token")
[ ${#TOKEN} = 64 ] || t_fail "admin token length"
openssl x509 -in "$D/ca.crt" -noout -text > "$T_DIR/ca.txt"
grep -q "Subject: CN = mqe2e CA" "$T_DIR/ca.txt" || t_fail "CA subject"
grep -A1 "Basic Constraints: critical" "$T_DIR/ca.txt" | grep -q "CA:TRUE" || t_fail "CA basicConstraints"
grep -A1 "Key Usage: critical" "$T_DIR/ca.txt" | grep -q "Certificate Sign, CRL Sign" || t_fail "CA keyUsage"
grep -q ED25519 "$T_DIR/ca.txt" || t_fail "CA is not Ed25519"

# ---- public endpoints, request ids, auth ---------------------------------------
curl -s -D "$T_DIR/hdr" "$URL/v1/health" | jq -e '.status == "ok"' >/dev/null || t_fail health
grep -qi '^X-Request-Id: [0-9a-f]\{16\}' "$T_DIR/hdr" || t_fail "no X-Request-Id"
curl -s "$URL/v1/ca" | cmp -s - "$D/ca.crt" || t_fail "GET /v1/ca differs from ca.crt"
curl -s "$URL/v1/crl" > "$T_DIR/crl.pem"
openssl crl -in "$T_DIR/crl.pem" -CAfile "$D/ca.crt" -noout 2>&1 | grep -q "verify OK" || t_fail "CRL"
curl -s -o /dev/null -w '%{http_code}' "$URL/v1/clients" | grep -q 401 || t_fail "missing token must give 401"
curl -s -H "Authorization: Bearer $(printf '%064d' 0)" -o "$T_DIR/body" -w '%{http_code}' \
    "$URL/v1/clients" | grep -q 403 || t_fail "wrong token must give 403"
jq -e '.error.code == "forbidden" and (.error.request_id | length) == 16' "$T_DIR/body" >/dev/null ||
    t_fail "error shape"
api GET /v1/nope >/dev/null; expect 404 '.error.code == "not_found"'
api DELETE /v1/clients >/dev/null; expect 405 '.error.code == "method_not_allowed"'

# ---- clients and enrolment ----------------------------------------------------
api POST /v1/clients '{"name":"sensor-1","kind":"client"}' >/dev/null; expect 201 '.certs == 0'
api POST /v1/clients '{"name":"sensor-1"}' >/dev/null; expect 409 '.error.code == "conflict"'
api POST /v1/clients '{"name":"bad/name"}' >/dev/null; expect 400
api POST /v1/clients '{"name":"x","kind":"admin"}' >/dev/null; expect 400
api POST /v1/clients '{"name":"display"}' >/dev/null; expect 201 '.kind == "client"'
api POST /v1/clients '{"name":"lonely"}' >/dev/null; expect 201
api POST /v1/clients '{"name":"broker-1","kind":"broker"}' >/dev/null; expect 201
api GET '/v1/clients?limit=2' >/dev/null; expect 200 '(.items | length) == 2 and .next_cursor != null'
CUR=$(jq -r .next_cursor "$T_DIR/body")
api GET "/v1/clients?limit=2&cursor=$CUR" >/dev/null
expect 200 '(.items | map(.name)) == ["lonely","sensor-1"] and .next_cursor == null'
api GET '/v1/clients?limit=0' >/dev/null; expect 400
api GET '/v1/clients?cursor=zz' >/dev/null; expect 400
api GET /v1/clients/ghost >/dev/null; expect 404 '.error.message | contains("ghost")'

openssl genpkey -algorithm ed25519 -out "$T_DIR/sensor-1.key" 2>/dev/null
openssl req -new -key "$T_DIR/sensor-1.key" -subj "/CN=someone-else/OU=broker" -out "$T_DIR/s.csr"
api POST /v1/clients/sensor-1/certs "$(jq -Rs '{csr:.}' "$T_DIR/s.csr")" >/dev/null
expect 201 '(.serial | length) > 0 and (.ca_pem | startswith("-----BEGIN")) and (has("key_pem") | not)'
jq -r .cert_pem "$T_DIR/body" > "$T_DIR/sensor-1.crt"
openssl x509 -in "$T_DIR/sensor-1.crt" -noout -subject | grep -q "OU = client, CN = sensor-1" ||
    t_fail "subject not forced to CN=name, OU=kind"
openssl verify -CAfile "$D/ca.crt" "$T_DIR/sensor-1.crt" >/dev/null || t_fail "cert does not verify"
for c in display lonely broker-1; do
	api POST /v1/clients/$c/certs '{"generate":true,"days":30}' >/dev/null
	expect 201 '.key_pem | startswith("-----BEGIN PRIVATE KEY-----")'
	jq -r .cert_pem "$T_DIR/body" > "$T_DIR/$c.crt"
	jq -r .key_pem "$T_DIR/body" > "$T_DIR/$c.key"
done
grep -q "BEGIN PRIVATE KEY" "$D"/kms.db* "$D/audit.log" && t_fail "a private key was stored"
grep -q "$(sed -n 2p "$T_DIR/display.key")" "$D"/kms.db* && t_fail "a generated key was stored"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out "$T_DIR/rsa.key" 2>/dev/null
openssl req -new -key "$T_DIR/rsa.key" -subj /CN=x -out "$T_DIR/rsa.csr"
api POST /v1/clients/sensor-1/certs "$(jq -Rs '{csr:.}' "$T_DIR/rsa.csr")" >/dev/null
expect 400 '.error.code == "bad_csr"'
api POST /v1/clients/sensor-1/certs '{"csr":"junk"}' >/dev/null; expect 400 '.error.code == "bad_csr"'
api POST /v1/clients/sensor-1/certs '{}' >/dev/null; expect 400
api GET /v1/clients/sensor-1/certs >/dev/null; expect 200 '(.items | length) == 1 and .items[0].revoked == false'

# ---- groups and grants --------------------------------------------------------
api POST /v1/groups '{"name":"temps","filter":"plant/+/temp","scheme":4,"rotate_s":3600,"grace_s":600}' >/dev/null
expect 201 '.current_epoch == 1 and (.epochs | map(.state)) == ["current","next"]'
grep -q "gk_\|key" "$T_DIR/body" && t_fail "group JSON mentions keys"
for f in 'a/#/b' 'a+' '$SYS/x' ''; do
	api POST /v1/groups "$(jq -n --arg f "$f" '{name:"g2",filter:$f,scheme:3}')" >/dev/null
	expect 400
done
api POST /v1/groups '{"name":"g2","filter":"x/#","scheme":0}' >/dev/null; expect 400
api POST /v1/groups '{"name":"temps","filter":"x","scheme":1}' >/dev/null; expect 409
api POST /v1/groups '{"name":"alarms","filter":"alarm/#","scheme":3}' >/dev/null; expect 201
api PATCH /v1/groups/alarms '{"scheme":4,"grace_s":0}' >/dev/null; expect 200 '.scheme == 4 and .grace_s == 0'
api PATCH /v1/groups/alarms '{"name":"x"}' >/dev/null; expect 400
api POST /v1/grants '{"client":"sensor-1","group":"temps","right":"pub"}' >/dev/null; expect 201
api POST /v1/grants '{"client":"display","group":"temps","right":"sub"}' >/dev/null; expect 201
api POST /v1/grants '{"client":"display","group":"temps","right":"sub"}' >/dev/null; expect 409
api POST /v1/grants '{"client":"broker-1","group":"temps","right":"sub"}' >/dev/null; expect 409
api POST /v1/grants '{"client":"ghost","group":"temps","right":"sub"}' >/dev/null; expect 404
api POST /v1/grants '{"client":"display","group":"temps","right":"admin"}' >/dev/null; expect 400
api POST /v1/grants '{"client":"display","group":"alarms","right":"pub"}' >/dev/null; expect 201
api GET '/v1/grants?client=display' >/dev/null; expect 200 '(.items | length) == 2'
# a removed grant rekeys the group like a revocation (display held GK_P)
api DELETE /v1/grants/display/alarms/pub >/dev/null; expect 200 '.deleted and .rekeyed == ["alarms"]'
api DELETE /v1/grants/display/alarms/pub >/dev/null; expect 404

# ---- key delivery -------------------------------------------------------------
keys() { "$KC" keys "$URL" "$T_DIR/$1.crt" "$T_DIR/$1.key" "$D/ca.crt" "${@:2}"; }
keys sensor-1 > "$T_DIR/k" || t_fail "sensor-1 keys: $(cat "$T_DIR/k")"
[ "$(grep -c '^temps P' "$T_DIR/k")" = 2 ] && ! grep -q ' B ' "$T_DIR/k" || t_fail "publisher keys: $(cat "$T_DIR/k")"
grep -qx 'group temps 4 pub plant/+/temp' "$T_DIR/k" || t_fail "publisher's group table: $(cat "$T_DIR/k")"
keys display > "$T_DIR/k"
[ "$(grep -c '^temps P' "$T_DIR/k")" = 2 ] && [ "$(grep -c '^temps B' "$T_DIR/k")" = 2 ] ||
    t_fail "subscriber keys: $(cat "$T_DIR/k")"
grep -qx 'group temps 4 sub plant/+/temp' "$T_DIR/k" || t_fail "subscriber's group table: $(cat "$T_DIR/k")"
keys broker-1 > "$T_DIR/k"
! grep -q ' P ' "$T_DIR/k" && [ "$(grep -c ' B ' "$T_DIR/k")" = 4 ] || t_fail "broker keys: $(cat "$T_DIR/k")"
[ "$(grep -c '^group .* - ' "$T_DIR/k")" = 2 ] || t_fail "broker's group table: $(cat "$T_DIR/k")"
keys lonely > "$T_DIR/k"; grep -q '^keys: 0$' "$T_DIR/k" || t_fail "no grant must give an empty bundle"
keys display alarms > "$T_DIR/k"; grep -q '^keys: 0$' "$T_DIR/k" || t_fail "group filter in KEY_REQUEST"
"$KC" replay "$URL" "$T_DIR/sensor-1.crt" "$T_DIR/sensor-1.key" "$D/ca.crt" | grep -q '^200 409$' ||
    t_fail "a replayed KEY_REQUEST must give 409"
curl -s -o "$T_DIR/body" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
    --data-binary 'garbage' "$URL/v1/keys" | grep -q 400 || t_fail "garbage KEY_REQUEST"
jq -e '.error.code == "malformed"' "$T_DIR/body" >/dev/null || t_fail "malformed code"
"$KC" tamper "$URL" "$T_DIR/sensor-1.crt" "$T_DIR/sensor-1.key" "$D/ca.crt" |
    grep -q '^HTTP 401 .*"bad_signature"' || t_fail "a bad signature must give 401 bad_signature"
KC_SKEW_S=600 keys sensor-1 | grep -q '^HTTP 400 .*"clock_skew"' || t_fail "skew must give 400 clock_skew"
# A certificate from another CA, with the right subject.
openssl req -x509 -newkey ed25519 -nodes -keyout "$T_DIR/rogue-ca.key" -subj "/CN=rogue CA" \
    -days 1 -out "$T_DIR/rogue-ca.crt" 2>/dev/null
openssl req -new -key "$T_DIR/sensor-1.key" -subj "/OU=client/CN=sensor-1" -out "$T_DIR/rogue.csr"
openssl x509 -req -in "$T_DIR/rogue.csr" -CA "$T_DIR/rogue-ca.crt" -CAkey "$T_DIR/rogue-ca.key" \
    -days 1 -out "$T_DIR/rogue.crt" 2>/dev/null
cp "$T_DIR/sensor-1.key" "$T_DIR/rogue.key"
keys rogue | grep -q '^HTTP 401 .*"unknown_ca"' || t_fail "a foreign CA must give 401 unknown_ca"

# ---- policy and long poll -----------------------------------------------------
pol() { "$KC" policy "$URL" "$T_DIR/$1.crt" "$T_DIR/$1.key" "$D/ca.crt" "${@:2}"; }
pol broker-1 > "$T_DIR/p" || t_fail "policy: $(cat "$T_DIR/p")"
jq -e '.grants["sensor-1"].pub == ["temps"] and .grants.display.sub == ["temps"] and
    (.groups | map(.name)) == ["alarms","temps"] and .revoked_clients == []' "$T_DIR/p" >/dev/null ||
    t_fail "policy content: $(cat "$T_DIR/p")"
V=$(jq .version "$T_DIR/p")
pol display | grep -q '"wrong_kind"' || t_fail "a client must not get the policy"
pol broker-1 "$V" 20 > "$T_DIR/w" &
WPID=$!
sleep 0.5
api POST /v1/grants '{"client":"lonely","group":"alarms","right":"sub"}' >/dev/null; expect 201
SECONDS=0
wait "$WPID" || t_fail "watch failed"
[ "$SECONDS" -lt 5 ] || t_fail "watch did not wake on a change"
jq -e --argjson v "$V" '.version > $v and .grants.lonely.sub == ["alarms"]' "$T_DIR/w" >/dev/null ||
    t_fail "watch answer: $(cat "$T_DIR/w")"
SECONDS=0
pol broker-1 999999 1 > /dev/null || t_fail "watch timeout"
[ "$SECONDS" -le 3 ] || t_fail "watch timeout too long"

# ---- rotation -----------------------------------------------------------------
api POST /v1/groups/temps/rotate >/dev/null
expect 200 '.current_epoch == 2 and (.epochs | map(.state)) == ["grace","current","next"]'
keys display > "$T_DIR/k"
[ "$(grep -c '^temps P' "$T_DIR/k")" = 3 ] || t_fail "grace epoch not delivered: $(cat "$T_DIR/k")"
api POST /v1/groups/alarms/rotate >/dev/null
expect 200 '(.epochs | map(.state)) == ["expired","void","expired","current","next"]'

# ---- revocation ---------------------------------------------------------------
SERIAL=$(openssl x509 -in "$T_DIR/display.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
api POST /v1/clients/display/revoke '{"reason":"stolen"}' >/dev/null
expect 200 '.revoked == true and .rekeyed_groups == ["temps"] and (.revoked_serials | length) == 1'
api GET /v1/groups/temps >/dev/null
expect 200 '.current_epoch == 4 and (.epochs | map(.state)) == ["grace","grace","void","current","next"]'
curl -s "$URL/v1/crl" | openssl crl -noout -text | tr A-F a-f | grep -q "$SERIAL" || t_fail "serial not in CRL"
keys display > "$T_DIR/k"; grep -q '"revoked"' "$T_DIR/k" || t_fail "revoked client got keys: $(cat "$T_DIR/k")"
keys sensor-1 > "$T_DIR/k"
grep -q '^temps P 4 ' "$T_DIR/k" && grep -q '^temps P 5 ' "$T_DIR/k" && ! grep -q '^temps P 3 ' "$T_DIR/k" ||
    t_fail "rekeyed keys: $(cat "$T_DIR/k")"
pol broker-1 > "$T_DIR/p"
jq -e '.revoked_clients == ["display"] and (.revoked_serials | length) == 1 and (.grants | has("display") | not)' \
    "$T_DIR/p" >/dev/null || t_fail "policy after revoke: $(cat "$T_DIR/p")"
api POST /v1/clients/display/revoke '{}' >/dev/null; expect 409
api POST /v1/clients/display/certs '{"generate":true}' >/dev/null; expect 409
api POST /v1/grants '{"client":"display","group":"temps","right":"sub"}' >/dev/null; expect 409
# A broker holds GK_B of every group: revoking one rekeys them all.
api POST /v1/clients '{"name":"broker-2","kind":"broker"}' >/dev/null; expect 201
api POST /v1/clients/broker-2/revoke '{"reason":"decommissioned"}' >/dev/null
expect 200 '.rekeyed_groups == ["alarms","temps"] and .revoked_serials == []'
api GET /v1/clients/broker-2 >/dev/null
expect 200 '.revoked == true and .revoke_reason == "decommissioned"'

# ---- limits -------------------------------------------------------------------
head -c 70000 /dev/zero | tr '\0' a > "$T_DIR/big"
curl -s -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @"$T_DIR/big" "$URL/v1/clients" |
    grep -q 413 || t_fail "a body over 64 KiB must give 413"

# ---- audit --------------------------------------------------------------------
jq -e -s 'all(has("time") and has("actor") and has("action") and has("result"))' "$D/audit.log" \
    >/dev/null || t_fail "audit lines are not JSON objects with the fields"
grep -q '"action":"client.revoke"' "$D/audit.log" || t_fail "revocation not audited"
grep -q '"action":"keys.fetch"' "$D/audit.log" || t_fail "key delivery not audited"
grep -q '"actor":"scheduler"\|"epoch.rotate"' "$D/audit.log" || t_fail "key events not audited"
grep -q "$TOKEN" "$D/audit.log" && t_fail "the admin token is in the audit log"
grep -q "PRIVATE KEY" "$D/audit.log" && t_fail "a private key is in the audit log"

# ---- stop, restart, broken data directories ----------------------------------
stop
start
api GET /v1/groups/temps >/dev/null; expect 200 '.current_epoch == 6'
keys sensor-1 > "$T_DIR/k"; grep -q '^temps P 6 ' "$T_DIR/k" || t_fail "keys after restart"
stop

# ---- kill -9 in the middle of rotations leaves a consistent database ---------
if command -v sqlite3 >/dev/null 2>&1; then
	start
	for round in 1 2 3; do
		( for i in $(seq 1 100); do
			curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
			    "$URL/v1/groups/$([ $((i % 2)) = 0 ] && echo temps || echo alarms)/rotate"
		done ) &
		LOOP=$!
		sleep "0.$((RANDOM % 5 + 2))"
		kill -9 "$KPID"
		wait "$KPID" 2>/dev/null
		wait "$LOOP" 2>/dev/null
		start
	done
	stop
	sqlite3 "$D/kms.db" "SELECT count(*) = max(epoch) AND sum(state = 'current') = 1 AND
	    sum(state = 'next') = 1 AND max(epoch) = max(CASE WHEN state = 'next' THEN epoch END)
	    FROM epochs GROUP BY group_id" | grep -qv '^1$' && t_fail "epochs inconsistent after kill -9"
	[ "$(sqlite3 "$D/kms.db" "SELECT count(*) FROM epochs WHERE state IN ('expired','void')
	    AND (gk_p IS NOT NULL OR gk_b IS NOT NULL)")" = 0 ] || t_fail "expired keys not erased"
	[ "$(sqlite3 "$D/kms.db" "PRAGMA integrity_check")" = ok ] || t_fail "integrity_check"
fi

cp "$D/master.key" "$T_DIR/master.key.bak"
head -c 5 /dev/urandom > "$D/master.key"
"$KMSD" --data-dir "$D" --listen "127.0.0.1:$PORT" 2> "$T_DIR/err" && t_fail "started with a broken master key"
grep -q "master.key" "$T_DIR/err" || t_fail "error does not name master.key: $(cat "$T_DIR/err")"
cp "$T_DIR/master.key.bak" "$D/master.key"
rm -f "$D/kms.db-wal" "$D/kms.db-shm"
printf 'this is not a database at all, not even close....................' > "$D/kms.db"
"$KMSD" --data-dir "$D" --listen "127.0.0.1:$PORT" 2> "$T_DIR/err" && t_fail "started with a corrupt database"
grep -q "kms.db" "$T_DIR/err" || t_fail "error does not name kms.db: $(cat "$T_DIR/err")"
"$KMSD" --data-dir "$D" --listen "nope" 2> "$T_DIR/err"; [ $? = 1 ] || t_fail "bad listen address"
"$KMSD" 2>/dev/null; [ $? = 2 ] || t_fail "no data dir must be a usage error"
"$KMSD" --version | grep -q "mqe2e-kmsd" || t_fail "--version"
"$KMSD" --help | grep -q -- "--data-dir" || t_fail "--help"
t_log "ok"
exit 0
