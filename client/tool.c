/*
 * tool.c - common options and set-up of mqe2e-pub and mqe2e-sub.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

void
tool_init(struct tool_opts *o, const char *prog, void (*usage)(void))
{
	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->usage = usage;
	o->host = "localhost";
	o->port = "1883";
	o->qos = 0;
	o->timeout_s = 10;
	o->session_expiry_s = 3600;
}

void
tool_err(const struct tool_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	fprintf(stderr, "%s: ", o->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
tool_num(const struct tool_opts *o, const char *what, const char *s, long min, long max,
    long *out)
{
	long v = 0;
	const char *p = s;

	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > max / 10 || v * 10 > max - (*p - '0'))
			goto bad;
		v = v * 10 + (*p - '0');
	}
	if (v < min)
		goto bad;
	*out = v;
	return 0;
bad:
	tool_err(o, "%s must be a number from %ld to %ld, not '%s'", what, min, max, s);
	return -1;
}

int
tool_opt(struct tool_opts *o, int ch, const char *arg)
{
	long v;

	switch (ch) {
	case 'h':
		o->host = arg;
		return 1;
	case 'p':
		if (tool_num(o, "the port (-p)", arg, 1, 65535, &v) != 0)
			return -1;
		o->port = arg;
		o->port_set = 1;
		return 1;
	case 'i':
		o->id = arg;
		return 1;
	case 'q':
		if (tool_num(o, "the QoS (-q)", arg, 0, 2, &v) != 0)
			return -1;
		o->qos = (int)v;
		return 1;
	case 'd':
		o->debug = 1;
		return 1;
	case 'k':
		if (tool_num(o, "the keepalive (-k)", arg, 5, 65535, &v) != 0)
			return -1;
		o->keepalive = arg;
		return 1;
	case OPT_QUIET:
		o->quiet = 1;
		return 1;
	case OPT_VERSION:
		printf("%s %s\n", o->prog, PACKAGE_VERSION);
		exit(fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE);
	case OPT_HELP:
		o->usage();
		exit(EXIT_OK);
	case '?':       /* getopt_long said which option */
		fprintf(stderr, "Try '%s --help'.\n", o->prog);
		return -1;
	case OPT_CERT:
		o->cert = arg;
		return 1;
	case OPT_KEY:
		o->key = arg;
		return 1;
	case OPT_CAFILE:
		o->cafile = arg;
		return 1;
	case OPT_KMS:
		o->kms = arg;
		return 1;
	case OPT_GROUP:
		o->group = arg;
		return 1;
	case OPT_CONFIG:
		o->config = arg;
		return 1;
	case OPT_BROKER_ID:
		o->broker_id = arg;
		return 1;
	case OPT_KEY_CACHE:
		o->key_cache = arg;
		return 1;
	case OPT_NO_KEY_CACHE:
		o->no_key_cache = 1;
		return 1;
	case OPT_TLS_CAFILE:
		o->tls_cafile = arg;
		return 1;
	case OPT_TLS_CAPATH:
		o->tls_capath = arg;
		return 1;
	case OPT_TLS_CERT:
		o->tls_cert = arg;
		return 1;
	case OPT_TLS_KEY:
		o->tls_key = arg;
		return 1;
	case OPT_TLS_INSECURE:
		o->tls_insecure = 1;
		return 1;
	case OPT_TIMEOUT:
		if (tool_num(o, "--timeout", arg, 1, 3600, &v) != 0)
			return -1;
		o->timeout_s = (int)v;
		return 1;
	default:
		return 0;
	}
}

int
tool_args_end(const struct tool_opts *o, int argc, char **argv)
{
	if (optind == argc)
		return 0;
	tool_err(o, "unexpected argument '%s' (try --help)", argv[optind]);
	return -1;
}

void
tool_usage_common(void)
{
	fputs(
"Connection and identity:\n"
"  -h HOST          broker host (default localhost)\n"
"  -p PORT          broker port (default 1883; 8883 with TLS)\n"
"  -i ID            client id (default: the certificate's CN, the only one allowed)\n"
"  --cert FILE      this client's certificate (PEM, from mqe2e-kmsctl cert issue)\n"
"  --key FILE       this client's Ed25519 private key (PEM)\n"
"  --cafile FILE    the mqe2e CA certificate (PEM)\n"
"  --kms URL[,URL]  key service, https://HOST:PORT (checked against --cafile),\n"
"                   several tried in order; http:// on loopback (default\n"
"                   $MQE2E_KMS_URL, else http://127.0.0.1:7780)\n"
"  --broker-id ID   the broker's id (its certificate CN): the handshake is for\n"
"                   that broker only, and no other may answer it\n"
"  --key-cache FILE keep the keys in FILE, sealed, to work on through a KMS\n"
"                   outage after a restart (default: the --key file + .cache)\n"
"  --no-key-cache   keep keys in memory only: a restart needs the KMS\n"
"  -k SECS          keepalive interval (default 60)\n"
"TLS to the broker (any of these connects with TLS, default port 8883):\n"
"  --tls-cafile FILE  CA certificate(s) (PEM) that signed the broker's TLS\n"
"                   certificate (default: the system's trusted CAs)\n"
"  --tls-capath DIR   a directory of hashed CA certificates (openssl rehash)\n"
"  --tls-cert FILE    TLS client certificate (PEM), for brokers that require one\n"
"  --tls-key FILE     its private key (PEM)\n"
"  --tls-insecure     do not check that the broker's certificate names HOST\n"
"                   (the chain is still verified)\n"
"  --group NAME     optional: check that the topic belongs to group NAME\n"
"  --config FILE    read options from FILE (see libmqe2e(3)); flags override it\n"
"  --timeout SECS   wait this long for each network step (default 10)\n"
"  -q QOS           0, 1 or 2 (default 0)\n"
"  -d               debug: say what happens on stderr\n"
"  --quiet          print no error messages (the exit status still tells)\n"
"  --help           this text\n"
"  --version        print the version\n"
"Exit status: 0 ok, 1 usage, 2 certificate/key/CA/config file, 3 KMS,\n"
"4 broker connection or handshake, 5 publish/subscribe refused or failed.\n",
	    stdout);
}

static void
on_error(void *arg, const struct mqe2e_error *e)
{
	const struct tool_opts *o = arg;

	tool_err(o, "%s", e->text);
}

static void
on_state(void *arg, int up)
{
	const struct tool_opts *o = arg;

	if (o->debug)
		tool_err(o, "%s", up ? "connected (broker verified)" : "disconnected");
}

int
tool_client_new(struct tool_opts *o, struct mqe2e_client **out)
{
	struct mqe2e_config *cfg = NULL;
	struct mqe2e_client *c = NULL;
	char err[512], uri[600];
	int r, tls, code = EXIT_CONFIG;

	*out = NULL;
	if (mqe2e_config_new(&cfg) != MQE2E_OK) {
		tool_err(o, "out of memory");
		return EXIT_CONFIG;
	}
	if (o->config != NULL && mqe2e_config_load(cfg, o->config, err, sizeof(err)) != MQE2E_OK) {
		tool_err(o, "%s", err);
		goto out;
	}
	tls = o->tls_cafile != NULL || o->tls_capath != NULL || o->tls_cert != NULL ||
	    o->tls_key != NULL || o->tls_insecure;
	if (snprintf(uri, sizeof(uri), "%s://%s:%s", tls ? "ssl" : "tcp", o->host,
	    o->port_set || !tls ? o->port : "8883") >= (int)sizeof(uri)) {
		tool_err(o, "host name too long");
		code = EXIT_USAGE;
		goto out;
	}
	/* A configuration file's broker stays unless -h or -p name another
	 * (the TLS flags alone only add TLS options to it). */
	if ((o->config == NULL || strcmp(o->host, "localhost") != 0 || o->port_set) &&
	    mqe2e_config_set(cfg, "broker", uri) != MQE2E_OK)
		goto nomem;
	if ((o->tls_cafile != NULL && mqe2e_config_set(cfg, "tls_cafile", o->tls_cafile) != MQE2E_OK) ||
	    (o->tls_capath != NULL && mqe2e_config_set(cfg, "tls_capath", o->tls_capath) != MQE2E_OK) ||
	    (o->tls_cert != NULL && mqe2e_config_set(cfg, "tls_cert", o->tls_cert) != MQE2E_OK) ||
	    (o->tls_key != NULL && mqe2e_config_set(cfg, "tls_key", o->tls_key) != MQE2E_OK) ||
	    (o->tls_insecure && mqe2e_config_set(cfg, "tls_insecure", "1") != MQE2E_OK)) {
		tool_err(o, "an empty value was given to a --tls- option");
		code = EXIT_USAGE;
		goto out;
	}
	if ((o->id != NULL && mqe2e_config_set(cfg, "client_id", o->id) != MQE2E_OK) ||
	    (o->cert != NULL && mqe2e_config_set(cfg, "cert", o->cert) != MQE2E_OK) ||
	    (o->key != NULL && mqe2e_config_set(cfg, "key", o->key) != MQE2E_OK) ||
	    (o->cafile != NULL && mqe2e_config_set(cfg, "cafile", o->cafile) != MQE2E_OK) ||
	    (o->kms != NULL && mqe2e_config_set(cfg, "kms", o->kms) != MQE2E_OK) ||
	    (o->keepalive != NULL && mqe2e_config_set(cfg, "keepalive", o->keepalive) != MQE2E_OK) ||
	    (o->group != NULL && mqe2e_config_set(cfg, "group", o->group) != MQE2E_OK) ||
	    (o->broker_id != NULL &&
	    mqe2e_config_set(cfg, "broker_id", o->broker_id) != MQE2E_OK) ||
	    (o->key_cache != NULL &&
	    mqe2e_config_set(cfg, "key_cache_file", o->key_cache) != MQE2E_OK) ||
	    (o->no_key_cache && mqe2e_config_set(cfg, "key_cache", "0") != MQE2E_OK) ||
	    (o->recipients != NULL &&
	    mqe2e_config_set(cfg, "recipients", o->recipients) != MQE2E_OK)) {
		tool_err(o, "an empty value was given to an option (or --broker-id is not an "
		    "id)");
		code = EXIT_USAGE;
		goto out;
	}
	if (o->persistent) {
		char num[24];

		snprintf(num, sizeof(num), "%ld", o->session_expiry_s);
		if (mqe2e_config_set(cfg, "clean_start", "0") != MQE2E_OK ||
		    mqe2e_config_set(cfg, "session_expiry_s", num) != MQE2E_OK)
			goto nomem;
	}
	if ((r = mqe2e_client_new(cfg, &c, err, sizeof(err))) != MQE2E_OK) {
		tool_err(o, "%s", err);
		code = r == MQE2E_ERR_INVALID_ARG && strstr(err, "URI") != NULL &&
		    strstr(err, "tls_") == NULL ? EXIT_USAGE : EXIT_CONFIG;
		goto out;
	}
	mqe2e_client_set_error_cb(c, on_error, o);
	mqe2e_client_set_state_cb(c, on_state, o);
	*out = c;
	c = NULL;
	code = EXIT_OK;
	goto out;
nomem:
	tool_err(o, "out of memory");
out:
	mqe2e_client_free(c);
	mqe2e_config_free(cfg);
	return code;
}

int
tool_client_connect(struct tool_opts *o, struct mqe2e_client *c)
{
	char err[512];

	if (mqe2e_refresh_keys(c) != MQE2E_OK) {
		tool_err(o, "%s", mqe2e_client_errmsg(c, err, sizeof(err)));
		return EXIT_KMS;
	}
	if (o->debug)
		tool_err(o, "fetched keys of client '%s' from the KMS", mqe2e_client_id(c));
	if (mqe2e_connect(c, o->timeout_s * 1000) != MQE2E_OK) {
		tool_err(o, "%s", mqe2e_client_errmsg(c, err, sizeof(err)));
		return EXIT_BROKER;
	}
	return EXIT_OK;
}

int
tool_connect(struct tool_opts *o, struct mqe2e_client **out)
{
	struct mqe2e_client *c = NULL;
	int code;

	*out = NULL;
	if ((code = tool_client_new(o, &c)) != EXIT_OK)
		return code;
	if ((code = tool_client_connect(o, c)) != EXIT_OK) {
		mqe2e_client_free(c);
		return code;
	}
	*out = c;
	return EXIT_OK;
}
