#!/bin/bash
# pg13_keyrate.sh - issue 13: key requests served by each backend, printed
# as figures (not asserted: speed belongs to benchmarks).  One mqe2e-kmsd on
# SQLite and one on a real PostgreSQL 15, each with 20 groups a client holds
# grants on; kms_keyreq sends signed key requests one after another, then
# from 4 processes at once (the PostgreSQL pool serves them in parallel).
# Asserted: every request is answered 200 on both backends.  ~30 s.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
. "$top_srcdir/tests/pglib.sh" || exit 99
N=${PG13_KEYRATE_N:-200}

# populate NAME: a client NAME with grants on 20 groups.
populate() {
	local g
	expect_rc 0 kmsctl ca show
	cp "$T_DIR/out" "$T_DIR/ca.crt"
	enrol "$1" client
	for g in $(seq 1 20); do
		expect_rc 0 kmsctl group add "g$g" --filter "t$g/#" --scheme 4
		expect_rc 0 kmsctl grant add "$1" "g$g" sub
	done
}

# rate LABEL NAME: N sequential requests, then 4 x N/4 at once; prints req/s.
rate() {
	local label=$1 name=$2 t0 t1 i ok pids
	keyreq "$name" --count "$N" >"$T_DIR/seq.out" 2>&1 || t_fail "$label: keyreq failed: $(cat "$T_DIR/seq.out")"
	grep -q "^status 200 $N$" "$T_DIR/seq.out" || t_fail "$label: not all answered 200: $(cat "$T_DIR/seq.out")"
	seq_ms=$(sed -n 's/^elapsed_ms //p' "$T_DIR/seq.out")
	t0=$(date +%s%N)
	pids=""
	for i in 1 2 3 4; do keyreq_bg "$name" --count $((N / 4)) >"$T_DIR/par.$i" 2>&1; pids="$pids $KEYREQ_PID"; done
	for i in $pids; do wait "$i"; done   # not a bare wait: the daemon is a child too
	t1=$(date +%s%N)
	ok=0
	for i in 1 2 3 4; do grep -q "^status 200 $((N / 4))$" "$T_DIR/par.$i" && ok=$((ok + 1)); done
	[ "$ok" = 4 ] || t_fail "$label: parallel requests failed: $(cat "$T_DIR"/par.*)"
	echo "# $label: $N key requests (20 groups): sequential $((N * 1000 / (seq_ms > 0 ? seq_ms : 1))) req/s ($seq_ms ms), 4 at once $((N * 1000000000 / (t1 - t0))) req/s ($(((t1 - t0) / 1000000)) ms)"
}

# No per-client quota in the way: this measures the store.
KMS_CONF="$T_DIR/quota.conf"
echo "client_quota = 1000000" >"$KMS_CONF"
kms_start
populate s1
rate SQLite s1
kms_stop

KMS_DIR="$T_DIR/kms-pg"
unset KMS_PORT
MQE2E_TEST_DB=postgresql KMS_TEST_DB=postgresql
kms_start
populate p1
rate PostgreSQL p1
kms_stop
exit 0
