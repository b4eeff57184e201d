/*
 * kmsctl_clients.c - the "client" and "cert" nouns of mqe2e-kmsctl:
 * enrol clients and brokers, issue and list their certificates, revoke.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsctl.h"

#define PATH_MAX_LEN 256

static const char *const client_keys[] = {
	"name", "kind", "created", "revoked", "revoked_at", "revoke_reason", "certs", NULL
};

static int
cmd_client_add(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *name = a->pos[0], *kind = kmsctl__opt(a, "kind");
	json_t *body = NULL;
	char what[128];
	int r;

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	if (kind == NULL)
		kind = "client";
	if (strcmp(kind, "client") != 0 && strcmp(kind, "broker") != 0) {
		kmsctl__err("--kind must be client or broker, not \"%s\"", kind);
		return KMSCTL_EXIT_USAGE;
	}
	if ((body = json_pack("{s:s,s:s}", "name", name, "kind", kind)) == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	snprintf(what, sizeof(what), "create %s '%s'", kind, name);
	r = kmsctl__call_print(k, "POST", "/v1/clients", body, what, client_keys);
	json_decref(body);
	return r;
}

static int
cmd_client_list(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const cols[] = { "name", "kind", "created", "revoked", "certs", NULL };

	(void)a;
	return kmsctl__list_print(k, "/v1/clients", "list clients", cols);
}

static int
cmd_client_show(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *name = a->pos[0];
	char path[PATH_MAX_LEN], what[128];

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/clients/%s", name);
	snprintf(what, sizeof(what), "show client '%s'", name);
	return kmsctl__call_print(k, "GET", path, NULL, what, client_keys);
}

/* POST a revocation ({"reason": ...} when given) to path and print the answer:
 * the one tail of 'client revoke' and 'cert revoke'. */
static int
post_revoke(struct kmsctl *k, const char *path, const char *what, const char *reason,
    const char *const *keys)
{
	json_t *body;
	int r;

	if (reason != NULL && strlen(reason) > 256) {
		kmsctl__err("--reason is limited to 256 bytes");
		return KMSCTL_EXIT_USAGE;
	}
	body = reason != NULL ? json_pack("{s:s}", "reason", reason) : json_object();
	if (body == NULL) {
		kmsctl__err("--reason must be UTF-8 text");
		return KMSCTL_EXIT_USAGE;
	}
	r = kmsctl__call_print(k, "POST", path, body, what, keys);
	json_decref(body);
	return r;
}

static int
cmd_client_revoke(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = {
		"name", "revoked", "revoked_at", "revoked_serials", "rekeyed_groups", NULL
	};
	const char *name = a->pos[0], *reason = kmsctl__opt(a, "reason");
	char path[PATH_MAX_LEN], what[128];

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/clients/%s/revoke", name);
	snprintf(what, sizeof(what), "revoke client '%s'", name);
	return post_revoke(k, path, what, reason, keys);
}

/* Write NAME.key (0600, or 0640 with group key_group; never replacing one),
 * NAME.crt and ca.crt. */
static int
write_cert_files(const struct kmsctl *k, const char *dir, const char *name, const json_t *res,
    int want_key, const char *key_group)
{
	FILE *say = k->json ? stderr : stdout;   /* keep --json output pure JSON */
	const char *cert = json_string_value(json_object_get(res, "cert_pem"));
	const char *ca = json_string_value(json_object_get(res, "ca_pem"));
	const char *key = json_string_value(json_object_get(res, "key_pem"));
	char fname[80];
	int r;

	if (cert == NULL || ca == NULL || (want_key && key == NULL)) {
		kmsctl__err("the KMS answered without %s: nothing written",
		    cert == NULL ? "cert_pem" : ca == NULL ? "ca_pem" : "key_pem");
		return KMSCTL_EXIT_UNREACHABLE;
	}
	if (want_key) {
		snprintf(fname, sizeof(fname), "%s.key", name);
		if ((r = kmsctl__write_file(dir, fname, key, strlen(key),
		    key_group != NULL ? 0640 : 0600, 1, key_group)) != 0)
			return r;
		fprintf(say, "wrote %s/%s (private key, mode %s%s)\n", dir, fname,
		    key_group != NULL ? "0640, group " : "0600", key_group != NULL ? key_group : "");
	}
	snprintf(fname, sizeof(fname), "%s.crt", name);
	if ((r = kmsctl__write_file(dir, fname, cert, strlen(cert), 0644, 0, NULL)) != 0)
		return r;
	fprintf(say, "wrote %s/%s\n", dir, fname);
	if ((r = kmsctl__write_file(dir, "ca.crt", ca, strlen(ca), 0644, 0, NULL)) != 0)
		return r;
	fprintf(say, "wrote %s/ca.crt\n", dir);
	return KMSCTL_EXIT_OK;
}

/* POST a certificate request (body) to path, write the certificate that
 * comes back (and a generated key) into dir and print the answer: the one
 * tail of 'cert issue' and 'cert renew'. */
static int
post_cert(struct kmsctl *k, const char *path, const char *what, json_t *body,
    const char *dir, const char *name, int generate, const char *key_group,
    const char *const *keys)
{
	json_t *res = NULL;
	int r;

	if ((r = kmsctl__call(k, "POST", path, body, what, &res)) == KMSCTL_EXIT_OK &&
	    (r = write_cert_files(k, dir, name, res, generate, key_group)) == KMSCTL_EXIT_OK) {
		json_object_del(res, "key_pem");   /* it is in the file, not on the terminal */
		kmsctl__print_answer(k, res, keys);
	}
	json_decref(res);
	return r;
}

static int
cmd_cert_issue(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = { "serial", "not_before", "not_after", NULL };
	const char *name = a->pos[0], *csr_path = kmsctl__opt(a, "csr");
	const char *dir = kmsctl__opt(a, "out-dir"), *days_s = kmsctl__opt(a, "days");
	const char *key_group = kmsctl__opt(a, "key-group");
	int generate = kmsctl__opt(a, "generate") != NULL;
	char path[PATH_MAX_LEN], what[128], keyname[80], *csr = NULL;
	size_t csr_len = 0;
	json_t *body = NULL;
	long long days = 0;
	int r;

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	if ((csr_path != NULL) == generate) {
		kmsctl__err("cert issue: give exactly one of --csr FILE (key made on the device) "
		    "or --generate (the KMS makes the key)");
		return KMSCTL_EXIT_USAGE;
	}
	if (dir == NULL) {
		kmsctl__err("cert issue: --out-dir DIR is required (NAME.crt and ca.crt%s are "
		    "written there)", generate ? " and NAME.key" : "");
		return KMSCTL_EXIT_USAGE;
	}
	if (days_s != NULL && kmsctl__number("--days", days_s, 1, 3650, &days) != 0)
		return KMSCTL_EXIT_USAGE;
	if (key_group != NULL && !generate) {
		kmsctl__err("cert issue: --key-group goes with --generate (with --csr the key "
		    "never leaves the device)");
		return KMSCTL_EXIT_USAGE;
	}
	if (key_group != NULL && kmsctl__group_ok(key_group) != KMSCTL_EXIT_OK)
		return KMSCTL_EXIT_USAGE;
	snprintf(keyname, sizeof(keyname), "%s.key", name);
	/* Check before asking: a generated key is returned exactly once. */
	if ((r = kmsctl__check_out_dir(dir, generate ? keyname : NULL)) != KMSCTL_EXIT_OK)
		return r;
	if (csr_path != NULL &&
	    (r = kmsctl__read_file(csr_path, "the CSR", &csr, &csr_len)) != KMSCTL_EXIT_OK)
		return r;

	body = csr != NULL ? json_pack("{s:s}", "csr", csr) : json_pack("{s:b}", "generate", 1);
	if (body == NULL) {
		if (csr != NULL)
			kmsctl__err("the CSR %s is not UTF-8 text (expected PEM)", csr_path);
		else
			kmsctl__err("out of memory");
		r = KMSCTL_EXIT_FILE;
		goto out;
	}
	if (days_s != NULL && json_object_set_new(body, "days", json_integer(days)) != 0) {
		kmsctl__err("out of memory");
		r = KMSCTL_EXIT_FILE;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/clients/%s/certs", name);
	snprintf(what, sizeof(what), "issue a certificate for '%s'", name);
	r = post_cert(k, path, what, body, dir, name, generate, key_group, keys);
out:
	free(csr);
	json_decref(body);
	return r;
}

static int
cmd_cert_list(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const cols[] = {
		"serial", "not_before", "not_after", "revoked", "revoked_at", NULL
	};
	const char *name = a->pos[0];
	char path[PATH_MAX_LEN], what[128];

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/clients/%s/certs", name);
	snprintf(what, sizeof(what), "list the certificates of '%s'", name);
	return kmsctl__list_print(k, path, what, cols);
}

static int
cmd_cert_revoke(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = {
		"name", "serial", "revoked_at", "revoked_serials", "rekeyed_groups", NULL
	};
	const char *name = a->pos[0], *serial = a->pos[1], *reason = kmsctl__opt(a, "reason");
	char path[PATH_MAX_LEN], what[160];
	size_t n = strlen(serial);

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	if (n == 0 || n > 64 || strspn(serial, "0123456789abcdefABCDEF") != n) {
		kmsctl__err("the serial must be hexadecimal, as 'cert list %s' prints it, not "
		    "\"%s\"", name, serial);
		return KMSCTL_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/clients/%s/certs/%s/revoke", name, serial);
	snprintf(what, sizeof(what), "revoke certificate %s of '%s'", serial, name);
	return post_revoke(k, path, what, reason, keys);
}

static int
cmd_cert_renew(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = { "serial", "renews", "not_before", "not_after", NULL };
	const char *name = a->pos[0], *csr_path = kmsctl__opt(a, "csr");
	const char *dir = kmsctl__opt(a, "out-dir"), *days_s = kmsctl__opt(a, "days");
	char path[PATH_MAX_LEN], what[128], *csr = NULL;
	size_t csr_len = 0;
	json_t *body = NULL;
	long long days = 0;
	int r;

	if (!kmsctl__name_ok("client", name))
		return KMSCTL_EXIT_USAGE;
	if (csr_path == NULL || dir == NULL) {
		kmsctl__err("cert renew: --csr FILE (made with the device's current key) and "
		    "--out-dir DIR are required");
		return KMSCTL_EXIT_USAGE;
	}
	if (days_s != NULL && kmsctl__number("--days", days_s, 1, 3650, &days) != 0)
		return KMSCTL_EXIT_USAGE;
	if ((r = kmsctl__check_out_dir(dir, NULL)) != KMSCTL_EXIT_OK ||
	    (r = kmsctl__read_file(csr_path, "the CSR", &csr, &csr_len)) != KMSCTL_EXIT_OK)
		return r;
	if ((body = json_pack("{s:s}", "csr", csr)) == NULL ||
	    (days_s != NULL && json_object_set_new(body, "days", json_integer(days)) != 0)) {
		kmsctl__err("the CSR %s is not UTF-8 text (expected PEM)", csr_path);
		r = KMSCTL_EXIT_FILE;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/clients/%s/certs/renew", name);
	snprintf(what, sizeof(what), "renew the certificate of '%s'", name);
	r = post_cert(k, path, what, body, dir, name, 0, NULL, keys);
out:
	free(csr);
	json_decref(body);
	return r;
}

static int
cmd_cert_expiring(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const cols[] = { "client", "kind", "serial", "not_after", NULL };
	const char *days_s = kmsctl__opt(a, "days");
	char path[PATH_MAX_LEN], what[64];
	json_t *res = NULL;
	long long days = 30;
	int r;

	if (days_s != NULL && kmsctl__number("--days", days_s, 0, 3650, &days) != 0)
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/certs?expiring_within=%lld", days);
	snprintf(what, sizeof(what), "list certificates expiring within %lld days", days);
	if ((r = kmsctl__call(k, "GET", path, NULL, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	kmsctl__print_items(k, res, cols);
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

static const struct kmsctl_opt add_opts[] = {
	{ "kind", "client|broker", "client (publishers, subscribers; default) or broker "
	  "(the Mosquitto extension)" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt revoke_opts[] = {
	{ "reason", "TEXT", "why (kept with the revocation, at most 256 bytes)" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt issue_opts[] = {
	{ "csr", "FILE", "a PEM CSR made on the device (Ed25519; preferred)" },
	{ "generate", NULL, "let the KMS make the key; it is written to DIR/NAME.key (0600)" },
	{ "out-dir", "DIR", "where NAME.crt, ca.crt (and NAME.key) are written" },
	{ "days", "N", "validity in days (1-3650; default: the KMS's setting)" },
	{ "key-group", "GROUP", "with --generate: NAME.key mode 0640 and group GROUP "
	  "(e.g. mosquitto, for a broker key)" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt renew_opts[] = {
	{ "csr", "FILE", "a PEM CSR signed with the key of a live certificate of NAME" },
	{ "out-dir", "DIR", "where NAME.crt and ca.crt are written" },
	{ "days", "N", "validity in days (1-3650; default: the KMS's setting)" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt expiring_opts[] = {
	{ "days", "N", "certificates that end within N days (0-3650, default 30; 0: ended)" },
	{ NULL, NULL, NULL }
};

const struct kmsctl_cmd kmsctl_client_cmds[] = {
	{ "client", "add", "NAME [--kind client|broker]", "enrol a client or a broker",
	  1, 1, 1, add_opts, cmd_client_add },
	{ "client", "list", "", "list clients and brokers", 0, 0, 1, NULL, cmd_client_list },
	{ "client", "show", "NAME", "show one client", 1, 1, 1, NULL, cmd_client_show },
	{ "client", "revoke", "NAME [--reason TEXT]",
	  "revoke a client for good: certificates, CRL, grants, rekey of its groups",
	  1, 1, 1, revoke_opts, cmd_client_revoke },
	{ "cert", "issue", "NAME (--csr FILE | --generate) --out-dir DIR [--days N]",
	  "issue a certificate for a client", 1, 1, 1, issue_opts, cmd_cert_issue },
	{ "cert", "list", "NAME", "list the certificates of a client", 1, 1, 1, NULL,
	  cmd_cert_list },
	{ "cert", "revoke", "NAME SERIAL [--reason TEXT]",
	  "revoke a lost key (every certificate with it), keep the client; rekey its groups",
	  2, 2, 1, revoke_opts, cmd_cert_revoke },
	{ "cert", "renew", "NAME --csr FILE --out-dir DIR [--days N]",
	  "a new certificate for the key of a live one (no admin token: the CSR proves it)",
	  1, 1, 0, renew_opts, cmd_cert_renew },
	{ "cert", "expiring", "[--days N]", "list clients whose certificates end within N days",
	  0, 0, 1, expiring_opts, cmd_cert_expiring },
	{ NULL, NULL, NULL, NULL, 0, 0, 0, NULL, NULL }
};
