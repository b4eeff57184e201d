/*
 * kms.c - "mqe2e-bench kms": the benchmark of the key service.
 *
 *   keys    key requests per second and KMS CPU per request at 1, 2, 4, 8
 *           concurrent requesters (each a thread that builds a signed
 *           KEY_REQUEST, POSTs it to /v1/keys and waits for the answer),
 *           for this build's mqe2e-kmsd and, side by side in the same run,
 *           a baseline binary (--baseline-kmsd), each on its own data dir;
 *   storm   N libmqe2e clients started at once (one thread each, released
 *           together) against a KMS and a Mosquitto with the plugin at
 *           default settings: time until all are ready, failures;
 *   policy  the cost of one policy change at scale (C clients, G groups):
 *           bytes of what a broker downloads and ms from the change until
 *           its policy watch has answered, for a watch taking full
 *           snapshots and one taking deltas (as the plugin does).
 *
 * Every figure is printed as a Markdown table on stdout (and to -o FILE).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "bench.h"
#include "crypto.h"
#include "handshake.h"
#include "http.h"
#include "keyload.h"
#include "kmsreq.h"

#define KB_MAX_DAEMONS 2
#define KB_MAX_LEVELS 8
#define KB_MAX_THREADS 64
#define KB_TIMEOUT_MS 10000
#define KB_GROUP "kb"
#define KB_VERIFY_EVERY 16      /* open and verify every Nth answer */
#define KB_PRESIGN_RATE 6000.0  /* requests/s signed ahead for a cell, all requesters */

/*
 * The key load's KMS settings: a few identities send thousands of requests,
 * so their per-client share (client_quota) and the replay cache
 * (nonce_cache_size) are raised; neither changes the work of a request.
 */
static const char kb_conf[] =
    "client_quota = 1000000\n"
    "nonce_cache_size = 1048576\n";

struct kb_daemon {
	const char *label;
	const char *exe;
	struct bench_env env;
	struct mqe2e_identity **ids;
	int nids;
	struct mqe2e_trust *trust;
};

struct kb_result {
	int threads;
	double secs;
	uint64_t ok, busy, other, errors, bad, late;
	double rps, cpu_ms_per_req;
	struct bench_summary lat;
	char first_err[256];
};

/* The start of a cell: the requesters sign their shares, then wait until
 * all have (ready) and the window opens (go, deadline set). */
struct kb_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready, go;
	uint64_t deadline_ns;
};

struct kb_worker {
	struct kb_daemon *d;
	int idx, nthreads;
	size_t presign;                 /* requests to sign before the window */
	struct kb_gate *gate;
	struct sockaddr_in sa;
	char hostport[64];
	uint64_t ok, busy, other, errors, bad, late;
	double *lat;
	size_t nlat, cap;
	char first_err[256];
};

struct kms_bench {
	char dir[BENCH_PATH_MAX];
	const char *kmsd, *baseline, *plugin, *mosquitto, *out;
	int levels[KB_MAX_LEVELS], nlevels;
	double secs;
	int nids;
	int storm, storm_timeout_ms;
	int policy_clients, policy_groups;
	int keep, skip_keys, storm_key_cache;
	FILE *outf;
};

/* Print to stdout and to the -o file. */
static void __attribute__((format(printf, 2, 3)))
kb_out(struct kms_bench *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (b->outf != NULL) {
		va_start(ap, fmt);
		vfprintf(b->outf, fmt, ap);
		va_end(ap);
		fflush(b->outf);
	}
}

static int
kb_record(struct kb_worker *w, double ms)
{
	if (w->nlat == w->cap) {
		size_t cap = w->cap == 0 ? 4096 : 2 * w->cap;
		double *n = realloc(w->lat, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		w->lat = n;
		w->cap = cap;
	}
	w->lat[w->nlat++] = ms;
	return 0;
}

/* One requester: signs its share of requests, waits for the start, then
 * POSTs them back to back until the deadline (signing more, counted as
 * late, if its share runs out). */
static void *
kb_worker_main(void *arg)
{
	struct kb_worker *w = arg;
	struct kb_daemon *d = w->d;
	struct kl_batch batch;
	struct kl_answer *ans;
	size_t next = 0;
	uint64_t n = 0, deadline;
	char err[256];

	memset(&batch, 0, sizeof(batch));
	if ((ans = malloc(sizeof(*ans))) == NULL) {
		bench_fmt(w->first_err, sizeof(w->first_err), "out of memory");
		w->errors++;
	} else if (kl_batch_sign(&batch, d->ids, (size_t)d->nids, (size_t)w->idx,
	    (size_t)w->nthreads, w->presign, err, sizeof(err)) != 0) {
		bench_fmt(w->first_err, sizeof(w->first_err), "%s", err);
		w->errors++;
	}
	pthread_mutex_lock(&w->gate->mu);
	w->gate->ready++;
	pthread_cond_broadcast(&w->gate->cv);
	while (!w->gate->go)
		pthread_cond_wait(&w->gate->cv, &w->gate->mu);
	deadline = w->gate->deadline_ns;
	pthread_mutex_unlock(&w->gate->mu);
	while (ans != NULL && w->errors == 0 && bench_now_ns() < deadline) {
		struct kl_batch late;
		struct kl_req *q;
		uint64_t t0;

		memset(&late, 0, sizeof(late));
		if (next < batch.n) {
			q = &batch.r[next++];
		} else {
			/* the share ran out: sign in the window (counted) */
			if (kl_batch_sign(&late, d->ids, (size_t)d->nids, (size_t)w->idx +
			    n * (uint64_t)w->nthreads, (size_t)w->nthreads, 1, err,
			    sizeof(err)) != 0) {
				bench_fmt(w->first_err, sizeof(w->first_err), "%s", err);
				w->errors++;
				break;
			}
			w->late++;
			q = &late.r[0];
		}
		n++;
		t0 = bench_now_ns();
		/* a connection per request, as a client's key fetch */
		if (kl_post(&w->sa, w->hostport, "/v1/keys", q, KB_TIMEOUT_MS, ans) != 0) {
			w->errors++;
			if (w->first_err[0] == '\0')
				bench_fmt(w->first_err, sizeof(w->first_err), "%s", ans->error);
		} else if (ans->status == 200) {
			w->ok++;
			if (kb_record(w, (double)(bench_now_ns() - t0) / 1e6) != 0)
				w->errors++;
			if (w->ok % KB_VERIFY_EVERY == 1) {
				struct mqe2e_keybundle kb;

				memset(&kb, 0, sizeof(kb));
				if (mqe2e_keyresp_open(q->st, d->trust, ans->body, ans->body_len,
				    mqe2e_now_ms(), &kb) != MQE2E_OK || kb.nkeys == 0) {
					w->bad++;
					if (w->first_err[0] == '\0')
						bench_fmt(w->first_err, sizeof(w->first_err),
						    "an answer did not verify or carried no key");
				}
				mqe2e_keybundle_free(&kb);
			}
		} else if (ans->status == 503 || ans->status == 429) {
			w->busy++;
		} else {
			w->other++;
			if (w->first_err[0] == '\0')
				bench_fmt(w->first_err, sizeof(w->first_err), "HTTP %d: %.*s",
				    ans->status, (int)(ans->body_len < 200 ? ans->body_len : 200),
				    (const char *)ans->body);
		}
		kl_batch_free(&late);
	}
	kl_batch_free(&batch);
	free(ans);
	return NULL;
}

/* CPU time of a process in ms (utime + stime: includes exited threads). */
static double
kb_cpu_ms(pid_t pid)
{
	struct bench_procstat ps;

	if (bench_procstat(pid, &ps) != 0)
		return -1;
	return (double)ps.cpu_ticks * 1000.0 / (double)bench_clk_tck();
}

static int
kb_run(struct kb_daemon *d, int nthreads, double secs, struct kb_result *res)
{
	struct kb_worker w[KB_MAX_THREADS];
	pthread_t th[KB_MAX_THREADS];
	struct kb_gate gate;
	struct sockaddr_in sa;
	double cpu0, cpu1, *all = NULL;
	uint64_t t0, t1;
	size_t nall = 0, k;
	int i, started = 0;

	memset(res, 0, sizeof(*res));
	memset(w, 0, sizeof(w));
	memset(&gate, 0, sizeof(gate));
	memset(&sa, 0, sizeof(sa));
	res->threads = nthreads;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)d->env.kms_port);
	if (inet_pton(AF_INET, d->env.host, &sa.sin_addr) != 1) {
		bench_fmt(res->first_err, sizeof(res->first_err), "the key load needs an IPv4 "
		    "KMS address, not %s", d->env.host);
		return -1;
	}
	pthread_mutex_init(&gate.mu, NULL);
	pthread_cond_init(&gate.cv, NULL);
	for (i = 0; i < nthreads; i++) {
		w[i].d = d;
		w[i].idx = i;
		w[i].nthreads = nthreads;
		w[i].presign = (size_t)(secs * KB_PRESIGN_RATE / nthreads) + 1;
		w[i].gate = &gate;
		w[i].sa = sa;
		bench_fmt(w[i].hostport, sizeof(w[i].hostport), "%s:%d", d->env.host,
		    d->env.kms_port);
		if (pthread_create(&th[i], NULL, kb_worker_main, &w[i]) != 0)
			break;
		started++;
	}
	/* the window opens once every requester has signed its share */
	pthread_mutex_lock(&gate.mu);
	while (gate.ready < started)
		pthread_cond_wait(&gate.cv, &gate.mu);
	cpu0 = kb_cpu_ms(d->env.kms_pid);
	t0 = bench_now_ns();
	gate.deadline_ns = t0 + (started == nthreads ? (uint64_t)(secs * 1e9) : 0);
	gate.go = 1;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_cond_destroy(&gate.cv);
	pthread_mutex_destroy(&gate.mu);
	t1 = bench_now_ns();
	cpu1 = kb_cpu_ms(d->env.kms_pid);
	for (i = 0; i < started; i++) {
		res->ok += w[i].ok;
		res->busy += w[i].busy;
		res->other += w[i].other;
		res->errors += w[i].errors;
		res->bad += w[i].bad;
		res->late += w[i].late;
		nall += w[i].nlat;
		if (res->first_err[0] == '\0' && w[i].first_err[0] != '\0')
			bench_fmt(res->first_err, sizeof(res->first_err), "%s", w[i].first_err);
	}
	if (nall > 0 && (all = malloc(nall * sizeof(*all))) != NULL) {
		for (i = 0, k = 0; i < started; i++) {
			memcpy(all + k, w[i].lat, w[i].nlat * sizeof(*all));
			k += w[i].nlat;
		}
		bench_summarise(all, nall, &res->lat);
	}
	free(all);
	for (i = 0; i < started; i++)
		free(w[i].lat);
	res->secs = (double)(t1 - t0) / 1e9;
	res->rps = res->secs > 0 ? (double)res->ok / res->secs : 0;
	res->cpu_ms_per_req = res->ok > 0 && cpu0 >= 0 && cpu1 >= 0 ?
	    (cpu1 - cpu0) / (double)res->ok : 0;
	return started == nthreads ? 0 : -1;
}

/* A KMS of its own for the key load: one group, nids subscribers of it. */
static int
kb_daemon_start(struct kms_bench *b, struct kb_daemon *d, int idx)
{
	char pki[BENCH_PATH_MAX], name[BENCH_ID_MAX], crt[BENCH_PATH_MAX], key[BENCH_PATH_MAX];
	char err[256];
	int i;

	bench_fmt(d->env.dir, sizeof(d->env.dir), "%s/keys-%d", b->dir, idx);
	bench_fmt(d->env.host, sizeof(d->env.host), "127.0.0.1");
	bench_fmt(pki, sizeof(pki), "%s/pki", d->env.dir);
	if ((mkdir(d->env.dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(pki, 0700) != 0 && errno != EEXIST)) {
		bench_log("cannot create %s: %s", pki, strerror(errno));
		return -1;
	}
	if (env_start_kms(&d->env, d->exe, kb_conf) != 0)
		return -1;
	bench_log("%s: %s on %s (pid %d); enrolling %d requesters", d->label, d->exe,
	    d->env.kms_url, (int)d->env.kms_pid, b->nids);
	if (env_kms_post(&d->env, "/v1/groups", json_pack("{s:s,s:s,s:i}", "name", KB_GROUP,
	    "filter", "kb/#", "scheme", 3), 1, NULL) != 0)
		return -1;
	if ((d->ids = calloc((size_t)b->nids, sizeof(*d->ids))) == NULL)
		return -1;
	for (i = 0; i < b->nids; i++) {
		bench_fmt(name, sizeof(name), "kr%04d", i + 1);
		bench_fmt(crt, sizeof(crt), "%s/%s.crt", pki, name);
		bench_fmt(key, sizeof(key), "%s/%s.key", pki, name);
		if (env_enrol(&d->env, pki, name, "client") != 0 ||
		    env_grant(&d->env, name, KB_GROUP, "sub") != 0)
			return -1;
		if (mqe2e_identity_load(crt, key, &d->ids[i], err, sizeof(err)) != MQE2E_OK) {
			bench_log("%s", err);
			return -1;
		}
		d->nids = i + 1;
	}
	bench_fmt(crt, sizeof(crt), "%s/ca.crt", pki);
	if (mqe2e_trust_new(crt, &d->trust, err, sizeof(err)) != MQE2E_OK) {
		bench_log("%s", err);
		return -1;
	}
	return 0;
}

static void
kb_daemon_stop(struct kb_daemon *d)
{
	int i;

	env_stop(&d->env);
	for (i = 0; i < d->nids; i++)
		mqe2e_identity_free(d->ids[i]);
	free(d->ids);
	d->ids = NULL;
	d->nids = 0;
	mqe2e_trust_free(d->trust);
	d->trust = NULL;
}

static int
bench_keys(struct kms_bench *b)
{
	struct kb_daemon d[KB_MAX_DAEMONS];
	struct kb_result res[KB_MAX_DAEMONS][KB_MAX_LEVELS];
	int nd = 0, i, l, rc = -1;

	memset(d, 0, sizeof(d));
	memset(res, 0, sizeof(res));
	if (b->baseline != NULL) {
		d[nd].label = "baseline";
		d[nd++].exe = b->baseline;
	}
	d[nd].label = "this build";
	d[nd++].exe = b->kmsd;
	for (i = 0; i < nd; i++)
		if (kb_daemon_start(b, &d[i], i) != 0)
			goto out;
	/* Level by level, the daemons one after the other: side by side on a
	 * machine whose load drifts. */
	for (l = 0; l < b->nlevels; l++) {
		for (i = 0; i < nd; i++) {
			bench_log("keys: %s, %d requester(s), %.1f s", d[i].label, b->levels[l],
			    b->secs);
			(void)kb_run(&d[i], b->levels[l], b->secs, &res[i][l]);
		}
	}
	kb_out(b, "\n### Key requests (POST /v1/keys), %.1f s per cell, %d requester "
	    "identities, 1 group (4 keys per answer)\n\n", b->secs, b->nids);
	kb_out(b, "Load: each requester signs its share of KEY_REQUESTs (%.0f per second of "
	    "cell, all requesters) before the window, then POSTs them back to back, each on a "
	    "new connection (HTTP/1.1, Connection: close); every %dth answer is opened and "
	    "verified; \"late\" counts requests signed inside the window when a share ran "
	    "out.  KMS CPU is the daemon's utime+stime over the window per answer 200.\n\n",
	    KB_PRESIGN_RATE, KB_VERIFY_EVERY);
	kb_out(b, "| kmsd | requesters | ok | 503/429 | other | errors | bad | late | req/s | "
	    "KMS CPU ms/req | p50 ms | p99 ms |\n");
	kb_out(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (l = 0; l < b->nlevels; l++) {
		for (i = 0; i < nd; i++) {
			struct kb_result *r = &res[i][l];

			kb_out(b, "| %s | %d | %llu | %llu | %llu | %llu | %llu | %llu | %.0f | "
			    "%.3f | %.2f | %.2f |\n", d[i].label, r->threads,
			    (unsigned long long)r->ok, (unsigned long long)r->busy,
			    (unsigned long long)r->other, (unsigned long long)r->errors,
			    (unsigned long long)r->bad, (unsigned long long)r->late, r->rps,
			    r->cpu_ms_per_req, r->lat.p50, r->lat.p99);
		}
	}
	if (nd == 2) {
		kb_out(b, "\n| requesters | req/s ratio (this build / baseline) | CPU per "
		    "request ratio |\n|---:|---:|---:|\n");
		for (l = 0; l < b->nlevels; l++)
			kb_out(b, "| %d | %.2f | %.2f |\n", b->levels[l], res[0][l].rps > 0 ?
			    res[1][l].rps / res[0][l].rps : 0, res[0][l].cpu_ms_per_req > 0 ?
			    res[1][l].cpu_ms_per_req / res[0][l].cpu_ms_per_req : 0);
	}
	for (i = 0; i < nd; i++)
		for (l = 0; l < b->nlevels; l++)
			if (res[i][l].first_err[0] != '\0')
				kb_out(b, "\nnote (%s, %d requesters): %s\n", d[i].label,
				    b->levels[l], res[i][l].first_err);
	rc = 0;
 out:
	for (i = 0; i < nd; i++)
		kb_daemon_stop(&d[i]);
	return rc;
}

/* ---- the connect storm --------------------------------------------------------- */

struct storm_client {
	struct storm *s;
	int idx;
	struct link *l;
	double ready_ms;        /* from the release, -1 failed */
	char err[256];
};

struct storm {
	struct bench_env *env;
	char pki[BENCH_PATH_MAX];
	char uri[BENCH_URI_MAX];
	int n, timeout_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int waiting, go;
	uint64_t t0;
	struct storm_client *c;
};

static void
storm_rx(void *arg, const uint8_t *pt, size_t len, int ok)
{
	(void)arg;
	(void)pt;
	(void)len;
	(void)ok;
}

static void *
storm_main(void *arg)
{
	struct storm_client *sc = arg;
	struct storm *s = sc->s;
	uint64_t t0;

	pthread_mutex_lock(&s->mu);
	s->waiting++;
	pthread_cond_broadcast(&s->cv);
	while (!s->go)
		pthread_cond_wait(&s->cv, &s->mu);
	t0 = s->t0;
	pthread_mutex_unlock(&s->mu);
	if (link_connect(sc->l, s->timeout_ms, sc->err, sizeof(sc->err)) == 0) {
		sc->ready_ms = (double)(bench_now_ns() - t0) / 1e6;
	} else {
		sc->ready_ms = -1;
	}
	return NULL;
}

struct storm_result {
	int n, ready, failed;
	double all_ready_ms;
	struct bench_summary lat;
	double kms_cpu_ms, broker_cpu_ms;
	char first_err[256];
};

/*
 * n clients (sub0001..) of scheme 3 connect at once: each thread created
 * and its link made first, then all released together.
 */
static int
bench_storm(struct bench_env *e, int n, int timeout_ms, int key_cache, struct storm_result *res)
{
	struct storm s;
	pthread_t *th = NULL;
	double *lat = NULL;
	double kcpu0, bcpu0;
	int i, started = 0, nl = 0;
	char err[256];

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	s.env = e;
	s.n = n;
	s.timeout_ms = timeout_ms;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	bench_fmt(s.pki, sizeof(s.pki), "%s/pki", e->dir);
	env_broker_uri(e, KIND_S3, NULL, s.uri, sizeof(s.uri));
	if ((s.c = calloc((size_t)n, sizeof(*s.c))) == NULL ||
	    (th = calloc((size_t)n, sizeof(*th))) == NULL ||
	    (lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		char id[BENCH_ID_MAX];
		struct link_opts lo;

		bench_sub_id(i + 1, id, sizeof(id));
		memset(&lo, 0, sizeof(lo));
		lo.kind = KIND_S3;
		lo.uri = s.uri;
		lo.id = id;
		lo.pki = s.pki;
		lo.kms_url = e->kms_url;
		/* Each device writes its key cache to its own disk; here all
		 * would queue for one (two fsyncs each), which measures the disk.
		 * --storm-key-cache measures it anyway. */
		lo.no_key_cache = !key_cache;
		s.c[i].s = &s;
		s.c[i].idx = i;
		if (link_new(&lo, storm_rx, &s.c[i], &s.c[i].l, err, sizeof(err)) != 0) {
			bench_log("storm: client %s: %s", id, err);
			goto out;
		}
		nl = i + 1;
	}
	for (i = 0; i < n; i++) {
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&th[i], &a, storm_main, &s.c[i]) != 0) {
			pthread_attr_destroy(&a);
			bench_log("storm: cannot start thread %d: %s", i + 1, strerror(errno));
			break;
		}
		pthread_attr_destroy(&a);
		started++;
	}
	pthread_mutex_lock(&s.mu);
	while (s.waiting < started)
		pthread_cond_wait(&s.cv, &s.mu);
	kcpu0 = kb_cpu_ms(e->kms_pid);
	bcpu0 = kb_cpu_ms(e->mq_pid);
	s.t0 = bench_now_ns();
	s.go = 1;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	res->kms_cpu_ms = kb_cpu_ms(e->kms_pid) - kcpu0;
	res->broker_cpu_ms = kb_cpu_ms(e->mq_pid) - bcpu0;
	res->n = n;
	res->failed = n - started;
	for (i = 0; i < started; i++) {
		if (s.c[i].ready_ms < 0) {
			res->failed++;
			if (res->first_err[0] == '\0') {
				char id[BENCH_ID_MAX];

				bench_sub_id(i + 1, id, sizeof(id));
				bench_fmt(res->first_err, sizeof(res->first_err), "%s: %s", id,
				    s.c[i].err);
			}
			continue;
		}
		lat[res->ready] = s.c[i].ready_ms;
		res->ready++;
		if (s.c[i].ready_ms > res->all_ready_ms)
			res->all_ready_ms = s.c[i].ready_ms;
	}
	bench_summarise(lat, (size_t)res->ready, &res->lat);
 out:
	for (i = 0; i < nl; i++) {
		link_disconnect(s.c[i].l);
		link_free(s.c[i].l);
	}
	free(s.c);
	free(th);
	free(lat);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	return res->n == n ? 0 : -1;
}

static int
bench_storm_run(struct kms_bench *b)
{
	struct bench_env e;
	struct storm_result r;
	int rc = -1;

	memset(&e, 0, sizeof(e));
	bench_fmt(e.dir, sizeof(e.dir), "%s/storm", b->dir);
	bench_fmt(e.host, sizeof(e.host), "127.0.0.1");
	bench_fmt(e.plugin, sizeof(e.plugin), "%s", b->plugin);
	bench_fmt(e.mosquitto, sizeof(e.mosquitto), "%s", b->mosquitto);
	e.nsubs = b->storm;
	if (mkdir(e.dir, 0700) != 0 && errno != EEXIST) {
		bench_log("cannot create %s: %s", e.dir, strerror(errno));
		return -1;
	}
	if (env_start_kms(&e, b->kmsd, NULL) != 0 || env_start(&e) != 0)
		goto out;
	bench_log("storm: %d clients at once", b->storm);
	if (bench_storm(&e, b->storm, b->storm_timeout_ms, b->storm_key_cache, &r) != 0)
		goto out;
	kb_out(b, "\n### Connect storm: %d clients (scheme 3) started at once, default "
	    "settings, key cache %s\n\n", r.n, b->storm_key_cache ? "on" : "off");
	/* (no KMS part of the latency: the library fetches the keys during
	 * the broker handshake) */
	kb_out(b, "| clients | ready | failed | all ready ms | p50 ms | p99 ms | max ms | "
	    "KMS CPU ms | broker CPU ms |\n");
	kb_out(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	kb_out(b, "| %d | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
	    r.n, r.ready, r.failed, r.all_ready_ms, r.lat.p50, r.lat.p99, r.lat.max,
	    r.kms_cpu_ms, r.broker_cpu_ms);
	if (r.first_err[0] != '\0')
		kb_out(b, "\nfirst failure: %s\n", r.first_err);
	/* one machine-readable line for scripts (tests/kmsperf12_storm.sh) */
	kb_out(b, "\nstorm clients=%d ready=%d failed=%d all_ready_ms=%.0f p99_ms=%.0f\n",
	    r.n, r.ready, r.failed, r.all_ready_ms, r.lat.p99);
	rc = r.failed == 0 ? 0 : 2;
 out:
	env_stop(&e);
	return rc;
}

/* ---- the cost of a policy change at scale ------------------------------------------------ */

#define PC_CHANGES 10
#define PC_WATCH_S 30

/* A broker's policy watch, in a thread of its own: each answer's version,
 * size and arrival time.  delta: after its first (full) answer it asks for
 * what changed (delta=1), as the plugin does; else a full snapshot each
 * time, as the plugin did before deltas. */
struct pc_watch {
	struct mqe2e_http *http;
	struct mqe2e_identity *id;
	int delta;
	int cancel[2];                  /* written to: the long poll ends */
	pthread_mutex_t mu;
	int stop, failed;
	int64_t version;                /* of the last answer */
	size_t bytes;                   /* its HTTP body */
	uint64_t at_ns;                 /* when it arrived */
	char err[256];
};

static void *
pc_watch_main(void *arg)
{
	struct pc_watch *w = arg;
	char path[112];

	for (;;) {
		struct mqe2e_kmsreq kr;
		struct mqe2e_http_req rq;
		struct mqe2e_http_response resp;
		json_t *j = NULL;
		int64_t since;
		int r;

		pthread_mutex_lock(&w->mu);
		since = w->version;
		r = w->stop;
		pthread_mutex_unlock(&w->mu);
		if (r)
			break;
		memset(&resp, 0, sizeof(resp));
		memset(&kr, 0, sizeof(kr));
		memset(&rq, 0, sizeof(rq));
		bench_fmt(path, sizeof(path), "/v1/policy/watch?since=%lld&timeout=%d%s",
		    (long long)(since < 0 ? 0 : since), PC_WATCH_S,
		    w->delta && since >= 0 ? "&delta=1" : "");
		kr.id = w->id;
		rq.path = path;
		rq.timeout_ms = (PC_WATCH_S + 10) * 1000;
		rq.cancel_fd = w->cancel[0];
		if (mqe2e_kmsreq_post(w->http, &rq, &kr, &resp) != MQE2E_OK ||
		    resp.status != 200 ||
		    (j = json_loadb((const char *)resp.body, resp.body_len, 0, NULL)) == NULL ||
		    !json_is_integer(json_object_get(j, "version"))) {
			pthread_mutex_lock(&w->mu);
			if (!w->stop) {
				w->failed = 1;
				bench_fmt(w->err, sizeof(w->err), "policy watch: %s (HTTP %d)",
				    resp.error[0] != '\0' ? resp.error : "bad answer", resp.status);
			}
			w->stop = 1;
			pthread_mutex_unlock(&w->mu);
		} else {
			pthread_mutex_lock(&w->mu);
			w->version = json_integer_value(json_object_get(j, "version"));
			w->bytes = resp.body_len;
			w->at_ns = bench_now_ns();
			pthread_mutex_unlock(&w->mu);
		}
		json_decref(j);
		mqe2e_http_response_free(&resp);
		mqe2e_kmsreq_clear(&kr);
	}
	return NULL;
}

/* Wait until the watch has seen a version above v (or failed): 0 / -1. */
static int
pc_wait(struct pc_watch *w, int64_t v, int timeout_ms)
{
	uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int r;

	pthread_mutex_lock(&w->mu);
	while (w->version <= v && !w->stop && bench_now_ns() < end) {
		pthread_mutex_unlock(&w->mu);
		bench_sleep_ms(1);
		pthread_mutex_lock(&w->mu);
	}
	r = w->version > v ? 0 : -1;
	pthread_mutex_unlock(&w->mu);
	return r;
}

/* The figures of one kind of watch. */
struct pc_result {
	struct bench_summary ms, adm, bytes;
};

/* PC_CHANGES changes (grant i of clients first.. on another group), each
 * waited for by a watch of its own (full snapshots or deltas). */
static int
pc_run(struct kms_bench *b, struct bench_env *e, struct mqe2e_identity *id, int delta,
    int first, struct pc_result *res)
{
	struct pc_watch w;
	pthread_t th;
	char name[BENCH_ID_MAX], group[BENCH_ID_MAX];
	double ms[PC_CHANGES], adm[PC_CHANGES], bytes[PC_CHANGES];
	int i, rc = -1, started = 0;

	memset(&w, 0, sizeof(w));
	w.cancel[0] = w.cancel[1] = -1;
	pthread_mutex_init(&w.mu, NULL);
	w.version = -1;
	w.id = id;
	w.delta = delta;
	if (pipe(w.cancel) != 0 || mqe2e_http_new(e->kms_url, getenv("MQE2E_KMS_CAFILE"),
	    MQE2E_HTTP_REUSE, &w.http, w.err, sizeof(w.err)) != MQE2E_OK) {
		bench_log("policy: %s", w.err[0] != '\0' ? w.err : strerror(errno));
		goto out;
	}
	if (pthread_create(&th, NULL, pc_watch_main, &w) != 0)
		goto out;
	started = 1;
	if (pc_wait(&w, -1, 30000) != 0) {
		bench_log("policy: the first watch did not answer: %s", w.err);
		goto out;
	}
	bench_sleep_ms(200);   /* the watch is waiting again */
	for (i = 0; i < PC_CHANGES; i++) {
		int64_t v;
		uint64_t t1, t2;

		pthread_mutex_lock(&w.mu);
		v = w.version;
		pthread_mutex_unlock(&w.mu);
		/* one change: a grant for a client that had one group */
		bench_fmt(name, sizeof(name), "pc%06d", first + i);
		bench_fmt(group, sizeof(group), "pg%05d", 1 + (first + i) % b->policy_groups);
		t1 = bench_now_ns();
		if (env_grant(e, name, group, "pub") != 0)
			goto out;
		t2 = bench_now_ns();
		if (pc_wait(&w, v, 30000) != 0) {
			bench_log("policy: change %d did not reach the watch: %s", i + 1, w.err);
			goto out;
		}
		pthread_mutex_lock(&w.mu);
		ms[i] = (double)(w.at_ns - t1) / 1e6;
		bytes[i] = (double)w.bytes;
		pthread_mutex_unlock(&w.mu);
		adm[i] = (double)(t2 - t1) / 1e6;
		bench_sleep_ms(200);
	}
	bench_summarise(ms, PC_CHANGES, &res->ms);
	bench_summarise(adm, PC_CHANGES, &res->adm);
	bench_summarise(bytes, PC_CHANGES, &res->bytes);
	rc = 0;
out:
	pthread_mutex_lock(&w.mu);
	w.stop = 1;
	pthread_mutex_unlock(&w.mu);
	if (started) {
		if (write(w.cancel[1], "x", 1) != 1)
			bench_log("policy: cannot stop the watch: %s", strerror(errno));
		pthread_join(th, NULL);
	}
	if (w.cancel[0] >= 0)
		close(w.cancel[0]);
	if (w.cancel[1] >= 0)
		close(w.cancel[1]);
	mqe2e_http_free(w.http);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

static int
bench_policy(struct kms_bench *b)
{
	struct bench_env e;
	struct mqe2e_identity *id = NULL;
	struct pc_result full, delta;
	char pki[BENCH_PATH_MAX], name[BENCH_ID_MAX], group[BENCH_ID_MAX], filter[64];
	char crt[BENCH_PATH_MAX], key[BENCH_PATH_MAX], err[256];
	int i, rc = -1;
	uint64_t t0;

	memset(&e, 0, sizeof(e));
	bench_fmt(e.dir, sizeof(e.dir), "%s/policy", b->dir);
	bench_fmt(e.host, sizeof(e.host), "127.0.0.1");
	bench_fmt(pki, sizeof(pki), "%s/pki", e.dir);
	if ((mkdir(e.dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(pki, 0700) != 0 && errno != EEXIST)) {
		bench_log("cannot create %s: %s", pki, strerror(errno));
		return -1;
	}
	if (env_start_kms(&e, b->kmsd, NULL) != 0 || env_enrol(&e, pki, "pcbroker", "broker") != 0)
		goto out;
	bench_log("policy: %d groups, %d clients with a grant each", b->policy_groups,
	    b->policy_clients);
	t0 = bench_now_ns();
	for (i = 1; i <= b->policy_groups; i++) {
		bench_fmt(group, sizeof(group), "pg%05d", i);
		bench_fmt(filter, sizeof(filter), "pg/%05d/#", i);
		if (env_kms_post(&e, "/v1/groups", json_pack("{s:s,s:s,s:i}", "name", group,
		    "filter", filter, "scheme", 3), 1, NULL) != 0)
			goto out;
	}
	for (i = 1; i <= b->policy_clients; i++) {
		bench_fmt(name, sizeof(name), "pc%06d", i);
		bench_fmt(group, sizeof(group), "pg%05d", 1 + (i - 1) % b->policy_groups);
		if (env_kms_post(&e, "/v1/clients", json_pack("{s:s,s:s}", "name", name, "kind",
		    "client"), 1, NULL) != 0 || env_grant(&e, name, group, "sub") != 0)
			goto out;
		if (i % 2000 == 0)
			bench_log("  %d/%d clients", i, b->policy_clients);
	}
	bench_log("policy: set up in %.1f s", (double)(bench_now_ns() - t0) / 1e9);
	bench_fmt(crt, sizeof(crt), "%s/pcbroker.crt", pki);
	bench_fmt(key, sizeof(key), "%s/pcbroker.key", pki);
	if (mqe2e_identity_load(crt, key, &id, err, sizeof(err)) != MQE2E_OK) {
		bench_log("%s", err);
		goto out;
	}
	/* the same kind of change for each watch, on clients of their own */
	if (pc_run(b, &e, id, 0, 1, &full) != 0 ||
	    pc_run(b, &e, id, 1, 1 + PC_CHANGES, &delta) != 0)
		goto out;
	kb_out(b, "\n### Policy change at scale: %d clients, %d groups, %d grants; %d changes "
	    "(one grant added each) per watch, one broker watching\n\n", b->policy_clients,
	    b->policy_groups, b->policy_clients, PC_CHANGES);
	kb_out(b, "| the broker's watch | bytes to the broker per change (mean) | max | "
	    "change to watch answer ms p50 | max | admin request ms p50 |\n"
	    "|---|---:|---:|---:|---:|---:|\n");
	kb_out(b, "| full snapshot | %.0f | %.0f | %.1f | %.1f | %.1f |\n", full.bytes.mean,
	    full.bytes.max, full.ms.p50, full.ms.max, full.adm.p50);
	kb_out(b, "| delta (the plugin) | %.0f | %.0f | %.1f | %.1f | %.1f |\n", delta.bytes.mean,
	    delta.bytes.max, delta.ms.p50, delta.ms.max, delta.adm.p50);
	rc = 0;
 out:
	env_stop(&e);
	mqe2e_identity_free(id);
	return rc;
}

/* ---- main ------------------------------------------------------------------------ */

static int
kb_usage(FILE *f)
{
	fprintf(f,
	    "usage: mqe2e-bench kms [options]\n"
	    "  --kmsd PATH            mqe2e-kmsd to measure (default: the installed one)\n"
	    "  --baseline-kmsd PATH   another mqe2e-kmsd measured side by side (keys)\n"
	    "  --plugin PATH          mqe2e_plugin.so (storm)\n"
	    "  --mosquitto PATH       mosquitto (storm)\n"
	    "  --requesters LIST      concurrent requesters (default 1,2,4,8)\n"
	    "  --seconds S            per key-load cell (default 5)\n"
	    "  --identities N         requester identities (default 64)\n"
	    "  --no-keys              skip the key load\n"
	    "  --storm N              clients started at once (default 1000, 0: skip)\n"
	    "  --storm-timeout-ms MS  each storm client's connect deadline (default 30000)\n"
	    "  --storm-key-cache      storm clients keep their key cache file (default: off)\n"
	    "  --policy-clients N     policy change cost with N clients (default 10000, 0: skip)\n"
	    "  --policy-groups N      ... and N groups (default 1000)\n"
	    "  --work-dir DIR         where the daemons keep their files (default: a temp dir)\n"
	    "  --keep                 keep the work dir\n"
	    "  -o FILE                also write the tables to FILE\n");
	return f == stdout ? 0 : 1;
}

static int
kb_parse_levels(const char *s, struct kms_bench *b)
{
	char buf[16];
	const char *p = s, *comma;
	size_t len;
	long v;

	b->nlevels = 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(buf) || b->nlevels == KB_MAX_LEVELS)
			return -1;
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (bench_parse_long(buf, 1, KB_MAX_THREADS, &v) != 0)
			return -1;
		b->levels[b->nlevels++] = (int)v;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

int
kms_bench_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kmsd", required_argument, NULL, 1 },
		{ "baseline-kmsd", required_argument, NULL, 2 },
		{ "plugin", required_argument, NULL, 3 },
		{ "mosquitto", required_argument, NULL, 4 },
		{ "requesters", required_argument, NULL, 5 },
		{ "seconds", required_argument, NULL, 6 },
		{ "identities", required_argument, NULL, 7 },
		{ "storm", required_argument, NULL, 8 },
		{ "storm-timeout-ms", required_argument, NULL, 9 },
		{ "work-dir", required_argument, NULL, 10 },
		{ "keep", no_argument, NULL, 11 },
		{ "no-keys", no_argument, NULL, 12 },
		{ "policy-clients", required_argument, NULL, 13 },
		{ "policy-groups", required_argument, NULL, 14 },
		{ "storm-key-cache", no_argument, NULL, 15 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct kms_bench b;
	const char *env;
	double d;
	long v;
	int c, rc = 0, tmp = 0;

	memset(&b, 0, sizeof(b));
	b.kmsd = (env = getenv("MQE2E_KMSD")) != NULL ? env : BENCH_KMSD;
	b.plugin = (env = getenv("MQE2E_PLUGIN")) != NULL ? env : BENCH_PLUGIN;
	b.mosquitto = (env = getenv("MOSQUITTO")) != NULL ? env : BENCH_MOSQUITTO;
	(void)kb_parse_levels("1,2,4,8", &b);
	b.secs = 5;
	b.nids = 64;
	b.storm = 1000;
	b.storm_timeout_ms = 30000;
	b.policy_clients = 10000;
	b.policy_groups = 1000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 1: b.kmsd = optarg; break;
		case 2: b.baseline = optarg; break;
		case 3: b.plugin = optarg; break;
		case 4: b.mosquitto = optarg; break;
		case 5:
			if (kb_parse_levels(optarg, &b) != 0)
				goto bad;
			break;
		case 6:
			if (bench_parse_double(optarg, 0.2, 600, &d) != 0)
				goto bad;
			b.secs = d;
			break;
		case 7:
			if (bench_parse_long(optarg, 1, 1000, &v) != 0)
				goto bad;
			b.nids = (int)v;
			break;
		case 8:
			if (bench_parse_long(optarg, 0, BENCH_MAX_SUBS, &v) != 0)
				goto bad;
			b.storm = (int)v;
			break;
		case 9:
			if (bench_parse_long(optarg, 100, 600000, &v) != 0)
				goto bad;
			b.storm_timeout_ms = (int)v;
			break;
		case 10: bench_fmt(b.dir, sizeof(b.dir), "%s", optarg); break;
		case 11: b.keep = 1; break;
		case 12: b.skip_keys = 1; break;
		case 13:
			if (bench_parse_long(optarg, 0, 1000000, &v) != 0)
				goto bad;
			b.policy_clients = (int)v;
			break;
		case 14:
			if (bench_parse_long(optarg, 1, 100000, &v) != 0)
				goto bad;
			b.policy_groups = (int)v;
			break;
		case 15: b.storm_key_cache = 1; break;
		case 'o': b.out = optarg; break;
		case 'h': return kb_usage(stdout);
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	signal(SIGPIPE, SIG_IGN);
	if (b.dir[0] == '\0') {
		char t[] = "/tmp/mqe2e-bench-kms.XXXXXX";

		if (mkdtemp(t) == NULL) {
			bench_log("cannot make a temp dir: %s", strerror(errno));
			return 1;
		}
		bench_fmt(b.dir, sizeof(b.dir), "%s", t);
		tmp = 1;
	} else if (mkdir(b.dir, 0700) != 0 && errno != EEXIST) {
		bench_log("cannot create %s: %s", b.dir, strerror(errno));
		return 1;
	}
	if (b.out != NULL && (b.outf = fopen(b.out, "w")) == NULL) {
		bench_log("cannot write %s: %s", b.out, strerror(errno));
		return 1;
	}
	kb_out(&b, "## mqe2e-bench kms\n");
	if (!b.skip_keys && bench_keys(&b) != 0)
		rc = 1;
	if (rc == 0 && b.storm > 0 && (c = bench_storm_run(&b)) != 0)
		rc = c;
	if (rc == 0 && b.policy_clients > 0 && bench_policy(&b) != 0)
		rc = 1;
	if (b.outf != NULL)
		fclose(b.outf);
	if (tmp && !b.keep) {
		const char *rm[] = { "rm", "-rf", b.dir, NULL };

		(void)bench_run(rm, NULL);
	} else {
		bench_log("work dir kept: %s", b.dir);
	}
	return rc;
 bad:
	return kb_usage(stderr);
}
