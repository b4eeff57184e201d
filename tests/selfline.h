/*
 * selfline.h - what a test program sees of its own process: the line of
 * client/hold.c (TCP connections on 127.0.0.1 whose two ends are both
 * sockets of this process), the clock, its threads by name (client_echo.c,
 * hold_line.c, perf15_clients.c).
 */
#ifndef MQE2E_TEST_SELFLINE_H
#define MQE2E_TEST_SELFLINE_H

/* How many such connections the process holds; *bytes (if not NULL) gets
 * the bytes both ends of them received (TCP_INFO). */
int self_lines(unsigned long long *bytes);
/* The same; *nodelay (if not NULL) gets how many of them have TCP_NODELAY
 * on one end (the line's writing end: client/hold.c). */
int self_lines_nodelay(unsigned long long *bytes, int *nodelay);

/* Milliseconds on the monotonic clock, with fractions (for the times the
 * test programs print). */
double self_now_ms(void);

/* Threads of this process named name (/proc/self/task/TID/comm), or -1 if
 * the directory cannot be read; *sched_idle (if not NULL) gets how many of
 * them run under SCHED_IDLE. */
int self_threads_named(const char *name, int *sched_idle);

#endif
