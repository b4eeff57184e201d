#!/bin/bash
# kms9_small.sh - issue 9 item 16, the small side doors of mqe2e-kmsd:
#   - "days": 4294967306 (2^32 + 10) is refused, not truncated to a 10-day
#     certificate;
#   - a request with two different Content-Length headers is refused (400),
#     so a proxy in front and the KMS cannot disagree on where it ends;
#   - an initialised data directory that group/others may enter, or an
#     admin.token / master.key that they may read, stops the daemon at
#     start with a message naming the file and the fix; a new (empty) data
#     directory made with the umask's 0755 is set to 0700.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
TOKEN=$(cat "$KMS_DIR/admin.token")
expect_rc 0 kmsctl client add dev1 --kind client

# --- days out of range: refused, nothing issued ------------------------------------
got=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' -d '{"generate":true,"days":4294967306}' \
	"$KMS_URL/v1/clients/dev1/certs")
[ "$got" = 400 ] || t_fail "days=4294967306: HTTP $got, expected 400: $(cat "$T_DIR/body")"
grep -q 'days must be from 1 to 3650' "$T_DIR/body" || t_fail "days: message $(cat "$T_DIR/body")"
n=$(kmsctl --json cert list dev1 | jget 'len(d["items"])')
[ "$n" = 0 ] || t_fail "a certificate was issued for days=4294967306 ($n)"
# the bound itself still works
got=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' -d '{"generate":true,"days":3650}' \
	"$KMS_URL/v1/clients/dev1/certs")
[ "$got" = 201 ] || t_fail "days=3650: HTTP $got: $(cat "$T_DIR/body")"

# --- two different Content-Length headers -------------------------------------------
# raw REQUEST BYTES: the status line the KMS answers (or "closed").
raw() {
	python3 - "$KMS_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except socket.timeout:
    pass
print(data.split(b"\r\n", 1)[0].decode() if data else "closed")
print(data.decode("latin-1"), file=sys.stderr)
PY
}
body='{"name":"smuggled","kind":"client"}'
req="POST /v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n$body"
line=$(raw "$req" 2>"$T_DIR/raw.err")
case $line in
*" 400 "*) ;;
*) t_fail "two Content-Length headers: '$line', expected 400: $(cat "$T_DIR/raw.err")" ;;
esac
grep -q 'Content-Length headers with different values' "$T_DIR/raw.err" ||
	t_fail "no clear message: $(cat "$T_DIR/raw.err")"
expect_rc 2 kmsctl client show smuggled
# the same length twice is tolerated (RFC 9110 8.6)
body='{"name":"twice","kind":"client"}'
req="POST /v1/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\nContent-Length: ${#body}\r\nConnection: close\r\n\r\n$body"
line=$(raw "$req" 2>"$T_DIR/raw.err")
case $line in
*" 201 "*) ;;
*) t_fail "the same Content-Length twice: '$line': $(cat "$T_DIR/raw.err")" ;;
esac
kms_stop

# --- modes of the data directory and its secrets --------------------------------------
# refused START_ARGS: the daemon must exit non-zero at start, naming $1 and the fix $2.
refused() {
	local what=$1 fix=$2 rc
	: >"$T_DIR/start.log"
	timeout 20 "$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$KMS_DIR" \
		--listen "127.0.0.1:$KMS_PORT" >"$T_DIR/start.log" 2>&1
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] || t_fail "mqe2e-kmsd started (rc $rc) with $what: $(cat "$T_DIR/start.log")"
	grep -q "$what" "$T_DIR/start.log" || t_fail "the refusal does not name $what: $(cat "$T_DIR/start.log")"
	grep -q "$fix" "$T_DIR/start.log" || t_fail "the refusal does not say '$fix': $(cat "$T_DIR/start.log")"
}
chmod 755 "$KMS_DIR"
refused "$KMS_DIR" "chmod 700"
chmod 700 "$KMS_DIR"
chmod 644 "$KMS_DIR/admin.token"
refused "$KMS_DIR/admin.token" "chmod 600"
chmod 600 "$KMS_DIR/admin.token"
chmod 640 "$KMS_DIR/master.key"
refused "$KMS_DIR/master.key" "chmod 600"
chmod 600 "$KMS_DIR/master.key"
# fixed: it starts again
"$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT" >>"$T_DIR/kmsd.log" 2>&1 &
KMS_PID=$!
t_track $KMS_PID
t_wait_port "$KMS_PORT" || t_fail "the KMS did not start after the modes were fixed: $(tail -5 "$T_DIR/kmsd.log")"
kms_stop

# a new, empty data directory made 0755 (umask 022) is set to 0700 and used
fresh="$T_DIR/fresh"
mkdir -m 755 "$fresh"
port2=$(t_free_port)
kms_new_db
"$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$fresh" --listen "127.0.0.1:$port2" >"$T_DIR/fresh.log" 2>&1 &
pid2=$!
t_track $pid2
t_wait_port "$port2" || t_fail "a fresh 0755 data dir was refused: $(cat "$T_DIR/fresh.log")"
mode=$(stat -c %a "$fresh")
[ "$mode" = 700 ] || t_fail "fresh data dir left at mode $mode"
grep -q "mode 700" "$T_DIR/fresh.log" || t_fail "the mode change is not logged: $(cat "$T_DIR/fresh.log")"
kill $pid2
echo "# kms9_small: days, Content-Length and file modes refused as expected"
exit 0
