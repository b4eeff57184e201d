#!/bin/bash
# ops_certs.sh - certificates, not only clients, against a real KMS, a
# real Mosquitto with the plugin and real mqe2e-sub/pub:
#   cert renew: a device renews with a CSR signed by its current key and no
#     admin token; a CSR with any other key is refused;
#   cert expiring: lists the clients whose newest certificate ends soon;
#   cert revoke: a lost key is revoked in every certificate holding it (the
#     renewed one too): the broker cuts the connection, the KMS and the
#     broker refuse the key, the group is rekeyed, but the client id, its
#     grants and a certificate for a new key keep working.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
TOKEN_FILE=$MQE2E_KMS_TOKEN_FILE
args() { echo "-h 127.0.0.1 -p $MQTT_PORT --cert $1 --key $2 --cafile $PKI/ca.crt --kms $KMS_URL"; }

# 1. Renewal from a CSR signed with the current key, no admin token; the
# KMS creates the missing output directory.
openssl req -new -key "$PKI/sub1.key" -subj "/CN=sub1" -out "$T_DIR/sub1.csr" 2>/dev/null
unset MQE2E_KMS_TOKEN_FILE
expect_rc 0 kmsctl cert renew sub1 --csr "$T_DIR/sub1.csr" --out-dir "$T_DIR/renewed"
[ -s "$T_DIR/renewed/sub1.crt" ] || t_fail "cert renew wrote no certificate"
A=$(kmsctl --token-file "$TOKEN_FILE" --json cert list sub1 | jget 'd["items"][0]["serial"]')
B=$(kmsctl --token-file "$TOKEN_FILE" --json cert list sub1 | jget 'd["items"][1]["serial"]')
[ "$A" != "$B" ] || t_fail "the renewed certificate has the old serial"
grep -q "renews *$A" "$T_DIR/out" || { cat "$T_DIR/out" >&2; t_fail "cert renew does not name the certificate it renews"; }
# Another key - an attacker's, or another client's - is refused.
openssl genpkey -algorithm ed25519 -out "$T_DIR/evil.key" 2>/dev/null
openssl req -new -key "$T_DIR/evil.key" -subj "/CN=sub1" -out "$T_DIR/evil.csr" 2>/dev/null
expect_rc 2 kmsctl cert renew sub1 --csr "$T_DIR/evil.csr" --out-dir "$T_DIR/evil"
grep -q "not the key of a live certificate of 'sub1'" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "renewal with a foreign key: wrong message"; }
openssl req -new -key "$PKI/pub.key" -subj "/CN=sub1" -out "$T_DIR/pub.csr" 2>/dev/null
expect_rc 2 kmsctl cert renew sub1 --csr "$T_DIR/pub.csr" --out-dir "$T_DIR/evil"
export MQE2E_KMS_TOKEN_FILE=$TOKEN_FILE
t_log "renewal: same key accepted without a token ($A -> $B), other keys refused"

# The renewed certificate works end to end.
# shellcheck disable=SC2046
"$SUB" $(args "$T_DIR/renewed/sub1.crt" "$PKI/sub1.key") -t 'e2e/#' -q 1 -d \
	>"$T_DIR/s1.out" 2>"$T_DIR/s1.err" &
S1=$!
t_track "$S1"
sleep 1.5
# shellcheck disable=SC2046
"$PUB" $(args "$PKI/pub.crt" "$PKI/pub.key") -t e2e/a -m before -q 1 || t_fail "publish failed"
wait_for "$T_DIR/s1.out" '^before$' || t_fail "the renewed certificate did not receive"

# 2. Expiring certificates: a client whose only certificate ends in a day.
expect_rc 0 kmsctl client add short
expect_rc 0 kmsctl cert issue short --generate --days 1 --out-dir "$T_DIR"
expect_rc 0 kmsctl --json cert expiring --days 2
[ "$(jget '[i["client"] for i in d["items"]]' <"$T_DIR/out")" = '["short"]' ] ||
	{ cat "$T_DIR/out" >&2; t_fail "cert expiring --days 2 should list exactly 'short'"; }
expect_rc 0 kmsctl --json cert expiring --days 0
[ "$(jget 'len(d["items"])' <"$T_DIR/out")" = 0 ] || t_fail "cert expiring --days 0 lists live certificates"
openssl req -new -key "$T_DIR/short.key" -subj "/CN=short" -out "$T_DIR/short.csr" 2>/dev/null
expect_rc 0 kmsctl cert renew short --csr "$T_DIR/short.csr" --days 90 --out-dir "$T_DIR/short2"
expect_rc 0 kmsctl --json cert expiring --days 2
[ "$(jget 'len(d["items"])' <"$T_DIR/out")" = 0 ] || t_fail "a renewed client is still listed as expiring"
expect_rc 0 kmsctl cert expiring --days 400
grep -q "^short " "$T_DIR/out" && grep -q "^sub1 " "$T_DIR/out" || { cat "$T_DIR/out" >&2; t_fail "cert expiring table"; }
t_log "expiring: lists a client whose newest certificate ends soon, not once it is renewed"

# --key-group: a key another user (Mosquitto's) reads through its group.
grp=$(id -gn)
[ "$(id -u)" = 0 ] && getent group daemon >/dev/null && grp=daemon
expect_rc 0 kmsctl client add b2 --kind broker
expect_rc 0 kmsctl cert issue b2 --generate --key-group "$grp" --out-dir "$T_DIR/etc-b2"
[ "$(stat -c '%a %G' "$T_DIR/etc-b2/b2.key")" = "640 $grp" ] ||
	t_fail "--key-group $grp gave $(stat -c '%a %G' "$T_DIR/etc-b2/b2.key")"
expect_rc 1 kmsctl cert issue b2 --generate --key-group no-such-group-xyz --out-dir "$T_DIR/x"

# 3. Revoke the lost key by its first serial: both certificates with it go.
before=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
expect_rc 0 kmsctl --json cert revoke sub1 "$A" --reason "lost device"
[ "$(jget 'sorted(d["revoked_serials"])' <"$T_DIR/out")" = "$(python3 -c "import json; print(json.dumps(sorted(['$A', '$B'])))")" ] ||
	{ cat "$T_DIR/out" >&2; t_fail "cert revoke did not revoke both certificates of the key"; }
[ "$(jget 'd["rekeyed_groups"]' <"$T_DIR/out")" = '["grp"]' ] || t_fail "grp was not rekeyed"
after=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
[ "$after" -gt "$before" ] || t_fail "the group epoch did not move ($before -> $after)"
# The client is not retired: not revoked, grants kept.
[ "$(kmsctl --json client show sub1 | jget 'd["revoked"]')" = False ] || t_fail "the client was revoked"
kmsctl --json grant list | jget '[g["client"] for g in d["items"]]' | grep -q sub1 || t_fail "sub1's grant is gone"
# The broker cut the live connection of the revoked certificate ...
for _ in $(seq 1 100); do grep -q "disconnecting revoked client 'sub1'" "$T_DIR/mosquitto.log" && break; sleep 0.1; done
grep -q "disconnecting revoked client 'sub1'" "$T_DIR/mosquitto.log" || { tail "$T_DIR/mosquitto.log" >&2; t_fail "the broker kept the revoked certificate connected"; }
kill "$S1" 2>/dev/null; wait "$S1" 2>/dev/null
# ... and the key gets nothing any more, with either certificate.
for crt in "$PKI/sub1.crt" "$T_DIR/renewed/sub1.crt"; do
	# shellcheck disable=SC2046
	"$SUB" $(args "$crt" "$PKI/sub1.key") -t 'e2e/#' -E --timeout 3 >/dev/null 2>"$T_DIR/r.err" &&
		t_fail "a revoked certificate still subscribes ($crt)"
done
openssl req -new -key "$PKI/sub1.key" -subj "/CN=sub1" -out "$T_DIR/sub1b.csr" 2>/dev/null
expect_rc 2 kmsctl cert renew sub1 --csr "$T_DIR/sub1b.csr" --out-dir "$T_DIR/again"
expect_rc 2 kmsctl cert revoke sub1 "$A"
grep -q "already revoked" "$T_DIR/err" || t_fail "a second revoke: wrong message"

# 4. The same client id with a new key: no new grant needed.
expect_rc 0 kmsctl cert issue sub1 --generate --out-dir "$T_DIR/newkey"
# shellcheck disable=SC2046
"$SUB" $(args "$T_DIR/newkey/sub1.crt" "$T_DIR/newkey/sub1.key") -t 'e2e/#' -q 1 -C 1 -W 20 \
	>"$T_DIR/s2.out" 2>"$T_DIR/s2.err" &
S2=$!
t_track "$S2"
sleep 1.5
# shellcheck disable=SC2046
"$PUB" $(args "$PKI/pub.crt" "$PKI/pub.key") -t e2e/a -m after -q 1 || t_fail "publish after the revoke failed"
wait_pid "$S2" 200 || { cat "$T_DIR/s2.err" >&2; t_fail "the new key of sub1 did not receive"; }
grep -qx after "$T_DIR/s2.out" || t_fail "the new key of sub1 got '$(cat "$T_DIR/s2.out")'"
curl -s "$KMS_URL/metrics" | python3 "$top_srcdir/tests/prom_check.py" - >"$T_DIR/samples" || t_fail "metrics"
grep -qx 'mqe2e_kms_revocations_total{what="certificate"} 1' "$T_DIR/samples" || t_fail "revocation not counted"
t_log "revoked key $A (+ renewal $B): cut off, refused, group rekeyed $before -> $after; sub1 kept its id and grant and works with a new key"
exit 0
