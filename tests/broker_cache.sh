#!/bin/bash
# broker_cache.sh - plugin_opt_policy_cache: a broker restarted while the KMS
# is down admits clients and relays scheme 4 traffic from the cached, still
# signature-checked policy and GK_B keys; a tampered cache is refused.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"
. "$top_srcdir/tests/broker_lib.sh"

CACHE="$T_DIR/policy.cache"
kms_start
enrol broker1 broker
for c in alice bob; do enrol "$c" client; done
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add alice temps pub
expect_rc 0 kmsctl grant add bob temps sub
for c in alice bob; do
	probe keys "$c" --keys "$T_DIR/$c.keys" >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "keys for $c"
done

mosq_conf "kms_url $KMS_URL" "cert $T_DIR/broker1.crt" "key $T_DIR/broker1.key" \
	"cafile $T_DIR/ca.crt" "stats_file $MOSQ_STATS" "policy_cache $CACHE"
mosq_start
wait_stat policy_updates 1 100
for i in $(seq 1 50); do [ -s "$CACHE" ] && break; sleep 0.1; done
[ -s "$CACHE" ] || t_fail "no policy cache written"
[ "$(stat -c %a "$CACHE")" = 600 ] || t_fail "policy cache is not mode 0600"
grep -q '"key"' "$CACHE" || t_fail "policy cache holds no keys"
mosq_stop

# KMS down, broker restarted: traffic flows from the cache.
kms_stop
rm -f "$MOSQ_STATS"
mosq_start
wait_stat policy_version 1 50
expect_log "loaded from '$CACHE'"
probe_bg sub bob --keys "$T_DIR/bob.keys" --topic 'plant/+/temp' --count 2 --timeout 15000 \
	>"$T_DIR/bob.out" 2>&1
BOB=$PROBE_PID
for i in $(seq 1 50); do grep -q subscribed "$T_DIR/bob.out" && break; sleep 0.1; done
probe pub alice --keys "$T_DIR/alice.keys" --topic plant/1/temp --group temps --count 2 \
	--message cached >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "publish with the KMS down failed"
wait "$BOB" || { cat "$T_DIR/bob.out" >&2; t_fail "bob got nothing with the KMS down"; }
grep -q "^recv plant/1/temp cached 1$" "$T_DIR/bob.out" || t_fail "bob lacks message 1"
# The plugin's KMS client retries a dead KMS within its 10 s request
# deadline (core/http) before a round counts as failed.
wait_stat kms_errors 1 300
mosq_stop

# A cache whose policy was altered does not verify: nobody is admitted.
python3 - "$CACHE" <<'PY' || t_fail "cannot alter the cache"
import base64, json, sys
c = json.load(open(sys.argv[1]))
e = c["answers"][0]         # the full snapshot the chain starts with
a = json.loads(e["answer"])
pol = base64.b64decode(a["policy"]).replace(b'"temps"', b'"tempz"')
a["policy"] = base64.b64encode(pol).decode()
e["answer"] = json.dumps(a)
json.dump(c, open(sys.argv[1], "w"))
PY
: >"$MOSQ_LOG"
rm -f "$MOSQ_STATS"
mosq_start
probe connect alice >"$T_DIR/out" 2>"$T_DIR/err"
expect_out "refused rc=135"
expect_log "plugin_opt_policy_cache: '$CACHE': the policy does not verify"
mosq_stop
exit 0
