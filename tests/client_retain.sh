#!/bin/bash
# QoS 2 and retained messages: a message published with -r -q 2 reaches a
# subscriber that comes later, still sealed end to end (scheme 4 and 3).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
expect_rc 0 kmsctl group add g3 --filter 'three/#' --scheme 3
expect_rc 0 kmsctl grant add pub g3 pub
expect_rc 0 kmsctl grant add sub1 g3 sub
sleep 1   # the broker learns the new group
expect_rc 0 pub pub -t e2e/state -q 2 -r -m "retained four" --group grp
expect_rc 0 pub pub -t three/state -q 2 -r -m "retained three" --group g3
expect_rc 0 "$SUB" $(client_args sub1) -t e2e/state -t three/state -q 2 -C 2 -W 20 -v
sort "$T_DIR/out" >"$T_DIR/got"
printf 'e2e/state retained four\nthree/state retained three\n' | cmp -s - "$T_DIR/got" ||
	{ cat "$T_DIR/out" "$T_DIR/err" >&2; t_fail "retained messages not delivered to a later subscriber"; }
t_log "retained QoS 2 messages of schemes 4 and 3 reached a later subscriber"
exit 0
