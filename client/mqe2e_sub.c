/*
 * mqe2e-sub - receive end-to-end protected MQTT messages (the
 * mosquitto_sub of mqe2e).
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subfmt.h"
#include "tool.h"

#define SUB_TOPICS_MAX 64

enum { OPT_SESSION_EXPIRY = OPT_TOOL_FIRST_FREE };

static volatile sig_atomic_t stop_signal;

struct sub_state {
	struct tool_opts *o;
	int verbose;             /* -v: "topic payload" */
	int no_newline;          /* -N */
	int no_retained;         /* -R: skip retained (stale) messages */
	const char *format;      /* -F */
	long count;              /* -C: stop after this many (0 = never) */
	long received;           /* [mu] */
	pthread_mutex_t mu;
};

static void
usage(void)
{
	fputs(
"usage: mqe2e-sub -t FILTER [-t FILTER ...] --cert FILE --key FILE --cafile FILE\n"
"                 [--kms URL] [-h HOST] [-p PORT] [-q QOS] [-k SECS] [-C N] [-W SECS]\n"
"                 [-v] [-N] [-F FORMAT] [-R] [-E] [-d] [--quiet]\n"
"                 [-c [--session-expiry SECS]]\n"
"       mqe2e-sub --help | --version\n"
"Receive end-to-end protected messages through an mqe2e broker and print\n"
"their plaintext, one per line.\n"
"Subscription and output:\n"
"  -t FILTER        topic filter to subscribe to (repeatable, up to 64)\n"
"  -C N             exit after N messages\n"
"  -W SECS          exit after SECS seconds (status 27 if -C was not reached)\n"
"  -v               print the topic before each message\n"
"  -N               no newline after each message\n"
"  -F FORMAT        print each message by FORMAT, as mosquitto_sub -F: %t topic,\n"
"                   %p payload, %l length, %q QoS, %r retained, %x/%X hex payload,\n"
"                   %I ISO time, %U Unix time, %s sender, %g group, %e epoch,\n"
"                   %k scheme, %% a percent; \\n \\t \\\\ ... escapes\n"
"  -R               do not print retained (stale) messages\n"
"  -E               exit once the subscriptions are acknowledged\n"
"  -d               also print the sender, group and epoch of each message\n"
"  -c               persistent session: no Clean Start, so the broker keeps the\n"
"                   subscriptions and queues QoS 1/2 messages while we are away\n"
"  --session-expiry SECS\n"
"                   with -c: how long the broker keeps the session after we\n"
"                   disconnect (default 3600)\n",
	    stdout);
	tool_usage_common();
	fputs("27 when -W ran out.\n", stdout);
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
on_message(void *arg, const struct mqe2e_message *m)
{
	struct sub_state *st = arg;

	pthread_mutex_lock(&st->mu);
	if (st->no_retained && m->retained) {
		if (st->o->debug)
			tool_err(st->o, "skipped a retained message on '%s' (-R)", m->topic);
	} else if (st->count == 0 || st->received < st->count) {
		if (st->format != NULL) {
			subfmt_print(stdout, st->format, m);
		} else {
			if (st->verbose)
				printf("%s ", m->topic);
			fwrite(m->payload, 1, m->payload_len, stdout);
		}
		if (!st->no_newline)
			putchar('\n');
		fflush(stdout);
		if (st->o->debug)
			tool_err(st->o, "message on '%s' from '%s' (group '%s', epoch %u, "
			    "scheme %d, %zu bytes)", m->topic, m->sender, m->group, m->epoch,
			    m->scheme, m->payload_len);
		st->received++;
	}
	pthread_mutex_unlock(&st->mu);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPTS,
		{ "session-expiry", required_argument, NULL, OPT_SESSION_EXPIRY },
		{ NULL, 0, NULL, 0 }
	};
	struct tool_opts o;
	struct sub_state st;
	struct mqe2e_client *c = NULL;
	const char *topics[SUB_TOPICS_MAX];
	struct sigaction sa;
	struct timespec start, now, nap = { 0, 50 * 1000 * 1000 };
	long wait_s = 0, got;
	int ntopics = 0, ch, k, code, i, exit_after_sub = 0;
	const char *bad;
	char err[512];

	memset(&st, 0, sizeof(st));
	tool_init(&o, "mqe2e-sub", usage);
	st.o = &o;
	while ((ch = getopt_long(argc, argv, TOOL_SHORTOPTS "t:C:W:vNcF:RE", longopts, NULL)) != -1) {
		if ((k = tool_opt(&o, ch, optarg)) < 0)
			return EXIT_USAGE;
		if (k > 0)
			continue;
		switch (ch) {
		case 't':
			if (ntopics == SUB_TOPICS_MAX) {
				tool_err(&o, "at most %d topic filters", SUB_TOPICS_MAX);
				return EXIT_USAGE;
			}
			topics[ntopics++] = optarg;
			break;
		case 'C':
			if (tool_num(&o, "the count (-C)", optarg, 1, 1000000000, &st.count) != 0)
				return EXIT_USAGE;
			break;
		case 'W':
			if (tool_num(&o, "the timeout (-W)", optarg, 1, 31536000, &wait_s) != 0)
				return EXIT_USAGE;
			break;
		case 'v':
			st.verbose = 1;
			break;
		case 'N':
			st.no_newline = 1;
			break;
		case 'c':
			o.persistent = 1;
			break;
		case 'F':
			if (subfmt_check(optarg, &bad) != 0) {
				tool_err(&o, "-F: cannot use '%.2s' at offset %d of '%s' (see --help)",
				    bad, (int)(bad - optarg), optarg);
				return EXIT_USAGE;
			}
			st.format = optarg;
			break;
		case 'R':
			st.no_retained = 1;
			break;
		case 'E':
			exit_after_sub = 1;
			break;
		case OPT_SESSION_EXPIRY:
			if (tool_num(&o, "--session-expiry", optarg, 1, 2147483647,
			    &o.session_expiry_s) != 0)
				return EXIT_USAGE;
			break;
		default:        /* in the option string, not handled: a bug */
			return EXIT_USAGE;
		}
	}
	if (tool_args_end(&o, argc, argv) != 0)
		return EXIT_USAGE;
	if (ntopics == 0) {
		tool_err(&o, "give at least one topic filter (-t); try --help");
		return EXIT_USAGE;
	}
	pthread_mutex_init(&st.mu, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (o.persistent) {
		/* Register the subscriptions before connecting: the broker sends
		 * what it kept for the session right after CONNACK. */
		if ((code = tool_client_new(&o, &c)) != EXIT_OK)
			goto out;
		for (i = 0; i < ntopics; i++) {
			if (mqe2e_subscribe(c, topics[i], o.qos, on_message, &st, 0) != MQE2E_OK) {
				tool_err(&o, "%s", mqe2e_client_errmsg(c, err, sizeof(err)));
				code = EXIT_OP;
				goto out;
			}
		}
		if ((code = tool_client_connect(&o, c)) != EXIT_OK)
			goto out;
		if (o.debug)
			tool_err(&o, "resumed the session with %d subscription%s (QoS %d)",
			    ntopics, ntopics == 1 ? "" : "s", o.qos);
		ntopics = 0;    /* subscribed by the connect */
	} else if ((code = tool_connect(&o, &c)) != EXIT_OK) {
		goto out;
	}
	for (i = 0; i < ntopics; i++) {
		if (mqe2e_subscribe(c, topics[i], o.qos, on_message, &st,
		    o.timeout_s * 1000) != MQE2E_OK) {
			tool_err(&o, "%s", mqe2e_client_errmsg(c, err, sizeof(err)));
			code = EXIT_OP;
			goto out;
		}
		if (o.debug)
			tool_err(&o, "subscribed to '%s' (QoS %d)", topics[i], o.qos);
	}
	if (exit_after_sub) {
		if (o.debug)
			tool_err(&o, "subscriptions acknowledged: exiting (-E)");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pthread_mutex_lock(&st.mu);
		got = st.received;
		pthread_mutex_unlock(&st.mu);
		if (st.count != 0 && got >= st.count)
			break;
		if (stop_signal != 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (wait_s != 0 && now.tv_sec - start.tv_sec >= wait_s) {
			if (o.debug)
				tool_err(&o, "-W %ld: timed out after %ld messages", wait_s, got);
			code = EXIT_TIMEOUT;
			break;
		}
		nanosleep(&nap, NULL);
	}
out:
	mqe2e_client_free(c);
	pthread_mutex_destroy(&st.mu);
	return code;
}
