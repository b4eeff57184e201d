# tests/client_lib.sh - helpers for the client_*.sh integration tests.
# Source after lib.sh:  . "$top_srcdir/tests/client_lib.sh"
#
# A real mqe2e-kmsd (via kms_lib.sh), a real Mosquitto loading our plugin,
# and the real mqe2e-pub / mqe2e-sub, all on loopback under $T_DIR.

. "$top_srcdir/tests/kms_lib.sh"

PUB="$top_builddir/client/mqe2e-pub"
SUB="$top_builddir/client/mqe2e-sub"
PLUGIN="$top_builddir/broker-ext/.libs/mqe2e_plugin.so"
PKI="$T_DIR"            # enrol() writes NAME.crt, NAME.key, ca.crt here
BROKER_PID=""

[ -x "$PUB" ] || t_skip "mqe2e-pub not built"
[ -x "$SUB" ] || t_skip "mqe2e-sub not built"
[ -e "$PLUGIN" ] || t_skip "mqe2e_plugin.so not built"
[ -x "$MOSQUITTO" ] || t_skip "mosquitto not installed"
t_need mosquitto_sub

# The KMS serves HTTPS (its own server certificate, verified with ca.crt by
# the plugin, the tools and kmsctl), as it does for any remote client; a
# test that needs plain HTTP sets KMS_TLS=0 before sourcing this file.
: "${KMS_TLS:=1}"

# Our tools are ASan builds: leaks are bugs, and each failure must show.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"

# probe / probe_bg (lib.sh) reach this broker.
PROBE_PORTVAR=MQTT_PORT

# Start Mosquitto with the plugin (again: same port and config on restart).
# BROKER_EXTRA_CONF, if set, is appended to its configuration (more listeners).
broker_start() {
	: "${MQTT_PORT:=$(t_free_port)}"
	cat >"$T_DIR/mosquitto.conf" <<EOF
user root
per_listener_settings false
max_packet_size 1048576
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
plugin $PLUGIN
plugin_opt_kms_url $KMS_URL
plugin_opt_cert $PKI/broker.crt
plugin_opt_key $PKI/broker.key
plugin_opt_cafile $PKI/ca.crt
plugin_opt_allow_plain true
log_dest stderr
log_type error
log_type warning
log_type notice
${BROKER_EXTRA_CONF:-}
EOF
	# shellcheck disable=SC2046
	env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/mosquitto.conf" >>"$T_DIR/mosquitto.log" 2>&1 3>&- &
	BROKER_PID=$!
	t_track "$BROKER_PID"
	t_atstop broker_stop
	t_wait_port "$MQTT_PORT" || { cat "$T_DIR/mosquitto.log" >&2; t_fail "mosquitto did not listen on $MQTT_PORT"; }
	sleep 0.5   # the plugin's first policy fetch
}

# broker_stop [SIG]: stop it - gracefully by default (SIGTERM: it must exit
# 0, with no sanitizer report in its log), or with broker_stop -9.  lib.sh's
# t_stop_checked says what is checked; a test's end runs it too (t_atstop),
# so the plugin's clean-up runs under the test's eyes.
# proxy_start PORTFILE LOG [RULE...]: keys12b_proxy.py in front of a
# plain-HTTP KMS (KMS_TLS=0), losing answers or answering 503 as its RULEs
# say (see the script); sets PROXY_URL.
proxy_start() {
	local pf=$1 log=$2 i
	shift 2
	python3 "$top_srcdir/tests/keys12b_proxy.py" "$pf" "$KMS_PORT" "$log" "$@" 2>>"$T_DIR/proxy.err" &
	t_track $!
	for i in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.1; done
	[ -s "$pf" ] || t_fail "the proxy did not start: $(cat "$T_DIR/proxy.err")"
	PROXY_URL="http://127.0.0.1:$(cat "$pf")"
}

broker_stop() { t_stop_checked BROKER_PID mosquitto "$T_DIR/mosquitto.log" "${1:--TERM}"; }

# Common arguments of the tools for client NAME.
client_args() {
	echo "-h 127.0.0.1 -p $MQTT_PORT --cert $PKI/$1.crt --key $PKI/$1.key --cafile $PKI/ca.crt --kms $KMS_URL"
}

# pub NAME [args...]: run mqe2e-pub as client NAME.
pub() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	"$PUB" $(client_args "$name") "$@"
}

# pub_bg NAME IN ERR [args...]: start mqe2e-pub -d as client NAME in the
# background reading IN, stderr to ERR; sets PUB_PID.
pub_bg() {
	local name=$1 in=$2 err=$3
	shift 3
	# shellcheck disable=SC2046
	"$PUB" $(client_args "$name") -d "$@" <"$in" 2>"$err" &
	PUB_PID=$!
	t_track "$PUB_PID"
}

# sub_bg NAME OUT [args...]: start mqe2e-sub -d as client NAME in the
# background, stdout to OUT, stderr to OUT.err; sets SUB_PID.
sub_bg() {
	local name=$1 out=$2
	shift 2
	# shellcheck disable=SC2046
	"$SUB" $(client_args "$name") -d "$@" >"$out" 2>"$out.err" &
	SUB_PID=$!
	t_track "$SUB_PID"
}

# wait_for FILE PATTERN [N [TENTHS]]: until FILE has N lines matching PATTERN.
wait_for() {
	local file=$1 pat=$2 n=${3:-1} tenths=${4:-150} i c
	for i in $(seq 1 "$tenths"); do
		c=$(grep -c -- "$pat" "$file" 2>/dev/null)
		[ "${c:-0}" -ge "$n" ] && return 0
		sleep 0.1
	done
	echo "--- $file" >&2
	cat "$file" >&2
	return 1
}

# wait_pid PID [TENTHS]: wait for a background process; its exit status.
wait_pid() {
	local pid=$1 tenths=${2:-300} i
	for i in $(seq 1 "$tenths"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		if command -v gdb >/dev/null 2>&1; then
			gdb -p "$pid" -batch -ex "thread apply all bt" >"$T_DIR/hung.$pid.bt" 2>&1
		fi
		kill "$pid"
		t_log "pid $pid still running: killed"
	fi
	wait "$pid"
}

# A marker that appears nowhere unless our plaintext leaks.
marker() {
	echo "PLAINTEXT-MARKER-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
}

# Set up KMS, PKI (broker, pub, sub1..subN) and a group of scheme S on
# "e2e/#": setup_world SCHEME NSUBS
setup_world() {
	local scheme=$1 nsubs=$2 i
	kms_start
	enrol broker broker
	enrol pub client
	expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme "$scheme"
	expect_rc 0 kmsctl grant add pub grp pub
	for i in $(seq 1 "$nsubs"); do
		enrol "sub$i" client
		expect_rc 0 kmsctl grant add "sub$i" grp sub
	done
	broker_start
}

# Start a packet capture of the loopback traffic to the broker port, if this
# machine lets us (root with dumpcap); sets CAP_PID/CAP_FILE or CAP_PID="".
capture_start() {
	CAP_PID=""
	CAP_FILE="$T_DIR/lo.pcapng"
	if ! command -v dumpcap >/dev/null 2>&1; then
		t_log "dumpcap not installed: skipping the packet capture check"
		return 0
	fi
	dumpcap -q -i lo -f "tcp port $MQTT_PORT" -w "$CAP_FILE" >"$T_DIR/dumpcap.log" 2>&1 &
	CAP_PID=$!
	t_track "$CAP_PID"
	for _ in $(seq 1 50); do
		[ -s "$CAP_FILE" ] && return 0
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.1
	done
	t_log "cannot capture on lo here ($(head -c 200 "$T_DIR/dumpcap.log")): skipping the packet capture check"
	CAP_PID=""
}

# Stop the capture and check the marker never crossed the wire, while the
# mqe2e handshake (our proof that the capture saw the traffic) did.
capture_check() {
	local mark=$1
	[ -n "$CAP_PID" ] || return 0
	sleep 0.5
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	grep -q -a "mqe2e-v1" "$CAP_FILE" || t_fail "the packet capture did not see the MQTT traffic"
	if grep -q -a -- "$mark" "$CAP_FILE"; then
		t_fail "the plaintext marker crossed the wire in the clear (see $CAP_FILE)"
	fi
	t_log "packet capture: $(stat -c %s "$CAP_FILE") bytes, handshake seen, plaintext never"
}
