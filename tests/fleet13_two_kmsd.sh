#!/bin/bash
# fleet13_two_kmsd.sh - two mqe2e-kmsd on one real PostgreSQL 15 (issue 13,
# must show 1): exactly one of them schedules; a client enrolled through
# instance 1 fetches its keys from instance 2 and exchanges messages
# through a real Mosquitto whose plugin watches instance 2; a revocation
# made through instance 1 cuts that client off at the broker within 2 s
# (the time is printed), and the revoked client is then refused by both
# instances and by the broker.  Also: a grant added through instance 1
# reaches the broker watching instance 2 without waiting for its long poll;
# concurrent rotations and revocations through both instances leave every
# epoch number used exactly once (queried).  About 20 s.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/fleet13_lib.sh"

fl_start 1
fl_start 2
for _ in $(seq 1 50); do
	l=$(fl_leaders 1 2)
	[ "$l" = 1 ] || [ "$l" = 2 ] && break
	sleep 0.1
done
[ "$l" = 1 ] || [ "$l" = 2 ] || t_fail "want exactly one scheduler among the two instances, have: '$l'"
t_log "two instances on $FL_DB_URL: instance $l schedules, the other is on standby"
grep -q "scheduler: leader" "$T_DIR/kmsd$l.log" || t_fail "the leader did not log its leadership"

# Everything administered through instance 1.
export MQE2E_KMS_URL=$KMS_URL_1 MQE2E_KMS_TOKEN_FILE="$T_DIR/kms1/admin.token"
enrol broker broker
enrol pub client
enrol sub1 client
enrol sub2 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
# The broker watches instance 2 (broker_start uses KMS_URL).
KMS_URL=$KMS_URL_2
broker_start

# sub1, enrolled through instance 1, fetches its keys from instance 2.
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'e2e/#' -W 60
SUB1=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" || t_fail "sub1 (keys from instance 2) did not subscribe"
grep -q "fetched keys of client 'sub1' from the KMS" "$T_DIR/sub1.out.err" ||
	t_fail "sub1 did not report its key fetch"
# the publisher uses instance 1
# shellcheck disable=SC2046
"$PUB" $(client_args pub | sed "s|$KMS_URL_2|$KMS_URL_1|") -q 1 -t e2e/a -m "hello from one" \
	2>"$T_DIR/pub1.err" || { cat "$T_DIR/pub1.err" >&2; t_fail "the publisher (keys from instance 1) failed"; }
wait_for "$T_DIR/sub1.out" "hello from one" || t_fail "sub1 did not decrypt the message"
t_log "enrolled through instance 1, keys from instance 2: delivered end to end"

# A grant made through instance 1 reaches the broker watching instance 2
# at once (NOTIFY -> LISTEN -> its watch), not at the end of a long poll:
# sub2 may subscribe right after the grant.
t0=$(now_ms)
expect_rc 0 kmsctl grant add sub2 grp sub
for _ in $(seq 1 40); do
	# exit 27: subscribed, then -W ran out; 5: the broker refused it
	# shellcheck disable=SC2046
	"$SUB" $(client_args sub2) -q 1 -t 'e2e/#' -C 1 -W 1 --timeout 3 >/dev/null 2>"$T_DIR/sub2.err"
	rc=$?
	[ "$rc" = 27 ] && break
	sleep 0.05
done
t_grant=$(($(now_ms) - t0))
[ "$rc" = 27 ] || { cat "$T_DIR/sub2.err" >&2; t_fail "sub2 could not subscribe after its grant (exit $rc)"; }
t_log "a grant through instance 1: sub2 subscribed at the broker watching instance 2, $t_grant ms after the grant (each try lasts up to its -W 1)"

# The revocation, through instance 1; the broker watches instance 2.
t_rev=$(now_ms)
expect_rc 0 kmsctl client revoke sub1 --reason "fleet13 test"
t_cmd=$(now_ms)
t_cut=""
for _ in $(seq 1 1000); do
	if grep -q "lost the connection\|disconnected" "$T_DIR/sub1.out.err"; then
		t_cut=$(now_ms)
		break
	fi
	sleep 0.01
done
[ -n "$t_cut" ] || { cat "$T_DIR/sub1.out.err" >&2; t_fail "sub1 was not cut off within 10 s"; }
cut=$((t_cut - t_rev))
t_log "revocation through instance 1: command $((t_cmd - t_rev)) ms, cut-off at the broker watching instance 2 $cut ms after it started (must be < 2000)"
[ "$cut" -lt 2000 ] || t_fail "the cut-off took $cut ms (>= 2000)"
grep -q "revoked" "$T_DIR/mosquitto.log" || t_log "(the broker log does not say 'revoked')"

# The attack fails everywhere: keys from either instance, and the broker.
for n in 1 2; do
	eval "url=\$KMS_URL_$n"
	# shellcheck disable=SC2046
	"$SUB" $(client_args sub1 | sed "s|$KMS_URL_2|$url|") -t 'e2e/#' -C 1 -W 3 --timeout 3 \
		>"$T_DIR/again$n.out" 2>"$T_DIR/again$n.err"
	rc=$?
	[ "$rc" = 3 ] || { cat "$T_DIR/again$n.err" >&2; t_fail "revoked sub1 with instance $n: exit $rc, want 3 (keys refused)"; }
	grep -qi "revoked" "$T_DIR/again$n.err" || { cat "$T_DIR/again$n.err" >&2; t_fail "instance $n did not say revoked"; }
done
[ -s "$T_DIR/again1.out" ] || [ -s "$T_DIR/again2.out" ] && t_fail "the revoked client received something"
t_log "revoked sub1: refused by instance 1 and instance 2 (exit 3, 'revoked')"
kill "$SUB1" 2>/dev/null
wait "$SUB1" 2>/dev/null

# The database drops every connection of the KMS (a failover, a restart of
# a pooler): the leader stops scheduling at once, both instances reconnect,
# exactly one leads again, and changes flow again: a revocation through
# instance 1 still cuts off a client at the broker watching instance 2.
sub_bg sub2 "$T_DIR/sub2.out" -q 1 -t 'e2e/#' -W 60
SUB2=$SUB_PID
wait_for "$T_DIR/sub2.out.err" "subscribed to" || t_fail "sub2 did not subscribe"
old=$(fl_leaders 1 2)
n=$(pg_admin_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '$PG_ROLE'")
t0=$(now_ms)
for _ in $(seq 1 100); do
	grep -q "scheduler: standby" "$T_DIR/kmsd$old.log" && break
	sleep 0.05
done
grep -q "scheduler: standby" "$T_DIR/kmsd$old.log" ||
	{ tail -n 20 "$T_DIR/kmsd$old.log" >&2; t_fail "instance $old did not stop scheduling when its connections were cut"; }
t_stop=$(($(now_ms) - t0))
for _ in $(seq 1 100); do
	l=$(fl_leaders 1 2)
	[ "$l" = 1 ] || [ "$l" = 2 ] && break
	sleep 0.05
done
[ "$l" = 1 ] || [ "$l" = 2 ] || t_fail "after the cut, want exactly one leader, have '$l'"
t_log "the database cut $n connections: instance $old stopped scheduling after $t_stop ms; instance $l leads $(($(now_ms) - t0)) ms after the cut"
t_rev=$(now_ms)
expect_rc 0 kmsctl client revoke sub2 --reason "after the cut"
t_cut=""
for _ in $(seq 1 1000); do
	grep -q "lost the connection\|disconnected" "$T_DIR/sub2.out.err" && { t_cut=$(now_ms); break; }
	sleep 0.01
done
[ -n "$t_cut" ] || { cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 was not cut off within 10 s"; }
cut=$((t_cut - t_rev))
t_log "after the reconnect: revocation through instance 1 cut sub2 off at the broker watching instance 2 after $cut ms"
[ "$cut" -lt 2000 ] || t_fail "after the reconnect the cut-off took $cut ms (>= 2000)"
kill "$SUB2" 2>/dev/null
wait "$SUB2" 2>/dev/null

# Concurrent writers through both instances: 2 x 25 manual rotations and 6
# revocations (each a rekey of grp) at once.  Every command succeeds, and
# the group's epochs are numbered 1..max, each number once, no gap.
ROT=25
for i in 1 2 3 4 5 6; do
	enrol "c$i" client
	expect_rc 0 kmsctl grant add "c$i" grp sub
done
GID=$(pg_sql "SELECT id FROM topic_groups WHERE name = 'grp'")
before=$(pg_sql "SELECT max(epoch) FROM epochs WHERE group_id = $GID")
writer() { # INSTANCE WHAT...
	local n=$1 url i rc=0
	shift
	eval "url=\$KMS_URL_$n"
	for i in $(seq 1 "$ROT"); do
		"$KMSCTL" --addr "$url" group rotate grp >/dev/null 2>>"$T_DIR/writer$n.err" || rc=1
	done
	for i in "$@"; do
		"$KMSCTL" --addr "$url" client revoke "$i" --reason concurrent >/dev/null \
			2>>"$T_DIR/writer$n.err" || rc=1
	done
	return $rc
}
t0=$(now_ms)
t_bg_func W1 writer 1 c1 c3 c5
t_bg_func W2 writer 2 c2 c4 c6
wait "$W1" || { cat "$T_DIR/writer1.err" >&2; t_fail "a write through instance 1 failed"; }
wait "$W2" || { cat "$T_DIR/writer2.err" >&2; t_fail "a write through instance 2 failed"; }
ms=$(($(now_ms) - t0))
read -r cnt distinct lo hi <<<"$(pg_sql "SELECT count(*), count(DISTINCT epoch), min(epoch), max(epoch) FROM epochs WHERE group_id = $GID" | tr '|' ' ')"
t_log "concurrent writers: $((2 * ROT)) rotations + 6 revocations through two instances in $ms ms; grp epochs $lo..$hi ($cnt rows, $distinct numbers; $before before)"
[ "$cnt" = "$distinct" ] || t_fail "duplicated epoch numbers: $cnt rows, $distinct numbers"
[ "$lo" = 1 ] && [ "$hi" = "$cnt" ] || t_fail "epoch numbers skipped: $cnt epochs numbered $lo..$hi"
[ "$((hi - before))" -ge $((2 * ROT + 6)) ] || t_fail "only $((hi - before)) new epochs for $((2 * ROT)) rotations and 6 rekeys"
[ "$(pg_sql "SELECT count(*) FROM epochs WHERE group_id = $GID AND state = 'current'")" = 1 ] ||
	t_fail "grp does not have exactly one current epoch"
