/*
 * tls.c - MQTT over TLS: the broker URI's scheme, the tls_* options, and
 * paho's SSL options and error reports.
 *
 * TLS here is the transport to the broker only; the mqe2e identity (cert,
 * key, cafile) and the end-to-end protection are independent of it.  The
 * TLS options are named tls_* so that they never mean the mqe2e files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"

static const struct {
	const char *prefix;
	int tls;
} schemes[] = {
	{ "tcp://", 0 }, { "mqtt://", 0 }, { "ssl://", 1 }, { "mqtts://", 1 },
};

int
tls__uri_scheme(const char *uri)
{
	size_t i;

	if (uri == NULL)
		return -1;
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strncmp(uri, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return schemes[i].tls;
	}
	return -1;
}

/* A file (dir 0) or directory (dir 1) we can read, else a message naming
 * the option and the path. */
static int
check_path(const char *opt, const char *path, int dir, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	if (stat(path, &st) != 0) {
		client__fmt(errbuf, errlen, "%s %s: %s", opt, path, strerror(errno));
		return MQE2E_ERR_IO;
	}
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		client__fmt(errbuf, errlen, "%s %s is not a %s", opt, path,
		    dir ? "directory (of hashed CA certificates, see openssl-rehash(1))" :
		    "regular file (PEM)");
		return MQE2E_ERR_INVALID_ARG;
	}
	if ((fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC)) < 0) {
		client__fmt(errbuf, errlen, "%s %s: %s", opt, path, strerror(errno));
		return MQE2E_ERR_IO;
	}
	close(fd);
	return MQE2E_OK;
}

int
tls__check(const struct mqe2e_config *cfg, char *errbuf, size_t errlen)
{
	int tls = tls__uri_scheme(cfg->broker), r;

	if (tls < 0) {
		client__fmt(errbuf, errlen, "broker URI '%s' is not usable: give tcp://host:port "
		    "or mqtt://host:port, or ssl://host:port or mqtts://host:port for TLS",
		    cfg->broker != NULL ? cfg->broker : "");
		return MQE2E_ERR_INVALID_ARG;
	}
	if (!tls) {
		const char *set = cfg->tls_cafile != NULL ? "tls_cafile" :
		    cfg->tls_capath != NULL ? "tls_capath" : cfg->tls_cert != NULL ? "tls_cert" :
		    cfg->tls_key != NULL ? "tls_key" : cfg->tls_insecure ? "tls_insecure" : NULL;

		if (set != NULL) {
			client__fmt(errbuf, errlen, "%s is set but broker URI '%s' is not TLS: "
			    "use ssl://host:port or mqtts://host:port", set, cfg->broker);
			return MQE2E_ERR_INVALID_ARG;
		}
		return MQE2E_OK;
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		client__fmt(errbuf, errlen, "%s is set without %s: TLS client authentication "
		    "needs both the certificate and its key", cfg->tls_cert != NULL ? "tls_cert" :
		    "tls_key", cfg->tls_cert != NULL ? "tls_key" : "tls_cert");
		return MQE2E_ERR_INVALID_ARG;
	}
	if ((cfg->tls_cafile != NULL &&
	    (r = check_path("tls_cafile", cfg->tls_cafile, 0, errbuf, errlen)) != MQE2E_OK) ||
	    (cfg->tls_capath != NULL &&
	    (r = check_path("tls_capath", cfg->tls_capath, 1, errbuf, errlen)) != MQE2E_OK) ||
	    (cfg->tls_cert != NULL &&
	    (r = check_path("tls_cert", cfg->tls_cert, 0, errbuf, errlen)) != MQE2E_OK) ||
	    (cfg->tls_key != NULL &&
	    (r = check_path("tls_key", cfg->tls_key, 0, errbuf, errlen)) != MQE2E_OK))
		return r;
	return MQE2E_OK;
}

/*
 * paho's report of an OpenSSL failure (on paho's thread, while it connects):
 * keep the reason of the first one of this attempt.  OpenSSL 3's lines read
 * "<thread>:error:0A000086:SSL routines:<function>:certificate verify
 * failed:<file>:<line>:"; the reason is the fourth field after "error".
 * Anything else is kept whole.
 */
static int
on_ssl_error(const char *str, size_t len, void *u)
{
	static const char tag[] = "error:";
	struct mqe2e_client *c = u;
	const char *p = str, *end = str + len, *colon;
	int field = 0;

	while ((size_t)(end - p) >= sizeof(tag) - 1 && memcmp(p, tag, sizeof(tag) - 1) != 0) {
		if ((colon = memchr(p, ':', (size_t)(end - p))) == NULL)
			break;
		p = colon + 1;
	}
	if ((size_t)(end - p) >= sizeof(tag) - 1 && memcmp(p, tag, sizeof(tag) - 1) == 0) {
		for (p += sizeof(tag) - 1; field < 3; field++) {
			if ((colon = memchr(p, ':', (size_t)(end - p))) == NULL)
				break;
			p = colon + 1;
		}
	}
	if (field == 3 && (colon = memchr(p, ':', (size_t)(end - p))) != NULL && colon > p)
		end = colon;
	else
		p = str;
	while (end > p && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	pthread_mutex_lock(&c->tls_mu);
	if (c->tls_err[0] == '\0')
		client__fmt(c->tls_err, sizeof(c->tls_err), "%.*s", (int)(end - p), p);
	pthread_mutex_unlock(&c->tls_mu);
	return 0;
}

void
tls__connect_options(struct mqe2e_client *c, MQTTAsync_SSLOptions *o)
{
	const struct mqe2e_config *cfg = &c->cfg;

	pthread_mutex_lock(&c->tls_mu);
	c->tls_err[0] = '\0';
	pthread_mutex_unlock(&c->tls_mu);
	o->trustStore = cfg->tls_cafile;
	o->CApath = cfg->tls_capath;
	o->keyStore = cfg->tls_cert;
	o->privateKey = cfg->tls_key;
	/* the chain is always verified; tls_insecure only skips the check
	 * that the certificate names the host (as mosquitto_pub --insecure) */
	o->enableServerCertAuth = 1;
	o->verify = !cfg->tls_insecure;
	o->sslVersion = MQTT_SSL_VERSION_DEFAULT;
	o->ssl_error_cb = on_ssl_error;
	o->ssl_error_context = c;
}

int
tls__failure(struct mqe2e_client *c, const char *paho_why, const char *paho_msg, char *buf,
    size_t len)
{
	char why[sizeof(c->tls_err)];
	const char *hint = "";

	if (tls__uri_scheme(c->cfg.broker) != 1)
		return 0;
	pthread_mutex_lock(&c->tls_mu);
	memcpy(why, c->tls_err, sizeof(why));
	pthread_mutex_unlock(&c->tls_mu);
	if (why[0] == '\0') {
		/* paho reports no OpenSSL reason for a host name that does not
		 * match and for an alert after the handshake (TLS 1.3: the
		 * server checks the client certificate then) */
		client__fmt(buf, len, "TLS with the broker at %s failed: %s%s%s (if the broker's "
		    "certificate does not name the host in the URI: use that name, or "
		    "tls_insecure%s)", c->cfg.broker, paho_why, paho_msg != NULL ? ": " : "",
		    paho_msg != NULL ? paho_msg : "", c->cfg.tls_cert == NULL ?
		    "; if the listener requires a TLS client certificate: tls_cert and tls_key" :
		    "; is tls_cert signed by a CA the listener trusts?");
		return 1;
	}
	if (strstr(why, "certificate verify failed") != NULL)
		hint = c->cfg.tls_cafile != NULL || c->cfg.tls_capath != NULL ?
		    ": the broker's TLS certificate is not signed by a CA in tls_cafile/"
		    "tls_capath (or has expired)" : ": the broker's TLS certificate is not "
		    "signed by a CA the system trusts; give its CA with tls_cafile";
	else if (strstr(why, "certificate required") != NULL ||
	    strstr(why, "handshake failure") != NULL)
		hint = c->cfg.tls_cert == NULL ? ": does the broker require a TLS client "
		    "certificate (tls_cert, tls_key)?" : "";
	else if (strstr(why, "unknown ca") != NULL || strstr(why, "bad certificate") != NULL)
		hint = ": the broker refused our TLS client certificate (tls_cert)";
	client__fmt(buf, len, "TLS with the broker at %s failed: %s%s", c->cfg.broker, why,
	    hint);
	return 1;
}
