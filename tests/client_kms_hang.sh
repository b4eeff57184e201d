#!/bin/bash
# client_kms_hang.sh - a hanging KMS never stalls the receive path (issue
# 10 items 4 and 9).  One subscriber process holds groups ga and gb; its KMS
# is reached through a relay that accepts and never answers.  When ga moves
# to an epoch the subscriber lacks, gb's stream keeps its normal latency
# (today's main fetched on paho's receive thread: seconds for every group),
# ga's messages are held and delivered, in order, once the KMS answers again;
# a message held past hold_s is dropped with a report that keeps its
# sender, group and epoch and names the KMS failure; and a key fetch that
# hangs does not hold up a reconnect after a broker restart.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

LAT="$top_builddir/tests/client_latency"
[ -x "$LAT" ] || t_skip "client_latency not built"

kms_start
enrol broker broker
for n in puba pubb sub; do enrol "$n" client; done
expect_rc 0 kmsctl group add ga --filter 'a/#' --scheme 4
expect_rc 0 kmsctl group add gb --filter 'b/#' --scheme 4
expect_rc 0 kmsctl grant add puba ga pub
expect_rc 0 kmsctl grant add pubb gb pub
expect_rc 0 kmsctl grant add sub ga sub
expect_rc 0 kmsctl grant add sub gb sub
broker_start

RELAY_PORT=$(t_free_port)
echo forward >"$T_DIR/relay.mode"
python3 "$top_srcdir/tests/client_relay.py" "$RELAY_PORT" "$KMS_PORT" "$T_DIR/relay.mode" \
	>"$T_DIR/relay.out" 2>&1 &
t_track $!
wait_for "$T_DIR/relay.out" ready || t_fail "the KMS relay did not start"

# sub_conf FILE [option value]...: configuration of client "sub", KMS via the relay
sub_conf() {
	local f=$1
	shift
	{
		echo "broker tcp://127.0.0.1:$MQTT_PORT"
		echo "cert $PKI/sub.crt"
		echo "key $PKI/sub.key"
		echo "cafile $PKI/ca.crt"
		echo "kms ${KMS_URL%%://*}://127.0.0.1:$RELAY_PORT"
		while [ $# -ge 2 ]; do echo "$1 $2"; shift 2; done
	} >"$f"
}

# 1. gb streams while ga's new epoch cannot be fetched
sub_conf "$T_DIR/sub.conf"
"$LAT" "$T_DIR/sub.conf" 'a/#' 'b/#' >"$T_DIR/lat.out" 2>"$T_DIR/lat.err" &
LATP=$!
t_track "$LATP"
wait_for "$T_DIR/lat.out" " ready" || { cat "$T_DIR/lat.err" >&2; t_fail "the subscriber did not start"; }

NB=100      # gb: one message every 100 ms, about 11 s
NA=20       # ga: one every 200 ms, under the epoch the subscriber lacks
pub_bg pubb <( for i in $(seq 1 "$NB"); do echo "b-$i-$(now_ms)"; sleep 0.1; done ) \
	"$T_DIR/pubb.err" -t b/x -q 1 -l
PUBB=$PUB_PID
sleep 2
hang_ms=$(now_ms)
echo hang >"$T_DIR/relay.mode"
# two rotations: the subscriber holds the pre-issued next epoch (2), not 3
expect_rc 0 kmsctl group rotate ga
expect_rc 0 kmsctl group rotate ga
sleep 1     # the broker's policy watch learns epoch 3; the notice reaches the subscriber
( for i in $(seq 1 "$NA"); do echo "a-$i"; sleep 0.2; done ) |
	pub puba -t a/x -q 1 -l 2>"$T_DIR/puba.err" || { cat "$T_DIR/puba.err" >&2; t_fail "puba failed"; }
sleep 1
fwd_ms=$(now_ms)
echo forward >"$T_DIR/relay.mode"
wait "$PUBB" || { cat "$T_DIR/pubb.err" >&2; t_fail "pubb failed"; }
wait_for "$T_DIR/lat.out" " msg b/x " "$NB" 300 || t_fail "messages of gb lost"

read -r base_n base_max hang_n hang_max hang_med <<<"$(python3 - "$T_DIR/lat.out" "$hang_ms" "$fwd_ms" <<'PY'
import sys
hang, fwd = int(sys.argv[2]), int(sys.argv[3])
base, during = [], []
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) >= 6 and f[1] == "msg" and f[2] == "b/x":
        sent = int(f[5].split("-")[2])
        (during if hang <= sent < fwd else base if sent < hang else []).append(int(f[0]) - sent)
during.sort()
print(len(base), max(base) if base else -1, len(during), max(during) if during else -1,
      during[len(during) // 2] if during else -1)
PY
)"
hung=$(grep -c '^hang' "$T_DIR/relay.out")
t_log "gb latency before the hang: $base_n messages, max $base_max ms; while the KMS hung:" \
    "$hang_n messages, median $hang_med ms, max $hang_max ms; $hung key requests hung"
[ "$hung" -ge 1 ] || t_fail "the subscriber never asked the hanging KMS: the test did not test"
[ "$hang_n" -ge 30 ] || t_fail "too few gb messages while the KMS hung ($hang_n)"
[ "$hang_max" -le $((base_max + 1000)) ] ||
	t_fail "gb's messages were delayed up to $hang_max ms while the KMS hung (normal: $base_max ms)"

# ga: every message once, in order, under epoch 3, none before the KMS answered
wait_for "$T_DIR/lat.out" " msg a/x " "$NA" 200 || t_fail "the held messages of ga were not delivered"
kill "$LATP"
wait "$LATP"
grep " msg a/x " "$T_DIR/lat.out" | awk '{print $6}' >"$T_DIR/a.got"
seq 1 "$NA" | sed 's/^/a-/' | cmp -s - "$T_DIR/a.got" ||
	{ cat "$T_DIR/lat.out" "$T_DIR/lat.err" >&2; t_fail "ga's messages not delivered exactly once and in order"; }
[ "$(grep " msg a/x " "$T_DIR/lat.out" | awk '{print $5}' | sort -u)" = 3 ] ||
	t_fail "ga's messages were not all under epoch 3"
first_a=$(grep -m1 " msg a/x " "$T_DIR/lat.out" | awk '{print $1}')
[ "$first_a" -ge "$fwd_ms" ] || t_fail "a message of ga was delivered before its keys could be fetched"
grep -q "dropped a message" "$T_DIR/lat.err" && { cat "$T_DIR/lat.err" >&2; t_fail "messages were dropped"; }
t_log "ga: $NA messages held while the KMS hung, delivered in order $((first_a - fwd_ms)) ms after it answered again"

# 2. hold_max 3, hold_s 2: of 5 messages under a missing epoch, 2 find no
# room and 3 are dropped after 2 s; every report keeps its context
sub_conf "$T_DIR/sub2.conf" hold_s 2 hold_max 3 kms_timeout_ms 1000
"$LAT" "$T_DIR/sub2.conf" 'a/#' >"$T_DIR/lat2.out" 2>"$T_DIR/lat2.err" &
LATP=$!
t_track "$LATP"
wait_for "$T_DIR/lat2.out" " ready" || { cat "$T_DIR/lat2.err" >&2; t_fail "the subscriber did not start"; }
echo hang >"$T_DIR/relay.mode"
expect_rc 0 kmsctl group rotate ga
expect_rc 0 kmsctl group rotate ga
sleep 1
printf 'too-late-%d\n' 1 2 3 4 5 | pub puba -t a/x -q 1 -l 2>"$T_DIR/puba.err" ||
	{ cat "$T_DIR/puba.err" >&2; t_fail "puba failed"; }
wait_for "$T_DIR/lat2.err" "dropped a message" 5 100 || t_fail "the messages were not all reported"
kill "$LATP"
wait "$LATP"
full=$(grep -c "dropped a message.*no room to hold" "$T_DIR/lat2.err")
late=$(grep -c "dropped a message.*held 2 s waiting for the keys" "$T_DIR/lat2.err")
line=$(grep -m1 "held 2 s waiting" "$T_DIR/lat2.err")
t_log "hold_max 3: $full dropped for want of room, $late after 2 s; report: ${line#* error }"
[ "$full" = 2 ] && [ "$late" = 3 ] || { cat "$T_DIR/lat2.err" >&2; t_fail "expected 2 drops for room and 3 after hold_s"; }
[ "$(grep "dropped a message" "$T_DIR/lat2.err" | grep -vc "from 'puba' (group 'ga', epoch 5)")" = 0 ] ||
	{ cat "$T_DIR/lat2.err" >&2; t_fail "a drop report lost its context"; }
case "$line" in
*"from 'puba' (group 'ga', epoch 5)"*"held 2 s waiting for the keys"*"KMS"*) ;;
*) t_fail "the drop report lost its context or its cause: $line" ;;
esac
grep -q "too-late" "$T_DIR/lat2.out" && t_fail "a message was delivered without its key"

# 3. a key fetch hanging for 10 s does not hold up a reconnect
sub_conf "$T_DIR/sub3.conf" kms_timeout_ms 10000 reconnect_min_ms 100 reconnect_max_ms 500
echo forward >"$T_DIR/relay.mode"
"$LAT" "$T_DIR/sub3.conf" 'a/#' >"$T_DIR/lat3.out" 2>"$T_DIR/lat3.err" &
LATP=$!
t_track "$LATP"
wait_for "$T_DIR/lat3.out" " ready" || { cat "$T_DIR/lat3.err" >&2; t_fail "the subscriber did not start"; }
n0=$(grep -c '^hang' "$T_DIR/relay.out")
echo hang >"$T_DIR/relay.mode"
expect_rc 0 kmsctl group rotate ga
expect_rc 0 kmsctl group rotate ga
# the rekey notice starts a fetch that hangs
for _ in $(seq 1 50); do [ "$(grep -c '^hang' "$T_DIR/relay.out")" -gt "$n0" ] && break; sleep 0.1; done
[ "$(grep -c '^hang' "$T_DIR/relay.out")" -gt "$n0" ] || t_fail "no key fetch started after the rotation"
broker_stop
broker_start
up_ms=$(now_ms)
wait_for "$T_DIR/lat3.out" " state 1" 2 150 || t_fail "the subscriber did not reconnect"
back_ms=$(grep " state 1" "$T_DIR/lat3.out" | tail -1 | awk '{print $1}')
kill "$LATP"
wait "$LATP"
t_log "reconnected $((back_ms - up_ms)) ms after the broker was back, while a key fetch hung"
[ $((back_ms - up_ms)) -le 3000 ] ||
	t_fail "the reconnect waited $((back_ms - up_ms)) ms: behind the hanging key fetch"
exit 0
