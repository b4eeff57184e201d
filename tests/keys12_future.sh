#!/bin/bash
# keys12_future.sh - a group's future_epochs (issue 12): K epochs are issued
# and delivered ahead with consecutive validity windows; rotation keeps K;
# changing K tops up or voids the highest; a revocation voids EVERY future
# epoch the revoked client held (not only the next one) and issues K fresh
# ones it never saw; out-of-range values are refused.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol sub1 client
enrol thief client
enrol broker1 broker

# delivered epochs of kind K to a requester: "1 2 3"
delivered() { keyreq "$1" | awk -v k="$2" '$2 == k {print $3}' | sort -n | tr '\n' ' ' | sed 's/ $//'; }

ROT=3600
expect_rc 0 kmsctl group add f3 --filter 'f3/#' --scheme 4 --rotate $ROT --grace 600 \
	--future-epochs 3
grep -q '^future_epochs *3$' "$T_DIR/out" || t_fail "group add output: $(cat "$T_DIR/out")"
[ "$(epochs f3)" = "1:current 2:next 3:next 4:next" ] || t_fail "new group: $(epochs f3)"
expect_rc 0 kmsctl grant add sub1 f3 sub
expect_rc 0 kmsctl grant add thief f3 sub
[ "$(delivered sub1 GK_P)" = "1 2 3 4" ] || t_fail "client: $(delivered sub1 GK_P)"
[ "$(delivered sub1 GK_B)" = "1 2 3 4" ] || t_fail "client GK_B: $(delivered sub1 GK_B)"
[ "$(delivered broker1 GK_B)" = "1 2 3 4" ] || t_fail "broker: $(delivered broker1 GK_B)"
# consecutive windows: next k starts at next_rotation + (k-1) * rotate_s
keyreq sub1 | awk -v rot=$ROT '$2 == "GK_P" { nb[$3] = $4; na[$3] = $5 }
	END { for (e = 3; e <= 4; e++) if (nb[e] - nb[e - 1] != rot * 1000) { print "epoch " e ": starts " nb[e] - nb[e - 1] " ms after " e - 1; exit 1 }
	      if (na[1] != nb[2] + 600000) { print "current ends at " na[1] ", next starts at " nb[2]; exit 1 } }' ||
	t_fail "validity windows of the future epochs"
keyreq thief | awk '$2 == "GK_P" {print $3, $6}' | sort >"$T_DIR/thief.keys"

# rotation keeps three ahead
expect_rc 0 kmsctl group rotate f3
[ "$(epochs f3)" = "1:grace 2:current 3:next 4:next 5:next" ] || t_fail "after rotate: $(epochs f3)"

# fewer: the highest are voided; more: issued at once
expect_rc 0 kmsctl group update f3 --future-epochs 1
[ "$(epochs f3)" = "1:grace 2:current 3:next 4:void 5:void" ] || t_fail "K=1: $(epochs f3)"
expect_rc 0 kmsctl group update f3 --future-epochs 2
[ "$(epochs f3)" = "1:grace 2:current 3:next 4:void 5:void 6:next" ] || t_fail "K=2: $(epochs f3)"
expect_rc 0 kmsctl group update f3 --future-epochs 3
[ "$(delivered sub1 GK_P)" = "1 2 3 6 7" ] || t_fail "after K changes: $(delivered sub1 GK_P)"
keyreq thief | awk '$2 == "GK_P" {print $3, $6}' | sort >"$T_DIR/thief.keys"

# the thief is revoked: all three future epochs it held are voided, the
# group moves to a fresh current epoch and three fresh future ones
expect_rc 0 kmsctl client revoke thief --reason "device stolen"
[ "$(epochs f3)" = "1:grace 2:grace 3:void 4:void 5:void 6:void 7:void 8:current 9:next 10:next 11:next" ] ||
	t_fail "after revocation: $(epochs f3)"
keyreq sub1 | awk '$2 == "GK_P" {print $3, $6}' | sort -n >"$T_DIR/sub1.keys"
awk '{print $1}' "$T_DIR/sub1.keys" | tr '\n' ' ' | grep -qx '1 2 8 9 10 11 ' ||
	t_fail "sub1 after revocation: $(cat "$T_DIR/sub1.keys")"
# no key sub1 may use from now on is one the thief held
while read -r e h; do
	[ "$e" -ge 8 ] || continue
	grep -q " $h\$" "$T_DIR/thief.keys" && t_fail "epoch $e: a key the revoked client held"
done <"$T_DIR/sub1.keys"
# ... and the thief gets nothing any more
keyreq thief >"$T_DIR/out" 2>&1 && t_fail "the revoked client still gets keys"
grep -q '^error 403 revoked' "$T_DIR/out" || t_fail "revoked client: $(cat "$T_DIR/out")"

# 0: nothing ahead (a rotation makes a fresh current); out of range refused
expect_rc 0 kmsctl group add f0 --filter 'f0/#' --scheme 3 --future-epochs 0
[ "$(epochs f0)" = "1:current" ] || t_fail "K=0: $(epochs f0)"
expect_rc 0 kmsctl group rotate f0
[ "$(epochs f0)" = "1:grace 2:current" ] || t_fail "K=0 rotated: $(epochs f0)"
expect_rc 1 kmsctl group add f17 --filter 'f17/#' --scheme 4 --future-epochs 17
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$KMS_DIR/admin.token")" \
	-H 'Content-Type: application/json' -d '{"future_epochs":-1}' -X PATCH "$KMS_URL/v1/groups/f3")
[ "$code" = 400 ] || t_fail "future_epochs -1 over REST: HTTP $code $(cat "$T_DIR/body")"
# the default is 1: one epoch ahead, as before
expect_rc 0 kmsctl group add f1 --filter 'f1/#' --scheme 4
[ "$(epochs f1)" = "1:current 2:next" ] || t_fail "default: $(epochs f1)"
kms_stop
t_log "future_epochs: delivery, rotation, resizing, revocation voids all future epochs ok"
exit 0
