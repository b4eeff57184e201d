#!/bin/bash
# Scheme 1 recipients from the broker's roster (issue 11): `mqe2e-pub -t s1/t
# -m x` with neither --to nor --group reaches both scheme 1 subscribers; a
# publisher that keeps running follows the roster, so a third subscriber
# started later receives the next message without restarting anyone.  On
# the old code a scheme 1/2 publisher without --to reached no one.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

kms_start
enrol broker broker
for n in pub s1a s1b s1c; do enrol "$n" client; done
expect_rc 0 kmsctl group add g1 --filter 's1/#' --scheme 1
expect_rc 0 kmsctl grant add pub g1 pub
for n in s1a s1b s1c; do expect_rc 0 kmsctl grant add "$n" g1 sub; done
broker_start

# roster_is "ID ID ...": until the broker's retained roster of g1 says so
roster_is() {
	local i
	for i in $(seq 1 50); do
		mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t mqe2e/v1/roster/g1 -C 1 -W 2 \
			>"$T_DIR/roster" 2>/dev/null
		[ "$(tr -s '\n' ' ' <"$T_DIR/roster")" = "$1" ] && return 0
		sleep 0.2
	done
	t_fail "the roster of g1 is '$(tr -s '\n' ' ' <"$T_DIR/roster")', not '$1'"
}

sub_bg s1a "$T_DIR/a.out" -q 1 -t 's1/#' -C 3 -W 60
A=$SUB_PID
sub_bg s1b "$T_DIR/b.out" -q 1 -t 's1/#' -C 3 -W 60
B=$SUB_PID
wait_for "$T_DIR/a.out.err" "subscribed to" || t_fail "s1a did not subscribe"
wait_for "$T_DIR/b.out.err" "subscribed to" || t_fail "s1b did not subscribe"
roster_is "s1a s1b "

# the issue's command, as is
expect_rc 0 pub pub -t s1/t -m x -q 1
wait_for "$T_DIR/a.out" "^x$" || t_fail "s1a did not get the message published without --to"
wait_for "$T_DIR/b.out" "^x$" || t_fail "s1b did not get the message published without --to"

# a publisher that keeps running, and a subscriber that comes later
mkfifo "$T_DIR/lines"
pub_bg pub "$T_DIR/lines" "$T_DIR/pub.err" -t s1/t -q 1 -l
P=$PUB_PID
exec 7>"$T_DIR/lines"
echo one >&7
wait_for "$T_DIR/a.out" "^one$" || t_fail "s1a did not get 'one'"
wait_for "$T_DIR/b.out" "^one$" || t_fail "s1b did not get 'one'"
sub_bg s1c "$T_DIR/c.out" -q 1 -t 's1/#' -C 1 -W 60
C=$SUB_PID
wait_for "$T_DIR/c.out.err" "subscribed to" || t_fail "s1c did not subscribe"
roster_is "s1a s1b s1c "
sleep 1.5   # the running publisher hears the roster too (paho delivers it within ~1 s)
echo two >&7
exec 7>&-
wait_pid "$P" 200 || { cat "$T_DIR/pub.err" >&2; t_fail "the running publisher failed"; }
for pid in $A $B $C; do
	wait_pid "$pid" 200 || t_fail "a subscriber did not get its messages"
done
printf 'x\none\ntwo\n' | cmp -s - "$T_DIR/a.out" || { cat "$T_DIR/a.out" >&2; t_fail "s1a: wrong messages"; }
printf 'x\none\ntwo\n' | cmp -s - "$T_DIR/b.out" || { cat "$T_DIR/b.out" >&2; t_fail "s1b: wrong messages"; }
printf 'two\n' | cmp -s - "$T_DIR/c.out" || { cat "$T_DIR/c.out" >&2; t_fail "s1c did not get the next message"; }
t_log "scheme 1 without --to: both subscribers, and a later one from the next message on"
exit 0
