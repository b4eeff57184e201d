/*
 * hold.c - one paho client held for the life of the process.
 *
 * paho.mqtt.c tears its process-wide state down when the process's last
 * client is destroyed (MQTTAsync_terminate): it stops its send and receive
 * threads and frees its trace buffer, its heap records and its lists.  That
 * teardown races with the threads it stops: each sets its state to STOPPED,
 * releases paho's mutex and then still writes a trace entry on its way out,
 * into the buffer Log_terminate may have freed meanwhile (paho.mqtt.c
 * 1.3.11-1.3.15, upstream issue #1669).  Caught in mqe2e-bench: SIGSEGV in
 * MQTTAsync_rcv writing into the freed trace buffer as a publisher was freed
 * (twice in about 40 teardowns with glibc.malloc.mmap_threshold=16384, which
 * unmaps a freed buffer at once; with the default allocator the write lands
 * in freed heap memory instead).  So the process holds one paho client that
 * is never connected or destroyed: destroying the last real client then
 * never runs that teardown (nor waits in paho's 100 ms stop loop).  The
 * cost: once started, paho's two threads stay (the receive thread wakes
 * every 100 ms while there is no connection).  CLIENT.md, "Threads and
 * locks".  libmqe2e and mqe2e-bench (for its bare paho links) both use it.
 */

#include "config.h"

#include <pthread.h>
#include <stddef.h>

#include <MQTTAsync.h>

#include "hold.h"

static pthread_once_t hold_once = PTHREAD_ONCE_INIT;
static MQTTAsync holder;

static void
hold_make(void)
{
	/* never connected, never destroyed; on failure (out of memory) the
	 * process works as before, with paho's teardown */
	if (MQTTAsync_create(&holder, "tcp://127.0.0.1:1", "mqe2e-paho-holder",
	    MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		holder = NULL;
}

void
hold__paho(void)
{
	(void)pthread_once(&hold_once, hold_make);
}
