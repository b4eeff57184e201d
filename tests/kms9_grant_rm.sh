#!/bin/bash
# kms9_grant_rm.sh - issue 9 item 6: removing a grant voids the pre-issued
# next epoch and rekeys the group at once, exactly like a revocation, so the
# removed subscriber holds no key the group uses after the next rotation.
#
# The removed subscriber (sub1) keeps every key it fetched while it held the
# grant, including the pre-issued next epoch.  After `grant rm` and one more
# rotation, the keys the publisher encrypts with (GK_P) and the broker frames
# with (GK_B) must be none of them: compared by SHA-256 of the key
# (kms_keyreq prints a prefix, never the key).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
enrol pub1 client
enrol sub1 client
enrol sub2 client
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4 --grace 60
expect_rc 0 kmsctl grant add pub1 temps pub
expect_rc 0 kmsctl grant add sub1 temps sub
expect_rc 0 kmsctl grant add sub2 temps sub
expect_rc 0 kmsctl grant add sub2 temps pub

# what sub1 holds while it may: "KIND EPOCH HASH" lines
expect_rc 0 keyreq sub1
awk '{print $2, $3, $6}' "$T_DIR/out" | sort >"$T_DIR/held"
grep -q '^GK_B 2 ' "$T_DIR/held" || t_fail "sub1 does not hold the pre-issued next epoch: $(cat "$T_DIR/held")"
[ "$(epochs temps)" = "1:current 2:next" ] || t_fail "epochs before: $(epochs temps)"

# --- remove the sub grant: rekey at once, next voided --------------------------------
expect_rc 0 kmsctl --json grant rm sub1 temps sub
cp "$T_DIR/out" "$T_DIR/rm.json"
ep=$(epochs temps)
# no grant left: an empty answer
expect_rc 0 keyreq sub1
[ -s "$T_DIR/out" ] && t_fail "sub1 still gets keys after grant rm: $(cat "$T_DIR/out")"

# --- one more rotation: every key in use is new to sub1 ------------------------------
expect_rc 0 kmsctl group rotate temps
expect_rc 0 keyreq pub1
awk '{print $2, $3, $6}' "$T_DIR/out" | sort >"$T_DIR/pub1"
expect_rc 0 keyreq broker1
awk '{print $2, $3, $6}' "$T_DIR/out" | sort >"$T_DIR/broker1"
cur=$(epochs temps | tr ' ' '\n' | awk -F: '$2 == "current" {print $1}')
for f in pub1 broker1; do
	awk -v e="$cur" '$2 == e' "$T_DIR/$f" | grep -q . || t_fail "$f has no key of epoch $cur: $(cat "$T_DIR/$f")"
	awk -v e="$cur" '$2 == e {print $3}' "$T_DIR/$f" | while read -r h; do
		if awk '{print $3}' "$T_DIR/held" | grep -qx "$h"; then
			t_fail "sub1 (grant removed) holds the key $h that $f uses in epoch $cur"
		fi
	done || exit 1
done
[ "$ep" = "1:grace 2:void 3:current 4:next" ] || t_fail "epochs after grant rm: $ep (expected the pre-issued next voided and a fresh current and next)"
[ "$(jget 'd["rekeyed"]' <"$T_DIR/rm.json")" = '["temps"]' ] || t_fail "grant rm answer: $(cat "$T_DIR/rm.json")"
[ "$cur" = 4 ] || t_fail "epochs after the rotation: $(epochs temps)"
kmsctl --json group show temps | grep -q 'sub grant removed' || t_fail "the rekey is not recorded on the group: $(kmsctl --json group show temps)"
n_held=$(wc -l <"$T_DIR/held")
echo "# grant rm: sub1 kept $n_held keys (epochs 1-2); the group moved to epoch $cur with keys it never had"

# --- a pub grant removed while the client still subscribes: it loses no key, no rekey ---
before=$(epochs temps)
expect_rc 0 kmsctl --json grant rm sub2 temps pub
[ "$(jget 'd["rekeyed"]' <"$T_DIR/out")" = '[]' ] || t_fail "pub removal from a subscriber rekeyed: $(cat "$T_DIR/out")"
[ "$(epochs temps)" = "$before" ] || t_fail "epochs moved: $(epochs temps) after $before"
# --- the publisher's only grant removed: it held GK_P of the next epoch: rekey ---------
expect_rc 0 kmsctl --json grant rm pub1 temps pub
[ "$(jget 'd["rekeyed"]' <"$T_DIR/out")" = '["temps"]' ] || t_fail "pub grant removal did not rekey: $(cat "$T_DIR/out")"
exit 0
