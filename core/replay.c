/*
 * replay.c - sliding replay windows, a bounded table of them, and the
 * handshake nonce cache.  docs/PROTOCOL.md section 8.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"
#include "crypto.h"
#include "wire.h"

/* ---- one window -------------------------------------------------------------- */

void
mqe2e_replay_init(struct mqe2e_replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

static int
bit_get(const struct mqe2e_replay_window *w, uint64_t i)
{
	return (int)((w->bits[i / 64] >> (i % 64)) & 1);
}

int
mqe2e_replay_check(const struct mqe2e_replay_window *w, uint64_t seq)
{
	uint64_t back;

	if (!w->started || seq > w->top)
		return MQE2E_OK;
	back = w->top - seq;
	if (back >= MQE2E_REPLAY_WINDOW)
		return MQE2E_ERR_REPLAY;
	return bit_get(w, back) ? MQE2E_ERR_REPLAY : MQE2E_OK;
}

/* Shift the bitmap left by n positions (towards older). */
static void
shift(struct mqe2e_replay_window *w, uint64_t n)
{
	if (n >= MQE2E_REPLAY_WINDOW) {
		w->bits[0] = w->bits[1] = 0;
	} else if (n >= 64) {
		w->bits[1] = w->bits[0] << (n - 64);
		w->bits[0] = 0;
	} else if (n > 0) {
		w->bits[1] = w->bits[1] << n | w->bits[0] >> (64 - n);
		w->bits[0] <<= n;
	}
}

int
mqe2e_replay_accept(struct mqe2e_replay_window *w, uint64_t seq)
{
	uint64_t back;
	int r;

	if ((r = mqe2e_replay_check(w, seq)) != MQE2E_OK)
		return r;
	if (!w->started) {
		w->started = 1;
		w->top = seq;
		w->bits[0] = 1;
		w->bits[1] = 0;
	} else if (seq > w->top) {
		shift(w, seq - w->top);
		w->top = seq;
		w->bits[0] |= 1;
	} else {
		back = w->top - seq;
		w->bits[back / 64] |= (uint64_t)1 << (back % 64);
	}
	return MQE2E_OK;
}

uint64_t
mqe2e_seq_start(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 1;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
mqe2e_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
mqe2e_check_skew(uint64_t ts_ms, uint64_t now_ms, uint32_t skew_ms)
{
	uint64_t d = ts_ms > now_ms ? ts_ms - now_ms : now_ms - ts_ms;

	return d <= skew_ms ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW;
}

/* ---- keyed hashing for the tables ------------------------------------------------ */

/* FNV-1a over the bytes, seeded with a per-table random key and finished
 * with a 64-bit mixer: not cryptographic, but an attacker who does not see
 * the table cannot aim collisions at one bucket. */
static uint64_t
hash_bytes(uint64_t seed, uint64_t h, const uint8_t *p, size_t n)
{
	size_t i;

	if (h == 0)
		h = 0xcbf29ce484222325ULL ^ seed;
	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t
random_seed(void)
{
	uint64_t s = 0;

	if (mqe2e_random(&s, sizeof(s)) != MQE2E_OK)
		s = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
	return s;
}

/* ---- table of windows ---------------------------------------------------------- */

/* Entries live in a hash table with separate chaining (index lists) plus a
 * doubly linked LRU list; both use indices into one array of cap slots. */
struct replay_entry {
	uint8_t *key;          /* sender || 0 || kind || key name || epoch */
	size_t key_len;
	size_t sender_len;
	struct mqe2e_replay_window w;
	size_t next_hash;      /* SIZE_MAX terminates */
	size_t prev_lru, next_lru;
	uint64_t hash;
};

struct mqe2e_replay_table {
	struct replay_entry *e;
	size_t cap, used;
	size_t *buckets;       /* nbuckets heads */
	size_t nbuckets;
	size_t lru_head, lru_tail;   /* head = most recently used */
	uint64_t seed;
};

#define NONE SIZE_MAX

int
mqe2e_replay_table_new(size_t cap, struct mqe2e_replay_table **out)
{
	struct mqe2e_replay_table *t;
	size_t i;

	*out = NULL;
	if (cap == 0 || cap > (1u << 24))
		return MQE2E_ERR_INVALID_ARG;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MQE2E_ERR_NOMEM;
	t->cap = cap;
	for (t->nbuckets = 16; t->nbuckets < cap; t->nbuckets *= 2)
		;
	t->e = calloc(cap, sizeof(*t->e));
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	if (t->e == NULL || t->buckets == NULL) {
		mqe2e_replay_table_free(t);
		return MQE2E_ERR_NOMEM;
	}
	for (i = 0; i < t->nbuckets; i++)
		t->buckets[i] = NONE;
	t->lru_head = t->lru_tail = NONE;
	t->seed = random_seed();
	*out = t;
	return MQE2E_OK;
}

void
mqe2e_replay_table_free(struct mqe2e_replay_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; t->e != NULL && i < t->used; i++)
		free(t->e[i].key);
	free(t->e);
	free(t->buckets);
	free(t);
}

static int
make_key(const uint8_t *sender, size_t sender_len, uint8_t kind, const uint8_t *name,
    size_t name_len, uint32_t epoch, uint8_t **key, size_t *key_len)
{
	uint8_t *k;
	size_t n = sender_len + 1 + 1 + 2 + name_len + 4;

	if ((sender == NULL && sender_len > 0) || (name == NULL && name_len > 0) ||
	    sender_len > 0xffff || name_len > 0xffff)
		return MQE2E_ERR_INVALID_ARG;
	if ((k = malloc(n)) == NULL)
		return MQE2E_ERR_NOMEM;
	if (sender_len > 0)
		memcpy(k, sender, sender_len);
	k[sender_len] = 0;
	k[sender_len + 1] = kind;
	k[sender_len + 2] = (uint8_t)(name_len >> 8);
	k[sender_len + 3] = (uint8_t)name_len;
	if (name_len > 0)
		memcpy(k + sender_len + 4, name, name_len);
	k[n - 4] = (uint8_t)(epoch >> 24);
	k[n - 3] = (uint8_t)(epoch >> 16);
	k[n - 2] = (uint8_t)(epoch >> 8);
	k[n - 1] = (uint8_t)epoch;
	*key = k;
	*key_len = n;
	return MQE2E_OK;
}

static void
lru_unlink(struct mqe2e_replay_table *t, size_t i)
{
	struct replay_entry *e = &t->e[i];

	if (e->prev_lru != NONE)
		t->e[e->prev_lru].next_lru = e->next_lru;
	else
		t->lru_head = e->next_lru;
	if (e->next_lru != NONE)
		t->e[e->next_lru].prev_lru = e->prev_lru;
	else
		t->lru_tail = e->prev_lru;
	e->prev_lru = e->next_lru = NONE;
}

static void
lru_push_front(struct mqe2e_replay_table *t, size_t i)
{
	struct replay_entry *e = &t->e[i];

	e->prev_lru = NONE;
	e->next_lru = t->lru_head;
	if (t->lru_head != NONE)
		t->e[t->lru_head].prev_lru = i;
	t->lru_head = i;
	if (t->lru_tail == NONE)
		t->lru_tail = i;
}

static void
hash_unlink(struct mqe2e_replay_table *t, size_t i)
{
	size_t *pp = &t->buckets[t->e[i].hash & (t->nbuckets - 1)];

	while (*pp != NONE && *pp != i)
		pp = &t->e[*pp].next_hash;
	if (*pp == i)
		*pp = t->e[i].next_hash;
}

/* Remove entry i, moving the last entry into its slot. */
static void
remove_entry(struct mqe2e_replay_table *t, size_t i)
{
	size_t last = t->used - 1, *pp;

	hash_unlink(t, i);
	lru_unlink(t, i);
	free(t->e[i].key);
	if (i != last) {
		/* move last into slot i and re-point whatever referenced it */
		t->e[i] = t->e[last];
		pp = &t->buckets[t->e[i].hash & (t->nbuckets - 1)];
		while (*pp != last)
			pp = &t->e[*pp].next_hash;
		*pp = i;
		if (t->e[i].prev_lru != NONE)
			t->e[t->e[i].prev_lru].next_lru = i;
		else
			t->lru_head = i;
		if (t->e[i].next_lru != NONE)
			t->e[t->e[i].next_lru].prev_lru = i;
		else
			t->lru_tail = i;
	}
	memset(&t->e[last], 0, sizeof(t->e[last]));
	t->used--;
}

static size_t
lookup(struct mqe2e_replay_table *t, const uint8_t *key, size_t key_len, uint64_t h)
{
	size_t i = t->buckets[h & (t->nbuckets - 1)];

	for (; i != NONE; i = t->e[i].next_hash)
		if (t->e[i].hash == h && t->e[i].key_len == key_len &&
		    memcmp(t->e[i].key, key, key_len) == 0)
			return i;
	return NONE;
}

static int
table_op(struct mqe2e_replay_table *t, int accept, const uint8_t *sender, size_t sender_len,
    uint8_t kind, const uint8_t *name, size_t name_len, uint32_t epoch, uint64_t seq)
{
	struct replay_entry *e;
	uint8_t *key = NULL;
	size_t key_len, i, *pp;
	uint64_t h;
	int r;

	if (t == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = make_key(sender, sender_len, kind, name, name_len, epoch, &key, &key_len)) !=
	    MQE2E_OK)
		return r;
	h = hash_final(hash_bytes(t->seed, 0, key, key_len));
	if ((i = lookup(t, key, key_len, h)) != NONE) {
		free(key);
		if (!accept)
			return mqe2e_replay_check(&t->e[i].w, seq);
		if ((r = mqe2e_replay_accept(&t->e[i].w, seq)) == MQE2E_OK) {
			lru_unlink(t, i);
			lru_push_front(t, i);
		}
		return r;
	}
	if (!accept) {
		free(key);
		return MQE2E_OK;   /* an unknown sender's first message is new */
	}
	if (t->used == t->cap)
		remove_entry(t, t->lru_tail);
	i = t->used++;
	e = &t->e[i];
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->key_len = key_len;
	e->sender_len = sender_len;
	e->hash = h;
	mqe2e_replay_init(&e->w);
	pp = &t->buckets[h & (t->nbuckets - 1)];
	e->next_hash = *pp;
	*pp = i;
	e->prev_lru = e->next_lru = NONE;
	lru_push_front(t, i);
	return mqe2e_replay_accept(&e->w, seq);
}

int
mqe2e_replay_table_check(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq)
{
	return table_op(t, 0, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq);
}

int
mqe2e_replay_table_accept(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq)
{
	return table_op(t, 1, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq);
}

void
mqe2e_replay_table_forget(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len)
{
	size_t i = 0;

	if (t == NULL)
		return;
	while (i < t->used) {
		if (t->e[i].sender_len == sender_len &&
		    (sender_len == 0 || memcmp(t->e[i].key, sender, sender_len) == 0))
			remove_entry(t, i);   /* the last entry moved into i: look again */
		else
			i++;
	}
}

/* ---- nonce cache ------------------------------------------------------------------ */

/*
 * Two levels.  Owners (the authenticated requesters) live in an open-
 * addressing table; each owner has a token bucket and its own set of live
 * nonces, so one owner can fill only its own set.  An owner with no live
 * nonce and a full bucket holds nothing worth keeping: it is "idle" and its
 * slot may be taken by another owner (slots are reused in place, never
 * emptied, so probe chains stay intact; the table is rebuilt without idle
 * owners when it fills).
 *
 * A nonce set is open addressing with linear probing too.  A slot is EMPTY
 * (expiry 0), LIVE (expiry > now) or DEAD (a tombstone that lookups walk
 * past).  When live + dead slots reach the quota the set is rebuilt without
 * the dead ones, so the quota bounds the live nonces exactly.
 */
struct nonce_slot {
	uint8_t nonce[16];
	uint64_t expiry;       /* 0 = never used */
};

struct nonce_set {
	struct nonce_slot *s;  /* size slots, allocated with the owner */
	size_t filled;         /* live + dead */
};

struct nonce_owner {
	uint8_t id[MQE2E_NONCE_OWNER_MAX];
	size_t id_len;
	int used;              /* 0 = never used: ends a probe chain */
	uint64_t busy_until;   /* latest nonce expiry or bucket refill: idle after */
	double tokens;         /* token bucket */
	uint64_t refilled_ms;
	struct nonce_set set;
};

struct mqe2e_nonce_cache {
	struct nonce_owner *o;
	size_t osize;          /* power of two, >= 2 * owners */
	size_t ofilled;        /* used owner slots */
	size_t set_size;       /* slots per nonce set: power of two, > 4/3 per_owner */
	struct mqe2e_nonce_limits lim;
	int partitioned;       /* made by _new_ex */
	uint64_t seed;
};

#define SET_BYTES(c) ((c)->set_size * sizeof(struct nonce_slot))

static size_t
pow2_at_least(size_t n, size_t min)
{
	size_t p = min;

	while (p < n)
		p *= 2;
	return p;
}

int
mqe2e_nonce_cache_new_ex(const struct mqe2e_nonce_limits *lim, struct mqe2e_nonce_cache **out)
{
	struct mqe2e_nonce_cache *c;

	*out = NULL;
	if (lim == NULL || lim->per_owner == 0 || lim->per_owner > (1u << 24) ||
	    lim->owners == 0 || lim->owners > (1u << 20) || lim->past_ms == 0 ||
	    (lim->rate_per_s > 0 && lim->burst == 0))
		return MQE2E_ERR_INVALID_ARG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MQE2E_ERR_NOMEM;
	c->lim = *lim;
	c->osize = pow2_at_least(2 * lim->owners, 4);
	/* load at most 3/4: the quota bounds live + dead slots */
	c->set_size = pow2_at_least(lim->per_owner + lim->per_owner / 3 + 1, 16);
	c->seed = random_seed();
	c->partitioned = 1;
	if ((c->o = calloc(c->osize, sizeof(*c->o))) == NULL) {
		free(c);
		return MQE2E_ERR_NOMEM;
	}
	*out = c;
	return MQE2E_OK;
}

int
mqe2e_nonce_cache_new(size_t cap, uint32_t skew_ms, struct mqe2e_nonce_cache **out)
{
	struct mqe2e_nonce_limits lim;
	int r;

	memset(&lim, 0, sizeof(lim));
	lim.past_ms = lim.future_ms = skew_ms;
	lim.per_owner = cap;
	lim.owners = 1;
	if (skew_ms == 0)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_nonce_cache_new_ex(&lim, out)) == MQE2E_OK)
		(*out)->partitioned = 0;
	return r;
}

void
mqe2e_nonce_cache_free(struct mqe2e_nonce_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->osize; i++)
		free(c->o[i].set.s);
	free(c->o);
	free(c);
}

uint32_t
mqe2e_nonce_cache_skew(const struct mqe2e_nonce_cache *c)
{
	return c == NULL ? MQE2E_SKEW_MS_DEFAULT : c->lim.past_ms;
}

int
mqe2e_nonce_cache_check_time(const struct mqe2e_nonce_cache *c, uint64_t ts_ms, uint64_t now_ms)
{
	if (c == NULL)
		return mqe2e_check_skew(ts_ms, now_ms, MQE2E_SKEW_MS_DEFAULT);
	if (ts_ms > now_ms)
		return ts_ms - now_ms <= c->lim.future_ms ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW;
	return now_ms - ts_ms <= c->lim.past_ms ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW;
}

/* ---- owners ---- */

static uint64_t
owner_hash(const struct mqe2e_nonce_cache *c, const uint8_t *id, size_t len)
{
	return hash_final(hash_bytes(c->seed, 0, id, len));
}

static int
owner_idle(const struct nonce_owner *o, uint64_t now_ms)
{
	return o->busy_until <= now_ms;
}

/* Rebuild the owner table without idle owners; returns the owners kept. */
static size_t
owners_rebuild(struct mqe2e_nonce_cache *c, uint64_t now_ms)
{
	struct nonce_owner *old = c->o, *no;
	size_t i, j, kept = 0;

	if ((no = calloc(c->osize, sizeof(*no))) == NULL)
		return c->ofilled;   /* cannot rebuild: behave as full */
	for (i = 0; i < c->osize; i++) {
		if (!old[i].used)
			continue;
		if (owner_idle(&old[i], now_ms)) {
			free(old[i].set.s);
			continue;
		}
		j = (size_t)(owner_hash(c, old[i].id, old[i].id_len) & (c->osize - 1));
		while (no[j].used)
			j = (j + 1) & (c->osize - 1);
		no[j] = old[i];
		kept++;
	}
	free(old);
	c->o = no;
	c->ofilled = kept;
	return kept;
}

static void
owner_reset(struct mqe2e_nonce_cache *c, struct nonce_owner *o, const uint8_t *id, size_t len,
    uint64_t now_ms)
{
	if (len > 0)
		memcpy(o->id, id, len);
	o->id_len = len;
	o->used = 1;
	o->busy_until = 0;
	o->tokens = (double)c->lim.burst;
	o->refilled_ms = now_ms;
	o->set.filled = 0;
	if (o->set.s != NULL)
		memset(o->set.s, 0, SET_BYTES(c));
}

/*
 * The owner's slot: found, or (create) a new one.  NULL: not found, or
 * *err says why none could be made (UNAVAILABLE: every slot holds a busy
 * owner; NOMEM).
 */
static struct nonce_owner *
owner_get(struct mqe2e_nonce_cache *c, const uint8_t *id, size_t len, uint64_t now_ms,
    int create, int *err)
{
	struct nonce_owner *o, *idle = NULL;
	size_t i;
	int pass;

	*err = MQE2E_OK;
	if (len > MQE2E_NONCE_OWNER_MAX || (id == NULL && len > 0)) {
		*err = MQE2E_ERR_INVALID_ARG;
		return NULL;
	}
	for (pass = 0; pass < 2; pass++) {
		for (i = (size_t)(owner_hash(c, id, len) & (c->osize - 1)); c->o[i].used;
		    i = (i + 1) & (c->osize - 1)) {
			o = &c->o[i];
			if (o->id_len == len && (len == 0 || memcmp(o->id, id, len) == 0))
				return o;
			if (idle == NULL && owner_idle(o, now_ms))
				idle = o;
		}
		if (!create)
			return NULL;
		if (idle == NULL && c->ofilled >= c->lim.owners) {
			if (pass == 0 && owners_rebuild(c, now_ms) < c->lim.owners)
				continue;   /* probe again in the rebuilt table */
			*err = MQE2E_ERR_UNAVAILABLE;
			return NULL;
		}
		if (idle == NULL) {
			idle = &c->o[i];
			c->ofilled++;
		}
		break;
	}
	if (idle->set.s == NULL && (idle->set.s = calloc(c->set_size, sizeof(*idle->set.s))) ==
	    NULL) {
		*err = MQE2E_ERR_NOMEM;
		if (!idle->used)
			c->ofilled--;
		return NULL;
	}
	owner_reset(c, idle, id, len, now_ms);
	return idle;
}

/* ---- one owner's nonces ---- */

static size_t
nonce_slot_index(const struct mqe2e_nonce_cache *c, const uint8_t nonce[16])
{
	return (size_t)(hash_final(hash_bytes(c->seed, 0, nonce, 16)) & (c->set_size - 1));
}

/* Drop the dead slots; returns the number of live ones. */
static size_t
set_rebuild(struct mqe2e_nonce_cache *c, struct nonce_set *set, uint64_t now_ms)
{
	struct nonce_slot *old = set->s, *ns;
	size_t i, j, live = 0;

	if ((ns = calloc(c->set_size, sizeof(*ns))) == NULL)
		return c->lim.per_owner;   /* cannot rebuild: behave as full */
	for (i = 0; i < c->set_size; i++) {
		if (old[i].expiry == 0 || old[i].expiry <= now_ms)
			continue;
		j = nonce_slot_index(c, old[i].nonce);
		while (ns[j].expiry != 0)
			j = (j + 1) & (c->set_size - 1);
		ns[j] = old[i];
		live++;
	}
	free(old);
	set->s = ns;
	set->filled = live;
	return live;
}

/* The slot holding nonce alive, or NONE; *reuse gets the first dead slot
 * of its chain (or the empty one that ends it). */
static size_t
set_find(const struct mqe2e_nonce_cache *c, const struct nonce_set *set,
    const uint8_t nonce[16], uint64_t now_ms, size_t *reuse)
{
	size_t i;

	*reuse = NONE;
	for (i = nonce_slot_index(c, nonce); set->s[i].expiry != 0; i = (i + 1) & (c->set_size - 1)) {
		if (set->s[i].expiry > now_ms) {
			if (memcmp(set->s[i].nonce, nonce, 16) == 0)
				return i;
		} else if (*reuse == NONE) {
			*reuse = i;
		}
	}
	if (*reuse == NONE)
		*reuse = i;
	return NONE;
}

int
mqe2e_nonce_cache_seen(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len,
    const uint8_t nonce[16], uint64_t now_ms)
{
	struct nonce_owner *o;
	size_t reuse;
	int err;

	if (c == NULL || nonce == NULL)
		return 0;
	if ((o = owner_get(c, owner, owner_len, now_ms, 0, &err)) == NULL)
		return 0;
	return set_find(c, &o->set, nonce, now_ms, &reuse) != NONE;
}

int
mqe2e_nonce_cache_add_owned(struct mqe2e_nonce_cache *c, const uint8_t *owner,
    size_t owner_len, const uint8_t nonce[16], uint64_t ts_ms, uint64_t now_ms)
{
	struct nonce_owner *o;
	size_t reuse;
	uint64_t expiry;
	int r;

	if (c == NULL || nonce == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_nonce_cache_check_time(c, ts_ms, now_ms)) != MQE2E_OK)
		return r;
	if ((o = owner_get(c, owner, owner_len, now_ms, 1, &r)) == NULL)
		return r;
	/* the time check rejects this nonce from ts + past on */
	expiry = ts_ms + c->lim.past_ms + 1;
	if (expiry <= now_ms)
		expiry = now_ms + 1;
	if (set_find(c, &o->set, nonce, now_ms, &reuse) != NONE)
		return MQE2E_ERR_NONCE_REUSE;
	if (o->set.s[reuse].expiry == 0) {   /* a new slot, not a dead one */
		if (o->set.filled + 1 > c->lim.per_owner) {
			if (set_rebuild(c, &o->set, now_ms) >= c->lim.per_owner)
				return c->partitioned ? MQE2E_ERR_BUSY : MQE2E_ERR_UNAVAILABLE;
			(void)set_find(c, &o->set, nonce, now_ms, &reuse);
		}
		o->set.filled++;
	}
	memcpy(o->set.s[reuse].nonce, nonce, 16);
	o->set.s[reuse].expiry = expiry;
	if (expiry > o->busy_until)
		o->busy_until = expiry;
	return MQE2E_OK;
}

int
mqe2e_nonce_cache_add(struct mqe2e_nonce_cache *c, const uint8_t nonce[16], uint64_t ts_ms,
    uint64_t now_ms)
{
	return mqe2e_nonce_cache_add_owned(c, NULL, 0, nonce, ts_ms, now_ms);
}

int
mqe2e_nonce_cache_charge(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len,
    uint64_t now_ms, uint32_t *retry_ms)
{
	struct nonce_owner *o;
	uint64_t full_at;
	double rate;
	int r;

	if (retry_ms != NULL)
		*retry_ms = 0;
	if (c == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (c->lim.rate_per_s == 0)
		return MQE2E_OK;
	if ((o = owner_get(c, owner, owner_len, now_ms, 1, &r)) == NULL) {
		if (retry_ms != NULL)
			*retry_ms = 1000;
		return r;
	}
	rate = (double)c->lim.rate_per_s / 1000.0;   /* tokens per ms */
	if (now_ms > o->refilled_ms) {
		o->tokens += (double)(now_ms - o->refilled_ms) * rate;
		if (o->tokens > (double)c->lim.burst)
			o->tokens = (double)c->lim.burst;
		o->refilled_ms = now_ms;
	}
	if (o->tokens < 1.0) {
		if (retry_ms != NULL)
			*retry_ms = (uint32_t)((1.0 - o->tokens) / rate) + 1;
		return MQE2E_ERR_BUSY;
	}
	o->tokens -= 1.0;
	/* the bucket is full again (nothing to remember) this much later */
	full_at = now_ms + (uint64_t)(((double)c->lim.burst - o->tokens) / rate) + 1;
	if (full_at > o->busy_until)
		o->busy_until = full_at;
	return MQE2E_OK;
}
