/*
 * trust.c - one CA trust per process and CA certificate, shared by clients.
 *
 * A client checks the broker's certificate at every connect, and its KMS's
 * and pairing peers' signatures, against the CA of its `cafile`.  The trust
 * remembers the certificates it verified (core: by SHA-256 of their DER,
 * within their validity and the CA's), but when every client had a trust of
 * its own, a process of 200 clients verified the same broker certificate 200
 * times - an X.509 parse and an Ed25519 verification per connect.  Clients
 * whose CA certificate is the same (the same DER, wherever the file lies)
 * now share one trust, counted by references: the first connect verifies,
 * the others find it verified.  Nothing in a client's trust is per client -
 * libmqe2e sets no CRL or revoked list on it - so the sharing changes no
 * answer.  A client whose CA file holds another certificate gets a trust of
 * its own.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct shared_trust {
	struct shared_trust *next;
	uint8_t fp[MQE2E_SHA256_LEN];           /* of the CA certificate */
	struct mqe2e_trust *t;
	unsigned long refs;
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_trust *shared;

int
trust__get(const char *cafile, struct mqe2e_trust **out, char *errbuf, size_t errlen)
{
	struct shared_trust *s;
	struct mqe2e_trust *t = NULL;
	uint8_t fp[MQE2E_SHA256_LEN];
	int r;

	*out = NULL;
	/* the file is read and checked in full every time (its errors name it);
	 * only the verifications it anchors are shared */
	if ((r = mqe2e_trust_new(cafile, &t, errbuf, errlen)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_trust_ca_fingerprint(t, fp)) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "cannot fingerprint the CA certificate %s: %s",
		    cafile, mqe2e_strerror(r));
		mqe2e_trust_free(t);
		return r;
	}
	pthread_mutex_lock(&shared_mu);
	for (s = shared; s != NULL; s = s->next)
		if (memcmp(s->fp, fp, sizeof(fp)) == 0)
			break;
	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
		memcpy(s->fp, fp, sizeof(fp));
		s->t = t;
		t = NULL;
		s->next = shared;
		shared = s;
	}
	if (s != NULL) {
		s->refs++;
		*out = s->t;
	}
	pthread_mutex_unlock(&shared_mu);
	mqe2e_trust_free(t);    /* an equal one was there already */
	if (s == NULL) {
		client__fmt(errbuf, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	return MQE2E_OK;
}

void
trust__put(struct mqe2e_trust *t)
{
	struct shared_trust **pp, *s;

	if (t == NULL)
		return;
	pthread_mutex_lock(&shared_mu);
	for (pp = &shared; (s = *pp) != NULL; pp = &s->next)
		if (s->t == t)
			break;
	if (s != NULL && --s->refs == 0)
		*pp = s->next;
	else
		s = NULL;
	pthread_mutex_unlock(&shared_mu);
	if (s != NULL) {
		mqe2e_trust_free(s->t);
		free(s);
	}
}
