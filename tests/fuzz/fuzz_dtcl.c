#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtcl_eval.h"
#include "dtcl_lex.h"
#include "util.h"

/* Stands in for the agent: touches every argument (so ASan sees any bad
 * pointer) and returns something scripts can branch on. */
static int64_t fake_exec(void *ctx, const struct dtcl_cmd *cmd)
{
	size_t i, total = 0;

	(void)ctx;
	for (i = 0; i < cmd->argc; i++)
		total += strlen(cmd->argv[i].text);
	if (cmd->argc && cmd->argv[0].text[0] == 'F')
		return -101;
	return (int64_t)(total % 7) - 1;
}

/* Both lexer modes over the raw text, independent of what the parser
 * happens to ask for. */
static void lex_everything(const char *text, enum dtcl_lex_mode mode)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;
	int rc;

	dtcl_lex_init(&lx, text);
	do {
		rc = dtcl_lex_next(&lx, mode, &t);
		rc = rc < 0 || t.kind == DTCL_TOK_EOF ? -1 : 0;
		dtcl_lex_token_clear(&t);
	} while (rc == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct dtcl_interp *in;
	char *text;

	if (!sink)
		sink = fopen("/dev/null", "w");
	/* The API takes C strings; an embedded NUL just ends the text. */
	text = util_xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	lex_everything(text, DTCL_LEX_EXPR);
	lex_everything(text, DTCL_LEX_CMD);
	(void)dtcl_text_incomplete(text);

	in = dtcl_interp_new(fake_exec, NULL, sink, sink);
	/* Bound loops and string growth so every input finishes quickly. */
	dtcl_interp_set_max_steps(in, 20000);
	dtcl_interp_set_max_string(in, 4096);
	(void)dtcl_interp_run(in, text, "fuzz");
	/* Again, now with the variables the first run left behind. */
	(void)dtcl_interp_run(in, text, "fuzz");
	dtcl_interp_free(in);
	free(text);
	return 0;
}
