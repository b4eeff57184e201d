/*
 * hello.c - the libmqe2e example of libmqe2e(3): connect with a
 * configuration file, subscribe to a topic, publish "hello" on it and print
 * what comes back, decrypted and verified end to end.
 *
 *   cc -o hello hello.c $(pkg-config --cflags --libs libmqe2e)
 *   ./hello client.conf demo/hello
 *
 * client.conf holds "name value" lines: broker, cert, key, cafile, kms.
 * The client needs both a pub and a sub grant on the topic's group.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <mqe2e.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int got;

/* Runs on the library's thread: the message is valid only during the call. */
static void
on_message(void *arg, const struct mqe2e_message *m)
{
	(void)arg;
	printf("%s from %s (group %s, epoch %u): %.*s\n", m->topic, m->sender, m->group,
	    m->epoch, (int)m->payload_len, (const char *)m->payload);
	pthread_mutex_lock(&mu);
	got = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

static void
on_error(void *arg, const struct mqe2e_error *e)
{
	(void)arg;
	fprintf(stderr, "hello: %s\n", e->text);
}

int
main(int argc, char **argv)
{
	struct mqe2e_config *cfg = NULL;
	struct mqe2e_client *c = NULL;
	char err[512] = "out of memory";
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: hello CONFIG-FILE TOPIC\n");
		return 1;
	}
	if (mqe2e_config_new(&cfg) != MQE2E_OK ||
	    mqe2e_config_load(cfg, argv[1], err, sizeof(err)) != MQE2E_OK ||
	    mqe2e_client_new(cfg, &c, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "hello: %s\n", err);
		goto out;
	}
	mqe2e_client_set_error_cb(c, on_error, NULL);
	if (mqe2e_connect(c, 10000) != MQE2E_OK ||
	    mqe2e_subscribe(c, argv[2], 1, on_message, NULL, 10000) != MQE2E_OK ||
	    mqe2e_publish(c, argv[2], "hello", 5, 1, 0, 10000) != MQE2E_OK) {
		fprintf(stderr, "hello: %s\n", mqe2e_client_errmsg(c, err, sizeof(err)));
		goto out;
	}
	pthread_mutex_lock(&mu);
	while (!got)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	rc = 0;
out:
	mqe2e_client_free(c);
	mqe2e_config_free(cfg);
	return rc;
}
