#!/bin/bash
# Issue 9.8 and 9.9, one design (docs/PROTOCOL.md 8.1): a GK_B frame's
# sequence number is the broker's clock, and a subscriber takes a live frame
# only if it was made after the CONNACK that began its session; a retained
# message is read late only when its envelope says it was published
# retained (under the publisher's key) and it comes as a retained delivery,
# once per (sender, topic).
#  9.8  a broker->subscriber frame captured by a man in the middle and
#       injected into a freshly started mqe2e-sub is refused, as captured
#       and with the MQTT retain bit set on it; before the fix it was
#       printed (the windows of a new process are empty).
#  9.9  retained messages of three publisher runs (topic a, b, a) are all
#       readable by a new subscriber of the filter, and by a restarted one;
#       before the fix the one of run 2 was dropped as "too old for the
#       replay window" (sequence numbers start at each run's clock).
# Real mqe2e-kmsd, Mosquitto + plugin, mqe2e-pub/-sub; the relay is
# proto9_relay.py.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
t_need python3

RELAY="$top_srcdir/tests/proto9_relay.py"
setup_world 4 1

# relay MODE: start the relay in front of the broker on RELAY_PORT
relay() {
	RELAY_PORT=$(t_free_port)
	: >"$T_DIR/relay.out"
	python3 "$RELAY" "$RELAY_PORT" "$MQTT_PORT" "$1" "$T_DIR/captured" >"$T_DIR/relay.out" 2>&1 &
	t_track $!
	wait_for "$T_DIR/relay.out" ready || t_fail "relay did not start"
}

# ---- 9.8: replay into a restarted subscriber ----
M=$(marker)
relay record
# shellcheck disable=SC2046
"$SUB" $(client_args sub1) -p "$RELAY_PORT" -d -t 'e2e/#' -C 1 -W 30 >"$T_DIR/first.out" \
    2>"$T_DIR/first.err" &
SUBP=$!
t_track "$SUBP"
wait_for "$T_DIR/first.err" "subscribed to" || t_fail "the first subscriber did not subscribe"
expect_rc 0 pub pub -t e2e/valve -m "$M"
wait_pid "$SUBP" 300 || { cat "$T_DIR/first.err" >&2; t_fail "the first subscriber got nothing"; }
grep -q -- "$M" "$T_DIR/first.out" || t_fail "the first subscriber did not print the message"
[ -s "$T_DIR/captured" ] || t_fail "the relay captured nothing"

for mode in inject inject-retain; do
	relay "$mode"
	# shellcheck disable=SC2046
	"$SUB" $(client_args sub1) -p "$RELAY_PORT" -d -t 'e2e/#' -W 4 >"$T_DIR/$mode.out" \
	    2>"$T_DIR/$mode.err" &
	SUBP=$!
	t_track "$SUBP"
	wait_for "$T_DIR/relay.out" "injected [1-9]" || t_fail "$mode: nothing injected"
	wait_pid "$SUBP" 100
	if grep -q -- "$M" "$T_DIR/$mode.out"; then
		cat "$T_DIR/$mode.err" >&2
		t_fail "$mode: the restarted subscriber printed a replayed frame"
	fi
	grep -q "dropped a message on topic 'e2e/valve'.*made before this connection" \
	    "$T_DIR/$mode.err" || { cat "$T_DIR/$mode.err" >&2;
		t_fail "$mode: the replay was not refused as older than the connection"; }
	t_log "$mode: the captured frame was refused by the restarted subscriber"
done

# ---- 9.9: retained messages of every earlier publisher run ----
expect_rc 0 pub pub -t e2e/a -q 1 -r -m "a run 1"
expect_rc 0 pub pub -t e2e/b -q 1 -r -m "b run 2"
expect_rc 0 pub pub -t e2e/a -q 1 -r -m "a run 3"
for life in 1 2; do
	sub_bg sub1 "$T_DIR/ret$life.out" -t 'e2e/#' -q 1 -C 2 -W 15
	wait_pid "$SUB_PID" 200 || { cat "$T_DIR/ret$life.out.err" >&2;
		t_fail "subscriber $life did not read both retained messages"; }
	printf 'a run 3\nb run 2\n' | cmp -s - <(sort "$T_DIR/ret$life.out") ||
		{ cat "$T_DIR/ret$life.out" "$T_DIR/ret$life.out.err" >&2;
		t_fail "subscriber $life: not the retained messages of runs 2 and 3"; }
done
t_log "retained messages of publisher runs 2 and 3 read by a new and a restarted subscriber"
exit 0
