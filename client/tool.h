/*
 * tool.h - what mqe2e-pub and mqe2e-sub share: the common options, the
 * client set-up, exit codes and messages.
 */
#ifndef MQE2E_TOOL_H
#define MQE2E_TOOL_H

#include <getopt.h>
#include "mqe2e.h"

/* Exit codes (documented in mqe2e-pub(1) and mqe2e-sub(1)). */
enum tool_exit {
	EXIT_OK = 0,
	EXIT_USAGE = 1,        /* bad command line */
	EXIT_CONFIG = 2,       /* certificate, key, CA or config file unusable */
	EXIT_KMS = 3,          /* keys could not be fetched from the KMS */
	EXIT_BROKER = 4,       /* no verified connection to the broker */
	EXIT_OP = 5,           /* publish or subscribe failed */
	EXIT_TIMEOUT = 27      /* mqe2e-sub -W ran out (as mosquitto_sub) */
};

/* Options common to both tools. */
struct tool_opts {
	const char *prog;
	void (*usage)(void);     /* the tool's --help text */
	const char *host;
	const char *port;
	const char *id;
	const char *cert, *key, *cafile, *kms, *group, *config;
	const char *broker_id;   /* --broker-id */
	const char *key_cache;   /* --key-cache FILE */
	int no_key_cache;        /* --no-key-cache */
	/* TLS to the broker: any of them makes the URI ssl:// (port 8883) */
	const char *tls_cafile, *tls_capath, *tls_cert, *tls_key;
	int tls_insecure;
	int port_set;            /* -p given */
	const char *recipients;  /* mqe2e-pub --to */
	int qos;
	int debug;
	int quiet;             /* --quiet: no error messages, only the exit status */
	const char *keepalive; /* -k */
	int timeout_s;         /* for connect/publish/subscribe */
	int persistent;        /* mqe2e-sub -c: resume the broker's session */
	long session_expiry_s; /* mqe2e-sub --session-expiry */
};

/* Long options both tools take (terminated by a zero entry); the short ones
 * are "h:p:i:q:dk:". */
#define TOOL_SHORTOPTS "h:p:i:q:dk:"
enum { OPT_CERT = 1000, OPT_KEY, OPT_CAFILE, OPT_KMS, OPT_GROUP, OPT_CONFIG, OPT_HELP,
	OPT_TIMEOUT, OPT_QUIET, OPT_VERSION, OPT_BROKER_ID, OPT_KEY_CACHE, OPT_NO_KEY_CACHE,
	OPT_TLS_CAFILE, OPT_TLS_CAPATH, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_INSECURE,
	OPT_TOOL_FIRST_FREE };
#define TOOL_LONGOPTS \
	{ "cert", required_argument, NULL, OPT_CERT }, \
	{ "key", required_argument, NULL, OPT_KEY }, \
	{ "cafile", required_argument, NULL, OPT_CAFILE }, \
	{ "kms", required_argument, NULL, OPT_KMS }, \
	{ "group", required_argument, NULL, OPT_GROUP }, \
	{ "config", required_argument, NULL, OPT_CONFIG }, \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }, \
	{ "quiet", no_argument, NULL, OPT_QUIET }, \
	{ "version", no_argument, NULL, OPT_VERSION }, \
	{ "broker-id", required_argument, NULL, OPT_BROKER_ID }, \
	{ "key-cache", required_argument, NULL, OPT_KEY_CACHE }, \
	{ "no-key-cache", no_argument, NULL, OPT_NO_KEY_CACHE }, \
	{ "tls-cafile", required_argument, NULL, OPT_TLS_CAFILE }, \
	{ "tls-capath", required_argument, NULL, OPT_TLS_CAPATH }, \
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT }, \
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY }, \
	{ "tls-insecure", no_argument, NULL, OPT_TLS_INSECURE }, \
	{ "help", no_argument, NULL, OPT_HELP }

/* prog names the tool in messages; usage prints its --help text. */
void tool_init(struct tool_opts *o, const char *prog, void (*usage)(void));
/* Handle one common option; 1 if it was one, 0 if not, -1 on a bad value
 * or an unknown option (message printed).  --version prints the version,
 * --help the usage, and both exit 0. */
int tool_opt(struct tool_opts *o, int ch, const char *arg);
/* After the options: 0, or -1 (message printed) if arguments are left. */
int tool_args_end(const struct tool_opts *o, int argc, char **argv);
/* Parse a decimal number in [min, max] (message naming what on failure). */
int tool_num(const struct tool_opts *o, const char *what, const char *s, long min,
    long max, long *out);
/* Build the client and connect it: keys from the KMS, then the broker.
 * Returns EXIT_OK or the exit code (message printed). */
int tool_connect(struct tool_opts *o, struct mqe2e_client **out);
/* The same in two steps: build the client (nothing on the network), then
 * fetch keys and connect; between them a persistent subscriber registers
 * its subscriptions.  On failure tool_client_connect leaves c to the caller. */
int tool_client_new(struct tool_opts *o, struct mqe2e_client **out);
int tool_client_connect(struct tool_opts *o, struct mqe2e_client *c);
/* Print "prog: message" to stderr. */
void tool_err(const struct tool_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print the common part of --help. */
void tool_usage_common(void);

#endif
