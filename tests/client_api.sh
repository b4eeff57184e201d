#!/bin/bash
# The C API as a program uses it: examples/hello.c (libmqe2e(3)'s example,
# with a configuration file) runs against the real stack, and a client that
# publishes from inside its message callback echoes 20 messages (and, once
# freed, finds paho's threads still there: paho's racy teardown did not run;
# then connects a second client, alone in the process, and finds the line
# that wakes paho's receive thread, client/hold.c).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"
HELLO="$top_builddir/tests/hello"
ECHO="$top_builddir/tests/client_echo"
[ -x "$HELLO" ] && [ -x "$ECHO" ] || t_skip "hello / client_echo not built"

setup_world 4 1
enrol app client
expect_rc 0 kmsctl grant add app grp pub
expect_rc 0 kmsctl grant add app grp sub
cat >"$T_DIR/app.conf" <<CONF
# libmqe2e configuration of client 'app'
broker tcp://127.0.0.1:$MQTT_PORT
kms    $KMS_URL
cert   $PKI/app.crt
key    $PKI/app.key
cafile $PKI/ca.crt
CONF

expect_rc 0 timeout 30 "$HELLO" "$T_DIR/app.conf" e2e/hello
grep -q "^e2e/hello from app (group grp, epoch 1): hello$" "$T_DIR/out" ||
	{ cat "$T_DIR/out" "$T_DIR/err" >&2; t_fail "hello did not get its message back"; }
t_log "examples/hello: $(cat "$T_DIR/out")"

"$ECHO" "$T_DIR/app.conf" e2e/in e2e/out 20 >"$T_DIR/echo.out" 2>"$T_DIR/echo.err" &
ECHOP=$!
t_track "$ECHOP"
wait_for "$T_DIR/echo.out" ready || t_fail "client_echo did not start"
sub_bg sub1 "$T_DIR/sub.out" -q 1 -t e2e/out -C 20 -W 60
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
for i in $(seq 1 20); do echo "ping $i"; done | pub pub -t e2e/in -q 1 -l ||
	t_fail "mqe2e-pub failed"
wait_pid "$ECHOP" 300 || { cat "$T_DIR/echo.err" >&2; t_fail "client_echo failed"; }
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "the subscriber failed"; }
for i in $(seq 1 20); do echo "echo: ping $i"; done >"$T_DIR/expected"
cmp -s "$T_DIR/expected" "$T_DIR/sub.out" || { diff "$T_DIR/expected" "$T_DIR/sub.out" >&2; t_fail "echoes lost or out of order"; }
t_log "20 messages published from inside the message callback arrived in order"
t_log "client_echo: paho's receive thread outlived the last client (no paho teardown, paho.mqtt.c #1669)"
t_log "client_echo: the process's only client, made after the first was freed: $(grep '^second connect' "$T_DIR/echo.out"); the line to paho is up"
exit 0
