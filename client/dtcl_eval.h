/* dtcl_eval — the DTCL interpreter.
 *
 * Runs parsed text against a callback that executes commands (the client
 * sends them to an agent; tests and the fuzzer fake them).  Values are int64
 * or strings; a runtime error stops the script.  Not reentrant: the callback
 * must not run text on the same interpreter. */
#ifndef DITTO_DTCL_EVAL_H
#define DITTO_DTCL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Results of dtcl_interp_run besides a command's own result. */
#define DTCL_ERR_UNKNOWN (-1)
#define DTCL_ERR_PARAM (-101)	/* runtime error */
#define DTCL_ERR_SYNTAX (-102)	/* syntax error */
#define DTCL_ERR_NO_MODULE (-103)
#define DTCL_ERR_NO_SOURCE (-104)

/* Longest string a script may build; keeps a doubling loop from eating
 * memory.  Adjustable with dtcl_interp_set_max_string. */
#define DTCL_DEFAULT_MAX_STRING (1u << 20)

enum dtcl_argtype {
	DTCL_ARG_WORD,
	DTCL_ARG_STRING,
	DTCL_ARG_NUMBER,
	DTCL_ARG_PUNCT,
};

/* argv[0] is the command word as written (compare it case-insensitively).
 * A $variable or (expression) argument arrives as NUMBER with decimal text
 * or STRING; punctuation is "=", "," or "%".  The texts live until the
 * callback returns. */
struct dtcl_arg {
	enum dtcl_argtype type;
	const char *text;
};

struct dtcl_cmd {
	size_t argc;
	const struct dtcl_arg *argv;
	int line;
};

/* Returns the command's integer result (>= 0 success, < 0 error code: -1
 * unknown, -101 invalid parameter, -102 bad command or syntax, -103 no source
 * module, -104 no source chosen).  Output is the callback's business. */
typedef int64_t (*dtcl_exec_fn)(void *ctx, const struct dtcl_cmd *cmd);

struct dtcl_interp;

/* exec may be NULL (every command then returns -1); out receives WRITE
 * output and err the error messages; either may be NULL to drop them. */
struct dtcl_interp *dtcl_interp_new(dtcl_exec_fn exec, void *ctx, FILE *out,
				    FILE *err);
void dtcl_interp_free(struct dtcl_interp *in);
/* Steps allowed per dtcl_interp_run, counting statements, loop iterations
 * and evaluated expression nodes; exceeding it is a runtime error.
 * 0 = unlimited; for fuzzing. */
void dtcl_interp_set_max_steps(struct dtcl_interp *in, uint64_t steps);
/* Longest string value in bytes; building a longer one is a runtime error. */
void dtcl_interp_set_max_string(struct dtcl_interp *in, size_t bytes);
/* Parses the whole text first: a syntax error runs nothing, prints
 * "NAME:LINE: message" to err and returns -102.  Otherwise runs it; a
 * runtime error (division by zero, type error, undefined variable, overflow,
 * step limit) prints NAME:LINE: message, stops the script and returns -101.
 * Otherwise returns the result of the last command executed (or 0 if no
 * command ran).  Variables persist across calls (the console runs line by
 * line).  name NULL reads as "dtcl". */
int64_t dtcl_interp_run(struct dtcl_interp *in, const char *text,
			const char *name);
/* For the interactive console: true when text is an unfinished construct
 * (open IF/WHILE/FOR block, open string) so the console should read another
 * line before running it. */
bool dtcl_text_incomplete(const char *text);
/* Result of the last command run by this interpreter, or -101/-102 if the
 * last dtcl_interp_run stopped on an error after it; 0 before either. */
int64_t dtcl_interp_last_result(const struct dtcl_interp *in);
/* Variables from the host (e.g. script arguments); names are
 * [A-Za-z_][A-Za-z0-9_]* without '$', case-insensitive.  0 or -1 for a bad
 * name. */
int dtcl_interp_set_int(struct dtcl_interp *in, const char *name, int64_t v);
int dtcl_interp_set_str(struct dtcl_interp *in, const char *name,
			const char *s);
/* 0 with *is_str and *i or *s (owned by the interpreter, valid until the
 * variable changes) filled, -1 when undefined.  i and s may be NULL. */
int dtcl_interp_get_var(const struct dtcl_interp *in, const char *name,
			bool *is_str, int64_t *i, const char **s);

#endif
