/*
 * main.c - mqe2e-kmsd: command line, configuration, signals, lifetime.
 *
 * Runs in the foreground.  SIGTERM or SIGINT stop it cleanly: no new
 * connections, long polls answered, threads joined, files closed.
 * Exit status: 0 after a clean stop, 1 on a runtime or configuration error,
 * 2 on a usage error.
 */
#include "config.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "ca.h"
#include "files.h"
#include "fleet.h"
#include "httpd.h"
#include "jsonutil.h"
#include "kmsd_init.h"
#include "log.h"
#include "metrics.h"
#include "rotation.h"
#include "tls.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mqe2e-kmsd [-c FILE] [-d DIR] [-l HOST:PORT] [-a FILE]\n"
	    "       mqe2e-kmsd --init [-c FILE] [-d DIR]\n"
	    "       mqe2e-kmsd --copy-to URL [-c FILE] [-d DIR]\n"
	    "       mqe2e-kmsd --renew-tls-cert [-c FILE] [-d DIR]\n"
	    "       mqe2e-kmsd -h | -V\n"
	    "\n"
	    "The mqe2e key-management service (REST API under /v1, see mqe2e-kmsd(8)).\n"
	    "\n"
	    "  -c, --config FILE      read settings from FILE (mqe2e-kmsd.conf(5))\n"
	    "  -d, --data-dir DIR     keys, CA, database; initialised on first start\n"
	    "  -l, --listen ADDR      https://HOST:PORT (TLS, server certificate from the KMS\n"
	    "                         CA), http://HOST:PORT (loopback only, unless\n"
	    "                         allow_plain_http = yes) or HOST:PORT (= http://);\n"
	    "                         IPv6 as [ADDR] (default %s)\n"
	    "  -a, --audit FILE       audit log (default DIR/audit.log)\n"
	    "      --init             initialise DIR and exit: a new KMS, or a new empty\n"
	    "                         database next to an existing master.key and CA\n"
	    "                         (and the TLS server certificate if there is none)\n"
	    "      --copy-to URL      copy the KMS's database into a new one and exit, e.g.\n"
	    "                         postgresql://kms@db.example/kms (password: ~/.pgpass)\n"
	    "      --renew-tls-cert   issue a new TLS server certificate and key from the\n"
	    "                         KMS CA for tls_names and exit (restart to serve it)\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          print the version\n"
	    "\n"
	    "Command-line options override the config file.\n", KMSD_DEFAULT_LISTEN);
}

/* 1 if DIR/ca.key does not exist (a directory kmsd_open initialises), 0 if
 * it does, -1 if the path is too long. */
static int
ca_missing(const char *dir)
{
	char path[4096];

	if (kms_path(path, sizeof(path), dir, "ca.key") != MQE2E_OK)
		return -1;
	return kms_file_exists(path) == 0;
}

/* At initialisation: the TLS server certificate, unless one is there. */
static int
issue_tls_if_missing(struct kmsd *k, char *err, size_t errlen)
{
	time_t not_after;
	int r;

	if ((r = kms_tls_exists(&k->cfg)) != 0) {
		if (r < 0) {
			snprintf(err, errlen, "tls_cert_file or tls_key_file cannot be looked at");
			return MQE2E_ERR_IO;
		}
		return MQE2E_OK;
	}
	if ((r = kms_tls_issue(k->ca, &k->cfg, &not_after, err, errlen)) != MQE2E_OK)
		return r;
	kms_log("issued the TLS server certificate for %s (valid %u days)",
	    k->cfg.tls_names != NULL ? k->cfg.tls_names : KMSD_DEFAULT_TLS_NAMES, k->cfg.tls_days);
	return MQE2E_OK;
}

/* --renew-tls-cert: only the CA is needed (the daemon may be running). */
static int
renew_tls(const struct kmsd_config *cfg, char *err, size_t errlen)
{
	struct kms_ca *ca = NULL;
	char crt[4096], key[4096], when[32];
	time_t not_after = 0;
	struct tm tm;
	int r;

	if ((r = kms_ca_open(cfg->data_dir, 0, &ca, err, errlen)) != MQE2E_OK)
		return r;
	r = kms_tls_issue(ca, cfg, &not_after, err, errlen);
	kms_ca_free(ca);
	if (r != MQE2E_OK)
		return r;
	if (kms_tls_paths(cfg, crt, sizeof(crt), key, sizeof(key)) != MQE2E_OK)
		return MQE2E_ERR_TOO_LONG;
	gmtime_r(&not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	kms_log("issued a new TLS server certificate for %s, valid until %s: %s (key %s); "
	    "restart mqe2e-kmsd to serve it", cfg->tls_names != NULL ? cfg->tls_names :
	    KMSD_DEFAULT_TLS_NAMES, when, crt, key);
	return MQE2E_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "audit", required_argument, NULL, 'a' },
		{ "init", no_argument, NULL, 'I' },
		{ "copy-to", required_argument, NULL, 'C' },
		{ "renew-tls-cert", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *opt_dir = NULL, *opt_listen = NULL, *opt_audit = NULL;
	const char *copy_to = NULL;
	struct kmsd k;
	char err[1024];
	sigset_t sigs;
	int c, sig = 0, rc = 1, init = 0, renew = 0, fresh;

	/* Every connection takes its 32 KiB memory pool from a worker thread's
	 * heap and frees it at close; with glibc's default trim threshold the
	 * free hands those pages back (madvise) and the next connection faults
	 * them in again - both showed in the key path's profile.  Keep up to
	 * 4 MiB of free heap per arena instead. */
	(void)mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	memset(&k, 0, sizeof(k));
	kmsd_config_init(&k.cfg);
	while ((c = getopt_long(argc, argv, "c:d:l:a:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': opt_dir = optarg; break;
		case 'l': opt_listen = optarg; break;
		case 'a': opt_audit = optarg; break;
		case 'I': init = 1; break;
		case 'C': copy_to = optarg; break;
		case 'R': renew = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("mqe2e-kmsd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mqe2e-kmsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	err[0] = '\0';
	if (config != NULL && kmsd_config_load(&k.cfg, config, err, sizeof(err)) != MQE2E_OK)
		goto fail;
	if ((opt_dir != NULL && kmsd_config_set(&k.cfg, "data_dir", opt_dir, err,
	    sizeof(err)) != MQE2E_OK) ||
	    (opt_listen != NULL && kmsd_config_set(&k.cfg, "listen", opt_listen, err,
	    sizeof(err)) != MQE2E_OK) ||
	    (opt_audit != NULL && kmsd_config_set(&k.cfg, "audit", opt_audit, err,
	    sizeof(err)) != MQE2E_OK) ||
	    (k.cfg.listen == NULL && kmsd_config_set(&k.cfg, "listen", KMSD_DEFAULT_LISTEN, err,
	    sizeof(err)) != MQE2E_OK))
		goto fail;
	if (k.cfg.data_dir == NULL) {
		fprintf(stderr, "mqe2e-kmsd: no data directory: use --data-dir DIR or data_dir "
		    "in the config file\n");
		usage(stderr);
		kmsd_config_clear(&k.cfg);
		return 2;
	}

	kms_log_setup(k.cfg.log_json ? KMS_LOG_JSON : KMS_LOG_TEXT,
	    k.cfg.log_syslog ? KMS_LOG_SYSLOG : KMS_LOG_STDERR);
	kms_json_init();
	kms_metrics_init();
	umask(077);
	/* Every thread inherits this mask: signals are taken by sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (copy_to != NULL) {
		if (init) {
			fprintf(stderr, "mqe2e-kmsd: --copy-to and --init do not go together\n");
			kmsd_config_clear(&k.cfg);
			return 2;
		}
		if (kmsd_copy(&k, copy_to, err, sizeof(err)) != MQE2E_OK)
			goto fail;
		kmsd_config_clear(&k.cfg);
		return 0;
	}
	if (renew) {
		if (renew_tls(&k.cfg, err, sizeof(err)) != MQE2E_OK)
			goto fail;
		kmsd_config_clear(&k.cfg);
		return 0;
	}
	/* a directory without a CA yet is initialised by kmsd_open */
	if ((fresh = ca_missing(k.cfg.data_dir)) < 0) {
		snprintf(err, sizeof(err), "%s: path too long", k.cfg.data_dir);
		goto fail;
	}
	if (kmsd_open(&k, init, err, sizeof(err)) != MQE2E_OK)
		goto fail;
	if ((init || fresh) && issue_tls_if_missing(&k, err, sizeof(err)) != MQE2E_OK)
		goto fail;
	if (init) {
		kms_log("initialised %s", k.cfg.data_dir);
		kmsd_close(&k);
		return 0;
	}
	if (kms_fleet_start(&k) != MQE2E_OK || kms_scheduler_start(&k) != MQE2E_OK ||
	    kms_httpd_start(&k, err, sizeof(err)) != MQE2E_OK) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "cannot start (out of resources)");
		kms_scheduler_stop(&k);
		kms_fleet_stop(&k);
		goto fail;
	}
	kms_log("listening on %s://%s (data directory %s)", k.cfg.listen_tls ? "https" : "http",
	    k.cfg.listen, k.cfg.data_dir);
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			kms_audit_reopen(k.audit);
			kms_log("SIGHUP: audit log reopened (restart to apply configuration changes)");
			continue;
		}
		break;
	}
	kms_log("signal %d: stopping", sig);
	kmsd_request_stop(&k);
	kms_httpd_stop(&k);
	kms_scheduler_stop(&k);
	kms_fleet_stop(&k);
	kmsd_close(&k);
	kms_log("stopped");
	return 0;
 fail:
	/* JSON on stderr stays JSON; syslog gets it too, the terminal as well. */
	if (k.cfg.log_json || k.cfg.log_syslog)
		kms_log_at(LOG_ERR, "%s", err);
	if (!k.cfg.log_json || k.cfg.log_syslog)
		fprintf(stderr, "mqe2e-kmsd: %s\n", err);
	kmsd_close(&k);
	return rc;
}
