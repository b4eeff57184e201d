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

/* Eight bytes at a time (multiply, fold), the tail FNV-1a style, seeded
 * with a per-table random key and finished with a 64-bit mixer: not
 * cryptographic, but an attacker who does not see the table cannot aim
 * collisions at one bucket.  (Byte by byte it was a twentieth of a
 * subscriber's receive path: every message looks up two to four keys.) */
static uint64_t
hash_bytes(uint64_t seed, uint64_t h, const uint8_t *p, size_t n)
{
	uint64_t w;

	if (h == 0)
		h = 0xcbf29ce484222325ULL ^ seed;
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	for (; n > 0; p++, n--) {
		h ^= *p;
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
 * doubly linked LRU list; both use indices into one array of slots, which
 * grows (doubling, up to cap) with the entries actually made.
 *
 * Each message is checked against a client's tables (a subscriber process
 * may hold hundreds of clients), so a lookup mostly meets cold memory: the
 * layout keeps it to few cache lines.  An entry is two lines, aligned: the
 * first holds what a lookup and a window check read (hash, lengths, the
 * window), the second the key itself when it is short (every key of an id
 * and a group name of usual length), so there is no separate allocation
 * to follow.  The header's first line holds what a lookup reads, and
 * `last', the entry the last lookup found, is tried before the buckets
 * (a client mostly hears one sender per table); the hint is checked like
 * any entry, hash and whole key, so a stale one only costs the walk. */
#define REPLAY_SLOTS_MIN 16
#define REPLAY_KEY_STACK 640    /* keys of ids and names up to 255 bytes: no malloc
                                   to look one up */
#define REPLAY_KEY_INLINE 48    /* keys up to this size live in the entry */
#define REPLAY_ALIGN 128
struct replay_entry {
	uint64_t hash;
	uint32_t key_len;
	uint32_t sender_len;
	struct mqe2e_replay_window w;
	size_t next_hash;      /* SIZE_MAX terminates */
	uint8_t *key_ext;      /* the key if longer than REPLAY_KEY_INLINE, else NULL */
	uint8_t key_in[REPLAY_KEY_INLINE];   /* sender || 0 || kind || name || epoch */
	size_t prev_lru, next_lru;
};

struct mqe2e_replay_table {
	uint64_t seed;
	struct replay_entry *e;
	size_t *buckets;       /* nbuckets heads */
	size_t nbuckets;
	size_t last;           /* the entry the last lookup found (a hint) */
	size_t used;
	size_t lru_head;       /* most recently used */
	uint64_t gen;          /* bumped whenever an entry is added or removed
	                          (so moved): a struct mqe2e_replay_pos of an
	                          older generation is not used */
	size_t lru_tail;
	size_t cap;
	size_t alloc;          /* slots of e, <= cap */
};

static const uint8_t *
entry_key(const struct replay_entry *e)
{
	return e->key_len <= REPLAY_KEY_INLINE ? e->key_in : e->key_ext;
}

/* n entries, zeroed, aligned on REPLAY_ALIGN; NULL if out of memory. */
static struct replay_entry *
entries_alloc(size_t n)
{
	void *p;

	if (n > SIZE_MAX / sizeof(struct replay_entry) ||
	    posix_memalign(&p, REPLAY_ALIGN, n * sizeof(struct replay_entry)) != 0)
		return NULL;
	memset(p, 0, n * sizeof(struct replay_entry));
	return p;
}

#define NONE SIZE_MAX

int
mqe2e_replay_table_new(size_t cap, struct mqe2e_replay_table **out)
{
	struct mqe2e_replay_table *t;
	void *p;
	size_t i;

	*out = NULL;
	if (cap == 0 || cap > (1u << 24))
		return MQE2E_ERR_INVALID_ARG;
	if (posix_memalign(&p, 64, sizeof(*t)) != 0)
		return MQE2E_ERR_NOMEM;
	t = memset(p, 0, sizeof(*t));
	t->cap = cap;
	t->alloc = cap < REPLAY_SLOTS_MIN ? cap : REPLAY_SLOTS_MIN;
	for (t->nbuckets = 16; t->nbuckets < t->alloc; t->nbuckets *= 2)
		;
	t->e = entries_alloc(t->alloc);
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
		free(t->e[i].key_ext);
	free(t->e);
	free(t->buckets);
	free(t);
}

/* The key into buf (buflen bytes) if it fits, else into a malloc'd buffer:
 * free *key if it is not buf. */
static int
make_key(const uint8_t *sender, size_t sender_len, uint8_t kind, const uint8_t *name,
    size_t name_len, uint32_t epoch, uint8_t *buf, size_t buflen, uint8_t **key,
    size_t *key_len)
{
	uint8_t *k;
	size_t n = sender_len + 1 + 1 + 2 + name_len + 4;

	if ((sender == NULL && sender_len > 0) || (name == NULL && name_len > 0) ||
	    sender_len > 0xffff || name_len > 0xffff)
		return MQE2E_ERR_INVALID_ARG;
	if ((k = n <= buflen ? buf : malloc(n)) == NULL)
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

	t->gen++;
	hash_unlink(t, i);
	lru_unlink(t, i);
	free(t->e[i].key_ext);
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

static int
entry_is(const struct replay_entry *e, const uint8_t *key, size_t key_len, uint64_t h)
{
	return e->hash == h && e->key_len == key_len && memcmp(entry_key(e), key, key_len) == 0;
}

void
mqe2e_replay_table_prefetch(const struct mqe2e_replay_table *t)
{
	const struct replay_entry *e;

	if (t == NULL || t->last >= t->used)
		return;
	e = &t->e[t->last];
	__builtin_prefetch(e);
	__builtin_prefetch(e->key_in);
}

static size_t
lookup(struct mqe2e_replay_table *t, const uint8_t *key, size_t key_len, uint64_t h)
{
	size_t i;

	if (t->last < t->used && entry_is(&t->e[t->last], key, key_len, h))
		return t->last;
	for (i = t->buckets[h & (t->nbuckets - 1)]; i != NONE; i = t->e[i].next_hash) {
		if (entry_is(&t->e[i], key, key_len, h)) {
			t->last = i;
			return i;
		}
	}
	return NONE;
}

/* Twice the slots (up to cap), the buckets grown along; 0 or -1 (the table
 * stays as it was). */
static int
grow(struct mqe2e_replay_table *t)
{
	struct replay_entry *ne;
	size_t alloc = t->alloc * 2 > t->cap ? t->cap : t->alloc * 2, nb = t->nbuckets, i, *b;

	if ((ne = entries_alloc(alloc)) == NULL)
		return -1;
	memcpy(ne, t->e, t->alloc * sizeof(*ne));   /* keys move with their entries */
	free(t->e);
	t->e = ne;
	t->alloc = alloc;
	while (nb < alloc)
		nb *= 2;
	if (nb == t->nbuckets)
		return 0;
	if ((b = malloc(nb * sizeof(*b))) == NULL)
		return 0;       /* longer chains, still correct */
	for (i = 0; i < nb; i++)
		b[i] = NONE;
	for (i = 0; i < t->used; i++) {
		ne[i].next_hash = b[ne[i].hash & (nb - 1)];
		b[ne[i].hash & (nb - 1)] = i;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

/* Record seq in entry i (found by a lookup) and make it the most recently
 * used. */
static int
entry_accept(struct mqe2e_replay_table *t, size_t i, uint64_t seq)
{
	int r;

	if ((r = mqe2e_replay_accept(&t->e[i].w, seq)) == MQE2E_OK && t->lru_head != i) {
		lru_unlink(t, i);
		lru_push_front(t, i);
	}
	return r;
}

/* pos (may be NULL): set by a check to the entry found (SIZE_MAX: none). */
static int
table_op(struct mqe2e_replay_table *t, int accept, const uint8_t *sender, size_t sender_len,
    uint8_t kind, const uint8_t *name, size_t name_len, uint32_t epoch, uint64_t seq,
    struct mqe2e_replay_pos *pos)
{
	struct replay_entry *e;
	uint8_t kbuf[REPLAY_KEY_STACK], *key = NULL;
	size_t key_len, i, *pp;
	uint64_t h;
	int r;

	if (t == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = make_key(sender, sender_len, kind, name, name_len, epoch, kbuf, sizeof(kbuf),
	    &key, &key_len)) != MQE2E_OK)
		return r;
	h = hash_final(hash_bytes(t->seed, 0, key, key_len));
	i = lookup(t, key, key_len, h);
	if (pos != NULL) {
		pos->i = i;
		pos->gen = t->gen;
		pos->hash = h;
	}
	if (i != NONE) {
		if (key != kbuf)
			free(key);
		if (!accept)
			return mqe2e_replay_check(&t->e[i].w, seq);
		return entry_accept(t, i, seq);
	}
	if (!accept) {
		if (key != kbuf)
			free(key);
		return MQE2E_OK;   /* an unknown sender's first message is new */
	}
	if (key_len > REPLAY_KEY_INLINE && key == kbuf) {
		/* a new entry keeps its long key */
		if ((key = malloc(key_len)) == NULL)
			return MQE2E_ERR_NOMEM;
		memcpy(key, kbuf, key_len);
	}
	if (t->used == t->alloc && t->alloc < t->cap)
		(void)grow(t);
	if (t->used == t->alloc)
		remove_entry(t, t->lru_tail);
	i = t->used++;
	t->gen++;
	e = &t->e[i];
	memset(e, 0, sizeof(*e));
	if (key_len <= REPLAY_KEY_INLINE) {
		memcpy(e->key_in, key, key_len);
		if (key != kbuf)
			free(key);
	} else {
		e->key_ext = key;
	}
	e->key_len = (uint32_t)key_len;
	e->sender_len = (uint32_t)sender_len;
	e->hash = h;
	mqe2e_replay_init(&e->w);
	pp = &t->buckets[h & (t->nbuckets - 1)];
	e->next_hash = *pp;
	*pp = i;
	e->prev_lru = e->next_lru = NONE;
	lru_push_front(t, i);
	t->last = i;
	return mqe2e_replay_accept(&e->w, seq);
}

int
mqe2e_replay_table_check(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq)
{
	return table_op(t, 0, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq,
	    NULL);
}

int
mqe2e_replay_table_accept(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq)
{
	return table_op(t, 1, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq,
	    NULL);
}

int
mqe2e_replay_table_check_pos(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq, struct mqe2e_replay_pos *pos)
{
	if (pos != NULL)
		pos->i = NONE;
	return table_op(t, 0, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq,
	    pos);
}

int
mqe2e_replay_table_accept_pos(struct mqe2e_replay_table *t,
    const struct mqe2e_replay_pos *pos, const uint8_t *sender, size_t sender_len,
    uint8_t key_kind, const uint8_t *key_name, size_t key_name_len, uint32_t epoch,
    uint64_t seq)
{
	/* no entry was added or removed since the check, so none moved: entry
	 * pos->i is the one the check found for this key */
	if (t != NULL && pos != NULL && pos->i != NONE && pos->gen == t->gen &&
	    pos->i < t->used && t->e[pos->i].hash == pos->hash)
		return entry_accept(t, pos->i, seq);
	return table_op(t, 1, sender, sender_len, key_kind, key_name, key_name_len, epoch, seq,
	    NULL);
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
		    (sender_len == 0 || memcmp(entry_key(&t->e[i]), sender, sender_len) == 0))
			remove_entry(t, i);   /* the last entry moved into i: look again */
		else
			i++;
	}
}

/* ---- nonce cache ------------------------------------------------------------------ */

/* Open addressing with linear probing.  A slot is EMPTY (never used), LIVE
 * (expiry > now) or DEAD (expired: a tombstone that lookups walk past).
 * When live + dead slots pass 3/4 of the table it is rebuilt without the
 * dead ones, twice as large while more than half of it is live, up to
 * size_max (2 * cap): the tables start small and grow with what is used,
 * not with what could be (a broker's cache has room for 65536 nonces). */
#define NONCE_SLOTS_MIN 256
#define OWNER_SLOTS_MIN 64
struct nonce_slot {
	uint8_t nonce[16];
	uint64_t expiry;       /* 0 = never used */
};

/* Per-owner fairness: a token bucket per owner (an authenticated id, held
 * as a seeded 64-bit hash).  Credit is counted in "token milliseconds": a
 * nonce costs life_ms, credit grows by quota per millisecond up to
 * quota * life_ms, so an owner can hold at most 2 * quota live nonces
 * (a full bucket plus one lifetime of refill).  Slots of owners whose
 * bucket is full again are dropped when the table is rebuilt. */
struct owner_slot {
	uint64_t h;            /* 0 = empty */
	uint64_t credit;
	uint64_t last_ms;      /* credit as of this time */
};

struct mqe2e_nonce_cache {
	struct nonce_slot *s;
	size_t size;           /* power of two, <= size_max */
	size_t size_max;       /* power of two, >= 2 * cap */
	size_t cap;
	size_t filled;         /* live + dead */
	uint32_t skew_ms;
	uint32_t future_ms;    /* timestamps at most this far ahead (<= skew_ms) */
	uint64_t seed;
	size_t quota;          /* nonces per owner per lifetime, 0 = none */
	struct owner_slot *o;  /* osize slots, allocated with the first quota */
	size_t osize;          /* power of two, <= size_max */
	size_t ofilled;
};

int
mqe2e_nonce_cache_new(size_t cap, uint32_t skew_ms, struct mqe2e_nonce_cache **out)
{
	struct mqe2e_nonce_cache *c;

	*out = NULL;
	if (cap == 0 || cap > (1u << 24))
		return MQE2E_ERR_INVALID_ARG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MQE2E_ERR_NOMEM;
	for (c->size_max = 16; c->size_max < 2 * cap; c->size_max *= 2)
		;
	c->size = c->size_max < NONCE_SLOTS_MIN ? c->size_max : NONCE_SLOTS_MIN;
	if ((c->s = calloc(c->size, sizeof(*c->s))) == NULL) {
		free(c);
		return MQE2E_ERR_NOMEM;
	}
	c->cap = cap;
	c->skew_ms = skew_ms;
	c->future_ms = skew_ms;
	c->seed = random_seed();
	*out = c;
	return MQE2E_OK;
}

void
mqe2e_nonce_cache_free(struct mqe2e_nonce_cache *c)
{
	if (c == NULL)
		return;
	free(c->s);
	free(c->o);
	free(c);
}

int
mqe2e_nonce_cache_set_limits(struct mqe2e_nonce_cache *c, uint32_t future_ms, size_t per_owner)
{
	if (c == NULL || future_ms > c->skew_ms || per_owner > c->cap)
		return MQE2E_ERR_INVALID_ARG;
	if (per_owner > 0 && c->o == NULL) {
		c->osize = c->size_max < OWNER_SLOTS_MIN ? c->size_max : OWNER_SLOTS_MIN;
		if ((c->o = calloc(c->osize, sizeof(*c->o))) == NULL)
			return MQE2E_ERR_NOMEM;
	}
	c->future_ms = future_ms;
	c->quota = per_owner;
	return MQE2E_OK;
}

uint32_t
mqe2e_nonce_cache_skew(const struct mqe2e_nonce_cache *c)
{
	return c == NULL ? MQE2E_SKEW_MS_DEFAULT : c->skew_ms;
}

size_t
mqe2e_nonce_cache_fill(const struct mqe2e_nonce_cache *c, size_t *cap)
{
	if (cap != NULL)
		*cap = c != NULL ? c->cap : 0;
	return c != NULL ? c->filled : 0;
}

static size_t
nonce_slot_index(const struct mqe2e_nonce_cache *c, const uint8_t nonce[16])
{
	return (size_t)(hash_final(hash_bytes(c->seed, 0, nonce, 16)) & (c->size - 1));
}

/* Drop the dead slots, into a table twice as large if more than half of
 * this one is live and it may grow; returns the number of live ones. */
static size_t
nonce_rebuild(struct mqe2e_nonce_cache *c, uint64_t now_ms)
{
	struct nonce_slot *old = c->s, *ns;
	size_t i, j, live = 0, oldsize = c->size, size = c->size;

	for (i = 0; i < oldsize; i++)
		live += old[i].expiry > now_ms;
	if (live + 1 > size / 2 && size < c->size_max)
		size *= 2;
	if ((ns = calloc(size, sizeof(*ns))) == NULL)
		return c->cap;   /* cannot rebuild: behave as full */
	c->size = size;         /* nonce_slot_index() of the new table */
	live = 0;
	for (i = 0; i < oldsize; i++) {
		if (old[i].expiry == 0 || old[i].expiry <= now_ms)
			continue;
		j = nonce_slot_index(c, old[i].nonce);
		while (ns[j].expiry != 0)
			j = (j + 1) & (c->size - 1);
		ns[j] = old[i];
		live++;
	}
	free(old);
	c->s = ns;
	c->filled = live;
	return live;
}

/* A nonce's lifetime: from now up to skew past its timestamp, which lies at
 * most future_ms ahead. */
static uint64_t
nonce_life(const struct mqe2e_nonce_cache *c)
{
	return (uint64_t)c->skew_ms + c->future_ms + 1;
}

/* Refill one bucket to now_ms. */
static void
owner_refill(const struct mqe2e_nonce_cache *c, struct owner_slot *o, uint64_t now_ms)
{
	uint64_t full = (uint64_t)c->quota * nonce_life(c);

	if (now_ms > o->last_ms) {
		uint64_t dt = now_ms - o->last_ms;

		o->credit = dt >= nonce_life(c) || o->credit + dt * c->quota >= full ?
		    full : o->credit + dt * c->quota;
		o->last_ms = now_ms;
	}
}

/* Drop the owners whose bucket is full again; returns those left. */
static size_t
owner_rebuild(struct mqe2e_nonce_cache *c, uint64_t now_ms)
{
	struct owner_slot *old = c->o, *no;
	uint64_t full = (uint64_t)c->quota * nonce_life(c);
	size_t i, j, left = 0, oldsize = c->osize, size = c->osize;

	for (i = 0; i < oldsize; i++) {
		if (old[i].h == 0)
			continue;
		owner_refill(c, &old[i], now_ms);
		left += old[i].credit < full;
	}
	if (left + 1 > size / 2 && size < c->size_max)
		size *= 2;
	if ((no = calloc(size, sizeof(*no))) == NULL)
		return c->ofilled;   /* cannot rebuild: stay as full */
	c->osize = size;
	left = 0;
	for (i = 0; i < oldsize; i++) {
		if (old[i].h == 0 || old[i].credit >= full)
			continue;
		for (j = (size_t)old[i].h & (size - 1); no[j].h != 0; j = (j + 1) & (size - 1))
			;
		no[j] = old[i];
		left++;
	}
	free(old);
	c->o = no;
	c->ofilled = left;
	return left;
}

/* The bucket of owner (created full), or NULL if the table is full. */
static struct owner_slot *
owner_find(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len, uint64_t now_ms)
{
	uint64_t h = hash_final(hash_bytes(c->seed ^ 0x6f776e6572ULL, 0, owner, owner_len));
	size_t i;

	if (h == 0)
		h = 1;
	for (i = (size_t)h & (c->osize - 1); c->o[i].h != 0; i = (i + 1) & (c->osize - 1)) {
		if (c->o[i].h == h) {
			owner_refill(c, &c->o[i], now_ms);
			return &c->o[i];
		}
	}
	if (c->ofilled + 1 > c->osize / 4 * 3) {
		if (owner_rebuild(c, now_ms) + 1 > c->osize / 4 * 3)
			return NULL;
		for (i = (size_t)h & (c->osize - 1); c->o[i].h != 0; i = (i + 1) & (c->osize - 1))
			;
	}
	c->o[i].h = h;
	c->o[i].credit = (uint64_t)c->quota * nonce_life(c);
	c->o[i].last_ms = now_ms;
	c->ofilled++;
	return &c->o[i];
}

/* The slot holding nonce alive, or NONE; *reuse gets the first dead slot
 * of its probe chain, or the empty one that ends it. */
static size_t
nonce_find(const struct mqe2e_nonce_cache *c, const uint8_t nonce[16], uint64_t now_ms,
    size_t *reuse)
{
	size_t i;

	*reuse = NONE;
	for (i = nonce_slot_index(c, nonce); c->s[i].expiry != 0; i = (i + 1) & (c->size - 1)) {
		if (c->s[i].expiry > now_ms) {
			if (memcmp(c->s[i].nonce, nonce, 16) == 0)
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
mqe2e_nonce_cache_check_time(const struct mqe2e_nonce_cache *c, uint64_t ts_ms, uint64_t now_ms)
{
	int r;

	if (c == NULL)
		return mqe2e_check_skew(ts_ms, now_ms, MQE2E_SKEW_MS_DEFAULT);
	if ((r = mqe2e_check_skew(ts_ms, now_ms, c->skew_ms)) != MQE2E_OK)
		return r;
	if (ts_ms > now_ms && ts_ms - now_ms > c->future_ms)
		return MQE2E_ERR_CLOCK_SKEW;
	return MQE2E_OK;
}

int
mqe2e_nonce_cache_seen(const struct mqe2e_nonce_cache *c, const uint8_t nonce[16],
    uint64_t now_ms)
{
	size_t reuse;

	if (c == NULL || nonce == NULL)
		return 0;
	return nonce_find(c, nonce, now_ms, &reuse) != NONE;
}

int
mqe2e_nonce_cache_charge(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len,
    uint64_t now_ms, uint32_t *retry_ms)
{
	struct owner_slot *o;
	uint64_t wait;

	if (retry_ms != NULL)
		*retry_ms = 0;
	if (c == NULL || (owner == NULL && owner_len != 0))
		return MQE2E_ERR_INVALID_ARG;
	if (c->quota == 0 || owner == NULL)
		return MQE2E_OK;
	if ((o = owner_find(c, owner, owner_len, now_ms)) == NULL) {
		if (retry_ms != NULL)
			*retry_ms = 1000;
		return MQE2E_ERR_UNAVAILABLE;
	}
	if (o->credit < nonce_life(c)) {
		/* credit grows by quota per millisecond */
		wait = (nonce_life(c) - o->credit + c->quota - 1) / c->quota;
		if (retry_ms != NULL)
			*retry_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
		return MQE2E_ERR_QUOTA;
	}
	o->credit -= nonce_life(c);
	return MQE2E_OK;
}

int
mqe2e_nonce_cache_add(struct mqe2e_nonce_cache *c, const uint8_t nonce[16], uint64_t ts_ms,
    uint64_t now_ms)
{
	return mqe2e_nonce_cache_add_owned(c, NULL, 0, nonce, ts_ms, now_ms);
}

int
mqe2e_nonce_cache_add_owned(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len,
    const uint8_t nonce[16], uint64_t ts_ms, uint64_t now_ms)
{
	struct owner_slot *o = NULL;
	size_t reuse, live;
	uint64_t expiry;
	int r;

	if (c == NULL || nonce == NULL || (owner == NULL && owner_len != 0))
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_nonce_cache_check_time(c, ts_ms, now_ms)) != MQE2E_OK)
		return r;
	/* Fairness before capacity: an owner over its share is told so, and
	 * never takes room from the others. */
	if (c->quota > 0 && owner != NULL) {
		if ((o = owner_find(c, owner, owner_len, now_ms)) == NULL)
			return MQE2E_ERR_UNAVAILABLE;
		if (o->credit < nonce_life(c))
			return MQE2E_ERR_QUOTA;
	}
	/* the timestamp check rejects this nonce from ts + skew on */
	expiry = ts_ms + c->skew_ms + 1;
	if (expiry <= now_ms)
		expiry = now_ms + 1;
	if (c->filled + 1 > c->size / 4 * 3) {
		live = nonce_rebuild(c, now_ms);
		if (live >= c->cap)
			return MQE2E_ERR_UNAVAILABLE;
	}
	if (nonce_find(c, nonce, now_ms, &reuse) != NONE)
		return MQE2E_ERR_NONCE_REUSE;
	if (c->s[reuse].expiry == 0)   /* a new slot, not a dead one */
		c->filled++;
	memcpy(c->s[reuse].nonce, nonce, 16);
	c->s[reuse].expiry = expiry;
	if (o != NULL)
		o->credit -= nonce_life(c);
	return MQE2E_OK;
}
