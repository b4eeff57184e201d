# tests/kms_lib.sh - helpers for the kms_*.sh integration tests.
# Source after lib.sh:  . "$top_srcdir/tests/kms_lib.sh"
#
# A real mqe2e-kmsd from $top_builddir/kmsd/ on a free loopback port with a
# data dir under $T_DIR, driven through mqe2e-kmsctl and tests/kms_keyreq.

KMSD="$top_builddir/kmsd/mqe2e-kmsd"
KMSCTL="$top_builddir/kmsctl/mqe2e-kmsctl"
KEYREQ="$top_builddir/tests/kms_keyreq"
KMS_DIR="$T_DIR/kms"
KMS_PID=""

[ -x "$KMSD" ] || t_skip "mqe2e-kmsd not built"
[ -x "$KMSCTL" ] || t_skip "mqe2e-kmsctl not built"
[ -x "$KEYREQ" ] || t_skip "kms_keyreq not built"
t_need python3
t_need openssl
t_need curl

# The sanitizers must not turn leaks at kill -9 into failures of our tools.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

# Start the daemon (again, keeping KMS_DIR and the port); waits until it
# answers /v1/health.  KMS_CONF, if set, names a mqe2e-kmsd.conf(5) file.
# KMS_TLS=1: serve HTTPS (the server certificate the KMS issued itself at
# init); MQE2E_KMS_CAFILE (kmsctl) and CURL_CA_BUNDLE (curl in the tests)
# then name its CA, which the clients hold as ca.crt anyway.
kms_start() {
	local scheme=http
	[ "${KMS_TLS:-0}" = 1 ] && scheme=https
	mkdir -p "$KMS_DIR"
	chmod 700 "$KMS_DIR"
	: "${KMS_PORT:=$(t_free_port)}"
	KMS_URL="$scheme://127.0.0.1:$KMS_PORT"
	"$KMSD" ${KMS_CONF:+--config "$KMS_CONF"} --data-dir "$KMS_DIR" \
		--listen "$scheme://127.0.0.1:$KMS_PORT" >>"$T_DIR/kmsd.log" 2>&1 &
	KMS_PID=$!
	t_track "$KMS_PID"
	local i
	for i in $(seq 1 100); do
		if [ "$scheme" = https ] && [ -f "$KMS_DIR/ca.crt" ]; then
			export CURL_CA_BUNDLE="$KMS_DIR/ca.crt" MQE2E_KMS_CAFILE="$KMS_DIR/ca.crt"
		fi
		# readiness only (-k: a test may serve a certificate for another name)
		if curl -sf ${CURL_CA_BUNDLE:+-k} "$KMS_URL/v1/health" >/dev/null 2>&1; then
			export MQE2E_KMS_URL="$KMS_URL"
			export MQE2E_KMS_TOKEN_FILE="$KMS_DIR/admin.token"
			return 0
		fi
		kill -0 "$KMS_PID" 2>/dev/null || { cat "$T_DIR/kmsd.log" >&2; t_fail "mqe2e-kmsd exited at start"; }
		sleep 0.1
	done
	cat "$T_DIR/kmsd.log" >&2
	t_fail "mqe2e-kmsd did not answer on $KMS_URL"
}

# Stop it: gracefully (SIGTERM) or with kms_stop -9.
kms_stop() {
	local sig=${1:--TERM} i
	[ -n "$KMS_PID" ] || return 0
	kill "$sig" "$KMS_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$KMS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$KMS_PID" 2>/dev/null && t_fail "mqe2e-kmsd did not stop on $sig"
	{ wait "$KMS_PID"; } 2>/dev/null
	KMS_PID=""
}

kmsctl() { "$KMSCTL" "$@"; }

# kms_keyreq NAME [args]: a key request with DIR/NAME.crt and DIR/NAME.key.
keyreq() {
	local name=$1
	shift
	"$KEYREQ" --kms "$KMS_URL" --cert "$T_DIR/$name.crt" --key "$T_DIR/$name.key" \
		--ca "$T_DIR/ca.crt" "$@"
}

# expect_rc N CMD...: run CMD, fail unless it exits N; its stdout goes to
# $T_DIR/out, stderr to $T_DIR/err.
expect_rc() {
	local want=$1 rc
	shift
	"$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "--- stdout" >&2; cat "$T_DIR/out" >&2
		echo "--- stderr" >&2; cat "$T_DIR/err" >&2
		t_fail "exit $rc, expected $want: $*"
	fi
}

# jget EXPR: evaluate a Python expression over the JSON on stdin (d).
jget() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print(v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True))' "$1"
}

# A full snapshot of the admin state as sorted JSON lines (for "nothing
# changed" checks and restarts): clients, certs, groups with epochs, grants.
kms_snapshot() {
	local c g
	kmsctl --json client list | jget 'd["items"]'
	for c in $(kmsctl --json client list | jget '" ".join(i["name"] for i in d["items"])'); do
		kmsctl --json cert list "$c" | jget 'd["items"]'
	done
	for g in $(kmsctl --json group list | jget '" ".join(i["name"] for i in d["items"])'); do
		kmsctl --json group show "$g" | jget 'd'
	done
	kmsctl --json grant list | jget 'd["items"]'
}

# enrol NAME KIND: client add + cert issue --generate into $T_DIR.
enrol() {
	expect_rc 0 kmsctl client add "$1" --kind "$2"
	expect_rc 0 kmsctl cert issue "$1" --generate --out-dir "$T_DIR"
}

# epochs GROUP: "epoch:state" pairs of a group, in order.
epochs() {
	kmsctl --json group show "$1" | jget '" ".join("%d:%s" % (e["epoch"], e["state"]) for e in sorted(d["epochs"], key=lambda e: e["epoch"]))'
}

# kms_refused WHAT: start mqe2e-kmsd on KMS_DIR expecting it to refuse (exit
# 1 within 20 s without serving); its output goes to $T_DIR/refusal.
kms_refused() {
	local rc
	: "${KMS_PORT:=$(t_free_port)}"
	timeout 20 "$KMSD" --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT" \
		>"$T_DIR/refusal" 2>&1
	rc=$?
	if [ "$rc" != 1 ]; then
		cat "$T_DIR/refusal" >&2
		t_fail "$1: mqe2e-kmsd exited $rc, expected a refusal (exit 1)"
	fi
}
