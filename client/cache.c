/*
 * cache.c - the client's key cache file (docs/CLIENT.md, "Key cache").
 *
 * After every key fetch that changed something, the group keys and the
 * group table the client holds are written to one file, sealed under a key
 * derived from the client's own private key (core/keycache.h), mode 0600,
 * by writing the spare file beside it, fsync and exchanging the two names
 * (write_atomic), so that a crash leaves the old file or the new one, never
 * half of one.  The directory is not synced after the exchange: a power cut
 * right after it may bring back the previous file
 * (or none, for the first), which the next fetch replaces - a cache need not
 * be the newest, only whole, and the sync cost every client's first fetch
 * a journal commit.  (A deletion, below, removes both files and is synced:
 * it follows a revocation.)  When the
 * first fetch of a process finds the KMS unreachable, the file is read
 * back: a device restarted during a KMS outage works with what it held.  A
 * file that does not open (altered, truncated, another client's, another
 * certificate's, another version's) is refused with its name and ignored;
 * the next successful fetch replaces it.  Epochs that have ended are
 * dropped on the way in and on the way out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"
#include "keycache.h"

#define CACHE_SUFFIX ".cache"
#define SPARE_SUFFIX ".spare"

static int writer_register(struct mqe2e_client *c);

int
cache__init(struct mqe2e_client *c, char *errbuf, size_t errlen)
{
	const char *base = c->cfg.key_cache_file;
	size_t n;

	c->cache_path = NULL;
	if (!c->cfg.key_cache)
		return MQE2E_OK;
	if (base != NULL) {
		c->cache_path = strdup(base);
	} else {
		/* beside the private key: the one file a device surely keeps */
		n = strlen(c->cfg.key) + sizeof(CACHE_SUFFIX);
		if ((c->cache_path = malloc(n)) != NULL)
			(void)snprintf(c->cache_path, n, "%s%s", c->cfg.key, CACHE_SUFFIX);
	}
	if (c->cache_path == NULL) {
		client__fmt(errbuf, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	if (writer_register(c) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "cannot start the thread that writes the key "
		    "cache %s: out of threads or memory (or set key_cache 0)", c->cache_path);
		return MQE2E_ERR_NOMEM;
	}
	return MQE2E_OK;
}

/* The keys and groups held, as a key bundle (mu held): copies, without the
 * epochs that had ended at now.  Free with mqe2e_keybundle_free. */
static int
snapshot(struct mqe2e_client *c, struct mqe2e_keybundle *kb, uint64_t now)
{
	const struct keystore *ks = &c->keys;
	size_t i;

	memset(kb, 0, sizeof(*kb));
	if (ks->ngroups > 0) {
		if ((kb->groups = calloc(ks->ngroups, sizeof(*kb->groups))) == NULL)
			return MQE2E_ERR_NOMEM;
		memcpy(kb->groups, ks->groups, ks->ngroups * sizeof(*kb->groups));
		kb->ngroups = ks->ngroups;
	}
	if (ks->n > 0 && (kb->keys = calloc(ks->n, sizeof(*kb->keys))) == NULL) {
		mqe2e_keybundle_free(kb);
		return MQE2E_ERR_NOMEM;
	}
	for (i = 0; i < ks->n; i++) {
		const struct keyslot *s = &ks->slot[i];
		struct mqe2e_key_entry *e = &kb->keys[kb->nkeys];

		if (s->not_after_ms != 0 && s->not_after_ms <= now)
			continue;
		memcpy(e->group, s->group, sizeof(e->group));
		e->scheme = s->scheme;
		e->kind = s->kind;
		e->epoch = s->epoch;
		e->not_before_ms = s->not_before_ms;
		e->not_after_ms = s->not_after_ms;
		memcpy(e->key, s->key, sizeof(e->key));
		kb->nkeys++;
	}
	return MQE2E_OK;
}

/* Each field at a fixed place, strings zero-padded to their full size: the
 * same keys give the same bytes, whatever the structures' padding held. */
#define DIGEST_GROUP (MQE2E_ID_MAX + 1 + 2 + MQE2E_FILTER_MAX + 1)
#define DIGEST_KEY (MQE2E_ID_MAX + 1 + 2 + 4 + 8 + 8 + MQE2E_KEY_LEN)

static uint8_t *
put_str(uint8_t *p, const char *s, size_t size)
{
	size_t n = strnlen(s, size - 1);

	memcpy(p, s, n);                /* the rest is zero (calloc) */
	return p + size;
}

static uint8_t *
put_u64(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + n;
}

/*
 * A digest of the keys and groups of kb (the epochs ended at now_ms left
 * out, as a snapshot leaves them out), to skip writing an unchanged file:
 * flash wears, a refresh every few minutes mostly brings nothing new, and a
 * process restarted with the same keys finds them in the file already.
 */
static int
snapshot_digest(const struct mqe2e_keybundle *kb, uint64_t now_ms,
    uint8_t out[MQE2E_SHA256_LEN])
{
	size_t i, len;
	uint8_t *buf, *p;
	int r;

	if (kb->ngroups > SIZE_MAX / 2 / DIGEST_GROUP || kb->nkeys > SIZE_MAX / 2 / DIGEST_KEY)
		return MQE2E_ERR_TOO_LONG;
	len = kb->ngroups * DIGEST_GROUP + kb->nkeys * DIGEST_KEY;
	if ((p = buf = calloc(1, len + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	for (i = 0; i < kb->ngroups; i++) {
		const struct mqe2e_group_info *g = &kb->groups[i];

		p = put_str(p, g->name, MQE2E_ID_MAX + 1);
		*p++ = g->scheme;
		*p++ = g->rights;
		p = put_str(p, g->filter, MQE2E_FILTER_MAX + 1);
	}
	for (i = 0; i < kb->nkeys; i++) {
		const struct mqe2e_key_entry *e = &kb->keys[i];

		if (e->not_after_ms != 0 && e->not_after_ms <= now_ms)
			continue;
		p = put_str(p, e->group, MQE2E_ID_MAX + 1);
		*p++ = e->scheme;
		*p++ = e->kind;
		p = put_u64(p, e->epoch, 4);
		p = put_u64(p, e->not_before_ms, 8);
		p = put_u64(p, e->not_after_ms, 8);
		memcpy(p, e->key, MQE2E_KEY_LEN);
		p += MQE2E_KEY_LEN;
	}
	r = mqe2e_sha256(buf, (size_t)(p - buf), out);
	mqe2e_free_secret(buf, len + 1);
	return r;
}

static int cache_read(struct mqe2e_client *c, struct mqe2e_keybundle *kb,
    struct mqe2e_keycache_info *hdr, char *why, size_t whylen);

/* The digest of what the cache file holds now and the time of the KMS
 * answer it holds, if it opens for this client (anything else:
 * MQE2E_ERR_NOT_FOUND, and the write goes ahead). */
static int
file_digest(struct mqe2e_client *c, uint64_t now_ms, uint8_t out[MQE2E_SHA256_LEN],
    uint64_t *answer_ms)
{
	struct mqe2e_keycache_info hdr;
	struct mqe2e_keybundle kb;
	char why[CLIENT_ERRMSG_MAX];
	int r;

	memset(&kb, 0, sizeof(kb));
	if ((r = cache_read(c, &kb, &hdr, why, sizeof(why))) == MQE2E_OK) {
		r = snapshot_digest(&kb, now_ms, out);
		*answer_ms = hdr.written_ms;
	}
	mqe2e_keybundle_free(&kb);
	return r == MQE2E_OK ? r : MQE2E_ERR_NOT_FOUND;
}

/* fsync the directory holding path, so that the rename survives a crash. */
static int
sync_dir(const char *path)
{
	char *copy;
	int fd, r = 0;

	if ((copy = strdup(path)) == NULL)
		return -1;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = -1;
	} else {
		if (fsync(fd) != 0 && errno != EINVAL)
			r = -1;
		(void)close(fd);
	}
	free(copy);
	return r;
}

/* "<path>.spare": the second file a cache is written through. */
static char *
spare_name(const char *path)
{
	size_t n = strlen(path) + sizeof(SPARE_SUFFIX);
	char *s;

	if ((s = malloc(n)) != NULL)
		(void)snprintf(s, n, "%s%s", path, SPARE_SUFFIX);
	return s;
}

/*
 * The spare, opened for writing (created 0600 if missing) and locked
 * (flock), and still the file of that name once the lock is held: a writer
 * of another process that held it meanwhile has made it the cache by the
 * exchange, so the name is opened again.  -1 with errno set.
 */
static int
open_spare(const char *spare)
{
	struct stat held, named;
	int fd, tries, locked;

	for (tries = 0; tries < 8; tries++) {
		/* O_NONBLOCK: something else than a file there (a FIFO) must not
		 * hang the keys thread; it is refused below */
		if ((fd = open(spare, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		    S_IRUSR | S_IWUSR)) < 0) {
			/* a link there (the exchange moved one that path was):
			 * the name is ours, the link goes */
			if (errno == ELOOP && unlink(spare) == 0)
				continue;
			return -1;
		}
		while ((locked = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
			;
		/* without locks on this file system (ENOLCK, EOPNOTSUPP) the
		 * write goes on unlocked, as the temporary file did: only two
		 * processes of one identity could meet, and a file they mixed
		 * would not open (its seal) */
		if ((locked != 0 && errno != ENOLCK && errno != EOPNOTSUPP) ||
		    fstat(fd, &held) != 0) {
			int e = errno;

			(void)close(fd);
			errno = e;
			return -1;
		}
		if (!S_ISREG(held.st_mode)) {
			(void)close(fd);
			errno = EINVAL;
			return -1;
		}
		if (lstat(spare, &named) == 0 && named.st_dev == held.st_dev &&
		    named.st_ino == held.st_ino)
			return fd;
		(void)close(fd);
	}
	errno = EBUSY;          /* another process keeps writing this cache */
	return -1;
}

/*
 * Write p[0..len) to path atomically, mode 0600; why gets errno's story.
 *
 * The bytes go to the spare beside path (locked, truncated, written,
 * fsync'd), which then trades places with path in one
 * renameat2(RENAME_EXCHANGE): path is always a whole file, old or new, and
 * the spare holds the previous cache, whole, until the next write - also
 * after a power cut that undoes the exchange (the directory is not synced).
 * Two files that stay, instead of a new temporary file renamed over path
 * each time: creating a file
 * allocates an inode, and ext4 without a journal skips every inode freed
 * in the last seconds while looking for one - the largest CPU cost of a
 * client's first fetch in a process of many (docs/BENCHMARKS.md,
 * "Readiness (session 7)").  The first write (no path yet) is a rename.
 */
static int
write_atomic(const char *path, const uint8_t *p, size_t len, char *why, size_t whylen)
{
	const char *step = "open the spare file beside";
	char *spare;
	size_t off = 0;
	ssize_t w;
	int fd = -1, r = MQE2E_ERR_IO;

	if ((spare = spare_name(path)) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((fd = open_spare(spare)) < 0)
		goto fail;
	step = "write";
	if (ftruncate(fd, 0) != 0 || fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto fail;
	while (off < len) {
		if ((w = write(fd, p + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	step = "sync";
	if (fsync(fd) != 0)
		goto fail;
	step = "move the spare file onto";
	if (renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_EXCHANGE) != 0) {
		/* no cache yet, or a file system without the exchange */
		if ((errno != ENOENT && errno != EINVAL && errno != ENOSYS) ||
		    rename(spare, path) != 0)
			goto fail;
	}
	(void)close(fd);        /* synced: close has nothing left to report */
	fd = -1;
	free(spare);
	return MQE2E_OK;
fail:
	if (errno == ENOSPC || errno == EDQUOT)
		r = MQE2E_ERR_NO_SPACE;
	client__fmt(why, whylen, "cannot %s it (%s): %s", step, spare, strerror(errno));
	if (fd >= 0) {
		if (ftruncate(fd, 0) != 0) {    /* no half-written keys left */
			/* nothing more to do: the spare is never read */
		}
		(void)close(fd);
	}
	free(spare);
	return r;
}

void
cache__save(struct mqe2e_client *c)
{
	struct mqe2e_keybundle kb;
	uint8_t digest[MQE2E_SHA256_LEN], *file = NULL;
	size_t len = 0;
	char why[CLIENT_ERRMSG_MAX] = "";
	uint64_t now = mqe2e_now_ms(), answer, refresh_ms;
	int r, report = 0;

	if (c->cache_path == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	r = snapshot(c, &kb, now);
	answer = c->keys_answer_ms != 0 ? c->keys_answer_ms : now;
	refresh_ms = (uint64_t)c->cfg.key_refresh_s * 1000u;
	pthread_mutex_unlock(&c->mu);
	if (r != MQE2E_OK) {
		client__fmt(why, sizeof(why), "out of memory");
		goto out;
	}
	if ((r = snapshot_digest(&kb, now, digest)) != MQE2E_OK) {
		client__fmt(why, sizeof(why), "%s", mqe2e_strerror(r));
		goto out;
	}
	/* not written by this process yet: what does the file hold?  A
	 * client restarted with the same keys leaves it as it is (no write,
	 * no fsync; the read costs a fraction of that) */
	if (!c->cache_digest_set && !c->cache_failing &&
	    file_digest(c, now, c->cache_digest, &c->cache_answer_ms) == MQE2E_OK)
		c->cache_digest_set = 1;
	/* The same keys are written again only to renew the answer's time
	 * once it is half a refresh period old: a restart starts from a
	 * file answered less than key_refresh_s ago without asking the KMS
	 * (cache__load), so a device whose keys do not change still writes
	 * at most once per half period (and one whose groups rotate writes
	 * at each rotation anyway). */
	if (c->cache_digest_set && mqe2e_ct_equal(digest, c->cache_digest, sizeof(digest)) &&
	    !c->cache_failing && c->cache_answer_ms + refresh_ms / 2 > answer)
		goto out;               /* the file holds this already */
	if ((r = mqe2e_keycache_seal(c->ident, &kb, answer, &file, &len)) != MQE2E_OK) {
		client__fmt(why, sizeof(why), "cannot seal %zu keys of %zu groups: %s",
		    kb.nkeys, kb.ngroups, mqe2e_strerror(r));
		goto out;
	}
	if ((r = write_atomic(c->cache_path, file, len, why, sizeof(why))) != MQE2E_OK)
		goto out;
	memcpy(c->cache_digest, digest, sizeof(digest));
	c->cache_digest_set = 1;
	c->cache_answer_ms = answer;
out:
	/* kms_mu serialises the writers: cache_failing needs no other lock */
	if (r != MQE2E_OK) {
		report = !c->cache_failing;
		c->cache_failing = 1;
	} else {
		c->cache_failing = 0;  /* a later failure is news again */
	}
	mqe2e_keybundle_free(&kb);
	mqe2e_free_secret(file, len);
	if (report)
		client__report(c, r, NULL, NULL, NULL, 0, "cannot write the key cache %s: %s; "
		    "a restart while the KMS is down would find no keys (give a writable "
		    "key_cache_file, or key_cache 0 to do without)", c->cache_path, why);
}

/*
 * The writer.  A fetch that changed the keys marks the client's cache dirty
 * and queues the client here (cache__queue); one thread of the process
 * writes the queued caches one after another, at the lowest CPU priority
 * (SCHED_IDLE, lowest_priority).  A cache only matters at the
 * next start, so its write - the seal, the file's write, an fsync and the
 * exchange, ~0.3 ms of CPU - must not take the CPU from what waits now:
 * when 200 clients of a process connect at once, their 200 writes used to
 * run on their keys threads at the connectors' priority, a ninth of the
 * process's CPU in the connect (BENCHMARKS.md, "Readiness (session 15)");
 * now they run in the CPU the connects leave.  A busy machine still gives
 * a SCHED_IDLE thread a share (0.3 % of a CPU against one busy thread), so
 * a write is late, never lost; mqe2e_client_free writes what is still due.
 *
 * The writes also wait until the fetches have settled: the queue takes no
 * write before CACHE_SETTLE_MS have passed without a new one queued (or
 * the oldest has waited CACHE_SETTLE_MAX_MS).  SCHED_IDLE keeps the
 * writer's own CPU time out of the way, not the work a write makes for the
 * rest of the machine: the fsync's journal commit runs in the kernel's
 * threads at their priority, and on a virtual machine each of its disk
 * notifications stops the CPU for an exit to the hypervisor.  200 clients
 * of one process starting with no cache were all ready 43 ms later (the
 * medians) with their 200 writes in the connect window than without any
 * (BENCHMARKS.md, "Readiness (session 17)"); settled, the writes follow
 * the burst of fetches instead of sharing it.  A lone client's write comes
 * CACHE_SETTLE_MS after its fetch.
 *
 * The thread starts with the process's first client that has a cache and
 * is joined with its last (no thread of the library outlives its clients).
 *
 * Locking: wr_mu guards the queue; it is never held while writing, and
 * never taken with a client's mu or kms_mu held.
 */
#define CACHE_SETTLE_MS 500
#define CACHE_SETTLE_MAX_MS 5000

static pthread_mutex_t wr_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wr_cv;            /* wr_cv_init() */
static struct mqe2e_client *wr_head, *wr_tail;  /* [wr_mu] queued, oldest first */
static struct mqe2e_client *wr_busy;    /* [wr_mu] being written now */
static uint64_t wr_last_ms;             /* [wr_mu] when the newest was queued */
static pthread_once_t wr_once = PTHREAD_ONCE_INIT;
static int wr_cv_ok;                    /* wr_cv waits on CLOCK_MONOTONIC */

static void
wr_cv_init(void)
{
	wr_cv_ok = mqe2e_cond_init_mono(&wr_cv) == 0;
}
static void *writer_main(void *arg);
/* [wr_mu] the writer, held by the clients with a cache */
static struct proc_thread writer = { writer_main, 0, 0, 0, 0 };

/* This thread runs only on CPU time no other thread of the machine wants
 * now: SCHED_IDLE (Linux; any thread that wakes takes the CPU from it at
 * once), else nice 19 (setpriority on the thread's id: this thread only on
 * Linux).  Failing both, the writes run at the normal priority. */
static void
lowest_priority(void)
{
#ifdef SCHED_IDLE
	struct sched_param sp;

	memset(&sp, 0, sizeof(sp));
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0)
		return;
#endif
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
}

static void *
writer_main(void *arg)
{
	uintptr_t gen = (uintptr_t)arg;
	struct mqe2e_client *c;
	struct timespec ts;
	uint64_t now, due;

	(void)pthread_setname_np(pthread_self(), "mqe2e-cache");
	lowest_priority();
	/* a failed write is reported from here, to the error callback: as on
	 * the keys thread that wrote before, calls inside it must not wait for
	 * anything a thread of ours does */
	client__paho_thread_enter();
	pthread_mutex_lock(&wr_mu);
	while (client__thread_current(&writer, gen)) {
		if ((c = wr_head) == NULL) {
			(void)pthread_cond_wait(&wr_cv, &wr_mu);
			continue;
		}
		/* settled: CACHE_SETTLE_MS without a new write queued, or the
		 * oldest queued CACHE_SETTLE_MAX_MS ago (a new one or the
		 * writer's end wakes the wait: the broadcasts) */
		now = client__mono_ms();
		due = wr_last_ms + CACHE_SETTLE_MS;
		if (c->cache_queued_ms + CACHE_SETTLE_MAX_MS < due)
			due = c->cache_queued_ms + CACHE_SETTLE_MAX_MS;
		if (now < due) {
			mqe2e_mono_deadline(&ts, (int64_t)(due - now));
			(void)mqe2e_cond_wait_until(&wr_cv, &wr_mu, &ts);
			continue;
		}
		if ((wr_head = c->cache_next) == NULL)
			wr_tail = NULL;
		c->cache_next = NULL;
		c->cache_queued = 0;
		wr_busy = c;
		pthread_mutex_unlock(&wr_mu);
		cache__flush(c);
		pthread_mutex_lock(&wr_mu);
		wr_busy = NULL;
		(void)pthread_cond_broadcast(&wr_cv);   /* an unregister may wait */
	}
	pthread_mutex_unlock(&wr_mu);
	return NULL;
}

/* c has a cache: the writer runs from now until its cache__unregister. */
static int
writer_register(struct mqe2e_client *c)
{
	int r;

	(void)pthread_once(&wr_once, wr_cv_init);
	if (!wr_cv_ok)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_lock(&wr_mu);
	if ((r = client__thread_hold(&writer)) == MQE2E_OK)
		c->cache_registered = 1;
	pthread_mutex_unlock(&wr_mu);
	return r;
}

void
cache__queue(struct mqe2e_client *c)
{
	pthread_mutex_lock(&wr_mu);
	/* queued again while being written: the write under way may have
	 * taken its snapshot before this fetch's keys */
	if (c->cache_registered && !c->cache_queued) {
		c->cache_next = NULL;
		if (wr_tail != NULL)
			wr_tail->cache_next = c;
		else
			wr_head = c;
		wr_tail = c;
		c->cache_queued = 1;
		c->cache_queued_ms = wr_last_ms = client__mono_ms();
		(void)pthread_cond_broadcast(&wr_cv);
	}
	pthread_mutex_unlock(&wr_mu);
}

void
cache__unregister(struct mqe2e_client *c)
{
	struct mqe2e_client **pp, *prev = NULL;
	pthread_t th;
	int join;

	pthread_mutex_lock(&wr_mu);
	if (!c->cache_registered) {
		pthread_mutex_unlock(&wr_mu);
		return;
	}
	if (c->cache_queued) {
		for (pp = &wr_head; *pp != NULL && *pp != c; pp = &(*pp)->cache_next)
			prev = *pp;
		if (*pp == c) {
			*pp = c->cache_next;
			if (wr_tail == c)
				wr_tail = prev;
		}
		c->cache_next = NULL;
		c->cache_queued = 0;
	}
	while (wr_busy == c)
		(void)pthread_cond_wait(&wr_cv, &wr_mu);
	c->cache_registered = 0;
	if ((join = client__thread_release(&writer, &th)) != 0)
		(void)pthread_cond_broadcast(&wr_cv);
	pthread_mutex_unlock(&wr_mu);
	if (join)
		pthread_join(th, NULL);
}

void
cache__flush(struct mqe2e_client *c)
{
	int dirty;

	pthread_mutex_lock(&c->kms_mu);
	pthread_mutex_lock(&c->mu);
	dirty = c->cache_dirty;
	c->cache_dirty = 0;
	pthread_mutex_unlock(&c->mu);
	if (dirty)
		cache__save(c);
	pthread_mutex_unlock(&c->kms_mu);
}

/* Read the whole file (at most MQE2E_KEYCACHE_MAX bytes) into *out. */
static int
read_file(const char *path, uint8_t **out, size_t *len, char *why, size_t whylen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	ssize_t n;
	int fd, r = MQE2E_ERR_IO;

	*out = NULL;
	*len = 0;
	memset(&st, 0, sizeof(st));
	/* O_NONBLOCK: a FIFO planted at the name must not hang the thread
	 * (it is refused below: not a regular file) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		if (errno == ENOENT)
			return MQE2E_ERR_NOT_FOUND;
		client__fmt(why, whylen, "cannot open it: %s", strerror(errno));
		return MQE2E_ERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		client__fmt(why, whylen, "cannot stat it: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		client__fmt(why, whylen, "it is not a regular file");
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((uint64_t)st.st_size > MQE2E_KEYCACHE_MAX) {
		client__fmt(why, whylen, "it is %lld bytes, more than a key cache can be",
		    (long long)st.st_size);
		r = MQE2E_ERR_TOO_LONG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		client__fmt(why, whylen, "out of memory");
		goto out;
	}
	/* one byte more than fstat said: a file that grows is not read short */
	while (off <= (size_t)st.st_size) {
		if ((n = read(fd, buf + off, (size_t)st.st_size + 1 - off)) < 0) {
			if (errno == EINTR)
				continue;
			client__fmt(why, whylen, "cannot read it: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	if (off > (size_t)st.st_size) {
		client__fmt(why, whylen, "it changed while being read");
		goto out;
	}
	*out = buf;
	*len = off;
	buf = NULL;
	r = MQE2E_OK;
out:
	(void)close(fd);
	mqe2e_free_secret(buf, (size_t)st.st_size + 1);
	return r;
}

/* The refusal of mqe2e_keycache_open as a sentence. */
static void
refusal(const struct mqe2e_client *c, int r, const struct mqe2e_keycache_info *hdr,
    char *why, size_t whylen)
{
	switch (r) {
	case MQE2E_ERR_ID_MISMATCH:
		client__fmt(why, whylen, "it was written for client '%s' (certificate serial %s), "
		    "not for this client '%s' (serial %s)", hdr->id, hdr->serial, c->id,
		    c->ident->serial);
		break;
	case MQE2E_ERR_BAD_TAG:
		client__fmt(why, whylen, "its seal does not verify: the file was altered, or "
		    "sealed under another private key");
		break;
	case MQE2E_ERR_BAD_VERSION:
		client__fmt(why, whylen, "it is a key cache of a version this libmqe2e does "
		    "not read");
		break;
	default:
		client__fmt(why, whylen, "it is not a key cache file (%s)", mqe2e_strerror(r));
		break;
	}
}

/* Read and open the cache file into kb (free with mqe2e_keybundle_free
 * even on failure): MQE2E_ERR_NOT_FOUND only when there is no file; a file
 * that cannot be read or opened is another error, with why saying what is
 * wrong with it (an open's own NOT_FOUND is reported as BAD_FORMAT). */
static int
cache_read(struct mqe2e_client *c, struct mqe2e_keybundle *kb,
    struct mqe2e_keycache_info *hdr, char *why, size_t whylen)
{
	uint8_t *file = NULL;
	size_t len = 0;
	int r;

	if ((r = read_file(c->cache_path, &file, &len, why, whylen)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_keycache_open(c->ident, file, len, kb, hdr)) != MQE2E_OK) {
		refusal(c, r, hdr, why, whylen);
		if (r == MQE2E_ERR_NOT_FOUND)
			r = MQE2E_ERR_BAD_FORMAT;
	}
	mqe2e_free_secret(file, len);
	return r;
}

/* A start from a cache whose answer time is ahead of the clock by more
 * than this asks the KMS (the clock was set back, or the file is odd). */
#define CACHE_AHEAD_MS 60000

int
cache__load(struct mqe2e_client *c, int start, char *msg, size_t msglen)
{
	struct mqe2e_keycache_info hdr;
	struct mqe2e_keybundle kb;
	size_t i, nkeys, ngroups;
	uint64_t now = mqe2e_now_ms(), newest = now, refresh_ms, age;
	uint8_t digest[MQE2E_SHA256_LEN];
	char why[CLIENT_ERRMSG_MAX];
	int r, digest_set;

	msg[0] = '\0';
	memset(&kb, 0, sizeof(kb));
	if (c->cache_path == NULL)
		return MQE2E_ERR_NOT_FOUND;
	if ((r = cache_read(c, &kb, &hdr, why, sizeof(why))) == MQE2E_ERR_NOT_FOUND)
		return r;
	if (r != MQE2E_OK) {
		client__fmt(msg, msglen, "the key cache %s is refused and ignored: %s",
		    c->cache_path, why);
		mqe2e_keybundle_free(&kb);
		return r;
	}
	age = now > hdr.written_ms ? now - hdr.written_ms : 0;
	refresh_ms = (uint64_t)c->cfg.key_refresh_s * 1000u;
	if (start && (age >= refresh_ms || hdr.written_ms > now + CACHE_AHEAD_MS)) {
		/* as old as a running client's keys get: the KMS first */
		client__fmt(msg, msglen, "the key cache %s holds a KMS answer of %llu s ago "
		    "(key_refresh_s %u)", c->cache_path, (unsigned long long)age / 1000u,
		    c->cfg.key_refresh_s);
		mqe2e_keybundle_free(&kb);
		return MQE2E_ERR_EXPIRED_KEY;
	}
	for (i = 0, nkeys = 0; i < kb.nkeys; i++) {
		if (kb.keys[i].not_after_ms != 0 && kb.keys[i].not_after_ms <= now)
			continue;
		nkeys++;
		if (kb.keys[i].not_after_ms == 0)
			newest = UINT64_MAX - 1;   /* no end: reported as very long */
		else if (kb.keys[i].not_after_ms > newest)
			newest = kb.keys[i].not_after_ms;
	}
	if (nkeys == 0) {
		client__fmt(msg, msglen, "the key cache %s holds no key valid now (written "
		    "%llu s ago; every epoch in it has ended)", c->cache_path,
		    (unsigned long long)age / 1000u);
		mqe2e_keybundle_free(&kb);
		return MQE2E_ERR_EXPIRED_KEY;
	}
	ngroups = kb.ngroups;       /* keys__install takes the table */
	/* what the file holds, so that cache__save need not read it again to
	 * know: no write until a KMS answer changes the keys or is half a
	 * refresh period newer than this one */
	digest_set = snapshot_digest(&kb, now, digest) == MQE2E_OK;
	if ((r = keys__install(c, &kb, NULL, start ? hdr.written_ms : 0, why,
	    sizeof(why))) != MQE2E_OK) {
		client__fmt(msg, msglen, "the key cache %s cannot be used: %s", c->cache_path, why);
		mqe2e_keybundle_free(&kb);
		return r;
	}
	if (digest_set) {
		memcpy(c->cache_digest, digest, sizeof(digest));
		c->cache_digest_set = 1;
		c->cache_answer_ms = hdr.written_ms;
	}
	if (!start) {
		/* the KMS did not answer: what the client works with is news
		 * (a start from a fresh cache is what a restart does) */
		client__fmt(msg, msglen, "working from the key cache %s, written %llu s "
		    "ago: %zu keys of %zu groups, the last valid for %llu s more",
		    c->cache_path, (unsigned long long)age / 1000u, nkeys, ngroups,
		    (unsigned long long)(newest - now) / 1000u);
	}
	mqe2e_keybundle_free(&kb);
	return MQE2E_OK;
}

void
cache__forget(struct mqe2e_client *c)
{
	char *spare;

	if (c->cache_path == NULL)
		return;
	/* the spare first: it holds the previous keys */
	if ((spare = spare_name(c->cache_path)) != NULL) {
		(void)unlink(spare);
		free(spare);
	}
	if (unlink(c->cache_path) == 0 || errno == ENOENT) {
		c->cache_digest_set = 0;
		(void)sync_dir(c->cache_path);
	}
}
