#!/bin/bash
# keys12b_bench_policy.sh - mqe2e-bench kms's policy part (issue 12): at a
# small scale (400 clients, 40 groups) it measures a watch taking full
# snapshots and one taking deltas, and prints both rows; the delta must be
# far smaller than the snapshot (the watch used to take full snapshots
# only).  The figures at 10,000 clients are in docs/BENCHMARKS.md.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/bench_lib.sh" || exit 99

"$BENCH" kms --no-keys --storm 0 --policy-clients 400 --policy-groups 40 --kmsd "$KMSD" \
	--work-dir "$T_DIR/work" -o "$T_DIR/out.md" >"$T_DIR/stdout" 2>"$T_DIR/stderr" ||
	{ cat "$T_DIR/stderr" >&2; t_fail "mqe2e-bench kms failed"; }
full=$(awk -F'|' '/^\| full snapshot /{gsub(/ /, "", $3); print $3}' "$T_DIR/out.md")
delta=$(awk -F'|' '/^\| delta /{gsub(/ /, "", $3); print $3}' "$T_DIR/out.md")
[ -n "$full" ] && [ -n "$delta" ] || { cat "$T_DIR/out.md" >&2; t_fail "the policy table lacks a row"; }
t_log "bytes per change at 400 clients / 40 groups: full snapshot $full, delta $delta"
[ "$delta" -gt 0 ] && [ $((delta * 10)) -lt "$full" ] || t_fail "the delta ($delta bytes) is not far smaller than the snapshot ($full)"
exit 0
