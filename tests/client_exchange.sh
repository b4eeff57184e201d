#!/bin/bash
# client_exchange.sh SCHEME - one publisher and three subscribers exchange
# 100 QoS 1 messages through Mosquitto + mqe2e_plugin.so in topic group
# scheme SCHEME; every message arrives intact and in order at each
# subscriber, while neither a plain mosquitto_sub on the topic (the curious
# broker's view) nor a packet capture of the broker port ever holds the
# plaintext.  Run through client_scheme[1-4].sh.
. "$top_srcdir/tests/lib.sh"
SCHEME=${1:?usage: client_exchange.sh SCHEME}
. "$top_srcdir/tests/client_lib.sh"

N=100
NSUBS=3
setup_world "$SCHEME" "$NSUBS"
MARK=$(marker)

capture_start
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -V mqttv5 -i curious -t 'e2e/#' -v \
	>"$T_DIR/plain.out" 2>"$T_DIR/plain.err" &
PLAIN_PID=$!
t_track "$PLAIN_PID"

pids=""
for i in $(seq 1 "$NSUBS"); do
	sub_bg "sub$i" "$T_DIR/sub$i.out" -q 1 -t 'e2e/#' -C "$N" -W 90
	pids="$pids $SUB_PID"
done
for i in $(seq 1 "$NSUBS"); do
	wait_for "$T_DIR/sub$i.out.err" "subscribed to" || t_fail "sub$i did not subscribe"
done

for i in $(seq 1 "$N"); do echo "$MARK message $i of $N: scheme $SCHEME"; done >"$T_DIR/expected"
to=""
[ "$SCHEME" -le 2 ] && to="--to sub1,sub2,sub3"   # pairwise: name the subscribers
# shellcheck disable=SC2086
pub pub -t e2e/line/1 -q 1 -l $to <"$T_DIR/expected" 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub failed (exit $?)"; }

i=0
for p in $pids; do
	i=$((i + 1))
	wait_pid "$p" 900
	rc=$?
	[ "$rc" = 0 ] || { cat "$T_DIR/sub$i.out.err" >&2; t_fail "sub$i exited $rc"; }
	cmp -s "$T_DIR/expected" "$T_DIR/sub$i.out" || {
		diff "$T_DIR/expected" "$T_DIR/sub$i.out" | head -20 >&2
		t_fail "sub$i did not receive the $N messages intact and in order"
	}
	grep -q "from 'pub' (group 'grp', epoch [0-9]*, scheme $SCHEME" "$T_DIR/sub$i.out.err" ||
		t_fail "sub$i does not report sender 'pub', group 'grp' and scheme $SCHEME"
done
t_log "$NSUBS subscribers received all $N messages intact and in order"

sleep 0.5
kill "$PLAIN_PID" 2>/dev/null
wait "$PLAIN_PID" 2>/dev/null
if grep -q -a -- "$MARK" "$T_DIR/plain.out"; then
	t_fail "a plain mosquitto_sub saw the plaintext"
fi
t_log "plain mosquitto_sub: $(wc -l <"$T_DIR/plain.out") deliveries, no plaintext"
capture_check "$MARK"
exit 0
