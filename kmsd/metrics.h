/*
 * metrics.h - the counters of mqe2e-kmsd, served at GET /metrics in the
 * Prometheus text exposition format 0.0.4 (every metric is described in
 * mqe2e-kmsd(8), METRICS).
 *
 * One set of counters per process, updated from any thread (their own
 * lock, held for a few instructions, never together with another lock).
 * Nothing secret is counted: names of clients and groups never appear in a
 * label, only endpoint names, status codes and fixed causes.
 */
#ifndef KMS_METRICS_H
#define KMS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

struct kmsd;

/* Monotonic clock in microseconds, for request latency. */
uint64_t kms_metrics_now_us(void);

/* One answered request: the route's first path segment ("keys", "policy",
 * ..., "metrics"; NULL or unknown: "other"), the HTTP status and the time
 * from its first byte to the queued answer. */
void kms_metrics_request(const char *endpoint, unsigned status, uint64_t usec);

/* A key request answered with n keys (KEY_RESPONSE sent). */
void kms_metrics_keys_served(int broker, size_t n);
/* A committed rotation; cause is "scheduled", "manual" or "revocation". */
void kms_metrics_rotation(const char *cause);
/* A committed revocation of a client or of one certificate. */
void kms_metrics_revocation(const char *what);
/* An SQLite error other than a constraint violation. */
void kms_metrics_db_error(void);
/* A connection accepted. */
void kms_metrics_connection(void);

/* Set the process start time (main, once). */
void kms_metrics_init(void);

/* The whole exposition (malloc'd, *len bytes, not NUL-terminated) with the
 * gauges read from k now.  MQE2E_ERR_NOMEM. */
int kms_metrics_render(struct kmsd *k, char **out, size_t *len) MQE2E_WUR;

#endif
