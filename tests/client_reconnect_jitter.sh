#!/bin/bash
# client_reconnect_jitter.sh - clients that lose a broker together do not
# come back in lockstep (issue 10 item 8).  Ten subscribers (libmqe2e,
# reconnect_min_ms 2000) lose the broker at the same moment; it restarts at
# once.  Each waits half its backoff plus a random part of the other half,
# so their reconnects spread over about a second; without jitter they all
# try at the same millisecond and the spread is only the broker's queue.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

LAT="$top_builddir/tests/client_latency"
[ -x "$LAT" ] || t_skip "client_latency not built"
N=10

kms_start
enrol broker broker
expect_rc 0 kmsctl group add grp --filter 'j/#' --scheme 4
for i in $(seq 1 "$N"); do
	enrol "s$i" client
	expect_rc 0 kmsctl grant add "s$i" grp sub
done
broker_start

for i in $(seq 1 "$N"); do
	cat >"$T_DIR/s$i.conf" <<CONF
broker tcp://127.0.0.1:$MQTT_PORT
cert $PKI/s$i.crt
key $PKI/s$i.key
cafile $PKI/ca.crt
kms $KMS_URL
reconnect_min_ms 2000
CONF
	"$LAT" "$T_DIR/s$i.conf" 'j/#' >"$T_DIR/s$i.out" 2>"$T_DIR/s$i.err" &
	t_track $!
done
for i in $(seq 1 "$N"); do
	wait_for "$T_DIR/s$i.out" " ready" || { cat "$T_DIR/s$i.err" >&2; t_fail "s$i did not start"; }
done

down_ms=$(now_ms)
broker_stop
broker_start
for i in $(seq 1 "$N"); do
	wait_for "$T_DIR/s$i.out" " state 1" 2 150 || { cat "$T_DIR/s$i.err" >&2; t_fail "s$i did not reconnect"; }
done

# the first "state 1" after the restart of each client, in ms after the loss
offs=$(for i in $(seq 1 "$N"); do
	awk -v d="$down_ms" '$2 == "state" && $3 == 1 && $1 > d { print $1 - d; exit }' "$T_DIR/s$i.out"
done | sort -n | tr '\n' ' ')
read -r first _ <<<"$offs"
last=${offs% }
last=${last##* }
spread=$((last - first))
t_log "reconnects of $N clients, ms after the broker went down: $offs(spread $spread ms)"
[ "$spread" -ge 300 ] || t_fail "the $N clients reconnected within $spread ms of each other: no jitter"
exit 0
