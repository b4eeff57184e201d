#!/bin/bash
# ops_errors.sh - errors that say what is wrong and how to fix it:
# a private key that belongs to another certificate is called exactly that
# (mqe2e-pub and the broker plugin); a broker key that Mosquitto cannot read
# after dropping to its own user names that user and the fix.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

mk_ca ca
mk_leaf ca broker broker
mk_leaf ca alice client
mk_leaf ca bob client

# 1. A key that does not match its certificate, in the client library.
PUB="$top_builddir/client/mqe2e-pub"
"$PUB" -h 127.0.0.1 -p 1 --cert "$T_DIR/alice.crt" --key "$T_DIR/bob.key" --cafile "$T_DIR/ca.crt" \
	-t x -m y >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ "$rc" = 2 ] || { cat "$T_DIR/err" >&2; t_fail "mismatched key: exit $rc, expected 2 (certificate/key)"; }
grep -q "the private key $T_DIR/bob.key does not match the certificate $T_DIR/alice.crt" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "mqe2e-pub does not say the key does not match the certificate"; }
grep -q "malformed" "$T_DIR/err" && t_fail "still calls a mismatched key malformed"

# 2. The same in the broker plugin: Mosquitto refuses to start.
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker.crt" "key $T_DIR/alice.key" \
	"cafile $T_DIR/ca.crt"
mosq_start_fails "does not match the certificate $T_DIR/broker.crt"
t_log "a mismatched key is called a mismatched key (client and plugin)"

# 3. Mosquitto started as root drops to user mosquitto before loading the
# plugin: a root-only key is unreadable, and the error says so.
[ "$(id -u)" = 0 ] || { t_log "not root: the privilege drop is not checked"; exit 0; }
id mosquitto >/dev/null 2>&1 || { t_log "no user mosquitto: the privilege drop is not checked"; exit 0; }
chmod 755 "$T_DIR"
mkdir -m 755 "$T_DIR/etc"
cp "$T_DIR/broker.crt" "$T_DIR/ca.crt" "$T_DIR/etc/"
install -m 600 "$T_DIR/broker.key" "$T_DIR/etc/broker.key"
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/etc/broker.crt" "key $T_DIR/etc/broker.key" \
	"cafile $T_DIR/etc/ca.crt"
sed -i 's/^user root$/user mosquitto/' "$T_DIR/mosquitto.conf"
mosq_start_fails "plugin_opt_key: cannot read '$T_DIR/etc/broker.key': Permission denied: Mosquitto runs as user 'mosquitto'"
expect_log "chgrp mosquitto '$T_DIR/etc/broker.key' && chmod 0640"
# The fix it names works.
chgrp mosquitto "$T_DIR/etc/broker.key" && chmod 0640 "$T_DIR/etc/broker.key"
: >"$MOSQ_LOG"
mosq_start
sleep 0.5
kill -0 "$MOSQ_PID" 2>/dev/null || { cat "$MOSQ_LOG" >&2; t_fail "mosquitto did not start after the fix"; }
grep -q "Permission denied" "$MOSQ_LOG" && { cat "$MOSQ_LOG" >&2; t_fail "still denied after the fix"; }
mosq_stop
t_log "unreadable key: the log names user mosquitto and the chgrp/chmod that fixes it"
exit 0
