#!/bin/bash
# fleet13_kms_lock.sh - one mqe2e-kmsd per data directory (issue 13): a
# second daemon on the directory of a running one refuses to start, naming
# the PID that holds it, and so does --init; the first one keeps serving.
# After kill -9 the stale lock file does not block the next start.  Two
# daemons started at the same moment on a fresh directory: exactly one runs.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"

kms_start
enrol alice client
PID1=$KMS_PID
[ -s "$KMS_DIR/kmsd.lock" ] || t_fail "no $KMS_DIR/kmsd.lock while mqe2e-kmsd $PID1 runs"

# A second daemon on the same directory (another port): refused, exit 1.
PORT2=$(t_free_port)
t0=$(date +%s%N)
timeout 20 "$KMSD" --data-dir "$KMS_DIR" --listen "127.0.0.1:$PORT2" >"$T_DIR/second.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 1 ] || { cat "$T_DIR/second.out" >&2; t_fail "a second mqe2e-kmsd on $KMS_DIR exited $rc, want 1"; }
grep -q "$KMS_DIR is in use by another mqe2e-kmsd (pid $PID1, holding $KMS_DIR/kmsd.lock)" \
	"$T_DIR/second.out" || { cat "$T_DIR/second.out" >&2; t_fail "the refusal does not name pid $PID1 and the lock file"; }
t_log "second daemon refused in $ms ms: $(head -n 1 "$T_DIR/second.out")"
# It never served.
curl -s -o /dev/null "http://127.0.0.1:$PORT2/v1/health" && t_fail "the refused daemon answered on $PORT2"
# --init is refused as well (it would open the directory's files).
timeout 20 "$KMSD" --init --data-dir "$KMS_DIR" >"$T_DIR/init.out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "pid $PID1" "$T_DIR/init.out" ||
	{ cat "$T_DIR/init.out" >&2; t_fail "--init beside a running daemon: exit $rc, want a refusal naming pid $PID1"; }
# The first one is unharmed.
expect_rc 0 kmsctl client show alice

# kill -9: the lock goes with the process, the file (naming the dead pid) stays.
kms_stop -9
grep -qx "$PID1" "$KMS_DIR/kmsd.lock" || t_fail "kmsd.lock does not name the killed daemon $PID1 (stale file expected)"
t0=$(date +%s%N)
kms_start
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$KMS_PID" != "$PID1" ] || t_fail "the same pid again?"
grep -qx "$KMS_PID" "$KMS_DIR/kmsd.lock" || t_fail "kmsd.lock does not name the new daemon $KMS_PID"
expect_rc 0 kmsctl client show alice
t_log "after kill -9 of $PID1 the stale lock did not block: $KMS_PID serves (ready in $ms ms)"
kms_stop

# A clean stop leaves the directory free as well.
kms_start
kms_stop

# Two daemons started together on a fresh directory: one runs, one is refused.
DIR2="$T_DIR/race"
PA=$(t_free_port)
PB=$(t_free_port)
"$KMSD" --data-dir "$DIR2" --listen "127.0.0.1:$PA" >"$T_DIR/a.out" 2>&1 &
A=$!
t_track "$A"
"$KMSD" --data-dir "$DIR2" --listen "127.0.0.1:$PB" >"$T_DIR/b.out" 2>&1 &
B=$!
t_track "$B"
# The loser exits at once; the winner goes on to serve.
for _ in $(seq 1 100); do
	kill -0 "$A" 2>/dev/null && kill -0 "$B" 2>/dev/null || break
	sleep 0.1
done
sleep 0.5
alive=0
kill -0 "$A" 2>/dev/null && alive=$((alive + 1))
kill -0 "$B" 2>/dev/null && alive=$((alive + 1))
[ "$alive" = 1 ] || { cat "$T_DIR/a.out" "$T_DIR/b.out" >&2; t_fail "two daemons on one fresh directory: $alive running, want 1"; }
if kill -0 "$A" 2>/dev/null; then win=$A lose=b; else win=$B lose=a; fi
grep -q "in use by another mqe2e-kmsd (pid $win" "$T_DIR/$lose.out" ||
	{ cat "$T_DIR/$lose.out" >&2; t_fail "the losing daemon does not name pid $win"; }
[ "$win" = "$A" ] && port=$PA || port=$PB
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null || t_fail "the winning daemon $win does not serve"
t_log "two daemons racing on a fresh directory: one ($win) runs, the other was refused naming it"
