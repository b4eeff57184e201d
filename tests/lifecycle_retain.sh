#!/bin/bash
# lifecycle_retain.sh - a retained message published in epoch e is readable
# by a new subscriber while e is within the group's grace period, and
# refused after it with an error naming the group and the epoch.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

GRACE=4
kms_start
enrol broker broker
enrol pub client
enrol sub1 client
enrol sub2 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 86400 --grace "$GRACE"
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
expect_rc 0 kmsctl grant add sub2 grp sub
broker_start

MARK=$(marker)
expect_rc 0 pub pub -t e2e/state -q 1 -r -m "$MARK"
expect_rc 0 kmsctl group rotate grp
[ "$(epochs grp)" = "1:grace 2:current 3:next" ] || t_fail "after rotate: $(epochs grp)"
t_log "retained message published in epoch 1; group now at epoch 2, epoch 1 in grace for ${GRACE}s"

# Within grace: a subscriber that never saw epoch 1 as current reads it.
expect_rc 0 sub sub1 -q 1 -t 'e2e/#' -C 1 -W 10 -d
grep -qx -- "$MARK" "$T_DIR/out" || t_fail "retained message not read within grace: $(cat "$T_DIR/out" "$T_DIR/err")"
grep -q "group 'grp', epoch 1," "$T_DIR/err" || t_fail "not read under epoch 1: $(cat "$T_DIR/err")"

# After grace: the KMS no longer delivers epoch 1; the retained message is
# refused with a clear error and never printed.
for _ in $(seq 1 100); do
	case " $(epochs grp) " in *" 1:expired "*) break ;; esac
	sleep 0.1
done
case " $(epochs grp) " in *" 1:expired "*) ;; *) t_fail "epoch 1 did not expire: $(epochs grp)" ;; esac
expect_rc 27 sub sub2 -q 1 -t 'e2e/#' -C 1 -W 3
[ ! -s "$T_DIR/out" ] || t_fail "an expired epoch was read: $(cat "$T_DIR/out")"
grep -q "(group 'grp', epoch 1): .*past the group's grace period" "$T_DIR/err" ||
	t_fail "the refusal does not name the group, the epoch and the reason: $(cat "$T_DIR/err")"
t_log "after grace: $(grep -m1 "epoch 1" "$T_DIR/err")"
exit 0
