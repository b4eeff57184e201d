#!/bin/bash
# kms_stop_watch.sh - mqe2e-kmsd stops cleanly on SIGTERM while brokers'
# policy watches keep arriving on kept-alive connections.
#
# A watch runs on a thread of its own with its connection suspended
# (kmsd/httpd.c, the slow lane); libmicrohttpd aborts the process if
# MHD_stop_daemon finds a suspended connection.  The old stop waited until
# no watch ran, then stopped the daemon - and a watch arriving in between
# on a connection accepted earlier was suspended again: SIGABRT (core dumps
# of "MHD-worker" seen in CI-like runs): stopping wakes every watch, and a
# broker sends its next one at once, on the same connection.  Here six
# watchers do what brokers do (a long poll at the current version, the next
# one as soon as it is answered) and the daemon is stopped under them,
# ROUNDS times: it must exit 0 every time, without libmicrohttpd's "Fatal
# error".
#
# Meanwhile a churner opens and closes TCP connections to the listener as
# fast as it can, which keeps waking the daemon's threads.  With
# libmicrohttpd's epoll loop a thread woken while MHD_quiesce_daemon ran
# took the listening socket out of its epoll set at the same moment as
# MHD_quiesce_daemon did, and whichever came second aborted the process
# ("Failed to remove listen FD from epoll set", SIGABRT on SIGTERM; in CI, in
# tls12_https.sh, stop 23).  The daemon runs here with slow_epoll_del.so
# preloaded, which holds that window open for 300 ms: the epoll daemon
# aborted in round 1.  Its threads poll() now, where stopping to accept is
# a message to each thread.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

ROUNDS=${MQE2E_STOP_ROUNDS:-8}

shim="$top_builddir/tests/.libs/slow_epoll_del.so"
[ -f "$shim" ] || t_fail "$shim is missing (make check builds it)"
cat >"$T_DIR/kmsd-slow-del" <<EOF
#!/bin/sh
LD_PRELOAD="$shim" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" exec "$KMSD" "\$@"
EOF
chmod +x "$T_DIR/kmsd-slow-del"
KMSD="$T_DIR/kmsd-slow-del"

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
expect_rc 0 keyreq broker1 --watch 0 --timeout 5
version=$(awk '$1 == "version" {print $2}' "$T_DIR/out")
[ -n "$version" ] || t_fail "a watch since 0 did not answer: $(cat "$T_DIR/out" "$T_DIR/err")"

# connect and close at once until killed at the end of the round (30 s at most)
churn() {
	local end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$end" ]; do
		exec 3<>"/dev/tcp/127.0.0.1/$KMS_PORT" 2>/dev/null || { sleep 0.05; continue; }
		exec 3>&-
	done
}

for round in $(seq 1 "$ROUNDS"); do
	pids=""
	for f in 1 2 3 4 5 6; do
		# the tool itself, not the keyreq function: $! must be its pid
		"$KEYREQ" --kms "$KMS_URL" --cert "$T_DIR/broker1.crt" --key "$T_DIR/broker1.key" \
			--ca "$T_DIR/ca.crt" --watch "$version" --timeout 30 --count 1000 \
			>"$T_DIR/flood$f.out" 2>&1 &
		pids="$pids $!"
		t_track "$!"
	done
	t_bg_func churn_pid churn
	# let the flooders get going (a round that starts before they do only
	# tests less; it cannot fail because of it)
	sleep 0.5
	kill -TERM "$KMS_PID"
	rc=
	for _ in $(seq 1 150); do
		kill -0 "$KMS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$KMS_PID" 2>/dev/null && t_fail "round $round: mqe2e-kmsd did not stop within 15 s of SIGTERM"
	wait "$KMS_PID" 2>/dev/null
	rc=$?
	KMS_PID=""
	t_kill_tree "$churn_pid"
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null
	# shellcheck disable=SC2086
	wait $pids "$churn_pid" 2>/dev/null
	if grep -q "Fatal error" "$T_DIR/kmsd.log" || [ "$rc" != 0 ]; then
		tail -20 "$T_DIR/kmsd.log" >&2
		t_fail "round $round: mqe2e-kmsd exited $rc on SIGTERM under a flood of watches"
	fi
	grep -q '"message":"stopped"\|mqe2e-kmsd: stopped' "$T_DIR/kmsd.log" ||
		{ tail -5 "$T_DIR/kmsd.log" >&2; t_fail "round $round: no 'stopped' line"; }
	[ "$round" = "$ROUNDS" ] || kms_start
done
t_log "$ROUNDS stops under a flood of policy watches and connections: each exited 0"
exit 0
