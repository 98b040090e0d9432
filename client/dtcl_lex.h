/* dtcl_lex — tokenizer for the DTCL control language.
 *
 * The same characters mean different things in an expression and in a
 * command's argument list ("/dev/loop0" vs "$a / 2", "-1" vs "$a - 1"), so
 * the parser asks for each token in a mode.  The lexer holds only a
 * position, so a caller can copy it to look ahead and re-read the same text
 * in another mode. */
#ifndef DITTO_DTCL_LEX_H
#define DITTO_DTCL_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dtcl_tok_kind {
	DTCL_TOK_EOF,
	DTCL_TOK_EOS,		/* ';' or newline: end of statement */
	DTCL_TOK_INT,		/* num; text as written */
	DTCL_TOK_STRING,	/* text with escapes decoded */
	DTCL_TOK_WORD,		/* bare word; kw: which keyword, if any */
	DTCL_TOK_VAR,		/* "$name"; text: the name in lower case */
	DTCL_TOK_PLUS,
	DTCL_TOK_MINUS,
	DTCL_TOK_STAR,
	DTCL_TOK_SLASH,
	DTCL_TOK_PERCENT,
	DTCL_TOK_LPAREN,
	DTCL_TOK_RPAREN,
	DTCL_TOK_COMMA,
	DTCL_TOK_ASSIGN,	/* "=" (also equality inside expressions) */
	DTCL_TOK_EQ,		/* "==" */
	DTCL_TOK_NE,		/* "!=" or "<>" */
	DTCL_TOK_LT,
	DTCL_TOK_GT,
	DTCL_TOK_LE,
	DTCL_TOK_GE,
	DTCL_TOK_ERROR,		/* errmsg says why */
};

enum dtcl_kw {
	DTCL_KW_NONE,
	DTCL_KW_IF,
	DTCL_KW_THEN,
	DTCL_KW_ELSE,
	DTCL_KW_END,
	DTCL_KW_WHILE,
	DTCL_KW_DO,
	DTCL_KW_FOR,
	DTCL_KW_TO,
	DTCL_KW_WRITE,
	DTCL_KW_AND,
	DTCL_KW_OR,
	DTCL_KW_NOT,
};

enum dtcl_lex_mode {
	/* Words are identifiers [A-Za-z_][A-Za-z0-9_]*; '-' and '/' are
	 * always operators; integers are plain digit runs. */
	DTCL_LEX_EXPR,
	/* Words may also start with a digit or . / : @ ~ [ ] and contain
	 * those characters and '-' ("10.0.0.1", "host:1500", "128M");
	 * '/' followed by a word character starts a word ("/dev/loop0"),
	 * '-' directly followed by a letter or digit starts a word or a
	 * negative integer ("-1", "-v"); a run that is all digits is an
	 * integer. */
	DTCL_LEX_CMD,
};

struct dtcl_token {
	enum dtcl_tok_kind kind;
	enum dtcl_kw kw;
	int line;		/* line the token starts on, from 1 */
	const char *src;	/* raw span in the source text */
	size_t len;
	char *text;		/* owned; for INT, STRING, WORD and VAR */
	int64_t num;		/* INT value */
	const char *errmsg;	/* ERROR: static message */
	bool unterminated;	/* ERROR: a string ran to the text's end */
};

struct dtcl_lexer {
	const char *src;
	const char *p;
	int line;
};

void dtcl_lex_init(struct dtcl_lexer *lx, const char *text);
/* Reads the next token in the given mode into tok (which the caller clears
 * with dtcl_lex_token_clear).  Returns 0, or -1 for an ERROR token.  At the
 * end of the text it keeps returning EOF. */
int dtcl_lex_next(struct dtcl_lexer *lx, enum dtcl_lex_mode mode,
		  struct dtcl_token *tok);
void dtcl_lex_token_clear(struct dtcl_token *tok);
/* Keyword for a word, compared case-insensitively; DTCL_KW_NONE if none. */
enum dtcl_kw dtcl_lex_keyword(const char *word, size_t len);
const char *dtcl_lex_kw_name(enum dtcl_kw kw);
/* Short human name of a token kind, for messages ("end of line", "'+'"). */
const char *dtcl_lex_kind_name(enum dtcl_tok_kind kind);

#endif
