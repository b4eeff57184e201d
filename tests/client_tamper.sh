#!/bin/bash
# A man in the middle between the broker and a subscriber: a flipped byte in
# a delivered message is dropped (never printed) with a reason naming topic,
# sender and group; every message delivered twice is printed once, the copy
# dropped by the replay window of the broker's frame.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need python3

cat >"$T_DIR/mitm.py" <<'PY'
# mitm.py PORT REALPORT MODE: relay one client to the broker; PUBLISH packets
# from the broker are altered: flip (last payload byte) or dup (sent twice).
import select, socket, sys

port, real, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(1)
print("ready", flush=True)
c, _ = ls.accept()
up = socket.create_connection(("127.0.0.1", real))
buf = b""

def packets():
    """Split complete MQTT packets off the front of buf."""
    global buf
    out = []
    while len(buf) >= 2:
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out
            b = buf[i]; i += 1
            n += (b & 0x7f) * mult; mult *= 128
            if not b & 0x80:
                break
        if len(buf) < i + n:
            return out
        out.append(buf[:i + n]); buf = buf[i + n:]
    return out

try:
    while True:
        r, _, _ = select.select([c, up], [], [], 30)
        if not r:
            break
        for s in r:
            d = s.recv(65536)
            if not d:
                raise EOFError
            if s is c:
                up.sendall(d)
                continue
            buf += d
            for p in packets():
                if p[0] >> 4 == 3:          # PUBLISH from the broker
                    if mode == "flip":
                        p = p[:-1] + bytes([p[-1] ^ 0x01])
                    elif mode == "dup":
                        c.sendall(p)
                c.sendall(p)
except Exception:
    pass
PY

setup_world 4 1

# mitm MODE: start the relay in front of the broker on MITM_PORT
mitm() {
	MITM_PORT=$(t_free_port)
	# empty the file first: the previous relay's "ready" must not count
	: >"$T_DIR/mitm.out"
	python3 "$T_DIR/mitm.py" "$MITM_PORT" "$MQTT_PORT" "$1" >"$T_DIR/mitm.out" 2>&1 &
	t_track $!
	wait_for "$T_DIR/mitm.out" ready || t_fail "relay did not start"
}

# 1. a flipped byte: nothing printed, each drop reported
mitm flip
# shellcheck disable=SC2046
"$SUB" $(client_args sub1) -p "$MITM_PORT" -d -t 'e2e/#' -q 1 -W 6 >"$T_DIR/flip.out" 2>"$T_DIR/flip.err" &
SUBP=$!
t_track "$SUBP"
wait_for "$T_DIR/flip.err" "subscribed to" || t_fail "subscriber behind the relay did not subscribe"
for i in 1 2 3; do expect_rc 0 pub pub -t e2e/t -q 1 -m "tampered $i"; done
wait_pid "$SUBP" 150
[ ! -s "$T_DIR/flip.out" ] || { cat "$T_DIR/flip.out" >&2; t_fail "a tampered message was printed"; }
n=$(grep -c "dropped a message on topic 'e2e/t' from '?' (group 'grp', epoch 1): the broker's frame MAC does not verify" "$T_DIR/flip.err")
[ "$n" -ge 3 ] || { cat "$T_DIR/flip.err" >&2; t_fail "tampered messages not reported ($n)"; }
t_log "3 tampered messages dropped and reported"

# 2. every message twice: printed once, the copies reported as replays
mitm dup
# shellcheck disable=SC2046
"$SUB" $(client_args sub1) -p "$MITM_PORT" -d -t 'e2e/#' -q 1 -W 6 >"$T_DIR/dup.out" 2>"$T_DIR/dup.err" &
SUBP=$!
t_track "$SUBP"
wait_for "$T_DIR/dup.err" "subscribed to" || t_fail "subscriber behind the relay did not subscribe"
for i in 1 2 3; do expect_rc 0 pub pub -t e2e/t -q 1 -m "twice $i"; done
wait_pid "$SUBP" 150
printf 'twice 1\ntwice 2\ntwice 3\n' | cmp -s - "$T_DIR/dup.out" ||
	{ cat "$T_DIR/dup.out" >&2; t_fail "duplicated messages were not printed exactly once"; }
# the copy is stopped by the window of the broker's GK_B frame (PROTOCOL.md
# section 5), before its envelope is looked at
n=$(grep -c "(group 'grp', epoch 1): the broker's frame is a duplicate or replay" "$T_DIR/dup.err")
[ "$n" -ge 3 ] || { cat "$T_DIR/dup.err" >&2; t_fail "frame replays not reported ($n)"; }
t_log "3 messages delivered twice: printed once, 3 frame replays reported"
exit 0
