/*
 * pg_session.c - session.h on PostgreSQL: a dedicated libpq connection
 * that holds the scheduler's advisory lock or LISTENs for the other
 * instances' changes.
 *
 * Dead peers are noticed in seconds, not in TCP's hours:
 *   - this side: TCP_USER_TIMEOUT on the socket fails a query whose bytes
 *     go unacknowledged for SESSION_USER_TIMEOUT_MS, and keepalives probe
 *     an idle LISTEN connection;
 *   - the server's side: the session asks for keepalives (tcp_keepalives_*,
 *     tcp_user_timeout), so that the server ends the session of a leader
 *     that vanished (host down, network cut) and frees its lock after
 *     about SESSION_SERVER_DEAD_S.  A leader cut off stops scheduling when
 *     its next check fails, within 1 s + SESSION_USER_TIMEOUT_MS, which is
 *     before the server frees the lock for another instance.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "pg.h"
#include "session.h"
#include "store_backend.h"

#define SESSION_USER_TIMEOUT_MS 2500
#define SESSION_SERVER_DEAD_S 6         /* 3 s idle + 3 probes 1 s apart */

/* The server's side of the keepalives, and the client's name in
 * pg_stat_activity. */
#define SESSION_SETUP \
	"SET tcp_keepalives_idle = 3; SET tcp_keepalives_interval = 1; " \
	"SET tcp_keepalives_count = 3; SET tcp_user_timeout = 3000"

struct kms_session {
	PGconn *c;
	int held;                       /* this session holds the scheduler lock */
};

static int
is_pg(struct kms_db *db)
{
	return db != NULL && db->ops != NULL && db->ops->backend != NULL &&
	    strcmp(db->ops->backend, "PostgreSQL") == 0;
}

/* This side's timeouts on the connection's socket (best effort: a kernel
 * without them falls back to TCP's defaults). */
static void
socket_timeouts(PGconn *c)
{
	int fd = PQsocket(c), on = 1, idle = 3, intvl = 1, cnt = 3;
	unsigned int user = SESSION_USER_TIMEOUT_MS;

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
#ifdef TCP_KEEPIDLE
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#endif
#ifdef TCP_USER_TIMEOUT
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user));
#endif
	(void)idle;
	(void)intvl;
	(void)cnt;
	(void)user;
}

/* Run a statement without rows; MQE2E_ERR_UNAVAILABLE if the connection
 * is gone, MQE2E_ERR_INTERNAL for an error of the statement itself. */
static int
run(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	if (ok)
		return MQE2E_OK;
	return PQstatus(c) != CONNECTION_OK ? MQE2E_ERR_UNAVAILABLE : MQE2E_ERR_INTERNAL;
}

int
kms_session_open(struct kms_db *db, struct kms_session **out, char *err, size_t errlen)
{
	struct kms_session *s;
	PGconn *c;

	*out = NULL;
	if (!is_pg(db))
		return MQE2E_ERR_NOT_FOUND;
	if ((c = kms_pg_connect(db, err, errlen)) == NULL)
		return MQE2E_ERR_UNAVAILABLE;
	socket_timeouts(c);
	if (run(c, SESSION_SETUP) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot set the session's keepalives: %s", db->name,
		    PQerrorMessage(c));
		PQfinish(c);
		return MQE2E_ERR_UNAVAILABLE;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		PQfinish(c);
		snprintf(err, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	s->c = c;
	*out = s;
	return MQE2E_OK;
}

void
kms_session_close(struct kms_session *s)
{
	if (s == NULL)
		return;
	/* closing the connection ends the session: its lock and LISTEN */
	PQfinish(s->c);
	free(s);
}

int
kms_session_lead(struct kms_session *s, int *held)
{
	static const char try_lock[] = "SELECT pg_try_advisory_lock($1::integer, $2::integer)";
	char cls[16], key[16];
	const char *args[2] = { cls, key };
	PGresult *res;
	int r;

	*held = 0;
	if (s == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (s->held) {
		/* Held: the lock lives as long as the connection; prove it does. */
		if ((r = run(s->c, "SELECT 1")) != MQE2E_OK) {
			s->held = 0;
			return MQE2E_ERR_UNAVAILABLE;
		}
		*held = 1;
		return MQE2E_OK;
	}
	snprintf(cls, sizeof(cls), "%d", PG_LOCK_CLASS);
	snprintf(key, sizeof(key), "%d", PG_LOCK_SCHEDULER);
	res = PQexecParams(s->c, try_lock, 2, NULL, args, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return PQstatus(s->c) != CONNECTION_OK ? MQE2E_ERR_UNAVAILABLE : MQE2E_ERR_INTERNAL;
	}
	s->held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	*held = s->held;
	return MQE2E_OK;
}

int
kms_session_listen(struct kms_session *s)
{
	if (s == NULL)
		return MQE2E_ERR_INVALID_ARG;
	return run(s->c, "LISTEN " KMS_NOTIFY_CHANNEL);
}

int
kms_session_wait(struct kms_session *s, int ms, struct kms_heard *heard)
{
	struct pollfd pfd;
	PGnotify *n;
	int rc;

	memset(heard, 0, sizeof(*heard));
	if (s == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((pfd.fd = PQsocket(s->c)) < 0)
		return MQE2E_ERR_UNAVAILABLE;
	pfd.events = POLLIN;
	pfd.revents = 0;
	rc = poll(&pfd, 1, ms);
	if (rc < 0 && errno != EINTR)
		return MQE2E_ERR_UNAVAILABLE;
	/* Readable: notifications, or the end of the connection. */
	if (rc > 0 && PQconsumeInput(s->c) == 0)
		return MQE2E_ERR_UNAVAILABLE;
	while ((n = PQnotifies(s->c)) != NULL) {
		/* Payloads come from our own instances; one that does not
		 * parse (a newer version's kind) is ignored. */
		if (strcmp(n->relname, KMS_NOTIFY_CHANNEL) == 0 &&
		    kms_session_parse_payload(n->extra, heard) != MQE2E_OK) {
			/* not ours to act on */
		}
		PQfreemem(n);
	}
	return PQstatus(s->c) == CONNECTION_OK ? MQE2E_OK : MQE2E_ERR_UNAVAILABLE;
}

int
pg__notify(struct kms_db *db, const char *what, int64_t value)
{
	static struct pg_query q = PG_QUERY("SELECT pg_notify($1, $2)");
	struct pg_args a = PG_ARGS_INIT;
	char payload[48];

	if (snprintf(payload, sizeof(payload), "%s %lld", what, (long long)value) >=
	    (int)sizeof(payload))
		return MQE2E_ERR_INTERNAL;
	pg_arg_text(&a, KMS_NOTIFY_CHANNEL);
	pg_arg_text(&a, payload);
	return pg__exec(db, &q, &a, NULL, NULL);
}
