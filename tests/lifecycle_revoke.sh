#!/bin/bash
# lifecycle_revoke.sh - revocation in one admin action, mid-stream.
# "mqe2e-kmsctl client revoke sub3" while a QoS 1 stream runs to sub1..sub3:
# the broker disconnects sub3 (MQTT 5 reason code) and refuses its
# reconnects, sub3 receives nothing published after the cut-off, the group
# moves to a fresh epoch that the publisher adopts, sub1 and sub2 lose
# nothing, and "group show" records the revocation.  Prints the time from
# the command to the cut-off.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

N=120           # messages, one every 50 ms: about 6 s
AT=40           # revoke after this many were handed to the publisher
kms_start
enrol broker broker
enrol pub client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add pub grp pub
for i in 1 2 3; do
	enrol "sub$i" client
	expect_rc 0 kmsctl grant add "sub$i" grp sub
done
BROKER_EXTRA_CONF="plugin_opt_stats_file $T_DIR/broker.stats"
broker_start

for i in 1 2 3; do
	if [ "$i" = 3 ]; then
		sub_bg "sub$i" "$T_DIR/sub$i.out" -q 1 -t 'e2e/#' -W 60
	else
		sub_bg "sub$i" "$T_DIR/sub$i.out" -q 1 -t 'e2e/#' -C "$N" -W 60
	fi
	eval "SUB${i}_PID=$SUB_PID"
	wait_for "$T_DIR/sub$i.out.err" "subscribed to" || t_fail "sub$i did not subscribe"
done

# The stream: each line is logged with the time it was handed over.
: >"$T_DIR/sent.log"
pub_bg pub <( for i in $(seq 1 "$N"); do echo "m-$i $(now_ms)" >>"$T_DIR/sent.log"; echo "m-$i"; sleep 0.05; done ) \
	"$T_DIR/pub.err" -t e2e/stream -q 1 -l
PUBP=$PUB_PID
wait_for "$T_DIR/sent.log" "^m-" "$AT" 300 || t_fail "the stream did not start"

t_rev=$(now_ms)
expect_rc 0 kmsctl client revoke sub3 --reason "lifecycle test"
t_cmd=$(now_ms)
t_cut=""
for _ in $(seq 1 1000); do
	if grep -q "lost the connection\|disconnected" "$T_DIR/sub3.out.err"; then
		t_cut=$(now_ms)
		break
	fi
	sleep 0.01
done
[ -n "$t_cut" ] || { cat "$T_DIR/sub3.out.err" >&2; t_fail "sub3 was not disconnected within 10 s"; }
t_log "revocation: command took $((t_cmd - t_rev)) ms; cut-off $((t_cut - t_rev)) ms after the command started (target < 2000)"

wait "$PUBP" || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
for i in 1 2; do
	eval "p=\$SUB${i}_PID"
	wait_pid "$p" 300 || { cat "$T_DIR/sub$i.out.err" >&2; t_fail "sub$i did not get all $N messages"; }
done

# sub1, sub2: nothing lost, nothing duplicated, nothing refused.
for i in 1 2; do
	read -r lost dup extra inorder <<<"$(check_stream "$T_DIR/sub$i.out" "$N")"
	d=$(drops "$T_DIR/sub$i.out.err")
	t_log "sub$i: lost $lost, duplicated $dup, in order $inorder, decryption failures $d, epochs $(epochs_seen "$T_DIR/sub$i.out.err")"
	[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$extra" = 0 ] && [ "$inorder" = 1 ] && [ "$d" = 0 ] ||
		{ cat "$T_DIR/sub$i.out.err" >&2; t_fail "sub$i lost, duplicated or refused messages"; }
done

# sub3: nothing handed to the publisher after the cut-off reached it.
got=$(wc -l <"$T_DIR/sub3.out")
late=$(python3 - "$T_DIR/sent.log" "$T_DIR/sub3.out" "$t_cut" <<'PY'
import sys
sent = dict(l.split() for l in open(sys.argv[1]))
cut = int(sys.argv[3])
print(sum(1 for l in open(sys.argv[2]) if int(sent.get(l.strip(), 0)) > cut))
PY
)
t_log "sub3 received $got messages, all handed over before the cut-off; $late after"
[ "$late" = 0 ] || t_fail "sub3 received $late messages published after its cut-off"
[ "$got" -lt "$N" ] || t_fail "sub3 received the whole stream"

# The broker refused sub3's reconnects; sub3 was told why.
kill "$SUB3_PID" 2>/dev/null
wait "$SUB3_PID" 2>/dev/null
grep -q "disconnecting revoked client 'sub3'" "$T_DIR/mosquitto.log" ||
	t_fail "the broker did not log the cut-off: $(cat "$T_DIR/mosquitto.log")"
grep -q "disconnected client 'sub3': .*reason code 0x98" "$T_DIR/sub3.out.err" ||
	t_fail "sub3 was not disconnected with reason code 0x98: $(cat "$T_DIR/sub3.out.err")"
grep -q "refused client 'sub3'" "$T_DIR/sub3.out.err" ||
	t_fail "sub3's reconnect was not refused: $(cat "$T_DIR/sub3.out.err")"
grep -q "refused client 'sub3' from .*: certificate has been revoked" "$T_DIR/mosquitto.log" ||
	t_fail "the broker did not refuse sub3's reconnect as revoked: $(cat "$T_DIR/mosquitto.log")"
# ... from its cache of verified certificates: sub3's certificate was
# verified at its first CONNECT, and the policy that revoked it left the
# cache in place; the revocation is checked at every lookup.  (Only sub3
# reconnects here, so every hit is one of its refused attempts.)
stat_of() { awk -v n="$1" '$1 == n { print $2 }' "$T_DIR/broker.stats" 2>/dev/null; }
for _ in $(seq 1 30); do
	[ "$(stat_of cert_cache_hits)" -ge 1 ] 2>/dev/null && break
	sleep 0.1
done
hits=$(stat_of cert_cache_hits)
misses=$(stat_of cert_cache_misses)
revoked=$(stat_of auth_revoked)
[ "${hits:-0}" -ge 1 ] && [ "${revoked:-0}" -ge "${hits:-0}" ] ||
	t_fail "sub3's refused reconnects were not answered from the certificate cache (hits ${hits:-?}, misses ${misses:-?}, auth_revoked ${revoked:-?}): $(cat "$T_DIR/broker.stats" 2>/dev/null)"
t_log "sub3 refused $revoked time(s) from the certificate cache ($hits hits, $misses misses: the first CONNECT of each client)"

# The group moved to an epoch sub3 never held, and the publisher adopted it.
show=$(kmsctl --json group show grp)
cur=$(echo "$show" | jget 'd["current_epoch"]')
[ "$(echo "$show" | jget '[(r["client"], r["epoch"]) for r in d["revocations"]] == [("sub3", d["current_epoch"])]')" = True ] ||
	t_fail "group show does not record the revocation: $show"
[ "$(echo "$show" | jget '"sub3" in [m["client"] for m in d["members"]]')" = False ] ||
	t_fail "sub3 is still a member: $show"
last=$(sed -n "s/.*(group 'grp', epoch \([0-9]*\),.*/\1/p" "$T_DIR/sub1.out.err" | tail -1)
t_log "group at epoch $cur after the revocation ($(epochs grp)); last message under epoch $last"
[ "$last" = "$cur" ] || t_fail "the publisher still seals under epoch $last, not the fresh epoch $cur"
# When did the publisher move?  sub1's -d lines and its output lines are in
# step: the first message under the fresh epoch, and when it was handed over.
moved=$(python3 - "$T_DIR/sub1.out.err" "$T_DIR/sub1.out" "$T_DIR/sent.log" "$cur" "$t_rev" <<'PY'
import re, sys
eps = [int(m.group(1)) for m in (re.search(r"\(group 'grp', epoch (\d+),", l) for l in open(sys.argv[1])) if m]
msgs = [l.strip() for l in open(sys.argv[2])]
sent = dict(l.split() for l in open(sys.argv[3]))
cur, t_rev = int(sys.argv[4]), int(sys.argv[5])
i = eps.index(cur)
print("%s, handed over %d ms after the revoke command" % (msgs[i], int(sent[msgs[i]]) - t_rev))
PY
)
t_log "publisher moved to epoch $cur with $moved"
kmsctl group show grp >"$T_DIR/show.txt"
grep -q "^current_epoch *$cur$" "$T_DIR/show.txt" && grep -q "^$cur *current *revocation" "$T_DIR/show.txt" &&
	grep -q "^$cur *sub3 .*lifecycle test" "$T_DIR/show.txt" && grep -q "^sub1 *sub$" "$T_DIR/show.txt" ||
	t_fail "group show does not give the lifecycle: $(cat "$T_DIR/show.txt")"
t_log "group show:"
sed 's/^/#   /' "$T_DIR/show.txt"
t_log "sub3's stderr: $(grep -i "reason\|refused" "$T_DIR/sub3.out.err" | head -2 | tr '\n' ' ')"
exit 0
