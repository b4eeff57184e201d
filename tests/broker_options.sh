#!/bin/bash
# broker_options.sh - mqe2e_plugin.so refuses to start on bad options, with a
# log line naming the option (and file); started without a reachable KMS it
# fails closed: mqe2e clients and plain clients are refused and counted.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

mk_ca ca
mk_leaf ca broker1 broker
mk_leaf ca alice client

# Required options, one at a time.
mosq_conf "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
mosq_start_fails "plugin_opt_kms_url is required"
mosq_conf "kms_url http://127.0.0.1:1" "key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
mosq_start_fails "plugin_opt_cert is required"
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/nope.crt" "key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
mosq_start_fails "plugin_opt_cert: cannot read '$T_DIR/nope.crt'"
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" "cafile $T_DIR/nope.crt"
mosq_start_fails "plugin_opt_cafile: cannot read '$T_DIR/nope.crt'"
mosq_conf "kms_url ftp://x" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
mosq_start_fails 'plugin_opt_kms_url: bad KMS URL "ftp://x"'
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "max_skew_ms 12x"
mosq_start_fails "plugin_opt_max_skew_ms: '12x' is not a number"
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "allow_plain maybe"
mosq_start_fails "plugin_opt_allow_plain: 'maybe' is not true or false"
# A client certificate is not a broker identity; a key that does not match.
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/alice.crt" "key $T_DIR/alice.key" "cafile $T_DIR/ca.crt"
mosq_start_fails "is not a broker certificate"
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/alice.key" "cafile $T_DIR/ca.crt"
mosq_start_fails "plugin_opt_cert/plugin_opt_key"

# One instance per broker.
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" "cafile $T_DIR/ca.crt"
{ echo "plugin $PLUGIN"; echo "plugin_opt_kms_url http://127.0.0.1:1"; echo "plugin_opt_cert $T_DIR/broker1.crt"
  echo "plugin_opt_key $T_DIR/broker1.key"; echo "plugin_opt_cafile $T_DIR/ca.crt"; } >>"$T_DIR/mosquitto.conf"
mosq_start_fails "loaded twice"

# Good options, KMS unreachable: the broker runs but admits nobody.
KMS_URL=""
mosq_conf "kms_url http://127.0.0.1:1" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS"
mosq_start
"$PROBE" connect --port "$MOSQ_PORT" --cert "$T_DIR/alice.crt" --key "$T_DIR/alice.key" \
	--ca "$T_DIR/ca.crt" >"$T_DIR/out" 2>"$T_DIR/err"
[ $? = 2 ] || t_fail "connect without a policy was not refused"
expect_out "refused rc=135"
wait_stat auth_not_ready 1
expect_log "refused client 'alice' from 127.0.0.1: no verified policy from the KMS yet"
"$PROBE" connect --plain --port "$MOSQ_PORT" >"$T_DIR/out" 2>"$T_DIR/err"
[ $? = 2 ] || t_fail "plain client was not refused"
wait_stat plain_refused 1
expect_log "plugin_opt_allow_plain is false"
wait_stat kms_errors 1 150   # after the retries of one request (10 s)
mosq_stop
exit 0
