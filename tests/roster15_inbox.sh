#!/bin/bash
# A scheme 1/2 roster lists a subscriber only once it can be asked to pair:
# after it subscribed to its pairing request inbox (docs/PROTOCOL.md 5).
# Before, the broker listed every connected subscriber with a "sub" grant
# from its CONNECT on, so a publisher that read the roster in between sent
# its PAIR_REQUEST where nobody read it, waited its whole timeout for the
# answer and then left that subscriber out for 30 s.
#   1. 'late' (broker_probe, sub grant on g1) is connected but subscribed to
#      nothing: the roster names sub1 (a real mqe2e-sub) and not late, and a
#      publish reaches sub1 without asking late anything;
#   2. late subscribes to its request inbox: the roster names it, and the
#      next publish's request reaches it (late never answers: the publisher
#      says so and still delivers to sub1).
# Real mqe2e-kmsd, Mosquitto + plugin, mqe2e-pub/-sub and broker_probe.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

[ -x "$PROBE" ] || t_skip "broker_probe not built"

kms_start
enrol broker broker
for n in pub sub1 late watcher; do enrol "$n" client; done
expect_rc 0 kmsctl group add g1 --filter 'p1/#' --scheme 1
expect_rc 0 kmsctl grant add pub g1 pub
expect_rc 0 kmsctl grant add sub1 g1 sub
expect_rc 0 kmsctl grant add late g1 sub
# any grant on a group lets a client read its roster
expect_rc 0 kmsctl grant add watcher g1 pub
broker_start

# Every version of g1's roster (retained, republished when it changes),
# one "roster mqe2e/v1/roster/g1 IDS" line each.
probe_bg sub watcher --topic mqe2e/v1/roster/g1 --count 1000 --timeout 120000 >"$T_DIR/roster.out" 2>&1
wait_for "$T_DIR/roster.out" "^subscribed" || t_fail "the roster watcher did not subscribe"
rosters() { sed -n 's/^roster mqe2e\/v1\/roster\/g1 //p' "$T_DIR/roster.out" | tr '\n' ' '; }

# 1. connected, not subscribed to its inbox: not on the roster
probe_bg connect late --stay --timeout 120000 >"$T_DIR/late.out" 2>&1
LATE=$PROBE_PID
wait_for "$T_DIR/late.out" "^connected" || t_fail "late did not connect"
sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'p1/#' -C 2 -W 120
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
# sub1 connected after late: every roster naming sub1 was made with late
# connected
wait_for "$T_DIR/roster.out" "^roster mqe2e/v1/roster/g1 .*sub1" >/dev/null 2>&1 ||
	t_fail "no roster named sub1; the rosters were: $(rosters)"
grep -q "^roster mqe2e/v1/roster/g1 .*late" "$T_DIR/roster.out" &&
	t_fail "late was on the roster while subscribed to nothing: $(rosters)"
t_log "late connected without its inbox, sub1 subscribed; the rosters: $(rosters)"
expect_rc 0 pub pub -t p1/x -q 1 -m "one" --timeout 5
grep -q "late" "$T_DIR/err" && t_fail "the publisher asked late, which was not on the roster: $(cat "$T_DIR/err")"
wait_for "$T_DIR/sub.out" "^one$" || t_fail "sub1 did not receive the first message"

# 2. late subscribes to its request inbox: on the roster, and asked
kill "$LATE"
wait "$LATE" 2>/dev/null
probe_bg sub late --inbox --topic 'p1/#' --count 1 --timeout 120000 >"$T_DIR/late2.out" 2>&1
wait_for "$T_DIR/late2.out" "^subscribed" || t_fail "late did not subscribe"
wait_for "$T_DIR/roster.out" "^roster mqe2e/v1/roster/g1 late,sub1$" >/dev/null 2>&1 ||
	t_fail "late is not on the roster after subscribing to its inbox; the rosters: $(rosters)"
t_log "late subscribed to its inbox; the rosters: $(rosters)"
expect_rc 0 pub pub -t p1/x -q 1 -m "two" --timeout 2
grep -q "subscriber 'late' did not complete pairing" "$T_DIR/err" ||
	t_fail "the publisher did not report late's missing answer: $(cat "$T_DIR/err")"
wait_for "$T_DIR/late2.out" "^pairreq mqe2e/v1/pair/req/late$" ||
	t_fail "late's inbox did not receive the pairing request"
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 did not receive the second message"; }
printf 'one\ntwo\n' | cmp -s - "$T_DIR/sub.out" || { cat "$T_DIR/sub.out" >&2; t_fail "sub1 did not print both messages"; }
t_log "late was asked once it could read the request; sub1 read both messages"
exit 0
