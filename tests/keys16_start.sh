#!/bin/bash
# Issue 15, readiness: a client restarted within key_refresh_s of the KMS
# answer its key cache holds starts from that cache without asking the KMS,
# as a running client keeps its keys across a reconnect (client/keys.c
# keys__first; docs/CLIENT.md "Key cache").  Three libmqe2e clients of one
# process (tests/keys16_start.c, default options but key_refresh_s) against
# a real KMS (https), Mosquitto + plugin, and mqe2e-pub publishing to them:
#  1. first start: each client asks the KMS once (its audit log), and
#     receives; its key cache is written while it runs (after the fetches
#     settle, client/cache.c).
#  2. restart: no client asks the KMS; all receive (the cached keys work).
#  3. the group rotated while they were away: they still receive the
#     publisher's message under the new epoch.
#  4. a cache older than key_refresh_s: every client asks the KMS again.
#  5. a tampered cache: refused, reported naming the file, and that client
#     asks the KMS (the others do not); all receive.
#  6. the KMS down and the cache older than key_refresh_s: the clients work
#     from it and leave the file as it is (only a fetch the KMS answered
#     marks the cache for writing: client/keys.c cache_dirty); with the KMS
#     back, a restart asks it.
#  7. revoked while away: the broker refuses the cache-started client, which
#     then asks the KMS: the KMS says revoked, and the cache is deleted.
# Fails on the library before this change: step 2 finds a request per client.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

PROG="$top_builddir/tests/keys16_start"
[ -x "$PROG" ] || t_skip "keys16_start not built"
setup_world 4 3
SUBS="sub1 sub2 sub3"

counts() {
	local s out=""
	for s in $SUBS; do out="$out $(fetches "$s")"; done
	echo "${out# }"
}

# run TAG REFRESH_S [IDS...]: start the clients, publish one message once
# they are ready, wait for them; stdout in $T_DIR/TAG.out
run() {
	local tag=$1 refresh=$2 pid
	shift 2
	[ $# -gt 0 ] || set -- $SUBS
	"$PROG" "tcp://127.0.0.1:$MQTT_PORT" "$KMS_URL" "$PKI" 'e2e/#' "$refresh" 1 "$@" \
		>"$T_DIR/$tag.out" 2>"$T_DIR/$tag.err" &
	pid=$!
	t_track "$pid"
	wait_for "$T_DIR/$tag.out" "^ready" 1 600 || t_fail "$tag: the clients did not start"
	if grep -q '^up ' "$T_DIR/$tag.out"; then
		pub pub -t e2e/start -q 1 -m "$tag" 2>"$T_DIR/$tag.pub.err" ||
			{ cat "$T_DIR/$tag.pub.err" >&2; t_fail "$tag: mqe2e-pub failed"; }
	fi
	wait_pid "$pid" 300
}

# all_asked BEFORE AFTER: every client's count of KMS key requests grew
all_asked() {
	local a1 a2 a3 b1 b2 b3
	read -r a1 a2 a3 <<<"$1"
	read -r b1 b2 b3 <<<"$2"
	[ "$b1" -gt "$a1" ] && [ "$b2" -gt "$a2" ] && [ "$b3" -gt "$a3" ]
}

# run_asking TAG REFRESH_S WHAT: run, every client receives, and every one
# asked the KMS (else fail: WHAT served a start without it); the counts
# after it in $COUNTS
run_asking() {
	local before
	before=$(counts)
	run "$1" "$2" || { cat "$T_DIR/$1.out" >&2; t_fail "$1: the start failed"; }
	check_all "$1"
	COUNTS=$(counts)
	t_log "$1: KMS key requests $before -> $COUNTS"
	all_asked "$before" "$COUNTS" ||
		t_fail "$3 served a start without the KMS ($before -> $COUNTS)"
}

# check TAG: every client came up and received the message
check_all() {
	local tag=$1 s
	for s in $SUBS; do
		grep -q "^received $s 1 " "$T_DIR/$tag.out" ||
			{ cat "$T_DIR/$tag.out" "$T_DIR/$tag.err" >&2; t_fail "$tag: $s did not receive"; }
	done
}

# 1. first start
c0=$(counts)
run first 300 || { cat "$T_DIR/first.out" >&2; t_fail "first start failed"; }
check_all first
c1=$(counts)
for s in $SUBS; do
	[ -s "$PKI/$s.key.cache" ] || t_fail "first start: $s wrote no key cache"
	# written by the process's cache writer while the clients ran, once
	# their fetches settled - not left to mqe2e_client_free
	grep -q "^cached $s\$" "$T_DIR/first.out" ||
		{ cat "$T_DIR/first.out" >&2; t_fail "first start: $s's cache was not written while it ran"; }
done
t_log "first start: KMS key requests per client $c0 -> $c1; caches written"
[ "$c1" != "$c0" ] || t_fail "first start: no client asked the KMS"

# 2. restart within key_refresh_s
run again 300 || { cat "$T_DIR/again.out" >&2; t_fail "restart failed"; }
check_all again
c2=$(counts)
t_log "restart: KMS key requests per client $c1 -> $c2; all received"
[ "$c2" = "$c1" ] || t_fail "restarted clients asked the KMS ($c1 -> $c2): the key cache did not serve the start"
grep "^error " "$T_DIR/again.out" && t_fail "restart: errors reported"

# 3. a rotation while they were away
e0=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
expect_rc 0 kmsctl group rotate grp
e1=$(kmsctl --json group show grp | jget 'd["current_epoch"]')
run rotated 300 || { cat "$T_DIR/rotated.out" >&2; t_fail "start after a rotation failed"; }
check_all rotated
c3=$(counts)
got=$(sed -n 's/^received sub1 1 \([0-9]*\)$/\1/p' "$T_DIR/rotated.out")
t_log "rotated $e0 -> $e1 while away: received under epoch $got; KMS key requests $c2 -> $c3"
[ "$got" = "$e1" ] || t_fail "the message was not under the new epoch $e1 (got '$got')"

# 4. older than key_refresh_s (1 s here): the KMS first
sleep 1.2
run_asking aged 1 "a cache older than key_refresh_s"
c4=$COUNTS

# 5. a tampered cache: refused, reported, and that client asks the KMS
python3 - "$PKI/sub1.key.cache" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-20] ^= 0x01
open(p, 'wb').write(bytes(b))
PY
run tampered 300 || { cat "$T_DIR/tampered.out" >&2; t_fail "start with a tampered cache failed"; }
check_all tampered
c5=$(counts)
grep -q "^error sub1: the key cache $PKI/sub1.key.cache is refused and ignored: its seal does not verify" \
	"$T_DIR/tampered.out" || { cat "$T_DIR/tampered.out" >&2; t_fail "the tampered cache was not reported"; }
read -r a1 a2 a3 <<<"$c4"
read -r b1 b2 b3 <<<"$c5"
t_log "tampered sub1 cache: refused and reported; KMS key requests $c4 -> $c5"
[ "$b1" -gt "$a1" ] || t_fail "sub1 did not ask the KMS after refusing its cache"
[ "$b2" = "$a2" ] && [ "$b3" = "$a3" ] || t_fail "sub2/sub3 asked the KMS with good caches ($c4 -> $c5)"

# 6. a start while the KMS is down, from a cache older than key_refresh_s:
#    the clients work from it, and it is left as it is - not stamped as a
#    KMS answer of now, which would let the next restart within
#    key_refresh_s skip the KMS with keys it has not confirmed since
sleep 3.2
sums=$(cd "$PKI" && sha256sum sub1.key.cache sub2.key.cache sub3.key.cache)
kms_stop
"$PROG" "tcp://127.0.0.1:$MQTT_PORT" "$KMS_URL" "$PKI" 'e2e/#' 3 0 $SUBS \
	>"$T_DIR/down.out" 2>"$T_DIR/down.err" ||
	{ cat "$T_DIR/down.out" "$T_DIR/down.err" >&2; t_fail "start from aged caches with the KMS down failed"; }
for s in $SUBS; do
	grep -q "^error $s: .*working from the key cache $PKI/$s.key.cache" "$T_DIR/down.out" ||
		{ cat "$T_DIR/down.out" >&2; t_fail "$s did not say it works from its key cache"; }
done
[ "$(cd "$PKI" && sha256sum sub1.key.cache sub2.key.cache sub3.key.cache)" = "$sums" ] ||
	t_fail "a start with the KMS down rewrote the key caches (stamped as a fresh KMS answer)"
t_log "KMS down, aged caches: the clients worked from them; the files are unchanged"
kms_start
run_asking back 3 "after a start with the KMS down, a cache"

# 7. revoked while away
n=$(grep -c "sending rekey notices" "$T_DIR/mosquitto.log")
expect_rc 0 kmsctl client revoke sub3 --reason "stolen device"
wait_for "$T_DIR/mosquitto.log" "sending rekey notices" $((n + 1)) 600 >/dev/null ||
	t_fail "the broker did not learn of the revocation within 60 s"
[ -s "$PKI/sub3.key.cache" ] || t_fail "sub3's cache is gone before its start"
run revoked 300 sub3 && t_fail "revoked sub3 came up"
grep -q "^failed sub3: .*revoked" "$T_DIR/revoked.out" ||
	{ cat "$T_DIR/revoked.out" >&2; t_fail "revoked sub3 was not told by the KMS"; }
[ -e "$PKI/sub3.key.cache" ] && t_fail "the KMS said sub3 is revoked, but its key cache is still there"
[ -e "$PKI/sub3.key.cache.spare" ] && t_fail "the KMS said sub3 is revoked, but its spare key cache is still there"
t_log "revoked sub3 started from its cache: $(grep -o '^failed sub3: .\{0,120\}' "$T_DIR/revoked.out"); cache deleted"
exit 0
