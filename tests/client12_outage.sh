#!/bin/bash
# client12_outage.sh - devices ride out a KMS outage (issue 12, "Must show").
#
# A scheme 4 group rotating every $ROT s with a grace of $GRACE s and 3
# future epochs.  A publisher streams numbered QoS 1 messages (10 a second)
# to two subscribers.  Right after a rotation the KMS is stopped for 3
# rotation periods: publisher, broker and subscribers move through the 3
# epochs issued ahead on their own.  During the outage subscriber 2 is
# stopped and started again: with no KMS to ask it works from its key cache
# and receives again.  Then the KMS comes back and the stream goes on for
# one more period.  Counted and printed: messages sent, received by sub1
# (0 lost, 0 duplicated, in order), the epochs they were sealed under
# (4 during the outage, none fetched), what sub2 received after its restart.
# With one epoch ahead (the default before issue 12) the same outage stops
# the stream one rotation in: see the end of the test.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

ROT=4                   # seconds per rotation
GRACE=3                 # the broker's own KMS retries back off to 8 s: with
                        # K = 3 its keys last 4 * ROT + GRACE after the last
                        # rotation, which covers the outage and its retry
RATE_MS=100             # one message every 100 ms

kms_start
enrol broker broker
for n in pub sub1 sub2; do enrol "$n" client; done
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate $ROT --grace $GRACE \
	--future-epochs 3
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
expect_rc 0 kmsctl grant add sub2 grp sub
broker_start

now_ms() { date +%s%3N; }
current_epoch() { kmsctl --json group show grp | jget 'd["current_epoch"]'; }

# subscribers print "epoch payload" per message
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'e2e/#' -F '%e %p' -W 120
S1=$SUB_PID
sub_bg sub2 "$T_DIR/sub2.out" -q 1 -t 'e2e/#' -F '%e %p' -W 120
S2=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
wait_for "$T_DIR/sub2.out.err" "subscribed to" || t_fail "sub2 did not subscribe"

# the stream: "m-N" lines into a FIFO read by one long-lived mqe2e-pub -l
mkfifo "$T_DIR/lines"
pub_bg pub "$T_DIR/lines" "$T_DIR/pub.err" -t e2e/stream -q 1 -l
PUBP=$PUB_PID
exec 3>"$T_DIR/lines"
sent=0
trap '' PIPE      # a publisher that died makes the write fail, not the shell
send_one() {
	sent=$((sent + 1))
	echo "m-$sent" >&3 || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher stopped at message $sent"; }
	sleep 0.$RATE_MS
}
stream_for() {   # stream_for SECONDS
	local until=$(( $(now_ms) + $1 * 1000 ))
	while [ "$(now_ms)" -lt "$until" ]; do
		send_one
	done
}

stream_for 2
# Stop the KMS right after a rotation, once each client has fetched what it
# issued: that fetch carries the new epoch and the 3 issued after it.  A
# rotation's fetches come within rekey_jitter_ms (1 s) of its notice, so the
# count starts 2 s after an earlier rotation, when its fetches are done:
# counted from any moment, a late fetch of the earlier rotation could pass
# for one of this rotation (a client one epoch short through the outage;
# seen once at load 13).
fetches() { kms_audit_count "client:$1" keys.fetch ok; }
next_rotation() {       # not in a subshell: send_one counts what it sent
	local e0
	e0=$(current_epoch)
	for _ in $(seq 1 $((ROT * 20 + 20))); do
		[ "$(current_epoch)" != "$e0" ] && return 0
		send_one
	done
	t_fail "the group did not rotate within $((ROT * 2 + 2)) s"
}
next_rotation
settled=$(( $(now_ms) + 2000 ))
while [ "$(now_ms)" -lt "$settled" ]; do send_one; done
declare -A f0
for n in pub sub1 sub2; do f0[$n]=$(fetches "$n"); done
next_rotation
e1=$(current_epoch)
# each client's fetch for it (up to 6 s)
for n in pub sub1 sub2; do
	for _ in $(seq 1 60); do
		[ "$(fetches "$n")" -gt "${f0[$n]}" ] && break
		send_one
	done
done
t_stop=$(now_ms)
kms_stop
first_out=$((sent + 1))
t_log "KMS stopped at epoch $e1 (message $first_out on is sent during the outage)"

# the outage: 3 rotation periods; sub2 is restarted early in it (its first
# fetch tries the KMS until kms_timeout_ms, 5 s, before it reads its cache)
# while the stream goes on
stream_for $((ROT / 2))
kill "$S2"
wait "$S2" 2>/dev/null
mv "$T_DIR/sub2.out" "$T_DIR/sub2.before"
mv "$T_DIR/sub2.out.err" "$T_DIR/sub2.before.err"
sub_bg sub2 "$T_DIR/sub2.out" -q 1 -t 'e2e/#' -F '%e %p' -W 120 3>&-   # not a FIFO writer
S2=$SUB_PID
t_restart=$(now_ms)
until grep -q "subscribed to" "$T_DIR/sub2.out.err" 2>/dev/null; do
	[ $(( $(now_ms) - t_restart )) -lt 15000 ] ||
		{ cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 restarted during the outage did not subscribe within 15 s"; }
	kill -0 "$S2" 2>/dev/null || { cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 restarted during the outage exited"; }
	send_one
done
t_log "sub2 restarted during the outage: subscribed $(( $(now_ms) - t_restart )) ms later"
grep -q "working from the key cache $PKI/sub2.key.cache" "$T_DIR/sub2.out.err" ||
	{ cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 did not start from its key cache"; }
sub2_from=$((sent + 1))
rest=$(( t_stop + 3 * ROT * 1000 - $(now_ms) ))
stream_for $(( (rest + 999) / 1000 ))
last_out=$sent
t_outage=$(( $(now_ms) - t_stop ))

kms_start 3>&-
t_log "KMS back after $t_outage ms ($(echo "$t_outage $ROT" | awk '{printf "%.1f", $1 / ($2 * 1000)}') rotation periods)"
stream_for $ROT
exec 3>&-
wait_pid "$PUBP" 200 || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }

# every message reached sub1 exactly once, in order (a message held for a
# key fetch is delivered or dropped and reported within hold_s, 30 s)
for _ in $(seq 1 350); do
	[ "$(wc -l <"$T_DIR/sub1.out")" -ge "$sent" ] && break
	sleep 0.1
done
kill "$S1" "$S2" 2>/dev/null
wait "$S1" "$S2" 2>/dev/null
awk '{print $2}' "$T_DIR/sub1.out" >"$T_DIR/sub1.got"
seq -f 'm-%g' 1 "$sent" >"$T_DIR/expected"
got=$(wc -l <"$T_DIR/sub1.got")
lost=$(comm -23 <(sort "$T_DIR/expected") <(sort -u "$T_DIR/sub1.got") | wc -l)
dups=$(( got - $(sort -u "$T_DIR/sub1.got" | wc -l) ))
epochs_out=$(awk -v a="$first_out" -v b="$last_out" '{n = substr($2, 3) + 0} n >= a && n <= b {print $1}' \
	"$T_DIR/sub1.out" | sort -n | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep = " "}')
n_epochs=$(echo "$epochs_out" | wc -w)
sub2_got=$(awk -v a="$sub2_from" -v b="$last_out" '{n = substr($2, 3) + 0} n >= a && n <= b' \
	"$T_DIR/sub2.out" | wc -l)
sub2_epochs=$(awk -v a="$sub2_from" -v b="$last_out" '{n = substr($2, 3) + 0} n >= a && n <= b {print $1}' \
	"$T_DIR/sub2.out" | sort -un | tr '\n' ' ')
t_log "sent $sent, sub1 received $got: lost $lost, duplicated $dups"
t_log "during the outage (messages $first_out..$last_out) sub1 saw epochs (epoch:messages) $epochs_out"
t_log "sub2, restarted from its cache during the outage: $sub2_got of the $((last_out - sub2_from + 1)) messages sent after it subscribed, epochs $sub2_epochs"
if [ "$lost" -ne 0 ]; then
	grep -v "published .* bytes" "$T_DIR/pub.err" >&2
	grep -v "^mqe2e-sub: .* from pub" "$T_DIR/sub1.out.err" >&2
	t_fail "$lost messages lost: $(comm -23 <(sort "$T_DIR/expected") <(sort -u "$T_DIR/sub1.got") | tr '\n' ' ')"
fi
[ "$dups" -eq 0 ] || t_fail "$dups messages delivered twice"
cmp -s "$T_DIR/expected" "$T_DIR/sub1.got" || t_fail "sub1 received the messages out of order"
# the outage spanned 3 rotations: the stream went through 4 epochs without the KMS
[ "$n_epochs" -ge 4 ] || t_fail "the outage saw epochs '$epochs_out': expected the epoch at the stop and 3 issued ahead"
[ "$sub2_got" -eq $((last_out - sub2_from + 1)) ] ||
	{ cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 restarted from its cache lost messages of the outage"; }
[ "$(echo "$sub2_epochs" | wc -w)" -ge 2 ] ||
	t_fail "sub2's messages after its restart span epochs '$sub2_epochs': no rotation from its cache"
grep -q "working from the key cache" "$T_DIR/pub.err" && t_fail "the live publisher fell back on its cache"

# the control: with one epoch ahead (the default) the keys a client holds
# end one rotation period plus grace after the last rotation before an
# outage; two periods in, a publisher started then has nothing valid left
expect_rc 0 kmsctl group add one --filter 'one/#' --scheme 4 --rotate $ROT --grace $GRACE
expect_rc 0 kmsctl grant add pub one pub
# its cache now holds 'one' (once the broker's policy has the new group: its
# watch may still be backing off after the outage above)
for i in $(seq 1 20); do
	pub pub -t one/x -q 1 -m "before the outage" >"$T_DIR/out" 2>"$T_DIR/err" && break
	[ "$i" -lt 20 ] || { cat "$T_DIR/err" >&2; t_fail "group 'one' did not work within 20 s"; }
	sleep 1
done
kms_stop
sleep $((ROT * 2 + GRACE + 1))
if pub pub -t one/x -q 1 -m "two periods into the outage" --timeout 5 >"$T_DIR/out" 2>"$T_DIR/err"; then
	t_fail "with one epoch ahead a publisher still sent two rotation periods into an outage: the control does not control"
fi
# (refused at the start if every key in its cache has ended, else when it
# seals: either way it is the outage that is named, not a grant)
grep -q "the keys it held have ended and cannot fetch\|cannot reach the KMS.*holds no key valid now" \
	"$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "the control's refusal does not blame the KMS outage"; }
t_log "control, 1 epoch ahead, 2 periods into an outage: $(grep -o 'holds no [^;]*' "$T_DIR/err" | head -n 1)"
exit 0
