# tests/lib.sh - shared helpers for the shell integration tests.
# Source it:  . "$top_srcdir/tests/lib.sh"
# Every test gets its own temp dir (removed on exit) and free loopback ports.
# A POSIX sh test sources it too (ops_install.sh): /bin/sh must be able to
# read it (no arrays); t_bg, t_stop_checked and the probes are for bash.
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${MOSQUITTO:=$(command -v mosquitto || echo /usr/sbin/mosquitto)}"

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mqe2e-test.XXXXXX")
# Every process the test starts inherits this mark, by which the clean-up at
# exit finds what is left of the test (t__ours), tracked or not.
export MQE2E_TEST_RUN="$T_DIR"
T_PIDS=""
T_ATEXIT=""
T_ATSTOP=""
T_LATE_FAIL=""
T_CLEANUP=0
T_NAME=$(basename "$0")

t_cleanup() {
	local rc=$? p f left extra
	T_CLEANUP=1
	# First the helpers' graceful stops (while everything else still runs,
	# as in a real shutdown): e.g. kms_lib.sh's kms_stop checks mqe2e-kmsd's
	# exit status (t_stop_checked).  They report a problem in T_LATE_FAIL.
	for f in $T_ATSTOP; do "$f"; done
	# Then every process of the test still running: the tracked pids, and
	# what else carries the test's mark - say the program that a shell
	# function started in the background ran (t_bg says why that is not the
	# pid to track), or a process substitution.  SIGTERM, 1 s, SIGKILL.
	t__ours
	left=$T_OURS
	extra=""
	for p in $left; do
		case " $T_PIDS " in *" $p "*) ;; *) extra="$extra $p($(cat "/proc/$p/comm" 2>/dev/null))" ;; esac
	done
	for p in $left; do kill "$p" 2>/dev/null; done
	[ -z "$extra" ] || echo "# $T_NAME: at exit, also stopped untracked processes of the test:$extra"
	for p in $left; do
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

# t_bg PIDVAR PROGRAM [ARGS...]: start PROGRAM in the background, with the
# redirections of this call ("t_bg P prog >out 2>&1"), track it, and set the
# variable PIDVAR to its pid.  PROGRAM must be a program, not a shell
# function: "func &" runs func in a subshell, and $! is the subshell's pid,
# not that of the program func runs - kill, wait_pid and the clean-up at exit
# would reach only the subshell and leave the program running on.  A
# wrapper's background form builds its argv and calls t_bg (probe_bg).  The
# redirections are opened by the test's shell before the program starts: a
# FIFO read that way needs its writer open first (exec 7<>FIFO; ... 7>&-).
# Its stdin is that of the call (give </dev/null if it must not read ours).
t_bg() {
	local var=$1
	shift
	case $(type -t "$1") in
	file) ;;
	*) t_fail "t_bg $var $1: not a program ($(type -t "$1")); its pid would be a subshell's" ;;
	esac
	t__bg_start "$var" "$@"
}

# t__bg_start PIDVAR COMMAND [ARGS...]: t_bg's and t_bg_func's common part,
# once they have checked what COMMAND is.
t__bg_start() {
	local pidvar=$1
	shift
	"$@" <&0 &   # (without <&0, bash gives a background job /dev/null)
	printf -v "$pidvar" %s "$!"
	t_track "$!"
}

# t_bg_func PIDVAR FUNCTION [ARGS...]: run the shell FUNCTION in the
# background, with the redirections of this call (opened by the test's shell
# first, as t_bg's), track it and set PIDVAR to its pid - the pid of the
# subshell that runs it: a loop beside the test (kms_crash.sh's rotator) or
# work done in parallel (fleet13_two_kmsd.sh's writers).  Wait for it (its
# status is the function's), or stop it with t_kill_tree PID, which takes
# what it runs at that moment too; a plain kill would leave that running.
# FUNCTION must be a shell function: a program goes through t_bg.  A test
# puts nothing else in the background with a bare "&" but a program
# (tests/sh_lint.py checks it: hyg9_lint.sh).
t_bg_func() {
	local var=$1
	shift
	case $(type -t "$1") in
	function) ;;
	*) t_fail "t_bg_func $var $1: not a shell function ($(type -t "$1")); start a program with t_bg" ;;
	esac
	t__bg_start "$var" "$@"
}

# t__ours: set T_OURS to the pids of the test's processes still running:
# the children of this shell (the background jobs, process substitutions;
# a child's pid cannot go to another process before we reap it) and every
# program that carries the test's mark (MQE2E_TEST_RUN in the environment it
# was executed with: what those children run, and their children).  Never a
# pid that has passed to a process of another test, as a blind kill of every
# tracked pid could on a busy machine (pid_max 32768).  Not through $(...):
# the helpers that look (grep, ps, the subshells) are gone when it checks.
t__ours() {
	local p all
	T_OURS=""
	all="$(ps -o pid= --ppid "$$" 2>/dev/null)
$(grep -l -s -z -x -F "MQE2E_TEST_RUN=$T_DIR" /proc/[0-9]*/environ | cut -d/ -f3)"
	for p in $all; do
		case " $T_OURS " in *" $p "*) continue ;; esac
		[ "$p" != "$$" ] && kill -0 "$p" 2>/dev/null && T_OURS="$T_OURS $p"
	done
}

# t__descendants PID...: the descendants of the PIDs, one per line.
t__descendants() {
	ps -e -o pid= -o ppid= 2>/dev/null | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) under[r[i]] = 1 }
		{ parent[$1] = $2 }
		END {
			do {
				more = 0
				for (p in parent)
					if (!(p in under) && (parent[p] in under)) { under[p] = 1; below[p] = 1; more = 1 }
			} while (more)
			for (p in below) print p
		}'
}

# t_kill_tree PID [SIG]: send SIG (default -TERM) to PID and to everything
# running under it, at once (a background shell function and the program it
# runs right now; killing only PID would leave that one running).
t_kill_tree() {
	local below
	below=$(t__descendants "$1")
	# shellcheck disable=SC2086
	kill "${2:--TERM}" "$1" $below 2>/dev/null
}

# Run the shell function $1 at exit, after the tracked pids are stopped and
# before $T_DIR is removed; the newest first.  A test's own clean-up (say,
# unmount a file system it mounted: kms_fulldisk.sh) is a step like this,
# never a trap of its own on EXIT: that would replace t_cleanup, or (with
# "trap 'step; t_cleanup' EXIT") hand it the step's exit status instead of
# the test's, so that a failure found at the end (T_LATE_FAIL) is lost.
# A step's own exit status does not change the test's.
t_atexit() { T_ATEXIT="$1 $T_ATEXIT"; }

# Run the shell function $1 at exit, before the tracked pids are stopped
# (once, however often it is asked); it may set T_LATE_FAIL to fail a test
# that would otherwise pass.
t_atstop() {
	case " $T_ATSTOP " in *" $1 "*) return 0 ;; esac
	T_ATSTOP="$1 $T_ATSTOP"
}

# t_stop PID [SIG]: send SIG (default -TERM) and wait up to T_STOP_TENTHS
# tenths of a second (15 s) for the process to go; T_RC is then its exit
# status.  Returns 1 (T_RC empty) if it is still running.
T_STOP_TENTHS=150
t_stop() {
	local pid=$1 sig=${2:--TERM} i
	T_RC=""
	kill "$sig" "$pid" 2>/dev/null
	for i in $(seq 1 "$T_STOP_TENTHS"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid" 2>/dev/null
	T_RC=$?
}

# t_stop_checked PIDVAR NAME LOG [SIG]: stop the service whose pid is in the
# variable PIDVAR (a daemon of the test: mqe2e-kmsd, Mosquitto) with SIG
# (default -TERM), clear PIDVAR, and check that it went cleanly.  The one
# behaviour of kms_stop, broker_stop and mosq_stop, during a test and at its
# end (lib.sh runs them through t_atstop before the tracked pids go):
#  - nothing to do when PIDVAR is empty; at the end of the test also when the
#    process is no longer running (the test stopped or killed it itself);
#  - a process still there 15 s after SIG (t_stop) is a failure naming it
#    and LOG, and is then killed -9 and reaped, so nothing is left behind;
#  - after -9 (or -KILL) nothing more is checked;
#  - otherwise its exit status must be 0 and LOG must hold no sanitizer
#    report (a crash, or an error found at shutdown, fails the test).
# A failure during the test is t_fail.  At the end of the test (T_CLEANUP=1,
# inside the EXIT trap, where t_fail's exit would cut the clean-up short) it
# is added to T_LATE_FAIL, which fails a test that would otherwise pass.
t_stop_checked() {
	local var=$1 name=$2 log=$3 sig=${4:--TERM} signame pid when problem=""
	pid=${!var:-}
	[ -n "$pid" ] || return 0
	case $sig in -9) signame=KILL ;; -15) signame=TERM ;; *) signame=${sig#-} ;; esac
	if [ "$T_CLEANUP" = 1 ]; then
		when="at the end of the test"
		kill -0 "$pid" 2>/dev/null || return 0
	else
		when="(${FUNCNAME[1]:-t_stop_checked})"
	fi
	if ! t_stop "$pid" "$sig"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		problem="$name (pid $pid) did not stop within $((T_STOP_TENTHS / 10)) s of SIG$signame $when: killed -9 (its log: $log)"
		echo "--- the end of $log:" >&2
		tail -30 "$log" >&2
	fi
	printf -v "$var" %s ""
	if [ -z "$problem" ]; then
		case $sig in -9|-KILL) return 0 ;; esac
		problem=$(t_stop_problem "$name" "$log" "SIG$signame" "$when")
		[ -n "$problem" ] || return 0
	fi
	[ "$T_CLEANUP" = 1 ] || t_fail "$problem"
	T_LATE_FAIL="${T_LATE_FAIL:+$T_LATE_FAIL; }$problem"
	return 1
}

# t_stop_problem NAME LOG SIGNAL WHEN: after a graceful t_stop with SIGNAL, what
# went wrong on the way out, if anything - an exit status other than 0 (a
# crash, or a sanitizer's verdict at exit) or a sanitizer report in LOG;
# prints nothing when all is well, else the problem (on stdout) and the end
# of LOG (on stderr).
t_stop_problem() {
	local what=""
	if [ "$T_RC" != 0 ]; then
		what="$1 exited with status $T_RC on $3 $4, not 0: it crashed or found an error at shutdown (its log: $2)"
	elif grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$2" 2>/dev/null; then
		what="$1 reported a sanitizer error (found in its log $2 after $3 $4)"
	fi
	[ -n "$what" ] || return 0
	echo "--- the end of $2:" >&2
	tail -30 "$2" >&2
	echo "$what"
}

# broker_probe (tests/broker_probe.c), a minimal mqe2e client that can also
# misbehave.  probe MODE NAME [ARGS...] runs it as client NAME, with
# $T_DIR/NAME.{crt,key} and $T_DIR/ca.crt, against the broker on the port in
# the variable that PROBE_PORTVAR names (client_lib.sh: MQTT_PORT,
# broker_lib.sh: MOSQ_PORT) and the KMS at $KMS_URL (each left out while
# unset).  probe_bg MODE NAME [ARGS...] starts it in the background with the
# redirections of the call and sets PROBE_PID (t_bg): never "probe ... &".
PROBE="$top_builddir/tests/broker_probe"
probe() { probe__run "" "$@"; }
probe_bg() { probe__run PROBE_PID "$@"; }
# probe__run PIDVAR MODE NAME [ARGS...]: in the background (t_bg) if PIDVAR.
probe__run() {
	local var=$1 mode=$2 name=$3 port=${PROBE_PORTVAR:+${!PROBE_PORTVAR:-}}
	shift 3
	[ -x "$PROBE" ] || t_skip "broker_probe not built"
	set -- "$PROBE" "$mode" ${port:+--port "$port"} --cert "$T_DIR/$name.crt" --key "$T_DIR/$name.key" \
		--ca "$T_DIR/ca.crt" ${KMS_URL:+--kms "$KMS_URL"} "$@"
	if [ -n "$var" ]; then t_bg "$var" "$@"; else "$@"; fi
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
