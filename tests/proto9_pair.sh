#!/bin/bash
# Issue 9.3: pairing only between a "pub" and a "sub" grant holder of the
# same scheme 1/2 group.  mallory, an enrolled client with no grant on any
# pairwise group, floods subscriber sub1's pairing inbox with valid signed
# PAIR_REQUESTs - more than sub1's nonce cache holds (4096).  The broker
# refuses every one (PUBACK 0x87) naming the rule, so sub1's cache never
# fills, and the real publisher pairs with sub1 during the flood and after
# it and is read (the test prints how long the pairing took).  Before
# the fix the broker relayed them all, sub1 stored each nonce before looking
# at the group, and the publisher's pairing then failed (cache full).
# Real mqe2e-kmsd, Mosquitto + plugin, mqe2e-pub/-sub; the flood comes from
# broker_probe pairreq (a real mqe2e connection, real signatures).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

[ -x "$PROBE" ] || t_skip "broker_probe not built"
FLOOD=${PROTO9_FLOOD:-4200}

kms_start
enrol broker broker
for n in pub sub1 mallory; do enrol "$n" client; done
expect_rc 0 kmsctl group add g1 --filter 'p1/#' --scheme 1
expect_rc 0 kmsctl group add g4 --filter 'p4/#' --scheme 4
expect_rc 0 kmsctl grant add pub g1 pub
expect_rc 0 kmsctl grant add sub1 g1 sub
expect_rc 0 kmsctl grant add sub1 g4 sub
# mallory publishes on a group sub1 reads - but not a pairwise one
expect_rc 0 kmsctl grant add mallory g4 pub
broker_start

sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'p1/#' -C 2 -W 120
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"

# 1. the flood: every request refused by the broker; meanwhile the real
#    publisher pairs with sub1 and is read
t0=$(date +%s.%N)
probe_bg pairreq mallory --other-id sub1 --group g1 --count "$FLOOD" >"$T_DIR/flood.out" \
    2>"$T_DIR/flood.err"
FLOODP=$PROBE_PID
wait_for "$T_DIR/flood.out" "^puback" 500 300 || { cat "$T_DIR/flood.err" >&2; t_fail "the flood did not start"; }
p0=$(date +%s.%N)
expect_rc 0 pub pub -t p1/x -q 1 --to sub1 -m "paired 1"
p1=$(date +%s.%N)
during=$(grep -c "^puback" "$T_DIR/flood.out")
wait "$FLOODP" || { cat "$T_DIR/flood.err" >&2; t_fail "the flood did not run"; }
t1=$(date +%s.%N)
grep -q "^pairreq sent $FLOOD$" "$T_DIR/flood.out" || t_fail "the flood did not finish"
refused=$(grep -c "^puback [0-9]* rc=135$" "$T_DIR/flood.out")
passed=$(grep -c "^puback [0-9]* rc=0$" "$T_DIR/flood.out")
t_log "flood of $FLOOD pairing requests from a client without a grant: $refused refused, $passed relayed ($(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s)"
t_log "meanwhile (flood at $during requests) the real publisher paired with sub1 and published in $(awk "BEGIN{printf \"%.2f\", $p1 - $p0}") s"
[ "$passed" -eq 0 ] && [ "$refused" -eq "$FLOOD" ] ||
	t_fail "the broker relayed $passed pairing requests from a client without a grant"
grep -q "dropped publish from 'mallory' to 'mqe2e/v1/pair/req/sub1': pairing only between a 'pub' and a 'sub' grant holder" \
    "$T_DIR/mosquitto.log" || t_fail "the refusal is not logged with its reason"

# 2. a group mallory may publish on, but not pairwise: refused too
probe pairreq mallory --other-id sub1 --group g4 --count 3 >"$T_DIR/g4.out" 2>&1
[ "$(grep -c "rc=135$" "$T_DIR/g4.out")" -eq 3 ] || { cat "$T_DIR/g4.out" >&2;
	t_fail "pairing for a scheme 4 group was relayed"; }
# and a publisher of g1 cannot pair with a client that does not read g1
probe pairreq pub --other-id mallory --group g1 --count 1 >"$T_DIR/nosub.out" 2>&1
grep -q "rc=135$" "$T_DIR/nosub.out" || { cat "$T_DIR/nosub.out" >&2;
	t_fail "pairing with a client without a sub grant was relayed"; }

# 3. after the flood too
expect_rc 0 pub pub -t p1/x -q 1 --to sub1 -m "paired 2"
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "sub1 did not receive after the flood"; }
printf 'paired 1\npaired 2\n' | cmp -s - "$T_DIR/sub.out" ||
	{ cat "$T_DIR/sub.out" "$T_DIR/sub.out.err" >&2; t_fail "sub1 did not print both messages"; }
t_log "sub1 read the messages paired during and after the flood"
exit 0
