#!/bin/bash
# clock_faketime.sh - the monotonic timed waits of core/clock.c under
# libfaketime with the wall clock shifted and the monotonic clock left alone
# (FAKETIME_DONT_FAKE_MONOTONIC=1), as client_publish_outage.sh and
# layout13_revoked_expiry.sh run a publisher and a KMS.  libfaketime 0.9.10
# rewrites the deadline of pthread_cond_timedwait() on a CLOCK_MONOTONIC
# condition variable as if that clock were faked: such a wait ended at once
# (a KMS rotation thread spinning, a publisher's connect timing out).
. "$top_srcdir/tests/lib.sh"

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$FT" ] || t_skip "libfaketime not installed"
[ -x "$top_builddir/tests/test_clock" ] || t_fail "tests/test_clock not built"
for shift in -3s +2d -2d; do
	LD_PRELOAD="$FT" FAKETIME="$shift" FAKETIME_DONT_FAKE_MONOTONIC=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		"$top_builddir/tests/test_clock" >"$T_DIR/out" 2>&1 ||
		{ cat "$T_DIR/out" >&2; t_fail "test_clock under FAKETIME=$shift"; }
	t_log "FAKETIME=$shift: $(grep -c '  OK ' "$T_DIR/out") checks passed"
done
exit 0
