#!/bin/bash
# ops_cli.sh - the command-line conventions of mqe2e-pub/sub and
# mqe2e-kmsctl against a real KMS and Mosquitto with the plugin:
# MQE2E_KMS_URL alone names the KMS for the tools and the library, -F
# formats, -R skips retained messages, -E exits after the SUBACK,
# --repeat/--repeat-delay, -k, --quiet, `mqe2e-kmsctl help`.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
# Arguments without --kms: the KMS comes from MQE2E_KMS_URL (kms_start
# exported it) and from nowhere else.
noks() { echo "-h 127.0.0.1 -p $MQTT_PORT --cert $PKI/$1.crt --key $PKI/$1.key --cafile $PKI/ca.crt"; }
[ -n "${MQE2E_KMS_URL:-}" ] || t_fail "kms_start did not export MQE2E_KMS_URL"
case $MQE2E_KMS_URL in *:7780) t_fail "the test KMS must not be on the default port" ;; esac

# 1. MQE2E_KMS_URL is honoured by mqe2e-pub (library default) ...
# shellcheck disable=SC2046
"$PUB" $(noks pub) -t e2e/env -m hello -q 1 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "mqe2e-pub did not find the KMS through MQE2E_KMS_URL"; }
# ... and a wrong one is used, not silently replaced by the default (and
# not covered up by the key cache the run above left)
dead=$(t_free_port)
# shellcheck disable=SC2046
MQE2E_KMS_URL="http://127.0.0.1:$dead" "$PUB" $(noks pub) --no-key-cache -t e2e/env -m x \
	--timeout 3 2>"$T_DIR/pub.err"
rc=$?
[ "$rc" = 3 ] || { cat "$T_DIR/pub.err" >&2; t_fail "a dead MQE2E_KMS_URL gave exit $rc, not 3 (KMS)"; }
grep -q "127.0.0.1:$dead" "$T_DIR/pub.err" || { cat "$T_DIR/pub.err" >&2; t_fail "the error does not name the KMS from MQE2E_KMS_URL"; }
# --kms wins over the variable.
# shellcheck disable=SC2046
MQE2E_KMS_URL="http://127.0.0.1:$dead" "$PUB" $(noks pub) --kms "$KMS_URL" -t e2e/env -m x ||
	t_fail "--kms did not override MQE2E_KMS_URL"
t_log "MQE2E_KMS_URL: used by the library when no --kms is given, overridden by --kms"

# 2. -R skips the retained message, -F prints fields, -C counts the rest.
# shellcheck disable=SC2046
"$PUB" $(noks pub) -t e2e/ret -m "stale" -r -q 1 || t_fail "retained publish failed"
# shellcheck disable=SC2046
"$SUB" $(noks sub1) -t 'e2e/#' -q 1 -R -C 3 -W 20 -F '%t|%p|%s|%g|%e|%l|%r|%k|%x' \
	>"$T_DIR/sub.out" 2>"$T_DIR/sub.err" &
SUB_PID=$!
t_track "$SUB_PID"
sleep 2   # subscribed (the retained message arrives and is skipped)
# shellcheck disable=SC2046
"$PUB" $(noks pub) -t e2e/fmt -m "AB" -q 1 --repeat 3 --repeat-delay 0.3 || t_fail "repeat publish failed"
wait_pid "$SUB_PID" 200 || { cat "$T_DIR/sub.err" >&2; t_fail "mqe2e-sub -C 3 exited with $?"; }
grep -q stale "$T_DIR/sub.out" && t_fail "-R printed the retained message"
[ "$(grep -c . "$T_DIR/sub.out")" = 3 ] || { cat "$T_DIR/sub.out" >&2; t_fail "expected 3 lines"; }
epoch=$(kmsctl --json group show grp | jget '[e["epoch"] for e in d["epochs"] if e["state"] == "current"][0]')
want="e2e/fmt|AB|pub|grp|$epoch|2|0|4|4142"
[ "$(sort -u "$T_DIR/sub.out")" = "$want" ] || { cat "$T_DIR/sub.out" >&2; t_fail "-F output is not '$want'"; }
t_log "-R skipped the retained message; -F: $want"

# 3. --repeat-delay spaces the messages.  The bound is on the publisher's own
# run time (it cannot send 3 messages 0.4 s apart in less than 0.8 s), never on
# arrival times, which the broker and the subscriber's scheduling can bunch up.
# shellcheck disable=SC2046
"$SUB" $(noks sub1) -t 'e2e/#' -q 1 -R -C 3 -W 20 -F '%U' >"$T_DIR/times" 2>"$T_DIR/times.err" &
SUB_PID=$!
t_track "$SUB_PID"
sleep 2
t0=$(date +%s.%N)
# shellcheck disable=SC2046
"$PUB" $(noks pub) -t e2e/t -m x -q 1 --repeat 3 --repeat-delay 0.4 || t_fail "repeat publish failed"
t1=$(date +%s.%N)
wait_pid "$SUB_PID" 200 || { cat "$T_DIR/times.err" >&2; t_fail "mqe2e-sub -F %U exited with $?"; }
python3 - "$T_DIR/times" "$t0" "$t1" <<'PY' || t_fail "--repeat-delay 0.4 did not space the messages"
import sys
t = [float(x) for x in open(sys.argv[1]).read().split()]
assert len(t) == 3, t
span = float(sys.argv[3]) - float(sys.argv[2])
print("# publisher ran %.3f s for 3 messages 0.4 s apart; arrival gaps %s"
      % (span, ["%.3f" % (b - a) for a, b in zip(t, t[1:])]))
assert span >= 0.8, span
PY

# 4. -E returns after the SUBACK, with status 0.
# shellcheck disable=SC2046
"$SUB" $(noks sub1) -t 'e2e/#' -E -W 30 >"$T_DIR/e.out" 2>&1 &
SUB_PID=$!
t_track "$SUB_PID"
wait_pid "$SUB_PID" 100 || { cat "$T_DIR/e.out" >&2; t_fail "mqe2e-sub -E exited with $?"; }

# 5. -k, --quiet.
# shellcheck disable=SC2046
"$PUB" $(noks pub) -k 30 -t e2e/k -m x || t_fail "-k 30 refused"
# shellcheck disable=SC2046
expect_rc 1 "$PUB" $(noks pub) -k 2 -t e2e/k -m x
grep -q "keepalive" "$T_DIR/err" || t_fail "-k 2: the message does not name the keepalive"
# shellcheck disable=SC2046
MQE2E_KMS_URL="http://127.0.0.1:$dead" "$PUB" $(noks pub) --no-key-cache --quiet --timeout 2 \
	-t e2e/q -m x >"$T_DIR/q.out" 2>"$T_DIR/q.err"
rc=$?
[ "$rc" = 3 ] || t_fail "--quiet changed the exit status ($rc)"
[ -s "$T_DIR/q.err" ] && { cat "$T_DIR/q.err" >&2; t_fail "--quiet still printed"; }

# 6. One configuration syntax: the client's file in mqe2e-kmsd.conf's
# "key = value" form (the '=' is optional in both).
cat >"$T_DIR/client.conf" <<CONF
# mqe2e-pub --config
broker = tcp://127.0.0.1:$MQTT_PORT
kms = $KMS_URL
cert = $PKI/pub.crt
key  $PKI/pub.key
cafile=$PKI/ca.crt
CONF
MQE2E_KMS_URL="http://127.0.0.1:$dead" "$PUB" --config "$T_DIR/client.conf" -t e2e/conf -m x -q 1 \
	2>"$T_DIR/conf.err" || { cat "$T_DIR/conf.err" >&2; t_fail "a 'key = value' client file was refused"; }
printf 'kms-url = x\n' >"$T_DIR/bad.conf"
expect_rc 2 "$PUB" --config "$T_DIR/bad.conf" -t e2e/conf -m x
grep -q "bad.conf:1: expected 'key = value'" "$T_DIR/err" || t_fail "bad config line: $(cat "$T_DIR/err")"

# 7. mqe2e-kmsctl help [NOUN [VERB]]
expect_rc 0 kmsctl help
grep -q "^  group rotate" "$T_DIR/out" || t_fail "kmsctl help lists no commands"
expect_rc 0 kmsctl help cert issue
grep -q "usage: mqe2e-kmsctl cert issue" "$T_DIR/out" || t_fail "kmsctl help cert issue"
t_log "-E, -k, --quiet, kmsctl help: as documented"

# 8. mqe2e-bench takes the KMS from MQE2E_KMS_URL (with its token file)
# instead of starting its own: here a dead one, so it stops at once naming it.
BENCH="$top_builddir/bench/mqe2e-bench"
if [ -x "$BENCH" ]; then
	MQE2E_KMS_URL="http://127.0.0.1:$dead" MQE2E_KMS_TOKEN_FILE="$KMS_DIR/admin.token" \
		timeout 20 "$BENCH" --quick -o "$T_DIR/bench" --work-dir "$T_DIR/bw" \
		--plugin "$PLUGIN" >"$T_DIR/bench.out" 2>&1
	rc=$?
	[ "$rc" = 1 ] || { tail "$T_DIR/bench.out" >&2; t_fail "mqe2e-bench with a dead MQE2E_KMS_URL: exit $rc"; }
	grep -q "cannot reach the KMS at http://127.0.0.1:$dead" "$T_DIR/bench.out" ||
		{ tail "$T_DIR/bench.out" >&2; t_fail "mqe2e-bench did not use MQE2E_KMS_URL"; }
	t_log "mqe2e-bench: MQE2E_KMS_URL honoured"
fi
exit 0
