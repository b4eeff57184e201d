#!/bin/bash
# The mqe2e demo (README's first command).  As root on a fresh Debian 12
# machine: installs the packages, builds, then on loopback only
#   - starts mqe2e-kmsd with a fresh data dir,
#   - enrols a broker, a publisher and a subscriber (certificates from the KMS CA),
#   - creates a scheme-4 topic group and grants,
#   - starts a stock Mosquitto loading mqe2e_plugin.so,
#   - sends messages with mqe2e-pub and shows, side by side, what mqe2e-sub
#     reads and what a plain mosquitto_sub (the curious broker's view) sees,
# and cleans everything up at the end.
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
if [ ! -x "$BUILD/kms/mqe2e-kmsd" ] || [ ! -x "$BUILD/client/mqe2e-pub" ]; then
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p "$BUILD"
	(cd "$BUILD" && "$SRC/configure" >/dev/null && make -j"$(nproc)" >/dev/null)
fi
for f in kms/mqe2e-kmsd kms/mqe2e-kmsctl client/mqe2e-pub client/mqe2e-sub broker-ext/.libs/mqe2e_plugin.so; do
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

KMS_PORT=$(port); MQTT_PORT=$(port)
KMS=http://127.0.0.1:$KMS_PORT
ctl() { "$BUILD/kms/mqe2e-kmsctl" --addr "$KMS" --token-file "$D/kms/admin.token" "$@"; }

say "starting the key service: mqe2e-kmsd on $KMS (data in $D/kms)"
mkdir -p "$D/kms" "$D/pki"
"$BUILD/kms/mqe2e-kmsd" --data-dir "$D/kms" --listen "127.0.0.1:$KMS_PORT" >"$D/kmsd.log" 2>&1 &
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

say "starting Mosquitto 2.0 with mqe2e_plugin.so on 127.0.0.1:$MQTT_PORT"
cat >"$D/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
user root
# no unauthenticated packet may make the broker allocate more (mqe2e_plugin(8), LIMITS)
max_packet_size 1048576
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
PIDS="$PIDS $!"
wait_port "$MQTT_PORT" || { cat "$D/mosquitto.log"; exit 1; }
sleep 1

say "subscribing: mqe2e-sub (the authorised dashboard) and plain mosquitto_sub (what the broker sees)"
"$BUILD/client/mqe2e-sub" -h 127.0.0.1 -p "$MQTT_PORT" -i dashboard -t 'plant/#' -v \
	--cert "$D/pki/dashboard.crt" --key "$D/pki/dashboard.key" --cafile "$D/pki/ca.crt" --kms "$KMS" \
	--broker-id broker -C 3 -W 20 >"$D/secure.out" 2>"$D/secure.err" &
SUB=$!
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -V mqttv5 -i curious -t 'plant/#' -F '%t %l %x' -C 3 -W 20 >"$D/plain.out" 2>&1 &
PLAIN=$!
sleep 2

say "publishing three messages with mqe2e-pub (scheme 4)"
for i in 1 2 3; do
	"$BUILD/client/mqe2e-pub" -h 127.0.0.1 -p "$MQTT_PORT" -i sensor -t plant/boiler/temp -q 1 \
		-m "boiler temperature reading #$i: 8$i.5 C" \
		--cert "$D/pki/sensor.crt" --key "$D/pki/sensor.key" --cafile "$D/pki/ca.crt" --kms "$KMS" \
		--broker-id broker
done
wait "$SUB" || { echo "mqe2e-sub failed:"; cat "$D/secure.err"; }
wait "$PLAIN" || true

say "what the authorised subscriber reads (mqe2e-sub)"
cat "$D/secure.out"
say "what the curious broker / a plain mosquitto_sub sees (payload length, first 48 bytes in hex)"
marker=$(printf 'boiler temperature' | od -An -tx1 | tr -d ' \n')
while read -r topic len hex; do
	printf '%s  %s bytes  %s...\n' "$topic" "$len" "${hex:0:96}"
	case "$hex" in *"$marker"*) echo "!! plaintext visible to the broker"; exit 1 ;; esac
done <"$D/plain.out"
[ -s "$D/plain.out" ] || { echo "the plain subscriber received nothing"; exit 1; }
say "done: the broker relayed every message but never saw the plaintext"
