/*
 * host.c - a sub host: the child process holding a share of the
 * subscribers (mqe2e-bench --sub-host ...).
 *
 * It makes its clients, connects them from a pool of threads (timing each
 * connect), subscribes them, reports READY on stdout, then counts and checks
 * every message until each subscriber has all of them or the driver's
 * "done" byte on stdin plus a grace period has passed, and reports RESULT
 * with the publish-to-receive latency of every paced delivery.
 */
#include "config.h"

#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hex.h"

#define HOST_CONNECT_TIMEOUT_MS 30000
#define HOST_SUB_TIMEOUT_MS 10000
#define HOST_CPU_TAIL 4                 /* paced messages at the end whose first
                                           copy reads the CPU time */

struct subst {
	struct host *h;
	struct link *l;
	char id[BENCH_ID_MAX + 1];
	uint8_t *seen;                  /* [h->mu] bitmap: paced then burst */
	uint64_t got;                   /* [h->mu] distinct messages */
	uint64_t t0, t1, t2;             /* connect called, returned; subscribed */
	int ok;
	char err[BENCH_MSG_MAX];
};

struct host {
	struct host_params p;
	struct subst *s;
	pthread_mutex_t mu;
	int next;                       /* [mu] next subscriber to connect */
	struct host_result res;         /* [mu] */
	double *lat;                    /* [mu] paced latencies, ms */
	uint64_t cpu0;                  /* [mu] CPU time when every client was ready */
	uint64_t cpu_p0, cpu_p1;        /* [mu] CPU time at the first copy of the first
	                                   and of the newest paced message */
	uint64_t rx_p1;                 /* [mu] paced deliveries before that newest one */
	uint64_t cpu_b0;                /* [mu] CPU time at the first saturation copy */
	uint32_t seq_hi;                /* [mu] the newest paced message seen */
	size_t nlat, latcap;
};

static void
on_rx(void *arg, const uint8_t *pt, size_t len, int ok)
{
	struct subst *s = arg;
	struct host *h = s->h;
	uint64_t now = bench_now_ns(), sched;
	uint32_t seq;
	size_t bit;
	int phase;

	pthread_mutex_lock(&h->mu);
	if (!ok || pt == NULL || payload_check(pt, len, h->p.payload, h->p.run_id, &phase, &seq,
	    &sched) != 0 || phase == PHASE_WARM || (phase == PHASE_PACED && seq >= (uint32_t)h->p.paced) ||
	    (phase == PHASE_BURST && seq >= (uint32_t)h->p.burst)) {
		if (!(ok && pt != NULL && len > 4 && pt[4] == PHASE_WARM))
			h->res.bad++;
		goto out;
	}
	bit = phase == PHASE_PACED ? seq : (size_t)h->p.paced + seq;
	if (s->seen[bit / 8] & (1u << (bit % 8))) {
		h->res.dup++;
		goto out;
	}
	s->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	s->got++;
	if (phase == PHASE_PACED) {
		/*
		 * CPU time at the first copy of the first message and of each
		 * newer one among the last HOST_CPU_TAIL (the last one may be
		 * lost at QoS 0): the paced phase alone.  Not at every newer
		 * message: a read of the process's CPU time sums every thread
		 * of it (the kernel walks them), about 150 us with a scheme
		 * 4 host's 400 threads, on this receive thread, in front of the
		 * message's other copies - it made the measured kind slower
		 * by its own measurement (BENCHMARKS.md, fourth pass).
		 */
		if (h->cpu0 != 0 && (h->res.paced_rx == 0 || (seq > h->seq_hi &&
		    seq + HOST_CPU_TAIL >= (uint32_t)h->p.paced))) {
			h->cpu_p1 = bench_cpu_ns();
			h->rx_p1 = h->res.paced_rx;
			if (h->res.paced_rx == 0) {
				h->cpu_p0 = h->cpu_p1;
				h->res.cpu_setup_ns = h->cpu_p0 - h->cpu0;
			}
			h->seq_hi = seq;
		}
		h->res.paced_rx++;
		if (h->nlat < h->latcap)
			h->lat[h->nlat++] = now > sched ? (double)(now - sched) / 1e6 : 0.0;
	} else {
		if (h->res.burst_rx == 0 && h->cpu0 != 0) {
			h->cpu_b0 = bench_cpu_ns();
			h->res.cpu_ns = h->cpu_b0 - h->cpu0;        /* the paced phase's */
		}
		h->res.burst_rx++;
		if (now > h->res.burst_last_ns)
			h->res.burst_last_ns = now;
	}
out:
	pthread_mutex_unlock(&h->mu);
}

static void *
connector(void *arg)
{
	struct host *h = arg;
	struct subst *s;
	char topic[BENCH_ID_MAX + 64];
	int i;

	/* named, so that a profile can cut out the connect phase by thread */
	(void)pthread_setname_np(pthread_self(), "bench-connect");
	for (;;) {
		pthread_mutex_lock(&h->mu);
		i = h->next < h->p.count ? h->next++ : -1;
		pthread_mutex_unlock(&h->mu);
		if (i < 0)
			return NULL;
		s = &h->s[i];
		s->t0 = bench_now_ns();
		if (link_connect(s->l, HOST_CONNECT_TIMEOUT_MS, s->err, sizeof(s->err)) != 0)
			continue;
		s->t1 = bench_now_ns();
		if (h->p.kind == KIND_TLS)
			bench_fmt(topic, sizeof(topic), "%s%s", h->p.topic, s->id);
		else
			bench_fmt(topic, sizeof(topic), "%s", h->p.topic);
		if (link_subscribe(s->l, topic, h->p.qos, HOST_SUB_TIMEOUT_MS, s->err,
		    sizeof(s->err)) != 0)
			continue;
		s->t2 = bench_now_ns();
		s->ok = 1;
	}
}

/*
 * The ticker (--paho-ticker, a diagnostic): paho.mqtt.c's receive thread
 * waits in poll() for up to 1 s and only then watches sockets connected
 * meanwhile, so a CONNACK can be read a second late.  A plain client of the
 * same process that receives a message every ticker_ms wakes it up; the
 * connect latency measured with it shows what the protocol itself costs.
 */
struct ticker {
	struct link *l;
	char topic[96];
	volatile int stop;
	int ms;
	pthread_t th;
	int running;
};

static void
ticker_rx(void *arg, const uint8_t *pt, size_t len, int ok)
{
}

static void *
ticker_main(void *arg)
{
	struct ticker *t = arg;
	char err[BENCH_MSG_MAX];
	uint8_t b = 0;

	while (!t->stop) {
		(void)link_publish(t->l, t->topic, &b, 1, 0, 1000, err, sizeof(err));
		bench_sleep_ms(t->ms);
	}
	return NULL;
}

static void
ticker_start(struct host *h, struct ticker *t)
{
	struct link_opts lo;
	char err[BENCH_MSG_MAX], id[64];

	memset(t, 0, sizeof(*t));
	if (h->p.ticker_ms <= 0 || h->p.ticker_uri[0] == '\0')
		return;
	memset(&lo, 0, sizeof(lo));
	bench_fmt(id, sizeof(id), "ticker-%d", (int)getpid());
	bench_fmt(t->topic, sizeof(t->topic), "bench/ticker/%d", (int)getpid());
	t->ms = h->p.ticker_ms;
	lo.kind = KIND_PLAIN;
	lo.uri = h->p.ticker_uri;
	lo.id = id;
	lo.pki = h->p.pki;
	if (link_new(&lo, ticker_rx, t, &t->l, err, sizeof(err)) != 0 ||
	    link_connect(t->l, 5000, err, sizeof(err)) != 0 ||
	    link_subscribe(t->l, t->topic, 0, 5000, err, sizeof(err)) != 0 ||
	    pthread_create(&t->th, NULL, ticker_main, t) != 0) {
		fprintf(stderr, "mqe2e-bench --sub-host: no ticker: %s\n", err);
		link_free(t->l);
		t->l = NULL;
		return;
	}
	t->running = 1;
}

static void
ticker_stop(struct ticker *t)
{
	if (t->running) {
		t->stop = 1;
		pthread_join(t->th, NULL);
	}
	if (t->l != NULL) {
		link_disconnect(t->l);
		link_free(t->l);
	}
	memset(t, 0, sizeof(*t));
}

static int
parse(int argc, char **argv, struct host_params *p)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "uri", required_argument, NULL, 'u' },
		{ "kms", required_argument, NULL, 'K' },
		{ "pki", required_argument, NULL, 'd' },
		{ "topic", required_argument, NULL, 't' },
		{ "secret", required_argument, NULL, 'S' },
		{ "first", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "qos", required_argument, NULL, 'q' },
		{ "paced", required_argument, NULL, 'm' },
		{ "burst", required_argument, NULL, 'b' },
		{ "payload", required_argument, NULL, 's' },
		{ "run-id", required_argument, NULL, 'r' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "grace-ms", required_argument, NULL, 'g' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "nagle", no_argument, NULL, 'N' },
		{ "ticker-ms", required_argument, NULL, 'T' },
		{ "ticker-uri", required_argument, NULL, 'U' },
		{ "plain-spin-us", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	long v;
	int c, bad = 0;

	memset(p, 0, sizeof(*p));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k': bad |= bench_kind_parse(optarg, &p->kind); break;
		case 'u': bench_fmt(p->uri, sizeof(p->uri), "%s", optarg); break;
		case 'K': bench_fmt(p->kms_url, sizeof(p->kms_url), "%s", optarg); break;
		case 'd': bench_fmt(p->pki, sizeof(p->pki), "%s", optarg); break;
		case 't': bench_fmt(p->topic, sizeof(p->topic), "%s", optarg); break;
		case 'S': bad |= mqe2e_unhex(optarg, strlen(optarg), p->pair_secret,
		    sizeof(p->pair_secret)); break;
		case 'f': bad |= bench_parse_long(optarg, 0, BENCH_MAX_SUBS, &v); p->first = (int)v; break;
		case 'n': bad |= bench_parse_long(optarg, 1, BENCH_MAX_SUBS, &v); p->count = (int)v; break;
		case 'q': bad |= bench_parse_long(optarg, 0, 1, &v); p->qos = (int)v; break;
		case 'm': bad |= bench_parse_long(optarg, 0, 10000000, &v); p->paced = (int)v; break;
		case 'b': bad |= bench_parse_long(optarg, 0, 10000000, &v); p->burst = (int)v; break;
		case 's': bad |= bench_parse_long(optarg, BENCH_PAYLOAD_MIN, BENCH_PAYLOAD_MAX, &v);
			p->payload = (size_t)v; break;
		case 'r': bad |= bench_parse_long(optarg, 0, 0x7fffffffL, &v); p->run_id = (uint64_t)v; break;
		case 'P': bad |= bench_parse_long(optarg, 1, 256, &v); p->parallel = (int)v; break;
		case 'g': bad |= bench_parse_long(optarg, 0, 600000, &v); p->grace_ms = (int)v; break;
		case 'N': bench_nagle = 1; break;
		case 'T': bad |= bench_parse_long(optarg, 0, 1000, &v); p->ticker_ms = (int)v; break;
		case 'U': bench_fmt(p->ticker_uri, sizeof(p->ticker_uri), "%s", optarg); break;
		case 'W': bad |= bench_parse_long(optarg, 0, 1000, &v); p->plain_spin_us = (int)v; break;
		case 'x': bench_fmt(bench_prefix, sizeof(bench_prefix), "%s", optarg); break;
		default: bad = 1; break;
		}
	}
	if (bad || optind != argc || p->count == 0 || p->uri[0] == '\0' || p->pki[0] == '\0' ||
	    p->payload == 0 || p->parallel == 0)
		return -1;
	return 0;
}

int
host_argv(const char *self, const struct host_params *p, const char *const *prefix,
    char *buf, size_t buflen, const char **argv, size_t argv_max)
{
	char secret[65];
	size_t used = 0, n = 0;
	int i, w;

#define ADD(...) do { \
		if (n + 2 > argv_max || used >= buflen) return -1; \
		w = snprintf(buf + used, buflen - used, __VA_ARGS__); \
		if (w < 0 || (size_t)w >= buflen - used) return -1; \
		argv[n++] = buf + used; used += (size_t)w + 1; \
	} while (0)

	for (i = 0; prefix != NULL && prefix[i] != NULL; i++)
		ADD("%s", prefix[i]);
	mqe2e_hex(p->pair_secret, sizeof(p->pair_secret), secret);
	ADD("%s", self);
	ADD("--sub-host");
	ADD("--kind=%s", bench_kind_name(p->kind));
	ADD("--uri=%s", p->uri);
	ADD("--kms=%s", p->kms_url);
	ADD("--pki=%s", p->pki);
	ADD("--topic=%s", p->topic);
	ADD("--secret=%s", secret);
	ADD("--first=%d", p->first);
	ADD("--count=%d", p->count);
	ADD("--qos=%d", p->qos);
	ADD("--paced=%d", p->paced);
	ADD("--burst=%d", p->burst);
	ADD("--payload=%zu", p->payload);
	ADD("--run-id=%llu", (unsigned long long)p->run_id);
	ADD("--parallel=%d", p->parallel);
	ADD("--grace-ms=%d", p->grace_ms);
	if (bench_prefix[0] != '\0')
		ADD("--prefix=%s", bench_prefix);
	if (bench_nagle)
		ADD("--nagle");
	if (p->ticker_ms > 0) {
		ADD("--ticker-ms=%d", p->ticker_ms);
		ADD("--ticker-uri=%s", p->ticker_uri);
	}
	if (p->plain_spin_us > 0)
		ADD("--plain-spin-us=%d", p->plain_spin_us);
#undef ADD
	argv[n] = NULL;
	return 0;
}

/*
 * Which subscribers missed paced messages, for the row's note: how many, and
 * the first of them with its count and its first and last missing message,
 * so that a loss says whether a subscriber missed everything (it was never
 * addressed), a stretch (its link dropped) or the tail (the grace ran out).
 * h->mu held.
 */
static void
short_paced(struct host *h)
{
	int i, b, nshort = 0, first = -1, got = 0, miss0 = -1, miss1 = -1;

	for (i = 0; i < h->p.count; i++) {
		int n = 0, m0 = -1, m1 = -1;

		if (!h->s[i].ok)
			continue;
		for (b = 0; b < h->p.paced; b++) {
			if (h->s[i].seen[b / 8] & (1u << (b % 8)))
				n++;
			else {
				if (m0 < 0)
					m0 = b;
				m1 = b;
			}
		}
		if (n == h->p.paced)
			continue;
		if (nshort++ == 0) {
			first = i;
			got = n;
			miss0 = m0;
			miss1 = m1;
		}
	}
	if (nshort > 0)
		bench_fmt(h->res.msg, sizeof(h->res.msg), "%d of %d subscribers short of paced "
		    "messages; first: '%s' got %d of %d, missed #%d..#%d", nshort, h->p.count,
		    h->s[first].id, got, h->p.paced, miss0, miss1);
}

/* Wait for every message or for done + grace; returns on EOF too. */
static void
collect(struct host *h)
{
	uint64_t want = (uint64_t)h->p.paced + (uint64_t)h->p.burst;
	uint64_t done_at = 0, now;
	struct pollfd pfd;
	char c;
	int i, all;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		for (all = 1, i = 0; i < h->p.count && all; i++)
			if (h->s[i].ok && h->s[i].got < want)
				all = 0;
		pthread_mutex_unlock(&h->mu);
		now = bench_now_ns();
		if (all && done_at != 0)
			return;
		if (done_at != 0 && now > done_at + (uint64_t)h->p.grace_ms * 1000000u)
			return;
		pfd.fd = 0;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (done_at == 0 && poll(&pfd, 1, 20) > 0) {
			if (read(0, &c, 1) != 1 || c == 'D')
				done_at = bench_now_ns();
		} else if (done_at != 0) {
			bench_sleep_ms(20);
		}
	}
}

int
host_main(int argc, char **argv)
{
	struct host h;
	struct ticker tk;
	struct host_ready rd;
	struct link_opts lo;
	pthread_t *th = NULL;
	double *conn = NULL, *subs = NULL;
	struct bench_summary sum;
	uint64_t mt0 = 0, mi0 = 0, mt1 = 0, mi1 = 0;
	size_t nsubs = 0;
	int i, nth = 0, rc = 1, firstfail = -1, mok;
	uint64_t bits;

	memset(&h, 0, sizeof(h));
	memset(&tk, 0, sizeof(tk));
	memset(&rd, 0, sizeof(rd));
	rd.magic = HOST_MAGIC_READY;
	pthread_mutex_init(&h.mu, NULL);
	if (parse(argc, argv, &h.p) != 0) {
		fprintf(stderr, "mqe2e-bench --sub-host: bad arguments\n");
		return 2;
	}
	h.res.magic = HOST_MAGIC_RESULT;
	bits = (uint64_t)h.p.paced + (uint64_t)h.p.burst;
	h.latcap = (size_t)h.p.count * (size_t)h.p.paced;
	if ((h.s = calloc((size_t)h.p.count, sizeof(*h.s))) == NULL ||
	    (conn = calloc((size_t)h.p.count, sizeof(*conn))) == NULL ||
	    (subs = calloc((size_t)h.p.count, sizeof(*subs))) == NULL ||
	    (h.latcap > 0 && (h.lat = malloc(h.latcap * sizeof(*h.lat))) == NULL) ||
	    (th = calloc((size_t)h.p.parallel, sizeof(*th))) == NULL) {
		bench_fmt(rd.msg, sizeof(rd.msg), "out of memory");
		goto report;
	}
	memset(&lo, 0, sizeof(lo));
	lo.kind = h.p.kind;
	lo.uri = h.p.uri;
	lo.pki = h.p.pki;
	lo.kms_url = h.p.kms_url;
	lo.pair_secret = h.p.pair_secret;
	lo.spin_us = h.p.plain_spin_us;
	for (i = 0; i < h.p.count; i++) {
		struct subst *s = &h.s[i];

		s->h = &h;
		bench_sub_id(h.p.first + i + 1, s->id, sizeof(s->id));
		lo.id = s->id;
		if ((s->seen = calloc(bits / 8 + 1, 1)) == NULL ||
		    link_new(&lo, on_rx, s, &s->l, rd.msg, sizeof(rd.msg)) != 0)
			goto report;
	}
	/* the timed part: connect (and subscribe) from a pool of threads */
	rd.cpu_connect_ns = bench_cpu_ns();
	rd.csw_connect = bench_csw();
	mok = bench_machine_ticks(&mt0, &mi0, NULL) == 0;
	ticker_start(&h, &tk);
	for (nth = 0; nth < h.p.parallel && nth < h.p.count; nth++)
		if (pthread_create(&th[nth], NULL, connector, &h) != 0)
			break;
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	ticker_stop(&tk);
	rd.cpu_connect_ns = bench_cpu_ns() - rd.cpu_connect_ns;
	rd.csw_connect = bench_csw() - rd.csw_connect;
	/* how busy the machine was meanwhile: idle CPUs while connects were
	 * under way are time spent waiting, not computing */
	if (mok && bench_machine_ticks(&mt1, &mi1, NULL) == 0 && mt1 >= mt0 && mi1 >= mi0) {
		rd.mach_ticks = mt1 - mt0;
		rd.mach_idle = mi1 - mi0;
	}
	link_nodelay_all();
	rd.first_start_ns = UINT64_MAX;
	rd.first_ready_ns = UINT64_MAX;
	for (i = 0; i < h.p.count; i++) {
		struct subst *s = &h.s[i];

		if (!s->ok) {
			if (firstfail < 0)
				firstfail = i;
			continue;
		}
		conn[rd.nconn++] = (double)(s->t1 - s->t0) / 1e6;
		if (s->t0 < rd.first_start_ns)
			rd.first_start_ns = s->t0;
		if (s->t1 > rd.last_ready_ns)
			rd.last_ready_ns = s->t1;
		if (s->t1 < rd.first_ready_ns)
			rd.first_ready_ns = s->t1;
		subs[nsubs++] = (double)(s->t2 - s->t1) / 1e6;
	}
	bench_summarise(subs, nsubs, &sum);
	rd.sub_p50_ms = sum.p50;
	rd.sub_max_ms = sum.max;
	if (firstfail >= 0)
		bench_fmt(rd.msg, sizeof(rd.msg), "%d of %d subscribers not ready; first: %s",
		    h.p.count - (int)rd.nconn, h.p.count, h.s[firstfail].err);
	else
		rd.status = 0;
report:
	if (rd.msg[0] != '\0')
		rd.status = -1;
	if (bench_write_all(1, &rd, sizeof(rd)) != 0 ||
	    bench_write_all(1, conn, rd.nconn * sizeof(*conn)) != 0)
		goto out;
	if (rd.status != 0)
		goto out;
	pthread_mutex_lock(&h.mu);
	h.cpu0 = bench_cpu_ns();
	pthread_mutex_unlock(&h.mu);
	collect(&h);
	pthread_mutex_lock(&h.mu);
	if (h.res.burst_rx == 0)        /* no saturation phase: all of it */
		h.res.cpu_ns = bench_cpu_ns() - h.cpu0;
	else
		h.res.cpu_burst_ns = bench_cpu_ns() - h.cpu_b0;
	pthread_mutex_unlock(&h.mu);
	pthread_mutex_lock(&h.mu);
	h.res.cpu_paced_ns = h.cpu_p1 - h.cpu_p0;
	h.res.paced_rx_marked = h.rx_p1;
	for (i = 0; i < h.p.count; i++)
		h.res.link_errors += link_rx_errors(h.s[i].l, NULL, 0);
	h.res.nlat = h.nlat;
	short_paced(&h);
	if (bench_write_all(1, &h.res, sizeof(h.res)) == 0 &&
	    bench_write_all(1, h.lat, h.nlat * sizeof(*h.lat)) == 0)
		rc = 0;
	pthread_mutex_unlock(&h.mu);
out:
	/* free from this thread; paho has stopped calling back once disconnected */
	for (i = 0; h.s != NULL && i < h.p.count; i++) {
		if (h.s[i].l != NULL && h.s[i].ok)
			link_disconnect(h.s[i].l);
	}
	for (i = 0; h.s != NULL && i < h.p.count; i++) {
		link_free(h.s[i].l);
		free(h.s[i].seen);
	}
	free(h.s);
	free(h.lat);
	free(conn);
	free(subs);
	free(th);
	return rc;
}
