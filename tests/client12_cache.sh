#!/bin/bash
# client12_cache.sh - the client's sealed key cache (issue 12).
#
# With the KMS up, mqe2e-sub and mqe2e-pub leave <key>.cache (mode 0600, the
# magic, nothing readable); --no-key-cache writes nothing, --key-cache FILE
# writes there, an unwritable one is reported and the client works.  With
# the KMS stopped, a restarted subscriber and publisher work from their
# caches and the subscriber receives again; without a cache exit 3.
# Attacks on the file, each refused with the file named and ignored (exit
# 3, no keys): a flipped byte in the sealed part, in the tag, in the write
# time and in the owner name of the header, a truncated file, garbage,
# another client's cache (foreign), another client's cache under this
# client's header (forged).  A revoked client's cache does not get it past
# the broker (exit 4), and the KMS's "403 revoked" deletes the file.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 2

# --- the KMS is up: the tools write their caches -----------------------------
expect_rc 0 "$SUB" $(client_args sub1) -t 'e2e/#' -q 1 -E -d
expect_rc 0 pub pub -t e2e/a -q 1 -m "first"
for n in sub1 pub; do
	f="$PKI/$n.key.cache"
	[ -f "$f" ] || t_fail "no key cache $f after a run with the KMS up"
	mode=$(stat -c %a "$f")
	[ "$mode" = 600 ] || t_fail "$f has mode $mode, not 600"
	head -c 8 "$f" | grep -q "MQE2E-KC" || t_fail "$f does not start with the cache magic"
done
# no key the KMS handed out appears in clear: the group table's filter does
# not either (the whole bundle is sealed)
if grep -q 'e2e/#' "$PKI/sub1.key.cache"; then
	t_fail "the group filter is readable in the cache file: not sealed"
fi
ls "$PKI"/*.cache.* 2>/dev/null && t_fail "a first write left a temporary or spare file behind"
# later writes go through the spare beside the file and trade names with it
# (renameat2 RENAME_EXCHANGE): after the second the spare holds the previous
# cache, whole and sealed; the third creates no file, the two inodes swap.
# Each run below gets keys the file does not hold yet (a new group granted):
# a run whose keys the file holds writes nothing (further down)
f="$PKI/pub.key.cache"
more_keys() {   # more_keys CLIENT GROUP: a group more for CLIENT (a new key bundle)
	expect_rc 0 kmsctl group add "$2" --filter "more/$2/#" --scheme 4
	expect_rc 0 kmsctl grant add "$1" "$2" sub
}
more_keys pub more2
expect_rc 0 pub pub -t e2e/a -q 1 -m "second"
[ -f "$f.spare" ] || t_fail "a second write left no spare $f.spare"
for g in "$f" "$f.spare"; do
	mode=$(stat -c %a "$g")
	[ "$mode" = 600 ] || t_fail "$g has mode $mode, not 600"
	head -c 8 "$g" | grep -q "MQE2E-KC" || t_fail "$g does not start with the cache magic"
done
ino_file=$(stat -c %i "$f")
ino_spare=$(stat -c %i "$f.spare")
more_keys pub more3
expect_rc 0 pub pub -t e2e/a -q 1 -m "third"
[ "$(stat -c %i "$f")" = "$ino_spare" ] && [ "$(stat -c %i "$f.spare")" = "$ino_file" ] ||
	t_fail "the third write did not trade $f (inode $ino_file) with its spare (inode $ino_spare): now $(stat -c %i "$f") and $(stat -c %i "$f.spare")"
ls "$PKI"/*.cache.* 2>/dev/null | grep -v '\.cache\.spare$' && t_fail "a temporary cache file was left behind"
t_log "three writes of $f: the file and its spare traded inodes $ino_file and $ino_spare"
# a run whose keys the file already holds (a restart, nothing rotated or
# granted since) leaves both files as they are: no write, no fsync
cp "$f" "$T_DIR/pub.kept"
cp "$f.spare" "$T_DIR/pub.spare.kept"
ino_file=$(stat -c %i "$f")
expect_rc 0 pub pub -t e2e/a -q 1 -m "fourth, same keys"
cmp -s "$f" "$T_DIR/pub.kept" && cmp -s "$f.spare" "$T_DIR/pub.spare.kept" &&
	[ "$(stat -c %i "$f")" = "$ino_file" ] ||
	t_fail "a run with the keys $f already held wrote it again (inode $ino_file, now $(stat -c %i "$f"))"
# what the file holds is read through its seal: a damaged file holding
# "the same keys" is written again, whole
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x01; open(p, "wb").write(bytes(b))' "$f"
cp "$f" "$T_DIR/pub.damaged"
expect_rc 0 pub pub -t e2e/a -q 1 -m "fifth, damaged cache"
cmp -s "$f" "$T_DIR/pub.damaged" && t_fail "a damaged $f was taken for the keys it should hold and left"
head -c 8 "$f" | grep -q "MQE2E-KC" || t_fail "$f rewritten over a damaged one is not a key cache"
[ "$(stat -c %s "$f")" = "$(stat -c %s "$T_DIR/pub.kept")" ] ||
	t_fail "$f rewritten over a damaged one is $(stat -c %s "$f") bytes, not $(stat -c %s "$T_DIR/pub.kept")"
t_log "same keys: $f left as it was; damaged: written again"
cp "$PKI/sub1.key.cache" "$T_DIR/sub1.good"
t_log "caches written: $(stat -c '%n %s bytes mode %a' "$PKI/sub1.key.cache" "$PKI/pub.key.cache" | tr '\n' ';')"

# --no-key-cache writes nothing
expect_rc 0 "$SUB" $(client_args sub2) --no-key-cache -t 'e2e/#' -q 1 -E -d
[ -e "$PKI/sub2.key.cache" ] && t_fail "--no-key-cache wrote $PKI/sub2.key.cache"
# --key-cache FILE puts it there
expect_rc 0 "$SUB" $(client_args sub2) --key-cache "$T_DIR/sub2.kc" -t 'e2e/#' -q 1 -E -d
[ -f "$T_DIR/sub2.kc" ] || t_fail "--key-cache $T_DIR/sub2.kc wrote no file there"
[ -e "$PKI/sub2.key.cache" ] && t_fail "--key-cache also wrote the default file"

# a cache that cannot be written: said once, naming the file; the client works
expect_rc 0 pub pub --key-cache "$T_DIR/no/such/dir/pub.cache" -t e2e/a -q 1 -m "unwritable cache"
[ "$(grep -c "cannot write the key cache $T_DIR/no/such/dir/pub.cache" "$T_DIR/err")" = 1 ] ||
	{ cat "$T_DIR/err" >&2; t_fail "an unwritable key cache was not reported exactly once"; }
ls "$T_DIR"/no 2>/dev/null && t_fail "the cache writer created directories"

# --- the KMS goes down ------------------------------------------------------
kms_stop
t_log "KMS stopped"

# without a cache a restarted client still cannot work, and says so
expect_rc 3 "$SUB" $(client_args sub2) --no-key-cache -t 'e2e/#' -q 1 -E -d
grep -q "KMS at $KMS_URL" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no KMS error without a cache"; }

# a restarted subscriber and publisher work from their caches
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'e2e/#' -C 3 -W 30
S1=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" || t_fail "sub1 did not subscribe from its cache"
grep -q "working from the key cache $PKI/sub1.key.cache" "$T_DIR/sub1.out.err" ||
	{ cat "$T_DIR/sub1.out.err" >&2; t_fail "sub1 does not say it works from its cache"; }
for i in 1 2 3; do
	expect_rc 0 pub pub -t e2e/a -q 1 -m "during outage $i"
	grep -q "working from the key cache $PKI/pub.key.cache" "$T_DIR/err" ||
		{ cat "$T_DIR/err" >&2; t_fail "pub does not say it works from its cache"; }
done
wait_pid "$S1" 150 || { cat "$T_DIR/sub1.out.err" >&2; t_fail "sub1 did not receive 3 messages from its cache"; }
printf 'during outage %s\n' 1 2 3 >"$T_DIR/expected"
cmp -s "$T_DIR/expected" "$T_DIR/sub1.out" || { diff "$T_DIR/expected" "$T_DIR/sub1.out" >&2; t_fail "sub1 received the wrong messages"; }
t_log "restarted during the outage: sub1 received 3 of 3 from its cache"

# refused caches: each is named, refused and ignored (exit 3: no keys)
refused() {   # refused WHAT PATTERN
	expect_rc 3 "$SUB" $(client_args sub1) -t 'e2e/#' -q 1 -E -d
	grep -q "the key cache $PKI/sub1.key.cache is refused and ignored" "$T_DIR/err" ||
		{ cat "$T_DIR/err" >&2; t_fail "$1: the refusal does not name the file"; }
	grep -q "$2" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "$1: the refusal does not say '$2'"; }
	grep -q "subscribed to" "$T_DIR/err" && t_fail "$1: subscribed with a refused cache"
	t_log "$1: $(grep -o 'the key cache [^;]*' "$T_DIR/err" | head -n 1)"
}
flip() {   # flip FILE OFFSET: xor one byte
	python3 -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[o if o >= 0 else len(b) + o] ^= 0x01; open(p, "wb").write(bytes(b))' "$1" "$2"
}
size=$(stat -c %s "$T_DIR/sub1.good")

cp "$T_DIR/sub1.good" "$PKI/sub1.key.cache"; flip "$PKI/sub1.key.cache" $((size / 2))
refused "a flipped byte in the sealed keys" "seal does not verify"
cp "$T_DIR/sub1.good" "$PKI/sub1.key.cache"; flip "$PKI/sub1.key.cache" -1
refused "a flipped byte in the tag" "seal does not verify"
# the written time sits in the header (authenticated as AAD): 8 magic, 1
# version, 2+4 id "sub1", then the serial; flip the byte after the nonce's
# start instead, also AAD
cp "$T_DIR/sub1.good" "$PKI/sub1.key.cache"
hdr=$(python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); i = 9; n = int.from_bytes(b[i:i+2], "big"); i += 2 + n; n = int.from_bytes(b[i:i+2], "big"); i += 2 + n; print(i)' "$PKI/sub1.key.cache")
flip "$PKI/sub1.key.cache" "$hdr"     # the written_ms field
refused "a changed write time in the header" "seal does not verify"
cp "$T_DIR/sub1.good" "$PKI/sub1.key.cache"; flip "$PKI/sub1.key.cache" 11
refused "a changed owner name in the header" "written for client 'rub1'"
head -c $((size - 20)) "$T_DIR/sub1.good" >"$PKI/sub1.key.cache"
refused "a truncated file" "not a key cache file"
printf 'not a cache at all\n' >"$PKI/sub1.key.cache"
refused "a file of garbage" "not a key cache file"
cp "$PKI/pub.key.cache" "$PKI/sub1.key.cache"
refused "another client's cache (foreign)" "written for client 'pub'"
# another client's cache with its header rewritten to name sub1 and its
# certificate: the header is AAD and the key is pub's, so the seal fails
python3 - "$T_DIR/sub1.good" "$PKI/pub.key.cache" "$PKI/sub1.key.cache" <<'PY'
import sys
def split(b):
    i = 9
    n = int.from_bytes(b[i:i + 2], "big"); i += 2 + n
    n = int.from_bytes(b[i:i + 2], "big"); i += 2 + n
    return b[:i], b[i:]
mine, _ = split(open(sys.argv[1], "rb").read())
_, theirs = split(open(sys.argv[2], "rb").read())
open(sys.argv[3], "wb").write(mine + theirs)
PY
refused "another client's cache under this client's header (forged)" "seal does not verify"

# the good cache works again (nothing above damaged the mechanism)
cp "$T_DIR/sub1.good" "$PKI/sub1.key.cache"
expect_rc 0 "$SUB" $(client_args sub1) -t 'e2e/#' -q 1 -E -d
grep -q "subscribed to" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "the restored cache did not work"; }

# --- revocation beats the cache ---------------------------------------------
kms_start
expect_rc 0 "$SUB" $(client_args sub2) -t 'e2e/#' -q 1 -E -d    # sub2 gets a cache
more_keys sub2 more4
expect_rc 0 "$SUB" $(client_args sub2) -t 'e2e/#' -q 1 -E -d    # and a spare
[ -f "$PKI/sub2.key.cache" ] || t_fail "sub2 wrote no cache"
[ -f "$PKI/sub2.key.cache.spare" ] || t_fail "sub2's second write left no spare"
cp "$PKI/sub2.key.cache" "$T_DIR/sub2.good"
n=$(grep -c "sending rekey notices" "$T_DIR/mosquitto.log")
expect_rc 0 kmsctl client revoke sub2 --reason "stolen device"
# the broker's policy watch brings the revocation, with the fresh epoch it
# causes (the watch may be backing off after the outage above)
wait_for "$T_DIR/mosquitto.log" "sending rekey notices" $((n + 1)) 600 >/dev/null ||
	t_fail "the broker did not learn of the revocation within 60 s"
kms_stop
expect_rc 4 "$SUB" $(client_args sub2) -t 'e2e/#' -q 1 -E -d
grep -q "working from the key cache" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "sub2 did not load its cache"; }
grep -q "refused client 'sub2'" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "the broker did not refuse revoked sub2"; }
t_log "revoked sub2 with its cache: $(grep -o "refused client 'sub2'[^(]*" "$T_DIR/err" | head -n 1)"
# the KMS back: its 403 deletes the cache
kms_start
expect_rc 3 "$SUB" $(client_args sub2) -t 'e2e/#' -q 1 -E -d
grep -q "revoked" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no revocation message from the KMS"; }
[ -e "$PKI/sub2.key.cache" ] && t_fail "the KMS said sub2 is revoked, but its key cache is still there"
[ -e "$PKI/sub2.key.cache.spare" ] && t_fail "the KMS said sub2 is revoked, but its spare key cache is still there"
t_log "the KMS's 403 deleted sub2's cache"
exit 0
