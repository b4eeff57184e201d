/*
 * report.c - the bench's output: connect.csv, pubrecv.csv, results.json
 * (every figure, the machine, the parameters and the target ratios), and
 * PNG plots drawn by gnuplot in the manner of the paper's Figures 5 and 6.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"

/* A CSV field: quoted, inner quotes doubled, newlines flattened. */
static void
csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputs("\"\"", f);
		else
			fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
	fputc('"', f);
}

static FILE *
open_out(struct bench *b, const char *name, char *path, size_t len)
{
	FILE *f;

	bench_fmt(path, len, "%s/%s", b->out, name);
	if ((f = fopen(path, "w")) == NULL)
		bench_log("cannot write %s", path);
	return f;
}

static int
write_csv(struct bench *b)
{
	char path[BENCH_PATH_MAX];
	FILE *f;
	size_t i;

	if ((f = open_out(b, "connect.csv", path, sizeof(path))) == NULL)
		return -1;
	fputs("scenario,rep,scheme,n_subs,role,reps,samples,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,"
	    "all_ready_ms,parallel,status,note\n", f);
	for (i = 0; i < b->nconn; i++) {
		const struct conn_row *r = &b->conn[i];

		fprintf(f, "%d,%d,%s,%d,%s,%d,%zu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%s,", r->scenario,
		    r->rep + 1, bench_kind_name(r->kind), r->nsubs, r->role, r->reps, r->lat.n, r->lat.mean,
		    r->lat.p50, r->lat.p90, r->lat.p99, r->lat.max, r->all_ready_ms, r->parallel,
		    row_status_name(r->status));
		csv_str(f, r->note);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return -1;
	if (!b->quiet)
		bench_log("wrote %s", path);
	if ((f = open_out(b, "pubrecv.csv", path, sizeof(path))) == NULL)
		return -1;
	fputs("scenario,rep,scheme,n_subs,qos,payload,rate,paced,expected,delivered,bad,dup,"
	    "link_errors,lat_mean_ms,lat_p50_ms,lat_p90_ms,lat_p99_ms,lat_max_ms,"
	    "burst_expected,burst_delivered,throughput_dps,first_pub_ms,broker_cpu_us_per_delivery,"
	    "broker_cpu_us_per_delivery_ticks,broker_cpu_user_us_per_delivery_ticks,"
	    "broker_cpu_us_per_delivery_burst,broker_wakeups_per_delivery,steal_pct,steal_pct_burst,broker_rss_kib,broker_hwm_kib,broker_rss_paced_kib,broker_rss_anon_kib,"
	    "sub_cpu_us_per_delivery,sub_cpu_window_us_per_delivery,sub_cpu_setup_ms,"
	    "sub_cpu_us_per_delivery_burst,status,note\n", f);
	for (i = 0; i < b->nruns; i++) {
		const struct run_row *r = &b->runs[i];

		fprintf(f, "%d,%d,%s,%d,%d,%zu,%.1f,%d,%llu,%llu,%llu,%llu,%llu,%.3f,%.3f,%.3f,%.3f,"
		    "%.3f,%llu,%llu,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%.1f,%.1f,%llu,%llu,%llu,%llu,%.3f,%.3f,%.1f,%.3f,"
		    "%s,",
		    r->scenario,
		    r->rep + 1,
		    bench_kind_name(r->kind), r->nsubs, r->qos, r->payload, r->rate, r->paced,
		    (unsigned long long)r->expected, (unsigned long long)r->delivered,
		    (unsigned long long)r->bad, (unsigned long long)r->dup,
		    (unsigned long long)r->link_errors, r->lat.mean, r->lat.p50, r->lat.p90,
		    r->lat.p99, r->lat.max, (unsigned long long)r->burst_expected,
		    (unsigned long long)r->burst_delivered, r->throughput_dps, r->first_pub_ms,
		    r->cpu_us_per_delivery, r->cpu_us_per_delivery_ticks,
		    r->cpu_user_us_per_delivery_ticks, r->cpu_us_per_delivery_burst, r->broker_wakeups_per_delivery,
		    r->steal_pct, r->steal_pct_burst,
		    (unsigned long long)r->rss_kib,
		    (unsigned long long)r->hwm_kib, (unsigned long long)r->rss_paced_kib,
		    (unsigned long long)r->rss_anon_kib, r->sub_cpu_us_per_delivery,
		    r->sub_cpu_window_us_per_delivery, r->sub_cpu_setup_ms,
		    r->sub_cpu_us_per_delivery_burst, row_status_name(r->status));
		csv_str(f, r->note);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return -1;
	if (!b->quiet)
		bench_log("wrote %s", path);
	return 0;
}

static json_t *
summary_json(const struct bench_summary *s)
{
	return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)s->n, "mean", s->mean,
	    "p50", s->p50, "p90", s->p90, "p99", s->p99, "max", s->max);
}

/* The first line of a file's "key: value" or the whole first line. */
static void
cpu_model(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *p;

	bench_fmt(out, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 && (p = strchr(line, ':')) != NULL) {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = '\0';
			bench_fmt(out, len, "%s", p);
			break;
		}
	}
	fclose(f);
}

static const struct run_row *
find_run(const struct bench *b, int scenario, enum bench_kind k, int n, int qos)
{
	size_t i;

	for (i = 0; i < b->nruns; i++) {
		const struct run_row *r = &b->runs[i];

		if (r->scenario == scenario && r->kind == k && r->nsubs == n && r->qos == qos &&
		    r->status == ROW_OK)
			return r;
	}
	return NULL;
}

static const struct conn_row *
find_conn(const struct bench *b, int scenario, enum bench_kind k, int n, const char *role,
    int reps_min)
{
	size_t i;

	for (i = 0; i < b->nconn; i++) {
		const struct conn_row *r = &b->conn[i];

		if (r->scenario == scenario && r->kind == k && r->nsubs == n &&
		    strcmp(r->role, role) == 0 && r->reps >= reps_min && r->status == ROW_OK)
			return r;
	}
	return NULL;
}

/* The targets (targets.c): per repetition, median and spread. */
static json_t *
targets_json(const struct bench *b)
{
	struct bench_target t[BENCH_TARGETS_MAX];
	json_t *o = json_object(), *x, *v, *growth = json_array();
	const struct run_row *s2, *s4;
	char rule[48];
	int nt = targets_collect(b, t, BENCH_TARGETS_MAX), i, j;

	json_object_set_new(o, "n", json_integer(targets_n(b)));
	json_object_set_new(o, "repeat", json_integer(b->repeat));
	for (i = 0; i < nt; i++) {
		v = json_array();
		for (j = 0; j < t[i].nv; j++)
			json_array_append_new(v, json_real(t[i].v[j]));
		x = json_pack("{s:s,s:s,s:s,s:o}", "what", t[i].what, "unit", t[i].unit,
		    "target", target_rule(&t[i], rule, sizeof(rule)), "values", v);
		if (t[i].met < 0) {
			json_object_set_new(x, "median", json_null());
			json_object_set_new(x, "met", json_null());
		} else {
			json_object_set_new(x, "median", json_real(t[i].median));
			json_object_set_new(x, "min", json_real(t[i].min));
			json_object_set_new(x, "max", json_real(t[i].max));
			json_object_set_new(x, "q1", json_real(t[i].q1));
			json_object_set_new(x, "q3", json_real(t[i].q3));
			json_object_set_new(x, "met", json_boolean(t[i].met));
		}
		json_object_set_new(o, t[i].key, x);
	}
	for (i = 0; i < b->nn; i++) {
		s2 = find_run(b, 1, KIND_S2, b->nlist[i], 0);
		s4 = find_run(b, 1, KIND_S4, b->nlist[i], 0);
		json_array_append_new(growth, json_pack("{s:i,s:o}", "n", b->nlist[i], "ratio",
		    s2 && s4 && s4->cpu_us_per_delivery > 0 ?
		    json_real(s2->cpu_us_per_delivery / s4->cpu_us_per_delivery) : json_null()));
	}
	json_object_set_new(o, "s2_over_s4_cpu_by_n", growth);
	return o;
}

static int
write_json(struct bench *b)
{
	char path[BENCH_PATH_MAX], model[256], hostname[128] = "";
	json_t *root, *conn = json_array(), *runs = json_array(), *o;
	struct utsname u;
	size_t i;
	int r;

	cpu_model(model, sizeof(model));
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	(void)gethostname(hostname, sizeof(hostname) - 1);
	for (i = 0; i < b->nconn; i++) {
		const struct conn_row *c = &b->conn[i];

		o = json_pack("{s:i,s:s,s:i,s:s,s:i,s:o,s:f,s:i,s:s,s:s}", "scenario", c->scenario,
		    "scheme", bench_kind_name(c->kind), "n_subs", c->nsubs, "role", c->role,
		    "reps", c->reps, "latency_ms", summary_json(&c->lat), "all_ready_ms",
		    c->all_ready_ms, "parallel", c->parallel, "status", row_status_name(c->status),
		    "note", c->note);
		json_array_append_new(conn, o);
	}
	for (i = 0; i < b->nruns; i++) {
		const struct run_row *x = &b->runs[i];

		o = json_pack("{s:i,s:s,s:i,s:i,s:I,s:f,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:o,"
		    "s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:b,"
		    "s:s,s:s}",
		    "scenario", x->scenario, "scheme", bench_kind_name(x->kind), "n_subs", x->nsubs,
		    "qos", x->qos, "payload", (json_int_t)x->payload, "rate", x->rate,
		    "paced", x->paced, "burst", x->burst, "expected", (json_int_t)x->expected,
		    "delivered", (json_int_t)x->delivered, "bad", (json_int_t)x->bad,
		    "dup", (json_int_t)x->dup, "link_errors", (json_int_t)x->link_errors,
		    "latency_ms", summary_json(&x->lat),
		    "burst_expected", (json_int_t)x->burst_expected,
		    "burst_delivered", (json_int_t)x->burst_delivered,
		    "throughput_dps", x->throughput_dps, "first_publish_ms", x->first_pub_ms,
		    "broker_cpu_us_per_delivery", x->cpu_us_per_delivery,
		    "broker_cpu_us_per_delivery_ticks", x->cpu_us_per_delivery_ticks,
		    "broker_cpu_us_per_delivery_burst", x->cpu_us_per_delivery_burst,
		    "broker_wakeups_per_delivery", x->broker_wakeups_per_delivery,
		    "steal_pct", x->steal_pct, "steal_pct_burst", x->steal_pct_burst,
		    "broker_rss_kib", (json_int_t)x->rss_kib, "broker_hwm_kib", (json_int_t)x->hwm_kib,
		    "broker_rss_paced_kib", (json_int_t)x->rss_paced_kib,
		    "broker_rss_anon_kib", (json_int_t)x->rss_anon_kib,
		    "sub_cpu_us_per_delivery", x->sub_cpu_us_per_delivery,
		    "sub_cpu_window_us_per_delivery", x->sub_cpu_window_us_per_delivery,
		    "sub_cpu_setup_ms", x->sub_cpu_setup_ms,
		    "sub_cpu_us_per_delivery_burst", x->sub_cpu_us_per_delivery_burst,
		    "lag_growth_ms", x->lag_growth_ms,
		    "fell_behind", bench_fell_behind(x->lag_growth_ms, x->rate),
		    "status", row_status_name(x->status), "note", x->note);
		if (o != NULL)
			(void)json_object_set_new(o, "broker_cpu_user_us_per_delivery_ticks",
			    json_real(x->cpu_user_us_per_delivery_ticks));
		json_array_append_new(runs, o);
	}
	root = json_pack("{s:s,s:s,s:{s:i,s:s,s:s,s:s,s:I},s:{s:b,s:i,s:i,s:f,s:I,s:i,s:i,"
	    "s:i,s:i,s:f,s:i,s:i,s:i},s:o,s:o}",
	    "tool", "mqe2e-bench", "version", PACKAGE_VERSION,
	    "machine", "nproc", (int)sysconf(_SC_NPROCESSORS_ONLN), "cpu_model", model,
	    "kernel", u.release, "hostname", hostname, "clk_tck", (json_int_t)bench_clk_tck(),
	    "params", "quick", b->quick, "paced", b->paced, "burst", b->burst, "rate", b->rate,
	    "payload", (json_int_t)b->payload, "parallel", b->parallel,
	    "burst_threads", b->burst_threads, "connect_reps", b->conn_reps,
	    "connect_subs", b->conn_subs, "netem_ms", b->netem_ms, "grace_ms", b->grace_ms,
	    "paho_ticker_ms", b->ticker_ms, "plain_spin_us", b->plain_spin_us,
	    "connect", conn, "pubrecv", runs);
	if (root == NULL) {
		bench_log("cannot build the JSON report");
		return -1;
	}
	json_object_set_new(root, "targets", targets_json(b));
	json_object_set_new(root, "scenario3", json_pack("{s:b,s:b,s:f,s:s}", "ran", b->nsi.ok,
	    "netem", b->nsi.netem, "netem_ms", b->nsi.netem ? b->netem_ms : 0.0, "note",
	    b->nsi.why));
	bench_fmt(path, sizeof(path), "%s/results.json", b->out);
	r = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(root);
	if (r != 0) {
		bench_log("cannot write %s", path);
		return -1;
	}
	if (!b->quiet)
		bench_log("wrote %s", path);
	return 0;
}

/* ---- results.md: the tables of docs/BENCHMARKS.md ------------------------- */

/* " #2" for the second repetition, "" for the first. */
static const char *
rep_tag(int rep, char *buf, size_t len)
{
	if (rep == 0)
		return bench_fmt(buf, len, "%s", "");
	return bench_fmt(buf, len, " #%d", rep + 1);
}

static void
md_runs(FILE *f, const struct bench *b, int scenario, int qos)
{
	char tag[16];
	const struct run_row *r;
	size_t i;
	int any = 0;

	for (i = 0; i < b->nruns; i++) {
		r = &b->runs[i];
		if (r->scenario != scenario || r->qos != qos)
			continue;
		if (!any)
			fprintf(f, "\n**Scenario %d, QoS %d** (latency in ms from the scheduled send "
			    "time; broker CPU in us per delivery)\n\n"
			    "| kind | N | verified | mean | p50 | p90 | p99 | max | deliveries/s "
			    "(burst) | broker CPU | broker RSS KiB |\n"
			    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", scenario, qos);
		any = 1;
		if (r->status != ROW_OK) {
			fprintf(f, "| %s%s | %d | %s: %s | | | | | | | | |\n", bench_kind_name(r->kind),
			    rep_tag(r->rep, tag, sizeof(tag)), r->nsubs, row_status_name(r->status),
			    r->note);
			continue;
		}
		fprintf(f, "| %s%s | %d | %llu/%llu | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f | %.2f | "
		    "%llu |\n", bench_kind_name(r->kind), rep_tag(r->rep, tag, sizeof(tag)), r->nsubs,
		    (unsigned long long)r->delivered, (unsigned long long)r->expected, r->lat.mean,
		    r->lat.p50, r->lat.p90, r->lat.p99, r->lat.max, r->throughput_dps,
		    r->cpu_us_per_delivery, (unsigned long long)r->rss_kib);
	}
}

/* The targets with their median and spread over the repetitions. */
static void
md_targets(FILE *f, const struct bench *b)
{
	struct bench_target t[BENCH_TARGETS_MAX];
	char rule[48], behind[512];
	int nt = targets_collect(b, t, BENCH_TARGETS_MAX), i;

	fprintf(f, "\n### Targets (scenario 1, N = %d, %d repetition%s)\n\n"
	    "| target | median | min | max | quartiles | rule | verdict |\n"
	    "|---|---:|---:|---:|---|---|---|\n", targets_n(b), b->repeat,
	    b->repeat == 1 ? "" : "s, interleaved");
	for (i = 0; i < nt; i++) {
		if (t[i].met < 0) {
			fprintf(f, "| %s | not measured | | | | %s | |\n", t[i].what,
			    target_rule(&t[i], rule, sizeof(rule)));
			continue;
		}
		if (strcmp(t[i].unit, "x") == 0)
			fprintf(f, "| %s | %.3f | %.3f | %.3f | %.3f-%.3f | %s | %s |\n", t[i].what,
			    t[i].median, t[i].min, t[i].max, t[i].q1, t[i].q3,
			    target_rule(&t[i], rule, sizeof(rule)), t[i].met ? "met" : "**missed**");
		else
			fprintf(f, "| %s | %.0f %s | %.0f | %.0f | %.0f-%.0f | %s | %s |\n", t[i].what,
			    t[i].median, t[i].unit, t[i].min, t[i].max, t[i].q1, t[i].q3,
			    target_rule(&t[i], rule, sizeof(rule)), t[i].met ? "met" : "**missed**");
	}
	fprintf(f, "\nRuns whose subscribers fell behind the paced rate (their p50 latency grew by "
	    "more than %d sending periods from the first fifth of the phase to the last: a queue, "
	    "whose latency and broker memory the run then measures): %s.\n",
	    BENCH_BEHIND_PERIODS, targets_behind(b, behind, sizeof(behind)));
}

static int
write_md(struct bench *b)
{
	char path[BENCH_PATH_MAX], ready[32], tag[16];
	const struct run_row *s4, *s2;
	const struct conn_row *c;
	size_t i;
	FILE *f;
	int n = 0, q, sc;

	if ((f = open_out(b, "results.md", path, sizeof(path))) == NULL)
		return -1;
	for (i = 0; i < (size_t)b->nn; i++)
		if (b->nlist[i] > n)
			n = b->nlist[i];
	fprintf(f, "### Connection latency (ms, until ready)\n\n"
	    "| scenario | kind | subscribers | role | reps | samples | mean | p50 | p90 | p99 | max "
	    "| all ready |\n|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < b->nconn; i++) {
		c = &b->conn[i];
		if (c->status != ROW_OK) {
			fprintf(f, "| %d | %s%s | %d | %s | %d | %s: %s | | | | | | |\n", c->scenario,
			    bench_kind_name(c->kind), rep_tag(c->rep, tag, sizeof(tag)), c->nsubs, c->role, c->reps,
			    row_status_name(c->status), c->note);
			continue;
		}
		if (strcmp(c->role, "sub") == 0 && c->all_ready_ms > 0)
			bench_fmt(ready, sizeof(ready), "%.1f", c->all_ready_ms);
		else
			bench_fmt(ready, sizeof(ready), "-");
		fprintf(f, "| %d | %s%s | %d | %s | %d | %zu | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n",
		    c->scenario, bench_kind_name(c->kind), rep_tag(c->rep, tag, sizeof(tag)), c->nsubs, c->role, c->reps, c->lat.n,
		    c->lat.mean, c->lat.p50, c->lat.p90, c->lat.p99, c->lat.max, ready);
	}
	fprintf(f, "\n### Publish-to-receive latency, throughput, broker cost\n");
	for (sc = 1; sc <= 3; sc++)
		for (q = 0; q < b->nqos; q++)
			md_runs(f, b, sc, b->qos[q]);
	md_targets(f, b);
	fprintf(f, "\nScheme 2 / scheme 4 broker CPU per delivery (QoS %d):", b->qos[0]);
	for (i = 0; i < (size_t)b->nn; i++) {
		s2 = find_run(b, 1, KIND_S2, b->nlist[i], b->qos[0]);
		s4 = find_run(b, 1, KIND_S4, b->nlist[i], b->qos[0]);
		if (s2 && s4 && s4->cpu_us_per_delivery > 0)
			fprintf(f, " N=%d: %.2f;", b->nlist[i],
			    s2->cpu_us_per_delivery / s4->cpu_us_per_delivery);
		else
			fprintf(f, " N=%d: n/a;", b->nlist[i]);
	}
	fprintf(f, "\n");
	if (fclose(f) != 0)
		return -1;
	if (!b->quiet)
		bench_log("wrote %s", path);
	return 0;
}

int
report_write(struct bench *b)
{
	return write_csv(b) == 0 && write_json(b) == 0 && write_md(b) == 0 ? 0 : -1;
}

/* ---- plots ----------------------------------------------------------------- */

static const char *const kind_titles[KIND__COUNT] = {
	"plain MQTT", "E2E (pairwise) in TLS 1.3", "scheme 1", "scheme 2", "scheme 3",
	"scheme 4"
};

/* One data file per kind: N and a value chosen by what. */
enum series { SER_LAT_MEAN, SER_LAT_P99, SER_CPU, SER_TPUT, SER_CONN_SUB, SER_CONN_PUB };

static int
write_series(struct bench *b, enum series s, int qos, enum bench_kind k, char *path,
    size_t len)
{
	const struct run_row *r;
	const struct conn_row *c;
	FILE *f;
	int i, rows = 0;

	bench_fmt(path, len, "%s/plot-%d-%d-%s.dat", b->env.dir, (int)s, qos, bench_kind_name(k));
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (i = 0; i < b->nn; i++) {
		if (s == SER_CONN_SUB || s == SER_CONN_PUB) {
			if ((c = find_conn(b, 1, k, b->nlist[i], s == SER_CONN_SUB ? "sub" : "pub",
			    1)) == NULL || c->reps != 1)
				continue;
			fprintf(f, "%d %.4f %.4f\n", b->nlist[i], c->lat.mean, c->lat.p99);
		} else {
			if ((r = find_run(b, 1, k, b->nlist[i], qos)) == NULL)
				continue;
			fprintf(f, "%d %.4f\n", b->nlist[i], s == SER_LAT_MEAN ? r->lat.mean :
			    s == SER_LAT_P99 ? r->lat.p99 : s == SER_CPU ? r->cpu_us_per_delivery :
			    r->throughput_dps);
		}
		rows++;
	}
	fclose(f);
	return rows;
}

static void
plot(struct bench *b, FILE *g, const char *png, const char *title, const char *ylabel,
    enum series s, int qos, int logy)
{
	char path[KIND__COUNT][BENCH_PATH_MAX];
	int k, have[KIND__COUNT], any = 0, first = 1;

	for (k = 0; k < KIND__COUNT; k++) {
		have[k] = b->kinds[k] && write_series(b, s, qos, (enum bench_kind)k, path[k],
		    sizeof(path[k])) > 0;
		any |= have[k];
	}
	if (!any)
		return;                 /* nothing measured: no plot */
	fprintf(g, "set output '%s/%s'\nset title '%s'\nset ylabel '%s'\n%s\n", b->out, png, title,
	    ylabel, logy ? "set logscale y" : "unset logscale y");
	for (k = 0; k < KIND__COUNT; k++) {
		if (!have[k])
			continue;
		fprintf(g, "%s '%s' using 1:2 with linespoints title '%s'", first ? "plot" : ",",
		    path[k], kind_titles[k]);
		first = 0;
	}
	fputc('\n', g);
}

int
report_plots(struct bench *b)
{
	char script[BENCH_PATH_MAX], log[BENCH_PATH_MAX], title[256];
	const char *argv[] = { "gnuplot", script, NULL };
	FILE *g;
	int q;

	bench_fmt(script, sizeof(script), "%s/plots.gp", b->env.dir);
	bench_fmt(log, sizeof(log), "%s/gnuplot.log", b->env.dir);
	if ((g = fopen(script, "w")) == NULL)
		return -1;
	fputs("set terminal pngcairo size 900,560 font 'sans,10'\n"
	    "set grid\nset key top left\nset xlabel 'subscribers'\nset logscale x\n"
	    "set xtics (2,5,10,20,50,100,200,500,1000)\n", g);
	for (q = 0; q < b->nqos; q++) {
		bench_fmt(title, sizeof(title), "Publish-receive latency, mean (scenario 1, QoS %d, "
		    "%zu B, %.0f msg/s)", b->qos[q], b->payload, b->rate);
		plot(b, g, b->qos[q] ? "latency_qos1.png" : "latency_qos0.png", title, "ms",
		    SER_LAT_MEAN, b->qos[q], 0);
		bench_fmt(title, sizeof(title), "Publish-receive latency, p99 (scenario 1, QoS %d)",
		    b->qos[q]);
		plot(b, g, b->qos[q] ? "latency_p99_qos1.png" : "latency_p99_qos0.png", title, "ms",
		    SER_LAT_P99, b->qos[q], 1);
	}
	plot(b, g, "connect_sub.png", "Subscriber connection latency, mean (until ready)", "ms",
	    SER_CONN_SUB, 0, 0);
	plot(b, g, "connect_pub.png", "Publisher connection latency (until ready)", "ms",
	    SER_CONN_PUB, 0, 0);
	bench_fmt(title, sizeof(title), "Broker CPU per delivered message (QoS %d)", b->qos[0]);
	plot(b, g, "broker_cpu.png", title, "us per delivery", SER_CPU, b->qos[0], 0);
	bench_fmt(title, sizeof(title), "Saturation throughput (QoS %d)", b->qos[0]);
	plot(b, g, "throughput.png", title, "deliveries/s", SER_TPUT, b->qos[0], 0);
	if (fclose(g) != 0)
		return -1;
	if (bench_run(argv, log) != 0)
		return -1;
	bench_log("wrote the plots to %s", b->out);
	return 0;
}
