#include "config.h"

#include "dtcl_parse.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtcl_lex.h"
#include "util.h"

struct parser {
	struct dtcl_lexer lx;	/* just after the last consumed token */
	/* One token of lookahead, remembered with the mode it was read in
	 * so a request in the other mode re-reads the same text. */
	struct dtcl_token look;
	bool have_look;
	enum dtcl_lex_mode look_mode;
	struct dtcl_lexer after_look;
	int depth;
	int open_blocks;
	bool stop_at_to;		/* inside a FOR start bound */
	bool failed;
	struct dtcl_parse_error *err;
};

static struct dtcl_ast *parse_expr(struct parser *p);
static struct dtcl_ast *parse_block(struct parser *p, enum dtcl_kw opener,
				    int opener_line);

static void perror_at(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perror_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	/* The first error is the meaningful one; later ones are fallout. */
	if (p->failed)
		return;
	p->failed = true;
	p->err->line = line;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
}

static struct dtcl_token *peek(struct parser *p, enum dtcl_lex_mode mode)
{
	if (p->have_look && p->look_mode == mode)
		return &p->look;
	if (p->have_look)
		dtcl_lex_token_clear(&p->look);
	p->after_look = p->lx;
	dtcl_lex_next(&p->after_look, mode, &p->look);
	p->have_look = true;
	p->look_mode = mode;
	return &p->look;
}

static void consume(struct parser *p)
{
	p->lx = p->after_look;
	dtcl_lex_token_clear(&p->look);
	p->have_look = false;
}

/* Consumes the lookahead and hands its text to the caller. */
static char *take_text(struct parser *p)
{
	char *t = p->look.text;

	p->look.text = NULL;
	consume(p);
	return t;
}

static bool is_kw(const struct dtcl_token *t, enum dtcl_kw kw)
{
	return t->kind == DTCL_TOK_WORD && t->kw == kw;
}

/* Reports an unexpected token, preferring the lexer's own complaint. */
static void unexpected(struct parser *p, const struct dtcl_token *t,
		       const char *wanted)
{
	if (p->failed)
		return;
	if (t->kind == DTCL_TOK_ERROR) {
		unsigned char c = (unsigned char)*t->src;

		if (t->unterminated)
			p->err->incomplete = true;
		/* The lexer's messages are static; name the character here. */
		if (!t->unterminated &&
		    strcmp(t->errmsg, "unexpected character") == 0)
			perror_at(p, t->line, c >= 0x20 && c < 0x7f ?
				  "unexpected character '%c'" :
				  "unexpected character %#04x", c);
		else
			perror_at(p, t->line, "%s", t->errmsg);
		return;
	}
	/* Running out of text inside a block means the console should read
	 * more; anywhere else it is just a mistake. */
	if (t->kind == DTCL_TOK_EOF && p->open_blocks > 0)
		p->err->incomplete = true;
	if (t->kind == DTCL_TOK_WORD || t->kind == DTCL_TOK_INT)
		perror_at(p, t->line, "%s, got '%.40s'", wanted, t->text);
	else if (t->kind == DTCL_TOK_EOS && *t->src == '\n')
		perror_at(p, t->line, "%s, got end of line", wanted);
	else if (t->kind == DTCL_TOK_EOS)
		perror_at(p, t->line, "%s, got ';'", wanted);
	else
		perror_at(p, t->line, "%s, got %s", wanted,
			  dtcl_lex_kind_name(t->kind));
}

static bool enter(struct parser *p, int line)
{
	if (++p->depth > DTCL_PARSE_MAX_DEPTH) {
		perror_at(p, line, "nesting deeper than %d levels",
			  DTCL_PARSE_MAX_DEPTH);
		return false;
	}
	return true;
}

static void leave(struct parser *p)
{
	p->depth--;
}

static struct dtcl_ast *node_new(enum dtcl_ast_kind kind, int line)
{
	struct dtcl_ast *n = util_xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->depth = 1;
	return n;
}

static void node_add(struct dtcl_ast *n, struct dtcl_ast *kid)
{
	n->kids = util_xreallocarray(n->kids, n->nkids + 1, sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

void dtcl_ast_free(struct dtcl_ast *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		dtcl_ast_free(n->kids[i]);
	free(n->kids);
	dtcl_ast_free(n->a);
	dtcl_ast_free(n->b);
	dtcl_ast_free(n->c);
	free(n->text);
	free(n);
}

/* Operator nodes track their height: a long "1+1+1…" chain parses without
 * recursion but would recurse that deep when evaluated or freed.  Takes
 * the operands, freeing them on error. */
static struct dtcl_ast *op_node(struct parser *p, enum dtcl_ast_kind kind,
				enum dtcl_ast_op op, int line,
				struct dtcl_ast *a, struct dtcl_ast *b)
{
	struct dtcl_ast *n = node_new(kind, line);

	n->op = op;
	n->a = a;
	n->b = b;
	n->depth = 1 + (a ? a->depth : 0);
	if (b && b->depth + 1 > n->depth)
		n->depth = b->depth + 1;
	if (n->depth > DTCL_PARSE_MAX_DEPTH) {
		perror_at(p, line, "expression nested deeper than %d levels",
			  DTCL_PARSE_MAX_DEPTH);
		dtcl_ast_free(n);
		return NULL;
	}
	return n;
}

static bool expect_kw(struct parser *p, enum dtcl_kw kw, const char *wanted)
{
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);

	if (!is_kw(t, kw)) {
		unexpected(p, t, wanted);
		return false;
	}
	consume(p);
	return true;
}

static bool expect_tok(struct parser *p, enum dtcl_lex_mode mode,
		       enum dtcl_tok_kind kind, const char *wanted)
{
	struct dtcl_token *t = peek(p, mode);

	if (t->kind != kind) {
		unexpected(p, t, wanted);
		return false;
	}
	consume(p);
	return true;
}

/* "( expr )" with the FOR-bound TO rule suspended inside the parentheses. */
static struct dtcl_ast *parse_paren(struct parser *p)
{
	bool saved = p->stop_at_to;
	struct dtcl_ast *e;

	consume(p);
	p->stop_at_to = false;
	e = parse_expr(p);
	p->stop_at_to = saved;
	if (e && !expect_tok(p, DTCL_LEX_EXPR, DTCL_TOK_RPAREN,
			     "expected ')'")) {
		dtcl_ast_free(e);
		e = NULL;
	}
	return e;
}

static bool ends_command(const struct parser *p, const struct dtcl_token *t)
{
	switch (t->kind) {
	case DTCL_TOK_EOF:
	case DTCL_TOK_EOS:
	case DTCL_TOK_RPAREN:
	case DTCL_TOK_EQ:
	case DTCL_TOK_NE:
	case DTCL_TOK_LT:
	case DTCL_TOK_GT:
	case DTCL_TOK_LE:
	case DTCL_TOK_GE:
	case DTCL_TOK_PLUS:
	case DTCL_TOK_MINUS:
	case DTCL_TOK_STAR:
	case DTCL_TOK_SLASH:
		return true;
	case DTCL_TOK_WORD:
		switch (t->kw) {
		case DTCL_KW_THEN:
		case DTCL_KW_DO:
		case DTCL_KW_ELSE:
		case DTCL_KW_END:
		case DTCL_KW_AND:
		case DTCL_KW_OR:
			return true;
		case DTCL_KW_TO:
			return p->stop_at_to;
		default:
			return false;
		}
	default:
		return false;
	}
}

/* Called with the command word as lookahead. */
static struct dtcl_ast *parse_command(struct parser *p)
{
	struct dtcl_ast *cmd = node_new(DTCL_AST_CMD, p->look.line);
	struct dtcl_ast *arg = node_new(DTCL_AST_WORD, p->look.line);
	struct dtcl_ast *ret = NULL;
	struct dtcl_token *t;

	arg->text = take_text(p);
	node_add(cmd, arg);
	for (;;) {
		t = peek(p, DTCL_LEX_CMD);
		if (ends_command(p, t))
			break;
		switch (t->kind) {
		case DTCL_TOK_WORD:
			arg = node_new(DTCL_AST_WORD, t->line);
			arg->text = take_text(p);
			break;
		case DTCL_TOK_STRING:
			arg = node_new(DTCL_AST_STR, t->line);
			arg->text = take_text(p);
			break;
		case DTCL_TOK_VAR:
			arg = node_new(DTCL_AST_VAR, t->line);
			arg->text = take_text(p);
			break;
		case DTCL_TOK_INT:
			arg = node_new(DTCL_AST_INT, t->line);
			arg->num = t->num;
			consume(p);
			break;
		case DTCL_TOK_ASSIGN:
		case DTCL_TOK_COMMA:
		case DTCL_TOK_PERCENT:
			arg = node_new(DTCL_AST_PUNCT, t->line);
			arg->text = util_xstrndup(t->src, 1);
			consume(p);
			break;
		case DTCL_TOK_LPAREN:
			arg = parse_paren(p);
			if (!arg)
				goto done;
			break;
		default:
			unexpected(p, t, "bad command argument");
			goto done;
		}
		node_add(cmd, arg);
		if (arg->depth + 1 > cmd->depth)
			cmd->depth = arg->depth + 1;
	}
	if (cmd->depth > DTCL_PARSE_MAX_DEPTH) {
		perror_at(p, cmd->line,
			  "expression nested deeper than %d levels",
			  DTCL_PARSE_MAX_DEPTH);
		goto done;
	}
	ret = cmd;
	cmd = NULL;
done:
	dtcl_ast_free(cmd);
	return ret;
}

static struct dtcl_ast *parse_primary(struct parser *p)
{
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);
	struct dtcl_ast *n;

	switch (t->kind) {
	case DTCL_TOK_INT:
		n = node_new(DTCL_AST_INT, t->line);
		n->num = t->num;
		consume(p);
		return n;
	case DTCL_TOK_STRING:
		n = node_new(DTCL_AST_STR, t->line);
		n->text = take_text(p);
		return n;
	case DTCL_TOK_VAR:
		n = node_new(DTCL_AST_VAR, t->line);
		n->text = take_text(p);
		return n;
	case DTCL_TOK_LPAREN:
		return parse_paren(p);
	case DTCL_TOK_WORD:
		if (t->kw == DTCL_KW_NONE)
			return parse_command(p);
		perror_at(p, t->line, "expected an expression, got keyword %s",
			  dtcl_lex_kw_name(t->kw));
		return NULL;
	default:
		unexpected(p, t, "expected an expression");
		return NULL;
	}
}

static struct dtcl_ast *parse_unary(struct parser *p)
{
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);
	struct dtcl_ast *a, *n = NULL;
	int line = t->line;

	if (t->kind != DTCL_TOK_MINUS)
		return parse_primary(p);
	consume(p);
	if (!enter(p, line))
		goto done;
	a = parse_unary(p);
	if (a)
		n = op_node(p, DTCL_AST_UNARY, DTCL_AST_OP_NEG, line, a, NULL);
done:
	leave(p);
	return n;
}

static enum dtcl_ast_op binop(enum dtcl_tok_kind k, int level)
{
	switch (level) {
	case 0:
		if (k == DTCL_TOK_STAR) return DTCL_AST_OP_MUL;
		if (k == DTCL_TOK_SLASH) return DTCL_AST_OP_DIV;
		if (k == DTCL_TOK_PERCENT) return DTCL_AST_OP_MOD;
		break;
	case 1:
		if (k == DTCL_TOK_PLUS) return DTCL_AST_OP_ADD;
		if (k == DTCL_TOK_MINUS) return DTCL_AST_OP_SUB;
		break;
	case 2:
		if (k == DTCL_TOK_ASSIGN || k == DTCL_TOK_EQ)
			return DTCL_AST_OP_EQ;
		if (k == DTCL_TOK_NE) return DTCL_AST_OP_NE;
		if (k == DTCL_TOK_LT) return DTCL_AST_OP_LT;
		if (k == DTCL_TOK_GT) return DTCL_AST_OP_GT;
		if (k == DTCL_TOK_LE) return DTCL_AST_OP_LE;
		if (k == DTCL_TOK_GE) return DTCL_AST_OP_GE;
		break;
	}
	return DTCL_AST_OP_NONE;
}

/* Levels 0 (* / %), 1 (+ -) and 2 (comparisons), all left-associative. */
static struct dtcl_ast *parse_binary(struct parser *p, int level)
{
	struct dtcl_ast *l, *r, *n;
	struct dtcl_token *t;
	enum dtcl_ast_op op;
	int line;

	l = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
	while (l) {
		t = peek(p, DTCL_LEX_EXPR);
		op = binop(t->kind, level);
		if (op == DTCL_AST_OP_NONE)
			break;
		line = t->line;
		consume(p);
		r = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
		if (!r) {
			dtcl_ast_free(l);
			return NULL;
		}
		n = op_node(p, DTCL_AST_BINARY, op, line, l, r);
		if (!n)
			return NULL;
		l = n;
	}
	return l;
}

static struct dtcl_ast *parse_not(struct parser *p)
{
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);
	struct dtcl_ast *a, *n = NULL;
	int line = t->line;

	if (!is_kw(t, DTCL_KW_NOT))
		return parse_binary(p, 2);
	consume(p);
	if (!enter(p, line))
		goto done;
	a = parse_not(p);
	if (a)
		n = op_node(p, DTCL_AST_UNARY, DTCL_AST_OP_NOT, line, a, NULL);
done:
	leave(p);
	return n;
}

static struct dtcl_ast *parse_logic(struct parser *p, enum dtcl_kw kw)
{
	struct dtcl_ast *l, *r, *n;
	struct dtcl_token *t;
	int line;

	l = kw == DTCL_KW_OR ? parse_logic(p, DTCL_KW_AND) : parse_not(p);
	while (l) {
		t = peek(p, DTCL_LEX_EXPR);
		if (!is_kw(t, kw))
			break;
		line = t->line;
		consume(p);
		r = kw == DTCL_KW_OR ? parse_logic(p, DTCL_KW_AND) :
				       parse_not(p);
		if (!r) {
			dtcl_ast_free(l);
			return NULL;
		}
		n = op_node(p, DTCL_AST_BINARY,
			    kw == DTCL_KW_OR ? DTCL_AST_OP_OR : DTCL_AST_OP_AND,
			    line, l, r);
		if (!n)
			return NULL;
		l = n;
	}
	return l;
}

static struct dtcl_ast *parse_expr(struct parser *p)
{
	struct dtcl_ast *e = NULL;

	if (enter(p, p->lx.line))
		e = parse_logic(p, DTCL_KW_OR);
	leave(p);
	return e;
}

static bool at_stmt_end(const struct dtcl_token *t)
{
	return t->kind == DTCL_TOK_EOS || t->kind == DTCL_TOK_EOF ||
	       is_kw(t, DTCL_KW_END) || is_kw(t, DTCL_KW_ELSE);
}

static struct dtcl_ast *parse_if(struct parser *p, int line)
{
	struct dtcl_ast *n = node_new(DTCL_AST_IF, line);
	struct dtcl_ast *ret = NULL;

	if (!(n->a = parse_expr(p)) ||
	    !expect_kw(p, DTCL_KW_THEN,
		       "expected THEN after the IF condition") ||
	    !(n->b = parse_block(p, DTCL_KW_IF, line)))
		goto done;
	if (is_kw(peek(p, DTCL_LEX_EXPR), DTCL_KW_ELSE)) {
		consume(p);
		if (!(n->c = parse_block(p, DTCL_KW_IF, line)))
			goto done;
	}
	if (!expect_kw(p, DTCL_KW_END, "expected END to close IF"))
		goto done;
	ret = n;
	n = NULL;
done:
	dtcl_ast_free(n);
	return ret;
}

static struct dtcl_ast *parse_while(struct parser *p, int line)
{
	struct dtcl_ast *n = node_new(DTCL_AST_WHILE, line);
	struct dtcl_ast *ret = NULL;

	if (!(n->a = parse_expr(p)) ||
	    !expect_kw(p, DTCL_KW_DO,
		       "expected DO after the WHILE condition") ||
	    !(n->b = parse_block(p, DTCL_KW_WHILE, line)))
		goto done;
	if (!expect_kw(p, DTCL_KW_END, "expected END to close WHILE"))
		goto done;
	ret = n;
	n = NULL;
done:
	dtcl_ast_free(n);
	return ret;
}

static struct dtcl_ast *parse_for(struct parser *p, int line)
{
	struct dtcl_ast *n = node_new(DTCL_AST_FOR, line);
	struct dtcl_ast *ret = NULL;
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);
	bool saved;

	if (t->kind != DTCL_TOK_VAR) {
		unexpected(p, t, "expected a $variable after FOR");
		goto done;
	}
	n->text = take_text(p);
	if (!expect_tok(p, DTCL_LEX_EXPR, DTCL_TOK_ASSIGN,
			"expected '=' after the FOR variable"))
		goto done;
	/* Here TO belongs to the FOR, not to a command in the bound. */
	saved = p->stop_at_to;
	p->stop_at_to = true;
	n->a = parse_expr(p);
	p->stop_at_to = saved;
	if (!n->a ||
	    !expect_kw(p, DTCL_KW_TO, "expected TO in FOR") ||
	    !(n->b = parse_expr(p)) ||
	    !expect_kw(p, DTCL_KW_DO, "expected DO after the FOR bounds") ||
	    !(n->c = parse_block(p, DTCL_KW_FOR, line)) ||
	    !expect_kw(p, DTCL_KW_END, "expected END to close FOR"))
		goto done;
	ret = n;
	n = NULL;
done:
	dtcl_ast_free(n);
	return ret;
}

/* Counts the open construct from its keyword on, so "IF $x" at the end of
 * the text also reads as unfinished. */
static struct dtcl_ast *parse_compound(struct parser *p, enum dtcl_kw kw,
				       int line)
{
	struct dtcl_ast *n;

	consume(p);
	p->open_blocks++;
	if (kw == DTCL_KW_IF)
		n = parse_if(p, line);
	else if (kw == DTCL_KW_WHILE)
		n = parse_while(p, line);
	else
		n = parse_for(p, line);
	p->open_blocks--;
	return n;
}

static struct dtcl_ast *parse_write(struct parser *p, int line)
{
	struct dtcl_ast *n = node_new(DTCL_AST_WRITE, line);
	struct dtcl_ast *e;
	struct dtcl_token *t;

	if (at_stmt_end(peek(p, DTCL_LEX_EXPR)))
		return n;
	for (;;) {
		e = parse_expr(p);
		if (!e) {
			dtcl_ast_free(n);
			return NULL;
		}
		node_add(n, e);
		t = peek(p, DTCL_LEX_EXPR);
		if (t->kind != DTCL_TOK_COMMA)
			return n;
		consume(p);
	}
}

/* "$v = expr" needs two tokens of lookahead; the lexer is only a position,
 * so read ahead and rewind when it is not an assignment. */
static struct dtcl_ast *parse_var_stmt(struct parser *p)
{
	struct dtcl_lexer saved = p->lx;
	struct dtcl_ast *n;
	int line = p->look.line;
	char *name = take_text(p);

	if (peek(p, DTCL_LEX_EXPR)->kind == DTCL_TOK_ASSIGN) {
		consume(p);
		n = node_new(DTCL_AST_ASSIGN, line);
		n->text = name;
		n->a = parse_expr(p);
		if (!n->a) {
			dtcl_ast_free(n);
			return NULL;
		}
		return n;
	}
	free(name);
	dtcl_lex_token_clear(&p->look);
	p->have_look = false;
	p->lx = saved;
	n = node_new(DTCL_AST_EXPR, line);
	n->a = parse_expr(p);
	if (!n->a) {
		dtcl_ast_free(n);
		return NULL;
	}
	return n;
}

static struct dtcl_ast *parse_stmt(struct parser *p)
{
	struct dtcl_token *t = peek(p, DTCL_LEX_EXPR);
	struct dtcl_ast *n = NULL;
	int line = t->line;

	if (t->kind == DTCL_TOK_VAR)
		return parse_var_stmt(p);
	if (t->kind == DTCL_TOK_WORD) {
		switch (t->kw) {
		case DTCL_KW_IF:
		case DTCL_KW_WHILE:
		case DTCL_KW_FOR:
			return parse_compound(p, t->kw, line);
		case DTCL_KW_WRITE:
			consume(p);
			return parse_write(p, line);
		case DTCL_KW_NONE:
		case DTCL_KW_NOT:
			break;
		default:
			perror_at(p, line, "unexpected %s",
				  dtcl_lex_kw_name(t->kw));
			return NULL;
		}
	}
	n = node_new(DTCL_AST_EXPR, line);
	n->a = parse_expr(p);
	if (!n->a) {
		dtcl_ast_free(n);
		return NULL;
	}
	return n;
}

/* Statements up to END/ELSE (left as lookahead for the caller) or, at the
 * top level (opener NONE), the end of the text. */
static struct dtcl_ast *parse_block(struct parser *p, enum dtcl_kw opener,
				    int opener_line)
{
	struct dtcl_ast *blk = node_new(DTCL_AST_BLOCK, p->lx.line);
	struct dtcl_ast *ret = NULL, *s;
	struct dtcl_token *t;
	char wanted[80];

	if (!enter(p, p->lx.line))
		goto done;
	for (;;) {
		t = peek(p, DTCL_LEX_EXPR);
		if (t->kind == DTCL_TOK_EOS) {
			consume(p);
			continue;
		}
		if (t->kind == DTCL_TOK_EOF || is_kw(t, DTCL_KW_END) ||
		    is_kw(t, DTCL_KW_ELSE)) {
			if (opener == DTCL_KW_NONE && t->kind == DTCL_TOK_EOF)
				break;
			if (opener == DTCL_KW_IF && t->kind != DTCL_TOK_EOF)
				break;
			if (opener != DTCL_KW_NONE && is_kw(t, DTCL_KW_END))
				break;
			if (opener == DTCL_KW_NONE) {
				perror_at(p, t->line,
					  "%s without a block to close",
					  dtcl_lex_kw_name(t->kw));
			} else {
				snprintf(wanted, sizeof(wanted),
					 "expected END to close %s "
					 "from line %d",
					 dtcl_lex_kw_name(opener), opener_line);
				unexpected(p, t, wanted);
			}
			goto done;
		}
		s = parse_stmt(p);
		if (!s)
			goto done;
		node_add(blk, s);
		t = peek(p, DTCL_LEX_EXPR);
		if (!at_stmt_end(t)) {
			unexpected(p, t, "expected end of statement");
			goto done;
		}
	}
	ret = blk;
	blk = NULL;
done:
	leave(p);
	dtcl_ast_free(blk);
	return ret;
}

int dtcl_parse_text(const char *text, struct dtcl_ast **out,
		    struct dtcl_parse_error *err)
{
	struct parser p;
	struct dtcl_ast *prog;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	memset(err, 0, sizeof(*err));
	p.err = err;
	dtcl_lex_init(&p.lx, text);
	*out = NULL;
	prog = parse_block(&p, DTCL_KW_NONE, 0);
	if (!prog || p.failed) {
		dtcl_ast_free(prog);
		goto done;
	}
	*out = prog;
	ret = 0;
done:
	if (p.have_look)
		dtcl_lex_token_clear(&p.look);
	return ret;
}

const char *dtcl_ast_op_name(enum dtcl_ast_op op)
{
	switch (op) {
	case DTCL_AST_OP_NONE: return "?";
	case DTCL_AST_OP_ADD: return "+";
	case DTCL_AST_OP_SUB: return "-";
	case DTCL_AST_OP_MUL: return "*";
	case DTCL_AST_OP_DIV: return "/";
	case DTCL_AST_OP_MOD: return "%";
	case DTCL_AST_OP_EQ: return "==";
	case DTCL_AST_OP_NE: return "!=";
	case DTCL_AST_OP_LT: return "<";
	case DTCL_AST_OP_GT: return ">";
	case DTCL_AST_OP_LE: return "<=";
	case DTCL_AST_OP_GE: return ">=";
	case DTCL_AST_OP_AND: return "and";
	case DTCL_AST_OP_OR: return "or";
	case DTCL_AST_OP_NEG: return "neg";
	case DTCL_AST_OP_NOT: return "not";
	}
	return "?";
}

static void dump(struct util_buf *b, const struct dtcl_ast *n)
{
	static const char *const heads[] = {
		[DTCL_AST_BLOCK] = "block", [DTCL_AST_ASSIGN] = "assign",
		[DTCL_AST_IF] = "if",	    [DTCL_AST_WHILE] = "while",
		[DTCL_AST_FOR] = "for",	    [DTCL_AST_WRITE] = "write",
		[DTCL_AST_EXPR] = "expr",   [DTCL_AST_CMD] = "cmd",
	};
	const char *s;
	size_t i;

	switch (n->kind) {
	case DTCL_AST_INT:
		util_buf_printf(b, "%" PRId64, n->num);
		return;
	case DTCL_AST_STR:
		util_buf_puts(b, "\"");
		for (s = n->text; *s; s++) {
			if (*s == '"' || *s == '\\')
				util_buf_puts(b, "\\");
			util_buf_append(b, s, 1);
		}
		util_buf_puts(b, "\"");
		return;
	case DTCL_AST_VAR:
		util_buf_printf(b, "$%s", n->text);
		return;
	case DTCL_AST_WORD:
		util_buf_puts(b, n->text);
		return;
	case DTCL_AST_PUNCT:
		util_buf_printf(b, "'%s'", n->text);
		return;
	case DTCL_AST_UNARY:
	case DTCL_AST_BINARY:
		util_buf_printf(b, "(%s", dtcl_ast_op_name(n->op));
		break;
	default:
		util_buf_printf(b, "(%s", heads[n->kind]);
		if (n->kind == DTCL_AST_ASSIGN || n->kind == DTCL_AST_FOR)
			util_buf_printf(b, " %s", n->text);
		break;
	}
	if (n->a) {
		util_buf_puts(b, " ");
		dump(b, n->a);
	}
	if (n->b) {
		util_buf_puts(b, " ");
		dump(b, n->b);
	}
	if (n->c) {
		util_buf_puts(b, " ");
		dump(b, n->c);
	}
	for (i = 0; i < n->nkids; i++) {
		util_buf_puts(b, " ");
		dump(b, n->kids[i]);
	}
	util_buf_puts(b, ")");
}

char *dtcl_ast_dump(const struct dtcl_ast *n)
{
	struct util_buf b;

	util_buf_init(&b);
	if (n)
		dump(&b, n);
	return util_buf_steal(&b);
}
