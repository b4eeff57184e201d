/*
 * hold.h - keep paho.mqtt.c's process-wide state for the life of the process
 * (hold.c).
 */
#ifndef MQE2E_HOLD_H
#define MQE2E_HOLD_H

/* Create, once per process, the paho client that is never connected or
 * destroyed; call before creating any other paho client. */
void hold__paho(void);

#endif
