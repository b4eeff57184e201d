/*
 * subfmt.c - mqe2e-sub -F output formats (see subfmt.h).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "subfmt.h"

static const char conversions[] = "%tplqrxXIUsgek";
static const char escapes[] = "\\0aenrtv";

int
subfmt_check(const char *fmt, const char **bad)
{
	const char *p;

	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%' && *p != '\\')
			continue;
		if (p[1] == '\0' || strchr(*p == '%' ? conversions : escapes, p[1]) == NULL) {
			*bad = p;
			return -1;
		}
		p++;
	}
	return 0;
}

static void
print_hex(FILE *f, const uint8_t *p, size_t n, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		fputc(digits[p[i] >> 4], f);
		fputc(digits[p[i] & 15], f);
	}
}

static void
print_time(FILE *f, int iso)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!iso) {
		fprintf(f, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
		return;
	}
	if (localtime_r(&ts.tv_sec, &tm) != NULL &&
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm) != 0)
		fputs(buf, f);
}

void
subfmt_print(FILE *f, const char *fmt, const struct mqe2e_message *m)
{
	static const char esc_out[] = "\\\0\a\033\n\r\t\v";
	const char *p, *e;

	for (p = fmt; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0' && (e = strchr(escapes, p[1])) != NULL) {
			fputc(esc_out[e - escapes], f);
			p++;
			continue;
		}
		if (*p != '%' || p[1] == '\0') {
			fputc(*p, f);
			continue;
		}
		switch (*++p) {
		case '%': fputc('%', f); break;
		case 't': fputs(m->topic, f); break;
		case 'p': fwrite(m->payload, 1, m->payload_len, f); break;
		case 'l': fprintf(f, "%zu", m->payload_len); break;
		case 'q': fprintf(f, "%d", m->qos); break;
		case 'r': fputc(m->retained ? '1' : '0', f); break;
		case 'x': print_hex(f, m->payload, m->payload_len, 0); break;
		case 'X': print_hex(f, m->payload, m->payload_len, 1); break;
		case 'I': print_time(f, 1); break;
		case 'U': print_time(f, 0); break;
		case 's': fputs(m->sender, f); break;
		case 'g': fputs(m->group, f); break;
		case 'e': fprintf(f, "%u", m->epoch); break;
		case 'k': fprintf(f, "%d", m->scheme); break;
		default: fputc('%', f); fputc(*p, f); break;
		}
	}
}
