/*
 * util.c - clocks, logging, number parsing and pipe I/O for mqe2e-bench.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char *const kind_names[KIND__COUNT] = {
	"plain", "tls", "s1", "s2", "s3", "s4"
};

const char *
bench_kind_name(enum bench_kind k)
{
	return (unsigned)k < KIND__COUNT ? kind_names[k] : "?";
}

int
bench_kind_parse(const char *s, enum bench_kind *out)
{
	int k;

	for (k = 0; k < KIND__COUNT; k++) {
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum bench_kind)k;
			return 0;
		}
	}
	return -1;
}

int
bench_kind_scheme(enum bench_kind k)
{
	return k >= KIND_S1 && k <= KIND_S4 ? (int)(k - KIND_S1) + 1 : 0;
}

void
bench_pub_id(char *out, size_t len)
{
	bench_fmt(out, len, "%spub", bench_prefix);
}

void
bench_sub_id(int i, char *out, size_t len)
{
	bench_fmt(out, len, "%ssub%04d", bench_prefix, i);
}

void
bench_topic(enum bench_kind k, char *out, size_t len)
{
	if (k == KIND_TLS)
		bench_fmt(out, len, "bench/%stls/", bench_prefix);
	else
		bench_fmt(out, len, "bench/%s%s/t", bench_prefix, bench_kind_name(k));
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Context switches of the whole process so far (every thread, also those
 * that ended): what a connect costs in wake-ups. */
uint64_t
bench_csw(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

int
bench_machine_ticks(uint64_t *total, uint64_t *idle, uint64_t *steal)
{
	unsigned long long v[8];
	char line[512];
	FILE *f;
	int n, r = -1;

	*total = *idle = 0;
	if (steal != NULL)
		*steal = 0;
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return -1;
	/* cpu  user nice system idle iowait irq softirq steal [guest...] */
	if (fgets(line, sizeof(line), f) != NULL && strncmp(line, "cpu ", 4) == 0) {
		char *p = line + 4, *end;

		for (n = 0; n < 8; n++) {
			errno = 0;
			v[n] = strtoull(p, &end, 10);
			if (end == p || errno != 0)
				break;
			p = end;
		}
		if (n == 8) {
			for (n = 0; n < 8; n++)
				*total += v[n];
			*idle = v[3] + v[4];
			if (steal != NULL)
				*steal = v[7];
			r = 0;
		}
	}
	fclose(f);
	return r;
}

double
bench_steal_pct(uint64_t total0, uint64_t steal0, uint64_t total1, uint64_t steal1)
{
	if (total1 <= total0 || steal1 < steal0)
		return 0.0;
	return 100.0 * (double)(steal1 - steal0) / (double)(total1 - total0);
}

uint64_t
bench_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bench_sleep_until_ns(uint64_t t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void
bench_sleep_ms(int ms)
{
	bench_sleep_until_ns(bench_now_ns() + (uint64_t)ms * 1000000u);
}

void
bench_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mqe2e-bench: %s\n", line);
}

char *
bench_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return buf;
	va_start(ap, fmt);
	if (vsnprintf(buf, len, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	return buf;
}

int
bench_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
bench_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
bench_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

int
bench_read_all(int fd, void *p, size_t len, int timeout_ms)
{
	uint8_t *b = p;
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct pollfd pfd;
	ssize_t r;
	uint64_t now;
	int pr;

	while (len > 0) {
		now = bench_now_ns();
		if (now >= deadline)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		pr = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		if ((r = read(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return -1;
		b += r;
		len -= (size_t)r;
	}
	return 0;
}
