#!/bin/bash
# client_publish_outage.sh - a publisher refused because of a KMS outage is
# told so (issue 10 item 9).  Group of rotation 2 s and grace 4 s; the KMS
# is killed under a live publisher.  Once the due rotation is more than the
# grace period late the broker refuses its messages (drop_no_key), and
# later its own keys run out: neither may be reported as a grant problem
# ("check the grants" on today's main); the message names the KMS.  This
# test makes the broker's refusal come first.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

kms_start
enrol broker broker
enrol pub client
expect_rc 0 kmsctl group add grp --filter 'o/#' --scheme 4 --rotate 2 --grace 4
expect_rc 0 kmsctl grant add pub grp pub
broker_start

# One QoS 1 message every 200 ms until the first refusal ends mqe2e-pub.
# Its clock runs 3 s behind (libfaketime; less than the grace period), so
# its keys end 3 s after the broker's: it is the broker that refuses
# (drop_key_stale), not the publisher's own check, which on the same clock
# wins the race by a hair.  3 s, not less: the broker may hold one epoch
# (one 2 s rotation period) more than the publisher, when the KMS dies
# between a rotation's notice and the publisher's jittered fetch.
FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$FT" ] || t_skip "libfaketime not installed"
sleep 3.5   # epoch 1 has begun on the publisher's clock too
LD_PRELOAD="$FT" FAKETIME="-3s" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
	pub_bg pub <( for i in $(seq 1 150); do echo "o-$i"; sleep 0.2; done ) "$T_DIR/pub.err" -t o/x -q 1 -l
PUBP=$PUB_PID
wait_for "$T_DIR/pub.err" "published" 3 || t_fail "the publisher did not start"
kill_ms=$(now_ms)
kms_stop -9
wait_pid "$PUBP" 250
rc=$?
end_ms=$(now_ms)
# The refusal that ended it (the keys thread's own notice about the KMS may
# be printed after it, as the process exits: not the last line, then).
msg=$(grep "the broker refused the message" "$T_DIR/pub.err" | tail -1)
[ -n "$msg" ] || msg=$(grep -v "published\|fetched keys\|connected\|rekey" "$T_DIR/pub.err" | tail -1)
t_log "publisher exit $rc, $(grep -c published "$T_DIR/pub.err") messages accepted," \
    "stopped $((end_ms - kill_ms)) ms after the KMS was killed: $msg"
[ "$rc" = 5 ] || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher did not stop with exit 5 (status $rc)"; }
grep -q "grant" "$T_DIR/pub.err" &&
	t_fail "a KMS outage reported as a grant problem: $(grep grant "$T_DIR/pub.err" | head -1)"
case "$msg" in
*grant*) t_fail "a KMS outage reported as a grant problem: $msg" ;;
*"the broker refused the message"*"KMS at $KMS_URL"*) ;;
*) t_fail "not the broker's refusal worded as a KMS outage: $msg" ;;
esac
# The broker refuses for want of a key: either every key it holds has ended
# (drop_key_stale), or - the publisher's clock being 2 s behind - the
# publisher still names an epoch whose key ended at the broker while the
# pre-issued next one is live (drop_unknown_epoch).  Which one comes first
# is a race of clocks; both are key-lifecycle refusals, never grants.
grep -qE "group 'grp': every broker key|envelope names epoch [0-9]+, which the broker holds no live key" \
	"$T_DIR/mosquitto.log" ||
	{ cat "$T_DIR/mosquitto.log" >&2; t_fail "the broker did not refuse for want of a key"; }
exit 0
