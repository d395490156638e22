/* Unit tests for libcore/cache/kc_cache_json.c: a cache entry as a JSON line. */
#include "kc_buf.h"
#include "kc_cache_json.h"
#include "kc_err.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kc_key_t KEY = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
#define KEY_HEX "0123456789abcdeffedcba9876543210"

static kc_cache_rec_t sample(void)
{
    kc_cache_rec_t rec = {0};
    rec.norm = "what is \"lc-ms\" \xc3\xa9";
    rec.norm_len = strlen(rec.norm);
    rec.category = "KNOWLEDGE_GRAPH";
    rec.category_len = strlen(rec.category);
    rec.confidence = 0.87f;
    rec.reasoning = "asks\nfor a definition";
    rec.reasoning_len = strlen(rec.reasoning);
    rec.model = "gpt-4o-mini";
    rec.model_len = strlen(rec.model);
    rec.created_at = 1700000000123456LL;
    rec.expires_at = 1700000003723456LL;
    return rec;
}

static void same_str(const char *what, const char *a, size_t alen, const char *b, size_t blen)
{
    if (!b) {
        ck_assert_msg(a == NULL, "%s: expected null", what);
        return;
    }
    ck_assert_msg(a && alen == blen && memcmp(a, b, blen) == 0, "%s: '%.*s' != '%.*s'", what,
                  (int)alen, a ? a : "(null)", (int)blen, b);
}

static void roundtrip(const kc_cache_rec_t *rec)
{
    kc_buf_t line, store;
    kc_cache_rec_t out;
    kc_key_t key;
    char errstr[256];

    kc_buf_init(&line);
    kc_buf_init(&store);
    ck_assert_msg(kc_cache_json_write(&KEY, rec, &line, errstr, sizeof(errstr)) == 0, "write: %s",
                  errstr);
    ck_assert_msg(
        kc_cache_json_parse(line.data, line.len, &key, &out, &store, errstr, sizeof(errstr)) == 0,
        "parse %s: %s", line.data, errstr);
    ck_assert_msg(kc_key_eq(&key, &KEY), "key changed");
    same_str("norm", out.norm, out.norm_len, rec->norm, rec->norm_len);
    same_str("category", out.category, out.category_len, rec->category, rec->category_len);
    same_str("reasoning", out.reasoning, out.reasoning_len, rec->reasoning, rec->reasoning_len);
    same_str("model", out.model, out.model_len, rec->model, rec->model_len);
    ck_assert_msg(out.confidence == rec->confidence, "confidence %.9g != %.9g",
                  (double)out.confidence, (double)rec->confidence);
    ck_assert_msg(out.created_at == rec->created_at && out.expires_at == rec->expires_at,
                  "timestamps changed");
    kc_buf_free(&line);
    kc_buf_free(&store);
}

START_TEST(test_exact_line)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t line;
    char errstr[256];

    rec.norm = "q";
    rec.norm_len = 1;
    rec.reasoning = NULL;
    rec.reasoning_len = 0;
    kc_buf_init(&line);
    ck_assert_int_eq(kc_cache_json_write(&KEY, &rec, &line, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(line.data, "{\"key\":\"" KEY_HEX "\",\"norm\":\"q\",\"category\":"
                                "\"KNOWLEDGE_GRAPH\",\"confidence\":0.87,\"reasoning\":null,"
                                "\"model\":\"gpt-4o-mini\",\"created_at\":1700000000123456,"
                                "\"expires_at\":1700000003723456}");
    kc_buf_free(&line);
}
END_TEST

START_TEST(test_roundtrips)
{
    kc_cache_rec_t rec = sample();
    float confs[] = {0.0f, 1.0f, 0.1f, 0.3333333f, 1e-7f, 0.99999994f};

    roundtrip(&rec);
    rec.model = NULL;
    rec.model_len = 0;
    rec.reasoning = "";
    rec.reasoning_len = 0;
    roundtrip(&rec);
    for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
        rec.confidence = confs[i]; /* exact float after the trip */
        roundtrip(&rec);
    }
}
END_TEST

START_TEST(test_write_errors)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t line;
    char errstr[256];

    kc_buf_init(&line);
    rec.confidence = NAN;
    ck_assert_int_eq(kc_cache_json_write(&KEY, &rec, &line, errstr, sizeof(errstr)), KC_ERR_ENCODE);
    rec = sample();
    rec.reasoning = "bad \xff utf8";
    rec.reasoning_len = strlen(rec.reasoning);
    ck_assert_int_eq(kc_cache_json_write(&KEY, &rec, &line, errstr, sizeof(errstr)), KC_ERR_ENCODE);
    ck_assert_msg(strstr(errstr, "reasoning") != NULL, "error should name the field: %s", errstr);
    kc_buf_free(&line);
}
END_TEST

static void assert_parse_error(const char *text, const char *needle)
{
    kc_buf_t store;
    kc_cache_rec_t rec;
    kc_key_t key;
    char errstr[256] = "";
    int rc;

    kc_buf_init(&store);
    rc = kc_cache_json_parse(text, strlen(text), &key, &rec, &store, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE, "'%s' should be refused (rc %d)", text, rc);
    ck_assert_msg(strstr(errstr, needle) != NULL, "'%s': error '%s' should mention '%s'", text,
                  errstr, needle);
    kc_buf_free(&store);
}

#define GOOD_KEY "\"key\":\"" KEY_HEX "\""
#define REST                                                                                       \
    "\"category\":\"A\",\"confidence\":0.5,\"reasoning\":null,\"model\":null,\"created_at\":1,"    \
    "\"expires_at\":2"

START_TEST(test_parse_errors)
{
    assert_parse_error("", "invalid JSON");
    assert_parse_error("[1]", "not a JSON object");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\"}", "missing");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\"," REST ",\"extra\":1}",
                       "unknown key \"extra\"");
    assert_parse_error("{\"key\":\"0123\",\"norm\":\"q\"," REST "}", "32 hex digits");
    assert_parse_error("{\"key\":\"g123456789abcdeffedcba9876543210\",\"norm\":\"q\"," REST "}",
                       "32 hex digits");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"\"," REST "}", "non-empty");
    assert_parse_error("{" GOOD_KEY ",\"norm\":7," REST "}", "\"norm\" must be a string");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\",\"category\":\"A\",\"confidence\":1.5,"
                       "\"reasoning\":null,\"model\":null,\"created_at\":1,\"expires_at\":2}",
                       "from 0 to 1");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\",\"category\":\"A\",\"confidence\":\"0.5\","
                       "\"reasoning\":null,\"model\":null,\"created_at\":1,\"expires_at\":2}",
                       "confidence");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\",\"category\":\"A\",\"confidence\":0.5,"
                       "\"reasoning\":null,\"model\":null,\"created_at\":\"1\",\"expires_at\":2}",
                       "\"created_at\" must be an integer");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\",\"category\":\"A\",\"confidence\":0.5,"
                       "\"reasoning\":null,\"model\":null,\"created_at\":5,\"expires_at\":2}",
                       "before");
    assert_parse_error("{" GOOD_KEY ",\"norm\":\"q\",\"category\":null,\"confidence\":0.5,"
                       "\"reasoning\":null,\"model\":null,\"created_at\":1,\"expires_at\":2}",
                       "\"category\" must be a string");
    assert_parse_error("{" GOOD_KEY "," GOOD_KEY ",\"norm\":\"q\"," REST "}", "invalid JSON");
}
END_TEST

START_TEST(test_parse_ok_variants)
{
    const char *text = "{\"key\":\"0123456789ABCDEFfedcba9876543210\",\"norm\":\"q\"," REST "}";
    kc_buf_t store;
    kc_cache_rec_t rec;
    kc_key_t key;
    char errstr[256];

    kc_buf_init(&store);
    ck_assert_msg(
        kc_cache_json_parse(text, strlen(text), &key, &rec, &store, errstr, sizeof(errstr)) == 0,
        "upper-case hex: %s", errstr);
    ck_assert_msg(kc_key_eq(&key, &KEY), "upper-case hex parsed to another key");
    ck_assert_msg(rec.reasoning == NULL && rec.model == NULL, "null strings must parse as NULL");
    ck_assert_msg(rec.confidence == 0.5f && rec.created_at == 1 && rec.expires_at == 2,
                  "fields wrong");
    kc_buf_free(&store);
}
END_TEST

static Suite *cache_json_suite(void)
{
    Suite *s = suite_create("cache_json");
    TCase *tc = tcase_create("write");

    tcase_add_test(tc, test_exact_line);
    tcase_add_test(tc, test_roundtrips);
    tcase_add_test(tc, test_write_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_parse_ok_variants);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(cache_json_suite());
}
