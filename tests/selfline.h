/*
 * selfline.h - find the line of client/hold.c from inside a test program:
 * TCP connections on 127.0.0.1 whose two ends are both sockets of this
 * process (client_echo.c, hold_line.c, perf15_clients.c).
 */
#ifndef MQE2E_TEST_SELFLINE_H
#define MQE2E_TEST_SELFLINE_H

/* How many such connections the process holds; *bytes (if not NULL) gets
 * the bytes both ends of them received (TCP_INFO). */
int self_lines(unsigned long long *bytes);

/* Milliseconds on the monotonic clock, with fractions (for the times the
 * test programs print). */
double self_now_ms(void);

#endif
