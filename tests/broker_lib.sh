# tests/broker_lib.sh - helpers for the broker_*.sh integration tests.
# Source after lib.sh:  . "$top_srcdir/tests/broker_lib.sh"
#
# A real mosquitto loading broker-ext/.libs/mqe2e_plugin.so on a free
# loopback port, its log in $T_DIR/mosquitto.log and its counters in
# $T_DIR/stats (plugin_opt_stats_file).

PLUGIN="${MQE2E_PLUGIN:-$top_builddir/broker-ext/.libs/mqe2e_plugin.so}"   # override: try another build
PROBE_PORTVAR=MOSQ_PORT  # probe / probe_bg (lib.sh) reach this broker
MOSQ_PID=""
MOSQ_LOG="$T_DIR/mosquitto.log"
MOSQ_STATS="$T_DIR/stats"

[ -x "${MOSQUITTO:-}" ] || t_skip "mosquitto not found"
[ -f "$PLUGIN" ] || t_skip "mqe2e_plugin.so not built"
[ -x "$PROBE" ] || t_skip "broker_probe not built"
t_need openssl

# The preloaded sanitizer runtime must not report mosquitto's own leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

# mk_ca NAME: a self-signed Ed25519 CA in $T_DIR/NAME.{crt,key} (like the KMS's).
mk_ca() {
	openssl genpkey -algorithm ed25519 -out "$T_DIR/$1.key" 2>/dev/null || t_fail "openssl genpkey"
	openssl req -x509 -new -key "$T_DIR/$1.key" -subj "/CN=$1/OU=kms" -days 2 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$T_DIR/$1.crt" 2>/dev/null || t_fail "openssl req -x509"
}

# mk_leaf CA CN OU: $T_DIR/CN.{crt,key} issued by $T_DIR/CA.
mk_leaf() {
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$T_DIR/leaf.ext"
	openssl genpkey -algorithm ed25519 -out "$T_DIR/$2.key" 2>/dev/null || t_fail "openssl genpkey"
	openssl req -new -key "$T_DIR/$2.key" -subj "/CN=$2/OU=$3" -out "$T_DIR/$2.csr" 2>/dev/null ||
		t_fail "openssl req"
	openssl x509 -req -in "$T_DIR/$2.csr" -CA "$T_DIR/$1.crt" -CAkey "$T_DIR/$1.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 1 -extfile "$T_DIR/leaf.ext" \
		-out "$T_DIR/$2.crt" 2>/dev/null || t_fail "openssl x509 -req"
}

# mosq_conf [plugin_opt lines...]: write $T_DIR/mosquitto.conf on $MOSQ_PORT.
mosq_conf() {
	: "${MOSQ_PORT:=$(t_free_port)}"
	{
		echo "listener $MOSQ_PORT 127.0.0.1"
		echo "allow_anonymous true"
		echo "user root"
		echo "max_packet_size 1048576"   # as shipped (mqe2e_plugin(8), LIMITS)
		echo "log_dest stderr"
		echo "log_type all"
		echo "plugin $PLUGIN"
		for line in "$@"; do echo "plugin_opt_$line"; done
	} >"$T_DIR/mosquitto.conf"
}

# mosq_start: start mosquitto on $T_DIR/mosquitto.conf, wait for its port.
mosq_start() {
	env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/mosquitto.conf" >>"$MOSQ_LOG" 2>&1 &
	MOSQ_PID=$!
	t_track "$MOSQ_PID"
	t_atstop mosq_stop
	t_wait_port "$MOSQ_PORT" 100 || { cat "$MOSQ_LOG" >&2; t_fail "mosquitto did not listen on $MOSQ_PORT"; }
}

# mosq_start_fails PATTERN: mosquitto must exit at start and log PATTERN.
mosq_start_fails() {
	local i
	: >"$MOSQ_LOG"
	env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/mosquitto.conf" >>"$MOSQ_LOG" 2>&1 &
	MOSQ_PID=$!
	t_track "$MOSQ_PID"
	for i in $(seq 1 100); do
		kill -0 "$MOSQ_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$MOSQ_PID" 2>/dev/null && { cat "$MOSQ_LOG" >&2; t_fail "mosquitto kept running; expected: $1"; }
	grep -q -- "$1" "$MOSQ_LOG" || { cat "$MOSQ_LOG" >&2; t_fail "log lacks: $1"; }
	MOSQ_PID=""
}

# mosq_stop [SIG]: stop it - gracefully by default (SIGTERM: it must exit 0,
# with no sanitizer report in its log), or with mosq_stop -9.  lib.sh's
# t_stop_checked says what is checked; a test's end runs it too (t_atstop).
mosq_stop() { t_stop_checked MOSQ_PID mosquitto "$MOSQ_LOG" "${1:--TERM}"; }

# bstat NAME: a counter of the plugin (0 if the file or line is missing).
bstat() {
	local v
	v=$(awk -v n="$1" '$1 == n { print $2 }' "$MOSQ_STATS" 2>/dev/null)
	echo "${v:-0}"
}

# wait_stat NAME VALUE [tenths]: wait until the counter reaches VALUE.
wait_stat() {
	local i n=${3:-50}
	for i in $(seq 1 "$n"); do
		[ "$(bstat "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$MOSQ_STATS" >&2 2>/dev/null
	t_fail "counter $1 is $(bstat "$1"), expected $2"
}

# expect_stat NAME VALUE: the counter is exactly VALUE (after the stats file
# has caught up: it is written at most once a second).
expect_stat() {
	sleep 1.2
	[ "$(bstat "$1")" = "$2" ] || { cat "$MOSQ_STATS" >&2; t_fail "counter $1 is $(bstat "$1"), expected $2"; }
}

# expect_out PATTERN: the last command's stdout ($T_DIR/out) holds PATTERN.
expect_out() {
	grep -q -- "$1" "$T_DIR/out" || {
		echo "--- stdout" >&2; cat "$T_DIR/out" >&2
		echo "--- stderr" >&2; cat "$T_DIR/err" >&2 2>/dev/null
		t_fail "output lacks: $1"
	}
}

# expect_log PATTERN: mosquitto's log holds PATTERN.
expect_log() {
	grep -q -- "$1" "$MOSQ_LOG" || { tail -40 "$MOSQ_LOG" >&2; t_fail "mosquitto log lacks: $1"; }
}
