/*
 * hold.h - keep paho.mqtt.c's process-wide state for the life of the
 * process, and wake its receive thread (hold.c).
 */
#ifndef MQE2E_HOLD_H
#define MQE2E_HOLD_H

/* Create, once per process, the paho client that is never destroyed and
 * connect it to the process's own end of the line; call before creating
 * any other paho client. */
void hold__paho(void);

/* The same without the line: the held client is never connected (for
 * mqe2e-bench's bare paho baseline).  The first call of either decides
 * (per copy of hold.c: libmqe2e's is its own). */
void hold__paho_bare(void);

/* Wake paho's receive thread (a PINGRESP down the line): 0, or -1 if
 * there is no line (hold__paho() not called, or it could not make one) or
 * paho is not reading it.  Safe from any thread. */
int hold__wake(void);

#endif
