#!/bin/bash
# Issue 9.15: a pairwise key belongs to (publisher, subscriber, group,
# generation) - docs/PROTOCOL.md 2.4.  The publisher pairs with the real
# mqe2e-sub for two scheme 1 groups at the same generation (the generation
# is the publisher's choice) and sends one message in each group.  The
# subscriber must read both: each envelope names "pub|sub1|<group>" and is
# opened with that group's key.  Before the fix the subscriber looked the
# key up by (sender, generation) only, took the newer pairing's key for the
# other group's message and dropped it.  Real mqe2e-kmsd, Mosquitto + plugin,
# mqe2e-sub; the publisher is broker_probe pairpub (real signed pairing,
# real K_E2E).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

PROBE="$top_builddir/tests/broker_probe"
[ -x "$PROBE" ] || t_skip "broker_probe not built"

kms_start
enrol broker broker
enrol pub client
enrol sub1 client
for g in 1 2; do
	expect_rc 0 kmsctl group add "g$g" --filter "p$g/#" --scheme 1
	expect_rc 0 kmsctl grant add pub "g$g" pub
	expect_rc 0 kmsctl grant add sub1 "g$g" sub
done
broker_start

sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'p1/#' -t 'p2/#' -C 2 -W 30
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" 2 || t_fail "sub1 did not subscribe"

"$PROBE" pairpub --port "$MQTT_PORT" --cert "$PKI/pub.crt" --key "$PKI/pub.key" --ca "$PKI/ca.crt" \
    --kms "$KMS_URL" --other-id sub1 --group g1,g2 --topic p1/x,p2/x --epoch 7 --message "for sub1" \
    >"$T_DIR/pub.out" 2>&1 || { cat "$T_DIR/pub.out" >&2; t_fail "the publisher failed"; }
grep -q "^paired pub|sub1|g1 generation 7$" "$T_DIR/pub.out" &&
	grep -q "^paired pub|sub1|g2 generation 7$" "$T_DIR/pub.out" ||
	{ cat "$T_DIR/pub.out" >&2; t_fail "the two pairings did not happen"; }
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 did not read both groups"; }
printf 'g1 for sub1\ng2 for sub1\n' | cmp -s - <(sort "$T_DIR/sub.out") ||
	{ cat "$T_DIR/sub.out" "$T_DIR/sub.out.err" >&2; t_fail "sub1 did not print both messages"; }
grep -q "dropped" "$T_DIR/sub.out.err" && { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 dropped a message"; }
t_log "two pairings at generation 7 (groups g1, g2): both messages read, each under its group's key"
exit 0
