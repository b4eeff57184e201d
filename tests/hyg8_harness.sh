#!/bin/bash
# hyg8_harness.sh - the test harness itself (tests/lib.sh), with stand-ins
# for the daemons so that every outcome can be provoked:
#   1. background processes: "func &" gives the pid of a subshell, not of
#      the program func runs (the defect of roster15_inbox.sh's probes);
#      t_bg gives the program's and refuses a shell function; t_bg_func
#      runs a function (its pid is the subshell's; wait gives the
#      function's status) and refuses a program; t_kill_tree
#      stops a background loop and what it runs; and a test that exits
#      leaves none of its processes behind, tracked or not;
#   2. t_stop_checked, the one checked stop of kms_stop, broker_stop and
#      mosq_stop, during a test and at its end: a clean stop passes, and
#      the checks fail - naming the process and its log - on an exit status
#      other than 0, on a sanitizer report, and on a process that ignores
#      SIGTERM (which is then killed -9, so nothing is left); after -9
#      nothing is checked;
#   3. a test's own clean-up step (t_atexit, as kms_fulldisk.sh's unmount)
#      runs after the daemons are stopped and before $T_DIR goes, and even
#      when its last command fails (as an umount may) the test keeps its
#      status: a passing test passes, a failing one fails, and one whose
#      daemon crashes at the end fails (the old "trap 'step; t_cleanup'
#      EXIT" handed t_cleanup the step's status and passed that one).
# Each case runs as an inner test (bash + lib.sh) whose exit status and
# output are checked from outside, with the inner test's processes found by
# the mark lib.sh gives them (MQE2E_TEST_RUN).
. "$top_srcdir/tests/lib.sh"

# A POSIX sh test (ops_install.sh) sources lib.sh as well.
/bin/sh -n "$top_srcdir/tests/lib.sh" || t_fail "/bin/sh cannot read tests/lib.sh (bash-only syntax?)"

# A stand-in daemon: says "ready" once its SIGTERM handling is in place.
cat >"$T_DIR/fake.sh" <<'EOF'
#!/bin/bash
case $1 in
clean) trap 'exit 0' TERM ;;
crash) trap 'exit 3' TERM ;;
asan) trap 'echo "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1" >&2; exit 0' TERM ;;
stuck) trap '' TERM ;;
esac
echo ready
while :; do sleep 0.1; done
EOF
chmod +x "$T_DIR/fake.sh"

# inner.sh FILE MODE WHEN [SIG]: start fake.sh MODE as a daemon of an inner
# test (pid and T_DIR in FILE), stop it with fake_stop [SIG] now (WHEN=now)
# or leave it to the end of the test (WHEN=atexit); "stopped" once
# fake_stop returned.
cat >"$T_DIR/inner.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
[ "$2" = stuck ] && T_STOP_TENTHS=20   # (the others keep lib.sh's 15 s)
fake_stop() { t_stop_checked FAKE_PID fake "$T_DIR/fake.log" "${1:--TERM}"; }
t_bg FAKE_PID "$(dirname "$0")/fake.sh" "$2" >"$T_DIR/fake.log" 2>&1
t_atstop fake_stop
for _ in $(seq 1 300); do grep -q ready "$T_DIR/fake.log" && break; sleep 0.1; done
grep -q ready "$T_DIR/fake.log" || t_fail "the stand-in did not start"
echo "$FAKE_PID $T_DIR" >"$1"
echo started
if [ "$3" = now ]; then fake_stop "${4:--TERM}"; echo stopped; fi
exit 0
EOF

# left TAG: the processes still carrying the mark TAG (an inner test's T_DIR).
left() {
	local f
	for f in $(grep -l -s -z -x -F "MQE2E_TEST_RUN=$1" /proc/[0-9]*/environ); do
		f=${f#/proc/}
		printf ' %s(%s)' "${f%/environ}" "$(cat "/proc/${f%/environ}/comm" 2>/dev/null)"
	done
}

# run_inner NAME SCRIPT ARGS...: run an inner test; RC, its output in
# $T_DIR/NAME.out, and nothing of it may be left running.
run_inner() {
	local name=$1 tag l
	shift
	: >"$T_DIR/$name.info"
	timeout 120 bash "$@" >"$T_DIR/$name.out" 2>&1
	RC=$?
	tag=$(awk '{ print $NF }' "$T_DIR/$name.info")
	[ -n "$tag" ] || { cat "$T_DIR/$name.out" >&2; t_fail "$name: the inner test did not start"; }
	l=$(left "$tag")
	[ -z "$l" ] || { kill -9 $(echo "$l" | sed 's/([^)]*)//g') 2>/dev/null
		t_fail "$name: processes of the inner test left running:$l"; }
}

# expect_inner NAME RC PATTERN: it exited RC and said PATTERN, and it
# failed (said "FAIL") only if RC is not 0.
expect_inner() {
	[ "$RC" = "$2" ] && grep -q -- "$3" "$T_DIR/$1.out" ||
		{ cat "$T_DIR/$1.out" >&2; t_fail "$1: exit $RC (want $2), or no '$3' in its output"; }
	[ "$RC" != 0 ] || ! grep -q FAIL "$T_DIR/$1.out" ||
		{ cat "$T_DIR/$1.out" >&2; t_fail "$1: passed but said FAIL"; }
}

# --- 1. background processes ----------------------------------------------------
cat >"$T_DIR/bg.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
f() { sleep 300; }
f &
FUNC=$!
t_track "$FUNC"
t_bg SLEEP_PID sleep 301
: >"$T_DIR/in"
cat <(sleep 302) >/dev/null &
for _ in $(seq 1 300); do [ -n "$(t__descendants "$FUNC")" ] && break; sleep 0.1; done
[ "$(cat "/proc/$FUNC/comm")" = bash ] || t_fail "func & did not give a subshell's pid"
[ "$(cat "/proc/$SLEEP_PID/comm")" = sleep ] || t_fail "t_bg did not give the program's pid"
[ "$(t__descendants "$FUNC")" != "" ] || t_fail "no program under the subshell"
echo "$(t__descendants "$FUNC") $T_DIR" >"$1"
exit 0
EOF
run_inner bg "$T_DIR/bg.sh" "$T_DIR/bg.info"
expect_inner bg 0 "at exit, also stopped untracked processes of the test:.*(sleep)"
t_log "a test that exits leaves nothing: $(grep 'also stopped' "$T_DIR/bg.out")"

cat >"$T_DIR/bgfunc.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
echo "$T_DIR" >"$1"
f() { sleep 300; }
t_bg P f
echo "not refused"
EOF
run_inner bgfunc "$T_DIR/bgfunc.sh" "$T_DIR/bgfunc.info"
expect_inner bgfunc 1 "t_bg P f: not a program (function)"
grep -q "not refused" "$T_DIR/bgfunc.out" && t_fail "t_bg ran a shell function"

loop() { while :; do sleep 300; done; }
t_bg_func L loop
for _ in $(seq 1 300); do kids=$(t__descendants "$L"); [ -n "$kids" ] && break; sleep 0.1; done
[ -n "$kids" ] || t_fail "the loop did not start its sleep"
t_kill_tree "$L"
wait "$L" 2>/dev/null
for _ in $(seq 1 100); do
	alive=""
	for k in $kids; do kill -0 "$k" 2>/dev/null && alive="$alive $k"; done
	[ -z "$alive" ] && break
	sleep 0.1
done
[ -z "$alive" ] || t_fail "t_kill_tree left the loop's child running:$alive"
# t_bg_func: wait gives the function's status; a program is refused
three() { sleep 0.1; return 3; }
t_bg_func T three
wait "$T"
[ $? = 3 ] || t_fail "wait on t_bg_func's pid did not give the function's status"
cat >"$T_DIR/bgprog.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
echo "$T_DIR" >"$1"
t_bg_func P sleep 300
echo "not refused"
EOF
run_inner bgprog "$T_DIR/bgprog.sh" "$T_DIR/bgprog.info"
expect_inner bgprog 1 "t_bg_func P sleep: not a shell function (file)"
grep -q "not refused" "$T_DIR/bgprog.out" && t_fail "t_bg_func ran a program"
t_log "t_bg gives the program's pid and refuses a function; t_bg_func runs a function (wait gives its status) and refuses a program; t_kill_tree took the loop and its sleep"

# --- 2. the checked stop ------------------------------------------------------------
# NAME MODE WHEN [SIG] -> RC PATTERN
while read -r name mode when sig rc pattern; do
	[ "$sig" = - ] && sig=""
	run_inner "$name" "$T_DIR/inner.sh" "$T_DIR/$name.info" "$mode" "$when" $sig
	expect_inner "$name" "$rc" "$pattern"
	pid=$(awk '{ print $1 }' "$T_DIR/$name.info")
	kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = fake.sh ] &&
		t_fail "$name: the stand-in $pid is still running"
	t_log "$mode, $when${sig:+ $sig}: exit $RC; $(grep -m1 FAIL "$T_DIR/$name.out" | cut -c1-160)"
done <<'EOF'
clean_now clean now - 0 ^stopped$
clean_end clean atexit - 0 ^started$
crash_now crash now - 1 FAIL: inner.sh: fake exited with status 3 on SIGTERM (fake_stop), not 0: .*(its log: .*/fake.log)
crash_end crash atexit - 1 FAIL: inner.sh: fake exited with status 3 on SIGTERM at the end of the test, not 0
asan_now asan now - 1 FAIL: inner.sh: fake reported a sanitizer error (found in its log .*/fake.log after SIGTERM (fake_stop))
asan_end asan atexit - 1 FAIL: inner.sh: fake reported a sanitizer error (found in its log .*/fake.log after SIGTERM at the end of the test)
stuck_now stuck now - 1 FAIL: inner.sh: fake (pid [0-9]*) did not stop within 2 s of SIGTERM (fake_stop): killed -9 (its log: .*/fake.log)
stuck_end stuck atexit - 1 FAIL: inner.sh: fake (pid [0-9]*) did not stop within 2 s of SIGTERM at the end of the test: killed -9
crash_kill crash now -9 0 ^stopped$
EOF
grep -q stopped "$T_DIR/crash_now.out" && t_fail "crash_now: the test went on after the failed stop"

# --- 3. a test's own clean-up step ------------------------------------------------
# step.sh FILE MODE RC: a stand-in daemon (fake.sh MODE) left to the end of
# the test, a clean-up step whose last command fails, and exit RC.
cat >"$T_DIR/step.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
fake_stop() { t_stop_checked FAKE_PID fake "$T_DIR/fake.log"; }
t_bg FAKE_PID "$(dirname "$0")/fake.sh" "$2" >"$T_DIR/fake.log" 2>&1
PID=$FAKE_PID
t_atstop fake_stop
step() {
	if kill -0 "$PID" 2>/dev/null; then echo "step: the daemon still runs"; else echo "step: the daemon is gone"; fi
	[ -d "$T_DIR" ] && echo "step: T_DIR is there"
	false   # (an umount that failed)
}
t_atexit step
for _ in $(seq 1 300); do grep -q ready "$T_DIR/fake.log" && break; sleep 0.1; done
grep -q ready "$T_DIR/fake.log" || t_fail "the stand-in did not start"
echo "$PID $T_DIR" >"$1"
exit "$3"
EOF
# NAME MODE RC -> RC PATTERN
while read -r name mode code rc pattern; do
	run_inner "$name" "$T_DIR/step.sh" "$T_DIR/$name.info" "$mode" "$code"
	expect_inner "$name" "$rc" "$pattern"
	grep -q "^step: the daemon is gone$" "$T_DIR/$name.out" && grep -q "^step: T_DIR is there$" "$T_DIR/$name.out" ||
		{ cat "$T_DIR/$name.out" >&2; t_fail "$name: the step did not run after the daemon's stop and before T_DIR went"; }
	t_log "a failing clean-up step, $mode daemon, exit $code: exit $RC; $(grep -m1 FAIL "$T_DIR/$name.out" | cut -c1-120)"
done <<'EOF'
step_pass clean 0 0 ^step: T_DIR is there$
step_fail clean 1 1 ^step: T_DIR is there$
step_late crash 0 1 FAIL: step.sh: fake exited with status 3 on SIGTERM at the end of the test, not 0
EOF
exit 0
