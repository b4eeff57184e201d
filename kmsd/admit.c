/*
 * admit.c - connection admission of mqe2e-kmsd (see admit.h).
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "admit.h"
#include "clock.h"
#include "log.h"

#define WATCHDOG_MS 200

struct kms_conn {
	struct kms_conn *prev, *next;
	int fd;                        /* -1 once shut down */
	struct sockaddr_storage addr;
	uint64_t since_ms;             /* accepted, or its last request answered */
	int receiving;                 /* its request has not arrived yet */
	int over;                      /* over a limit when accepted */
};

struct kms_admit {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t watchdog;
	int stop;
	struct kms_conn *head;
	unsigned per_ip, max_conn;
	uint64_t deadline_ms;
};

/* Same IP address (the port does not matter). */
static int
same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
		    &((const struct sockaddr_in *)(const void *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 1;
}

/* Close a connection from outside its thread: shutdown() wakes its thread,
 * which then closes the socket and unregisters it.  Locked. */
static void
cut(struct kms_conn *c)
{
	if (c->fd >= 0)
		(void)shutdown(c->fd, SHUT_RDWR);
	c->fd = -1;
}

/* Bytes the client sent sit unread in the kernel: the delay is the daemon's
 * (a loaded machine), not the client's, and the short deadline of a
 * connection over the limit does not cut it (request_timeout still does). */
static int
waiting_on_us(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void *
watchdog(void *arg)
{
	struct kms_admit *a = arg;
	struct kms_conn *c;
	struct timespec until;
	uint64_t now;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		now = mqe2e_mono_ms();
		for (c = a->head; c != NULL; c = c->next) {
			uint64_t age = now - c->since_ms;

			if (!c->receiving || c->fd < 0)
				continue;
			if (age > a->deadline_ms ||
			    (c->over && age > KMS_ADMIT_OVER_S * 1000u && !waiting_on_us(c->fd)))
				cut(c);
		}
		mqe2e_mono_deadline(&until, WATCHDOG_MS);
		(void)mqe2e_cond_wait_until(&a->wake, &a->lock, &until);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int
kms_admit_start(const struct kmsd_config *cfg, struct kms_admit **out)
{
	struct kms_admit *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_init(&a->lock, NULL);
	(void)mqe2e_cond_init_mono(&a->wake);
	a->per_ip = cfg->per_ip_connections;
	a->max_conn = cfg->max_connections;
	a->deadline_ms = (uint64_t)cfg->request_timeout_s * 1000u;
	if (pthread_create(&a->watchdog, NULL, watchdog, a) != 0) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return MQE2E_ERR_NOMEM;
	}
	*out = a;
	return MQE2E_OK;
}

void
kms_admit_stop(struct kms_admit *a)
{
	struct kms_conn *c, *next;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->watchdog, NULL);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

struct kms_conn *
kms_admit_open(struct kms_admit *a, int fd, const struct sockaddr *addr)
{
	struct kms_conn *c, *p, *oldest = NULL;
	unsigned n = 0, n_ip = 0;

	if (a == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	if (addr != NULL)
		memcpy(&c->addr, addr, addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	c->since_ms = mqe2e_mono_ms();
	c->receiving = 1;
	pthread_mutex_lock(&a->lock);
	for (p = a->head; p != NULL; p = p->next) {
		if (p->fd < 0)
			continue;   /* shut down, closing */
		n++;
		if (!same_ip(&p->addr, &c->addr))
			continue;
		n_ip++;
		if (p->receiving && (oldest == NULL || p->since_ms < oldest->since_ms))
			oldest = p;
	}
	/* An address has per_ip connections; more only while the daemon is
	 * less than half full, so that the others always find room.  A storm
	 * of clients behind one address (a NAT, a test) is served, not told
	 * to come back. */
	c->over = n >= a->max_conn || (n_ip >= a->per_ip && n >= a->max_conn / 2);
	/* Twice its share: the address's slowest request makes room - one
	 * that has been sending for a while, not one that only waits for a
	 * worker to read it. */
	if (n_ip >= 2 * a->per_ip && oldest != NULL &&
	    c->since_ms - oldest->since_ms >= KMS_ADMIT_SLOW_MS)
		cut(oldest);
	c->next = a->head;
	if (a->head != NULL)
		a->head->prev = c;
	a->head = c;
	pthread_mutex_unlock(&a->lock);
	return c;
}

void
kms_admit_close(struct kms_admit *a, struct kms_conn *c)
{
	if (a == NULL || c == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&a->lock);
	free(c);
}

int
kms_admit_over(struct kms_admit *a, struct kms_conn *c)
{
	int over;

	if (a == NULL || c == NULL)
		return 1;
	pthread_mutex_lock(&a->lock);
	over = c->over;
	pthread_mutex_unlock(&a->lock);
	return over;
}

void
kms_admit_received(struct kms_admit *a, struct kms_conn *c)
{
	if (a == NULL || c == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	c->receiving = 0;
	pthread_mutex_unlock(&a->lock);
}

void
kms_admit_done(struct kms_admit *a, struct kms_conn *c)
{
	if (a == NULL || c == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	c->receiving = 1;
	c->since_ms = mqe2e_mono_ms();
	pthread_mutex_unlock(&a->lock);
}
