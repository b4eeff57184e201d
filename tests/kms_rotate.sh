#!/bin/bash
# kms_rotate.sh - epochs: "group rotate" and the scheduler make new epochs;
# an old epoch is still delivered within its grace period and not after.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
enrol broker1 broker

# delivered epochs of kind K to a requester: "1 2 3"
delivered() { keyreq "$1" | awk -v k="$2" '$2 == k {print $3}' | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# --- manual rotation, 6 s grace ------------------------------------------------
expect_rc 0 kmsctl group add manual --filter 'm/#' --scheme 4 --rotate 86400 --grace 6
expect_rc 0 kmsctl grant add sub1 manual sub
[ "$(epochs manual)" = "1:current 2:next" ] || t_fail "new group: $(epochs manual)"
[ "$(delivered sub1 GK_P)" = "1 2" ] || t_fail "before rotation: $(delivered sub1 GK_P)"
expect_rc 0 kmsctl group rotate manual
grep -q '^current_epoch *2$' "$T_DIR/out" || t_fail "rotate output: $(cat "$T_DIR/out")"
[ "$(epochs manual)" = "1:grace 2:current 3:next" ] || t_fail "after rotate: $(epochs manual)"
# within grace: the old epoch is still delivered, to subscribers and broker
[ "$(delivered sub1 GK_P)" = "1 2 3" ] || t_fail "within grace (GK_P): $(delivered sub1 GK_P)"
[ "$(delivered broker1 GK_B)" = "1 2 3" ] || t_fail "within grace (GK_B): $(delivered broker1 GK_B)"
# grace_s = 6: after it epoch 1 is expired and no longer delivered (the
# scheduler looks every second; allow for a loaded machine)
sleep 6
for i in $(seq 1 50); do
	[ "$(epochs manual)" = "1:expired 2:current 3:next" ] && break
	sleep 0.2
done
[ "$(epochs manual)" = "1:expired 2:current 3:next" ] || t_fail "after grace: $(epochs manual)"
[ "$(delivered sub1 GK_P)" = "2 3" ] || t_fail "after grace (GK_P): $(delivered sub1 GK_P)"
[ "$(delivered broker1 GK_B)" = "2 3" ] || t_fail "after grace (GK_B): $(delivered broker1 GK_B)"
# the key of an epoch does not change when it moves from next to current
keyreq sub1 | awk '$2 == "GK_P" && $3 == 3 {print $6}' >"$T_DIR/h3.before"
expect_rc 0 kmsctl group rotate manual
keyreq sub1 | awk '$2 == "GK_P" && $3 == 3 {print $6}' >"$T_DIR/h3.after"
cmp -s "$T_DIR/h3.before" "$T_DIR/h3.after" || t_fail "epoch 3 key changed when it became current"
[ "$(epochs manual)" = "1:expired 2:grace 3:current 4:next" ] || t_fail "second rotate: $(epochs manual)"

# --- scheduled rotation ----------------------------------------------------------------
# A 10 s period (docs/API.md: rotate_s >= 1; lifecycle_rotate.sh uses 2 s).
ROT=10
expect_rc 0 kmsctl group add sched --filter 's/+' --scheme 4 --rotate $ROT --grace 60
expect_rc 0 kmsctl grant add sub1 sched sub
[ "$(epochs sched)" = "1:current 2:next" ] || t_fail "sched new: $(epochs sched)"
for i in $(seq 1 $(( (ROT + 10) * 2 ))); do
	cur=$(kmsctl --json group show sched | jget 'd["current_epoch"]')
	[ "$cur" -ge 2 ] && break
	sleep 0.5
done
[ "$cur" -ge 2 ] || t_fail "the scheduler did not rotate within $((ROT + 10)) s: $(epochs sched)"
[ "$(epochs sched | cut -d' ' -f1-3)" = "1:grace 2:current 3:next" ] ||
	t_fail "after scheduled rotation: $(epochs sched)"
[ "$(delivered sub1 GK_B | cut -d' ' -f1-3)" = "1 2 3" ] ||
	t_fail "scheduled rotation, delivered: $(delivered sub1 GK_B)"
t_log "manual and scheduled rotation, grace and expiry ok"
exit 0
