/*
 * verdict.c - the hand-off from the ACL write check to MOSQ_EVT_MESSAGE.
 *
 * Mosquitto 2.0.11 runs, for each PUBLISH, the ACL write check (which sees
 * the payload and may refuse cleanly) and then, for the same message, the
 * message callback (which may replace the payload).  message__verify()
 * decides in the first and leaves its decision in the session's verdict:
 * the state, the buffers it produced (owned here until taken), and the
 * policy version and group it was decided under.  message__handle() takes
 * the verdict only for the payload it was made for, under the policy still
 * in force; anything else is refused.  A new verify clears the old verdict
 * first, so two publishes can never share one (tests/broker_unit.c
 * interleaves two).
 */
#include "config.h"

#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "plugin.h"

void verdict__clear(struct bx_verdict *v)
{
	if (v->body != NULL)
		mqe2e_free_secret(v->body, v->body_len);
	if (v->out != NULL)
		mosquitto_free(v->out);
	memset(v, 0, sizeof(*v));
}

int verdict__matches(const struct bx_verdict *v, const struct bx_policy *p, const void *payload,
    uint32_t len, size_t gi)
{
	return v->valid && p != NULL && v->policy_version == p->version && v->gi == gi &&
	    gi < p->ngroups && v->src == payload && v->src_len == len;
}
