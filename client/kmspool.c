/*
 * kmspool.c - KMS connections shared by the clients of a process.
 *
 * Every client holds its own KMS endpoint (core/http.h), told not to keep
 * its connection: a device fetches its keys every few minutes, and a fleet
 * of devices each holding an idle connection would fill the KMS's
 * connection table for nothing.  But when the clients of one process (a
 * gateway, the bench's 200 subscribers) fetch in a burst, each fetch paid a
 * TCP connect and close at both ends, libcurl's connection set-up and a
 * fresh handle's buffers, and with an https KMS a TLS handshake on both
 * sides (BENCHMARKS.md, "Readiness (session 15)").
 *
 * So a fetch borrows an endpoint from this pool - one kept per KMS URL list
 * and CA file, made with MQE2E_HTTP_REUSE - and gives it back after the
 * answer; the next fetch of any client of the process with the same KMS
 * and CA takes the one returned last, and its connection if the KMS kept
 * it.  An endpoint left idle for POOL_LINGER_MS is freed, its connection
 * closed: the process's helper thread (wake.c) reaps them, and the last
 * client of the process frees what is left.  So a process holds at most as
 * many KMS connections as it had fetches at once (as before), none
 * POOL_LINGER_MS after its last fetch, and the KMS closes an idle one
 * sooner if it wants (request_timeout, 10 s by default: libcurl then
 * connects again).  A fetch that finds nothing to borrow and cannot make
 * an endpoint uses its client's own.
 *
 * Locking: pool_mu guards the list; it is taken alone, never held during
 * a request, nor while telling the helper thread.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "http.h"

struct kms_lease {
	struct kms_lease *next;
	struct mqe2e_http *h;
	char *urls;                     /* the key: KMS URL list and CA file */
	char *cafile;                   /* "" for none */
	uint64_t idle_since_ms;         /* monotonic: given back then */
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kms_lease *pool_idle;     /* [pool_mu] given back, the last first */

static void
lease_free(struct kms_lease *l)
{
	struct kms_lease *next;

	for (; l != NULL; l = next) {
		next = l->next;
		mqe2e_http_free(l->h);
		free(l->urls);
		free(l->cafile);
		free(l);
	}
}

struct kms_lease *
kmspool__get(const struct mqe2e_client *c)
{
	const char *ca = c->cfg.cafile != NULL ? c->cfg.cafile : "";
	struct kms_lease **pp, *l;
	char err[CLIENT_ERRMSG_MAX];

	pthread_mutex_lock(&pool_mu);
	for (pp = &pool_idle; (l = *pp) != NULL; pp = &l->next) {
		if (strcmp(l->urls, c->cfg.kms) == 0 && strcmp(l->cafile, ca) == 0) {
			*pp = l->next;
			l->next = NULL;
			pthread_mutex_unlock(&pool_mu);
			return l;
		}
	}
	pthread_mutex_unlock(&pool_mu);
	/* none to borrow: a new one (the client's own endpoint was made from
	 * the same URL list and CA file, so this fails only for memory) */
	if ((l = calloc(1, sizeof(*l))) != NULL && (l->urls = strdup(c->cfg.kms)) != NULL &&
	    (l->cafile = strdup(ca)) != NULL &&
	    mqe2e_http_new(c->cfg.kms, c->cfg.cafile, MQE2E_HTTP_REUSE, &l->h, err,
	    sizeof(err)) == MQE2E_OK)
		return l;
	lease_free(l);
	return NULL;
}

struct mqe2e_http *
kmspool__http(const struct kms_lease *l)
{
	return l->h;
}

void
kmspool__put(struct kms_lease *l)
{
	if (l == NULL)
		return;
	l->idle_since_ms = client__mono_ms();
	pthread_mutex_lock(&pool_mu);
	l->next = pool_idle;
	pool_idle = l;
	pthread_mutex_unlock(&pool_mu);
	wake__reap_at(l->idle_since_ms + POOL_LINGER_MS);
}

uint64_t
kmspool__reap(uint64_t now)
{
	struct kms_lease **pp, *l, *drop = NULL;
	uint64_t next = 0, due;

	pthread_mutex_lock(&pool_mu);
	for (pp = &pool_idle; (l = *pp) != NULL; ) {
		due = l->idle_since_ms + POOL_LINGER_MS;
		if (due <= now) {
			*pp = l->next;
			l->next = drop;
			drop = l;
			continue;
		}
		if (next == 0 || due < next)
			next = due;
		pp = &l->next;
	}
	pthread_mutex_unlock(&pool_mu);
	lease_free(drop);
	return next;
}
