/*
 * crl.c - the CRL and the KMS's own revoked-serial set, both derived from
 * the certs table (see kmsd.h).
 *
 * Only revoked certificates that have not expired are listed (RFC 5280
 * allows dropping an entry once the certificate has expired), so the lists
 * do not grow without bound.  An entry stays for the allowed clock skew
 * after the certificate's notAfter: a verifier whose clock is that far
 * behind still sees the certificate as valid.  When a listed entry's time
 * is up, kms_crl_due() says so, and the scheduler re-issues the CRL and
 * bumps the policy version so that brokers drop it too.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "kmsd.h"
#include "log.h"
#include "store.h"
#include "wire.h"

/* How long a revoked certificate stays listed after its notAfter. */
#define REVOKED_KEEP_S ((int64_t)(MQE2E_SKEW_MS_DEFAULT / 1000))

int64_t
kms_crl_cutoff(int64_t now)
{
	return now - REVOKED_KEEP_S;
}

struct revoked_list {
	struct kms_crl_entry *e;
	char **serials;
	size_t n, cap;
	int64_t prune_at;             /* when the first entry leaves (0: none listed) */
};

static void
revoked_list_clear(struct revoked_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->serials[i]);
	free(l->serials);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static int
revoked_list_add(struct revoked_list *l, const char *serial, int64_t at)
{
	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 16 : 2 * l->cap;
		struct kms_crl_entry *e = realloc(l->e, cap * sizeof(*e));
		char **s;

		if (e == NULL)
			return MQE2E_ERR_NOMEM;
		l->e = e;
		if ((s = realloc(l->serials, cap * sizeof(*s))) == NULL)
			return MQE2E_ERR_NOMEM;
		l->serials = s;
		l->cap = cap;
	}
	if ((l->serials[l->n] = strdup(serial)) == NULL)
		return MQE2E_ERR_NOMEM;
	l->e[l->n].serial = l->serials[l->n];
	l->e[l->n].revoked_at = (time_t)at;
	l->n++;
	return MQE2E_OK;
}

static int
add_revoked(void *arg, const char *serial, int64_t revoked_at, int64_t not_after)
{
	struct revoked_list *l = arg;
	/* listed while kms_crl_cutoff(now) <= not_after */
	int64_t leaves = not_after + REVOKED_KEEP_S + 1;

	if (l->prune_at == 0 || leaves < l->prune_at)
		l->prune_at = leaves;
	return revoked_list_add(l, serial, revoked_at);
}

/* Publish a CRL and the revoked serials (either may be NULL).  Takes pem;
 * a CRL older than the one served (two refreshes racing) is dropped.  l's
 * prune time goes with the CRL. */
static int
publish(struct kmsd *k, const struct revoked_list *l, char *pem, size_t pem_len,
    int64_t number, int64_t issued, int stale)
{
	int r = MQE2E_OK;

	if (l != NULL) {
		pthread_rwlock_wrlock(&k->trust_rw);
		r = mqe2e_trust_set_revoked(k->trust, (const char *const *)l->serials, l->n);
		pthread_rwlock_unlock(&k->trust_rw);
	}
	pthread_mutex_lock(&k->state_lock);
	if (pem == NULL)
		k->crl_stale = stale;
	else if (k->crl_pem == NULL || number > k->crl_number) {
		free(k->crl_pem);
		k->crl_pem = pem;
		k->crl_len = pem_len;
		k->crl_number = number;
		k->crl_time = issued;
		k->crl_stale = stale;
		k->crl_prune_at = l != NULL ? l->prune_at : 0;
		pem = NULL;
	}
	pthread_mutex_unlock(&k->state_lock);
	free(pem);
	return r;
}

int
kms_crl_refresh(struct kmsd *k)
{
	struct revoked_list l;
	char *pem = NULL;
	size_t pem_len = 0;
	int64_t number = 0, total = 0;
	uint64_t version = 0;
	time_t now = time(NULL);
	int listed = 0, pruning, r;

	memset(&l, 0, sizeof(l));
	pthread_mutex_lock(&k->state_lock);
	pruning = k->crl_prune_at != 0 && (int64_t)now >= k->crl_prune_at;
	pthread_mutex_unlock(&k->state_lock);
	if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
		goto out;
	if ((r = kms_store_revoked_certs(k->db, kms_crl_cutoff((int64_t)now), add_revoked,
	    &l)) == MQE2E_OK) {
		listed = 1;
		if ((r = kms_store_revoked_count(k->db, &total)) == MQE2E_OK &&
		    (r = kms_store_counter_bump(k->db, "crl_number", &number)) == MQE2E_OK &&
		    (r = kms_ca_make_crl(k->ca, l.e, l.n, number, now, &pem, &pem_len)) == MQE2E_OK &&
		    (r = kms_store_crl_set(k->db, number, (int64_t)now, total, pem, pem_len)) ==
		    MQE2E_OK && (r = kms_store_notify(k->db, "crl", number)) == MQE2E_OK &&
		    pruning)
			/* expired entries left: the brokers' lists shrink too */
			r = kms_store_policy_bump(k->db, &version);
	}
	if ((r = kms_db_end(k->db, r)) == MQE2E_OK && version != 0)
		kmsd_policy_changed(k, version);
 out:
	if (r != MQE2E_OK) {
		/* The revocations read are still enforced; the old CRL is served
		 * and the scheduler tries again. */
		kms_log_at(LOG_ERR, "cannot re-issue the CRL: %s%s", mqe2e_strerror(r), r == MQE2E_ERR_NO_SPACE ?
		    " (free space on the disk of the data directory)" : "");
		(void)publish(k, listed ? &l : NULL, NULL, 0, 0, 0, 1);
		free(pem);
	} else if ((r = publish(k, &l, pem, pem_len, number, (int64_t)now, 0)) != MQE2E_OK)
		kms_log("cannot load the revoked serials: %s", mqe2e_strerror(r));
	revoked_list_clear(&l);
	return r;
}

int
kms_crl_load(struct kmsd *k, char *err, size_t errlen)
{
	struct revoked_list l;
	struct kms_crl_row row;
	int64_t total = 0;
	int stored, r;

	memset(&l, 0, sizeof(l));
	memset(&row, 0, sizeof(row));
	if ((r = kms_db_begin(k->db, 0)) != MQE2E_OK)
		goto out;
	if ((r = kms_store_crl_get(k->db, &row)) == MQE2E_ERR_NOT_FOUND)
		r = MQE2E_OK;
	/* The entries of the stored CRL (those listed when it was issued): the
	 * first of them to leave is when the scheduler re-issues it. */
	if (r == MQE2E_OK &&
	    (r = kms_store_revoked_certs(k->db, kms_crl_cutoff(row.pem != NULL ? row.issued :
	    (int64_t)time(NULL)), add_revoked, &l)) == MQE2E_OK)
		r = kms_store_revoked_count(k->db, &total);
	if ((r = kms_db_end(k->db, r)) != MQE2E_OK)
		goto out;
	stored = row.pem != NULL;
	/* Certificates are never deleted: a different count means revocations
	 * the stored CRL does not list yet. */
	r = publish(k, &l, row.pem, row.pem_len, row.number, row.issued,
	    !stored || row.revoked != total);
	row.pem = NULL;
 out:
	if (r != MQE2E_OK)
		snprintf(err, errlen, "cannot read the revoked certificates and the CRL: %s",
		    mqe2e_strerror(r));
	free(row.pem);
	revoked_list_clear(&l);
	return r;
}

int
kms_crl_due(struct kmsd *k, int64_t now, int64_t every_s)
{
	int due;

	pthread_mutex_lock(&k->state_lock);
	due = k->crl_stale || k->crl_pem == NULL || now - k->crl_time >= every_s ||
	    (k->crl_prune_at != 0 && now >= k->crl_prune_at);
	pthread_mutex_unlock(&k->state_lock);
	return due;
}

int
kms_crl_get(struct kmsd *k, char **pem, size_t *len)
{
	int r = MQE2E_ERR_UNAVAILABLE;

	*pem = NULL;
	*len = 0;
	pthread_mutex_lock(&k->state_lock);
	if (k->crl_pem != NULL) {
		if ((*pem = malloc(k->crl_len + 1)) == NULL)
			r = MQE2E_ERR_NOMEM;
		else {
			memcpy(*pem, k->crl_pem, k->crl_len + 1);
			*len = k->crl_len;
			r = MQE2E_OK;
		}
	}
	pthread_mutex_unlock(&k->state_lock);
	return r;
}
