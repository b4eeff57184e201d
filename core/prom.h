/*
 * prom.h - the Prometheus text exposition format 0.0.4, written by
 * mqe2e-kmsd (GET /metrics) and the broker plugin (its metrics file), so
 * that both speak exactly the same dialect.
 *
 *   # HELP name text
 *   # TYPE name counter|gauge|histogram
 *   name{label="value",...} 123
 *
 * Lines go to a struct mqe2e_writer (buf.h); errors are the writer's sticky
 * error.  Metric and label names are the caller's constants; label values
 * are escaped here (backslash, double quote, newline), so a value taken
 * from a configuration cannot break the format.
 */
#ifndef MQE2E_PROM_H
#define MQE2E_PROM_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* "# HELP" and "# TYPE" lines; type is "counter", "gauge" or "histogram". */
void mqe2e_prom_family(struct mqe2e_writer *w, const char *name, const char *type,
    const char *help);

/*
 * One sample.  labels is NULL or a NULL-terminated list of name, value
 * pairs: { "endpoint", "keys", "code", "200", NULL }.  A value given as
 * double is printed with up to 17 significant digits; integers exactly.
 */
void mqe2e_prom_u64(struct mqe2e_writer *w, const char *name, const char *const *labels,
    uint64_t v);
void mqe2e_prom_double(struct mqe2e_writer *w, const char *name, const char *const *labels,
    double v);

/*
 * A histogram from cumulative-free bucket counts: counts[i] observations
 * were <= bounds[i] (and above bounds[i-1]); counts[n] is above the last
 * bound.  Writes name_bucket{...,le=...} (cumulative), name_sum and
 * name_count.  labels as above (may be NULL).
 */
void mqe2e_prom_histogram(struct mqe2e_writer *w, const char *name, const char *const *labels,
    const double *bounds, const uint64_t *counts, size_t n, double sum);

#endif
