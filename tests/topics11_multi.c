/*
 * topics11_multi.c - one libmqe2e connection publishing to topics of several
 * topic groups (topics11_groups.sh): no "group" option, the library maps
 * each topic to its group from the KMS's group table.
 *
 *   topics11_multi CONFIG-FILE COUNT TOPIC...
 *   topics11_multi CONFIG-FILE -
 *
 * Connects once, then publishes COUNT rounds of "TOPIC n" on every TOPIC
 * (QoS 1), in order, and prints "sent N"; a failure prints the library's
 * message and exits 1.  With "-" it reads lines "TOPIC PAYLOAD" from stdin
 * instead, publishes each and prints "ok TOPIC" or "fail TOPIC: MESSAGE",
 * going on after a failure, until end of input.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mqe2e.h>

static void
on_error(void *arg, const struct mqe2e_error *e)
{
	(void)arg;
	fprintf(stderr, "topics11_multi: %s\n", e->text);
}

int
main(int argc, char **argv)
{
	struct mqe2e_config *cfg = NULL;
	struct mqe2e_client *c = NULL;
	char err[512] = "out of memory", msg[300];
	long count = 0, n;
	int rc = 1, i, sent = 0, lines = argc == 3 && strcmp(argv[2], "-") == 0;

	if (!lines && (argc < 4 || (count = strtol(argv[2], NULL, 10)) <= 0 || count > 100000)) {
		fprintf(stderr, "usage: topics11_multi CONFIG-FILE COUNT TOPIC... | "
		    "CONFIG-FILE -\n");
		return 1;
	}
	if (mqe2e_config_new(&cfg) != MQE2E_OK ||
	    mqe2e_config_load(cfg, argv[1], err, sizeof(err)) != MQE2E_OK ||
	    mqe2e_client_new(cfg, &c, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "topics11_multi: %s\n", err);
		goto out;
	}
	mqe2e_client_set_error_cb(c, on_error, NULL);
	if (mqe2e_connect(c, 10000) != MQE2E_OK) {
		fprintf(stderr, "topics11_multi: %s\n", mqe2e_client_errmsg(c, err, sizeof(err)));
		goto out;
	}
	while (lines && fgets(msg, sizeof(msg), stdin) != NULL) {
		char *sp = strchr(msg, ' '), *nl = strchr(msg, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (sp == NULL)
			continue;
		*sp++ = '\0';
		if (mqe2e_publish(c, msg, sp, strlen(sp), 1, 0, 10000) == MQE2E_OK)
			printf("ok %s\n", msg);
		else
			printf("fail %s: %s\n", msg, mqe2e_client_errmsg(c, err, sizeof(err)));
		fflush(stdout);
	}
	for (n = 1; n <= count; n++) {
		for (i = 3; i < argc; i++) {
			snprintf(msg, sizeof(msg), "%s %ld", argv[i], n);
			if (mqe2e_publish(c, argv[i], msg, strlen(msg), 1, 0, 10000) != MQE2E_OK) {
				fprintf(stderr, "topics11_multi: %s\n",
				    mqe2e_client_errmsg(c, err, sizeof(err)));
				goto out;
			}
			sent++;
		}
	}
	printf("sent %d\n", sent);
	rc = 0;
out:
	mqe2e_client_free(c);
	mqe2e_config_free(cfg);
	return rc;
}
