/*
 * conf.h - settings of mqe2e-kmsd: defaults, the config file
 * (mqe2e-kmsd.conf(5): "key = value" lines) and command-line overrides,
 * all through one setter so every source is validated the same way.
 */
#ifndef KMS_CONF_H
#define KMS_CONF_H

#include <stddef.h>
#include "mqe2e_err.h"

#define KMSD_DEFAULT_LISTEN "127.0.0.1:7780"
#define KMSD_DEFAULT_TLS_NAMES "localhost,127.0.0.1,::1"
#define KMSD_CONFIG_LINE_MAX 1024
#define KMSD_CONFIG_FILE_MAX (64u * 1024u)
#define KMSD_THREADS_MAX 256

struct kmsd_config {
	char *data_dir;            /* required */
	char *listen;              /* "host:port", "[v6]:port", as given less
	                              the scheme */
	unsigned listen_tls;       /* listen = https://...: serve HTTPS */
	unsigned allow_plain_http; /* plain HTTP on an address that is not
	                              loopback (dangerous; default no) */
	char *tls_cert_file;       /* NULL: DATA_DIR/tls.crt */
	char *tls_key_file;        /* NULL: DATA_DIR/tls.key */
	char *tls_names;           /* the server certificate's names */
	unsigned tls_days;         /* its lifetime */
	char *audit_path;          /* NULL: DATA_DIR/audit.log */
	char *database;            /* postgresql://... URL; NULL: SQLite DATA_DIR/kms.db */
	char *database_password_file;   /* its password, or NULL (URL, PGPASSFILE) */
	unsigned log_json;         /* log_format = json */
	unsigned log_syslog;       /* log_dest = syslog */
	unsigned max_connections;
	unsigned per_ip_connections;
	unsigned connection_timeout_s;  /* inactivity */
	unsigned request_timeout_s;     /* a whole request must arrive within */
	unsigned max_skew_s;          /* a KEY_REQUEST may lag our clock this much */
	unsigned max_future_skew_s;   /* ... and lead it only this much */
	unsigned cert_days;
	unsigned nonce_cache_size;    /* live nonces of all clients together */
	unsigned client_quota;        /* key requests per client per window */
	unsigned threads;             /* HTTP worker threads, 0: auto (kms_httpd_start) */
};

/* Defaults (no strings allocated yet). */
void kmsd_config_init(struct kmsd_config *c);
/* Free the strings; the struct may be re-initialised. */
void kmsd_config_clear(struct kmsd_config *c);

/*
 * Set one setting by its config-file key ("data_dir", "listen", "audit",
 * "max_connections", ...).  On failure err gets a sentence naming the key
 * and what is wrong; MQE2E_ERR_NOT_FOUND for an unknown key,
 * MQE2E_ERR_INVALID_ARG for a bad value.
 */
int kmsd_config_set(struct kmsd_config *c, const char *key, const char *value,
    char *err, size_t errlen) MQE2E_WUR;

/*
 * Read a config file in the syntax of every mqe2e configuration file
 * (core/conffile.h: "key = value" lines, the '=' optional, '#' comments).
 * Errors name the file and the line.  MQE2E_ERR_IO if it cannot be read.
 */
int kmsd_config_load(struct kmsd_config *c, const char *path, char *err, size_t errlen) MQE2E_WUR;

/*
 * Split "host:port" or "[v6]:port" into host (NUL-terminated, no brackets)
 * and port (1..65535).  MQE2E_ERR_INVALID_ARG otherwise.
 */
int kmsd_parse_listen(const char *s, char *host, size_t host_len, unsigned *port) MQE2E_WUR;

/*
 * A listen setting: "https://HOST:PORT", "http://HOST:PORT" or the older
 * "HOST:PORT" (plain HTTP).  *tls = 1 for https; *rest points into s at
 * HOST:PORT.  MQE2E_ERR_INVALID_ARG for another scheme or a bad address.
 */
int kmsd_parse_listen_url(const char *s, char *host, size_t host_len, unsigned *port,
    unsigned *tls, const char **rest) MQE2E_WUR;

/*
 * Check a tls_names list ("name,name,...": DNS names or IP literals) and,
 * if san is not NULL, write it as a subjectAltName ("DNS:a,IP:127.0.0.1").
 * err names the bad entry.
 */
int kmsd_parse_tls_names(const char *list, char *san, size_t san_len, char *err,
    size_t errlen) MQE2E_WUR;

/* Parse a decimal unsigned in [min, max]; 0 on success, -1 otherwise. */
int kmsd_parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out);

#endif
