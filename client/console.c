#include "config.h"

#include "console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <editline/readline.h>

#include "dtcl_eval.h"
#include "util.h"

static char *history_path(void)
{
	const char *home = getenv("HOME");

	return home && *home ? util_xasprintf("%s/.dtcl_history", home) : NULL;
}

int64_t console_run(struct dtcl_interp *in, const bool *quit)
{
	struct util_buf text;
	char *hist = history_path();
	int64_t last = 0;

	util_buf_init(&text);
	using_history();
	if (hist)
		read_history(hist);
	printf("dtcl %s console. HELP lists the commands, EXIT leaves.\n", PACKAGE_VERSION);
	while (!*quit) {
		char *line = readline(text.len ? "...> " : "dtcl> ");

		if (!line) {
			putchar('\n');
			break;
		}
		if (*line)
			add_history(line);
		util_buf_puts(&text, line);
		util_buf_puts(&text, "\n");
		free(line);
		/* An open block or string continues on the next line. */
		if (dtcl_text_incomplete(text.data))
			continue;
		last = dtcl_interp_run(in, text.data, "console");
		util_buf_reset(&text);
		fflush(stdout);
	}
	if (hist) {
		write_history(hist);
		free(hist);
	}
	util_buf_free(&text);
	return last;
}
