#!/bin/bash
# fleet13_two_kmsd.sh - two mqe2e-kmsd on one real PostgreSQL 15 (issue 13,
# must show 1): exactly one of them schedules; a client enrolled through
# instance 1 fetches its keys from instance 2 and exchanges messages
# through a real Mosquitto whose plugin watches instance 2; a revocation
# made through instance 1 cuts that client off at the broker within 2 s
# (the time is printed), and the revoked client is then refused by both
# instances and by the broker.  Also: a grant added through instance 1
# reaches the broker watching instance 2 without waiting for its long poll.
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
t_log "a grant through instance 1 let sub2 subscribe at the broker watching instance 2 within $t_grant ms (incl. a 1 s -W)"

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
true
