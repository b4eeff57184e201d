#!/bin/bash
# Key rotation under a live subscriber: after two rotations the publisher
# seals under an epoch the subscriber never fetched; the subscriber asks the
# KMS again by itself and goes on receiving.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'e2e/#' -C 2 -W 60
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
expect_rc 0 pub pub -t e2e/a -q 1 -m "before rotation"
wait_for "$T_DIR/sub.out" "before rotation" || t_fail "first message lost"
grep -q "epoch 1," "$T_DIR/sub.out.err" || t_fail "first message not under epoch 1"

expect_rc 0 kmsctl group rotate grp
expect_rc 0 kmsctl group rotate grp
sleep 2   # the broker's policy watch learns the new epoch
expect_rc 0 pub pub -t e2e/a -q 1 -m "after two rotations"
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "the subscriber failed"; }
grep -q "after two rotations" "$T_DIR/sub.out" || t_fail "message after the rotations lost"
grep -q "epoch 3," "$T_DIR/sub.out.err" || { cat "$T_DIR/sub.out.err" >&2; t_fail "not received under epoch 3"; }
n=$(kms_audit_count client:sub1 keys.fetch)
[ "$n" -ge 2 ] || t_fail "the subscriber did not fetch keys again ($n fetches in the audit log)"
t_log "subscriber fetched epoch 3 by itself ($n key fetches) and received the message"
exit 0
