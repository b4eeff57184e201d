#!/bin/bash
# fleet13_tls.sh - mqe2e over TLS MQTT listeners: mqe2e-pub and mqe2e-sub
# reach a real Mosquitto (with the plugin) on ssl:// and mqtts:// with the
# broker's TLS certificate checked against --tls-cafile (or tls_cafile in a
# configuration file), and with a TLS client certificate where the listener
# requires one.  The attacks fail with clear messages: a broker whose TLS
# certificate comes from another CA (a man in the middle), a certificate for
# another host name, a listener that wants a client certificate we lack.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need openssl

# --- a TLS PKI of its own, unrelated to the mqe2e CA -------------------------
TLS="$T_DIR/tls"
mkdir -p "$TLS"
mkcert() { # NAME CN CA-NAME [SAN]
	local ext="$TLS/$1.ext"
	: >"$ext"
	[ -n "${4:-}" ] && printf 'subjectAltName=%s\n' "$4" >"$ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$TLS/$1.key" -out "$TLS/$1.csr" 2>>"$TLS/openssl.log" &&
	openssl x509 -req -in "$TLS/$1.csr" -CA "$TLS/$3.crt" -CAkey "$TLS/$3.key" \
		-CAcreateserial -days 2 -extfile "$ext" -out "$TLS/$1.crt" 2>>"$TLS/openssl.log" ||
		{ cat "$TLS/openssl.log" >&2; t_fail "openssl: making $1.crt failed"; }
}
for ca in ca otherca; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=fleet13 TLS $ca" -keyout "$TLS/$ca.key" -out "$TLS/$ca.crt" \
		2>>"$TLS/openssl.log" || t_fail "openssl: making the $ca failed"
done
mkcert server localhost ca "DNS:localhost,IP:127.0.0.1"
mkcert other localhost otherca "DNS:localhost,IP:127.0.0.1"    # the impostor's
mkcert elsewhere elsewhere.example ca "DNS:elsewhere.example"  # right CA, other host
mkcert tlsclient tls-client ca
chmod 644 "$TLS"/*.key

# --- KMS, mqe2e PKI, a scheme 3 group, Mosquitto with four TLS listeners -----
TLS_PORT=$(t_free_port)     # server certificate from ca
MTLS_PORT=$(t_free_port)    # the same, and a TLS client certificate required
EVIL_PORT=$(t_free_port)    # server certificate from otherca
HOST_PORT=$(t_free_port)    # certificate of ca for elsewhere.example
BROKER_EXTRA_CONF="
listener $TLS_PORT 127.0.0.1
certfile $TLS/server.crt
keyfile $TLS/server.key
listener $MTLS_PORT 127.0.0.1
certfile $TLS/server.crt
keyfile $TLS/server.key
cafile $TLS/ca.crt
require_certificate true
listener $EVIL_PORT 127.0.0.1
certfile $TLS/other.crt
keyfile $TLS/other.key
listener $HOST_PORT 127.0.0.1
certfile $TLS/elsewhere.crt
keyfile $TLS/elsewhere.key"
setup_world 3 1
for p in $TLS_PORT $MTLS_PORT $EVIL_PORT $HOST_PORT; do
	t_wait_port "$p" || { cat "$T_DIR/mosquitto.log" >&2; t_fail "mosquitto did not listen on TLS port $p"; }
done

# The mqe2e identity of client NAME (not TLS).
ids() { echo "--cert $PKI/$1.crt --key $PKI/$1.key --cafile $PKI/ca.crt --kms $KMS_URL"; }
MSG="over TLS $(marker)"

# 1. ssl:// from the tools' flags: one message end to end, both over TLS.
# shellcheck disable=SC2046
"$SUB" $(ids sub1) -h localhost -p "$TLS_PORT" --tls-cafile "$TLS/ca.crt" -d -t 'e2e/#' -C 1 -W 30 \
	>"$T_DIR/s1.out" 2>"$T_DIR/s1.err" &
SPID=$!
t_track "$SPID"
wait_for "$T_DIR/s1.err" "subscribed to" || t_fail "mqe2e-sub over ssl:// did not subscribe"
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$TLS_PORT" --tls-cafile "$TLS/ca.crt" -q 1 -t e2e/tls -m "$MSG" \
	2>"$T_DIR/p1.err" || { cat "$T_DIR/p1.err" >&2; t_fail "mqe2e-pub over ssl:// failed"; }
wait_pid "$SPID" 300 || { cat "$T_DIR/s1.err" >&2; t_fail "mqe2e-sub over ssl:// did not receive"; }
[ "$(cat "$T_DIR/s1.out")" = "$MSG" ] || t_fail "over ssl:// the subscriber got '$(cat "$T_DIR/s1.out")'"
t_log "ssl:// with --tls-cafile: delivered end to end"

# 2. mqtts:// and the tls_* keys of a configuration file (libmqe2e(3)).
cat >"$T_DIR/pub.conf" <<EOF
broker mqtts://localhost:$TLS_PORT
tls_cafile $TLS/ca.crt
EOF
# shellcheck disable=SC2046
"$PUB" $(ids pub) --config "$T_DIR/pub.conf" -q 1 -t e2e/tls -m "by config" 2>"$T_DIR/p2.err" ||
	{ cat "$T_DIR/p2.err" >&2; t_fail "mqe2e-pub with broker mqtts:// and tls_cafile failed"; }
t_log "mqtts:// with tls_cafile in a configuration file: published"

# 3. TLS client authentication: refused without a client certificate, with
#    a message that says TLS failed; accepted with --tls-cert/--tls-key.
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$MTLS_PORT" --tls-cafile "$TLS/ca.crt" --timeout 30 -q 1 \
	-t e2e/tls -m x 2>"$T_DIR/p3.err"
rc=$?
[ "$rc" = 4 ] || { cat "$T_DIR/p3.err" >&2; t_fail "no TLS client certificate: exit $rc, want 4"; }
grep -q "TLS with the broker at ssl://localhost:$MTLS_PORT failed" "$T_DIR/p3.err" ||
	{ cat "$T_DIR/p3.err" >&2; t_fail "no TLS client certificate: the message does not say TLS failed"; }
t_log "no TLS client certificate: $(head -n 1 "$T_DIR/p3.err")"
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$MTLS_PORT" --tls-cafile "$TLS/ca.crt" \
	--tls-cert "$TLS/tlsclient.crt" --tls-key "$TLS/tlsclient.key" -q 1 -t e2e/tls -m y \
	2>"$T_DIR/p4.err" || { cat "$T_DIR/p4.err" >&2; t_fail "mqe2e-pub with a TLS client certificate failed"; }
t_log "TLS client certificate: accepted"

# 4. The attack: a broker (or a man in the middle) with a certificate from
#    another CA.  Refused before any MQTT byte, naming the reason.
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$EVIL_PORT" --tls-cafile "$TLS/ca.crt" --timeout 30 -q 1 \
	-t e2e/tls -m "$MSG" 2>"$T_DIR/p5.err"
rc=$?
[ "$rc" = 4 ] || { cat "$T_DIR/p5.err" >&2; t_fail "a broker certificate from another CA: exit $rc, want 4"; }
grep -q "certificate verify failed: the broker's TLS certificate is not signed by a CA in tls_cafile" \
	"$T_DIR/p5.err" || { cat "$T_DIR/p5.err" >&2; t_fail "wrong CA: the message does not say so"; }
t_log "wrong CA: $(head -n 1 "$T_DIR/p5.err")"
# Without tls_cafile the system's trust store is used: it does not hold our CA.
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$TLS_PORT" --tls-insecure --timeout 30 -q 1 -t e2e/tls -m x \
	2>"$T_DIR/p6.err"
rc=$?
{ [ "$rc" = 4 ] && grep -q "not signed by a CA the system trusts" "$T_DIR/p6.err"; } ||
	{ cat "$T_DIR/p6.err" >&2; t_fail "without tls_cafile a private CA was trusted (exit $rc)"; }
t_log "no tls_cafile: refused (the system's CAs do not vouch for the test CA)"

# 5. A certificate of the right CA for another host: refused unless
#    --tls-insecure, which skips the host name check only.
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$HOST_PORT" --tls-cafile "$TLS/ca.crt" --timeout 30 -q 1 \
	-t e2e/tls -m x 2>"$T_DIR/p7.err"
rc=$?
[ "$rc" = 4 ] || { cat "$T_DIR/p7.err" >&2; t_fail "a certificate for elsewhere.example was accepted for localhost (exit $rc)"; }
t_log "host name mismatch: $(head -n 1 "$T_DIR/p7.err")"
# shellcheck disable=SC2046
"$PUB" $(ids pub) -h localhost -p "$HOST_PORT" --tls-cafile "$TLS/ca.crt" --tls-insecure -q 1 \
	-t e2e/tls -m x 2>"$T_DIR/p8.err" ||
	{ cat "$T_DIR/p8.err" >&2; t_fail "--tls-insecure did not skip the host name check"; }
t_log "host name mismatch with --tls-insecure: accepted"

# 6. Mistakes caught before the network, naming the option and the file.
# shellcheck disable=SC2046
expect_rc 2 "$PUB" $(ids pub) -p "$TLS_PORT" --tls-cafile "$TLS/missing.crt" -t e2e/tls -m x
grep -q "tls_cafile $TLS/missing.crt: No such file or directory" "$T_DIR/err" ||
	t_fail "missing tls_cafile: $(cat "$T_DIR/err")"
# shellcheck disable=SC2046
expect_rc 2 "$PUB" $(ids pub) -p "$MTLS_PORT" --tls-cert "$TLS/tlsclient.crt" -t e2e/tls -m x
grep -q "tls_cert is set without tls_key" "$T_DIR/err" || t_fail "tls_cert alone: $(cat "$T_DIR/err")"
printf 'broker tcp://127.0.0.1:%s\ntls_cafile %s\n' "$MQTT_PORT" "$TLS/ca.crt" >"$T_DIR/bad.conf"
# shellcheck disable=SC2046
expect_rc 2 "$PUB" $(ids pub) --config "$T_DIR/bad.conf" -t e2e/tls -m x
grep -q "tls_cafile is set but broker URI 'tcp://127.0.0.1:$MQTT_PORT' is not TLS" "$T_DIR/err" ||
	t_fail "tls_cafile with tcp://: $(cat "$T_DIR/err")"
t_log "option mistakes: refused before connecting, naming the option and the file"

# 7. The Python binding over TLS: broker ssl:// and tls_cafile are options
#    like any other; connect(host, port) keeps the scheme.
LIB="$top_builddir/client/.libs/libmqe2e.so"
if python3 -c 'import ctypes' 2>/dev/null && [ -e "$LIB" ]; then
	# shellcheck disable=SC2046
	"$SUB" $(ids sub1) -h localhost -p "$TLS_PORT" --tls-cafile "$TLS/ca.crt" -d -t 'e2e/#' -C 1 -W 30 \
		>"$T_DIR/s9.out" 2>"$T_DIR/s9.err" &
	SPID=$!
	t_track "$SPID"
	wait_for "$T_DIR/s9.err" "subscribed to" || t_fail "mqe2e-sub over ssl:// did not subscribe (python part)"
	# shellcheck disable=SC2046
	env $(t_san_preload) PYTHONPATH="$top_srcdir/python" PYTHONDONTWRITEBYTECODE=1 MQE2E_LIBRARY="$LIB" \
		python3 - "$PKI" "$KMS_URL" "$TLS/ca.crt" "$TLS_PORT" >"$T_DIR/py.out" 2>&1 <<'PY' ||
import sys, mqe2e
pki, kms, tls_ca, port = sys.argv[1:5]
with mqe2e.Client(None, cert=f"{pki}/pub.crt", key=f"{pki}/pub.key", cafile=f"{pki}/ca.crt",
                  kms=kms, broker="ssl://localhost:1", tls_cafile=tls_ca) as c:
    c.connect(port=int(port))
    c.publish("e2e/tls", b"from python over TLS", qos=1)
PY
		{ cat "$T_DIR/py.out" >&2; t_fail "the Python binding over ssl:// failed"; }
	wait_pid "$SPID" 300 || { cat "$T_DIR/s9.err" >&2; t_fail "the message from Python did not arrive"; }
	[ "$(cat "$T_DIR/s9.out")" = "from python over TLS" ] || t_fail "from Python: got '$(cat "$T_DIR/s9.out")'"
	t_log "Python binding: broker ssl:// with tls_cafile, connect(port=...) kept TLS: delivered"
fi
