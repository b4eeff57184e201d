#!/bin/bash
# fleet13_pglib.sh - the self-test of tests/pglib.sh: a private PostgreSQL
# server starts, takes the test role's password over TCP and refuses a wrong
# one, keeps its data across pg_stop/pg_start, and is gone - no process, no
# directory - after a test ends, whether it passes, fails or is killed.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/pglib.sh"

pg_start
[ -n "$PG_URI" ] || t_fail "pg_start exported no PG_URI"
t_log "PG_URI=${PG_URI/:$PG_PASSWORD@/:***@}"

# The role's password works over TCP, and the role owns its database.
out=$(pg_sql "SELECT current_user, current_database(), inet_server_addr(), inet_server_port()") ||
	t_fail "connecting with PG_URI failed"
[ "$out" = "mqe2e|mqe2e|127.0.0.1|$PG_PORT" ] || t_fail "PG_URI reached '$out', want mqe2e|mqe2e|127.0.0.1|$PG_PORT"
pg_sql "CREATE TABLE t (n integer PRIMARY KEY)" "INSERT INTO t VALUES (1), (2)" ||
	t_fail "the test role cannot create a table in its database"

# A wrong password is refused (TCP is not trusted).
bad="postgresql://mqe2e:wrong@127.0.0.1:$PG_PORT/mqe2e"
if "$PG_BINDIR/psql" -X -d "$bad" -c "SELECT 1" >"$T_DIR/bad.out" 2>&1; then
	t_fail "a wrong password was accepted over TCP"
fi
grep -q "password authentication failed" "$T_DIR/bad.out" ||
	{ cat "$T_DIR/bad.out" >&2; t_fail "the wrong password was not refused for its password"; }

# The superuser over the UNIX socket; the server runs unprivileged, with fsync off.
[ -S "$PG_SOCKDIR/.s.PGSQL.$PG_PORT" ] || t_fail "no socket $PG_SOCKDIR/.s.PGSQL.$PG_PORT"
[ "$(pg_admin_sql "SHOW fsync")" = off ] || t_fail "fsync is not off"
pid=$(pg__pid)
user=$(ps -o user= -p "$pid" | tr -d ' ')
[ -n "$user" ] && [ "$user" != root ] || t_fail "postmaster $pid runs as '$user', want an unprivileged user"

# A second database.
uri2=$(pg_createdb second) || t_fail "pg_createdb failed"
[ "$(pg__psql -d "$uri2" -c "SELECT current_database()")" = second ] || t_fail "pg_createdb's URI does not reach 'second'"

# Restart: same port, data kept, the old postmaster gone.
port=$PG_PORT
pg_stop
kill -0 "$pid" 2>/dev/null && t_fail "postmaster $pid still runs after pg_stop"
pg_start
[ "$PG_PORT" = "$port" ] || t_log "restart moved from port $port to $PG_PORT (the old one was taken)"
[ "$(pg_sql "SELECT count(*) FROM t")" = 2 ] || t_fail "the table did not survive pg_stop/pg_start"

# A test that fails, and one that is killed, leave nothing behind.
for how in fail term; do
	cat >"$T_DIR/inner.sh" <<-'EOF'
	. "$top_srcdir/tests/lib.sh"
	. "$top_srcdir/tests/pglib.sh"
	pg_start >/dev/null
	echo "$(pg__pid) $PG_DIR" >"$1"
	pg_sql "SELECT pg_backend_pid()" >/dev/null &
	if [ "$2" = fail ]; then t_fail "failing on purpose"; fi
	sleep 60
	EOF
	: >"$T_DIR/inner.out"
	bash "$T_DIR/inner.sh" "$T_DIR/inner.out" "$how" >"$T_DIR/inner.log" 2>&1 &
	inner=$!
	t_track "$inner"
	for _ in $(seq 1 300); do [ -s "$T_DIR/inner.out" ] && break; sleep 0.1; done
	[ -s "$T_DIR/inner.out" ] || { cat "$T_DIR/inner.log" >&2; t_fail "inner test ($how) did not start PostgreSQL"; }
	read -r ipid idir <"$T_DIR/inner.out"
	[ "$how" = term ] && kill -TERM "$inner"
	wait "$inner"
	rc=$?
	for _ in $(seq 1 50); do kill -0 "$ipid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$ipid" 2>/dev/null && t_fail "after a test that ended by '$how' (rc $rc) postmaster $ipid still runs"
	pgrep -f -- "-D $idir/data" >/dev/null && t_fail "after '$how' a process of $idir still runs"
	[ -e "$idir" ] && t_fail "after '$how' $idir still exists"
	t_log "an inner test that ended by '$how' (rc $rc) left no server and no directory"
done

t_log "pglib: PostgreSQL $PG_VERSION from $PG_BINDIR as ${PG_RUNAS:-$(id -un)}: ok"
