/*
 * kmsctl.h - what the files of mqe2e-kmsctl share.
 *
 * kmsctl.c       main: global options, the command table, dispatch, help
 * kmsctl_call.c  one REST call: HTTP through core/http, JSON in and out,
 *                KMS errors and transport failures turned into exit codes
 * kmsctl_out.c   table and key/value output
 * kmsctl_file.c  reading the token and CSR files, writing cert/key files
 * kmsctl_clients.c  the "client" and "cert" nouns
 * kmsctl_groups.c   the "group" and "grant" nouns
 * (names and topic filters are checked with the daemon's own validate.c)
 *
 * Every handler returns an exit code (enum kmsctl_exit) after printing what
 * went wrong; only main() exits.
 */
#ifndef KMSCTL_H
#define KMSCTL_H

#include <stddef.h>
#include <jansson.h>

#define KMSCTL_PROG "mqe2e-kmsctl"
#define KMSCTL_DEFAULT_URL "http://127.0.0.1:7780"
#define KMSCTL_DEFAULT_TIMEOUT_MS 10000
#define KMSCTL_MAX_POS 3          /* positional arguments of a verb */
#define KMSCTL_MAX_OPTS 8         /* options of a verb */
#define KMSCTL_FILE_MAX (64u * 1024u)  /* token and CSR files */

/* Documented in mqe2e-kmsctl(1), EXIT STATUS. */
enum kmsctl_exit {
	KMSCTL_EXIT_OK = 0,
	KMSCTL_EXIT_USAGE = 1,       /* bad command line */
	KMSCTL_EXIT_KMS = 2,         /* the KMS answered with an error */
	KMSCTL_EXIT_UNREACHABLE = 3, /* cannot reach the KMS (or it spoke garbage) */
	KMSCTL_EXIT_FILE = 4         /* a local file could not be read or written */
};

/* Global settings of one run. */
struct mqe2e_http;

struct kmsctl {
	const char *url;       /* base URL(s) of the KMS, as given */
	const char *cafile;    /* the KMS CA, for https URLs; NULL if none */
	struct mqe2e_http *http; /* the KMS endpoint (core/http.h) */
	char *token;           /* admin token (malloc'd, wiped at exit) or NULL */
	const char *token_src; /* where the token came from, for messages */
	int json;              /* --json: print the KMS's JSON */
	int timeout_ms;
};

/* An option a verb accepts: "--name VALUE" (has_arg) or "--name". */
struct kmsctl_opt {
	const char *name;
	const char *metavar;   /* NULL for a flag */
	const char *help;
};

/* The parsed arguments of one verb. */
struct kmsctl_args {
	const char *pos[KMSCTL_MAX_POS];
	int npos;
	const struct kmsctl_opt *opts;   /* the verb's option table */
	const char *val[KMSCTL_MAX_OPTS]; /* value ("" for a set flag) or NULL */
};

struct kmsctl_cmd {
	const char *noun;
	const char *verb;
	const char *synopsis;  /* after "noun verb" */
	const char *summary;
	int min_pos, max_pos;
	int admin;             /* needs the admin token */
	const struct kmsctl_opt *opts;   /* NULL-name terminated, or NULL */
	int (*run)(struct kmsctl *k, const struct kmsctl_args *a);
};

/* The commands of each noun file (NULL-noun terminated). */
extern const struct kmsctl_cmd kmsctl_client_cmds[];
extern const struct kmsctl_cmd kmsctl_group_cmds[];

/* ---- kmsctl.c ---------------------------------------------------------------- */
/* Value of option name ("" for a flag that is set), NULL if not given. */
const char *kmsctl__opt(const struct kmsctl_args *a, const char *name);
/* Print "mqe2e-kmsctl: ..." to stderr. */
void kmsctl__err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a decimal in [min, max] given for option name; prints a usage
 * message and returns KMSCTL_EXIT_USAGE on failure. */
int kmsctl__number(const char *name, const char *s, unsigned long long min,
    unsigned long long max, long long *out);
/* 1 if s is a valid client or group name (docs/API.md "Names"); otherwise
 * prints what is wrong, naming what (e.g. "client"), and returns 0. */
int kmsctl__name_ok(const char *what, const char *s);

/* ---- kmsctl_call.c ------------------------------------------------------------ */
/*
 * One JSON call.  body may be NULL (no body).  On a 2xx answer *out gets the
 * parsed JSON (or NULL for an empty body) and KMSCTL_EXIT_OK is returned.
 * Otherwise the KMS's error (code, message, request id) or the transport
 * failure is printed and the exit code returned.  what names the action
 * for messages ("create client 'x'").
 */
int kmsctl__call(struct kmsctl *k, const char *method, const char *path, json_t *body,
    const char *what, json_t **out);
/* GET of a text resource (CA, CRL): the body, malloc'd and NUL-terminated. */
int kmsctl__get_text(struct kmsctl *k, const char *path, const char *what, char **out,
    size_t *out_len);
/* One call (as kmsctl__call; body stays the caller's) whose answer is
 * printed by kmsctl__print_answer with keys.  An exit status. */
int kmsctl__call_print(struct kmsctl *k, const char *method, const char *path, json_t *body,
    const char *what, const char *const *keys);
/* Fetch every page of a list endpoint (path may already carry a query) and
 * return {"items":[...],"next_cursor":null}. */
int kmsctl__list_all(struct kmsctl *k, const char *path, const char *what, json_t **out);
/* Every page of path printed: the JSON with --json, else a table of the
 * items' cols (NULL-terminated).  An exit status. */
int kmsctl__list_print(struct kmsctl *k, const char *path, const char *what,
    const char *const *cols);

/* ---- kmsctl_out.c --------------------------------------------------------------- */
/* Print JSON as the KMS sent it (pretty, sorted keys kept in order). */
void kmsctl__print_json(const json_t *j);
/* A value as table text: strings as is, null "-", booleans yes/no. */
const char *kmsctl__cell(const json_t *v, char *buf, size_t len);
/* Print "key   value" lines for the given keys of an object. */
void kmsctl__print_object(const json_t *obj, const char *const *keys);
/* Print a table of items (an array of objects): a header line of heads
 * (upper-cased keys) and one row per item. */
void kmsctl__print_table(const json_t *items, const char *const *keys);
/* The KMS's answer res as every command prints one: its JSON with --json,
 * else the "key  value" lines of keys. */
void kmsctl__print_answer(const struct kmsctl *k, const json_t *res, const char *const *keys);
/* A list answer ({"items":[...],...}): its JSON with --json, else a table
 * of the items' cols. */
void kmsctl__print_items(const struct kmsctl *k, const json_t *res, const char *const *cols);

/* ---- kmsctl_file.c ---------------------------------------------------------------- */
/* Read a whole file (at most KMSCTL_FILE_MAX bytes) NUL-terminated. */
int kmsctl__read_file(const char *path, const char *what, char **out, size_t *out_len);
/* Read the admin token from a file: trimmed, printable, non-empty. */
int kmsctl__read_token(const char *path, char **out);
/* Write data to dir/name atomically with mode and, if group is not NULL,
 * that group; exclusive: refuse to replace an existing file. */
int kmsctl__write_file(const char *dir, const char *name, const char *data, size_t len,
    unsigned mode, int exclusive, const char *group);
/* KMSCTL_EXIT_OK if group names a group of this system (else a message). */
int kmsctl__group_ok(const char *group);
/* KMSCTL_EXIT_OK if dir is a writable directory (created, mode 0750, when
 * only its last component is missing) and, if name is not NULL, dir/name
 * does not exist yet. */
int kmsctl__check_out_dir(const char *dir, const char *name);

#endif
