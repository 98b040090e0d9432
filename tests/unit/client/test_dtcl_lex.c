#include "config.h"

#include <criterion/criterion.h>
#include <string.h>

#include "dtcl_lex.h"
#include "util.h"

/* Renders every token of text as "KIND:text" joined by spaces, stopping at
 * EOF or the first error (rendered as "ERR:message"). */
static char *lex_all(const char *text, enum dtcl_lex_mode mode)
{
	static const char *const names[] = {
		[DTCL_TOK_EOF] = "EOF",	    [DTCL_TOK_EOS] = "EOS",
		[DTCL_TOK_INT] = "INT",	    [DTCL_TOK_STRING] = "STR",
		[DTCL_TOK_WORD] = "WORD",   [DTCL_TOK_VAR] = "VAR",
		[DTCL_TOK_PLUS] = "+",	    [DTCL_TOK_MINUS] = "-",
		[DTCL_TOK_STAR] = "*",	    [DTCL_TOK_SLASH] = "/",
		[DTCL_TOK_PERCENT] = "%",   [DTCL_TOK_LPAREN] = "(",
		[DTCL_TOK_RPAREN] = ")",    [DTCL_TOK_COMMA] = ",",
		[DTCL_TOK_ASSIGN] = "=",    [DTCL_TOK_EQ] = "==",
		[DTCL_TOK_NE] = "!=",	    [DTCL_TOK_LT] = "<",
		[DTCL_TOK_GT] = ">",	    [DTCL_TOK_LE] = "<=",
		[DTCL_TOK_GE] = ">=",	    [DTCL_TOK_ERROR] = "ERR",
	};
	struct dtcl_lexer lx;
	struct dtcl_token t;
	struct util_buf b;

	util_buf_init(&b);
	dtcl_lex_init(&lx, text);
	for (;;) {
		int rc = dtcl_lex_next(&lx, mode, &t);

		if (b.len)
			util_buf_puts(&b, " ");
		util_buf_puts(&b, names[t.kind]);
		if (rc < 0)
			util_buf_printf(&b, ":%s", t.errmsg);
		else if (t.text)
			util_buf_printf(&b, ":%s", t.text);
		if (rc < 0 || t.kind == DTCL_TOK_EOF) {
			dtcl_lex_token_clear(&t);
			break;
		}
		dtcl_lex_token_clear(&t);
	}
	return util_buf_steal(&b);
}

static void check(const char *text, enum dtcl_lex_mode mode, const char *want)
{
	char *got = lex_all(text, mode);

	cr_expect_str_eq(got, want, "lexing [%s]", text);
	free(got);
}

Test(dtcl_lex, empty_and_blank)
{
	check("", DTCL_LEX_EXPR, "EOF");
	check("  \t\r ", DTCL_LEX_EXPR, "EOF");
	check(";\n;", DTCL_LEX_EXPR, "EOS EOS EOS EOF");
}

Test(dtcl_lex, integers_and_operators)
{
	check("1+22*3 - 4/5 % 6", DTCL_LEX_EXPR,
	      "INT:1 + INT:22 * INT:3 - INT:4 / INT:5 % INT:6 EOF");
	check("( ) , = == != <> < > <= >=", DTCL_LEX_EXPR,
	      "( ) , = == != != < > <= >= EOF");
	check("9223372036854775807", DTCL_LEX_EXPR,
	      "INT:9223372036854775807 EOF");
	check("9223372036854775808", DTCL_LEX_EXPR,
	      "ERR:integer out of range");
}

Test(dtcl_lex, integer_value)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;

	dtcl_lex_init(&lx, "-9223372036854775808");
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_CMD, &t), 0);
	cr_expect_eq(t.kind, DTCL_TOK_INT);
	cr_expect_eq(t.num, INT64_MIN);
	dtcl_lex_token_clear(&t);
}

Test(dtcl_lex, strings_with_escapes)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;

	dtcl_lex_init(&lx, "\"a\\\"b\\\\c\\nd\\te\" \"\"");
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
	cr_expect_eq(t.kind, DTCL_TOK_STRING);
	cr_expect_str_eq(t.text, "a\"b\\c\nd\te");
	dtcl_lex_token_clear(&t);
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
	cr_expect_eq(t.kind, DTCL_TOK_STRING);
	cr_expect_str_eq(t.text, "");
	dtcl_lex_token_clear(&t);
	check("\"x # not a comment\"", DTCL_LEX_EXPR,
	      "STR:x # not a comment EOF");
}

Test(dtcl_lex, string_errors)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;

	dtcl_lex_init(&lx, "\n\"abc\ndef");
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
	dtcl_lex_token_clear(&t);
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), -1);
	cr_expect_eq(t.kind, DTCL_TOK_ERROR);
	cr_expect(t.unterminated);
	cr_expect_eq(t.line, 2, "error is reported where the string opened");
	dtcl_lex_token_clear(&t);

	check("\"a\\qb\"", DTCL_LEX_EXPR,
	      "ERR:bad escape in string (use \\\" \\\\ \\n or \\t)");
	check("\"abc\\", DTCL_LEX_EXPR, "ERR:unterminated string");
}

Test(dtcl_lex, multiline_string_counts_lines)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;

	dtcl_lex_init(&lx, "\"a\nb\" x");
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
	cr_expect_str_eq(t.text, "a\nb");
	cr_expect_eq(t.line, 1);
	dtcl_lex_token_clear(&t);
	cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
	cr_expect_eq(t.line, 2);
	dtcl_lex_token_clear(&t);
}

Test(dtcl_lex, comments)
{
	check("1 # comment + 2\n3", DTCL_LEX_EXPR, "INT:1 EOS INT:3 EOF");
	check("# only a comment", DTCL_LEX_EXPR, "EOF");
	check("SET x # trailing", DTCL_LEX_CMD, "WORD:SET WORD:x EOF");
}

Test(dtcl_lex, keywords_case_insensitive)
{
	static const struct {
		const char *text;
		enum dtcl_kw kw;
	} cases[] = {
		{ "if", DTCL_KW_IF },	    { "Then", DTCL_KW_THEN },
		{ "ELSE", DTCL_KW_ELSE },   { "eNd", DTCL_KW_END },
		{ "While", DTCL_KW_WHILE }, { "do", DTCL_KW_DO },
		{ "FOR", DTCL_KW_FOR },	    { "to", DTCL_KW_TO },
		{ "write", DTCL_KW_WRITE }, { "And", DTCL_KW_AND },
		{ "oR", DTCL_KW_OR },	    { "not", DTCL_KW_NOT },
		{ "connect", DTCL_KW_NONE }, { "iff", DTCL_KW_NONE },
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
		struct dtcl_lexer lx;
		struct dtcl_token t;

		dtcl_lex_init(&lx, cases[i].text);
		cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
		cr_expect_eq(t.kind, DTCL_TOK_WORD);
		cr_expect_eq(t.kw, cases[i].kw, "keyword of %s", cases[i].text);
		cr_expect_str_eq(t.text, cases[i].text, "text kept as written");
		dtcl_lex_token_clear(&t);
	}
}

Test(dtcl_lex, variables_fold_case)
{
	check("$Foo_1 $x", DTCL_LEX_EXPR, "VAR:foo_1 VAR:x EOF");
	check("$1", DTCL_LEX_EXPR, "ERR:bad variable name after '$'");
	check("$", DTCL_LEX_CMD, "ERR:bad variable name after '$'");
}

Test(dtcl_lex, command_words)
{
	check("SET queue.memory=128M", DTCL_LEX_CMD,
	      "WORD:SET WORD:queue.memory = WORD:128M EOF");
	check("host:1500 /dev/loop0 10.0.0.1 ssh://u@h ./x [::1]:9",
	      DTCL_LEX_CMD,
	      "WORD:host:1500 WORD:/dev/loop0 WORD:10.0.0.1 WORD:ssh://u@h "
	      "WORD:./x WORD:[::1]:9 EOF");
	check("x=-1 -v a-b 50% , 7", DTCL_LEX_CMD,
	      "WORD:x = INT:-1 WORD:-v WORD:a-b INT:50 % , INT:7 EOF");
	check("a - 1 / 2", DTCL_LEX_CMD, "WORD:a - INT:1 / INT:2 EOF");
	check("to TO", DTCL_LEX_CMD, "WORD:to WORD:TO EOF");
}

Test(dtcl_lex, modes_differ)
{
	/* In expressions '-' and '/' are operators, words identifiers. */
	check("$a/2-1", DTCL_LEX_EXPR, "VAR:a / INT:2 - INT:1 EOF");
	check("a-1", DTCL_LEX_EXPR, "WORD:a - INT:1 EOF");
	check("a-1", DTCL_LEX_CMD, "WORD:a-1 EOF");
	check("10.0", DTCL_LEX_EXPR, "INT:10 ERR:unexpected character");
}

Test(dtcl_lex, bad_characters)
{
	check("1 @", DTCL_LEX_EXPR, "INT:1 ERR:unexpected character");
	check("!", DTCL_LEX_EXPR,
	      "ERR:unexpected character '!' (use NOT or !=)");
	check("\x01", DTCL_LEX_CMD, "ERR:unexpected character");
}

Test(dtcl_lex, line_numbers)
{
	struct dtcl_lexer lx;
	struct dtcl_token t;
	int lines[8], n = 0;
	enum dtcl_tok_kind kind;

	dtcl_lex_init(&lx, "a\n\nb # c\nc\n");
	do {
		cr_assert_eq(dtcl_lex_next(&lx, DTCL_LEX_EXPR, &t), 0);
		kind = t.kind;
		if (kind != DTCL_TOK_EOS)
			lines[n++] = t.line;
		dtcl_lex_token_clear(&t);
	} while (kind != DTCL_TOK_EOF && n < 8);
	cr_assert_eq(n, 4);
	cr_expect_eq(lines[0], 1);
	cr_expect_eq(lines[1], 3);
	cr_expect_eq(lines[2], 4);
	cr_expect_eq(lines[3], 4, "EOF stays on the last line");
}

Test(dtcl_lex, kind_and_kw_names)
{
	cr_expect_str_eq(dtcl_lex_kw_name(DTCL_KW_WHILE), "WHILE");
	cr_expect_str_eq(dtcl_lex_kind_name(DTCL_TOK_LE), "'<='");
	cr_expect_eq(dtcl_lex_keyword("wHiLe", 5), DTCL_KW_WHILE);
	cr_expect_eq(dtcl_lex_keyword("whi", 3), DTCL_KW_NONE);
}
