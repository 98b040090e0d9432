#include "config.h"

/* Fuzz target for statistics records (lib/statrec.h), the agent's answer to
 * STATISTICS as dtstat reads it. Whatever parses must render again (numbers
 * through statrec_num, strings as written) into text that parses to the same
 * records, and its JSON must be valid UTF-8 without raw control characters.
 * Any violated property aborts, so the fuzzer reports it as a crash. */

#include "statrec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const struct statrec_list *l, struct util_buf *b)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		for (j = 0; j < l->v[i].n; j++) {
			const struct statrec_field *f = &l->v[i].f[j];

			if (f->type == STATREC_NUM)
				statrec_num(b, f->name, f->num);
			else if (f->type == STATREC_NONE)
				statrec_none(b, f->name);
			else
				util_buf_printf(b, "%s\t\"%s\"\n", f->name, f->text);
		}
		statrec_end(b);
	}
}

static void same(const struct statrec_list *a, const struct statrec_list *b)
{
	size_t i, j;

	if (a->n != b->n)
		abort();
	for (i = 0; i < a->n; i++) {
		if (a->v[i].n != b->v[i].n)
			abort();
		for (j = 0; j < a->v[i].n; j++) {
			const struct statrec_field *x = &a->v[i].f[j], *y = &b->v[i].f[j];

			if (x->type != y->type || strcmp(x->name, y->name) ||
			    (x->type == STATREC_NUM ? x->num != y->num : strcmp(x->text, y->text) != 0))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct statrec_list l, again;
	struct util_buf b, js;
	char *text = malloc(size + 1);
	char err[128];
	size_t i, n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (statrec_parse(text, &l, err, sizeof(err)) < 0) {
		if (l.n || l.v || !err[0])
			abort();
		free(text);
		return 0;
	}
	util_buf_init(&b);
	util_buf_init(&js);
	render(&l, &b);
	if (statrec_parse(b.data ? b.data : "", &again, err, sizeof(err)) < 0)
		abort();
	same(&l, &again);
	statrec_json(&js, &l);
	for (i = 0; i < js.len; i += n) {
		n = statrec_utf8_len((const unsigned char *)js.data + i, js.len - i);
		if (n == 0 || (unsigned char)js.data[i] < 0x20)
			abort();
	}
	statrec_list_free(&again);
	statrec_list_free(&l);
	util_buf_free(&js);
	util_buf_free(&b);
	free(text);
	return 0;
}
