/*
 * bench.h - mqe2e-bench internals shared by the files of bench/.
 *
 * The bench is one program in two roles.  The parent ("driver") starts the
 * KMS and the brokers, enrols the clients, connects the publisher and paces
 * the messages.  Subscribers live in child processes ("sub hosts": the same
 * binary re-executed with --sub-host), so that scenario 2 can split them
 * across two processes and scenario 3 can put each process in a network
 * namespace of its own.  A sub host reports over its stdout pipe in fixed
 * binary records (struct host_ready, struct host_result, then arrays of
 * doubles); parent and child are the same executable, so the layout agrees.
 *
 * Times are CLOCK_MONOTONIC nanoseconds, which is one clock for every
 * process and namespace of the machine: a subscriber computes latency from
 * the scheduled send time the publisher put into the plaintext.
 */
#ifndef MQE2E_BENCH_H
#define MQE2E_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_ID_MAX 64
#define BENCH_PATH_MAX 1024
#define BENCH_URI_MAX 256
#define BENCH_MSG_MAX 512
#define BENCH_MAX_SUBS 1000
#define BENCH_PAYLOAD_MIN 40
#define BENCH_PAYLOAD_MAX (256 * 1024)

/* What carries the messages. */
enum bench_kind {
	KIND_PLAIN = 0,         /* MQTT, no security, stock broker */
	KIND_TLS,               /* conventional: per-pair AES-256-GCM inside TLS 1.3 */
	KIND_S1, KIND_S2, KIND_S3, KIND_S4,     /* mqe2e schemes through the plugin */
	KIND__COUNT
};

const char *bench_kind_name(enum bench_kind k);       /* "plain", "tls", "s1".. */
int bench_kind_parse(const char *s, enum bench_kind *out);
int bench_kind_scheme(enum bench_kind k);               /* 1..4, 0 for baselines */

/* ---- time and small helpers (util.c) ------------------------------------- */
uint64_t bench_now_ns(void);
/* CPU time of this process, all its threads (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t bench_cpu_ns(void);
uint64_t bench_csw(void);
/* The machine's CPU time so far from /proc/stat's "cpu" line, in clock
 * ticks (bench_clk_tck() per second, summed over every CPU): all of it, the
 * idle part (idle + iowait) and, if steal is not NULL, the stolen part (a
 * virtual machine's CPUs running someone else's work).  0, or -1 when it
 * cannot be read. */
int bench_machine_ticks(uint64_t *total, uint64_t *idle, uint64_t *steal);
/* The stolen share of the machine's CPU time between two bench_machine_ticks
 * readings, in per cent (0 if nothing was read). */
double bench_steal_pct(uint64_t total0, uint64_t steal0, uint64_t total1, uint64_t steal1);
void bench_sleep_until_ns(uint64_t t);
void bench_sleep_ms(int ms);
/* Progress and errors on stderr, prefixed "mqe2e-bench: ". */
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* snprintf that never fails (cuts at len); returns buf. */
char *bench_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Decimal in [min, max], the whole string: 0, or -1 if not. */
int bench_parse_long(const char *s, long min, long max, long *out);
int bench_parse_double(const char *s, double min, double max, double *out);
/* Hex (2*len digits) to bytes: 0 or -1. */
/* Write/read exactly len bytes on a pipe; 0 or -1 (EOF or error). */
int bench_write_all(int fd, const void *p, size_t len);
int bench_read_all(int fd, void *p, size_t len, int timeout_ms);

/* ---- sample statistics (stats.c) ----------------------------------------- */
struct bench_summary {
	size_t n;
	double mean, p50, p90, p99, max;
};
/* Sort v in place and summarise it (all zero for n == 0). */
void bench_summarise(double *v, size_t n, struct bench_summary *out);
/* 1 if a run's subscribers fell behind its paced rate (r->lag_growth_ms over
 * BENCH_BEHIND_PERIODS sending periods); the figures of such a run measure a
 * queue, not the path (mqe2e-bench(1), what is measured). */
#define BENCH_BEHIND_PERIODS 5
int bench_fell_behind(double lag_growth_ms, double rate);

/* ---- processes (proc.c) --------------------------------------------------- */
/* Start argv[0] with stdin/stdout/stderr redirected (-1: inherit; a path in
 * out_path/err_path is opened for append).  Returns the pid or -1. */
pid_t bench_spawn(const char *const argv[], const char *log, int in_fd, int out_fd);
/* SIGTERM, wait up to ms, then SIGKILL; reaps.  pid <= 0 is a no-op. */
void bench_stop_pid(pid_t pid, int ms);
/* Run argv to completion with stdout/stderr to log (may be NULL: /dev/null);
 * its exit status, or -1. */
int bench_run(const char *const argv[], const char *log);
/* Broker resources: CPU in ticks (utime+stime of /proc/PID/stat), CPU in
 * ns (the process's CPU-time clock, exited threads included), VmRSS and
 * VmHWM in KiB. */
struct bench_procstat {
	uint64_t cpu_ticks;             /* utime + stime, clock ticks */
	uint64_t user_ticks;            /* utime alone */
	uint64_t cpu_ns;
	uint64_t rss_kib;
	uint64_t hwm_kib;
	uint64_t rss_anon_kib;          /* RssAnon: VmRSS without file pages (code) */
	uint64_t vcsw;                  /* voluntary context switches of the main
	                                   thread: for Mosquitto, its sleeps in
	                                   epoll_wait, each ended by a wake-up */
};
int bench_procstat(pid_t pid, struct bench_procstat *out);
long bench_clk_tck(void);
/* Wait until host:port accepts TCP (up to ms): 0 or -1. */
int bench_wait_port(const char *host, int port, int ms);
/* A free TCP port on host (bind to 0 and read it back), or -1. */
int bench_free_port(const char *host);

/* ---- the world: KMS, brokers, PKI (env.c) ---------------------------------- */
struct bench_env {
	char dir[BENCH_PATH_MAX];       /* work dir: kms/, pki/, logs */
	char host[64];                  /* address everything listens on */
	char bindir[BENCH_PATH_MAX];    /* where mqe2e-kmsd lives */
	char plugin[BENCH_PATH_MAX];
	char mosquitto[BENCH_PATH_MAX];
	int kms_port, mq_port, plain_port, tls_port;
	int mqe2e_tls;                  /* --mqe2e-tls: s1-s4 over TLS too */
	int mq_tls_port;                /* the mqe2e broker's TLS listener */
	char kms_url[BENCH_URI_MAX];
	char token[128];
	pid_t kms_pid, mq_pid, base_pid;        /* base: the stock broker */
	int own_kms, own_brokers;
	int nsubs;                      /* subscribers enrolled: sub0001.. */
	uint8_t pair_secret[32];        /* TLS baseline: pair keys derive from it */
	int ready;
	char mq_conf[4096], base_conf[4096];    /* the brokers' configurations */
	char mq_stats[BENCH_PATH_MAX];  /* the plugin's stats file: its policy is in */
};
/* Start (or attach to) KMS and brokers and enrol 1 publisher and nsubs
 * subscribers on groups s1..s4 (filters bench/sN/#).  0 or -1 (logged). */
int env_start(struct bench_env *e);
void env_stop(struct bench_env *e);
/* Start mqe2e-kmsd (kmsd: its path, NULL for bindir/mqe2e-kmsd) on a free
 * port with data dir DIR/kms and, if conf_text is not NULL, that
 * mqe2e-kmsd.conf(5) text (written to DIR/kmsd.conf); reads the admin
 * token.  0 or -1 (logged). */
int env_start_kms(struct bench_env *e, const char *kmsd, const char *conf_text);
/* One request to the KMS at e->kms_url over a connection of its own (a
 * short-lived core/http endpoint; https URLs are verified with
 * $MQE2E_KMS_CAFILE); token (may be NULL) as the bearer.  As
 * mqe2e_http_request; free resp with mqe2e_http_response_free. */
struct mqe2e_http_response;
int env_kms_request(struct bench_env *e, const char *method, const char *path,
    const char *ctype, const char *token, const uint8_t *body, size_t len, int timeout_ms,
    struct mqe2e_http_response *resp);
/* POST a JSON object (consumed) to the KMS's path with the admin token; 0
 * for a 2xx (or 409 if conflict_ok), the parsed answer in *out (may be
 * NULL; json_decref it).  Logs failures. */
struct json_t;
/* The key requests the KMS has answered (its /metrics), or -1. */
long env_kms_key_requests(struct bench_env *e);
int env_kms_post(struct bench_env *e, const char *path, struct json_t *body, int conflict_ok,
    struct json_t **out);
/* Add client name of kind ("client", "broker") with a generated
 * certificate: pki/NAME.crt, pki/NAME.key and pki/ca.crt.  Kept across
 * starts: an existing pki/NAME.key means done. */
int env_enrol(struct bench_env *e, const char *pki, const char *name, const char *kind);
/* Grant client right ("pub", "sub") on group; an existing grant is fine. */
int env_grant(struct bench_env *e, const char *client, const char *group, const char *right);
/* The broker URI that carries kind k. */
void env_broker_uri(const struct bench_env *e, enum bench_kind k, const char *host,
    char *out, size_t len);
/* The broker process that carries kind k. */
pid_t env_broker_pid(const struct bench_env *e, enum bench_kind k);
/* Restart the broker that carries kind k (the same port and configuration;
 * not a broker given with --broker-port), so that a run's broker CPU and
 * memory are its own, not what earlier runs left: 0 or -1 (logged). */
int env_fresh_broker(struct bench_env *e, enum bench_kind k);

/* ---- payload (payload.c) --------------------------------------------------- */
#define PHASE_PACED 1
#define PHASE_BURST 2
#define PHASE_WARM 3              /* warm-up (pairing): not counted */
/* Fill p[0..len) (len >= BENCH_PAYLOAD_MIN) with the plaintext of message
 * seq of a phase, scheduled at sched_ns, for run run_id. */
void payload_make(uint8_t *p, size_t len, uint64_t run_id, int phase, uint32_t seq,
    uint64_t sched_ns);
/* Check a received plaintext: 0 and the fields, or -1 if anything is off
 * (length, magic, run id, the fill pattern). */
int payload_check(const uint8_t *p, size_t len, size_t want_len, uint64_t run_id,
    int *phase, uint32_t *seq, uint64_t *sched_ns);

/* ---- links (link.c): one MQTT client of any kind ------------------------- */
struct link;
struct link_opts {
	enum bench_kind kind;
	const char *uri;                /* tcp:// or ssl:// */
	const char *id;                 /* client id (mqe2e: certificate CN) */
	const char *pki;                /* dir with ID.crt, ID.key, ca.crt, tls-ca.crt */
	const char *kms_url;
	const uint8_t *pair_secret;     /* TLS baseline */
	const char *recipients;         /* s1/s2 publisher: comma-separated ids */
	int no_key_cache;               /* mqe2e: key_cache 0 (the storm) */
	int spin_us;                    /* plain: CPU to burn per delivery (diagnostic) */
};
/* Called for each received plaintext (after decryption and verification by
 * the link); ok = 0 if the link could not verify or decrypt it. */
typedef void (*link_rx_cb)(void *arg, const uint8_t *pt, size_t len, int ok);
/* A client; no network yet.  errbuf gets why on failure. */
int link_new(const struct link_opts *o, link_rx_cb cb, void *arg, struct link **out,
    char *errbuf, size_t errlen);
void link_free(struct link *l);
/* Connect until ready (mqe2e: keys fetched and CONNACK verified). */
int link_connect(struct link *l, int timeout_ms, char *errbuf, size_t errlen);
int link_subscribe(struct link *l, const char *topic, int qos, int timeout_ms,
    char *errbuf, size_t errlen);
void link_disconnect(struct link *l);
/* Publisher of the TLS baseline: the subscribers whose pair keys (derived
 * from secret) to use, ids[0..n); every message goes to each, sealed under
 * its own key, on bench/tls/ID.  Once per link. */
int link_set_peer_keys(struct link *l, const uint8_t secret[32], char *const *ids, size_t n);
/* Publish one plaintext on topic (the TLS baseline: one sealed copy per
 * peer), waiting for the broker's acknowledgement (QoS 1) or the hand-over to
 * the network (QoS 0), like mqe2e_publish.  0 or -1 with errbuf. */
int link_publish(struct link *l, const char *topic, const uint8_t *pt, size_t len, int qos,
    int timeout_ms, char *errbuf, size_t errlen);
/* TCP_NODELAY on every TCP socket of the process (unless bench_nagle). */
extern int bench_nagle;
void link_nodelay_all(void);
/* Count of messages refused by the link's error callback (mqe2e) since new. */
unsigned long link_rx_errors(struct link *l, char *first, size_t firstlen);
/* Derive the TLS baseline pair key of subscriber id (32 bytes). */
int link_pair_key(const uint8_t secret[32], const char *id, uint8_t key[32]);

/* ---- sub hosts (host.c) ------------------------------------------------------ */
struct host_params {
	enum bench_kind kind;
	char uri[BENCH_URI_MAX];
	char kms_url[BENCH_URI_MAX];
	char pki[BENCH_PATH_MAX];
	char topic[256];                /* plain/s1-4; TLS: bench/tls/ID */
	uint8_t pair_secret[32];
	int first, count;               /* subscribers sub(first+1) .. sub(first+count) */
	int qos;
	int paced, burst;               /* messages expected per subscriber */
	size_t payload;
	uint64_t run_id;
	int parallel;                   /* connect threads */
	int grace_ms;                   /* after the driver says done */
	int ticker_ms;                  /* keep paho's receive thread awake while
	                                   connecting (diagnostic; 0 = off) */
	char ticker_uri[BENCH_URI_MAX]; /* the plain broker for the ticker */
	int plain_spin_us;              /* plain subscribers: CPU burnt per delivery
	                                   (diagnostic; 0 = off) */
};

/* First record on the pipe, then `nconn` doubles (connect latencies, ms),
 * then `nconn` doubles (their KMS key fetch part, ms; 0 for baselines). */
struct host_ready {
	uint32_t magic;
	int32_t status;                 /* 0 ready, -1 failed (msg says why) */
	uint32_t nconn;
	uint64_t first_start_ns, last_ready_ns;
	uint64_t cpu_connect_ns;        /* the host's CPU over its connects */
	uint64_t csw_connect;           /* its context switches over them (all threads) */
	uint64_t first_ready_ns;        /* the first connect that returned */
	double sub_p50_ms, sub_max_ms;  /* the subscribes after the connects */
	uint64_t mach_ticks, mach_idle; /* the machine's CPU ticks over the connects
	                                   (every CPU) and the idle ones among them */
	char msg[BENCH_MSG_MAX];
};
/* Second record, then `nlat` doubles (publish-to-receive latencies, ms). */
struct host_result {
	uint32_t magic;
	int32_t status;
	uint64_t paced_rx, burst_rx;    /* verified, distinct deliveries */
	uint64_t bad;                   /* failed verification / decryption */
	uint64_t dup;                   /* delivered twice */
	uint64_t link_errors;           /* refused by the library's checks */
	uint64_t burst_last_ns;         /* when the last burst message arrived */
	uint64_t cpu_ns;                /* the process's CPU time (all threads) from
	                                   ready until the first saturation message
	                                   arrived (or the end): the whole window */
	uint64_t cpu_setup_ns;          /* of it, from ready until the first paced
	                                   delivery (publisher's connect, warm-up) */
	uint64_t cpu_paced_ns;          /* from the first copy of the first paced
	                                   message to the first copy of the last one
	                                   seen: the paced phase alone */
	uint64_t paced_rx_marked;       /* deliveries between those two marks */
	uint64_t cpu_burst_ns;          /* from the first copy of the first saturation
	                                   message to the end of collect(): the
	                                   saturation phase (its tail is polls) */
	uint64_t nlat;
	char msg[BENCH_MSG_MAX];
};
#define HOST_MAGIC_READY 0x4d514252u
#define HOST_MAGIC_RESULT 0x4d514253u

/* "mqe2e-bench kms ..." (kms.c): the KMS benchmark; argv[0] is "kms". */
int kms_bench_main(int argc, char **argv);

/* The child's main (argv after --sub-host); the exit status. */
int host_main(int argc, char **argv);
/* Build the argv of a sub host (static storage inside p's buffer `buf`);
 * prefix (may be NULL) is prepended, e.g. {"ip","netns","exec","ns",NULL}. */
int host_argv(const char *self, const struct host_params *p, const char *const *prefix,
    char *buf, size_t buflen, const char **argv, size_t argv_max);

/* Name prefix of clients, groups and topics: "" with the bench's own KMS,
 * "bXXXXXX-" (random) with a given one, so that nothing collides. */
extern char bench_prefix[24];
/* The subscriber client id of index i (1-based), the publisher's id. */
void bench_sub_id(int i, char *out, size_t len);
void bench_pub_id(char *out, size_t len);
/* The topic of a kind (TLS: the prefix bench/tls/). */
void bench_topic(enum bench_kind k, char *out, size_t len);


/* ---- the driver (run.c) and its results (report.c) ------------------------ */
enum row_status { ROW_OK = 0, ROW_UNAVAILABLE, ROW_FAILED, ROW_SKIPPED };
const char *row_status_name(enum row_status s);

/* Connection latency of one role at one size. */
struct conn_row {
	int scenario;
	int rep;                        /* repetition (--repeat), from 0 */
	enum bench_kind kind;
	int nsubs;
	const char *role;               /* "sub", "pub", or "sub-kms": the KMS part of "sub" */
	int reps;
	struct bench_summary lat;       /* ms */
	double all_ready_ms;            /* subs: first connect start to last ready (max over reps) */
	int parallel;
	enum row_status status;
	char note[BENCH_MSG_MAX];
};

/* One publish-to-receive run. */
struct run_row {
	int scenario;
	int rep;                        /* repetition (--repeat), from 0 */
	enum bench_kind kind;
	int nsubs, qos;
	size_t payload;
	double rate;
	int paced, burst;
	uint64_t expected, delivered, bad, dup, link_errors;
	uint64_t burst_expected, burst_delivered;
	struct bench_summary lat;       /* ms, from the scheduled send time */
	double throughput_dps;          /* burst deliveries per second */
	double first_pub_ms;            /* the warm-up publish (s1/s2: pairing) */
	double cpu_us_per_delivery;     /* broker, schedstat ns of all threads */
	double cpu_us_per_delivery_ticks;  /* broker, utime+stime of /proc/PID/stat */
	double cpu_user_us_per_delivery_ticks;  /* its utime alone: the plugin's
	                                   work is user time, the system calls of
	                                   a delivery are the same with or
	                                   without it */
	double cpu_us_per_delivery_burst;
	double steal_pct, steal_pct_burst;   /* the machine's CPU time stolen by the
	                                        hypervisor over the paced phase and
	                                        over the saturation phase, % */
	double broker_wakeups_per_delivery;  /* the broker loop's sleeps (voluntary
	                                        context switches) over the paced
	                                        phase, per paced delivery */
	double sub_cpu_us_per_delivery;    /* the subscriber processes' CPU over the
	                                      paced phase, per paced delivery */
	double sub_cpu_window_us_per_delivery; /* the same over ready .. first burst
	                                      message (set-up and tail included) */
	double sub_cpu_setup_ms;        /* ready .. first paced delivery */
	double sub_cpu_us_per_delivery_burst; /* the subscriber processes' CPU over
	                                      the saturation phase, per delivery */
	uint64_t rss_kib, hwm_kib;
	uint64_t rss_paced_kib;         /* VmRSS after the paced phase, before the
	                                   burst's queues */
	uint64_t rss_anon_kib;          /* RssAnon after the run: the broker's own
	                                   memory, not the shared libraries' pages */
	double lag_growth_ms;           /* how far the subscribers fell behind the
	                                   paced rate: p50 latency of the last fifth
	                                   of a host's paced deliveries minus that
	                                   of its first fifth, the largest over the
	                                   hosts (run.c, lag_growth) */
	enum row_status status;
	char note[BENCH_MSG_MAX];
};

struct netns_info {
	int ok;
	int netem;                      /* the delay is in place */
	char ns[2][32];
	char veth[2][16];               /* root ends */
	char host_ip[2][32];            /* the root side of each veth: where brokers listen */
	char why[BENCH_MSG_MAX];
};

struct bench {
	struct bench_env env;
	char self[BENCH_PATH_MAX];
	char out[BENCH_PATH_MAX];
	int quick;
	int quiet;                      /* report_write without progress lines */
	int kinds[KIND__COUNT];
	int nlist[16], nn;
	int slist[16], nsn;              /* sizes of scenarios 2 and 3 */
	int qos[2], nqos;
	int sqos[2], nsqos;             /* QoS of scenarios 2 and 3 */
	int scenarios[3], nscen;
	int paced, burst, burst_threads;
	double rate;
	size_t payload;
	int parallel;
	int conn_reps, conn_subs;
	int repeat;                     /* interleaved repetitions of the runs */
	int cold_keys;                  /* --cold-keys: no key cache at a run's start */
	int grace_ms;
	int ticker_ms;
	int plain_spin_us;              /* --plain-spin-us (diagnostic) */
	double netem_ms;
	uint64_t run_id;
	struct conn_row *conn;
	size_t nconn, conncap;
	struct run_row *runs;
	size_t nruns, runcap;
	struct netns_info nsi;
};

/* One publish-to-receive run: fills row and the connection rows of the
 * subscribers and the publisher (the KMS part of an mqe2e connect is not
 * timed apart: the library fetches the keys during the handshake). */
void run_pubrecv(struct bench *b, enum bench_kind k, int scenario, int nsubs, int qos,
    struct run_row *row, struct conn_row *subs, struct conn_row *pub);
/* The connection experiment: 1 publisher + nsubs subscribers, reps times. */
void run_connect(struct bench *b, enum bench_kind k, int scenario, int nsubs, int reps,
    struct conn_row *subs, struct conn_row *pub);

/* The targets of issue 15 (scenario 1, the largest N), each a value per
 * repetition and their median and spread (targets.c). */
#define BENCH_REPEAT_MAX 50
enum target_cmp { TARGET_LE, TARGET_LT, TARGET_GE };
struct bench_target {
	char key[48];                   /* results.json: "s4_plain_p50_qos0" */
	char what[160];                 /* "scheme 4 / plain p50 latency, QoS 0" */
	const char *unit;               /* "x" (a ratio), "KiB", "ms" */
	enum target_cmp cmp;
	double target;
	double v[BENCH_REPEAT_MAX];     /* one per repetition that measured it */
	int nv;
	double median, min, max, q1, q3;        /* of v */
	int met;                        /* the median meets the target; -1: not measured */
};
#define BENCH_TARGETS_MAX 32
/* Fill t[0..max) from the runs so far; the count. */
int targets_collect(const struct bench *b, struct bench_target *t, int max);
/* The largest subscriber count of scenario 1. */
int targets_n(const struct bench *b);
/* The target's comparison as text: "<= 1.10". */
const char *target_rule(const struct bench_target *t, char *buf, size_t len);
/* Which runs of the targets' set fell behind their paced rate, as text:
 * "QoS 0: none; QoS 1: s4 3 of 5" (bench_fell_behind); buf. */
const char *targets_behind(const struct bench *b, char *buf, size_t len);
/* One line per target on stderr: the end of every run. */
void targets_log(const struct bench *b);

/* CSV, JSON and gnuplot output into b->out; 0 or -1. */
int report_write(struct bench *b);
int report_plots(struct bench *b);

/* Scenario 3 (netns.c): two namespaces with veth pairs and netem; ok = 0 with
 * the reason when this machine cannot. */
void netns_setup(struct bench *b);
void netns_teardown(struct bench *b);

#endif
