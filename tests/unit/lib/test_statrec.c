#include "config.h"

#include "statrec.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

/* Writes a record with every kind of value, parses it back. */
Test(statrec, round_trip)
{
	struct util_buf b;
	struct statrec_list l;
	const struct statrec_field *f;
	char err[128];

	util_buf_init(&b);
	statrec_str(&b, "Replication Set", "docs", 4);
	statrec_num(&b, "Sent (Bytes)", 1234567890123);
	statrec_num(&b, "Delta", -5);
	statrec_none(&b, "Connected Since");
	statrec_end(&b);
	statrec_num(&b, "Connection ID", 2);
	statrec_end(&b);
	cr_assert_str_eq(b.data, "Replication Set\t\"docs\"\nSent (Bytes)\t1234567890123\nDelta\t-5\n"
				 "Connected Since\t-\n\nConnection ID\t2\n\n");
	cr_assert_eq(statrec_parse(b.data, &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 2);
	cr_assert_eq(l.v[0].n, 4);
	f = statrec_get(&l.v[0], "Sent (Bytes)");
	cr_assert_not_null(f);
	cr_expect_eq(f->type, STATREC_NUM);
	cr_expect_eq(f->num, 1234567890123);
	cr_expect_eq(statrec_get(&l.v[0], "Delta")->num, -5);
	cr_expect_eq(statrec_get(&l.v[0], "Replication Set")->type, STATREC_STR);
	cr_expect_str_eq(statrec_get(&l.v[0], "Replication Set")->text, "docs");
	cr_expect_eq(statrec_get(&l.v[0], "Connected Since")->type, STATREC_NONE);
	cr_expect_null(statrec_get(&l.v[0], "Nope"));
	cr_expect_eq(statrec_get(&l.v[1], "Connection ID")->num, 2);
	statrec_list_free(&l);
	util_buf_free(&b);
}

/* Control characters, quotes, backslashes and bytes that are not UTF-8 are
 * escaped as \xHH; valid UTF-8 passes as it is. */
Test(statrec, string_escapes)
{
	struct util_buf b;
	const char in[] = "a\tb\nc\"d\\e\x7f" "\xff" "\xc3\xa9" "\xed\xa0\x80" "\xc0\xaf" "\0z";
	struct statrec_list l;
	char err[128];

	util_buf_init(&b);
	statrec_str(&b, "Last File Touched", in, sizeof(in) - 1);
	cr_expect_str_eq(b.data, "Last File Touched\t\"a\\x09b\\x0ac\\x22d\\x5ce\\x7f\\xff\xc3\xa9"
				 "\\xed\\xa0\\x80\\xc0\\xaf\\x00z\"\n");
	statrec_end(&b);
	cr_assert_eq(statrec_parse(b.data, &l, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(l.v[0].f[0].text, "a\\x09b\\x0ac\\x22d\\x5ce\\x7f\\xff\xc3\xa9"
					   "\\xed\\xa0\\x80\\xc0\\xaf\\x00z");
	statrec_list_free(&l);
	util_buf_free(&b);
}

Test(statrec, utf8_len)
{
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"a", 1), 1);
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xc3\xa9", 1), 0, "cut short");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xc1\xbf", 2), 0, "overlong");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xe0\x9f\xbf", 3), 0, "overlong");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xf0\x8f\xbf\xbf", 4), 0, "overlong");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0, "surrogate");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0, "> U+10FFFF");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\x80", 1), 0, "continuation");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"\xc3(", 2), 0, "bad continuation");
	cr_expect_eq(statrec_utf8_len((const unsigned char *)"", 0), 0);
}

static void expect_refused(const char *text, const char *want)
{
	struct statrec_list l = { NULL, 0 };
	char err[128] = "";

	cr_expect_eq(statrec_parse(text, &l, err, sizeof(err)), -1, "accepted: %s", text);
	cr_expect(strstr(err, want), "for %s: '%s' lacks '%s'", text, err, want);
	cr_expect_eq(l.n, 0);
	cr_expect_null(l.v);
}

Test(statrec, parse_refuses_what_the_agent_never_writes)
{
	expect_refused("A\t1\n", "line 2: the last record");
	expect_refused("A\t1", "line 1: the last line does not end");
	expect_refused("A 1\n\n", "line 1: not a name, a TAB");
	expect_refused("\t1\n\n", "line 1: not a name");
	expect_refused("A\t1\nB\t+2\n\n", "line 2: bad value");
	expect_refused("A\t 2\n\n", "bad value");
	expect_refused("A\t-\nB\t--\n\n", "line 2: bad value");
	expect_refused("A\t-\n\nB\t\n\n", "line 3: bad value");
	expect_refused("A\t99999999999999999999\n\n", "bad value");
	expect_refused("A\tabc\n\n", "bad value");
	expect_refused("A\t\"x\"y\"\n\n", "bad string");
	expect_refused("A\t\"x\\n\"\n\n", "bad string");
	expect_refused("A\t\"x\\x4\"\n\n", "bad string");
	expect_refused("A\t\"x\\x4G\"\n\n", "bad string");
	expect_refused("A\t\"x\\xAB\"\n\n", "bad string");
	expect_refused("A\t\"\xff\"\n\n", "bad string");
	expect_refused("A\t\"a\tb\"\n\n", "bad string");
	expect_refused("A\t\"\n\n", "bad value");
}

Test(statrec, parse_empty_and_extra_blank_lines)
{
	struct statrec_list l;
	char err[128];

	cr_assert_eq(statrec_parse("", &l, err, sizeof(err)), 0);
	cr_expect_eq(l.n, 0);
	statrec_list_free(&l);
	cr_assert_eq(statrec_parse("\nA\t\"\"\n\n\nB\t0\n\n", &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(l.v[0].f[0].text, "");
	cr_expect_eq(l.v[0].f[0].type, STATREC_STR);
	statrec_list_free(&l);
}

Test(statrec, json_string_escapes)
{
	struct util_buf b;
	const char in[] = "q\"b\\n\nt\tr\r\x01\x1f\x7f" "\xc3\xa9\xff!";

	util_buf_init(&b);
	statrec_json_string(&b, in, sizeof(in) - 1);
	cr_expect_str_eq(b.data, "\"q\\\"b\\\\n\\nt\\tr\\r\\u0001\\u001f\x7f\xc3\xa9\\ufffd!\"");
	util_buf_free(&b);
}

Test(statrec, json_records)
{
	struct util_buf b, js;
	struct statrec_list l;
	char err[128];

	util_buf_init(&b);
	util_buf_init(&js);
	statrec_list_free(&(struct statrec_list){ NULL, 0 });
	cr_assert_eq(statrec_parse("", &l, err, sizeof(err)), 0);
	statrec_json(&js, &l);
	cr_expect_str_eq(js.data, "[]");
	util_buf_reset(&js);
	statrec_str(&b, "Set \"x\"", "a\\b\x01", 4);
	statrec_num(&b, "Sent (Bytes)", 42);
	statrec_none(&b, "Since");
	statrec_end(&b);
	statrec_num(&b, "Connection ID", 7);
	statrec_end(&b);
	cr_assert_eq(statrec_parse(b.data, &l, err, sizeof(err)), 0, "%s", err);
	statrec_json(&js, &l);
	cr_expect_str_eq(js.data, "[{\"Set \\\"x\\\"\":\"a\\\\x5cb\\\\x01\",\"Sent (Bytes)\":42,\"Since\":null},"
				  "{\"Connection ID\":7}]");
	statrec_list_free(&l);
	util_buf_free(&js);
	util_buf_free(&b);
}
