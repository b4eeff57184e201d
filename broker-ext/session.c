/*
 * session.c - per-connection state of the broker extension.
 *
 * Sessions are keyed by the mosquitto client pointer, not by client id: on a
 * session takeover the new connection authenticates before the old one's
 * DISCONNECT event, and both carry the same id.  A second index by client id
 * (mqe2e sessions only, newest first) serves scheme 1/2 routing.  Chained
 * hash tables that double when they get full.  Keys (mac/aead contexts) are
 * wiped by their _free functions when a session goes.  Broker thread only.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "plugin.h"

static struct bx_session **by_client;
static struct bx_session **by_id;
static size_t nbuckets;
static size_t count;

static size_t slot_ptr(const struct mosquitto *client, size_t n)
{
	uint64_t h = (uint64_t)(uintptr_t)client;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return (size_t)h & (n - 1);
}

static size_t slot_id(const char *id, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */

	for (; *id != '\0'; id++) {
		h ^= (uint8_t)*id;
		h *= 0x100000001b3ull;
	}
	return (size_t)h & (n - 1);
}

int session__init(void)
{
	nbuckets = 256;
	count = 0;
	by_client = calloc(nbuckets, sizeof(*by_client));
	by_id = calloc(nbuckets, sizeof(*by_id));
	if (by_client == NULL || by_id == NULL) {
		session__cleanup();
		return MQE2E_ERR_NOMEM;
	}
	return MQE2E_OK;
}

/* ---- ids that authenticated with mqe2e --------------------------------------------
 * A plain client (plugin_opt_allow_plain) must never use an mqe2e client's
 * id: it would take over the connection and, with clean_start 0, the
 * persistent session and its queued messages.  Every id that passed the
 * handshake is remembered here for the life of the broker (bounded by the
 * enrolled clients: each passed certificate validation). */
struct known_id {
	struct known_id *next;
	char id[];
};

#define KNOWN_BUCKETS 1024
static struct known_id *known[KNOWN_BUCKETS];

void session__remember_id(const char *id)
{
	size_t b = slot_id(id, KNOWN_BUCKETS), n = strlen(id);
	struct known_id *k;

	if (session__known_id(id) || (k = malloc(sizeof(*k) + n + 1)) == NULL)
		return;
	memcpy(k->id, id, n + 1);
	k->next = known[b];
	known[b] = k;
}

int session__known_id(const char *id)
{
	struct known_id *k;

	for (k = known[slot_id(id, KNOWN_BUCKETS)]; k != NULL; k = k->next)
		if (strcmp(k->id, id) == 0)
			return 1;
	return 0;
}

static void known_cleanup(void)
{
	struct known_id *k, *next;
	size_t i;

	for (i = 0; i < KNOWN_BUCKETS; i++) {
		for (k = known[i]; k != NULL; k = next) {
			next = k->next;
			free(k);
		}
		known[i] = NULL;
	}
}

static void session_free(struct bx_session *s)
{
	if (s == NULL)
		return;
	verdict__clear(&s->verdict);
	mqe2e_mac_free(s->mac_c2b);
	mqe2e_aead_free(s->aead_c2b);
	mqe2e_aead_free(s->aead_b2c);
	mqe2e_mac_free(s->mac_b2c);
	mqe2e_wipe(s, sizeof(*s));
	free(s);
}

void session__cleanup(void)
{
	size_t i;
	struct bx_session *s, *next;

	for (i = 0; by_client != NULL && i < nbuckets; i++) {
		for (s = by_client[i]; s != NULL; s = next) {
			next = s->next;
			session_free(s);
		}
	}
	free(by_client);
	free(by_id);
	known_cleanup();
	by_client = NULL;
	by_id = NULL;
	nbuckets = 0;
	count = 0;
}

static void grow(void)
{
	struct bx_session **nc, **ni, *s, *next;
	size_t n = nbuckets * 2, i, j;

	nc = calloc(n, sizeof(*nc));
	ni = calloc(n, sizeof(*ni));
	if (nc == NULL || ni == NULL) {
		free(nc);
		free(ni);
		return;   /* keep the old tables: slower, still correct */
	}
	for (i = 0; i < nbuckets; i++) {
		for (s = by_client[i]; s != NULL; s = next) {
			next = s->next;
			j = slot_ptr(s->client, n);
			s->next = nc[j];
			nc[j] = s;
		}
	}
	/* Rebuild the id index keeping each chain's order (newest first). */
	for (i = 0; i < nbuckets; i++) {
		struct bx_session *rev = NULL;

		for (s = by_id[i]; s != NULL; s = next) {
			next = s->next_id;
			s->next_id = rev;
			rev = s;
		}
		for (s = rev; s != NULL; s = next) {
			next = s->next_id;
			j = slot_id(s->id, n);
			s->next_id = ni[j];
			ni[j] = s;
		}
	}
	free(by_client);
	free(by_id);
	by_client = nc;
	by_id = ni;
	nbuckets = n;
}

struct bx_session *session__find(const struct mosquitto *client)
{
	struct bx_session *s;

	if (by_client == NULL)
		return NULL;
	for (s = by_client[slot_ptr(client, nbuckets)]; s != NULL; s = s->next)
		if (s->client == client)
			return s;
	return NULL;
}

struct mqe2e_mac *session__mac_c2b(struct bx_session *s)
{
	if (s->mac_c2b == NULL && s->has_keys &&
	    mqe2e_mac_new(s->key_c2b, MQE2E_KEY_LEN, &s->mac_c2b) != MQE2E_OK)
		s->mac_c2b = NULL;
	return s->mac_c2b;
}

struct mqe2e_aead *session__aead_c2b(struct bx_session *s)
{
	if (s->aead_c2b == NULL && s->has_keys &&
	    mqe2e_aead_new(s->key_c2b, &s->aead_c2b) != MQE2E_OK)
		s->aead_c2b = NULL;
	return s->aead_c2b;
}

struct mqe2e_aead *session__aead_b2c(struct bx_session *s)
{
	if (s->aead_b2c == NULL && s->has_keys &&
	    mqe2e_aead_new(s->key_b2c, &s->aead_b2c) != MQE2E_OK)
		s->aead_b2c = NULL;
	return s->aead_b2c;
}

struct mqe2e_mac *session__mac_b2c(struct bx_session *s)
{
	if (s->mac_b2c == NULL && s->has_keys &&
	    mqe2e_mac_new(s->key_b2c, MQE2E_KEY_LEN, &s->mac_b2c) != MQE2E_OK)
		s->mac_b2c = NULL;
	return s->mac_b2c;
}

struct bx_session *session__find_id(const char *id)
{
	struct bx_session *s;

	if (by_id == NULL)
		return NULL;
	for (s = by_id[slot_id(id, nbuckets)]; s != NULL; s = s->next_id)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

void session__index_id(struct bx_session *s)
{
	size_t i;

	if (s->in_id_index || s->id[0] == '\0')
		return;
	i = slot_id(s->id, nbuckets);
	s->next_id = by_id[i];
	by_id[i] = s;
	s->in_id_index = true;
}

static void unindex_id(struct bx_session *s)
{
	struct bx_session **pp;

	if (!s->in_id_index)
		return;
	for (pp = &by_id[slot_id(s->id, nbuckets)]; *pp != NULL; pp = &(*pp)->next_id) {
		if (*pp == s) {
			*pp = s->next_id;
			break;
		}
	}
	s->in_id_index = false;
}

void session__remove(const struct mosquitto *client)
{
	struct bx_session **pp, *s;

	if (by_client == NULL)
		return;
	for (pp = &by_client[slot_ptr(client, nbuckets)]; (s = *pp) != NULL; pp = &s->next) {
		if (s->client == client) {
			*pp = s->next;
			unindex_id(s);
			session_free(s);
			count--;
			return;
		}
	}
}

int session__add(struct mosquitto *client, struct bx_session **out)
{
	struct bx_session *s;
	size_t i;

	*out = NULL;
	if (by_client == NULL)
		return MQE2E_ERR_INTERNAL;
	session__remove(client);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return MQE2E_ERR_NOMEM;
	s->client = client;
	mqe2e_replay_init(&s->rx);
	if (count >= nbuckets / 2)
		grow();
	i = slot_ptr(client, nbuckets);
	s->next = by_client[i];
	by_client[i] = s;
	count++;
	*out = s;
	return MQE2E_OK;
}

size_t session__count(void)
{
	return count;
}

void session__foreach(void (*fn)(struct bx_session *, void *), void *arg)
{
	size_t i;
	struct bx_session *s, *next;

	for (i = 0; i < nbuckets; i++) {
		for (s = by_client[i]; s != NULL; s = next) {
			next = s->next;
			fn(s, arg);
		}
	}
}
