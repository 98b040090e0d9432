#include "config.h"

#include "dtcl_lex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct {
	const char *name;
	enum dtcl_kw kw;
} keywords[] = {
	{ "IF", DTCL_KW_IF },	    { "THEN", DTCL_KW_THEN },
	{ "ELSE", DTCL_KW_ELSE },   { "END", DTCL_KW_END },
	{ "WHILE", DTCL_KW_WHILE }, { "DO", DTCL_KW_DO },
	{ "FOR", DTCL_KW_FOR },	    { "TO", DTCL_KW_TO },
	{ "WRITE", DTCL_KW_WRITE }, { "AND", DTCL_KW_AND },
	{ "OR", DTCL_KW_OR },	    { "NOT", DTCL_KW_NOT },
};

/* ctype would follow the locale; the language is ASCII only. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

/* Characters that may open a bare word in a command besides alnum. */
static bool is_cmd_word_start(char c)
{
	return is_alnum(c) || c == '.' || c == '/' || c == ':' || c == '@' ||
	       c == '~' || c == '[' || c == ']';
}

static bool is_cmd_word_char(char c)
{
	return is_cmd_word_start(c) || c == '-';
}

enum dtcl_kw dtcl_lex_keyword(const char *word, size_t len)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(keywords); i++) {
		if (strlen(keywords[i].name) == len &&
		    strncasecmp(keywords[i].name, word, len) == 0)
			return keywords[i].kw;
	}
	return DTCL_KW_NONE;
}

const char *dtcl_lex_kw_name(enum dtcl_kw kw)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(keywords); i++) {
		if (keywords[i].kw == kw)
			return keywords[i].name;
	}
	return "?";
}

const char *dtcl_lex_kind_name(enum dtcl_tok_kind kind)
{
	switch (kind) {
	case DTCL_TOK_EOF: return "end of input";
	case DTCL_TOK_EOS: return "end of statement";
	case DTCL_TOK_INT: return "integer";
	case DTCL_TOK_STRING: return "string";
	case DTCL_TOK_WORD: return "word";
	case DTCL_TOK_VAR: return "variable";
	case DTCL_TOK_PLUS: return "'+'";
	case DTCL_TOK_MINUS: return "'-'";
	case DTCL_TOK_STAR: return "'*'";
	case DTCL_TOK_SLASH: return "'/'";
	case DTCL_TOK_PERCENT: return "'%'";
	case DTCL_TOK_LPAREN: return "'('";
	case DTCL_TOK_RPAREN: return "')'";
	case DTCL_TOK_COMMA: return "','";
	case DTCL_TOK_ASSIGN: return "'='";
	case DTCL_TOK_EQ: return "'=='";
	case DTCL_TOK_NE: return "'!='";
	case DTCL_TOK_LT: return "'<'";
	case DTCL_TOK_GT: return "'>'";
	case DTCL_TOK_LE: return "'<='";
	case DTCL_TOK_GE: return "'>='";
	case DTCL_TOK_ERROR: return "error";
	}
	return "?";
}

void dtcl_lex_init(struct dtcl_lexer *lx, const char *text)
{
	lx->src = text ? text : "";
	lx->p = lx->src;
	lx->line = 1;
}

void dtcl_lex_token_clear(struct dtcl_token *tok)
{
	free(tok->text);
	memset(tok, 0, sizeof(*tok));
}

static int lex_error(struct dtcl_token *tok, const char *msg)
{
	tok->kind = DTCL_TOK_ERROR;
	tok->errmsg = msg;
	return -1;
}

/* Digit runs are checked by hand so "99999999999999999999" is an error
 * rather than a silently clamped strtoll result. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	if (len && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	/* Two's complement: -(lim) fits exactly when neg. */
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int lex_string(struct dtcl_lexer *lx, struct dtcl_token *tok)
{
	struct util_buf b;
	const char *p = lx->p + 1;
	int line = lx->line;
	int ret = -1;

	util_buf_init(&b);
	for (;;) {
		char c = *p;

		if (c == '\0') {
			tok->unterminated = true;
			lex_error(tok, "unterminated string");
			goto done;
		}
		if (c == '"') {
			p++;
			break;
		}
		if (c == '\n')
			line++;
		if (c == '\\') {
			switch (p[1]) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\0':
				tok->unterminated = true;
				lex_error(tok, "unterminated string");
				goto done;
			default:
				lex_error(tok, "bad escape in string "
					  "(use \\\" \\\\ \\n or \\t)");
				goto done;
			}
			p++;
		}
		util_buf_append(&b, &c, 1);
		p++;
	}
	tok->kind = DTCL_TOK_STRING;
	tok->text = util_buf_steal(&b);
	lx->p = p;
	lx->line = line;
	ret = 0;
done:
	util_buf_free(&b);
	return ret;
}

/* A command argument like "128M", "10.0.0.1" or "-1": all digits (with an
 * optional leading '-') makes an integer, anything else a word. */
static int lex_cmd_word(struct dtcl_lexer *lx, struct dtcl_token *tok)
{
	const char *s = lx->p, *p = lx->p + 1;
	bool digits = is_digit(*s) || *s == '-';

	while (is_cmd_word_char(*p)) {
		if (!is_digit(*p))
			digits = false;
		p++;
	}
	if (digits) {
		if (parse_int(s, (size_t)(p - s), &tok->num) < 0)
			return lex_error(tok, "integer out of range");
		tok->kind = DTCL_TOK_INT;
	} else {
		tok->kind = DTCL_TOK_WORD;
		tok->kw = dtcl_lex_keyword(s, (size_t)(p - s));
	}
	tok->text = util_xstrndup(s, (size_t)(p - s));
	lx->p = p;
	return 0;
}

static bool starts_cmd_word(const char *p)
{
	/* A lone '/' or '-' stays an operator so "STATUS 4 / 2" and
	 * "STATUS 4 - 2" still do arithmetic on the result. */
	if (*p == '/')
		return is_cmd_word_char(p[1]);
	if (*p == '-')
		return is_alnum(p[1]);
	return is_cmd_word_start(*p);
}

static int lex_op(struct dtcl_lexer *lx, struct dtcl_token *tok)
{
	const char *p = lx->p;
	size_t n = 1;

	switch (*p) {
	case '+': tok->kind = DTCL_TOK_PLUS; break;
	case '-': tok->kind = DTCL_TOK_MINUS; break;
	case '*': tok->kind = DTCL_TOK_STAR; break;
	case '/': tok->kind = DTCL_TOK_SLASH; break;
	case '%': tok->kind = DTCL_TOK_PERCENT; break;
	case '(': tok->kind = DTCL_TOK_LPAREN; break;
	case ')': tok->kind = DTCL_TOK_RPAREN; break;
	case ',': tok->kind = DTCL_TOK_COMMA; break;
	case '=':
		if (p[1] == '=') {
			tok->kind = DTCL_TOK_EQ;
			n = 2;
		} else {
			tok->kind = DTCL_TOK_ASSIGN;
		}
		break;
	case '!':
		if (p[1] != '=')
			return lex_error(tok, "unexpected character '!' "
					 "(use NOT or !=)");
		tok->kind = DTCL_TOK_NE;
		n = 2;
		break;
	case '<':
		if (p[1] == '=') {
			tok->kind = DTCL_TOK_LE;
			n = 2;
		} else if (p[1] == '>') {
			tok->kind = DTCL_TOK_NE;
			n = 2;
		} else {
			tok->kind = DTCL_TOK_LT;
		}
		break;
	case '>':
		if (p[1] == '=') {
			tok->kind = DTCL_TOK_GE;
			n = 2;
		} else {
			tok->kind = DTCL_TOK_GT;
		}
		break;
	default:
		return lex_error(tok, "unexpected character");
	}
	tok->len = n;
	lx->p = p + n;
	return 0;
}

int dtcl_lex_next(struct dtcl_lexer *lx, enum dtcl_lex_mode mode,
		  struct dtcl_token *tok)
{
	const char *p;
	int ret;

	memset(tok, 0, sizeof(*tok));
	for (p = lx->p;; p++) {
		if (*p == '#') {
			while (p[1] && p[1] != '\n')
				p++;
		} else if (*p != ' ' && *p != '\t' && *p != '\r' &&
			   *p != '\f' && *p != '\v') {
			break;
		}
	}
	lx->p = p;
	tok->src = p;
	tok->line = lx->line;

	if (*p == '\0') {
		tok->kind = DTCL_TOK_EOF;
		/* A trailing newline should not push the EOF onto a line
		 * that the user never sees in an editor. */
		if (p > lx->src && p[-1] == '\n' && tok->line > 1)
			tok->line--;
		return 0;
	}
	if (*p == '\n' || *p == ';') {
		tok->kind = DTCL_TOK_EOS;
		tok->len = 1;
		lx->p = p + 1;
		if (*p == '\n')
			lx->line++;
		return 0;
	}
	if (*p == '"') {
		ret = lex_string(lx, tok);
	} else if (*p == '$') {
		const char *s = p + 1, *e = s;
		size_t i;

		if (!is_alpha(*s))
			return lex_error(tok, "bad variable name after '$'");
		while (is_alnum(*e))
			e++;
		tok->kind = DTCL_TOK_VAR;
		tok->text = util_xstrndup(s, (size_t)(e - s));
		/* Variable names are case-insensitive: fold once here. */
		for (i = 0; tok->text[i]; i++) {
			if (tok->text[i] >= 'A' && tok->text[i] <= 'Z')
				tok->text[i] = (char)(tok->text[i] - 'A' + 'a');
		}
		lx->p = e;
		ret = 0;
	} else if (mode == DTCL_LEX_CMD && starts_cmd_word(p)) {
		ret = lex_cmd_word(lx, tok);
	} else if (is_digit(*p)) {
		const char *e = p;

		while (is_digit(*e))
			e++;
		if (parse_int(p, (size_t)(e - p), &tok->num) < 0)
			return lex_error(tok, "integer out of range");
		tok->kind = DTCL_TOK_INT;
		tok->text = util_xstrndup(p, (size_t)(e - p));
		lx->p = e;
		ret = 0;
	} else if (is_alpha(*p)) {
		const char *e = p;

		while (is_alnum(*e))
			e++;
		tok->kind = DTCL_TOK_WORD;
		tok->kw = dtcl_lex_keyword(p, (size_t)(e - p));
		tok->text = util_xstrndup(p, (size_t)(e - p));
		lx->p = e;
		ret = 0;
	} else {
		ret = lex_op(lx, tok);
	}
	if (ret == 0)
		tok->len = (size_t)(lx->p - p);
	return ret;
}
