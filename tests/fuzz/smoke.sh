#!/bin/sh
# smoke.sh BUILD_DIR SECONDS - run every libFuzzer harness of a build made
# with `CC=clang configure --enable-fuzzing` for SECONDS each, starting from
# a scratch copy of its seed corpus.  Exits non-zero if any harness finds a
# crash, leak or timeout; the reproducer is kept in
# BUILD_DIR/tests/fuzz/artifacts/<parser>/.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqe2e-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
found=0

# run_one NAME BINARY CORPUS_DIR
run_one() {
	name=$1
	bin=$2
	seeds=$3
	if [ ! -d "$seeds" ]; then
		echo "FAIL $name: no seed corpus in $seeds"
		fail=1
		return
	fi
	found=$((found + 1))
	mkdir -p "$tmp/$name/corpus" "$tmp/$name/artifacts"
	cp -R "$seeds"/. "$tmp/$name/corpus/"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$tmp/$name/artifacts/" "$tmp/$name/corpus" \
	    >"$tmp/$name/log" 2>&1; then
		runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$tmp/$name/log")
		echo "ok   $name: ${runs:-?} runs, corpus $(ls "$tmp/$name/corpus" | wc -l) inputs"
	else
		echo "FAIL $name:"
		tail -n 40 "$tmp/$name/log"
		mkdir -p "$build/tests/fuzz/artifacts/$name"
		cp "$tmp/$name/artifacts"/* "$build/tests/fuzz/artifacts/$name/" 2>/dev/null
		echo "     reproducer(s) in $build/tests/fuzz/artifacts/$name/"
		fail=1
	fi
}

for bin in "$build"/tests/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	run_one "$name" "$bin" "$here/corpus/$name"
done
# harnesses of other areas, listed in extra-harnesses
while read -r bin seeds; do
	case $bin in ''|'#'*) continue ;; esac
	if [ -x "$build/tests/$bin" ]; then
		run_one "$bin" "$build/tests/$bin" "$here/../$seeds"
	else
		echo "skip $bin: not built"
	fi
done <"$here/extra-harnesses"
if [ "$found" -eq 0 ]; then
	echo "no libFuzzer binaries in $build/tests/fuzz (configure with CC=clang --enable-fuzzing)" >&2
	exit 1
fi
exit $fail
