#!/bin/bash
# Issue 15, readiness: libmqe2e shares one CA trust - and the certificates it
# verified - between the clients of a process whose CA certificate is the
# same, so the broker's certificate is verified once per process instead of
# once per connect.  The sharing must change no answer (tests/conn15_trust.c:
# the clients of one process connect one after another and stay up):
#  - a client whose CA file is a copy of the CA under another name comes up
#    beside the first (the same certificate: the same trust);
#  - the attack: a client of the same process whose CA file anchors on
#    another CA is refused because of the broker's certificate, after its
#    siblings verified that certificate under the real CA.  Its keys come
#    from its key cache (no KMS reachable), so the broker's certificate is
#    the one thing its CA is asked about;
#  - the same client with the real CA, again from its cache, comes up after
#    that refusal (a refusal is not remembered against the good trust), as
#    does a fourth client with the real CA.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

PROG="$top_builddir/tests/conn15_trust"
[ -x "$PROG" ] || t_skip "conn15_trust not built"
setup_world 4 4

cp "$PKI/ca.crt" "$T_DIR/ca-copy.crt"
openssl genpkey -algorithm ed25519 -out "$T_DIR/other-ca.key" 2>/dev/null ||
	t_fail "openssl could not make a key"
openssl req -x509 -key "$T_DIR/other-ca.key" -subj /CN=other -days 2 -out "$T_DIR/other-ca.crt" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
	t_fail "openssl could not make a CA"
URI="tcp://127.0.0.1:$MQTT_PORT"

run() {
	"$PROG" "$URI" "$KMS_URL" "$PKI" "$@" >"$T_DIR/clients.out" 2>"$T_DIR/clients.err" &
	PID=$!
	t_track "$PID"
	wait_pid "$PID" 900
	rc=$?
	cat "$T_DIR/clients.out"
	[ "$rc" -eq 0 ] || { cat "$T_DIR/clients.err" >&2; t_fail "conn15_trust $* exited $rc"; }
}

# sub3 leaves its key cache (written when the client is freed)
run "sub3:$PKI/ca.crt:up:cache"
[ -s "$PKI/sub3.key.cache" ] || t_fail "sub3 wrote no key cache"

run "sub1:$PKI/ca.crt:up" "sub2:$T_DIR/ca-copy.crt:up" \
	"sub3:$T_DIR/other-ca.crt:refused:nokms" "sub3:$PKI/ca.crt:up:nokms" "sub4:$PKI/ca.crt:up"
[ "$(grep -c '^up sub[1-4]$' "$T_DIR/clients.out")" -eq 4 ] || t_fail "not every client with the real CA came up"
line=$(grep "^refused sub3: " "$T_DIR/clients.out") || t_fail "sub3 with another CA was not refused"
case $line in
*"broker"*certificate*|*certificate*"broker"*) ;;
*) t_fail "sub3's refusal does not name the broker's certificate: $line" ;;
esac
t_log "same CA under two names: both up; another CA in the same process: refused by the broker certificate"
exit 0
