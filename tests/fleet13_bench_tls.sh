#!/bin/bash
# fleet13_bench_tls.sh - mqe2e-bench --mqe2e-tls: schemes 3 and 4 measured
# through the mqe2e broker's TLS 1.3 listener (the end-to-end protection
# inside MQTT over TLS, the deployment issue 13 adds), next to the TLS
# baseline; every message verified, the figures printed.  About 10 s.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/bench_lib.sh"
bench_brokers

"$BENCH" --quick --mqe2e-tls --schemes tls,s3,s4 --scenarios 1 --subs 2 -o "$T_DIR/out" \
	--work-dir "$T_DIR/work" --keep --kmsd "$KMSD" --plugin "$PLUGIN" --mosquitto "$MOSQUITTO" \
	2>"$T_DIR/bench.err" || { cat "$T_DIR/bench.err" >&2; t_fail "mqe2e-bench --mqe2e-tls failed"; }
grep "scenario 1 \|mqe2e broker" "$T_DIR/bench.err" | sed 's/^/# /'
grep -q "mqe2e broker 127.0.0.1:[0-9]* TLS 1.3" "$T_DIR/bench.err" ||
	t_fail "the bench does not say the mqe2e broker was reached over TLS"
conf=$(grep -l "plugin " "$T_DIR"/work/*.conf 2>/dev/null | head -n 1)
[ -n "$conf" ] && grep -q "^tls_version tlsv1.3" "$conf" ||
	t_fail "the mqe2e broker's configuration has no TLS listener"
for s in s3 s4; do
	n=$(grep -c "scenario 1 $s .*: 100/100 verified" "$T_DIR/bench.err")
	[ "$n" = 2 ] || t_fail "$s over TLS: $n of 2 runs (QoS 0, 1) verified all 100 messages"
done
port=$(sed -n 's/.*mqe2e broker 127.0.0.1:\([0-9]*\) TLS.*/\1/p' "$T_DIR/bench.err")
t_log "schemes 3 and 4 over the mqe2e broker's TLS listener $port: all messages verified"
