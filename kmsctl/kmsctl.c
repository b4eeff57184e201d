/*
 * kmsctl.c - mqe2e-kmsctl, the administration tool of mqe2e-kmsd.
 *
 *   mqe2e-kmsctl [global options] NOUN VERB [arguments] [options]
 *
 * Global options may appear anywhere.  Every noun and verb has --help.  The
 * REST API is docs/API.md; the manual is mqe2e-kmsctl(1).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "http.h"
#include "jsonwipe.h"
#include "kmsctl.h"
#include "validate.h"

/* ---- helpers shared by the noun files ------------------------------------------ */

void
kmsctl__err(const char *fmt, ...)
{
	va_list ap;

	fputs(KMSCTL_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *
kmsctl__opt(const struct kmsctl_args *a, const char *name)
{
	int i;

	for (i = 0; a->opts != NULL && a->opts[i].name != NULL && i < KMSCTL_MAX_OPTS; i++)
		if (strcmp(a->opts[i].name, name) == 0)
			return a->val[i];
	return NULL;
}

int
kmsctl__number(const char *name, const char *s, unsigned long long min, unsigned long long max,
    long long *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		goto bad;
	*out = (long long)v;
	return KMSCTL_EXIT_OK;
bad:
	kmsctl__err("%s: expected a whole number from %llu to %llu, got \"%s\"", name, min, max,
	    s != NULL ? s : "");
	return KMSCTL_EXIT_USAGE;
}

int
kmsctl__name_ok(const char *what, const char *s)
{
	if (kms_name_valid(s))
		return 1;
	kmsctl__err("invalid %s name \"%s\": use 1-64 characters from A-Z a-z 0-9 . _ - "
	    "(not starting with . or -)", what, s);
	return 0;
}

/* ---- ca show, status ----------------------------------------------------------------- */

static int
cmd_ca_show(struct kmsctl *k, const struct kmsctl_args *a)
{
	char *pem = NULL;
	size_t len = 0;
	int r;

	(void)a;
	if ((r = kmsctl__get_text(k, "/v1/ca", "fetch the CA certificate", &pem, &len)) != 0)
		return r;
	fwrite(pem, 1, len, stdout);
	free(pem);
	return KMSCTL_EXIT_OK;
}

static int
cmd_status(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = { "status", "version", "policy_version", "time", NULL };
	json_t *res = NULL;
	int r;

	(void)a;
	if ((r = kmsctl__call(k, "GET", "/v1/health", NULL, "check the KMS health", &res)) != 0)
		return r;
	if (k->json)
		kmsctl__print_json(res);
	else {
		printf("%-15s %s\n", "url", k->url);
		kmsctl__print_object(res, keys);
		if (json_is_string(json_object_get(res, "problem")))   /* "degraded" */
			printf("%-15s %s\n", "problem",
			    json_string_value(json_object_get(res, "problem")));
	}
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

static const struct kmsctl_cmd misc_cmds[] = {
	{ "ca", "show", "", "print the CA certificate (PEM)", 0, 0, 0, NULL, cmd_ca_show },
	{ "status", NULL, "", "show whether the KMS is up, its version and policy version",
	  0, 0, 0, NULL, cmd_status },
	{ NULL, NULL, NULL, NULL, 0, 0, 0, NULL, NULL }
};

static const struct kmsctl_cmd *const tables[] = {
	kmsctl_client_cmds, kmsctl_group_cmds, misc_cmds, NULL
};

/* ---- help -------------------------------------------------------------------------- */

static void
usage_global(FILE *f)
{
	size_t t, i;

	fprintf(f,
	    "usage: " KMSCTL_PROG " [--addr URL[,URL]] [--cafile FILE] [--token-file FILE]\n"
	    "                    [--json] [--timeout MS]\n"
	    "                    NOUN VERB [ARGS] [OPTIONS]\n"
	    "\n"
	    "Administer mqe2e-kmsd: clients, certificates, topic groups, grants.\n"
	    "\n"
	    "commands:\n");
	for (t = 0; tables[t] != NULL; t++)
		for (i = 0; tables[t][i].noun != NULL; i++) {
			const struct kmsctl_cmd *c = &tables[t][i];
			char head[96];

			snprintf(head, sizeof(head), "%s%s%s", c->noun, c->verb ? " " : "",
			    c->verb ? c->verb : "");
			fprintf(f, "  %-14s %s\n", head, c->summary);
		}
	fprintf(f, "  %-14s %s\n", "help", "this text; help NOUN [VERB] for a command's");
	fprintf(f,
	    "\n"
	    "global options:\n"
	    "  --addr URL[,URL]   the KMS: https://HOST:PORT, or http:// on loopback; several\n"
	    "                     are tried in order (default $MQE2E_KMS_URL or\n"
	    "                     " KMSCTL_DEFAULT_URL ")\n"
	    "  --cafile FILE      the KMS CA certificate that https URLs are verified with\n"
	    "                     (default $MQE2E_KMS_CAFILE)\n"
	    "  --token-file FILE  admin token file (default $MQE2E_KMS_TOKEN_FILE, else\n"
	    "                     the token itself from $MQE2E_KMS_TOKEN)\n"
	    "  --json             print the KMS's JSON instead of tables\n"
	    "  --timeout MS       give up after MS milliseconds (default 10000)\n"
	    "  -h, --help         help; NOUN --help and NOUN VERB --help for details\n"
	    "  --version          print the version\n"
	    "\n"
	    "exit status: 0 ok, 1 usage, 2 the KMS reported an error, 3 cannot reach the KMS,\n"
	    "4 local file error.  See mqe2e-kmsctl(1).\n");
}

static void
usage_noun(FILE *f, const char *noun)
{
	size_t t, i;

	fprintf(f, "usage: " KMSCTL_PROG " %s VERB [ARGS] [OPTIONS]\n\nverbs:\n", noun);
	for (t = 0; tables[t] != NULL; t++)
		for (i = 0; tables[t][i].noun != NULL; i++) {
			const struct kmsctl_cmd *c = &tables[t][i];

			if (strcmp(c->noun, noun) != 0)
				continue;
			fprintf(f, "  %s %s %s\n      %s\n", noun, c->verb ? c->verb : "", c->synopsis,
			    c->summary);
		}
	fprintf(f, "\n" KMSCTL_PROG " %s VERB --help for the options of a verb.\n", noun);
}

static void
usage_cmd(FILE *f, const struct kmsctl_cmd *c)
{
	size_t i;

	fprintf(f, "usage: " KMSCTL_PROG " %s%s%s %s\n\n%s.\n", c->noun, c->verb ? " " : "",
	    c->verb ? c->verb : "", c->synopsis, c->summary);
	if (c->opts != NULL && c->opts[0].name != NULL) {
		fprintf(f, "\noptions:\n");
		for (i = 0; c->opts[i].name != NULL; i++) {
			char head[64];

			snprintf(head, sizeof(head), "--%s%s%s", c->opts[i].name,
			    c->opts[i].metavar ? " " : "", c->opts[i].metavar ? c->opts[i].metavar : "");
			fprintf(f, "  %-22s %s\n", head, c->opts[i].help);
		}
	}
	if (c->admin)
		fprintf(f, "\nNeeds the admin token (--token-file or $MQE2E_KMS_TOKEN_FILE).\n");
}

/* ---- argument parsing ---------------------------------------------------------------- */

/* Global options, accepted anywhere.  Returns 1 if argv[*i] was one (and
 * consumed), 0 if not, -1 on a usage error. */
static int
global_opt(struct kmsctl *k, int argc, char **argv, int *i, const char **token_file)
{
	const char *arg = argv[*i], *val = NULL, *eq;
	static const char *const with_val[] = { "--addr", "--token-file", "--timeout", "--cafile",
		NULL };
	size_t j, nlen;

	eq = strchr(arg, '=');
	nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	if (strcmp(arg, "--json") == 0) {
		k->json = 1;
		return 1;
	}
	for (j = 0; with_val[j] != NULL; j++) {
		if (strlen(with_val[j]) != nlen || strncmp(arg, with_val[j], nlen) != 0)
			continue;
		if (eq != NULL)
			val = eq + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else {
			kmsctl__err("%s needs a value (see --help)", with_val[j]);
			return -1;
		}
		if (j == 0)
			k->url = val;
		else if (j == 1)
			*token_file = val;
		else if (j == 3)
			k->cafile = val;
		else {
			long long ms;

			if (kmsctl__number("--timeout", val, 1, 600000, &ms) != 0)
				return -1;
			k->timeout_ms = (int)ms;
		}
		return 1;
	}
	return 0;
}

static int
is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* Parse the verb's arguments: positionals and its options. */
static int
verb_args(const struct kmsctl_cmd *c, int argc, char **argv, int i, struct kmsctl_args *a)
{
	for (; i < argc; i++) {
		const char *arg = argv[i], *eq;
		size_t j, nlen;

		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++) {
				if (a->npos >= c->max_pos)
					goto too_many;
				a->pos[a->npos++] = argv[i];
			}
			break;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (arg[0] == '-' && arg[1] != '\0') {
				kmsctl__err("%s %s: unknown option \"%s\" (see %s %s --help)", c->noun,
				    c->verb ? c->verb : "", arg, c->noun, c->verb ? c->verb : "");
				return KMSCTL_EXIT_USAGE;
			}
			if (a->npos >= c->max_pos)
				goto too_many;
			a->pos[a->npos++] = arg;
			continue;
		}
		eq = strchr(arg, '=');
		nlen = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (j = 0; c->opts != NULL && c->opts[j].name != NULL; j++)
			if (strlen(c->opts[j].name) == nlen && strncmp(arg + 2, c->opts[j].name, nlen) == 0)
				break;
		if (c->opts == NULL || c->opts[j].name == NULL) {
			kmsctl__err("%s %s: unknown option \"%s\" (see %s %s --help)", c->noun,
			    c->verb ? c->verb : "", arg, c->noun, c->verb ? c->verb : "");
			return KMSCTL_EXIT_USAGE;
		}
		if (c->opts[j].metavar == NULL) {
			if (eq != NULL) {
				kmsctl__err("--%s takes no value", c->opts[j].name);
				return KMSCTL_EXIT_USAGE;
			}
			a->val[j] = "";
		} else if (eq != NULL) {
			a->val[j] = eq + 1;
		} else if (i + 1 < argc) {
			a->val[j] = argv[++i];
		} else {
			kmsctl__err("--%s needs a value: --%s %s", c->opts[j].name, c->opts[j].name,
			    c->opts[j].metavar);
			return KMSCTL_EXIT_USAGE;
		}
	}
	if (a->npos < c->min_pos) {
		kmsctl__err("usage: " KMSCTL_PROG " %s%s%s %s", c->noun, c->verb ? " " : "",
		    c->verb ? c->verb : "", c->synopsis);
		return KMSCTL_EXIT_USAGE;
	}
	return KMSCTL_EXIT_OK;
too_many:
	kmsctl__err("too many arguments; usage: " KMSCTL_PROG " %s%s%s %s", c->noun,
	    c->verb ? " " : "", c->verb ? c->verb : "", c->synopsis);
	return KMSCTL_EXIT_USAGE;
}

static const struct kmsctl_cmd *
find_cmd(const char *noun, const char *verb, int *noun_known)
{
	size_t t, i;

	*noun_known = 0;
	for (t = 0; tables[t] != NULL; t++)
		for (i = 0; tables[t][i].noun != NULL; i++) {
			const struct kmsctl_cmd *c = &tables[t][i];

			if (strcmp(c->noun, noun) != 0)
				continue;
			*noun_known = 1;
			if (c->verb == NULL || (verb != NULL && strcmp(c->verb, verb) == 0))
				return c;
		}
	return NULL;
}

/* Where the admin token comes from: --token-file, $MQE2E_KMS_TOKEN_FILE,
 * $MQE2E_KMS_TOKEN.  NULL token if none is configured. */
static int
load_token(struct kmsctl *k, const char *token_file)
{
	const char *env;

	if (token_file == NULL && (env = getenv("MQE2E_KMS_TOKEN_FILE")) != NULL && *env != '\0')
		token_file = env;
	if (token_file != NULL) {
		k->token_src = token_file;
		return kmsctl__read_token(token_file, &k->token);
	}
	if ((env = getenv("MQE2E_KMS_TOKEN")) != NULL && *env != '\0') {
		if ((k->token = strdup(env)) == NULL) {
			kmsctl__err("out of memory");
			return KMSCTL_EXIT_FILE;
		}
		k->token_src = "$MQE2E_KMS_TOKEN";
	}
	return KMSCTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct kmsctl k;
	struct kmsctl_args a;
	const struct kmsctl_cmd *c;
	const char *token_file = NULL, *noun = NULL, *verb = NULL, *env;
	char **rest = NULL, err[512];
	int i, nrest = 0, r = KMSCTL_EXIT_USAGE, noun_known, help = 0, g;

	memset(&k, 0, sizeof(k));
	memset(&a, 0, sizeof(a));
	kms_json_wiping_alloc();   /* key PEMs pass through jansson */
	k.timeout_ms = KMSCTL_DEFAULT_TIMEOUT_MS;
	k.url = (env = getenv("MQE2E_KMS_URL")) != NULL && *env != '\0' ? env : KMSCTL_DEFAULT_URL;
	k.cafile = (env = getenv("MQE2E_KMS_CAFILE")) != NULL && *env != '\0' ? env : NULL;

	/* Take the global options out wherever they are; keep the rest in order. */
	if ((rest = calloc((size_t)argc + 1, sizeof(*rest))) == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				rest[nrest++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf(KMSCTL_PROG " " PACKAGE_VERSION "\n");
			r = KMSCTL_EXIT_OK;
			goto out;
		}
		if (is_help(argv[i])) {
			help = 1;
			continue;
		}
		if ((g = global_opt(&k, argc, argv, &i, &token_file)) < 0)
			goto out;
		if (g == 0)
			rest[nrest++] = argv[i];
	}

	/* "help [NOUN [VERB]]" is "[NOUN [VERB]] --help". */
	if (nrest > 0 && strcmp(rest[0], "help") == 0) {
		memmove(rest, rest + 1, (size_t)nrest * sizeof(*rest));
		nrest--;
		help = 1;
	}
	if (nrest == 0) {
		usage_global(help ? stdout : stderr);
		r = help ? KMSCTL_EXIT_OK : KMSCTL_EXIT_USAGE;
		goto out;
	}
	noun = rest[0];
	verb = nrest > 1 ? rest[1] : NULL;
	c = find_cmd(noun, verb, &noun_known);
	if (c == NULL) {
		if (!noun_known) {
			kmsctl__err("unknown command \"%s\" (see " KMSCTL_PROG " --help)", noun);
			r = KMSCTL_EXIT_USAGE;
		} else if (help && verb == NULL) {
			usage_noun(stdout, noun);
			r = KMSCTL_EXIT_OK;
		} else {
			if (verb != NULL)
				kmsctl__err("%s: unknown verb \"%s\"", noun, verb);
			usage_noun(stderr, noun);
			r = KMSCTL_EXIT_USAGE;
		}
		goto out;
	}
	if (help) {
		usage_cmd(stdout, c);
		r = KMSCTL_EXIT_OK;
		goto out;
	}
	if ((g = mqe2e_http_new(k.url, k.cafile, MQE2E_HTTP_REUSE, &k.http, err, sizeof(err))) !=
	    MQE2E_OK) {
		kmsctl__err("%s%s", err, g == MQE2E_ERR_INVALID_ARG && k.cafile == NULL &&
		    strstr(err, "CA file") != NULL ? " (--cafile or $MQE2E_KMS_CAFILE)" : "");
		r = g == MQE2E_ERR_IO ? KMSCTL_EXIT_FILE : KMSCTL_EXIT_USAGE;
		goto out;
	}
	if (mqe2e_http_warning(k.http) != NULL)
		kmsctl__err("warning: %s", mqe2e_http_warning(k.http));
	a.opts = c->opts;
	if ((r = verb_args(c, nrest, rest, c->verb != NULL ? 2 : 1, &a)) != KMSCTL_EXIT_OK)
		goto out;
	if (c->admin) {
		if ((r = load_token(&k, token_file)) != KMSCTL_EXIT_OK)
			goto out;
		if (k.token == NULL) {
			kmsctl__err("%s %s needs the admin token: pass --token-file FILE or set "
			    "MQE2E_KMS_TOKEN_FILE (the file is DATA_DIR/admin.token on the KMS host)",
			    c->noun, c->verb ? c->verb : "");
			r = KMSCTL_EXIT_USAGE;
			goto out;
		}
	}
	r = c->run(&k, &a);
out:
	mqe2e_http_free(k.http);
	free(rest);
	if (k.token != NULL) {
		mqe2e_wipe(k.token, strlen(k.token));
		free(k.token);
	}
	if (fflush(stdout) != 0 && r == KMSCTL_EXIT_OK) {
		kmsctl__err("writing to standard output failed: %s", strerror(errno));
		r = KMSCTL_EXIT_FILE;
	}
	return r;
}
