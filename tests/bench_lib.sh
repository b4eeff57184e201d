# tests/bench_lib.sh - for the tests that run mqe2e-bench (bench_quick.sh,
# fleet13_bench_tls.sh, kmsperf12_storm.sh, keys12b_bench_policy.sh).
# Source it after lib.sh.  It sets BENCH and KMSD, and skips the test
# (t_skip) unless both are built.
#
# bench_brokers: for a run in which the bench starts Mosquitto (every mode
# but "kms --no-keys --storm 0"): sets PLUGIN; skips the test unless the
# plugin is built, Mosquitto is installed, the test runs as root (the
# bench's brokers run as 'user root') and openssl is there; and in a
# sanitizer build exports what the bench needs to load the ASan-built plugin
# into the stock broker: MQE2E_BENCH_BROKER_PRELOAD (the ASan runtime, the
# first library of t_san_preload) and ASAN_OPTIONS.
BENCH="$top_builddir/bench/mqe2e-bench"
KMSD="$top_builddir/kmsd/mqe2e-kmsd"
[ -x "$BENCH" ] || t_skip "mqe2e-bench not built"
[ -x "$KMSD" ] || t_skip "mqe2e-kmsd not built"

bench_brokers() {
	local pre
	PLUGIN="$top_builddir/broker-ext/.libs/mqe2e_plugin.so"
	[ -e "$PLUGIN" ] || t_skip "mqe2e_plugin.so not built"
	[ -x "$MOSQUITTO" ] || t_skip "mosquitto not installed"
	[ "$(id -u)" = 0 ] || t_skip "the brokers run as 'user root': needs root"
	t_need openssl
	pre=$(t_san_preload)
	if [ -n "$pre" ]; then
		pre=${pre#LD_PRELOAD=}
		export MQE2E_BENCH_BROKER_PRELOAD="${pre%% *}"
		export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
	fi
}
