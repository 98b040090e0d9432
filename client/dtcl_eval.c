#include "config.h"

#include "dtcl_eval.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dtcl_parse.h"
#include "util.h"

struct value {
	bool is_str;
	int64_t i;
	char *s;		/* owned when is_str */
	size_t len;
};

struct var {
	char *name;		/* lower case */
	struct value v;
};

struct dtcl_interp {
	dtcl_exec_fn exec;
	void *ctx;
	FILE *out;
	FILE *err;
	uint64_t max_steps;
	uint64_t steps;
	size_t max_string;
	struct var *vars;
	size_t nvars;
	const char *name;	/* of the text being run, for messages */
	bool ran_cmd;
	int64_t cmd_result;	/* last command in the current run */
	int64_t last_result;
};

static int eval(struct dtcl_interp *in, const struct dtcl_ast *n,
		struct value *out);
static int exec_block(struct dtcl_interp *in, const struct dtcl_ast *blk);

static void rt_error(struct dtcl_interp *in, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rt_error(struct dtcl_interp *in, int line, const char *fmt, ...)
{
	va_list ap;

	if (!in->err)
		return;
	fprintf(in->err, "%s:%d: ", in->name, line);
	va_start(ap, fmt);
	vfprintf(in->err, fmt, ap);
	va_end(ap);
	fputc('\n', in->err);
	fflush(in->err);
}

static void value_free(struct value *v)
{
	if (v->is_str)
		free(v->s);
	memset(v, 0, sizeof(*v));
}

static void value_int(struct value *v, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->i = i;
}

static void value_str(struct value *v, const char *s)
{
	v->is_str = true;
	v->i = 0;
	v->len = strlen(s);
	v->s = util_xstrdup(s);
}

static void value_copy(struct value *dst, const struct value *src)
{
	if (src->is_str)
		value_str(dst, src->s);
	else
		value_int(dst, src->i);
}

static bool truthy(const struct value *v)
{
	return v->is_str ? v->len > 0 : v->i != 0;
}

static bool valid_name(const char *s)
{
	const char *p;

	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    *s == '_'))
		return false;
	for (p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

static char *lower_dup(const char *s)
{
	char *d = util_xstrdup(s), *p;

	for (p = d; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	return d;
}

static struct var *find_var(const struct dtcl_interp *in, const char *name)
{
	size_t i;

	for (i = 0; i < in->nvars; i++) {
		if (strcmp(in->vars[i].name, name) == 0)
			return &in->vars[i];
	}
	return NULL;
}

/* Takes ownership of *v. */
static void set_var(struct dtcl_interp *in, const char *name, struct value *v)
{
	struct var *var = find_var(in, name);

	if (!var) {
		in->vars = util_xreallocarray(in->vars, in->nvars + 1,
					      sizeof(*in->vars));
		var = &in->vars[in->nvars++];
		var->name = util_xstrdup(name);
		memset(&var->v, 0, sizeof(var->v));
	}
	value_free(&var->v);
	var->v = *v;
	memset(v, 0, sizeof(*v));
}

static int step(struct dtcl_interp *in, int line)
{
	if (in->max_steps && ++in->steps > in->max_steps) {
		rt_error(in, line, "step limit of %" PRIu64 " exceeded",
			 in->max_steps);
		return -1;
	}
	return 0;
}

static const char *int_text(char *buf, size_t size, int64_t i)
{
	snprintf(buf, size, "%" PRId64, i);
	return buf;
}

static int concat(struct dtcl_interp *in, int line, const struct value *a,
		  const struct value *b, struct value *out)
{
	char ab[24], bb[24];
	const char *as = a->is_str ? a->s : int_text(ab, sizeof(ab), a->i);
	const char *bs = b->is_str ? b->s : int_text(bb, sizeof(bb), b->i);
	size_t al = strlen(as), bl = strlen(bs);

	if (al + bl > in->max_string) {
		rt_error(in, line, "string longer than %zu bytes",
			 in->max_string);
		return -1;
	}
	out->is_str = true;
	out->i = 0;
	out->len = al + bl;
	out->s = util_xmalloc(al + bl + 1);
	memcpy(out->s, as, al);
	memcpy(out->s + al, bs, bl + 1);
	return 0;
}

static int compare(struct dtcl_interp *in, const struct dtcl_ast *n,
		   const struct value *a, const struct value *b,
		   struct value *out)
{
	int c;

	if (a->is_str != b->is_str) {
		rt_error(in, n->line, "cannot compare a string with an integer "
			 "using %s", dtcl_ast_op_name(n->op));
		return -1;
	}
	if (a->is_str)
		c = strcmp(a->s, b->s);
	else
		c = a->i < b->i ? -1 : a->i > b->i;
	switch (n->op) {
	case DTCL_AST_OP_EQ: c = c == 0; break;
	case DTCL_AST_OP_NE: c = c != 0; break;
	case DTCL_AST_OP_LT: c = c < 0; break;
	case DTCL_AST_OP_GT: c = c > 0; break;
	case DTCL_AST_OP_LE: c = c <= 0; break;
	default: c = c >= 0; break;
	}
	value_int(out, c);
	return 0;
}

static int arith(struct dtcl_interp *in, const struct dtcl_ast *n,
		 const struct value *a, const struct value *b,
		 struct value *out)
{
	int64_t x = a->i, y = b->i, r = 0;
	bool ovf = false;

	if (n->op == DTCL_AST_OP_ADD && (a->is_str || b->is_str))
		return concat(in, n->line, a, b, out);
	if (a->is_str || b->is_str) {
		rt_error(in, n->line, "'%s' needs integers, not strings",
			 dtcl_ast_op_name(n->op));
		return -1;
	}
	switch (n->op) {
	case DTCL_AST_OP_ADD:
		ovf = __builtin_add_overflow(x, y, &r);
		break;
	case DTCL_AST_OP_SUB:
		ovf = __builtin_sub_overflow(x, y, &r);
		break;
	case DTCL_AST_OP_MUL:
		ovf = __builtin_mul_overflow(x, y, &r);
		break;
	case DTCL_AST_OP_DIV:
	case DTCL_AST_OP_MOD:
		if (y == 0) {
			rt_error(in, n->line, "%s by zero",
				 n->op == DTCL_AST_OP_DIV ? "division" :
							    "modulo");
			return -1;
		}
		/* INT64_MIN / -1 traps on x86 and is undefined in C. */
		if (y == -1) {
			if (n->op == DTCL_AST_OP_DIV)
				ovf = __builtin_sub_overflow((int64_t)0, x, &r);
			else
				r = 0;
		} else {
			r = n->op == DTCL_AST_OP_DIV ? x / y : x % y;
		}
		break;
	default:
		break;
	}
	if (ovf) {
		rt_error(in, n->line, "integer overflow in '%s'",
			 dtcl_ast_op_name(n->op));
		return -1;
	}
	value_int(out, r);
	return 0;
}

static int eval_binary(struct dtcl_interp *in, const struct dtcl_ast *n,
		       struct value *out)
{
	struct value a = { 0 }, b = { 0 };
	int ret = -1;

	if (eval(in, n->a, &a) < 0)
		goto done;
	/* AND/OR short-circuit: the right side may be a command that must
	 * not run when the left side already decides. */
	if (n->op == DTCL_AST_OP_AND || n->op == DTCL_AST_OP_OR) {
		bool t = truthy(&a);

		if (t == (n->op == DTCL_AST_OP_OR)) {
			value_int(out, t);
			ret = 0;
			goto done;
		}
		if (eval(in, n->b, &b) < 0)
			goto done;
		value_int(out, truthy(&b));
		ret = 0;
		goto done;
	}
	if (eval(in, n->b, &b) < 0)
		goto done;
	switch (n->op) {
	case DTCL_AST_OP_EQ:
	case DTCL_AST_OP_NE:
	case DTCL_AST_OP_LT:
	case DTCL_AST_OP_GT:
	case DTCL_AST_OP_LE:
	case DTCL_AST_OP_GE:
		ret = compare(in, n, &a, &b, out);
		break;
	default:
		ret = arith(in, n, &a, &b, out);
		break;
	}
done:
	value_free(&a);
	value_free(&b);
	return ret;
}

static int eval_cmd(struct dtcl_interp *in, const struct dtcl_ast *n,
		    struct value *out)
{
	struct dtcl_arg *argv = util_xcalloc(n->nkids, sizeof(*argv));
	char **owned = util_xcalloc(n->nkids, sizeof(*owned));
	struct dtcl_cmd cmd;
	struct value v;
	size_t i;
	int64_t r;
	int ret = -1;

	for (i = 0; i < n->nkids; i++) {
		const struct dtcl_ast *k = n->kids[i];

		switch (k->kind) {
		case DTCL_AST_WORD:
			argv[i].type = DTCL_ARG_WORD;
			argv[i].text = k->text;
			break;
		case DTCL_AST_PUNCT:
			argv[i].type = DTCL_ARG_PUNCT;
			argv[i].text = k->text;
			break;
		case DTCL_AST_STR:
			argv[i].type = DTCL_ARG_STRING;
			argv[i].text = k->text;
			break;
		default:
			if (eval(in, k, &v) < 0)
				goto done;
			if (v.is_str) {
				argv[i].type = DTCL_ARG_STRING;
				owned[i] = v.s;
			} else {
				argv[i].type = DTCL_ARG_NUMBER;
				owned[i] = util_xasprintf("%" PRId64, v.i);
			}
			argv[i].text = owned[i];
			break;
		}
	}
	cmd.argc = n->nkids;
	cmd.argv = argv;
	cmd.line = n->line;
	r = in->exec ? in->exec(in->ctx, &cmd) : DTCL_ERR_UNKNOWN;
	in->ran_cmd = true;
	in->cmd_result = r;
	in->last_result = r;
	value_int(out, r);
	ret = 0;
done:
	for (i = 0; i < n->nkids; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	return ret;
}

static int eval(struct dtcl_interp *in, const struct dtcl_ast *n,
		struct value *out)
{
	struct value a = { 0 };
	struct var *var;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	/* Expressions count too: one statement can hold thousands of
	 * operands (a long WRITE list), so statements alone do not bound
	 * the work. */
	if (step(in, n->line) < 0)
		return -1;
	switch (n->kind) {
	case DTCL_AST_INT:
		value_int(out, n->num);
		return 0;
	case DTCL_AST_STR:
		value_str(out, n->text);
		return 0;
	case DTCL_AST_VAR:
		var = find_var(in, n->text);
		if (!var) {
			rt_error(in, n->line, "undefined variable $%s",
				 n->text);
			return -1;
		}
		value_copy(out, &var->v);
		return 0;
	case DTCL_AST_BINARY:
		return eval_binary(in, n, out);
	case DTCL_AST_CMD:
		return eval_cmd(in, n, out);
	case DTCL_AST_UNARY:
		if (eval(in, n->a, &a) < 0)
			goto done;
		if (n->op == DTCL_AST_OP_NOT) {
			value_int(out, !truthy(&a));
		} else if (a.is_str) {
			rt_error(in, n->line, "unary '-' needs an integer");
			goto done;
		} else if (a.i == INT64_MIN) {
			rt_error(in, n->line, "integer overflow in unary '-'");
			goto done;
		} else {
			value_int(out, -a.i);
		}
		ret = 0;
		break;
	default:
		/* Words and punctuation only occur as command arguments. */
		rt_error(in, n->line, "internal error: node %d is not an "
			 "expression", (int)n->kind);
		break;
	}
done:
	value_free(&a);
	return ret;
}

static int exec_write(struct dtcl_interp *in, const struct dtcl_ast *s)
{
	struct util_buf b;
	struct value v;
	size_t i;
	int ret = -1;

	/* Build the whole line first so an error mid-list prints nothing. */
	util_buf_init(&b);
	for (i = 0; i < s->nkids; i++) {
		if (eval(in, s->kids[i], &v) < 0)
			goto done;
		if (i)
			util_buf_puts(&b, " ");
		if (v.is_str)
			util_buf_append(&b, v.s, v.len);
		else
			util_buf_printf(&b, "%" PRId64, v.i);
		value_free(&v);
	}
	util_buf_puts(&b, "\n");
	if (in->out) {
		fwrite(b.data, 1, b.len, in->out);
		fflush(in->out);
	}
	ret = 0;
done:
	util_buf_free(&b);
	return ret;
}

static int exec_for(struct dtcl_interp *in, const struct dtcl_ast *s)
{
	struct value a = { 0 }, b = { 0 }, iv;
	int64_t i;
	int ret = -1;

	if (eval(in, s->a, &a) < 0 || eval(in, s->b, &b) < 0)
		goto done;
	if (a.is_str || b.is_str) {
		rt_error(in, s->line, "FOR bounds must be integers");
		goto done;
	}
	/* The counter lives here, not in the variable, so the body cannot
	 * derail the loop; stopping at b before incrementing avoids
	 * overflow when b is INT64_MAX. */
	for (i = a.i; i <= b.i; i++) {
		if (step(in, s->line) < 0)
			goto done;
		value_int(&iv, i);
		set_var(in, s->text, &iv);
		if (exec_block(in, s->c) < 0)
			goto done;
		if (i == b.i)
			break;
	}
	ret = 0;
done:
	value_free(&a);
	value_free(&b);
	return ret;
}

static int exec_stmt(struct dtcl_interp *in, const struct dtcl_ast *s)
{
	struct value v = { 0 };
	int ret = -1;

	if (step(in, s->line) < 0)
		return -1;
	switch (s->kind) {
	case DTCL_AST_ASSIGN:
		if (eval(in, s->a, &v) < 0)
			goto done;
		set_var(in, s->text, &v);
		break;
	case DTCL_AST_EXPR:
		if (eval(in, s->a, &v) < 0)
			goto done;
		break;
	case DTCL_AST_WRITE:
		if (exec_write(in, s) < 0)
			goto done;
		break;
	case DTCL_AST_IF:
		if (eval(in, s->a, &v) < 0)
			goto done;
		if (truthy(&v)) {
			if (exec_block(in, s->b) < 0)
				goto done;
		} else if (s->c && exec_block(in, s->c) < 0) {
			goto done;
		}
		break;
	case DTCL_AST_WHILE:
		for (;;) {
			value_free(&v);
			if (eval(in, s->a, &v) < 0)
				goto done;
			if (!truthy(&v))
				break;
			if (exec_block(in, s->b) < 0 || step(in, s->line) < 0)
				goto done;
		}
		break;
	case DTCL_AST_FOR:
		if (exec_for(in, s) < 0)
			goto done;
		break;
	default:
		rt_error(in, s->line, "internal error: node %d is not a "
			 "statement", (int)s->kind);
		goto done;
	}
	ret = 0;
done:
	value_free(&v);
	return ret;
}

static int exec_block(struct dtcl_interp *in, const struct dtcl_ast *blk)
{
	size_t i;

	for (i = 0; i < blk->nkids; i++) {
		if (exec_stmt(in, blk->kids[i]) < 0)
			return -1;
	}
	return 0;
}

struct dtcl_interp *dtcl_interp_new(dtcl_exec_fn exec, void *ctx, FILE *out,
				    FILE *err)
{
	struct dtcl_interp *in = util_xcalloc(1, sizeof(*in));

	in->exec = exec;
	in->ctx = ctx;
	in->out = out;
	in->err = err;
	in->max_string = DTCL_DEFAULT_MAX_STRING;
	in->name = "dtcl";
	return in;
}

void dtcl_interp_free(struct dtcl_interp *in)
{
	size_t i;

	if (!in)
		return;
	for (i = 0; i < in->nvars; i++) {
		free(in->vars[i].name);
		value_free(&in->vars[i].v);
	}
	free(in->vars);
	free(in);
}

void dtcl_interp_set_max_steps(struct dtcl_interp *in, uint64_t steps)
{
	in->max_steps = steps;
}

void dtcl_interp_set_max_string(struct dtcl_interp *in, size_t bytes)
{
	in->max_string = bytes;
}

int64_t dtcl_interp_run(struct dtcl_interp *in, const char *text,
			const char *name)
{
	struct dtcl_parse_error perr;
	struct dtcl_ast *prog = NULL;
	int64_t ret;

	in->name = name ? name : "dtcl";
	if (dtcl_parse_text(text, &prog, &perr) < 0) {
		rt_error(in, perr.line, "%s", perr.msg);
		ret = DTCL_ERR_SYNTAX;
		in->last_result = ret;
		goto done;
	}
	in->steps = 0;
	in->ran_cmd = false;
	in->cmd_result = 0;
	if (exec_block(in, prog) < 0) {
		ret = DTCL_ERR_PARAM;
		in->last_result = ret;
		goto done;
	}
	ret = in->ran_cmd ? in->cmd_result : 0;
done:
	dtcl_ast_free(prog);
	/* The name belongs to the caller and is only good for this call. */
	in->name = "dtcl";
	return ret;
}

bool dtcl_text_incomplete(const char *text)
{
	struct dtcl_parse_error perr;
	struct dtcl_ast *prog = NULL;

	if (dtcl_parse_text(text, &prog, &perr) == 0) {
		dtcl_ast_free(prog);
		return false;
	}
	return perr.incomplete;
}

int64_t dtcl_interp_last_result(const struct dtcl_interp *in)
{
	return in->last_result;
}

int dtcl_interp_set_int(struct dtcl_interp *in, const char *name, int64_t v)
{
	struct value val;
	char *lname;

	if (!valid_name(name))
		return -1;
	lname = lower_dup(name);
	value_int(&val, v);
	set_var(in, lname, &val);
	free(lname);
	return 0;
}

int dtcl_interp_set_str(struct dtcl_interp *in, const char *name,
			const char *s)
{
	struct value val;
	char *lname;

	if (!valid_name(name) || !s)
		return -1;
	lname = lower_dup(name);
	value_str(&val, s);
	set_var(in, lname, &val);
	free(lname);
	return 0;
}

int dtcl_interp_get_var(const struct dtcl_interp *in, const char *name,
			bool *is_str, int64_t *i, const char **s)
{
	struct var *var;
	char *lname;
	int ret = -1;

	if (!valid_name(name))
		return -1;
	lname = lower_dup(name);
	var = find_var(in, lname);
	if (!var)
		goto done;
	if (is_str)
		*is_str = var->v.is_str;
	if (i)
		*i = var->v.i;
	if (s)
		*s = var->v.is_str ? var->v.s : NULL;
	ret = 0;
done:
	free(lname);
	return ret;
}
