/*
 * admit.h - connection admission of mqe2e-kmsd: who may hold a connection
 * and for how long, so that slow or greedy clients cannot take the service
 * from the brokers and the admin.
 *
 * libmicrohttpd only knows an inactivity timeout (a client that trickles a
 * byte every few seconds keeps its connection for ever) and a per-address
 * limit that answers with a TCP reset.  Instead every connection is
 * registered here (httpd.c's connection notifications) and
 *   - must deliver its whole request within request_timeout of being
 *     accepted (an absolute deadline; the watchdog thread shuts down the
 *     socket of a late one);
 *   - is "over the limit" when the daemon holds max_connections, or its
 *     address per_ip_connections and the daemon half of max_connections
 *     (an address may use what nobody else needs): it is still accepted, gets
 *     a short deadline (KMS_ADMIT_OVER_S, not applied while bytes it sent
 *     wait unread in the kernel: that delay is ours), and its request is answered
 *     503 with Retry-After - unless it is privileged: an admin request with
 *     the right token, or a broker's (policy, or keys for a broker
 *     certificate), which are served;
 *   - when an address holds twice its share, its oldest connection that is
 *     still sending its request after KMS_ADMIT_SLOW_MS (a slow one) is shut
 *     down to make room.
 * libmicrohttpd's own connection limit (max_connections + per_ip_connections)
 * stays as the last resort, the one place that still resets.
 *
 * The registry has its own lock, taken alone (never with another lock).
 */
#ifndef KMS_ADMIT_H
#define KMS_ADMIT_H

#include <stdint.h>
#include <sys/socket.h>

#include "kmsd.h"

#define KMS_ADMIT_OVER_S 2   /* deadline of a connection over the limit */
#define KMS_ADMIT_SLOW_MS 1000  /* sending longer than this: slow, not queued */

struct kms_admit;
struct kms_conn;

/* The registry and its watchdog thread. */
int kms_admit_start(const struct kmsd_config *cfg, struct kms_admit **out) MQE2E_WUR;
void kms_admit_stop(struct kms_admit *a);

/*
 * A connection was accepted from addr (fd: its socket).  Returns its entry
 * (NULL on allocation failure: the connection then has no deadline and is
 * treated as over the limit).  May shut down another slow connection of
 * the same address.
 */
struct kms_conn *kms_admit_open(struct kms_admit *a, int fd, const struct sockaddr *addr);
/* The connection is closed: forget it (c may be NULL). */
void kms_admit_close(struct kms_admit *a, struct kms_conn *c);
/* 1 if the connection was over a limit when accepted (or is unknown). */
int kms_admit_over(struct kms_admit *a, struct kms_conn *c);
/* Its whole request (headers and body) arrived: no deadline while it is
 * being served (a policy watch waits up to a minute). */
void kms_admit_received(struct kms_admit *a, struct kms_conn *c);
/* Its request was answered: the next one on the same connection has a new
 * deadline. */
void kms_admit_done(struct kms_admit *a, struct kms_conn *c);

#endif
