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

# The KMS's database: SQLite in KMS_DIR (the default), or with
# MQE2E_TEST_DB=postgresql a private PostgreSQL server of this test
# (tests/pglib.sh, started at the first kms_start), named in the
# mqe2e-kmsd.conf(5) that kms_conf writes, with its password in a
# database_password_file.  Every KMS test runs under both (tests/pg13.am).
KMS_TEST_DB=${MQE2E_TEST_DB:-sqlite}
case $KMS_TEST_DB in
sqlite) ;;
postgresql) . "$top_srcdir/tests/pglib.sh" || exit 99 ;;
*) t_fail "MQE2E_TEST_DB=$KMS_TEST_DB: use sqlite or postgresql" ;;
esac
KMS_DB_URL=""
KMS_START_CONF=""

# Set KMS_START_CONF to the config file to start mqe2e-kmsd with (empty:
# none): KMS_CONF if set, plus the database when it is PostgreSQL.  Not in a
# subshell: it may start the server.
kms_conf() {
	local conf="$T_DIR/kmsd-db.conf"
	KMS_START_CONF=${KMS_CONF:-}
	[ "$KMS_TEST_DB" = postgresql ] || return 0
	if [ -z "$KMS_DB_URL" ]; then
		[ "$PG_STARTED" = 1 ] || pg_start >&2
		KMS_DB_URL="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB"
		printf '%s\n' "$PG_PASSWORD" >"$T_DIR/kmsd-db.password"
		chmod 600 "$T_DIR/kmsd-db.password"
	fi
	# Written aside and renamed: a daemon started earlier from this file
	# (a second instance) may be reading it right now, and must never see
	# it empty (it would start on SQLite).
	{
		[ -n "${KMS_CONF:-}" ] && cat "$KMS_CONF"
		echo "database = $KMS_DB_URL"
		echo "database_password_file = $T_DIR/kmsd-db.password"
	} >"$conf.new" && mv -f "$conf.new" "$conf"
	KMS_START_CONF=$conf
}

# kms_sql SQL...: run SQL on the KMS's database behind its back (rows as
# "a|b" lines), for tests that damage or inspect it; KMS_SQL_NOW and
# KMS_SQL_RANDOM60 are the backend's spelling of the Unix time and of 60
# random bytes.
if [ "$KMS_TEST_DB" = postgresql ]; then
	KMS_SQL_NOW="extract(epoch from now())::bigint"
	KMS_SQL_RANDOM60="decode(substr(repeat(md5(random()::text), 4), 1, 120), 'hex')"
else
	KMS_SQL_NOW="strftime('%s','now')"
	KMS_SQL_RANDOM60="randomblob(60)"
fi
kms_sql() {
	if [ "$KMS_TEST_DB" = postgresql ]; then
		local s a=()
		for s in "$@"; do a+=(-c "$s"); done
		pg__psql -d "${KMS_DB_URL/@/:$PG_PASSWORD@}" "${a[@]}"
	else
		sqlite3 -cmd '.timeout 5000' "$KMS_DIR/kms.db" "$@"
	fi
}

# The database as mqe2e-kmsd names it in messages.
kms_db_name() {
	if [ "$KMS_TEST_DB" = postgresql ]; then echo "$KMS_DB_URL"; else echo "$KMS_DIR/kms.db"; fi
}

# kmsd ARGS...: mqe2e-kmsd with the test's database (after kms_start, or
# kms_conf, has set it up), in the foreground only: run in the background,
# $! would be the subshell's, not the daemon's PID.  In the background:
#   "$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} ... &
kmsd() { "$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} "$@"; }

# The next start uses a new, empty database: PostgreSQL's for a new data
# directory (SQLite's is a file in it anyway).
kms_new_db() {
	local n
	[ "$KMS_TEST_DB" = postgresql ] || return 0
	[ "$PG_STARTED" = 1 ] || pg_start
	KMS_DB_SEQ=$((${KMS_DB_SEQ:-0} + 1))
	n="mqe2e_$KMS_DB_SEQ"
	pg_createdb "$n" >/dev/null
	KMS_DB_URL="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$n"
	kms_conf
}

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
	kms_conf
	"$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$KMS_DIR" \
		--listen "$scheme://127.0.0.1:$KMS_PORT" >>"$T_DIR/kmsd.log" 2>&1 &
	KMS_PID=$!
	t_track "$KMS_PID"
	t_atstop kms_stop
	local i
	for i in $(seq 1 100); do
		if [ "$scheme" = https ] && [ -f "$KMS_DIR/ca.crt" ]; then
			export CURL_CA_BUNDLE="$KMS_DIR/ca.crt" MQE2E_KMS_CAFILE="$KMS_DIR/ca.crt"
		fi
		# readiness only (-k: a test may serve a certificate for another name)
		if curl -sf ${CURL_CA_BUNDLE:+-k} "$KMS_URL/v1/health" >/dev/null 2>&1; then
			# (the CA file may have appeared only since the check above,
			# and curl may have had a CURL_CA_BUNDLE of the environment)
			if [ "$scheme" = https ]; then
				[ -f "$KMS_DIR/ca.crt" ] || { sleep 0.1; continue; }
				export CURL_CA_BUNDLE="$KMS_DIR/ca.crt" MQE2E_KMS_CAFILE="$KMS_DIR/ca.crt"
			fi
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

# kms_stop [SIG]: stop it - gracefully by default (SIGTERM: it must exit 0,
# with no sanitizer report in its log), or with kms_stop -9.  lib.sh's
# t_stop_checked says what is checked; a test's end runs it too (t_atstop).
kms_stop() { t_stop_checked KMS_PID mqe2e-kmsd "$T_DIR/kmsd.log" "${1:--TERM}"; }

kmsctl() { "$KMSCTL" "$@"; }

# keyreq NAME [args]: tests/kms_keyreq as client NAME ($T_DIR/NAME.crt and
# $T_DIR/NAME.key); keyreq_bg NAME [args] starts it in the background with
# the redirections of the call and sets KEYREQ_PID (lib.sh t_bg).
keyreq() { keyreq__run "" "$@"; }
keyreq_bg() { keyreq__run KEYREQ_PID "$@"; }
# keyreq__run PIDVAR NAME [args]: in the background (t_bg) if PIDVAR.
keyreq__run() {
	local var=$1 name=$2
	shift 2
	set -- "$KEYREQ" --kms "$KMS_URL" --cert "$T_DIR/$name.crt" --key "$T_DIR/$name.key" \
		--ca "$T_DIR/ca.crt" "$@"
	if [ -n "$var" ]; then t_bg "$var" "$@"; else "$@"; fi
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

# kms_api METHOD PATH [JSON]: a request to the running daemon with the admin
# token (KMS_API_TOKEN= empty: none); the body goes to $T_DIR/body and to
# stdout, and the test fails unless the status is $WANT (default 200).
kms_api() {
	local code token=${KMS_API_TOKEN-$(cat "$KMS_DIR/admin.token")}
	code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -X "$1" \
	    ${token:+-H "Authorization: Bearer $token"} \
	    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "$KMS_URL$2") ||
		t_fail "curl $1 $2 failed"
	[ "$code" = "${WANT:-200}" ] || t_fail "$1 $2: HTTP $code, expected ${WANT:-200}: $(cat "$T_DIR/body")"
	cat "$T_DIR/body"
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

# kms_state_save TAG CLIENT BROKER: what a database copy must keep, as the
# running daemon serves it, into $T_DIR/{state,keys,policy,crl}.TAG: the
# admin state, CLIENT's keys, BROKER's policy and the CRL.
kms_state_save() {
	kms_snapshot >"$T_DIR/state.$1"
	keyreq "$2" | sort >"$T_DIR/keys.$1" || t_fail "key request of $2 ($1)"
	keyreq "$3" --policy >"$T_DIR/policy.$1" || t_fail "policy of $3 ($1)"
	curl -sf "$KMS_URL/v1/crl" >"$T_DIR/crl.$1" || t_fail "CRL ($1)"
}

# kms_state_same CLIENT BROKER: the daemon serves what kms_state_save before
# recorded (saved again as .after).
kms_state_same() {
	local f
	kms_state_save after "$1" "$2"
	for f in state keys policy crl; do
		cmp -s "$T_DIR/$f.before" "$T_DIR/$f.after" ||
			t_fail "$f differs on the copy: $(diff "$T_DIR/$f.before" "$T_DIR/$f.after" | head)"
	done
}

# kms_audit_count ACTOR ACTION [RESULT]: lines of the KMS audit log for
# ACTOR ("client:sub1") and ACTION ("keys.fetch"), only those with RESULT
# ("ok") when given.
kms_audit_count() {
	grep -c "\"actor\":\"$1\",\"action\":\"$2\"${3:+.*\"result\":\"$3\"}" "$KMS_DIR/audit.log"
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
	kms_conf
	timeout 20 "$KMSD" ${KMS_START_CONF:+--config "$KMS_START_CONF"} --data-dir "$KMS_DIR" --listen "127.0.0.1:$KMS_PORT" \
		>"$T_DIR/refusal" 2>&1
	rc=$?
	if [ "$rc" != 1 ]; then
		cat "$T_DIR/refusal" >&2
		t_fail "$1: mqe2e-kmsd exited $rc, expected a refusal (exit 1)"
	fi
}
