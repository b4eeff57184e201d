# tests/pglib.sh - a private, real PostgreSQL server for one test.
# Source after lib.sh:  . "$top_srcdir/tests/pglib.sh"; then call pg_start.
#
# pg_start runs initdb and pg_ctl from the PostgreSQL installation (found as
# described at pg_find_bindir) in a temporary directory of its own, listening
# on a free 127.0.0.1 port and on a UNIX socket in that directory, with fsync
# off.  initdb refuses to run as root, so under root (CI) the server runs as
# the `postgres` user (or `nobody`) and the directory is chowned to it.  It
# creates the role `mqe2e` with a random password and the database `mqe2e`
# owned by it, and exports:
#
#   PG_URI        postgresql://mqe2e:PASSWORD@127.0.0.1:PORT/mqe2e  (TCP, password)
#   PG_PORT       the TCP port (the socket is PG_SOCKDIR/.s.PGSQL.PORT)
#   PG_SOCKDIR    the UNIX socket directory
#   PG_ADMIN_URI  the superuser `postgres` over the socket (trust): for setup
#                 and for inspecting what a test did, never for the code under test
#   PG_BINDIR     the server's bin directory, PG_VERSION its major version
#
# The server is stopped at exit (also on failure and on SIGTERM/SIGINT), and
# its directory removed, through lib.sh's t_atexit.  Where no PostgreSQL server
# is installed the test is skipped (exit 77) with a message saying how to
# install it, unless MQE2E_REQUIRE_PG=1 (CI sets it), which makes that a failure.
#
# Helpers:  pg_sql SQL...        run SQL as the test role, print rows (unaligned, |)
#           pg_admin_sql SQL...  the same as the superuser
#           pg_createdb NAME     one more database owned by mqe2e; prints its URI
#           pg_stop              stop the server now (pg_start may follow)

PG_URI=""
PG_PORT=""
PG_SOCKDIR=""
PG_ADMIN_URI=""
PG_BINDIR=""
PG_VERSION=""
PG_DIR=""
PG_RUNAS=""
PG_ROLE=mqe2e
PG_DB=mqe2e
PG_PASSWORD=""
PG_STARTED=0

# The oldest server the KMS backend supports (the issue asks for 15).
: "${PG_MIN_VERSION:=15}"

pg__missing() {
	local msg="PostgreSQL $PG_MIN_VERSION server not installed ($*); on Debian: apt-get install postgresql-15 (or scripts/install-deps.sh)"
	if [ "${MQE2E_REQUIRE_PG:-0}" = 1 ]; then
		t_fail "$msg; MQE2E_REQUIRE_PG=1 makes this a failure"
	fi
	t_skip "$msg"
}

# The directory holding initdb, pg_ctl and postgres: $MQE2E_PG_BINDIR if set;
# else Debian's /usr/lib/postgresql/<major>/bin, newest major first; else
# `pg_config --bindir`; else the initdb on PATH.  Prints it, or fails.
pg_find_bindir() {
	local d cands=""
	if [ -n "${MQE2E_PG_BINDIR:-}" ]; then
		cands="$MQE2E_PG_BINDIR"
	else
		for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
			cands="$cands $d"
		done
		if command -v pg_config >/dev/null 2>&1; then
			cands="$cands $(pg_config --bindir 2>/dev/null)"
		fi
		d=$(command -v initdb 2>/dev/null) && cands="$cands ${d%/initdb}"
	fi
	for d in $cands; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# Run a server-side command as the server's user (PG_RUNAS, empty when we
# are not root), from the server's directory, with a minimal environment.
pg__as() {
	if [ -n "$PG_RUNAS" ]; then
		(cd "$PG_DIR" && runuser -u "$PG_RUNAS" -- env -i PATH=/usr/bin:/bin LC_ALL=C "$@")
	else
		(cd "$PG_DIR" && env -i PATH=/usr/bin:/bin LC_ALL=C HOME="${HOME:-/}" "$@")
	fi
}

# psql from the server's installation, quiet, no ~/.psqlrc, stop on error.
pg__psql() {
	"$PG_BINDIR/psql" -X -q -A -t -F '|' -v ON_ERROR_STOP=1 "$@"
}

pg_sql() {
	local s a=()
	for s in "$@"; do a+=(-c "$s"); done
	pg__psql -d "$PG_URI" "${a[@]}"
}

pg_admin_sql() {
	local s a=()
	for s in "$@"; do a+=(-c "$s"); done
	pg__psql -d "$PG_ADMIN_URI" "${a[@]}"
}

pg_createdb() {
	case $1 in *[!a-z0-9_]* | "") t_fail "pg_createdb: bad database name '$1' (use [a-z0-9_])" ;; esac
	pg_admin_sql "CREATE DATABASE $1 OWNER $PG_ROLE" || t_fail "pg_createdb: could not create database $1"
	echo "postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$1"
}

pg__dump_log() {
	[ -f "$PG_DIR/server.log" ] && { echo "--- $PG_DIR/server.log" >&2; tail -n 30 "$PG_DIR/server.log" >&2; }
}

# The postmaster's pid (first line of postmaster.pid), or nothing.
pg__pid() {
	[ -f "$PG_DIR/data/postmaster.pid" ] && head -n 1 "$PG_DIR/data/postmaster.pid"
}

pg_stop() {
	local pid i
	[ "$PG_STARTED" = 1 ] || return 0
	pid=$(pg__pid)
	pg__as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 10 stop >"$PG_DIR/pg_ctl_stop.log" 2>&1 ||
		{ echo "# pg_ctl stop failed:"; sed 's/^/#   /' "$PG_DIR/pg_ctl_stop.log"; } >&2
	# pg_ctl gave up, or could not run: end the server ourselves.  The
	# postmaster takes its children with it on SIGQUIT (immediate shutdown).
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -QUIT "$pid" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	PG_STARTED=0
}

pg__cleanup() {
	pg_stop
	if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
		if [ "${T_KEEP:-0}" = 1 ]; then echo "# kept $PG_DIR"; else rm -rf "$PG_DIR"; fi
	fi
}

pg_start() {
	local i rc
	PG_BINDIR=$(pg_find_bindir) || pg__missing "no initdb/pg_ctl/postgres in ${MQE2E_PG_BINDIR:-/usr/lib/postgresql/*/bin, pg_config --bindir or PATH}"
	PG_VERSION=$("$PG_BINDIR/postgres" --version 2>/dev/null | sed -n 's/.*(PostgreSQL) \([0-9]*\).*/\1/p')
	[ -n "$PG_VERSION" ] || pg__missing "$PG_BINDIR/postgres --version says nothing readable"
	[ "$PG_VERSION" -ge "$PG_MIN_VERSION" ] || pg__missing "$PG_BINDIR is PostgreSQL $PG_VERSION"
	[ -x "$PG_BINDIR/psql" ] || pg__missing "no psql in $PG_BINDIR"

	if [ "$(id -u)" = 0 ]; then
		if id -u postgres >/dev/null 2>&1; then PG_RUNAS=postgres; else PG_RUNAS=nobody; fi
		command -v runuser >/dev/null 2>&1 || t_fail "running as root and runuser (util-linux) is missing: cannot run initdb as $PG_RUNAS"
	fi

	# Not under T_DIR: that is private to root, and the server's user must
	# reach its directory.  A short path: the socket path is limited to 107 bytes.
	if [ -z "$PG_DIR" ]; then
		PG_DIR=$(mktemp -d /tmp/mqe2e-pg.XXXXXX) || t_fail "mktemp for the PostgreSQL directory failed"
		t_atexit pg__cleanup
	fi
	PG_SOCKDIR="$PG_DIR"
	[ -n "$PG_RUNAS" ] && chown "$PG_RUNAS:" "$PG_DIR"
	chmod 700 "$PG_DIR"

	if [ ! -d "$PG_DIR/data" ]; then
		pg__as "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C \
			--no-sync >"$PG_DIR/initdb.log" 2>&1 ||
			{ cat "$PG_DIR/initdb.log" >&2; t_fail "initdb in $PG_DIR/data failed (as ${PG_RUNAS:-$(id -un)})"; }
		# Local (socket) connections are trusted: only this user can reach
		# the socket directory.  TCP connections need the role's password.
		cat >"$PG_DIR/data/pg_hba.conf" <<-EOF
		local all all trust
		host all all 127.0.0.1/32 scram-sha-256
		EOF
	fi

	# The port is free when we look and may be taken when the server binds:
	# try a few ports.
	# A restart (pg_stop; pg_start) tries the port it had first.
	for i in 1 2 3 4 5; do
		[ "$i" = 1 ] && [ -n "$PG_PORT" ] || PG_PORT=$(t_free_port)
		pg__as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKDIR -c fsync=off \
			    -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB \
			    -c max_connections=100 -c log_min_messages=warning \
			    -c log_line_prefix=%m[%p] -c unix_socket_permissions=0700" \
			start >"$PG_DIR/pg_ctl.log" 2>&1
		rc=$?
		[ "$rc" = 0 ] && break
		grep -q "could not bind\|already in use" "$PG_DIR/server.log" 2>/dev/null || break
	done
	if [ "$rc" != 0 ]; then
		cat "$PG_DIR/pg_ctl.log" >&2
		pg__dump_log
		t_fail "pg_ctl start of PostgreSQL $PG_VERSION in $PG_DIR/data failed"
	fi
	PG_STARTED=1

	PG_ADMIN_URI="postgresql://postgres@/postgres?host=$PG_SOCKDIR&port=$PG_PORT"
	if [ -z "$PG_PASSWORD" ]; then
		PG_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
		# Under root psql reaches the socket (root passes the directory's
		# permission check); the server's user owns it anyway.
		pg_admin_sql "CREATE ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD'" \
			"CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null ||
			{ pg__dump_log; t_fail "creating role/database $PG_ROLE in PostgreSQL failed"; }
	fi
	PG_URI="postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
	export PG_URI PG_PORT PG_SOCKDIR PG_ADMIN_URI PG_BINDIR PG_VERSION
	t_log "PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT (socket $PG_SOCKDIR, server user ${PG_RUNAS:-$(id -un)})"
}
