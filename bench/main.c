/*
 * mqe2e-bench - reproduce the experiments of Chien, Shih and Huang (2025)
 * on mqe2e: connection latency, publish-to-receive latency, throughput and
 * broker cost for schemes 1-4 against plain MQTT and the conventional model
 * (end-to-end AES-256-GCM per pair inside TLS 1.3).  See mqe2e-bench(1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "crypto.h"
#include "hex.h"

#ifndef BENCH_KMSD
#define BENCH_KMSD "mqe2e-kmsd"
#endif
#ifndef BENCH_PLUGIN
#define BENCH_PLUGIN "/usr/local/lib/mqe2e/mqe2e_plugin.so"
#endif
#ifndef BENCH_MOSQUITTO
#define BENCH_MOSQUITTO "/usr/sbin/mosquitto"
#endif

static void
usage(FILE *f)
{
	fputs(
"usage: mqe2e-bench [--quick] [-o DIR] [--schemes LIST] [--subs LIST] [--qos LIST]\n"
"                   [-m N] [--burst N] [-r RATE] [-s BYTES] [--scenarios LIST]\n"
"                   [--scenario-subs LIST] [--scenario-qos LIST] [--connect-reps N]\n"
"                   [--connect-subs N]\n"
"                   [--parallel N] [--burst-threads N] [--netem-ms MS] [--nagle]\n"
"                   [--repeat K] [--cold-keys]\n"
"                   [--work-dir DIR] [--keep]\n"
"                   [--kmsd PATH] [--plugin PATH] [--mosquitto PATH]\n"
"                   [--kms-url URL --kms-token-file FILE] [--broker-port PORT [--broker-pid PID]]\n"
"Measure mqe2e schemes 1-4 against plain MQTT and E2E-in-TLS; write CSV, JSON\n"
"and PNG plots into DIR (default ./mqe2e-bench-out).  See mqe2e-bench(1).\n"
"  --quick              seconds, not minutes: 2 and 5 subscribers, 50 messages\n"
"                       at 500/s, 3 connects, scenarios 1 and 2\n"
"  --schemes LIST       of plain,tls,s1,s2,s3,s4 (default all)\n"
"  --subs LIST          subscriber counts (default 10,20,50,100,200)\n"
"  --qos LIST           0,1 (default both)\n"
"  -m, --messages N     paced messages per run (default 1000)\n"
"  --burst N            saturation messages per run (default 1000)\n"
"  -r, --rate RATE      paced messages per second (default 100)\n"
"  -s, --payload BYTES  plaintext size, 40 to 262144 (default 256)\n"
"  --scenarios LIST     1 (one sub process), 2 (two), 3 (two network namespaces\n"
"                       with netem delay; root only) (default 1,2,3)\n"
"  --scenario-subs LIST subscriber counts of scenarios 2 and 3 (default 100,200)\n"
"  --scenario-qos LIST  QoS of scenarios 2 and 3 (default: as --qos)\n"
"  --connect-reps N     repetitions of the 1+5 connection test (default 50)\n"
"  --parallel N         connecting threads in all, split over the sub processes\n"
"                       (default 16)\n"
"  --burst-threads N    publishing threads of the saturation phase (default 4)\n"
"  --nagle              leave Nagle on the client sockets (default: TCP_NODELAY)\n"
"  --mqe2e-tls          schemes 1-4 reach the mqe2e broker over TLS 1.3 as well\n"
"                       (its own listener; default: plain TCP)\n"
"  --repeat K           run every publish-to-receive run K times, interleaved,\n"
"                       and give each target ratio's median and spread (default 1)\n"
"  --cold-keys          delete the subscribers' key caches before each run, so\n"
"                       that every connect is a first start that asks the KMS\n"
"                       (default: a run after the first restarts from them)\n"
"  --paho-ticker MS     diagnostic: wake paho's receive thread every MS while\n"
"                       subscribers connect\n"
"  --plain-spin-us US   diagnostic: the plain subscribers burn US of CPU on\n"
"                       each delivery (how the broker's CPU follows theirs)\n"
"  -h, --help           this text\n"
"  --version            print the version\n"
"Environment: MQE2E_KMS_URL with MQE2E_KMS_TOKEN_FILE name a running KMS\n"
"(as --kms-url, --kms-token-file).\n",
	    f);
}

/* "a,b,c" of integers in [min,max] into v (at most max_n): the count or -1. */
static int
parse_list(const char *s, long min, long max, int *v, int max_n)
{
	char item[32];
	const char *p = s, *comma;
	size_t len;
	long x;
	int n = 0;

	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(item) || n >= max_n)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (bench_parse_long(item, min, max, &x) != 0)
			return -1;
		v[n++] = (int)x;
		p += len + (comma != NULL);
	}
	return n > 0 ? n : -1;
}

static int
parse_kinds(const char *s, int *kinds)
{
	char item[16];
	const char *p = s, *comma;
	enum bench_kind k;
	size_t len;
	int n = 0;

	memset(kinds, 0, sizeof(int) * KIND__COUNT);
	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(item))
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (bench_kind_parse(item, &k) != 0)
			return -1;
		kinds[k] = 1;
		n++;
		p += len + (comma != NULL);
	}
	return n > 0 ? 0 : -1;
}

static int
push_conn(struct bench *b, const struct conn_row *r)
{
	struct conn_row *n;

	if (b->nconn == b->conncap) {
		size_t cap = b->conncap ? b->conncap * 2 : 64;

		if ((n = realloc(b->conn, cap * sizeof(*n))) == NULL)
			return -1;
		b->conn = n;
		b->conncap = cap;
	}
	b->conn[b->nconn++] = *r;
	return 0;
}

static int
push_run(struct bench *b, const struct run_row *r)
{
	struct run_row *n;

	if (b->nruns == b->runcap) {
		size_t cap = b->runcap ? b->runcap * 2 : 64;

		if ((n = realloc(b->runs, cap * sizeof(*n))) == NULL)
			return -1;
		b->runs = n;
		b->runcap = cap;
	}
	b->runs[b->nruns++] = *r;
	return 0;
}

static void
log_run(const struct run_row *r, const struct conn_row *subs)
{
	char rep[16] = "";

	if (r->rep > 0)
		bench_fmt(rep, sizeof(rep), " #%d", r->rep + 1);
	if (r->status != ROW_OK) {
		bench_log("  scenario %d%s %-5s N=%-3d QoS %d: %s: %s", r->scenario, rep,
		    bench_kind_name(r->kind), r->nsubs, r->qos, row_status_name(r->status), r->note);
		return;
	}
	bench_log("  scenario %d%s %-5s N=%-3d QoS %d: %llu/%llu verified, latency p50 %.3f p99 "
	    "%.3f ms, %.0f deliveries/s, broker %.2f us/delivery (%.2f wake-ups) %llu KiB, "
	    "subscribers %.2f "
	    "us/delivery (%.2f over ready..burst, set-up %.0f ms; %.2f in the burst), all ready "
	    "%.0f ms; CPU stolen %.0f %% (burst %.0f %%)",
	    r->scenario, rep, bench_kind_name(r->kind), r->nsubs, r->qos,
	    (unsigned long long)r->delivered, (unsigned long long)r->expected, r->lat.p50,
	    r->lat.p99, r->throughput_dps, r->cpu_us_per_delivery,
	    r->broker_wakeups_per_delivery, (unsigned long long)r->rss_kib, r->sub_cpu_us_per_delivery,
	    r->sub_cpu_window_us_per_delivery, r->sub_cpu_setup_ms,
	    r->sub_cpu_us_per_delivery_burst, subs->all_ready_ms, r->steal_pct,
	    r->steal_pct_burst);
	if (bench_fell_behind(r->lag_growth_ms, r->rate))
		bench_log("    the subscribers fell behind the paced rate: their latency grew by "
		    "%.1f ms over the phase (a queue; this run's latency and memory measure it)",
		    r->lag_growth_ms);
	if (r->note[0] != '\0')
		bench_log("    %s", r->note);
}

/*
 * One scenario: the connection test of every kind (scenario 1), then the
 * publish-to-receive runs, interleaved: for each repetition, size and QoS,
 * every kind in turn, each on a freshly started broker, so that the kinds
 * compared in a ratio ran minutes apart at most and no run's broker CPU or
 * memory carries what an earlier run left.
 */
static void
run_scenario(struct bench *b, int scenario)
{
	struct conn_row sr, pr;
	struct run_row row;
	int k, i, q, rep, dead[KIND__COUNT], *nl, nn, scen_n[16], nsn = 0, j, *ql, nq;

	ql = scenario == 1 || b->nsqos == 0 ? b->qos : b->sqos;
	nq = scenario == 1 || b->nsqos == 0 ? b->nqos : b->nsqos;
	if (scenario == 1) {
		nl = b->nlist;
		nn = b->nn;
	} else {
		/* scenarios 2 and 3: their sizes that split in two */
		for (j = 0; j < b->nsn; j++)
			if (b->slist[j] >= 2)
				scen_n[nsn++] = b->slist[j];
		nl = scen_n;
		nn = nsn;
	}
	memset(dead, 0, sizeof(dead));
	for (k = 0; scenario == 1 && b->conn_reps > 0 && k < KIND__COUNT; k++) {
		if (!b->kinds[k])
			continue;
		run_connect(b, (enum bench_kind)k, scenario, b->conn_subs, b->conn_reps, &sr, &pr);
		bench_log("scenario %d: %s connect 1+%d x%d: sub p50 %.2f ms, pub p50 %.2f ms %s%s",
		    scenario, bench_kind_name((enum bench_kind)k), b->conn_subs, b->conn_reps,
		    sr.lat.p50, pr.lat.p50, row_status_name(sr.status), sr.note[0] ? ": " : "");
		if (sr.note[0])
			bench_log("    %s", sr.note);
		(void)push_conn(b, &sr);
		(void)push_conn(b, &pr);
	}
	for (rep = 0; rep < b->repeat; rep++) {
		for (i = 0; i < nn; i++) {
			for (q = 0; q < nq; q++) {
				for (k = 0; k < KIND__COUNT; k++) {
					if (!b->kinds[k])
						continue;
					memset(&row, 0, sizeof(row));
					if (dead[k]) {
						/* a scheme that is not there is not there at any size */
						row.scenario = scenario;
						row.rep = rep;
						row.kind = (enum bench_kind)k;
						row.nsubs = nl[i];
						row.qos = ql[q];
						row.payload = b->payload;
						row.rate = b->rate;
						row.status = ROW_UNAVAILABLE;
						bench_fmt(row.note, sizeof(row.note), "as at the first size");
						(void)push_run(b, &row);
						continue;
					}
					if (env_fresh_broker(&b->env, (enum bench_kind)k) != 0)
						bench_log("  could not restart the broker of %s: it may "
						    "carry earlier runs' state", bench_kind_name((enum bench_kind)k));
					run_pubrecv(b, (enum bench_kind)k, scenario, nl[i], ql[q], &row,
					    &sr, &pr);
					row.rep = sr.rep = pr.rep = rep;
					log_run(&row, &sr);
					(void)push_run(b, &row);
					/* the results so far, in case a later run never ends */
					b->quiet = 1;
					(void)report_write(b);
					b->quiet = 0;
					if (q == 0) {
						(void)push_conn(b, &sr);
						(void)push_conn(b, &pr);
					}
					if (row.status == ROW_UNAVAILABLE)
						dead[k] = 1;
				}
			}
		}
	}
}

static void
rm_rf(const char *dir)
{
	const char *argv[] = { "rm", "-rf", (char *)dir, NULL };

	(void)bench_run(argv, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'Q' },
		{ "out", required_argument, NULL, 'o' },
		{ "schemes", required_argument, NULL, 'k' },
		{ "subs", required_argument, NULL, 'n' },
		{ "qos", required_argument, NULL, 'q' },
		{ "messages", required_argument, NULL, 'm' },
		{ "burst", required_argument, NULL, 'B' },
		{ "rate", required_argument, NULL, 'r' },
		{ "payload", required_argument, NULL, 's' },
		{ "scenarios", required_argument, NULL, 'S' },
		{ "connect-reps", required_argument, NULL, 'R' },
		{ "connect-subs", required_argument, NULL, 'C' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "netem-ms", required_argument, NULL, 'N' },
		{ "work-dir", required_argument, NULL, 'w' },
		{ "keep", no_argument, NULL, 'K' },
		{ "kmsd", required_argument, NULL, 1 },
		{ "plugin", required_argument, NULL, 2 },
		{ "mosquitto", required_argument, NULL, 3 },
		{ "kms-url", required_argument, NULL, 4 },
		{ "kms-token-file", required_argument, NULL, 5 },
		{ "broker-port", required_argument, NULL, 6 },
		{ "broker-pid", required_argument, NULL, 7 },
		{ "burst-threads", required_argument, NULL, 8 },
		{ "scenario-subs", required_argument, NULL, 9 },
		{ "nagle", no_argument, NULL, 10 },
		{ "scenario-qos", required_argument, NULL, 11 },
		{ "paho-ticker", required_argument, NULL, 12 },
		{ "plain-spin-us", required_argument, NULL, 15 },
		{ "mqe2e-tls", no_argument, NULL, 13 },
		{ "repeat", required_argument, NULL, 14 },
		{ "cold-keys", no_argument, NULL, 16 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct bench b;
	const char *kmsd = getenv("MQE2E_KMSD"), *plugin = getenv("MQE2E_PLUGIN");
	const char *mosq = getenv("MOSQUITTO"), *token_file = NULL;
	char *slash;
	long v;
	int c, i, keep = 0, quick_set = 0, set_n = 0, set_m = 0, set_b = 0, set_reps = 0;
	int set_scen = 0, set_sn = 0, set_rate = 0, rc = 1;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "--sub-host") == 0)
		return host_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "kms") == 0)
		return kms_bench_main(argc - 1, argv + 1);
	signal(SIGPIPE, SIG_IGN);
	memset(&b, 0, sizeof(b));
	for (i = 0; i < KIND__COUNT; i++)
		b.kinds[i] = 1;
	b.nn = parse_list("10,20,50,100,200", 1, BENCH_MAX_SUBS, b.nlist, 16);
	b.nqos = parse_list("0,1", 0, 1, b.qos, 2);
	b.nscen = parse_list("1,2,3", 1, 3, b.scenarios, 3);
	b.paced = 1000;
	b.burst = 1000;
	b.burst_threads = 4;
	b.rate = 100;
	b.payload = 256;
	b.parallel = 16;
	b.conn_reps = 50;
	b.conn_subs = 5;
	b.repeat = 1;
	b.grace_ms = 3000;
	b.netem_ms = 2;
	bench_fmt(b.out, sizeof(b.out), "mqe2e-bench-out");
	bench_fmt(b.env.host, sizeof(b.env.host), "127.0.0.1");

	while ((c = getopt_long(argc, argv, "o:m:r:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'Q': quick_set = 1; break;
		case 'o': bench_fmt(b.out, sizeof(b.out), "%s", optarg); break;
		case 'k':
			if (parse_kinds(optarg, b.kinds) != 0)
				goto bad;
			break;
		case 'n':
			if ((b.nn = parse_list(optarg, 1, BENCH_MAX_SUBS, b.nlist, 16)) < 0)
				goto bad;
			set_n = 1;
			break;
		case 'q':
			if ((b.nqos = parse_list(optarg, 0, 1, b.qos, 2)) < 0)
				goto bad;
			break;
		case 'm':
			if (bench_parse_long(optarg, 1, 1000000, &v) != 0)
				goto bad;
			b.paced = (int)v;
			set_m = 1;
			break;
		case 'B':
			if (bench_parse_long(optarg, 0, 1000000, &v) != 0)
				goto bad;
			b.burst = (int)v;
			set_b = 1;
			break;
		case 'r':
			if (bench_parse_double(optarg, 1, 1000000, &b.rate) != 0)
				goto bad;
			set_rate = 1;
			break;
		case 's':
			if (bench_parse_long(optarg, BENCH_PAYLOAD_MIN, BENCH_PAYLOAD_MAX, &v) != 0)
				goto bad;
			b.payload = (size_t)v;
			break;
		case 'S':
			if ((b.nscen = parse_list(optarg, 1, 3, b.scenarios, 3)) < 0)
				goto bad;
			set_scen = 1;
			break;
		case 'R':
			if (bench_parse_long(optarg, 0, 10000, &v) != 0)
				goto bad;
			b.conn_reps = (int)v;
			set_reps = 1;
			break;
		case 'C':
			if (bench_parse_long(optarg, 1, BENCH_MAX_SUBS, &v) != 0)
				goto bad;
			b.conn_subs = (int)v;
			break;
		case 'P':
			if (bench_parse_long(optarg, 1, 256, &v) != 0)
				goto bad;
			b.parallel = (int)v;
			break;
		case 'N':
			if (bench_parse_double(optarg, 0, 1000, &b.netem_ms) != 0)
				goto bad;
			break;
		case 'w': bench_fmt(b.env.dir, sizeof(b.env.dir), "%s", optarg); break;
		case 'K': keep = 1; break;
		case 1: kmsd = optarg; break;
		case 2: plugin = optarg; break;
		case 3: mosq = optarg; break;
		case 4: bench_fmt(b.env.kms_url, sizeof(b.env.kms_url), "%s", optarg); break;
		case 5: token_file = optarg; break;
		case 13: b.env.mqe2e_tls = 1; break;
		case 6:
			if (bench_parse_long(optarg, 1, 65535, &v) != 0)
				goto bad;
			b.env.mq_port = (int)v;
			break;
		case 7:
			if (bench_parse_long(optarg, 1, INT_MAX, &v) != 0)
				goto bad;
			b.env.mq_pid = (pid_t)v;
			break;
		case 8:
			if (bench_parse_long(optarg, 1, 16, &v) != 0)
				goto bad;
			b.burst_threads = (int)v;
			break;
		case 9:
			if ((b.nsn = parse_list(optarg, 2, BENCH_MAX_SUBS, b.slist, 16)) < 0)
				goto bad;
			set_sn = 1;
			break;
		case 10: bench_nagle = 1; break;
		case 16: b.cold_keys = 1; break;
		case 12:
			if (bench_parse_long(optarg, 1, 1000, &v) != 0)
				goto bad;
			b.ticker_ms = (int)v;
			break;
		case 14:
			if (bench_parse_long(optarg, 1, BENCH_REPEAT_MAX, &v) != 0)
				goto bad;
			b.repeat = (int)v;
			break;
		case 15:
			if (bench_parse_long(optarg, 0, 1000, &v) != 0)
				goto bad;
			b.plain_spin_us = (int)v;
			break;
		case 11:
			if ((b.nsqos = parse_list(optarg, 0, 1, b.sqos, 2)) < 0)
				goto bad;
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("mqe2e-bench %s\n", PACKAGE_VERSION); return 0;
		default: goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (quick_set) {
		b.quick = 1;
		if (!set_n)
			b.nn = parse_list("2,5", 1, BENCH_MAX_SUBS, b.nlist, 16);
		if (!set_m)
			b.paced = 50;
		if (!set_b)
			b.burst = 50;
		if (!set_reps)
			b.conn_reps = 3;
		if (!set_scen)
			b.nscen = parse_list("1,2", 1, 3, b.scenarios, 3);
		if (!set_rate)
			b.rate = 500;
		if (!set_sn)
			b.nsn = parse_list("5", 2, BENCH_MAX_SUBS, b.slist, 16);
		b.grace_ms = 2000;
	}
	if (!set_sn && !b.quick) {
		/* scenarios 2 and 3 default to the paper's 100 and 200 (of those
		 * measured) */
		for (i = 0, b.nsn = 0; i < b.nn; i++)
			if (b.nlist[i] == 100 || b.nlist[i] == 200)
				b.slist[b.nsn++] = b.nlist[i];
	}
	/* An external KMS from the environment, as for every mqe2e program;
	 * the admin token file must come with it. */
	if (b.env.kms_url[0] == '\0' && token_file == NULL &&
	    getenv("MQE2E_KMS_URL") != NULL && *getenv("MQE2E_KMS_URL") != '\0' &&
	    getenv("MQE2E_KMS_TOKEN_FILE") != NULL && *getenv("MQE2E_KMS_TOKEN_FILE") != '\0') {
		bench_fmt(b.env.kms_url, sizeof(b.env.kms_url), "%s", getenv("MQE2E_KMS_URL"));
		token_file = getenv("MQE2E_KMS_TOKEN_FILE");
	}
	if (b.env.mqe2e_tls && b.env.mq_port != 0) {
		fprintf(stderr, "mqe2e-bench: --mqe2e-tls starts its own mqe2e broker: it does "
		    "not go with --broker-port\n");
		return 1;
	}
	if ((b.env.kms_url[0] != '\0') != (token_file != NULL)) {
		fprintf(stderr, "mqe2e-bench: --kms-url and --kms-token-file go together\n");
		return 1;
	}
	if (readlink("/proc/self/exe", b.self, sizeof(b.self) - 1) < 0) {
		fprintf(stderr, "mqe2e-bench: cannot find my own executable\n");
		return 1;
	}
	bench_fmt(b.env.bindir, sizeof(b.env.bindir), "%s", kmsd != NULL ? kmsd : BENCH_KMSD);
	if ((slash = strrchr(b.env.bindir, '/')) != NULL)
		*slash = '\0';
	else
		bench_fmt(b.env.bindir, sizeof(b.env.bindir), "%s", "/usr/local/sbin");
	bench_fmt(b.env.plugin, sizeof(b.env.plugin), "%s", plugin != NULL ? plugin : BENCH_PLUGIN);
	bench_fmt(b.env.mosquitto, sizeof(b.env.mosquitto), "%s",
	    mosq != NULL && *mosq != '\0' ? mosq : BENCH_MOSQUITTO);
	if (access(b.env.plugin, R_OK) != 0 || access(b.env.mosquitto, X_OK) != 0) {
		fprintf(stderr, "mqe2e-bench: need %s and %s (see --plugin, --mosquitto)\n",
		    b.env.plugin, b.env.mosquitto);
		return 1;
	}
	if (token_file != NULL) {
		uint8_t tag[3];
		char hex[7];

		if ((f = fopen(token_file, "r")) == NULL ||
		    fgets(b.env.token, sizeof(b.env.token), f) == NULL) {
			fprintf(stderr, "mqe2e-bench: cannot read %s\n", token_file);
			if (f != NULL)
				fclose(f);
			return 1;
		}
		fclose(f);
		b.env.token[strcspn(b.env.token, "\r\n")] = '\0';
		if (mqe2e_random(tag, sizeof(tag)) != MQE2E_OK)
			return 1;
		mqe2e_hex(tag, sizeof(tag), hex);
		bench_fmt(bench_prefix, sizeof(bench_prefix), "b%s-", hex);
	}
	if (b.env.dir[0] == '\0') {
		bench_fmt(b.env.dir, sizeof(b.env.dir), "%s/mqe2e-bench.XXXXXX",
		    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(b.env.dir) == NULL) {
			fprintf(stderr, "mqe2e-bench: mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	} else if (mkdir(b.env.dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mqe2e-bench: %s: %s\n", b.env.dir, strerror(errno));
		return 1;
	}
	if (mkdir(b.out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "mqe2e-bench: %s: %s\n", b.out, strerror(errno));
		return 1;
	}
	b.env.nsubs = 0;
	for (i = 0; i < b.nn; i++)
		if (b.nlist[i] > b.env.nsubs)
			b.env.nsubs = b.nlist[i];
	for (i = 0; i < b.nsn; i++)
		if (b.slist[i] > b.env.nsubs)
			b.env.nsubs = b.slist[i];
	if (b.conn_subs > b.env.nsubs)
		b.env.nsubs = b.conn_subs;

	/* scenario 3 needs the namespaces before the brokers bind */
	for (i = 0; i < b.nscen; i++)
		if (b.scenarios[i] == 3)
			netns_setup(&b);
	if (b.nsi.ok)
		bench_fmt(b.env.host, sizeof(b.env.host), "%s", b.nsi.host_ip[0]);
	bench_log("work dir %s, results in %s", b.env.dir, b.out);
	if (env_start(&b.env) != 0)
		goto out;
	if (mqe2e_random(&b.run_id, sizeof(b.run_id)) != MQE2E_OK)
		goto out;
	b.run_id &= 0x3fffffffu;
	for (i = 0; i < b.nscen; i++) {
		if (b.scenarios[i] == 3 && !b.nsi.ok) {
			bench_log("scenario 3 skipped: %s", b.nsi.why);
			continue;
		}
		run_scenario(&b, b.scenarios[i]);
	}
	rc = report_write(&b) == 0 ? 0 : 1;
	targets_log(&b);
	if (report_plots(&b) != 0)
		bench_log("plots not made (gnuplot missing or failed); the CSV and JSON are there");
out:
	env_stop(&b.env);
	netns_teardown(&b);
	if (!keep)
		rm_rf(b.env.dir);
	else
		bench_log("kept %s", b.env.dir);
	free(b.conn);
	free(b.runs);
	return rc;
bad:
	usage(stderr);
	return 1;
}
