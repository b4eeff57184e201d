#!/bin/bash
# broker9_port_taken.sh - Mosquitto with mqe2e_plugin.so on a listener port
# that is already taken exits cleanly, 100 times out of 100 (issue 10.7).
#
# Mosquitto 2.0.11 initialises its plugins before it opens the listeners and,
# when it cannot bind, exits without calling mosquitto_plugin_cleanup.  The
# plugin used to start its KMS thread in mosquitto_plugin_init; that thread
# was sometimes still inside OpenSSL when the exit handlers tore OpenSSL
# down (SIGSEGV in about one start in twenty).  Each start here must end
# with Mosquitto's own exit status 1 and its "Address already in use" line,
# never by a signal.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

STARTS=${BROKER9_STARTS:-100}
mk_ca ca
mk_leaf ca broker1 broker

# Hold the port: a listening socket that never accepts.
MOSQ_PORT=$(t_free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("held", flush=True); time.sleep(600)
' "$MOSQ_PORT" >"$T_DIR/holder.out" 2>&1 &
t_track $!
for i in $(seq 1 50); do grep -q held "$T_DIR/holder.out" && break; sleep 0.1; done
grep -q held "$T_DIR/holder.out" || t_fail "could not hold port $MOSQ_PORT"

# The KMS URL points at a closed port: the thread, if it ran, would fail fast
# and loop; nothing here needs a KMS.
mosq_conf "kms_url http://127.0.0.1:$(t_free_port)" "cert $T_DIR/broker1.crt" \
	"key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
sed -i 's/^log_type all$/log_type error/' "$T_DIR/mosquitto.conf"

# Both ways of loading the plugin: globally (ticks) and per listener (no
# tick in Mosquitto 2.0.11: the thread's fallback start must not fire first).
cp "$T_DIR/mosquitto.conf" "$T_DIR/global.conf"
{ echo "per_listener_settings true"; cat "$T_DIR/global.conf"; } >"$T_DIR/per_listener.conf"
for mode in global per_listener; do
	clean=0 crashed=0 other=0
	for i in $(seq 1 "$STARTS"); do
		env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/$mode.conf" >"$T_DIR/run.log" 2>&1
		rc=$?
		if [ "$rc" = 1 ] && grep -q "Address already in use" "$T_DIR/run.log"; then
			clean=$((clean + 1))
		elif [ "$rc" -gt 128 ] || grep -q "AddressSanitizer\|runtime error" "$T_DIR/run.log"; then
			crashed=$((crashed + 1))
			{ echo "exit status $rc"; cat "$T_DIR/run.log"; } >"$T_DIR/crash.log"
		else
			other=$((other + 1))
			cp "$T_DIR/run.log" "$T_DIR/other.log"
		fi
	done
	t_log "$mode: $STARTS starts on a taken port: $clean clean exits, $crashed crashes, $other other"
	[ "$crashed" = 0 ] || { cat "$T_DIR/crash.log" >&2; t_fail "$mode: $crashed of $STARTS starts crashed"; }
	[ "$other" = 0 ] || { cat "$T_DIR/other.log" >&2; t_fail "$mode: $other of $STARTS starts ended otherwise"; }
done
exit 0
