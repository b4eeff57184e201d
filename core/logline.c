/*
 * logline.c - JSON log lines (see logline.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "logline.h"

/* s as the body of a JSON string into out[0..len), cut at a whole escape. */
static void
escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (len == 0)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

void
mqe2e_log_json(char *out, size_t len, const char *time, const char *level,
    const char *program, const char *msg)
{
	char head[160], body[2048];
	size_t hl;

	if (len == 0)
		return;
	if (time != NULL)
		snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\","
		    "\"message\":\"", time, level, program);
	else
		snprintf(head, sizeof(head), "{\"level\":\"%s\",\"program\":\"%s\",\"message\":\"",
		    level, program);
	hl = strlen(head);
	/* Room for the head, the closing "} and the NUL. */
	if (len < hl + 3) {
		out[0] = '\0';
		return;
	}
	escape(msg, body, len - hl - 2 < sizeof(body) ? len - hl - 2 : sizeof(body));
	snprintf(out, len, "%s%s\"}", head, body);
}
