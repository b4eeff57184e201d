#!/bin/bash
# fleet13_kill9.sh - kill -9 of the scheduling mqe2e-kmsd during 1 s
# rotations (issue 13, must show 2).  Three instances on one real
# PostgreSQL 15; a group rotating every second; a real Mosquitto with the
# plugin and three subscribers receiving a QoS 1 stream through it.  20
# rounds: at a random moment the instance that schedules is killed with
# SIGKILL; another must take over - say it leads and commit a rotation -
# within 5 s (each round's times are printed); the killed one is started
# again.  At the end the database holds every epoch number of the group
# exactly once (1..max, no gap, no duplicate: queried), and every
# subscriber decrypted the whole stream (lost, duplicated, refused counts
# printed).  About 60 s on an idle machine (20 rounds of about 2 s, one
# PostgreSQL initdb, the stream's tail).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/fleet13_lib.sh"

ROUNDS=${FLEET13_ROUNDS:-20}
NSUBS=3
INST="1 2 3"

for n in $INST; do fl_start "$n"; done
export MQE2E_KMS_URL=$KMS_URL_1 MQE2E_KMS_TOKEN_FILE="$T_DIR/kms1/admin.token"
enrol broker broker
enrol pub client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 1 --grace 60
expect_rc 0 kmsctl grant add pub grp pub
for i in $(seq 1 "$NSUBS"); do
	enrol "sub$i" client
	expect_rc 0 kmsctl grant add "sub$i" grp sub
done
GID=$(pg_sql "SELECT id FROM topic_groups WHERE name = 'grp'")
[ -n "$GID" ] || t_fail "group grp is not in the database"

# Broker and clients know all three instances and fail over between them
# (a KMS URL list), as a fleet is deployed.
KMS_URL="$KMS_URL_1,$KMS_URL_2,$KMS_URL_3"
broker_start
pids=""
for i in $(seq 1 "$NSUBS"); do
	sub_bg "sub$i" "$T_DIR/sub$i.out" -q 1 -t 'e2e/#' -W 300
	pids="$pids $SUB_PID"
	wait_for "$T_DIR/sub$i.out.err" "subscribed to" || t_fail "sub$i did not subscribe"
done
# The stream: one message every 100 ms until told to stop, then "end".
: >"$T_DIR/sent.log"
pub_bg pub <( i=0
  while [ ! -e "$T_DIR/stop" ]; do
	i=$((i + 1)); echo "m-$i"; echo "m-$i" >>"$T_DIR/sent.log"; sleep 0.1
  done
  echo end ) "$T_DIR/pub.err" -t e2e/stream -q 1 -l
PUBP=$PUB_PID
wait_for "$T_DIR/sent.log" "^m-" 5 300 || t_fail "the stream did not start"

leader() { fl_leaders $INST; }
maxepoch() { pg_sql "SELECT coalesce(max(epoch), 0) FROM epochs WHERE group_id = $GID"; }

worst_lead=0
worst_rot=0
for round in $(seq 1 "$ROUNDS"); do
	L=""
	for _ in $(seq 1 100); do
		L=$(leader)
		case $L in [123]) break ;; esac
		sleep 0.05
	done
	case $L in [123]) ;; *) t_fail "round $round: want one leader, have '$L'" ;; esac
	sleep "0.$(printf '%03d' $((RANDOM % 1000)))"   # a random moment of the 1 s cycle
	before=$(maxepoch)
	eval "victim=\$FL_PID_$L"
	t0=$(now_ms)
	fl_stop "$L" -9
	t_lead="" t_rot=""
	while [ -z "$t_rot" ] && [ $(($(now_ms) - t0)) -lt 10000 ]; do
		if [ -z "$t_lead" ]; then
			nl=$(leader)
			case $nl in [123]) [ "$nl" != "$L" ] && t_lead=$(($(now_ms) - t0)) ;; esac
		fi
		[ "$(maxepoch)" -gt "$before" ] && [ -n "$t_lead" ] && t_rot=$(($(now_ms) - t0))
		sleep 0.05
	done
	[ -n "$t_lead" ] || t_fail "round $round: nobody took over within 10 s after instance $L was killed"
	[ -n "$t_rot" ] || t_fail "round $round: no rotation within 10 s after instance $L was killed"
	t_log "round $round: killed instance $L (pid $victim) at epoch $before; instance $nl leads after $t_lead ms, rotated after $t_rot ms"
	[ "$t_rot" -le 5000 ] || t_fail "round $round: the take-over took $t_rot ms (> 5000)"
	[ "$t_lead" -gt "$worst_lead" ] && worst_lead=$t_lead
	[ "$t_rot" -gt "$worst_rot" ] && worst_rot=$t_rot
	fl_start "$L"
done
t_log "$ROUNDS kills of the scheduling instance: worst take-over $worst_lead ms to lead, $worst_rot ms to the first rotation (bound 5000)"

# Every epoch number exactly once: 1..max, no duplicate, no gap.
read -r cnt distinct lo hi <<<"$(pg_sql "SELECT count(*), count(DISTINCT epoch), min(epoch), max(epoch) FROM epochs WHERE group_id = $GID" | tr '|' ' ')"
t_log "database: group grp has $cnt epochs, $distinct distinct numbers, $lo..$hi"
[ "$cnt" = "$distinct" ] || t_fail "duplicated epoch numbers: $cnt rows, $distinct numbers"
[ "$lo" = 1 ] && [ "$hi" = "$cnt" ] || t_fail "epoch numbers skipped: $cnt epochs numbered $lo..$hi"
[ "$(pg_sql "SELECT count(*) FROM epochs WHERE group_id = $GID AND state = 'current'")" = 1 ] ||
	t_fail "the group does not have exactly one current epoch"
# each round waited for a rotation after its kill
[ "$hi" -gt "$ROUNDS" ] || t_fail "only $hi epochs after $ROUNDS rounds that each saw a rotation"

# Stop the stream; every subscriber decrypted all of it.
touch "$T_DIR/stop"
wait "$PUBP" || { tail -n 20 "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
N=$(wc -l <"$T_DIR/sent.log")
i=0
for p in $pids; do
	i=$((i + 1))
	wait_for "$T_DIR/sub$i.out" "^end$" 1 300 || t_fail "sub$i did not receive the end of the stream"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	grep -v '^end$' "$T_DIR/sub$i.out" >"$T_DIR/sub$i.msgs"
	read -r lost dup extra inorder <<<"$(check_stream "$T_DIR/sub$i.msgs" "$N")"
	d=$(drops "$T_DIR/sub$i.out.err")
	t_log "sub$i: $N sent, $(wc -l <"$T_DIR/sub$i.msgs") decrypted; lost $lost, duplicated $dup, in order $inorder, refused $d; epochs $(epochs_seen "$T_DIR/sub$i.out.err" | wc -w) seen"
	[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$extra" = 0 ] && [ "$d" = 0 ] ||
		{ tail -n 30 "$T_DIR/sub$i.out.err" >&2; t_fail "sub$i lost, duplicated or could not decrypt messages"; }
done
t_log "every subscriber decrypted all $N messages across $ROUNDS kills"
