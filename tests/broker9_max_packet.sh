#!/bin/bash
# broker9_max_packet.sh - issue 9.5: unauthenticated memory.  Mosquitto
# allocates the remaining length a packet announces before any plugin sees
# it; four CONNECTs announcing 200 MiB each used to take the broker from 9
# to 805 MiB RSS.  The shipped example configuration
# (deploy/mosquitto-mqe2e.example.in) caps it with max_packet_size; this test
# runs Mosquitto + mqe2e_plugin.so with that very line, sends the four
# CONNECTs (and 16 MiB of body each), and checks, while the attacker holds
# its connections, that the broker's RSS did not grow and that it serves.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

mk_ca ca
mk_leaf ca broker1 broker
limit=$(grep '^max_packet_size ' "$top_srcdir/deploy/mosquitto-mqe2e.example.in")
[ -n "$limit" ] || t_fail "deploy/mosquitto-mqe2e.example.in sets no max_packet_size"
mosq_conf "kms_url http://127.0.0.1:$(t_free_port)" "cert $T_DIR/broker1.crt" \
	"key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
# the shipped line, not the test library's own
sed -i '/^max_packet_size /d' "$T_DIR/mosquitto.conf"
sed -i "1i $limit" "$T_DIR/mosquitto.conf"
sed -i 's/^log_type all$/log_type error/' "$T_DIR/mosquitto.conf"
mosq_start

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MOSQ_PID/status"; }
before=$(rss)
cat >"$T_DIR/attack.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
announced = 200 * 1024 * 1024
hdr = bytearray([0x10])
n = announced
while True:
    b = n % 128
    n //= 128
    hdr.append(b | (0x80 if n else 0))
    if not n:
        break
socks = []
for _ in range(4):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(bytes(hdr))
    socks.append(s)
chunk = b"\0" * 65536
sent = [0] * 4
for _ in range(256):                     # 16 MiB per connection
    for i, s in enumerate(socks):
        if s is None:
            continue
        try:
            s.sendall(chunk)
            sent[i] += len(chunk)
        except OSError:
            socks[i] = None
print("# attacker: sent %s bytes on 4 connections announcing %d MiB each; %d still open" %
      (sent, announced >> 20, sum(1 for s in socks if s is not None)), flush=True)
time.sleep(60)                           # hold them while the broker is measured
PY
python3 "$T_DIR/attack.py" "$MOSQ_PORT" >"$T_DIR/attack.out" 2>&1 &
ATTACK=$!
t_track "$ATTACK"
for i in $(seq 1 300); do grep -q "^# attacker" "$T_DIR/attack.out" && break; sleep 0.1; done
grep -q "^# attacker" "$T_DIR/attack.out" || { cat "$T_DIR/attack.out" >&2; t_fail "attacker failed"; }
sleep 1
cat "$T_DIR/attack.out"
after=$(rss)
kill "$ATTACK" 2>/dev/null
t_log "$limit: RSS ${before} kB before, ${after} kB after four CONNECTs announcing 200 MiB"
[ $((after - before)) -lt 16384 ] || t_fail "RSS grew by $(( (after - before) / 1024 )) MiB"
# still serving: a CONNECT gets its CONNACK (0x87: no policy yet, the KMS is down)
probe connect broker1 >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
mosq_stop
exit 0
