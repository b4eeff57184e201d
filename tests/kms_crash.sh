#!/bin/bash
# kms_crash.sh - kill -9 during rotation, again and again: after every
# restart the database passes PRAGMA integrity_check, the epochs of each
# group are 1..N without gaps or duplicates with exactly one current and one
# next, and a key once delivered for an epoch never changes.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99
t_need sqlite3

ROUNDS=${KMS_CRASH_ROUNDS:-8}

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
# the shortest scheduled period the API allows, plus manual rotations in a loop
expect_rc 0 kmsctl group add fast --filter 'f/#' --scheme 4 --rotate 10 --grace 30
expect_rc 0 kmsctl group add slow --filter 's/#' --scheme 3 --grace 30
expect_rc 0 kmsctl grant add sub1 fast sub
expect_rc 0 kmsctl grant add sub1 slow sub
: >"$T_DIR/seen"

check_state() {
	local g
	sqlite3 "$KMS_DIR/kms.db" 'PRAGMA integrity_check' >"$T_DIR/ic" 2>&1 ||
		t_fail "round $1: sqlite3 failed: $(cat "$T_DIR/ic")"
	[ "$(cat "$T_DIR/ic")" = ok ] || t_fail "round $1: integrity_check: $(cat "$T_DIR/ic")"
	for g in fast slow; do
		kmsctl --json group show $g >"$T_DIR/g.json" || t_fail "round $1: group show $g"
		jget '
(lambda n, states, cur, total:
    "ok" if n == list(range(total - len(n) + 1, total + 1)) and states.count("current") == 1
           and states.count("next") == 1 and states[-1] == "next"
           and n[states.index("current")] == cur
    else "bad: %r %r current_epoch=%r" % (n, states, cur))(
  [e["epoch"] for e in d["epochs"]],
  [e["state"] for e in sorted(d["epochs"], key=lambda e: e["epoch"])],
  d["current_epoch"], d["epochs_total"])' <"$T_DIR/g.json" >"$T_DIR/verdict"
		[ "$(cat "$T_DIR/verdict")" = ok ] || t_fail "round $1, group $g: $(cat "$T_DIR/verdict")"
	done
	# keys: an epoch's key never changes across crashes
	keyreq sub1 >"$T_DIR/keys" || t_fail "round $1: key request failed: $(cat "$T_DIR/keys")"
	awk '{print $1, $2, $3, $6}' "$T_DIR/keys" | while read -r grp kind ep h; do
		old=$(awk -v g="$grp" -v k="$kind" -v e="$ep" '$1 == g && $2 == k && $3 == e {print $4; exit}' "$T_DIR/seen")
		if [ -n "$old" ] && [ "$old" != "$h" ]; then
			echo "$grp $kind epoch $ep: key $old became $h"
		fi
		echo "$grp $kind $ep $h" >>"$T_DIR/seen"
	done >"$T_DIR/changed"
	[ -s "$T_DIR/changed" ] && t_fail "round $1: $(cat "$T_DIR/changed")"
	return 0
}

check_state 0
rotator() {
	while :; do
		"$KMSCTL" --timeout 2000 group rotate fast >/dev/null 2>&1
		"$KMSCTL" --timeout 2000 group rotate slow >/dev/null 2>&1
	done
}
for round in $(seq 1 "$ROUNDS"); do
	t_bg_func rpid rotator
	# let rotations run for 0.3 .. 1.2 s, then pull the plug
	sleep "0.$(( 3 + RANDOM % 9 ))"
	kms_stop -9
	t_kill_tree $rpid   # the loop and the kmsctl it runs
	wait $rpid 2>/dev/null
	kms_start
	check_state "$round"
done
n=$(kmsctl --json group show fast | jget 'len(d["epochs"])')
[ "$n" -gt 4 ] || t_fail "only $n epochs: the rotations did not run"
t_log "$ROUNDS kill -9 rounds, $n epochs in group fast, state consistent"
exit 0
