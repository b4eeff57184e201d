#!/bin/bash
# The client refuses a broker whose CONNACK does not verify: no mqe2e reply
# at all, a malformed one, and a genuine reply of the real broker replayed
# into another connection (bound to another CONNECT_HELLO).  A small Python
# stand-in plays the broker (or a man in the middle in front of the real one).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need python3

cat >"$T_DIR/fake.py" <<'PY'
# fake.py PORT MODE [ARG...]: answer one MQTT 5 CONNECT, then hold the link.
#   plain                 CONNACK success without authentication properties
#   garbage               CONNACK with method mqe2e-v1 and junk data
#   record REALPORT FILE  relay to the real broker, save its CONNACK auth data
#   replay FILE           CONNACK with method mqe2e-v1 and the saved data
import socket, sys

def varint(n):
    out = b""
    while True:
        b = n % 128; n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def read_packet(s):
    h = s.recv(1)
    if not h:
        return None
    mult, n = 1, 0
    raw = b""
    while True:
        b = s.recv(1)[0]; raw += bytes([b])
        n += (b & 0x7f) * mult; mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return h + raw + body, h[0], body

def connack(auth_data):
    props = b""
    if auth_data is not None:
        props += b"\x15" + len(b"mqe2e-v1").to_bytes(2, "big") + b"mqe2e-v1"
        props += b"\x16" + len(auth_data).to_bytes(2, "big") + auth_data
    body = b"\x00\x00" + varint(len(props)) + props
    return b"\x20" + varint(len(body)) + body

def auth_data_of(body):
    # CONNACK: flags, reason, varint property length, properties
    i, n, mult = 2, 0, 1
    while True:
        b = body[i]; i += 1
        n += (b & 0x7f) * mult; mult *= 128
        if not b & 0x80:
            break
    end = i + n
    while i < end:
        pid = body[i]; i += 1
        if pid in (0x15, 0x16, 0x1f, 0x12, 0x1a, 0x1c):
            ln = int.from_bytes(body[i:i + 2], "big"); val = body[i + 2:i + 2 + ln]; i += 2 + ln
            if pid == 0x16:
                return val
        elif pid in (0x11, 0x27):
            i += 4
        elif pid in (0x21, 0x22, 0x13):
            i += 2
        elif pid == 0x26:
            for _ in range(2):
                ln = int.from_bytes(body[i:i + 2], "big"); i += 2 + ln
        else:
            i += 1
    return None

port, mode = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1)
print("ready", flush=True)
c, _ = ls.accept()
pkt = read_packet(c)
if mode == "plain":
    c.sendall(connack(None))
elif mode == "garbage":
    c.sendall(connack(b"\x01\x02 this is not a CONNACK_REPLY"))
elif mode == "replay":
    c.sendall(connack(open(sys.argv[3], "rb").read()))
elif mode == "record":
    up = socket.create_connection(("127.0.0.1", int(sys.argv[3])))
    up.sendall(pkt[0])
    reply = read_packet(up)
    open(sys.argv[4], "wb").write(auth_data_of(reply[2]))
    c.sendall(reply[0])
    c.settimeout(5); up.settimeout(5)
    try:   # relay until either side closes
        import select
        while True:
            r, _, _ = select.select([c, up], [], [], 5)
            if not r:
                break
            for s in r:
                d = s.recv(65536)
                if not d:
                    raise EOFError
                (up if s is c else c).sendall(d)
    except Exception:
        pass
    up.close()
c.settimeout(5)
try:
    while c.recv(4096):
        pass
except Exception:
    pass
PY

setup_world 4 1

# fake MODE...: start the stand-in on FAKE_PORT
fake() {
	FAKE_PORT=$(t_free_port)
	# empty the file first: the previous stand-in's "ready" must not count
	: >"$T_DIR/fake.out"
	python3 "$T_DIR/fake.py" "$FAKE_PORT" "$@" >"$T_DIR/fake.out" 2>&1 &
	t_track $!
	wait_for "$T_DIR/fake.out" ready || t_fail "fake broker did not start"
}

fake plain
expect_rc 4 pub pub -t e2e/a -m x -p "$FAKE_PORT" --timeout 5
grep -q "without the mqe2e-v1 handshake" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "a CONNACK without the handshake was not refused clearly"; }

fake garbage
expect_rc 4 pub pub -t e2e/a -m x -p "$FAKE_PORT" --timeout 5
grep -q "failed the mqe2e handshake" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "a malformed CONNACK_REPLY was not refused"; }

# a genuine reply of the real broker, recorded through a relay...
fake record "$MQTT_PORT" "$T_DIR/reply.bin"
expect_rc 0 pub pub -t e2e/a -q 1 -m "through the relay" -p "$FAKE_PORT" --timeout 5
[ -s "$T_DIR/reply.bin" ] || t_fail "the relay did not record the CONNACK reply"
# ...does not verify for another connection
fake replay "$T_DIR/reply.bin"
expect_rc 4 pub pub -t e2e/a -m x -p "$FAKE_PORT" --timeout 5
grep -q "failed the mqe2e handshake" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "a replayed CONNACK_REPLY was accepted"; }
t_log "refused: no handshake, malformed reply, replayed reply ($(sed 's/.*handshake: //' "$T_DIR/err"))"
exit 0
