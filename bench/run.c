/*
 * run.c - the driver's experiments.
 *
 * run_pubrecv: start the sub hosts (one, or two for scenarios 2 and 3),
 * connect the publisher meanwhile, wait until every subscriber is ready,
 * then publish `paced` messages open loop at a fixed rate (each carries
 * its scheduled send time, so a stall of the publisher shows as latency)
 * and `burst` messages as fast as `burst_threads` threads can, and gather
 * the hosts' results.  The broker's CPU time and memory are read from /proc
 * around the paced phase.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define READY_TIMEOUT_MS 300000
#define RESULT_TIMEOUT_MS 600000
#define PUB_TIMEOUT_MS 10000
#define MAX_HOSTS 2

struct hostproc {
	pid_t pid;
	int rfd;                        /* its stdout */
	int wfd;                        /* its stdin */
	int first, count;
	struct host_ready rd;
	struct host_result res;
	double *conn;
	double *lat;
};

const char *
row_status_name(enum row_status s)
{
	switch (s) {
	case ROW_OK: return "ok";
	case ROW_UNAVAILABLE: return "unavailable";
	case ROW_FAILED: return "failed";
	case ROW_SKIPPED: return "skipped";
	}
	return "?";
}

static int
nhosts(int scenario)
{
	return scenario == 1 ? 1 : 2;
}

/* Start host i of nh for nsubs subscribers; 0 or -1 (note set). */
static int
host_start(struct bench *b, struct hostproc *hp, int i, int nh, enum bench_kind k,
    int scenario, int nsubs, int qos, int paced, int burst, char *note, size_t notelen)
{
	struct host_params p;
	char buf[8192];
	const char *argv[48];
	const char *prefix[] = { "ip", "netns", "exec", NULL, NULL };
	char log[BENCH_PATH_MAX];
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 };

	memset(&p, 0, sizeof(p));
	hp->first = nsubs * i / nh;
	hp->count = nsubs * (i + 1) / nh - hp->first;
	p.kind = k;
	/* scenario 3: the host runs in namespace i and reaches the brokers and
	 * the KMS, which listen on the root end of the first veth, through its
	 * own veth and netem */
	if (scenario == 3)
		prefix[3] = b->nsi.ns[i];
	env_broker_uri(&b->env, k, NULL, p.uri, sizeof(p.uri));
	bench_fmt(p.kms_url, sizeof(p.kms_url), "%s", b->env.kms_url);
	bench_fmt(p.pki, sizeof(p.pki), "%s/pki", b->env.dir);
	bench_topic(k, p.topic, sizeof(p.topic));
	memcpy(p.pair_secret, b->env.pair_secret, sizeof(p.pair_secret));
	p.first = hp->first;
	p.count = hp->count;
	p.qos = qos;
	p.paced = paced;
	p.burst = burst;
	p.payload = b->payload;
	p.run_id = b->run_id;
	/* --parallel is the total: two processes of 16 threads would meet the
	 * KMS's limit of 32 connections per address */
	p.parallel = b->parallel / nh > 0 ? b->parallel / nh : 1;
	p.grace_ms = b->grace_ms;
	p.ticker_ms = b->ticker_ms;
	p.plain_spin_us = b->plain_spin_us;
	env_broker_uri(&b->env, KIND_PLAIN, NULL, p.ticker_uri, sizeof(p.ticker_uri));
	if (host_argv(b->self, &p, scenario == 3 ? prefix : NULL, buf, sizeof(buf), argv,
	    sizeof(argv) / sizeof(argv[0])) != 0) {
		bench_fmt(note, notelen, "sub host arguments too long");
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
		bench_fmt(note, notelen, "pipe failed");
		goto fail;
	}
	bench_fmt(log, sizeof(log), "%s/subhost.log", b->env.dir);
	if ((hp->pid = bench_spawn(argv, log, in[0], outp[1])) < 0) {
		bench_fmt(note, notelen, "cannot start a sub host");
		goto fail;
	}
	close(in[0]);
	close(outp[1]);
	hp->wfd = in[1];
	hp->rfd = outp[0];
	return 0;
fail:
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
	if (outp[0] >= 0) {
		close(outp[0]);
		close(outp[1]);
	}
	return -1;
}

static void
host_reap(struct hostproc *hp)
{
	int st, i;

	if (hp->wfd >= 0)
		close(hp->wfd);
	if (hp->rfd >= 0)
		close(hp->rfd);
	hp->wfd = hp->rfd = -1;
	if (hp->pid > 0) {
		for (i = 0; i < 1000; i++) {
			if (waitpid(hp->pid, &st, WNOHANG) == hp->pid)
				break;
			bench_sleep_ms(10);
		}
		if (i == 1000)
			bench_stop_pid(hp->pid, 2000);
	}
	hp->pid = 0;
	free(hp->conn);
	free(hp->lat);
	hp->conn = hp->lat = NULL;
}

static int
read_ready(struct hostproc *hp, char *note, size_t notelen)
{
	if (bench_read_all(hp->rfd, &hp->rd, sizeof(hp->rd), READY_TIMEOUT_MS) != 0 ||
	    hp->rd.magic != HOST_MAGIC_READY || hp->rd.nconn > (uint32_t)hp->count) {
		bench_fmt(note, notelen, "a sub host died or did not report (see subhost.log)");
		return -1;
	}
	hp->rd.msg[sizeof(hp->rd.msg) - 1] = '\0';
	if ((hp->conn = calloc(hp->rd.nconn + 1, sizeof(double))) == NULL ||
	    bench_read_all(hp->rfd, hp->conn, hp->rd.nconn * sizeof(double),
	    READY_TIMEOUT_MS) != 0) {
		bench_fmt(note, notelen, "a sub host died while reporting");
		return -1;
	}
	if (hp->rd.status != 0) {
		bench_fmt(note, notelen, "%s", hp->rd.msg);
		return -1;
	}
	return 0;
}

static int
read_result(struct hostproc *hp, char *note, size_t notelen)
{
	if (bench_read_all(hp->rfd, &hp->res, sizeof(hp->res), RESULT_TIMEOUT_MS) != 0 ||
	    hp->res.magic != HOST_MAGIC_RESULT || hp->res.nlat > 100000000u) {
		bench_fmt(note, notelen, "a sub host died or did not report its result");
		return -1;
	}
	if ((hp->lat = malloc((size_t)hp->res.nlat * sizeof(double) + 1)) == NULL ||
	    bench_read_all(hp->rfd, hp->lat, (size_t)hp->res.nlat * sizeof(double),
	    RESULT_TIMEOUT_MS) != 0) {
		bench_fmt(note, notelen, "a sub host died while reporting its result");
		return -1;
	}
	return 0;
}

/* A note saying a scheme is not there, rather than broken. */
static int
is_unavailable(const char *note)
{
	return strstr(note, "not implement") != NULL || strstr(note, "not supported") != NULL ||
	    strstr(note, "unsupported") != NULL;
}

struct burst_ctx {
	struct bench *b;
	struct link *pub;
	const char *topic;
	int qos;
	pthread_mutex_t mu;
	int next;                       /* [mu] */
	int failed;                     /* [mu] */
	char err[BENCH_MSG_MAX];        /* [mu] */
};

static void *
burst_thread(void *arg)
{
	struct burst_ctx *bc = arg;
	char err[BENCH_MSG_MAX];
	uint8_t *buf = malloc(bc->b->payload);
	int i;

	if (buf == NULL)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&bc->mu);
		i = bc->failed || bc->next >= bc->b->burst ? -1 : bc->next++;
		pthread_mutex_unlock(&bc->mu);
		if (i < 0)
			break;
		payload_make(buf, bc->b->payload, bc->b->run_id, PHASE_BURST, (uint32_t)i,
		    bench_now_ns());
		if (link_publish(bc->pub, bc->topic, buf, bc->b->payload, bc->qos, PUB_TIMEOUT_MS,
		    err, sizeof(err)) != 0) {
			pthread_mutex_lock(&bc->mu);
			if (!bc->failed)
				bench_fmt(bc->err, sizeof(bc->err), "%s", err);
			bc->failed = 1;
			pthread_mutex_unlock(&bc->mu);
		}
	}
	free(buf);
	return NULL;
}

/* Connect the publisher of kind k (timed); NULL with note on failure. */
static struct link *
pub_connect(struct bench *b, enum bench_kind k, int scenario, int nsubs, double *ms,
    char *note, size_t notelen)
{
	struct link_opts lo;
	struct link *l = NULL;
	char uri[BENCH_URI_MAX], pki[BENCH_PATH_MAX], id[BENCH_ID_MAX], **ids = NULL;
	char *rcpt = NULL;
	size_t used = 0;
	uint64_t t0;
	int i;

	memset(&lo, 0, sizeof(lo));
	env_broker_uri(&b->env, k, NULL, uri, sizeof(uri));
	bench_fmt(pki, sizeof(pki), "%s/pki", b->env.dir);
	bench_pub_id(id, sizeof(id));
	lo.kind = k;
	lo.uri = uri;
	lo.id = id;
	lo.pki = pki;
	lo.kms_url = b->env.kms_url;
	lo.pair_secret = b->env.pair_secret;
	if ((k == KIND_S1 || k == KIND_S2) && nsubs > 0) {
		/* schemes 1/2: seal for each subscriber */
		if ((rcpt = malloc((size_t)nsubs * BENCH_ID_MAX)) == NULL)
			return NULL;
		rcpt[0] = '\0';
		for (i = 0; i < nsubs; i++) {
			bench_sub_id(i + 1, id, sizeof(id));
			used += strlen(bench_fmt(rcpt + used, (size_t)nsubs * BENCH_ID_MAX - used,
			    "%s%s", i ? "," : "", id));
		}
		lo.recipients = rcpt;
		bench_pub_id(id, sizeof(id));
	}
	i = link_new(&lo, NULL, NULL, &l, note, notelen);
	free(rcpt);
	if (i != 0)
		return NULL;
	if (k == KIND_TLS && nsubs > 0) {
		if ((ids = calloc((size_t)nsubs, sizeof(*ids))) == NULL)
			goto fail;
		for (i = 0; i < nsubs; i++) {
			if ((ids[i] = malloc(BENCH_ID_MAX)) == NULL)
				goto fail;
			bench_sub_id(i + 1, ids[i], BENCH_ID_MAX);
		}
		if (link_set_peer_keys(l, b->env.pair_secret, ids, (size_t)nsubs) != 0) {
			bench_fmt(note, notelen, "cannot set up the pair keys");
			goto fail;
		}
	}
	t0 = bench_now_ns();
	if (link_connect(l, 30000, note, notelen) != 0)
		goto fail;
	*ms = (double)(bench_now_ns() - t0) / 1e6;
	link_nodelay_all();
	for (i = 0; ids != NULL && i < nsubs; i++)
		free(ids[i]);
	free(ids);
	(void)scenario;
	return l;
fail:
	for (i = 0; ids != NULL && i < nsubs; i++)
		free(ids[i]);
	free(ids);
	link_free(l);
	return NULL;
}

static void
conn_rows(struct bench *b, enum bench_kind k, int scenario, int nsubs, int reps,
    double *subs, size_t nsub, double *pubs, size_t npub, double all_ready,
    struct conn_row *sr, struct conn_row *pr)
{
	sr->scenario = pr->scenario = scenario;
	sr->kind = pr->kind = k;
	sr->nsubs = pr->nsubs = nsubs;
	sr->role = "sub";
	pr->role = "pub";
	sr->reps = pr->reps = reps;
	sr->parallel = pr->parallel = b->parallel;
	sr->all_ready_ms = all_ready;
	bench_summarise(subs, nsub, &sr->lat);
	bench_summarise(pubs, npub, &pr->lat);
}

/*
 * How much the latency of one host's paced deliveries grew over the phase:
 * p50 of the last fifth of them (in the order they arrived) minus p50 of the
 * first fifth, in ms; 0 for too few.  A host that keeps up has the same
 * latency throughout; one that falls behind the sending rate builds a queue
 * (in its sockets, and at QoS 1 in the broker behind the in-flight window),
 * and its latency grows with the queue for as long as the phase lasts.
 */
static double
lag_growth(const double *lat, size_t n)
{
	struct bench_summary a, z;
	size_t fifth = n / 5;
	double *v;

	if (fifth < 10 || (v = malloc(2 * fifth * sizeof(*v))) == NULL)
		return 0.0;
	memcpy(v, lat, fifth * sizeof(*v));
	memcpy(v + fifth, lat + n - fifth, fifth * sizeof(*v));
	bench_summarise(v, fifth, &a);
	bench_summarise(v + fifth, fifth, &z);
	free(v);
	return z.p50 - a.p50;
}

/* --cold-keys: the subscribers' key caches (and spares) deleted, so that
 * their next start is a first one, which asks the KMS. */
static void
forget_key_caches(struct bench *b, int nsubs)
{
	char id[BENCH_ID_MAX], path[BENCH_PATH_MAX];
	int i;

	for (i = 0; i < nsubs; i++) {
		bench_sub_id(i + 1, id, sizeof(id));
		bench_fmt(path, sizeof(path), "%s/pki/%s.key.cache", b->env.dir, id);
		(void)unlink(path);
		bench_fmt(path, sizeof(path), "%s/pki/%s.key.cache.spare", b->env.dir, id);
		(void)unlink(path);
	}
}

void
run_pubrecv(struct bench *b, enum bench_kind k, int scenario, int nsubs, int qos,
    struct run_row *row, struct conn_row *sr, struct conn_row *pr)
{
	struct hostproc hp[MAX_HOSTS];
	struct bench_procstat ps0, ps1, ps2, cb0, cb1, ck0, ck1;
	uint64_t mt0 = 0, mt1 = 0, mt2 = 0, ms0 = 0, ms1 = 0, ms2 = 0, mi;
	struct burst_ctx bc;
	struct link *pub = NULL;
	pthread_t th[16];
	char topic[256], err[BENCH_MSG_MAX];
	double pubms = 0, *all = NULL, *conn = NULL, all_ready = 0, tick_us;
	uint64_t period, start, first = UINT64_MAX, last = 0, burst_start, burst_end = 0;
	uint64_t sub_cpu_ns = 0, sub_paced_ns = 0, sub_marked = 0, sub_setup_ns = 0;
	uint64_t sub_burst_ns = 0;
	uint64_t host_cpu_ns = 0, host_csw = 0, first_ready = UINT64_MAX;
	double sub_p50 = 0, sub_max = 0, tck;
	uint8_t *buf = NULL;
	pid_t bpid = env_broker_pid(&b->env, k);
	size_t nall = 0, nconn = 0;
	long kreq0, kreq1;
	int nh = nhosts(scenario), i, nth = 0, started = 0;

	memset(hp, 0, sizeof(hp));
	for (i = 0; i < MAX_HOSTS; i++)
		hp[i].rfd = hp[i].wfd = -1;
	memset(row, 0, sizeof(*row));
	memset(sr, 0, sizeof(*sr));
	memset(pr, 0, sizeof(*pr));
	row->scenario = scenario;
	row->kind = k;
	row->nsubs = nsubs;
	row->qos = qos;
	row->payload = b->payload;
	row->rate = b->rate;
	row->paced = b->paced;
	row->burst = b->burst;
	row->status = ROW_FAILED;
	sr->status = pr->status = ROW_FAILED;
	b->run_id++;
	bench_topic(k, topic, sizeof(topic));

	if (b->cold_keys)
		forget_key_caches(b, nsubs);
	kreq0 = env_kms_key_requests(&b->env);
	(void)bench_procstat(bpid, &cb0);
	(void)bench_procstat(b->env.kms_pid, &ck0);
	for (i = 0; i < nh; i++, started++)
		if (host_start(b, &hp[i], i, nh, k, scenario, nsubs, qos, b->paced, b->burst,
		    row->note, sizeof(row->note)) != 0)
			goto out;
	pub = pub_connect(b, k, scenario, nsubs, &pubms, row->note, sizeof(row->note));
	for (i = 0; i < nh; i++)
		if (read_ready(&hp[i], pub != NULL ? row->note : err,
		    pub != NULL ? sizeof(row->note) : sizeof(err)) != 0)
			goto out;
	if (pub == NULL)
		goto out;
	(void)bench_procstat(bpid, &cb1);
	(void)bench_procstat(b->env.kms_pid, &ck1);
	kreq1 = env_kms_key_requests(&b->env);
	if ((conn = calloc((size_t)nsubs + 1, sizeof(double))) == NULL)
		goto out;
	for (i = 0; i < nh; i++) {
		memcpy(conn + nconn, hp[i].conn, hp[i].rd.nconn * sizeof(double));
		nconn += hp[i].rd.nconn;
		host_cpu_ns += hp[i].rd.cpu_connect_ns;
		host_csw += hp[i].rd.csw_connect;
		if (hp[i].rd.first_start_ns < first)
			first = hp[i].rd.first_start_ns;
		if (hp[i].rd.last_ready_ns > last)
			last = hp[i].rd.last_ready_ns;
		if (hp[i].rd.first_ready_ns < first_ready)
			first_ready = hp[i].rd.first_ready_ns;
		if (hp[i].rd.sub_p50_ms > sub_p50)
			sub_p50 = hp[i].rd.sub_p50_ms;
		if (hp[i].rd.sub_max_ms > sub_max)
			sub_max = hp[i].rd.sub_max_ms;
	}
	all_ready = last > first ? (double)(last - first) / 1e6 : 0;
	/* CPU per connect: the subscriber hosts over their connects, broker and
	 * KMS from before the hosts start until all are ready (plus the
	 * publisher's one connect) */
	bench_log("  connect CPU: subscriber hosts %.1f ms, broker %.1f ms, KMS %.1f ms "
	    "(%.2f ms per subscriber); %.1f context switches per subscriber in the hosts; "
	    "KMS key requests %ld (%s)",
	    (double)host_cpu_ns / 1e6,
	    (double)(cb1.cpu_ns - cb0.cpu_ns) / 1e6, (double)(ck1.cpu_ns - ck0.cpu_ns) / 1e6,
	    nsubs > 0 ? (double)(host_cpu_ns + cb1.cpu_ns - cb0.cpu_ns + ck1.cpu_ns -
	    ck0.cpu_ns) / 1e6 / nsubs : 0.0, nsubs > 0 ? (double)host_csw / nsubs : 0.0,
	    kreq0 >= 0 && kreq1 >= kreq0 ? kreq1 - kreq0 : -1L,
	    b->cold_keys ? "key caches deleted before the run" :
	    "restarts within key_refresh_s start from their key cache");
	conn_rows(b, k, scenario, nsubs, 1, conn, nconn, &pubms, 1, all_ready, sr, pr);
	sr->status = pr->status = ROW_OK;
	/* Where the time until all are ready went, without a profiler: the
	 * first connect's wait (a process's first paho connect can sleep
	 * 100 ms: docs/BENCHMARKS.md, "Readiness (session 9)"), the connects
	 * and the subscribes after them, and how idle the machine was
	 * meanwhile (/proc/stat, whole clock ticks; the first host's view) */
	tck = (double)bench_clk_tck();
	bench_log("  connect phases: first ready after %.1f ms; connect p50 %.1f p90 %.1f "
	    "max %.1f ms; subscribe p50 %.1f max %.1f ms; machine idle %.0f of %.0f CPU-ms",
	    first_ready != UINT64_MAX && first_ready > first ?
	    (double)(first_ready - first) / 1e6 : 0.0, sr->lat.p50, sr->lat.p90, sr->lat.max,
	    sub_p50, sub_max, tck > 0 ? (double)hp[0].rd.mach_idle * 1000.0 / tck : 0.0,
	    tck > 0 ? (double)hp[0].rd.mach_ticks * 1000.0 / tck : 0.0);

	/* one warm-up message (schemes 1/2: the pairing with every subscriber) */
	if ((buf = malloc(b->payload)) == NULL)
		goto out;
	start = bench_now_ns();
	payload_make(buf, b->payload, b->run_id, PHASE_WARM, 0, start);
	if (link_publish(pub, topic, buf, b->payload, qos, 60000, row->note,
	    sizeof(row->note)) != 0)
		goto out;
	row->first_pub_ms = (double)(bench_now_ns() - start) / 1e6;
	bench_sleep_ms(200);

	/* paced phase, open loop */
	period = (uint64_t)(1e9 / b->rate);
	(void)bench_procstat(bpid, &ps0);
	(void)bench_machine_ticks(&mt0, &mi, &ms0);
	start = bench_now_ns() + 50000000u;
	for (i = 0; i < b->paced; i++) {
		uint64_t sched = start + (uint64_t)i * period;

		bench_sleep_until_ns(sched);
		payload_make(buf, b->payload, b->run_id, PHASE_PACED, (uint32_t)i, sched);
		if (link_publish(pub, topic, buf, b->payload, qos, PUB_TIMEOUT_MS, row->note,
		    sizeof(row->note)) != 0)
			goto out;
	}
	bench_sleep_ms(100);            /* the last deliveries */
	(void)bench_procstat(bpid, &ps1);
	(void)bench_machine_ticks(&mt1, &mi, &ms1);
	row->steal_pct = bench_steal_pct(mt0, ms0, mt1, ms1);

	/* burst phase: as fast as the publisher goes */
	memset(&bc, 0, sizeof(bc));
	bc.b = b;
	bc.pub = pub;
	bc.topic = topic;
	bc.qos = qos;
	pthread_mutex_init(&bc.mu, NULL);
	burst_start = bench_now_ns();
	for (nth = 0; nth < b->burst_threads && nth < 16; nth++)
		if (pthread_create(&th[nth], NULL, burst_thread, &bc) != 0)
			break;
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&bc.mu);
	if (bc.failed) {
		bench_fmt(row->note, sizeof(row->note), "burst: %s", bc.err);
		goto out;
	}
	for (i = 0; i < nh; i++)
		(void)bench_write_all(hp[i].wfd, "D", 1);
	for (i = 0; i < nh; i++)
		if (read_result(&hp[i], row->note, sizeof(row->note)) != 0)
			goto out;
	(void)bench_procstat(bpid, &ps2);
	(void)bench_machine_ticks(&mt2, &mi, &ms2);
	row->steal_pct_burst = bench_steal_pct(mt1, ms1, mt2, ms2);

	/* merge */
	for (i = 0; i < nh; i++)
		nall += hp[i].res.nlat;
	if ((all = malloc(nall * sizeof(double) + 1)) == NULL)
		goto out;
	nall = 0;
	for (i = 0; i < nh; i++) {
		double g = lag_growth(hp[i].lat, hp[i].res.nlat);

		if (g > row->lag_growth_ms)
			row->lag_growth_ms = g;
		memcpy(all + nall, hp[i].lat, hp[i].res.nlat * sizeof(double));
		nall += hp[i].res.nlat;
		row->delivered += hp[i].res.paced_rx;
		row->burst_delivered += hp[i].res.burst_rx;
		row->bad += hp[i].res.bad;
		row->dup += hp[i].res.dup;
		row->link_errors += hp[i].res.link_errors;
		sub_cpu_ns += hp[i].res.cpu_ns;
		sub_paced_ns += hp[i].res.cpu_paced_ns;
		sub_marked += hp[i].res.paced_rx_marked;
		sub_setup_ns += hp[i].res.cpu_setup_ns;
		sub_burst_ns += hp[i].res.cpu_burst_ns;
		if (hp[i].res.burst_last_ns > burst_end)
			burst_end = hp[i].res.burst_last_ns;
	}
	row->expected = (uint64_t)nsubs * (uint64_t)b->paced;
	row->burst_expected = (uint64_t)nsubs * (uint64_t)b->burst;
	bench_summarise(all, nall, &row->lat);
	if (burst_end > burst_start)
		row->throughput_dps = (double)row->burst_delivered /
		    ((double)(burst_end - burst_start) / 1e9);
	tick_us = 1e6 / (double)bench_clk_tck();
	if (row->delivered > 0) {
		row->cpu_us_per_delivery = (double)(ps1.cpu_ns - ps0.cpu_ns) / 1e3 /
		    (double)row->delivered;
		row->cpu_us_per_delivery_ticks = (double)(ps1.cpu_ticks - ps0.cpu_ticks) *
		    tick_us / (double)row->delivered;
		row->cpu_user_us_per_delivery_ticks = (double)(ps1.user_ticks -
		    ps0.user_ticks) * tick_us / (double)row->delivered;
		row->broker_wakeups_per_delivery = (double)(ps1.vcsw - ps0.vcsw) /
		    (double)row->delivered;
	}
	if (row->delivered > 0)
		row->sub_cpu_window_us_per_delivery = (double)sub_cpu_ns / 1e3 /
		    (double)row->delivered;
	if (sub_marked > 0)
		row->sub_cpu_us_per_delivery = (double)sub_paced_ns / 1e3 / (double)sub_marked;
	row->sub_cpu_setup_ms = (double)sub_setup_ns / 1e6;
	if (row->burst_delivered > 0) {
		row->cpu_us_per_delivery_burst = (double)(ps2.cpu_ns - ps1.cpu_ns) / 1e3 /
		    (double)row->burst_delivered;
		row->sub_cpu_us_per_delivery_burst = (double)sub_burst_ns / 1e3 /
		    (double)row->burst_delivered;
	}
	row->rss_kib = ps2.rss_kib;
	row->rss_paced_kib = ps1.rss_kib;
	row->rss_anon_kib = ps2.rss_anon_kib;
	row->hwm_kib = ps2.hwm_kib;
	row->status = ROW_OK;
	if (row->bad != 0 || row->delivered != row->expected) {
		char why[BENCH_MSG_MAX] = "", perr[BENCH_MSG_MAX] = "";
		unsigned long npe = link_rx_errors(pub, perr, sizeof(perr));

		/* what the sub hosts saw missing, and what the publisher's
		 * library reported (a pairing not completed leaves a
		 * subscriber out of scheme 1/2 messages) */
		for (i = 0; i < nh && why[0] == '\0'; i++)
			bench_fmt(why, sizeof(why), "%s", hp[i].res.msg);
		bench_fmt(row->note, sizeof(row->note), "%llu of %llu paced deliveries verified, "
		    "%llu bad%s%s; publisher: %lu library reports%s%s",
		    (unsigned long long)row->delivered, (unsigned long long)row->expected,
		    (unsigned long long)row->bad, why[0] != '\0' ? "; " : "", why, npe,
		    npe > 0 ? ", first: " : "", perr);
	}
out:
	if (row->status != ROW_OK && is_unavailable(row->note))
		row->status = ROW_UNAVAILABLE;
	if (sr->status != ROW_OK) {
		sr->status = pr->status = row->status;
		bench_fmt(sr->note, sizeof(sr->note), "%s", row->note);
		bench_fmt(pr->note, sizeof(pr->note), "%s", row->note);
		sr->scenario = pr->scenario = scenario;
		sr->kind = pr->kind = k;
		sr->nsubs = pr->nsubs = nsubs;
		sr->role = "sub";
		pr->role = "pub";
	}
	if (pub != NULL) {
		link_disconnect(pub);
		link_free(pub);
	}
	for (i = 0; i < started; i++)
		host_reap(&hp[i]);
	free(buf);
	free(all);
	free(conn);
}

void
run_connect(struct bench *b, enum bench_kind k, int scenario, int nsubs, int reps,
    struct conn_row *sr, struct conn_row *pr)
{
	struct hostproc hp[MAX_HOSTS];
	struct link *pub;
	char note[BENCH_MSG_MAX] = "";
	double *subs = NULL, *pubs = NULL, ms, worst = 0;
	uint64_t first, last;
	size_t nsub = 0, npub = 0;
	int nh = nhosts(scenario), rep, i, started, ok = 1;

	memset(sr, 0, sizeof(*sr));
	memset(pr, 0, sizeof(*pr));
	if ((subs = calloc((size_t)(nsubs * reps) + 1, sizeof(double))) == NULL ||
	    (pubs = calloc((size_t)reps + 1, sizeof(double))) == NULL) {
		ok = 0;
		goto out;
	}
	for (rep = 0; rep < reps && ok; rep++) {
		memset(hp, 0, sizeof(hp));
		for (i = 0; i < MAX_HOSTS; i++)
			hp[i].rfd = hp[i].wfd = -1;
		b->run_id++;
		for (started = 0; started < nh; started++)
			if (host_start(b, &hp[started], started, nh, k, scenario, nsubs, 0, 0, 0,
			    note, sizeof(note)) != 0) {
				ok = 0;
				break;
			}
		pub = ok ? pub_connect(b, k, scenario, 0, &ms, note, sizeof(note)) : NULL;
		if (pub == NULL)
			ok = 0;
		else
			pubs[npub++] = ms;
		first = UINT64_MAX;
		last = 0;
		for (i = 0; i < started && ok; i++) {
			if (read_ready(&hp[i], note, sizeof(note)) != 0) {
				ok = 0;
				break;
			}
			memcpy(subs + nsub, hp[i].conn, hp[i].rd.nconn * sizeof(double));
			nsub += hp[i].rd.nconn;
			if (hp[i].rd.first_start_ns < first)
				first = hp[i].rd.first_start_ns;
			if (hp[i].rd.last_ready_ns > last)
				last = hp[i].rd.last_ready_ns;
		}
		if (ok && last > first && (double)(last - first) / 1e6 > worst)
			worst = (double)(last - first) / 1e6;
		for (i = 0; i < started; i++) {
			if (hp[i].wfd >= 0)
				(void)bench_write_all(hp[i].wfd, "D", 1);
			if (ok && read_result(&hp[i], note, sizeof(note)) != 0)
				ok = 0;
		}
		if (pub != NULL) {
			link_disconnect(pub);
			link_free(pub);
		}
		for (i = 0; i < started; i++)
			host_reap(&hp[i]);
	}
out:
	conn_rows(b, k, scenario, nsubs, reps, subs, nsub, pubs, npub, worst, sr, pr);
	sr->status = pr->status = ok ? ROW_OK : is_unavailable(note) ? ROW_UNAVAILABLE :
	    ROW_FAILED;
	bench_fmt(sr->note, sizeof(sr->note), "%s", note);
	bench_fmt(pr->note, sizeof(pr->note), "%s", note);
	free(subs);
	free(pubs);
}
