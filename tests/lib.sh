# tests/lib.sh - shared helpers for the shell integration tests.
# Source it:  . "$top_srcdir/tests/lib.sh"
# Every test gets its own temp dir (removed on exit) and free loopback ports.
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MOSQUITTO:=$(command -v mosquitto || echo /usr/sbin/mosquitto)}"

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mqe2e-test.XXXXXX")
T_PIDS=""
T_ATEXIT=""
T_ATSTOP=""
T_LATE_FAIL=""
T_NAME=$(basename "$0")

t_cleanup() {
	local rc=$? p f
	# First the helpers' graceful stops (while everything else still runs,
	# as in a real shutdown): e.g. kms_lib.sh checks mqe2e-kmsd's exit
	# status.  They report a problem in T_LATE_FAIL.
	for f in $T_ATSTOP; do "$f"; done
	for p in $T_PIDS; do kill "$p" 2>/dev/null; done
	for p in $T_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# Then the helpers' own clean-ups, newest first, once their clients
	# are gone: e.g. pglib.sh stops its PostgreSQL server.
	for f in $T_ATEXIT; do "$f"; done
	if [ "${T_KEEP:-0}" = 1 ]; then echo "# kept $T_DIR"; else rm -rf "$T_DIR"; fi
	if [ "$rc" = 0 ] && [ -n "$T_LATE_FAIL" ]; then
		echo "FAIL: $T_NAME: $T_LATE_FAIL" >&2
		exit 1
	fi
}
trap t_cleanup EXIT

# Remember a background pid so that it is stopped at exit.
t_track() { T_PIDS="$T_PIDS $1"; }

# Run the shell function $1 at exit, after the tracked pids are stopped.
t_atexit() { T_ATEXIT="$1 $T_ATEXIT"; }

# Run the shell function $1 at exit, before the tracked pids are stopped
# (once, however often it is asked); it may set T_LATE_FAIL to fail a test
# that would otherwise pass.
t_atstop() {
	case " $T_ATSTOP " in *" $1 "*) return 0 ;; esac
	T_ATSTOP="$1 $T_ATSTOP"
}

# t_stop PID [SIG]: send SIG (default -TERM) and wait up to 15 s for the
# process to go; T_RC is then its exit status.  Returns 1 (T_RC empty) if it
# is still running.
t_stop() {
	local pid=$1 sig=${2:--TERM} i
	T_RC=""
	kill "$sig" "$pid" 2>/dev/null
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid" 2>/dev/null
	T_RC=$?
}

# t_stop_problem NAME LOG WHEN: after a graceful t_stop, what went wrong on
# the way out, if anything - an exit status other than 0 (a crash, or a
# sanitizer's verdict at exit) or a sanitizer report in LOG; prints nothing
# when all is well, else the problem and the end of LOG (on stderr).
t_stop_problem() {
	local what=""
	if [ "$T_RC" != 0 ]; then
		what="$1 exited with status $T_RC on SIGTERM $3, not 0: it crashed or found an error at shutdown"
	elif grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$2" 2>/dev/null; then
		what="$1 reported a sanitizer error (found in its log after SIGTERM $3)"
	fi
	[ -n "$what" ] || return 0
	echo "--- the end of $2:" >&2
	tail -30 "$2" >&2
	echo "$what"
}

t_log() { echo "# $T_NAME: $*"; }
t_fail() { echo "FAIL: $T_NAME: $*" >&2; exit 1; }
t_skip() { echo "SKIP: $T_NAME: $*"; exit 77; }

# A free TCP port on 127.0.0.1 (bind to port 0, read it back).
t_free_port() {
	python3 - <<'PY' 2>/dev/null || echo $(( 20000 + (RANDOM % 20000) ))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# Wait until something listens on 127.0.0.1:$1 (up to $2 tenths of a second, default 100).
t_wait_port() {
	local i n=${2:-100}
	for i in $(seq 1 "$n"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Environment for running a non-instrumented host (mosquitto) that loads our
# instrumented plugin: the sanitizer runtime must be loaded first.
t_san_preload() {
	if [ "${MQE2E_SANITIZERS:-no}" = yes ]; then
		local asan ubsan
		asan=$(${CC:-gcc} -print-file-name=libasan.so)
		ubsan=$(${CC:-gcc} -print-file-name=libubsan.so)
		echo "LD_PRELOAD=$asan:$ubsan ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
	fi
}

t_need() { command -v "$1" >/dev/null 2>&1 || t_skip "$1 not installed"; }
