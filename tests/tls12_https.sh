#!/bin/bash
# tls12_https.sh - issue 12: the KMS API over TLS.
#
# A real mqe2e-kmsd serving https:// with the server certificate it issued
# from its own CA at init; mqe2e-kmsctl, the broker plugin (real Mosquitto)
# and the client library (mqe2e-pub, mqe2e-sub) all talk to it through
# https:// URLs, verified with the CA file they already hold:
#   1. enrolment, policy and keys over https: a message goes from pub to sub;
#      a capture of the KMS port holds no HTTP in clear text;
#   2. the wrong CA: kmsctl, the client and the plugin refuse the KMS, and say
#      which URL and which CA file;
#   3. a server certificate that does not name the host is refused;
#      --renew-tls-cert issues one that does;
#   4. plain HTTP: the KMS refuses a non-loopback plain listener unless
#      allow_plain_http = yes; kmsctl never sends the admin token in clear
#      text off loopback, and the tools warn about a plain non-loopback URL.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need openssl

KMS_TLS=1
setup_world 3 1
case $KMS_URL in https://127.0.0.1:*) ;; *) t_fail "the KMS helper did not start https: $KMS_URL" ;; esac
expect_rc 0 kmsctl status
grep -q "^url  *$KMS_URL" "$T_DIR/out" || t_fail "kmsctl status: $(cat "$T_DIR/out")"
t_log "kmsctl: enrolment and status over $KMS_URL"

# --- 1. pub -> broker -> sub, every KMS exchange over https ------------------------------
cap=""
if command -v dumpcap >/dev/null 2>&1; then
	dumpcap -q -i lo -f "tcp port $KMS_PORT" -w "$T_DIR/kms.pcapng" >"$T_DIR/dumpcap.log" 2>&1 &
	cap=$!
	t_track "$cap"
	for _ in $(seq 1 50); do [ -s "$T_DIR/kms.pcapng" ] && break; sleep 0.1; done
fi
broker_stop
broker_start        # its first policy fetch inside the capture
sub_bg sub1 "$T_DIR/sub.out" -t 'e2e/#' -C 3 -W 30
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
for i in 1 2 3; do echo "hello $i over a TLS KMS"; done >"$T_DIR/expected"
pub pub -t e2e/tls/1 -l <"$T_DIR/expected" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub through the https KMS failed"; }
wait_pid "$SUB_PID" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 failed"; }
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || t_fail "sub1 got: $(cat "$T_DIR/sub.out")"
t_log "the plugin (policy, keys, CRL), mqe2e-pub and mqe2e-sub used $KMS_URL: 3 messages delivered"
if [ -n "$cap" ]; then
	sleep 0.3
	kill "$cap" 2>/dev/null
	wait "$cap" 2>/dev/null
	# what an observer of the KMS link sees: TLS records, no HTTP
	if grep -a -q -e 'POST /v1/' -e 'GET /v1/' -e 'HTTP/1.1 200' "$T_DIR/kms.pcapng"; then
		t_fail "HTTP in clear text on the KMS port"
	fi
	[ "$(stat -c %s "$T_DIR/kms.pcapng")" -gt 2000 ] || t_fail "the capture of the KMS port is empty"
	t_log "capture of the KMS port: $(stat -c %s "$T_DIR/kms.pcapng") bytes, no HTTP in clear text"
fi

# --- 2. the wrong CA ---------------------------------------------------------------------
openssl req -x509 -newkey ed25519 -nodes -keyout "$T_DIR/other.key" -out "$T_DIR/other-ca.crt" \
	-subj "/CN=mqe2e CA" -days 2 >/dev/null 2>&1 || t_fail "openssl: cannot make a CA"
MQE2E_KMS_CAFILE="$T_DIR/other-ca.crt" expect_rc 3 kmsctl status
grep -q "the KMS at $KMS_URL is not trusted" "$T_DIR/err" && grep -q "$T_DIR/other-ca.crt" "$T_DIR/err" ||
	t_fail "kmsctl with the wrong CA: $(cat "$T_DIR/err")"
t_log "kmsctl, wrong CA: $(cat "$T_DIR/err")"
# the client library: its CA file is both the KMS's and the broker's anchor
"$PUB" -h 127.0.0.1 -p "$MQTT_PORT" --cert "$PKI/pub.crt" --key "$PKI/pub.key" \
	--cafile "$T_DIR/other-ca.crt" --kms "$KMS_URL" --no-key-cache -t e2e/tls/1 -m x >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ "$rc" = 3 ] || t_fail "mqe2e-pub with the wrong CA: exit $rc, expected 3 (KMS): $(cat "$T_DIR/err")"
grep -q "the KMS at $KMS_URL is not trusted" "$T_DIR/err" && grep -q "$T_DIR/other-ca.crt" "$T_DIR/err" ||
	t_fail "mqe2e-pub with the wrong CA: $(cat "$T_DIR/err")"
t_log "mqe2e-pub, wrong CA: $(cat "$T_DIR/err")"
# the plugin: a second broker holding the wrong CA for its KMS
cp "$T_DIR/mosquitto.conf" "$T_DIR/mosquitto.good"
MQTT_PORT2=$(t_free_port)
sed -e "s|^listener $MQTT_PORT |listener $MQTT_PORT2 |" \
	-e "s|^plugin_opt_cafile .*|plugin_opt_cafile $T_DIR/other-ca.crt|" \
	"$T_DIR/mosquitto.good" >"$T_DIR/mosquitto2.conf"
env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/mosquitto2.conf" >"$T_DIR/mosquitto2.log" 2>&1 &
b2=$!
t_track "$b2"
wait_for "$T_DIR/mosquitto2.log" "is not trusted" 1 150 || t_fail "the plugin did not refuse the KMS certificate"
grep -q "$T_DIR/other-ca.crt" "$T_DIR/mosquitto2.log" || t_fail "the plugin's message does not name the CA file"
t_log "plugin, wrong CA: $(grep -m1 'is not trusted' "$T_DIR/mosquitto2.log" | cut -c1-300)"
kill "$b2"
wait "$b2" 2>/dev/null

# --- 3. host names and renewal --------------------------------------------------------
echo "tls_names = kms.example" >"$T_DIR/kmsd.conf"
"$KMSD" --config "$T_DIR/kmsd.conf" --data-dir "$KMS_DIR" --renew-tls-cert >"$T_DIR/renew.log" 2>&1 ||
	{ cat "$T_DIR/renew.log" >&2; t_fail "--renew-tls-cert failed"; }
grep -q "issued a new TLS server certificate for kms.example" "$T_DIR/renew.log" ||
	t_fail "renewal: $(cat "$T_DIR/renew.log")"
openssl x509 -in "$KMS_DIR/tls.crt" -noout -ext subjectAltName | grep -q "DNS:kms.example" ||
	t_fail "the renewed certificate does not name kms.example"
kms_stop
kms_start
expect_rc 3 kmsctl status
grep -q "not trusted" "$T_DIR/err" && grep -q "name this host" "$T_DIR/err" ||
	t_fail "a certificate for another name was accepted: $(cat "$T_DIR/err")"
t_log "a server certificate for kms.example at 127.0.0.1: refused"
"$KMSD" --data-dir "$KMS_DIR" --renew-tls-cert >"$T_DIR/renew.log" 2>&1 || t_fail "second renewal failed"
kms_stop
kms_start
expect_rc 0 kmsctl status
pub pub -t e2e/tls/1 -m "after renewal" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub after the renewal failed"; }
t_log "--renew-tls-cert with the default names: served again after a restart"

# --- 4. plain HTTP ------------------------------------------------------------------------
port=$(t_free_port)
timeout 20 "$KMSD" --data-dir "$T_DIR/kms2" --listen "http://0.0.0.0:$port" >"$T_DIR/plain.log" 2>&1
rc=$?
[ "$rc" = 1 ] || t_fail "a plain listener on 0.0.0.0 was not refused (exit $rc): $(cat "$T_DIR/plain.log")"
grep -q "is plain HTTP on an address that is not loopback" "$T_DIR/plain.log" &&
	grep -q "allow_plain_http" "$T_DIR/plain.log" || t_fail "refusal: $(cat "$T_DIR/plain.log")"
t_log "listen = http://0.0.0.0: refused"
echo "allow_plain_http = yes" >"$T_DIR/plain.conf"
"$KMSD" --config "$T_DIR/plain.conf" --data-dir "$T_DIR/kms2" --listen "http://0.0.0.0:$port" \
	>"$T_DIR/plain.log" 2>&1 &
p2=$!
t_track "$p2"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null || t_fail "allow_plain_http = yes: not serving"
grep -q "warning: listening on http://0.0.0.0:$port, which is not loopback" "$T_DIR/plain.log" ||
	t_fail "no warning with allow_plain_http: $(cat "$T_DIR/plain.log")"
kill "$p2"
wait "$p2" 2>/dev/null
t_log "listen = http://0.0.0.0 with allow_plain_http = yes: served, with a warning"
# HTTPS on any address needs no permission
"$KMSD" --data-dir "$T_DIR/kms2" --listen "https://0.0.0.0:$port" >"$T_DIR/plain.log" 2>&1 &
p2=$!
t_track "$p2"
for _ in $(seq 1 100); do
	curl -sf --cacert "$T_DIR/kms2/ca.crt" "https://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf --cacert "$T_DIR/kms2/ca.crt" "https://127.0.0.1:$port/v1/health" >/dev/null ||
	t_fail "https on 0.0.0.0: not serving: $(cat "$T_DIR/plain.log")"
kill "$p2"
wait "$p2" 2>/dev/null
# clients: the admin token never goes out in clear text, a plain URL off loopback is warned about
expect_rc 1 kmsctl --addr "http://192.0.2.1:7780" group list
grep -q "refusing to send the admin token in clear text to http://192.0.2.1:7780" "$T_DIR/err" ||
	t_fail "kmsctl sent (or tried to send) the token over plain http: $(cat "$T_DIR/err")"
expect_rc 3 kmsctl --addr "http://192.0.2.1:7780" --timeout 300 ca show
grep -q "warning: the KMS URL http://192.0.2.1:7780 is plain http://" "$T_DIR/err" ||
	t_fail "no warning for a plain URL off loopback: $(cat "$T_DIR/err")"
t_log "kmsctl: no admin token over plain http off loopback; a warning for such a URL"
exit 0
