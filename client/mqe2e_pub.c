/*
 * mqe2e-pub - publish end-to-end protected MQTT messages (the mosquitto_pub
 * of mqe2e).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define PUB_MAX_MESSAGE (256u * 1024u * 1024u - 4096u)

enum { OPT_REPEAT = OPT_TOOL_FIRST_FREE, OPT_REPEAT_DELAY, OPT_TO };

static void
usage(void)
{
	fputs(
"usage: mqe2e-pub -t TOPIC (-m MSG | -f FILE | -s | -l | -n) --cert FILE --key FILE\n"
"                 --cafile FILE [--kms URL] [-h HOST] [-p PORT] [-q QOS] [-k SECS] [-r]\n"
"                 [--repeat N [--repeat-delay SECS]] [-d] [--quiet]\n"
"       mqe2e-pub --help | --version\n"
"Publish end-to-end protected messages through an mqe2e broker.\n"
"Message:\n"
"  -t TOPIC         topic to publish on\n"
"  -m MSG           send MSG\n"
"  -f FILE          send the contents of FILE as one message\n"
"  -s               send all of standard input as one message\n"
"  -l               send each line of standard input as a message\n"
"  -n               send an empty message\n"
"  -r               retain the message\n"
"  --repeat N       send the message N times (default 1)\n"
"  --repeat-delay SECS\n"
"                   wait SECS (decimals allowed: 0.25) between repeats\n"
"  --to ID,ID...    scheme 1/2 recipients instead of the broker's roster\n",
	    stdout);
	tool_usage_common();
}

/* Seconds with up to three decimals ("2", "0.25") into milliseconds, at
 * most one hour. */
static int
parse_delay(const struct tool_opts *o, const char *s, long *ms)
{
	const char *dot = strchr(s, '.');
	char whole[16];
	long sec = 0, frac = 0, scale = 100;
	size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

	if (n == 0 || n >= sizeof(whole))
		goto bad;
	memcpy(whole, s, n);
	whole[n] = '\0';
	if (tool_num(o, "--repeat-delay", whole, 0, 3600, &sec) != 0)
		return -1;
	if (dot != NULL) {
		const char *p;

		if (dot[1] == '\0' || strlen(dot + 1) > 3)
			goto bad;
		for (p = dot + 1; *p != '\0'; p++, scale /= 10) {
			if (*p < '0' || *p > '9')
				goto bad;
			frac += (*p - '0') * scale;
		}
	}
	*ms = sec * 1000 + frac;
	if (*ms > 3600 * 1000L)
		goto bad;
	return 0;
bad:
	tool_err(o, "--repeat-delay must be seconds from 0 to 3600 with at most three "
	    "decimals (e.g. 0.5), not '%s'", s);
	return -1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Read all of f (at most PUB_MAX_MESSAGE bytes) into a malloc'd buffer. */
static int
slurp(FILE *f, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;

	for (;;) {
		if (n == cap) {
			if (cap >= PUB_MAX_MESSAGE) {
				free(buf);
				return MQE2E_ERR_TOO_LONG;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > PUB_MAX_MESSAGE)
				cap = PUB_MAX_MESSAGE;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return MQE2E_ERR_NOMEM;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return MQE2E_ERR_IO;
	}
	*out = buf;
	*len = n;
	return MQE2E_OK;
}

static int
publish_one(struct tool_opts *o, struct mqe2e_client *c, const char *topic, const void *p,
    size_t len, int retain)
{
	char err[512];

	if (mqe2e_publish(c, topic, p, len, o->qos, retain, o->timeout_s * 1000) != MQE2E_OK) {
		tool_err(o, "%s", mqe2e_client_errmsg(c, err, sizeof(err)));
		return EXIT_OP;
	}
	if (o->debug)
		tool_err(o, "published %zu bytes on '%s' (QoS %d)", len, topic, o->qos);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPTS,
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "repeat-delay", required_argument, NULL, OPT_REPEAT_DELAY },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	struct tool_opts o;
	struct mqe2e_client *c = NULL;
	const char *topic = NULL, *message = NULL, *file = NULL;
	int mode = 0, retain = 0, ch, k, code;
	long repeat = 1, repeat_delay_ms = 0, i;
	uint8_t *data = NULL;
	size_t len = 0;
	FILE *f;

	tool_init(&o, "mqe2e-pub", usage);
	while ((ch = getopt_long(argc, argv, TOOL_SHORTOPTS "t:m:f:slnr", longopts, NULL)) != -1) {
		if ((k = tool_opt(&o, ch, optarg)) < 0)
			return EXIT_USAGE;
		if (k > 0)
			continue;
		switch (ch) {
		case 't':
			topic = optarg;
			break;
		case 'm':
		case 'f':
		case 's':
		case 'l':
		case 'n':
			if (mode != 0 && mode != ch) {
				tool_err(&o, "give only one of -m, -f, -s, -l, -n");
				return EXIT_USAGE;
			}
			mode = ch;
			if (ch == 'm')
				message = optarg;
			else if (ch == 'f')
				file = optarg;
			break;
		case 'r':
			retain = 1;
			break;
		case OPT_REPEAT:
			if (tool_num(&o, "--repeat", optarg, 1, 100000000, &repeat) != 0)
				return EXIT_USAGE;
			break;
		case OPT_REPEAT_DELAY:
			if (parse_delay(&o, optarg, &repeat_delay_ms) != 0)
				return EXIT_USAGE;
			break;
		case OPT_TO:
			o.recipients = optarg;
			break;
		default:        /* in the option string, not handled: a bug */
			return EXIT_USAGE;
		}
	}
	if (tool_args_end(&o, argc, argv) != 0)
		return EXIT_USAGE;
	if (topic == NULL || mode == 0) {
		tool_err(&o, "give a topic (-t) and a message (-m, -f, -s, -l or -n); try --help");
		return EXIT_USAGE;
	}
	if (mode == 'f') {
		if ((f = fopen(file, "rb")) == NULL) {
			tool_err(&o, "cannot open %s: %s", file, strerror(errno));
			return EXIT_USAGE;
		}
		k = slurp(f, &data, &len);
		fclose(f);
		if (k != MQE2E_OK) {
			tool_err(&o, "cannot read %s: %s", file, mqe2e_strerror(k));
			return EXIT_USAGE;
		}
	} else if (mode == 's') {
		if ((k = slurp(stdin, &data, &len)) != MQE2E_OK) {
			tool_err(&o, "cannot read standard input: %s", mqe2e_strerror(k));
			return EXIT_USAGE;
		}
	}

	if ((code = tool_connect(&o, &c)) != EXIT_OK)
		goto out;
	if (mode == 'l') {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		while (code == EXIT_OK && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			code = publish_one(&o, c, topic, line, (size_t)n, retain);
		}
		free(line);
	} else {
		const void *p = mode == 'm' ? (const void *)message : data;

		len = mode == 'm' ? strlen(message) : mode == 'n' ? 0 : len;
		for (i = 0; i < repeat && code == EXIT_OK; i++) {
			if (i > 0 && repeat_delay_ms > 0)
				sleep_ms(repeat_delay_ms);
			code = publish_one(&o, c, topic, p, len, retain);
		}
	}
out:
	mqe2e_client_free(c);
	free(data);
	return code;
}
