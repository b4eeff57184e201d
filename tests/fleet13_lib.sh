# tests/fleet13_lib.sh - several real mqe2e-kmsd on one real PostgreSQL.
# Source after lib.sh:  . "$top_srcdir/tests/fleet13_lib.sh"
#
# Brings in lifecycle_lib.sh (client_lib.sh, kms_lib.sh: Mosquitto with the
# plugin, mqe2e-pub/sub, mqe2e-kmsctl) and pglib.sh, and starts the server.
# Instance N (1, 2, ...) has the data directory $T_DIR/kmsN and the URL
# KMS_URL_N; every instance names the same database in its mqe2e-kmsd.conf.
# The first start of instance 1 initialises the KMS (keys, CA, schema); the
# others get copies of its key files, as an operator would distribute them
# (mqe2e-kmsd(8), Several instances).

. "$top_srcdir/tests/lifecycle_lib.sh"
. "$top_srcdir/tests/pglib.sh"

pg_start
printf '%s\n' "$PG_PASSWORD" >"$T_DIR/db.password"
chmod 600 "$T_DIR/db.password"
FL_DB_URL="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB"
# The files an instance shares with the others (master key, CA, token).
FL_SHARED="master.key ca.key ca.crt admin.token"
FL_STARTED=""   # the instances started so far

# fl_start N [extra conf lines]: start instance N; waits until it answers.
# FL_TLS=1: serve https (instance 1 issues its server certificate at init,
# the others with --renew-tls-cert from the shared CA); curl then trusts the
# KMS CA.
fl_start() {
	local n=$1 dir="$T_DIR/kms$1" port f i pid scheme=http
	shift
	[ "${FL_TLS:-0}" = 1 ] && scheme=https
	mkdir -p "$dir"
	chmod 700 "$dir"
	if [ "$n" != 1 ] && [ ! -e "$dir/master.key" ]; then
		for f in $FL_SHARED; do
			[ -e "$T_DIR/kms1/$f" ] && cp -p "$T_DIR/kms1/$f" "$dir/$f"
		done
	fi
	{
		echo "database = $FL_DB_URL"
		echo "database_password_file = $T_DIR/db.password"
		for f in "$@"; do echo "$f"; done
	} >"$dir.conf"
	eval "port=\${FL_PORT_$n:-}"
	[ -n "$port" ] || port=$(t_free_port)
	eval "FL_PORT_$n=$port; KMS_URL_$n=$scheme://127.0.0.1:$port"
	if [ "$scheme" = https ] && [ -e "$dir/ca.key" ] && [ ! -e "$dir/tls.crt" ]; then
		"$KMSD" --config "$dir.conf" --data-dir "$dir" --renew-tls-cert >>"$T_DIR/kmsd$n.log" 2>&1 ||
			t_fail "mqe2e-kmsd $n: --renew-tls-cert failed"
	fi
	"$KMSD" --config "$dir.conf" --data-dir "$dir" --listen "$scheme://127.0.0.1:$port" \
		>>"$T_DIR/kmsd$n.log" 2>&1 &
	pid=$!
	t_track "$pid"
	eval "FL_PID_$n=$pid"
	case " $FL_STARTED " in *" $n "*) ;; *) FL_STARTED="$FL_STARTED $n" ;; esac
	t_atstop fl__atstop
	for i in $(seq 1 150); do
		[ "$scheme" = https ] && [ -e "$T_DIR/kms1/ca.crt" ] && export CURL_CA_BUNDLE="$T_DIR/kms1/ca.crt"
		curl -sf "$scheme://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$T_DIR/kmsd$n.log" >&2; t_fail "mqe2e-kmsd $n exited at start"; }
		sleep 0.1
	done
	tail -n 20 "$T_DIR/kmsd$n.log" >&2
	t_fail "mqe2e-kmsd $n did not answer on port $port"
}

# fl_stop N [-SIG]: stop instance N (default SIGTERM) and reap it, checked
# like kms_stop (lib.sh t_stop_checked); a test's end stops every instance
# still running the same way (fl__atstop).
fl_stop() { t_stop_checked "FL_PID_$1" "mqe2e-kmsd $1" "$T_DIR/kmsd$1.log" "${2:--TERM}"; }
fl__atstop() {
	local n
	for n in $FL_STARTED; do fl_stop "$n"; done
}

# fl_role N: "leader", "standby", or "down" (from GET /v1/health).
fl_role() {
	local port
	eval "port=\${FL_PORT_$1:-}"
	# the body is one compact JSON object: no JSON parser needed to poll
	curl -s --max-time 2 "$(if [ "${FL_TLS:-0}" = 1 ]; then echo https; else echo http; fi)://127.0.0.1:$port/v1/health" 2>/dev/null |
		sed -n 's/.*"scheduler": *"\([a-z]*\)".*/\1/p' | grep . || echo down
}

# fl_leaders N...: the instances among N... that say they lead.
fl_leaders() {
	local n out=""
	for n in "$@"; do [ "$(fl_role "$n")" = leader ] && out="$out $n"; done
	echo "${out# }"
}
