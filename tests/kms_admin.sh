#!/bin/bash
# kms_admin.sh - the whole admin flow through mqe2e-kmsctl against a real
# mqe2e-kmsd, and the grant rules of key delivery over the signed DH channel:
#   no grant -> nothing; sub -> GK_P and GK_B; pub -> GK_P; broker -> GK_B only.
# Then a restart keeps clients, certificates, groups, epochs, grants and keys.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start

# --- public endpoints, no token needed -------------------------------------
( unset MQE2E_KMS_TOKEN_FILE; expect_rc 0 kmsctl status )
grep -q '^status *ok' "$T_DIR/out" || t_fail "status: $(cat "$T_DIR/out")"
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
openssl x509 -in "$T_DIR/ca.crt" -noout >/dev/null 2>&1 || t_fail "ca show did not print a certificate"

# --- a broker and two clients ----------------------------------------------
enrol broker1 broker
# sensor: the key is made here, only a CSR goes to the KMS (its CN is ignored)
expect_rc 0 kmsctl client add sensor
openssl genpkey -algorithm ed25519 -out "$T_DIR/sensor.key" 2>/dev/null || t_fail "openssl genpkey"
openssl req -new -key "$T_DIR/sensor.key" -subj /CN=x -out "$T_DIR/sensor.csr" 2>/dev/null ||
	t_fail "openssl req"
cp "$T_DIR/sensor.key" "$T_DIR/sensor.key.orig"
expect_rc 0 kmsctl cert issue sensor --csr "$T_DIR/sensor.csr" --out-dir "$T_DIR"
cmp -s "$T_DIR/sensor.key" "$T_DIR/sensor.key.orig" || t_fail "cert issue --csr touched the key"
openssl x509 -in "$T_DIR/sensor.crt" -noout -subject | grep -q 'CN *= *sensor' ||
	t_fail "CSR subject not replaced by the client name: $(openssl x509 -in "$T_DIR/sensor.crt" -noout -subject)"
enrol display client
for n in broker1 sensor display; do
	openssl verify -CAfile "$T_DIR/ca.crt" "$T_DIR/$n.crt" >/dev/null 2>&1 ||
		t_fail "$n.crt does not verify against ca.crt"
done
[ "$(stat -c %a "$T_DIR/display.key")" = 600 ] || t_fail "display.key is not mode 0600"
[ "$(stat -c %a "$T_DIR/broker1.key")" = 600 ] || t_fail "broker1.key is not mode 0600"

# --json never prints the private key (it is only in the file)
mkdir -p "$T_DIR/j"
expect_rc 0 kmsctl client add jsonkey
expect_rc 0 kmsctl --json cert issue jsonkey --generate --out-dir "$T_DIR/j"
grep -q 'PRIVATE KEY' "$T_DIR/out" && t_fail "cert issue --json printed the private key"
[ "$(jget 'd["serial"]' <"$T_DIR/out")" != "" ] || t_fail "cert issue --json: $(cat "$T_DIR/out")"
grep -q 'PRIVATE KEY' "$T_DIR/j/jsonkey.key" || t_fail "no key in jsonkey.key"

# a generated key is never overwritten, and nothing is issued then
expect_rc 4 kmsctl cert issue display --generate --out-dir "$T_DIR"
grep -q 'already exists' "$T_DIR/err" || t_fail "no clear message for an existing key: $(cat "$T_DIR/err")"
[ "$(kmsctl --json cert list display | jget 'len(d["items"])')" = 1 ] ||
	t_fail "a certificate was issued although the key could not be written"

expect_rc 0 kmsctl client list
grep -q '^broker1 *broker' "$T_DIR/out" || t_fail "client list: $(cat "$T_DIR/out")"
expect_rc 0 kmsctl client show sensor
grep -q '^certs *1$' "$T_DIR/out" || t_fail "client show: $(cat "$T_DIR/out")"

# --- a scheme-4 group ---------------------------------------------------------
# (a long grace: removing a grant rekeys, and the restart check below must not
# see the old epoch expire on a slow machine)
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4 --grace 3600
[ "$(epochs temps)" = "1:current 2:next" ] || t_fail "new group epochs: $(epochs temps)"
[ "$(kmsctl --json group show temps | jget 'd["scheme"]')" = 4 ] || t_fail "scheme not 4"

# --- no grant: nothing -------------------------------------------------------------
for n in sensor display; do
	expect_rc 0 keyreq $n
	[ -s "$T_DIR/out" ] && t_fail "$n got keys without a grant: $(cat "$T_DIR/out")"
done

# --- grants ---------------------------------------------------------------------
expect_rc 0 kmsctl grant add sensor temps pub
expect_rc 0 kmsctl grant add display temps sub
expect_rc 2 kmsctl grant add broker1 temps sub          # brokers take no grants
grep -q conflict "$T_DIR/err" || t_fail "broker grant: $(cat "$T_DIR/err")"
expect_rc 0 kmsctl grant list --group temps
[ "$(grep -c temps "$T_DIR/out")" = 2 ] || t_fail "grant list: $(cat "$T_DIR/out")"

# kinds per requester: "GROUP KIND EPOCH"
kinds() { awk '{print $1, $2, $3}' "$T_DIR/out" | sort | tr '\n' ' '; }
expect_rc 0 keyreq sensor
[ "$(kinds)" = "temps GK_P 1 temps GK_P 2 " ] || t_fail "publisher got: $(cat "$T_DIR/out")"
cp "$T_DIR/out" "$T_DIR/keys.sensor"
expect_rc 0 keyreq display
[ "$(kinds)" = "temps GK_B 1 temps GK_B 2 temps GK_P 1 temps GK_P 2 " ] ||
	t_fail "subscriber got: $(cat "$T_DIR/out")"
cp "$T_DIR/out" "$T_DIR/keys.display"
expect_rc 0 keyreq broker1
[ "$(kinds)" = "temps GK_B 1 temps GK_B 2 " ] || t_fail "broker got: $(cat "$T_DIR/out")"
cp "$T_DIR/out" "$T_DIR/keys.broker1"
# asking for one group by name gives the same
expect_rc 0 keyreq display --group temps
[ "$(kinds)" = "temps GK_B 1 temps GK_B 2 temps GK_P 1 temps GK_P 2 " ] ||
	t_fail "subscriber, --group temps: $(cat "$T_DIR/out")"

# the same keys reach everyone entitled to them, and GK_P != GK_B
hashes() { awk -v k="$2" '$2 == k {print $3, $6}' "$T_DIR/keys.$1" | sort; }
[ "$(hashes sensor GK_P)" = "$(hashes display GK_P)" ] || t_fail "GK_P differs between publisher and subscriber"
[ "$(hashes display GK_B)" = "$(hashes broker1 GK_B)" ] || t_fail "GK_B differs between subscriber and broker"
[ "$(hashes display GK_P)" != "$(hashes display GK_B)" ] || t_fail "GK_P equals GK_B"

# removing a grant stops delivery
expect_rc 0 kmsctl grant rm display temps sub
expect_rc 0 keyreq display
[ -s "$T_DIR/out" ] && t_fail "keys after grant rm: $(cat "$T_DIR/out")"
expect_rc 2 kmsctl grant rm display temps sub
grep -q not_found "$T_DIR/err" || t_fail "second grant rm: $(cat "$T_DIR/err")"
expect_rc 0 kmsctl grant add display temps sub

# update and JSON output
expect_rc 0 kmsctl group update temps --grace 7200
[ "$(kmsctl --json group show temps | jget 'd["grace_s"]')" = 7200 ] || t_fail "group update"

# --- audit: one JSON line per request, never a secret ----------------------------------
AUDIT="$KMS_DIR/audit.log"
[ -s "$AUDIT" ] || t_fail "no audit log at $AUDIT"
python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$AUDIT" ||
	t_fail "audit log lines are not all JSON"
for action in client.create cert.issue group.create grant.create grant.delete keys.fetch; do
	grep -q "\"action\": *\"$action\"" "$AUDIT" || t_fail "no $action in the audit log"
done
TOKEN=$(cat "$KMS_DIR/admin.token")
for f in "$AUDIT" "$T_DIR/kmsd.log"; do
	grep -q "$TOKEN" "$f" && t_fail "the admin token is in $f"
	grep -q "PRIVATE KEY" "$f" && t_fail "a private key is in $f"
done

# --- a restart keeps everything ----------------------------------------------------
kms_snapshot >"$T_DIR/before" || t_fail "snapshot"
for n in sensor display broker1; do keyreq $n | sort >"$T_DIR/k.$n.before"; done
kms_stop
kms_start
kms_snapshot >"$T_DIR/after" || t_fail "snapshot after restart"
diff -u "$T_DIR/before" "$T_DIR/after" >&2 || t_fail "state changed across a restart"
for n in sensor display broker1; do
	keyreq $n | sort >"$T_DIR/k.$n.after"
	cmp -s "$T_DIR/k.$n.before" "$T_DIR/k.$n.after" || t_fail "keys of $n changed across a restart"
done
# --- lists longer than one page (1000 items) ---------------------------------------------
python3 - "$KMS_URL" "$KMS_DIR/admin.token" >"$T_DIR/bulk.cfg" <<'PY'
import sys
url, token = sys.argv[1], open(sys.argv[2]).read().strip()
for i in range(1100):
    print("next" if i else "")
    print('url = "%s/v1/clients"' % url)
    print('header = "Authorization: Bearer %s"' % token)
    print('header = "Content-Type: application/json"')
    print('data = "{\\"name\\":\\"bulk%04d\\"}"' % i)
    print('output = "/dev/null"')
PY
curl -s -K "$T_DIR/bulk.cfg" || t_fail "bulk client creation"
expect_rc 0 kmsctl client list
[ "$(grep -c '^bulk' "$T_DIR/out")" = 1100 ] || t_fail "client list shows $(grep -c '^bulk' "$T_DIR/out") of 1100 bulk clients"
kmsctl --json client list >"$T_DIR/all.json" || t_fail "client list --json"
[ "$(jget 'sum(1 for i in d["items"] if i["name"].startswith("bulk"))' <"$T_DIR/all.json")" = 1100 ] ||
	t_fail "client list --json is not all pages"
[ "$(jget 'len(set(i["name"] for i in d["items"])) == len(d["items"]) == 1104' <"$T_DIR/all.json")" = True ] ||
	t_fail "paging repeated or lost items"
t_log "admin flow, grant rules, restart and paging ok"
exit 0
