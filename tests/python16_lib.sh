# tests/python16_lib.sh - run part of the Python binding's pytest suite
# (python/tests) against the real stack - mqe2e-kmsd + SQLite, Mosquitto with
# the plugin, mqe2e-pub/mqe2e-sub - with the package imported from the source
# tree and libmqe2e from this build.  Skips only when no python3 with pytest
# exists.  Source after lib.sh, then: python16_pytest FILE...

PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import pytest' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || t_skip "no python3 with pytest (Debian: apt-get install python3-pytest)"
[ -x "$MOSQUITTO" ] || t_skip "mosquitto not installed"
LIB="$top_builddir/client/.libs/libmqe2e.so"
[ -e "$LIB" ] || t_fail "$LIB not built"

export MQE2E_BUILDDIR="$top_builddir" MQE2E_LIBRARY="$LIB" MOSQUITTO
export PYTHONPATH="$top_srcdir/python" PYTHONDONTWRITEBYTECODE=1
# A sanitizer build of libmqe2e in the stock interpreter: the runtime goes
# first (t_san_preload; Python's own allocations are no leaks of ours).
python16_pytest() {
	local f args=()
	for f in "$@"; do args+=("$top_srcdir/python/tests/$f"); done
	# shellcheck disable=SC2046
	env $(t_san_preload) "$PY" -m pytest -p no:cacheprovider -q -rs \
		--basetemp="$T_DIR/pytest" "${args[@]}" || t_fail "pytest failed (see above)"
}
