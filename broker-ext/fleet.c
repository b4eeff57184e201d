/*
 * fleet.c - one Mosquitto for mqe2e and for an existing fleet.
 *
 * Clients without mqe2e keep their password_file, acl_file, TLS and
 * anonymous rules exactly as before; the plugin only keeps from them what
 * mqe2e reserves:
 *   - the client ids of mqe2e clients (a CONNECT with one would take over
 *     the mqe2e client's connection and persistent session): refused;
 *   - mqe2e's own topics (mqe2e/...) and the topics of every topic group:
 *     no publishing, no receiving, no subscribing within them (a wider
 *     filter such as '#' is allowed, its deliveries are filtered).
 * Everything else is MOSQ_ERR_PLUGIN_DEFER (Mosquitto's password_file and
 * acl_file decide) or, for plugin_opt_fleet allow, MOSQ_ERR_SUCCESS for
 * the ACL: Mosquitto 2.0 turns an ACL check every plugin deferred into a
 * denial when there is no acl_file, which is not how that fleet ran.
 *
 * Two ways to configure it (mqe2e_plugin(8), "Shared broker"):
 *   per_listener_settings true: the mqe2e listener loads the plugin
 *     (role mqe2e), each fleet listener loads it with plugin_opt_role
 *     guard (callbacks here, no keys, one small struct per listener);
 *   per_listener_settings false: one plugin with plugin_opt_fleet; clients
 *     that connect without mqe2e are fleet clients (sessions with fleet).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "notice.h"
#include "plugin.h"

#define MQE2E_TOPIC_ROOT "mqe2e/"

struct bx_guard {
	mosquitto_plugin_id_t *id;
	enum bx_fleet mode;
};

/* 1 if topic (a name) is mqe2e's: under mqe2e/ or in a topic group. */
static int reserved_topic(const char *topic)
{
	size_t gi;

	return strncmp(topic, MQE2E_TOPIC_ROOT, sizeof(MQE2E_TOPIC_ROOT) - 1) == 0 ||
	    plugin__group_of(topic, &gi) != NULL;
}

/* 1 if every topic filter matches lies in mqe2e's topics. */
static int reserved_filter(const char *filter)
{
	size_t gi;

	if (mqe2e_topic_filter_within(filter, MQE2E_TOPIC_ROOT "#"))
		return 1;
	for (gi = 0; bx.policy != NULL && gi < bx.policy->ngroups; gi++)
		if (mqe2e_topic_filter_within(filter, bx.policy->groups[gi].filter))
			return 1;
	return 0;
}

int fleet__acl(const struct mosquitto_evt_acl_check *ed, enum bx_fleet mode)
{
	const char *id = mosquitto_client_id(ed->client);
	int denied;

	switch (ed->access) {
	case MOSQ_ACL_SUBSCRIBE:
		denied = reserved_filter(ed->topic);
		break;
	case MOSQ_ACL_READ:
	case MOSQ_ACL_WRITE:
		denied = reserved_topic(ed->topic);
		break;
	default:
		denied = 0;
		break;
	}
	if (denied) {
		stats__inc(BX_FLEET_DENIED);
		if (ed->access != MOSQ_ACL_READ)
			plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "denied %s of '%s' to client '%s' "
			    "without mqe2e: the topic belongs to mqe2e (fleet_denied)",
			    ed->access == MOSQ_ACL_WRITE ? "publish" : "subscription", ed->topic,
			    id != NULL ? id : "");
		return MOSQ_ERR_ACL_DENIED;
	}
	return mode == BX_FLEET_ALLOW ? MOSQ_ERR_SUCCESS : MOSQ_ERR_PLUGIN_DEFER;
}

int fleet__basic(struct mosquitto *client, enum bx_fleet mode)
{
	const char *id = mosquitto_client_id(client);
	const char *addr = mosquitto_client_address(client);
	struct bx_session *s;

	(void)mode;
	if (id != NULL && auth__id_reserved(id, 0)) {
		stats__inc(BX_PLAIN_IDENTITY);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused client '%s' from %s without "
		    "mqe2e: the id belongs to an mqe2e client, which it would take over "
		    "(plain_identity_refused)", id, addr != NULL ? addr : "?");
		return MOSQ_ERR_AUTH;
	}
	/* The mqe2e instance remembers it as a fleet client for its ACL checks;
	 * a guard needs nothing (everyone on its listener is). */
	if (bx.self != NULL && session__add(client, &s) == MQE2E_OK) {
		s->plain = true;
		s->fleet = true;
		if (id != NULL && mqe2e_view_to_str((struct mqe2e_view){ (const uint8_t *)id,
		    strlen(id) }, s->id, sizeof(s->id)) != MQE2E_OK)
			s->id[0] = '\0';
	}
	/* password_file / allow_anonymous decide, as before. */
	return MOSQ_ERR_PLUGIN_DEFER;
}

/* ---- a guard on a fleet listener (per_listener_settings true) ---------------- */

static int guard_basic(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	struct bx_guard *g = userdata;
	int r;

	(void)event;
	plugin__enter(1);
	r = fleet__basic(ed->client, g->mode);
	plugin__leave();
	return r;
}

static int guard_ext_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_extended_auth *ed = event_data;
	const char *id = mosquitto_client_id(ed->client);

	(void)event;
	(void)userdata;
	if (ed->auth_method == NULL || strcmp(ed->auth_method, MQE2E_AUTH_METHOD) != 0)
		return MOSQ_ERR_PLUGIN_DEFER;
	stats__inc(BX_AUTH_BAD_METHOD);
	plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused mqe2e client '%s': this listener "
	    "serves the existing fleet (plugin_opt_role guard); connect to the mqe2e listener",
	    id != NULL ? id : "");
	return MOSQ_ERR_AUTH;
}

static int guard_acl(int event, void *event_data, void *userdata)
{
	struct bx_guard *g = userdata;
	int r;

	(void)event;
	plugin__enter(1);
	if (!plugin__mqe2e_loaded())
		r = MOSQ_ERR_ACL_DENIED;   /* cannot tell mqe2e's topics: fail closed */
	else
		r = fleet__acl(event_data, g->mode);
	plugin__leave();
	return r;
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} guard_callbacks[] = {
	{ MOSQ_EVT_BASIC_AUTH, guard_basic },
	{ MOSQ_EVT_EXT_AUTH_START, guard_ext_auth },
	{ MOSQ_EVT_ACL_CHECK, guard_acl },
};

static void guard_unregister(struct bx_guard *g)
{
	size_t i;

	for (i = 0; i < sizeof(guard_callbacks) / sizeof(guard_callbacks[0]); i++)
		mosquitto_callback_unregister(g->id, guard_callbacks[i].event, guard_callbacks[i].cb,
		    NULL);
}

int fleet__guard_init(mosquitto_plugin_id_t *identifier, void **userdata,
    const struct bx_config *cfg)
{
	struct bx_guard *g;
	size_t i;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return MOSQ_ERR_NOMEM;
	g->id = identifier;
	g->mode = cfg->fleet;
	for (i = 0; i < sizeof(guard_callbacks) / sizeof(guard_callbacks[0]); i++) {
		if (mosquitto_callback_register(identifier, guard_callbacks[i].event,
		    guard_callbacks[i].cb, NULL, g) != MOSQ_ERR_SUCCESS) {
			plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "cannot register callbacks");
			guard_unregister(g);
			free(g);
			return MOSQ_ERR_INVAL;
		}
	}
	*userdata = g;
	plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "guard on this listener: clients "
	    "without mqe2e keep their rules (%s), mqe2e ids and topics are kept from them",
	    g->mode == BX_FLEET_ALLOW ? "every other topic allowed" : "acl_file");
	return MOSQ_ERR_SUCCESS;
}

void fleet__guard_cleanup(void *userdata)
{
	struct bx_guard *g = userdata;

	if (g == NULL)
		return;
	guard_unregister(g);
	free(g);
}
