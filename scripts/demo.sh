#!/bin/bash
# The mqe2e demo (README's first command).  As root on a fresh Debian 12
# machine: installs the packages, builds, then on loopback only
#   - starts mqe2e-kmsd with a fresh data dir,
#   - enrols a broker, a publisher and a subscriber (certificates from the KMS CA),
#   - creates a scheme-4 topic group and grants,
#   - starts a stock Mosquitto loading mqe2e_plugin.so,
#   - sends messages with mqe2e-pub and shows, side by side, what mqe2e-sub
#     reads and what a plain mosquitto_sub (the curious broker's view) sees,
#   - flips one byte of a publish on the wire and shows the broker drop it,
#   - revokes the subscriber live and shows the cut-off,
#   - searches a loopback capture of the whole run and the broker's
#     persistence file for the plaintext (and finds none),
# in well under a minute after the build, and cleans everything up.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${MQE2E_BUILD_DIR:-$SRC/build-demo}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
	say "installing Debian packages (scripts/install-deps.sh)"
	sh scripts/install-deps.sh
fi

say "building into $BUILD"
if [ ! -x "$BUILD/kmsd/mqe2e-kmsd" ] || [ ! -x "$BUILD/client/mqe2e-pub" ]; then
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p "$BUILD"
	(cd "$BUILD" && "$SRC/configure" >/dev/null && make -j"$(nproc)" >/dev/null)
fi
for f in kmsd/mqe2e-kmsd kmsctl/mqe2e-kmsctl client/mqe2e-pub client/mqe2e-sub broker-ext/.libs/mqe2e_plugin.so; do
	[ -e "$BUILD/$f" ] || { echo "demo.sh: $BUILD/$f was not built; the demo needs it" >&2; exit 1; }
done

D=$(mktemp -d /tmp/mqe2e-demo.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$D"
	echo "(demo cleaned up: processes stopped, $D removed)"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
T0=$(date +%s.%N)

KMS_PORT=$(port); MQTT_PORT=$(port); RELAY_PORT=$(port)
KMS=http://127.0.0.1:$KMS_PORT
ctl() { "$BUILD/kmsctl/mqe2e-kmsctl" --addr "$KMS" --token-file "$D/kms/admin.token" "$@"; }
# every mqe2e client names the broker (plugin_opt_require_broker_id below)
pki() { echo "--cert $D/pki/$1.crt --key $D/pki/$1.key --cafile $D/pki/ca.crt --kms $KMS --broker-id broker"; }

# A capture of every loopback packet of the run (root: an AF_PACKET socket
# on lo, no tools needed), searched for the plaintext at the end.
CAPTURE=""
if [ "$(id -u)" -eq 0 ]; then
	python3 - "$D/lo.cap" "$MQTT_PORT" "$RELAY_PORT" <<'PY' &
# Keep the IPv4 TCP packets to or from the broker and the relay (the machine
# may carry other loopback traffic).
import socket, struct, sys
ports = {int(p) for p in sys.argv[2:]}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("lo", 0))
with open(sys.argv[1], "wb", buffering=0) as out:
    while True:
        f = s.recv(65535)
        ip = f[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        if len(tcp) >= 4 and (set(struct.unpack("!HH", tcp[:4])) & ports):
            out.write(f)
PY
	CAPTURE=$!
	PIDS="$PIDS $CAPTURE"
fi

say "starting the key service: mqe2e-kmsd on $KMS (data in $D/kms)"
mkdir -p "$D/kms" "$D/pki"
"$BUILD/kmsd/mqe2e-kmsd" --data-dir "$D/kms" --listen "127.0.0.1:$KMS_PORT" >"$D/kmsd.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$KMS_PORT" || { cat "$D/kmsd.log"; exit 1; }
ctl status

say "enrolling a broker, a publisher and a subscriber"
ctl client add broker --kind broker
ctl client add sensor --kind client
ctl client add dashboard --kind client
for n in broker sensor dashboard; do ctl cert issue "$n" --generate --out-dir "$D/pki" >/dev/null; done
ls -l "$D/pki"

say "creating the scheme-4 topic group 'plant' on plant/# and granting publish/subscribe"
ctl group add plant --filter 'plant/#' --scheme 4 --rotate 3600 --grace 600
ctl grant add sensor plant pub
ctl grant add dashboard plant sub
ctl group show plant

say "starting Mosquitto 2.0 with mqe2e_plugin.so on 127.0.0.1:$MQTT_PORT (persistence in $D/mosquitto.db)"
cat >"$D/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
user root
# no unauthenticated packet may make the broker allocate more (mqe2e_plugin(8), LIMITS)
max_packet_size 1048576
persistence true
persistence_location $D/
persistence_file mosquitto.db
log_dest stderr
log_type error
log_type warning
log_type notice
plugin $BUILD/broker-ext/.libs/mqe2e_plugin.so
plugin_opt_kms_url $KMS
plugin_opt_cert $D/pki/broker.crt
plugin_opt_key $D/pki/broker.key
plugin_opt_cafile $D/pki/ca.crt
plugin_opt_allow_plain true
# every mqe2e client names this broker, so no captured CONNECT works elsewhere
plugin_opt_require_broker_id true
CONF
"${MOSQUITTO:-/usr/sbin/mosquitto}" -c "$D/mosquitto.conf" >"$D/mosquitto.log" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_port "$MQTT_PORT" || { cat "$D/mosquitto.log"; exit 1; }
sleep 1

say "subscribing: mqe2e-sub (the authorised dashboard) and plain mosquitto_sub (what the broker sees)"
# shellcheck disable=SC2046
"$BUILD/client/mqe2e-sub" -h 127.0.0.1 -p "$MQTT_PORT" -t 'plant/#' -v -q 1 $(pki dashboard) \
	-d >"$D/secure.out" 2>"$D/secure.err" &
SUB=$!
PIDS="$PIDS $SUB"
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -V mqttv5 -i curious -t 'plant/#' -F '%t %l %x' >"$D/plain.out" 2>&1 &
PLAIN=$!
PIDS="$PIDS $PLAIN"
sleep 1.5

say "publishing three messages with mqe2e-pub (scheme 4; the last one retained)"
for i in 1 2 3; do
	r=""; [ "$i" = 3 ] && r="-r"
	# shellcheck disable=SC2046
	"$BUILD/client/mqe2e-pub" -h 127.0.0.1 -p "$MQTT_PORT" -t plant/boiler/temp -q 1 $r $(pki sensor) \
		-m "boiler temperature reading #$i: 8$i.5 C"
done
for _ in $(seq 50); do [ "$(grep -c 'boiler temperature' "$D/secure.out")" -ge 3 ] && break; sleep 0.1; done

say "what the authorised subscriber reads (mqe2e-sub)"
cat "$D/secure.out"
say "what the curious broker / a plain mosquitto_sub sees (payload length, first 48 bytes in hex)"
marker=$(printf 'boiler temperature' | od -An -tx1 | tr -d ' \n')
while read -r topic len hex; do
	printf '%s  %s bytes  %s...\n' "$topic" "$len" "${hex:0:96}"
	case "$hex" in *"$marker"*) echo "!! plaintext visible to the broker"; exit 1 ;; esac
done <"$D/plain.out"
[ -s "$D/plain.out" ] || { echo "the plain subscriber received nothing"; exit 1; }

say "flipping one byte of a publish on the wire (a relay between mqe2e-pub and the broker)"
python3 - "$RELAY_PORT" "$MQTT_PORT" <<'PY' >"$D/relay.log" 2>&1 &
# Forward connections; in the client->broker direction flip the last byte
# of the first PUBLISH (inside the frame, so its MAC no longer checks).
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(4)
print("ready", flush=True)
flipped = [False]
def back(b, c):
    while (d := b.recv(65536)):
        c.sendall(d)
    c.close()
def serve(c):
    b = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=back, args=(b, c), daemon=True).start()
    buf = b""
    while (d := c.recv(65536)):
        buf += d
        while len(buf) >= 2:
            n, mult, i = 0, 1, 1
            while i < len(buf) and buf[i] & 0x80:
                n += (buf[i] & 0x7f) * mult; mult *= 128; i += 1
            if i >= len(buf):
                break
            n += (buf[i] & 0x7f) * mult
            end = i + 1 + n
            if len(buf) < end:
                break
            pkt = bytearray(buf[:end]); buf = buf[end:]
            if pkt[0] >> 4 == 3 and not flipped[0]:
                pkt[-1] ^= 0x01; flipped[0] = True
                print("relay: flipped the last byte of a %d-byte PUBLISH" % len(pkt), flush=True)
            b.sendall(bytes(pkt))
    b.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
RELAY=$!
PIDS="$PIDS $RELAY"
for _ in $(seq 50); do grep -q ready "$D/relay.log" && break; sleep 0.1; done
# shellcheck disable=SC2046
if "$BUILD/client/mqe2e-pub" -h 127.0.0.1 -p "$RELAY_PORT" -t plant/boiler/temp -q 1 $(pki sensor) \
	-m "boiler temperature, tampered in transit" 2>"$D/tamper.err"; then
	echo "!! the broker accepted a tampered message"; exit 1
fi
grep -v ready "$D/relay.log"
echo "mqe2e-pub: $(cat "$D/tamper.err")"
sleep 0.5
grep "dropped" "$D/mosquitto.log" | tail -1 || { echo "!! the broker logged no drop"; exit 1; }
grep -q "tampered" "$D/secure.out" && { echo "!! the subscriber printed the tampered message"; exit 1; }
echo "the subscriber never saw it."

say "revoking the dashboard while it is connected"
# shellcheck disable=SC2046
"$BUILD/client/mqe2e-pub" -h 127.0.0.1 -p "$MQTT_PORT" -t plant/boiler/temp -q 1 $(pki sensor) -m "boiler temperature before the revocation"
for _ in $(seq 50); do grep -q "before the revocation" "$D/secure.out" && break; sleep 0.1; done
R0=$(date +%s%N)
ctl client revoke dashboard --reason "demo: lost tablet"
for _ in $(seq 100); do grep -q "disconnecting revoked client 'dashboard'" "$D/mosquitto.log" && break; sleep 0.05; done
R1=$(date +%s%N)
grep "disconnecting revoked client 'dashboard'" "$D/mosquitto.log" ||
	{ echo "!! the broker did not cut the revoked client off"; exit 1; }
echo "cut off $(( (R1 - R0) / 1000000 )) ms after the revoke command"
# shellcheck disable=SC2046
"$BUILD/client/mqe2e-pub" -h 127.0.0.1 -p "$MQTT_PORT" -t plant/boiler/temp -q 1 $(pki sensor) -m "boiler temperature after the revocation"
sleep 1
grep -q "after the revocation" "$D/secure.out" && { echo "!! the revoked subscriber still reads"; exit 1; }
echo "the dashboard's view ends with: $(tail -1 "$D/secure.out")"
grep -E "disconnected|refused" "$D/secure.err" | head -2 | sed 's/^/  mqe2e-sub: /'

say "searching the broker's persistence file and the loopback capture for the plaintext"
kill "$SUB" "$PLAIN" 2>/dev/null || true
kill -TERM "$BROKER"; wait "$BROKER" 2>/dev/null || true     # Mosquitto writes mosquitto.db on exit
[ -s "$D/mosquitto.db" ] || { echo "!! no persistence file"; exit 1; }
grep -qa "plant/boiler/temp" "$D/mosquitto.db" || { echo "!! the retained message is not in mosquitto.db"; exit 1; }
if grep -qa "boiler temperature" "$D/mosquitto.db"; then echo "!! plaintext in mosquitto.db"; exit 1; fi
echo "mosquitto.db: $(stat -c %s "$D/mosquitto.db") bytes, holds the retained message of plant/boiler/temp, no plaintext"
if [ -n "$CAPTURE" ]; then
	sleep 0.3
	kill "$CAPTURE" 2>/dev/null || true
	grep -qa "mqe2e-v1" "$D/lo.cap" || { echo "!! the capture saw no mqe2e traffic"; exit 1; }
	if grep -qa "boiler temperature" "$D/lo.cap"; then echo "!! plaintext on the wire"; exit 1; fi
	echo "loopback capture: $(stat -c %s "$D/lo.cap") bytes of packets, every mqe2e handshake and publish in it, no plaintext"
else
	echo "(not root: no loopback capture)"
fi
say "done in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$T0" "$(date +%s.%N)") s: the broker relayed every message but never saw the plaintext"
