/* statrec — the text form of statistics records, written by the agent's
 * STATISTICS command and read by dtstat (man/dtstat.1 documents it):
 *
 *   one field a line:  name TAB value
 *   records end with a blank line (the last one too)
 *
 * A value is a number (decimal digits, an optional leading '-'), a string in
 * double quotes, or '-' (not known or not applicable). Inside a string every
 * byte that is a control character, DEL, '"', '\' or not part of valid UTF-8
 * is written \xHH (two hex digits), so a value is always one line of valid
 * UTF-8 and can be shown on a terminal as it is. Names are free text without
 * TAB or line breaks; records keep their order and their fields' order. */
#ifndef DITTO_STATREC_H
#define DITTO_STATREC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Writers: one field each; statrec_end closes the record. */
void statrec_num(struct util_buf *b, const char *name, int64_t v);
void statrec_str(struct util_buf *b, const char *name, const char *s, size_t len);
void statrec_none(struct util_buf *b, const char *name);
void statrec_end(struct util_buf *b);

/* Length of the valid UTF-8 sequence at p (n bytes available): 1..4, or 0
 * when the byte at p does not start one (overlong forms, surrogates and
 * code points past U+10FFFF are invalid). */
size_t statrec_utf8_len(const unsigned char *p, size_t n);

enum statrec_type { STATREC_NUM, STATREC_STR, STATREC_NONE };

struct statrec_field {
	char *name;
	enum statrec_type type;
	char *text;  /* NUM: the digits; STR: the content between the quotes,
			escapes kept as written; NONE: "" */
	int64_t num; /* NUM only */
};

struct statrec {
	struct statrec_field *f;
	size_t n;
};

struct statrec_list {
	struct statrec *v;
	size_t n;
};

/* Parses text (the whole of a STATISTICS answer) into out. 0, or -1 with the
 * line and the reason in err (out is left empty). */
int statrec_parse(const char *text, struct statrec_list *out, char *err, size_t errlen);
void statrec_list_free(struct statrec_list *l);
/* The field called name, or NULL. */
const struct statrec_field *statrec_get(const struct statrec *r, const char *name);

/* JSON: s[0..len) as a JSON string ('"', '\' and control characters
 * escaped, bytes that are not valid UTF-8 as \ufffd). */
void statrec_json_string(struct util_buf *b, const char *s, size_t len);
/* The records as one JSON array of objects on one line (no newline):
 * numbers as JSON numbers, strings as they were written (escapes kept),
 * '-' as null. */
void statrec_json(struct util_buf *b, const struct statrec_list *l);

#endif
