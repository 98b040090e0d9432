/* dtcl_parse — DTCL source text to a syntax tree.
 *
 * Grammar (keywords case-insensitive; ';' or a newline ends a statement):
 *   block   := { stmt (EOS | before END/ELSE/EOF) }
 *   stmt    := IF expr THEN block [ELSE block] END
 *            | WHILE expr DO block END
 *            | FOR $v = expr TO expr DO block END
 *            | WRITE [expr {, expr}]
 *            | $v = expr
 *            | expr
 *   expr    := and {OR and}          and := not {AND not}
 *   not     := NOT not | cmp          cmp := add {cmpop add}
 *   add     := mul {(+|-) mul}        mul := unary {(*|/|%) unary}
 *   unary   := - unary | primary
 *   primary := INT | STRING | $v | ( expr ) | command
 *   command := WORD {arg}   (WORD not a keyword)
 *   arg     := word | STRING | INT | $v | ( expr ) | = | , | %
 * A command's arguments end at a statement end, THEN, DO, ELSE, END, AND,
 * OR, ')', a comparison other than '=', '+', '*', a lone '-' or '/'.  TO is
 * an ordinary argument ("CONNECT a TO b") except in the start bound of a
 * FOR, where it ends the command; parenthesize a command there that needs
 * TO itself.  Because ',' and '%' are arguments, put a command in
 * parentheses inside a WRITE list or before a modulo, and compare a
 * command's result with '==' (a single '=' is an argument: SET x=1). */
#ifndef DITTO_DTCL_PARSE_H
#define DITTO_DTCL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limit on nesting (blocks, parentheses, operator chains) so hostile or
 * runaway input cannot exhaust the stack while parsing or evaluating. */
#define DTCL_PARSE_MAX_DEPTH 200

enum dtcl_ast_kind {
	DTCL_AST_BLOCK,		/* kids: statements */
	DTCL_AST_ASSIGN,	/* text: variable name, a: value */
	DTCL_AST_IF,		/* a: condition, b: then, c: else or NULL */
	DTCL_AST_WHILE,		/* a: condition, b: body */
	DTCL_AST_FOR,		/* text: variable, a/b: bounds, c: body */
	DTCL_AST_WRITE,		/* kids: expressions */
	DTCL_AST_EXPR,		/* a: expression run for its effect */
	DTCL_AST_INT,		/* num */
	DTCL_AST_STR,		/* text */
	DTCL_AST_VAR,		/* text: lower-case name */
	DTCL_AST_WORD,		/* text: command word as written */
	DTCL_AST_PUNCT,		/* text: "=", "," or "%" in a command */
	DTCL_AST_UNARY,		/* op, a */
	DTCL_AST_BINARY,	/* op, a, b */
	DTCL_AST_CMD,		/* kids: arguments, [0] the command word */
};

enum dtcl_ast_op {
	DTCL_AST_OP_NONE,
	DTCL_AST_OP_ADD,
	DTCL_AST_OP_SUB,
	DTCL_AST_OP_MUL,
	DTCL_AST_OP_DIV,
	DTCL_AST_OP_MOD,
	DTCL_AST_OP_EQ,
	DTCL_AST_OP_NE,
	DTCL_AST_OP_LT,
	DTCL_AST_OP_GT,
	DTCL_AST_OP_LE,
	DTCL_AST_OP_GE,
	DTCL_AST_OP_AND,
	DTCL_AST_OP_OR,
	DTCL_AST_OP_NEG,
	DTCL_AST_OP_NOT,
};

struct dtcl_ast {
	enum dtcl_ast_kind kind;
	enum dtcl_ast_op op;
	int line;
	int depth;		/* height of an expression subtree */
	int64_t num;
	char *text;
	struct dtcl_ast *a, *b, *c;
	struct dtcl_ast **kids;
	size_t nkids;
};

struct dtcl_parse_error {
	int line;
	/* The text stopped inside a string or an open IF/WHILE/FOR: more
	 * input could complete it (the console reads another line). */
	bool incomplete;
	char msg[160];
};

/* Parses a whole text into a BLOCK.  0 with *out set, or -1 with err
 * filled and *out NULL. */
int dtcl_parse_text(const char *text, struct dtcl_ast **out,
		    struct dtcl_parse_error *err);
void dtcl_ast_free(struct dtcl_ast *n);
/* S-expression rendering for tests and debugging, e.g.
 * "(block (assign x (+ 1 (* 2 3))))"; the caller frees it. */
char *dtcl_ast_dump(const struct dtcl_ast *n);
const char *dtcl_ast_op_name(enum dtcl_ast_op op);

#endif
