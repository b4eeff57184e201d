#!/bin/bash
# The broker restarts under a live publisher and subscriber: both reconnect
# by themselves (a new handshake each), the subscription is renewed, and the
# messages go on.  client_broker_restart.sh [SCHEME] (default 4; scheme 2
# also shows pairwise keys surviving while the session keys change).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
SCHEME=${1:-4}
to=""
[ "$SCHEME" -le 2 ] && to="--to sub1"

setup_world "$SCHEME" 1
sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'e2e/#' -C 20 -W 120
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"

mkfifo "$T_DIR/lines"
# shellcheck disable=SC2086
pub_bg pub "$T_DIR/lines" "$T_DIR/pub.err" -t e2e/a -q 1 -l --timeout 60 $to
PUBP=$PUB_PID
exec 3>"$T_DIR/lines"
for i in $(seq 1 10); do echo "before restart $i" >&3; done
wait_for "$T_DIR/sub.out" "before restart" 10 || t_fail "messages before the restart did not arrive"

broker_stop
t_log "broker stopped"
broker_start
t_log "broker started again"
wait_for "$T_DIR/sub.out.err" "connected (broker verified)" 2 200 || t_fail "the subscriber did not reconnect"
wait_for "$T_DIR/pub.err" "connected (broker verified)" 2 200 || t_fail "the publisher did not reconnect"
sleep 0.5   # the renewed SUBSCRIBE
for i in $(seq 1 10); do echo "after restart $i" >&3; done
exec 3>&-
wait_pid "$PUBP" 300 || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "the subscriber failed"; }
{
	for i in $(seq 1 10); do echo "before restart $i"; done
	for i in $(seq 1 10); do echo "after restart $i"; done
} >"$T_DIR/expected"
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || { diff "$T_DIR/expected" "$T_DIR/sub.out" >&2; t_fail "messages lost or out of order"; }
t_log "scheme $SCHEME: both clients reconnected and 20 messages arrived in order"
exit 0
