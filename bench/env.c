/*
 * env.c - the world the bench measures in: a KMS (started here, or a given
 * one), Mosquitto with the mqe2e plugin, a stock Mosquitto for the
 * baselines (one plain listener, one TLS 1.3 listener with a certificate
 * made by openssl), and the enrolment of the publisher, the subscribers and
 * the broker with the groups s1..s4 (one per scheme) and their grants.
 *
 * Enrolment talks to the KMS REST API directly (core/http.h, jansson):
 * a few hundred requests take seconds this way instead of a process each.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "crypto.h"
#include "http.h"

#define KMS_TIMEOUT_MS 15000

/* The name prefix of clients, groups and topics ("" with our own KMS). */
char bench_prefix[24] = "";

int
env_kms_request(struct bench_env *e, const char *method, const char *path, const char *ctype,
    const char *token, const uint8_t *body, size_t len, int timeout_ms,
    struct mqe2e_http_response *resp)
{
	struct mqe2e_http *h = NULL;
	int r;

	memset(resp, 0, sizeof(*resp));
	if ((r = mqe2e_http_new(e->kms_url, getenv("MQE2E_KMS_CAFILE"), 0, &h, resp->error,
	    sizeof(resp->error))) != MQE2E_OK)
		return r;
	r = mqe2e_http_request(h, method, path, ctype, token, body, len, timeout_ms, -1, resp);
	mqe2e_http_free(h);
	return r;
}

long
env_kms_key_requests(struct bench_env *e)
{
	static const char name[] = "mqe2e_kms_http_requests_total{endpoint=\"keys\"";
	struct mqe2e_http_response resp;
	const char *p, *end, *sp;
	long n = 0;

	if (env_kms_request(e, "GET", "/metrics", NULL, NULL, NULL, 0, KMS_TIMEOUT_MS,
	    &resp) != MQE2E_OK || resp.status != 200 || resp.body == NULL) {
		mqe2e_http_response_free(&resp);
		return -1;
	}
	p = (const char *)resp.body;
	end = p + resp.body_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > sizeof(name) - 1 && memcmp(p, name, sizeof(name) - 1) == 0 &&
		    (sp = memchr(p, ' ', len)) != NULL)
			n += strtol(sp + 1, NULL, 10);
		p += len + 1;
	}
	mqe2e_http_response_free(&resp);
	return n;
}

int
env_kms_post(struct bench_env *e, const char *path, json_t *body, int conflict_ok, json_t **out)
{
	struct mqe2e_http_response resp;
	json_error_t jerr;
	char *text = NULL;
	int r = -1;

	memset(&resp, 0, sizeof(resp));
	if (out != NULL)
		*out = NULL;
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		bench_log("out of memory building a KMS request");
		goto out;
	}
	if (env_kms_request(e, "POST", path, "application/json", e->token,
	    (const uint8_t *)text, strlen(text), KMS_TIMEOUT_MS, &resp) != MQE2E_OK) {
		bench_log("KMS %s%s: %s", e->kms_url, path, resp.error);
		goto out;
	}
	if (resp.status == 409 && conflict_ok) {
		r = 0;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		bench_log("KMS %s%s answered %d: %.300s", e->kms_url, path, resp.status,
		    resp.body != NULL ? (const char *)resp.body : "");
		goto out;
	}
	if (out != NULL && (*out = json_loadb((const char *)resp.body, resp.body_len, 0,
	    &jerr)) == NULL) {
		bench_log("KMS %s%s: answer is not JSON: %s", e->kms_url, path, jerr.text);
		goto out;
	}
	r = 0;
out:
	free(text);
	json_decref(body);
	mqe2e_http_response_free(&resp);
	return r;
}

/* Write s to dir/name atomically with mode. */
static int
write_file(const char *dir, const char *name, const char *s, mode_t mode)
{
	char path[BENCH_PATH_MAX], tmp[BENCH_PATH_MAX + 8];
	int fd, r;

	bench_fmt(path, sizeof(path), "%s/%s", dir, name);
	bench_fmt(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode)) < 0) {
		bench_log("cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	r = bench_write_all(fd, s, strlen(s));
	if (close(fd) != 0 || r != 0 || rename(tmp, path) != 0) {
		bench_log("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
env_enrol(struct bench_env *e, const char *pki, const char *name, const char *kind)
{
	char path[BENCH_PATH_MAX], file[BENCH_ID_MAX + 8];
	const char *cert, *key, *ca;
	json_t *ans = NULL;
	int r = -1;

	bench_fmt(file, sizeof(file), "%s.key", name);
	bench_fmt(path, sizeof(path), "%s/%s", pki, file);
	if (access(path, R_OK) == 0)
		return 0;               /* enrolled by an earlier start */
	if (env_kms_post(e, "/v1/clients", json_pack("{s:s,s:s}", "name", name, "kind", kind),
	    0, NULL) != 0)
		goto out;
	bench_fmt(path, sizeof(path), "/v1/clients/%s/certs", name);
	if (env_kms_post(e, path, json_pack("{s:b,s:i}", "generate", 1, "days", 30), 0, &ans) != 0)
		goto out;
	cert = json_string_value(json_object_get(ans, "cert_pem"));
	key = json_string_value(json_object_get(ans, "key_pem"));
	ca = json_string_value(json_object_get(ans, "ca_pem"));
	if (cert == NULL || key == NULL || ca == NULL) {
		bench_log("KMS: certificate answer for %s lacks cert_pem/key_pem/ca_pem", name);
		goto out;
	}
	bench_fmt(file, sizeof(file), "%s.crt", name);
	if (write_file(pki, file, cert, 0644) != 0 || write_file(pki, "ca.crt", ca, 0644) != 0)
		goto out;
	bench_fmt(file, sizeof(file), "%s.key", name);
	if (write_file(pki, file, key, 0600) != 0)
		goto out;
	r = 0;
out:
	json_decref(ans);
	return r;
}

int
env_grant(struct bench_env *e, const char *client, const char *group, const char *right)
{
	return env_kms_post(e, "/v1/grants", json_pack("{s:s,s:s,s:s}", "client", client,
	    "group", group, "right", right), 1, NULL);
}

int
env_start_kms(struct bench_env *e, const char *kmsd, const char *conf_text)
{
	char data[BENCH_PATH_MAX], exe[BENCH_PATH_MAX], listen[96], log[BENCH_PATH_MAX];
	char path[BENCH_PATH_MAX], conf[BENCH_PATH_MAX];
	struct mqe2e_http_response resp;
	const char *argv[] = { exe, "--data-dir", data, "--listen", listen, NULL, NULL, NULL };
	int i, fd;
	ssize_t n;

	bench_fmt(data, sizeof(data), "%s/kms", e->dir);
	if (kmsd != NULL)
		bench_fmt(exe, sizeof(exe), "%s", kmsd);
	else
		bench_fmt(exe, sizeof(exe), "%s/mqe2e-kmsd", e->bindir);
	bench_fmt(log, sizeof(log), "%s/kmsd.log", e->dir);
	if (mkdir(data, 0700) != 0 && errno != EEXIST) {
		bench_log("cannot create %s: %s", data, strerror(errno));
		return -1;
	}
	if (conf_text != NULL) {
		if (write_file(e->dir, "kmsd.conf", conf_text, 0600) != 0)
			return -1;
		bench_fmt(conf, sizeof(conf), "%s/kmsd.conf", e->dir);
		argv[5] = "--config";
		argv[6] = conf;
	}
	if ((e->kms_port = bench_free_port(e->host)) < 0)
		return -1;
	bench_fmt(listen, sizeof(listen), "%s:%d", e->host, e->kms_port);
	bench_fmt(e->kms_url, sizeof(e->kms_url), "http://%s:%d", e->host, e->kms_port);
	if ((e->kms_pid = bench_spawn(argv, log, -1, -1)) < 0) {
		bench_log("cannot start %s", exe);
		return -1;
	}
	e->own_kms = 1;
	for (i = 0; i < 200; i++) {
		memset(&resp, 0, sizeof(resp));
		if (env_kms_request(e, "GET", "/v1/health", NULL, NULL, NULL, 0, 1000, &resp) == MQE2E_OK &&
		    resp.status == 200) {
			mqe2e_http_response_free(&resp);
			break;
		}
		mqe2e_http_response_free(&resp);
		bench_sleep_ms(50);
	}
	if (i == 200) {
		bench_log("mqe2e-kmsd did not answer on %s (see %s)", e->kms_url, log);
		return -1;
	}
	bench_fmt(path, sizeof(path), "%s/admin.token", data);
	if ((fd = open(path, O_RDONLY)) < 0) {
		bench_log("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, e->token, sizeof(e->token) - 1);
	close(fd);
	if (n <= 0) {
		bench_log("empty admin token in %s", path);
		return -1;
	}
	e->token[n] = '\0';
	e->token[strcspn(e->token, "\r\n")] = '\0';
	return 0;
}

/* The TLS baseline's PKI: a P-256 CA and a server certificate for host. */
static int
make_tls_pki(struct bench_env *e, const char *pki)
{
	char cakey[BENCH_PATH_MAX], cacrt[BENCH_PATH_MAX], key[BENCH_PATH_MAX];
	char csr[BENCH_PATH_MAX], crt[BENCH_PATH_MAX], ext[BENCH_PATH_MAX], log[BENCH_PATH_MAX];
	char san[128];
	const char *gen_ca[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:P-256", "-nodes", "-keyout", cakey, "-out", cacrt,
	    "-days", "30", "-subj", "/CN=mqe2e-bench TLS CA", NULL };
	const char *gen_csr[] = { "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
	    "-subj", "/CN=mqe2e-bench broker", NULL };
	const char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", cacrt, "-CAkey",
	    cakey, "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", crt, NULL };

	bench_fmt(cakey, sizeof(cakey), "%s/tls-ca.key", pki);
	bench_fmt(cacrt, sizeof(cacrt), "%s/tls-ca.crt", pki);
	bench_fmt(key, sizeof(key), "%s/tls-server.key", pki);
	bench_fmt(csr, sizeof(csr), "%s/tls-server.csr", pki);
	bench_fmt(crt, sizeof(crt), "%s/tls-server.crt", pki);
	bench_fmt(ext, sizeof(ext), "%s/tls-server.ext", pki);
	bench_fmt(log, sizeof(log), "%s/openssl.log", e->dir);
	bench_fmt(san, sizeof(san), "subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n",
	    e->host);
	if (write_file(pki, "tls-server.ext", san, 0644) != 0)
		return -1;
	if (bench_run(gen_ca, log) != 0 || bench_run(gen_csr, log) != 0 ||
	    bench_run(sign, log) != 0) {
		bench_log("openssl failed making the TLS certificates (see %s)", log);
		return -1;
	}
	return 0;
}

static pid_t
start_mosquitto(struct bench_env *e, const char *name, const char *conf_text, int port)
{
	char conf[BENCH_PATH_MAX], log[BENCH_PATH_MAX], file[64], preload[BENCH_PATH_MAX];
	/* Both brokers: GnuTLS, which the plugin's libcurl pulls in (through
	 * librtmp and libldap) but nothing in the broker uses, skips the
	 * initialisation its library constructor would otherwise run at load
	 * (~0.6 MB of the broker's RSS at N = 200; docs/PLUGIN.md).  Mosquitto
	 * itself uses OpenSSL; the plain broker does not load GnuTLS at all. */
	const char *plain[] = { "env", "GNUTLS_NO_IMPLICIT_INIT=1", e->mosquitto, "-c", conf,
	    NULL };
	const char *withenv[] = { "env", "GNUTLS_NO_IMPLICIT_INIT=1", preload,
	    "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", e->mosquitto, "-c", conf, NULL };
	const char *const *argv = plain;
	const char *pre = getenv("MQE2E_BENCH_BROKER_PRELOAD");
	pid_t pid;

	bench_fmt(file, sizeof(file), "%s.conf", name);
	bench_fmt(conf, sizeof(conf), "%s/%s", e->dir, file);
	bench_fmt(log, sizeof(log), "%s/%s.log", e->dir, name);
	if (pre != NULL && *pre != '\0') {
		/* a sanitizer build of the plugin in a stock broker: the runtime
		 * must be loaded first (env execs mosquitto in the same pid) */
		bench_fmt(preload, sizeof(preload), "LD_PRELOAD=%s", pre);
		argv = withenv;
	}
	if (write_file(e->dir, file, conf_text, 0644) != 0)
		return -1;
	if ((pid = bench_spawn(argv, log, -1, -1)) < 0 ||
	    bench_wait_port(e->host, port, 10000) != 0) {
		bench_log("%s did not listen on %s:%d (see %s)", e->mosquitto, e->host, port, log);
		bench_stop_pid(pid, 1000);
		return -1;
	}
	return pid;
}

/* Settings both brokers share, so that only the plugin differs.  The
 * in-flight window is raised from 20 (sent as Receive Maximum in CONNACK)
 * because the TLS baseline's publisher has one QoS 1 copy per subscriber
 * in flight, and paho.mqtt.c 1.3 sends queued messages beyond the window
 * only at its next 1 s wake-up: 50 subscribers would take 2 s a message. */
#define MOSQ_COMMON \
	"user root\n" \
	"per_listener_settings false\n" \
	"allow_anonymous true\n" \
	"set_tcp_nodelay true\n" \
	"max_queued_messages 100000\n" \
	"max_inflight_messages 1000\n" \
	"max_packet_size 1048576\n" \
	"persistence false\n" \
	"log_dest stderr\n" \
	"log_type error\n" \
	"log_type warning\n"

/*
 * The plugin refuses every client until its first policy has arrived from
 * the KMS.  Its stats file names the policy in force ("policy_version N",
 * 0 before the first): wait until it names one, so that no run starts
 * against a broker that is still waiting (a slow start, a broker under
 * valgrind).  The file alone is not enough: the plugin may write it first.
 */
static void
wait_policy(const char *stats, int timeout_ms)
{
	char line[128];
	unsigned long long v;
	int waited;
	FILE *f;

	for (waited = 0; waited < timeout_ms; waited += 50) {
		if ((f = fopen(stats, "r")) != NULL) {
			v = 0;
			while (fgets(line, sizeof(line), f) != NULL)
				if (sscanf(line, "policy_version %llu", &v) == 1)
					break;
			fclose(f);
			if (v > 0) {
				bench_sleep_ms(200);
				return;
			}
		}
		bench_sleep_ms(50);
	}
	bench_log("warning: the mqe2e broker has no policy after %d ms (%s): its clients "
	    "will be refused; see mosquitto-mqe2e.log in the work dir (--keep)", timeout_ms,
	    stats);
}

static int
start_brokers(struct bench_env *e, const char *pki)
{
	char conf[4096], stats[BENCH_PATH_MAX];

	if (e->mq_port == 0) {
		char tls[2 * BENCH_PATH_MAX + 128] = "";

		if ((e->mq_port = bench_free_port(e->host)) < 0)
			return -1;
		/* --mqe2e-tls: the schemes reach it over TLS 1.3, with the
		 * certificate of the TLS baseline's listener */
		if (e->mqe2e_tls) {
			if ((e->mq_tls_port = bench_free_port(e->host)) < 0)
				return -1;
			bench_fmt(tls, sizeof(tls), "listener %d %s\ncertfile %s/tls-server.crt\n"
			    "keyfile %s/tls-server.key\ntls_version tlsv1.3\n", e->mq_tls_port,
			    e->host, pki, pki);
		}
		bench_fmt(stats, sizeof(stats), "%s/plugin.stats", e->dir);
		bench_fmt(e->mq_stats, sizeof(e->mq_stats), "%s", stats);
		bench_fmt(conf, sizeof(conf), MOSQ_COMMON
		    "listener %d %s\n"
		    "%s"
		    "plugin %s\n"
		    "plugin_opt_kms_url %s\n"
		    "plugin_opt_cert %s/%sbroker.crt\n"
		    "plugin_opt_key %s/%sbroker.key\n"
		    "plugin_opt_cafile %s/ca.crt\n"
		    "plugin_opt_stats_file %s\n",
		    e->mq_port, e->host, tls, e->plugin, e->kms_url, pki, bench_prefix, pki,
		    bench_prefix, pki, stats);
		bench_fmt(e->mq_conf, sizeof(e->mq_conf), "%s", conf);
		if ((e->mq_pid = start_mosquitto(e, "mosquitto-mqe2e", conf, e->mq_port)) < 0)
			return -1;
		if (e->mqe2e_tls && bench_wait_port(e->host, e->mq_tls_port, 5000) != 0) {
			bench_log("the mqe2e broker did not listen on TLS port %d", e->mq_tls_port);
			return -1;
		}
		e->own_brokers = 1;
		wait_policy(stats, 10000);
	}
	if ((e->plain_port = bench_free_port(e->host)) < 0 ||
	    (e->tls_port = bench_free_port(e->host)) < 0)
		return -1;
	bench_fmt(conf, sizeof(conf), MOSQ_COMMON
	    "listener %d %s\n"
	    "listener %d %s\n"
	    "certfile %s/tls-server.crt\n"
	    "keyfile %s/tls-server.key\n"
	    "tls_version tlsv1.3\n",
	    e->plain_port, e->host, e->tls_port, e->host, pki, pki);
	bench_fmt(e->base_conf, sizeof(e->base_conf), "%s", conf);
	if ((e->base_pid = start_mosquitto(e, "mosquitto-base", conf, e->plain_port)) < 0)
		return -1;
	if (bench_wait_port(e->host, e->tls_port, 5000) != 0) {
		bench_log("the stock broker did not listen on TLS port %d", e->tls_port);
		return -1;
	}
	return 0;
}

int
env_start(struct bench_env *e)
{
	char pki[BENCH_PATH_MAX], name[BENCH_ID_MAX], group[BENCH_ID_MAX];
	char filter[128], sub[BENCH_ID_MAX];
	int s, i;

	bench_fmt(pki, sizeof(pki), "%s/pki", e->dir);
	if (mkdir(pki, 0700) != 0 && errno != EEXIST) {
		bench_log("cannot create %s: %s", pki, strerror(errno));
		return -1;
	}
	if (e->kms_url[0] == '\0' && env_start_kms(e, NULL, NULL) != 0)
		return -1;
	if (mqe2e_random(e->pair_secret, sizeof(e->pair_secret)) != MQE2E_OK)
		return -1;
	bench_log("enrolling the broker, the publisher and %d subscribers at %s", e->nsubs,
	    e->kms_url);
	bench_fmt(name, sizeof(name), "%sbroker", bench_prefix);
	if (env_enrol(e, pki, name, "broker") != 0)
		return -1;
	bench_fmt(name, sizeof(name), "%spub", bench_prefix);
	if (env_enrol(e, pki, name, "client") != 0)
		return -1;
	for (s = 1; s <= 4; s++) {
		bench_fmt(group, sizeof(group), "%ss%d", bench_prefix, s);
		bench_fmt(filter, sizeof(filter), "bench/%ss%d/#", bench_prefix, s);
		if (env_kms_post(e, "/v1/groups", json_pack("{s:s,s:s,s:i}", "name", group,
		    "filter", filter, "scheme", s), 1, NULL) != 0 ||
		    env_grant(e, name, group, "pub") != 0)
			return -1;
	}
	for (i = 1; i <= e->nsubs; i++) {
		bench_sub_id(i, sub, sizeof(sub));
		if (env_enrol(e, pki, sub, "client") != 0)
			return -1;
		for (s = 1; s <= 4; s++) {
			bench_fmt(group, sizeof(group), "%ss%d", bench_prefix, s);
			if (env_grant(e, sub, group, "sub") != 0)
				return -1;
		}
		if (i % 50 == 0)
			bench_log("  %d/%d subscribers enrolled", i, e->nsubs);
	}
	if (make_tls_pki(e, pki) != 0 || start_brokers(e, pki) != 0)
		return -1;
	bench_log("KMS %s, mqe2e broker %s:%d%s (pid %d), stock broker %s:%d plain, %d TLS 1.3 "
	    "(pid %d)", e->kms_url, e->host, e->mqe2e_tls ? e->mq_tls_port : e->mq_port,
	    e->mqe2e_tls ? " TLS 1.3" : "", (int)e->mq_pid, e->host,
	    e->plain_port, e->tls_port, (int)e->base_pid);
	e->ready = 1;
	return 0;
}

int
env_fresh_broker(struct bench_env *e, enum bench_kind k)
{
	if (bench_kind_scheme(k) != 0) {
		if (!e->own_brokers)
			return 0;       /* a broker we were given stays as it is */
		bench_stop_pid(e->mq_pid, 5000);
		(void)unlink(e->mq_stats);
		if ((e->mq_pid = start_mosquitto(e, "mosquitto-mqe2e", e->mq_conf, e->mq_port)) < 0 ||
		    (e->mqe2e_tls && bench_wait_port(e->host, e->mq_tls_port, 5000) != 0))
			return -1;
		wait_policy(e->mq_stats, 10000);
		return 0;
	}
	bench_stop_pid(e->base_pid, 5000);
	if ((e->base_pid = start_mosquitto(e, "mosquitto-base", e->base_conf, e->plain_port)) < 0)
		return -1;
	return bench_wait_port(e->host, e->tls_port, 5000);
}

void
env_stop(struct bench_env *e)
{
	if (e->own_brokers)
		bench_stop_pid(e->mq_pid, 5000);
	bench_stop_pid(e->base_pid, 5000);
	if (e->own_kms)
		bench_stop_pid(e->kms_pid, 5000);
	e->mq_pid = e->base_pid = e->kms_pid = 0;
	e->own_brokers = e->own_kms = 0;
	e->ready = 0;
}

void
env_broker_uri(const struct bench_env *e, enum bench_kind k, const char *host, char *out,
    size_t len)
{
	if (host == NULL)
		host = e->host;
	if (k == KIND_PLAIN)
		bench_fmt(out, len, "tcp://%s:%d", host, e->plain_port);
	else if (k == KIND_TLS)
		bench_fmt(out, len, "ssl://%s:%d", host, e->tls_port);
	else if (e->mqe2e_tls)
		bench_fmt(out, len, "ssl://%s:%d", host, e->mq_tls_port);
	else
		bench_fmt(out, len, "tcp://%s:%d", host, e->mq_port);
}

pid_t
env_broker_pid(const struct bench_env *e, enum bench_kind k)
{
	return k == KIND_PLAIN || k == KIND_TLS ? e->base_pid : e->mq_pid;
}
