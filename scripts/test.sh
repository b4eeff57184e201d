#!/bin/bash
# The mqe2e test command (README): install the dependencies, build from
# scratch with ASan+UBSan and -Werror, run every test (unit, integration with
# real mosquitto + KMS + clients, fuzz smoke, man page lint, distcheck), and
# print one summary line "N passed, N failed".
#
#   bash scripts/test.sh            # as root on a fresh Debian 12 machine
#
# Environment: MQE2E_FUZZ_SECONDS (default 10 per harness),
#              MQE2E_SKIP_DISTCHECK=1 to skip make distcheck,
#              MQE2E_DISTCHECK_ALL=1 to run every test in distcheck's build
#              too (by default only the tests that are programs: the
#              integration scripts ran with sanitizers above, and the
#              distribution's completeness is checked file by file).
set -u
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${MQE2E_BUILD_DIR:-$SRC/build-ci}
FUZZ_BUILD=$BUILD-fuzz
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
failures=""

step() { echo; echo "==== $* ===="; }
record() { # name rc
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS: $1"
	else failed=$((failed + 1)); failures="$failures $1"; echo "FAIL: $1"; fi
}
finish() {
	echo
	[ -n "$failures" ] && echo "failed:$failures"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

step "dependencies"
if [ "$(id -u)" -eq 0 ]; then
	sh scripts/install-deps.sh || { record install-deps 1; finish; }
	# PostgreSQL is installed now: a test that cannot start it fails
	# instead of skipping (tests/pglib.sh).
	export MQE2E_REQUIRE_PG=1
else
	echo "not root: skipping package installation (run scripts/install-deps.sh as root first)"
fi

step "build (ASan+UBSan, -Werror)"
rm -rf "$BUILD" "$FUZZ_BUILD"
./autogen.sh >/dev/null || { record autogen 1; finish; }
mkdir -p "$BUILD"
( cd "$BUILD" && "$SRC/configure" --enable-sanitizers --enable-werror >configure.out 2>&1 ) \
	|| { tail -20 "$BUILD/configure.out"; record configure 1; finish; }
( cd "$BUILD" && make -j"$JOBS" ) || { record build 1; finish; }

step "tests"
( cd "$BUILD" && make -k -j"$JOBS" check ) >"$BUILD/check.out" 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$BUILD/check.out" || true
# Count every test result that automake recorded.
while IFS= read -r line; do
	res=${line#:test-result: }
	res=${res%% *}
	case "$res" in
	PASS | XFAIL) passed=$((passed + 1)) ;;
	SKIP) ;;
	*) failed=$((failed + 1)) ;;
	esac
done < <(find "$BUILD" -name '*.trs' -exec grep -h '^:test-result:' {} +)
for log in $(find "$BUILD" -name '*.log' ! -name 'test-suite.log' ! -name config.log); do
	trs=${log%.log}.trs
	[ -f "$trs" ] && grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$trs" && {
		failures="$failures $(basename "${log%.log}")"
		echo "---- $log (last 40 lines) ----"; tail -40 "$log"
	}
done
if [ "$check_rc" -ne 0 ] && ! find "$BUILD" -name '*.trs' | grep -q .; then
	tail -40 "$BUILD/check.out"; record make-check 1
fi
grep -q '^SKIP:' "$BUILD/check.out" && echo "(skipped tests are listed above with SKIP:)"

step "the README's demo command (scripts/demo.sh, its own non-sanitizer build)"
MQE2E_BUILD_DIR="$SRC/build-demo" bash scripts/demo.sh >"$BUILD/demo.out" 2>&1
rc=$?
tail -12 "$BUILD/demo.out"
record demo $rc

step "man pages (mandoc -T lint)"
man_rc=0
for m in man/*.[1-8]; do
	[ -f "$m" ] || continue
	out=$(mandoc -T lint -W warning "$m" 2>&1) || true
	if [ -n "$out" ]; then echo "$out"; man_rc=1; fi
done
record man-lint $man_rc

step "fuzz smoke (clang libFuzzer, ${MQE2E_FUZZ_SECONDS:-10}s per harness)"
mkdir -p "$FUZZ_BUILD"
if ( cd "$FUZZ_BUILD" && CC=clang "$SRC/configure" --enable-fuzzing --enable-sanitizers >configure.out 2>&1 \
	&& make -j"$JOBS" >make.out 2>&1 ); then
	# every harness (tests/fuzz/fuzz_* and tests/fuzz/extra-harnesses) on a copy of its seeds
	bash tests/fuzz/smoke.sh "$FUZZ_BUILD" "${MQE2E_FUZZ_SECONDS:-10}"
	record fuzz-smoke $?
else
	tail -20 "$FUZZ_BUILD/configure.out" "$FUZZ_BUILD/make.out" 2>/dev/null
	record fuzz-build 1
fi

if [ "${MQE2E_SKIP_DISTCHECK:-0}" != 1 ]; then
	# The tarball builds out of tree with -Werror and without sanitizers,
	# installs, uninstalls and cleans; every file git tracks is in it
	# (distcheck-hook, Makefile.am).  Its build runs the tests that are
	# programs, not the whole suite a second time (18 of 46 minutes on a
	# slow 2-CPU machine).
	dist_tests=""
	if [ "${MQE2E_DISTCHECK_ALL:-0}" != 1 ]; then
		dist_tests=$(cd "$BUILD/tests" && make -s print-program-tests) \
			|| { record distcheck-tests 1; finish; }
		[ -n "$dist_tests" ] || { echo "no program tests listed"; record distcheck-tests 1; finish; }
		step "make distcheck (its build runs the $(echo $dist_tests | wc -w) tests that are programs)"
	else
		step "make distcheck (its build runs every test)"
	fi
	( cd "$BUILD" && make -j"$JOBS" distcheck ${dist_tests:+TESTS="$dist_tests"} >distcheck.out 2>&1 )
	rc=$?
	if [ $rc -ne 0 ]; then
		tail -40 "$BUILD/distcheck.out"
		# A failed distcheck leaves its tree: name each failing test and
		# show its log, as for the first run.
		for trs in $(find "$BUILD"/mqe2e-* -name '*.trs' 2>/dev/null); do
			grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
			log=${trs%.trs}.log
			failures="$failures distcheck:$(basename "${log%.log}")"
			echo "---- distcheck: $log (last 60 lines) ----"; tail -60 "$log"
		done
	fi
	record distcheck $rc
fi

finish
