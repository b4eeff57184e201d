#!/bin/bash
# Topics, not groups (issue 11): one libmqe2e connection publishes to topics
# of three groups (schemes 1, 3, 4) with no "group" option and no recipient
# list, and two subscribers receive every message in order; then a grant
# added to the running publisher: it keeps publishing to its old group and
# publishes to the new one after its key refresh, without a restart; and a
# grant removed: the client refuses that group's topics, the others work on.
# On the old code the publisher could not choose among its groups.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

MULTI="$top_builddir/tests/topics11_multi"
N=5

kms_start
enrol broker broker
for n in pub subA subB; do enrol "$n" client; done
for s in 1 3 4; do
	expect_rc 0 kmsctl group add "g$s" --filter "s$s/#" --scheme "$s"
	expect_rc 0 kmsctl grant add pub "g$s" pub
	expect_rc 0 kmsctl grant add subA "g$s" sub
	expect_rc 0 kmsctl grant add subB "g$s" sub
done
broker_start

for n in subA subB; do
	sub_bg "$n" "$T_DIR/$n.out" -q 1 -v -t 's1/#' -t 's3/#' -t 's4/#' -C $((3 * N)) -W 60
	eval "${n}_PID=\$SUB_PID"
	wait_for "$T_DIR/$n.out.err" "subscribed to" 3 || t_fail "$n did not subscribe"
done
# the scheme 1 roster must list both before the first message
for i in $(seq 1 50); do
	mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t mqe2e/v1/roster/g1 -C 1 -W 2 \
		>"$T_DIR/roster" 2>/dev/null
	[ "$(tr -s '\n' ' ' <"$T_DIR/roster")" = "subA subB " ] && break
	sleep 0.2
done
[ "$(tr -s '\n' ' ' <"$T_DIR/roster")" = "subA subB " ] || t_fail "roster of g1: $(cat "$T_DIR/roster")"

cat >"$T_DIR/pub.conf" <<CONF
broker tcp://127.0.0.1:$MQTT_PORT
kms    $KMS_URL
cert   $PKI/pub.crt
key    $PKI/pub.key
cafile $PKI/ca.crt
key_refresh_s 2
CONF
"$MULTI" "$T_DIR/pub.conf" $N s1/a s3/b s4/c >"$T_DIR/multi.out" 2>"$T_DIR/multi.err" ||
	{ cat "$T_DIR/multi.err" >&2; t_fail "one connection could not publish to three groups"; }
grep -qx "sent $((3 * N))" "$T_DIR/multi.out" || t_fail "publisher: $(cat "$T_DIR/multi.out")"
for n in subA subB; do
	pid=${n}_PID
	wait_pid "${!pid}" 300 || { cat "$T_DIR/$n.out.err" >&2; t_fail "$n did not get $((3 * N)) messages"; }
	for t in s1/a s3/b s4/c; do
		want=$(for i in $(seq 1 $N); do printf '%s %s %d\n' "$t" "$t" "$i"; done)
		[ "$(grep "^$t " "$T_DIR/$n.out")" = "$want" ] ||
			{ cat "$T_DIR/$n.out" >&2; t_fail "$n: the messages on $t are missing or out of order"; }
	done
	grep -q "group 'g1'.*scheme 1" "$T_DIR/$n.out.err" && grep -q "group 'g3'.*scheme 3" "$T_DIR/$n.out.err" &&
		grep -q "group 'g4'.*scheme 4" "$T_DIR/$n.out.err" ||
		{ cat "$T_DIR/$n.out.err" >&2; t_fail "$n: the messages did not come through the three schemes"; }
done
t_log "one connection published $((3 * N)) messages on groups of schemes 1, 3 and 4; both subscribers got all"

# ---- a grant added to a running publisher --------------------------------------
expect_rc 0 kmsctl group add g5 --filter 's5/#' --scheme 4
expect_rc 0 kmsctl grant add subA g5 sub
sub_bg subA "$T_DIR/late.out" -q 1 -v -t 's4/#' -t 's5/#' -C 3 -W 60
LATE=$SUB_PID
wait_for "$T_DIR/late.out.err" "subscribed to" 2 || t_fail "subA did not subscribe to s5/#"
mkfifo "$T_DIR/cmds"
"$MULTI" "$T_DIR/pub.conf" - <"$T_DIR/cmds" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
RUN=$!
t_track "$RUN"
exec 7>"$T_DIR/cmds"
echo "s4/c before" >&7
wait_for "$T_DIR/run.out" "^ok s4/c" || t_fail "the running publisher cannot publish to g4"
echo "s5/x early" >&7
wait_for "$T_DIR/run.out" "^fail s5/x" || t_fail "a topic of a group without a grant was not refused"
grep -q "^fail s5/x: no topic group of client 'pub' covers topic 's5/x' (nothing was sent); its groups: 'g1' (s1/#, pub), 'g3' (s3/#, pub), 'g4' (s4/#, pub)" "$T_DIR/run.out" ||
	{ cat "$T_DIR/run.out" >&2; t_fail "the refusal does not name the topic and the groups held"; }
expect_rc 0 kmsctl grant add pub g5 pub
sleep 3   # key_refresh_s 2: the running publisher's next key refresh
echo "s5/x after" >&7
echo "s4/c still" >&7
wait_for "$T_DIR/run.out" "^ok s4/c" 2 || { cat "$T_DIR/run.out" "$T_DIR/run.err" >&2; t_fail "g4 broke after the grant"; }
grep -q "^ok s5/x" "$T_DIR/run.out" || { cat "$T_DIR/run.out" "$T_DIR/run.err" >&2; t_fail "the new grant did not take effect"; }
# and a grant removed: refused by the client at its next refresh, the rest works on
expect_rc 0 kmsctl grant rm pub g4 pub
sleep 4.5   # two key refresh periods: nothing but the refresh can tell it
echo "s4/c removed" >&7
echo "s5/x again" >&7
wait_for "$T_DIR/run.out" "^ok s5/x" 2 || { cat "$T_DIR/run.out" "$T_DIR/run.err" >&2; t_fail "g5 broke after a grant was removed"; }
grep -q "^fail s4/c: no topic group of client 'pub' covers topic 's4/c'" "$T_DIR/run.out" ||
	{ cat "$T_DIR/run.out" >&2; t_fail "the removed grant did not take effect at the client"; }
exec 7>&-
wait_pid "$RUN" 100 || t_fail "the running publisher failed: $(cat "$T_DIR/run.err")"
wait_pid "$LATE" 200 || { cat "$T_DIR/late.out.err" >&2; t_fail "subA did not get the three messages"; }
printf 's4/c before\ns5/x after\ns4/c still\n' | cmp -s - "$T_DIR/late.out" ||
	{ cat "$T_DIR/late.out" >&2; t_fail "subA got the wrong messages"; }
t_log "a grant added to a running publisher took effect at its key refresh, a removed one too; the other groups kept working"
exit 0
