/*
 * stats.c - summaries of latency samples: mean, p50, p90, p99, max.
 * Percentiles are nearest-rank on the sorted samples.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least q of the samples <= it. */
static double
rank(const double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

int
bench_fell_behind(double lag_growth_ms, double rate)
{
	return rate > 0 && lag_growth_ms > BENCH_BEHIND_PERIODS * 1000.0 / rate;
}

void
bench_summarise(double *v, size_t n, struct bench_summary *out)
{
	double sum = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	out->n = n;
	out->mean = sum / (double)n;
	out->p50 = rank(v, n, 0.50);
	out->p90 = rank(v, n, 0.90);
	out->p99 = rank(v, n, 0.99);
	out->max = v[n - 1];
}
