#include "kc_err.h"
#include "kc_result_json.h"

#include "kc_check.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char errstr[256];

static void fill(kc_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->request_id = "0b7c3c1e-1d8e-4a5f-9d1c-2f8a3c9e6b10";
    res->query_hash = "00112233445566778899aabbccddeeff";
    res->category = "REAL_TIME";
    res->confidence = 0.9f;
    res->reasoning = "asks for \"latest\" news";
    res->status = KC_STATUS_OK;
    res->source = KC_SRC_LLM;
    res->coalesced = true;
    res->model = "gpt-4o-mini";
    res->batch_size = 8;
    res->worker_id = "w-1";
    res->created_at = 1700000000000001LL;
    res->consumed_at = 1700000000000100LL;
    res->replied_at = 1700000000900000LL;
    res->queue_us = 99;
    res->cache_us = 12;
    res->llm_us = 850000;
    res->total_us = 899999;
    res->deadline_met = false;
}

/* Write res and parse the text back; the caller owns the returned object. */
static json_t *roundtrip(const kc_result_t *res, const char *query, size_t qlen, kc_buf_t *out)
{
    json_error_t jerr;
    json_t *j;
    int rc;

    kc_buf_init(out);
    rc = kc_result_json_write(res, query, qlen, out, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "write: %s", errstr);
    ck_assert_msg(strchr(out->data, '\n') == NULL, "output must be a single line: %s", out->data);
    j = json_loadb(out->data, out->len, JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(j != NULL, "output is not JSON (%s): %s", jerr.text, out->data);
    return j;
}

START_TEST(test_all_fields_in_order)
{
    static const char *keys[] = {
        "request_id", "query",      "query_hash",  "category",   "confidence", "reasoning",
        "status",     "error",      "source",      "coalesced",  "model",      "batch_size",
        "worker_id",  "created_at", "consumed_at", "replied_at", "queue_us",   "cache_us",
        "llm_us",     "total_us",   "deadline_met"};
    kc_result_t res;
    kc_buf_t out;
    const char *prev = NULL;

    fill(&res);
    json_t *j = roundtrip(&res, "latest metformin news?", 22, &out);
    ck_assert_msg(json_object_size(j) == sizeof(keys) / sizeof(keys[0]), "%zu keys in %s",
                  json_object_size(j), out.data);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char needle[64];
        const char *at;
        snprintf(needle, sizeof(needle), "\"%s\":", keys[i]);
        at = strstr(out.data, needle);
        ck_assert_msg(at != NULL, "key %s missing from %s", keys[i], out.data);
        ck_assert_msg(prev == NULL || at > prev, "key %s out of order in %s", keys[i], out.data);
        prev = at;
    }
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

START_TEST(test_values)
{
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    json_t *j = roundtrip(&res, "latest metformin news?", 22, &out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "request_id")), res.request_id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "query")), "latest metformin news?");
    ck_assert_str_eq(json_string_value(json_object_get(j, "query_hash")), res.query_hash);
    ck_assert_str_eq(json_string_value(json_object_get(j, "category")), "REAL_TIME");
    ck_assert_str_eq(json_string_value(json_object_get(j, "reasoning")), res.reasoning);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "OK");
    ck_assert_msg(json_is_null(json_object_get(j, "error")), "NULL error must be null");
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "LLM");
    ck_assert_msg(json_is_true(json_object_get(j, "coalesced")), "coalesced true");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "gpt-4o-mini");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "batch_size")), 8);
    ck_assert_str_eq(json_string_value(json_object_get(j, "worker_id")), "w-1");
    ck_assert_msg(json_integer_value(json_object_get(j, "created_at")) == res.created_at,
                  "64-bit timestamps must survive");
    ck_assert_msg(json_integer_value(json_object_get(j, "replied_at")) == res.replied_at,
                  "replied_at");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "consumed_at")), res.consumed_at);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "queue_us")), 99);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "cache_us")), 12);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "llm_us")), 850000);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total_us")), 899999);
    ck_assert_msg(json_is_false(json_object_get(j, "deadline_met")), "deadline_met false");
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

START_TEST(test_nulls_and_error_result)
{
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    res.reasoning = NULL;
    res.model = NULL;
    res.status = KC_STATUS_ERROR;
    res.error = "query is not valid UTF-8";
    res.source = KC_SRC_NONE;
    json_t *j = roundtrip(&res, NULL, 0, &out);
    ck_assert_msg(json_is_null(json_object_get(j, "query")), "NULL query must be null");
    ck_assert_msg(json_is_null(json_object_get(j, "reasoning")), "NULL reasoning -> null");
    ck_assert_msg(json_is_null(json_object_get(j, "model")), "NULL model -> null");
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ERROR");
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")), res.error);
    ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "NONE");
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

/* ---- confidence digits -------------------------------------------------- */

START_TEST(test_confidence_shortest)
{
    static const struct {
        float f;
        const char *text;
    } cases[] = {{0.9f, "\"confidence\":0.9,"},
                 {0.1f, "\"confidence\":0.1,"},
                 {1.0f, "\"confidence\":1.0,"},
                 {0.0f, "\"confidence\":0.0,"},
                 {0.123456791f, "\"confidence\":0.12345679,"}};
    kc_result_t res;
    kc_buf_t out;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fill(&res);
        res.confidence = cases[i].f;
        json_t *j = roundtrip(&res, "q", 1, &out);
        ck_assert_msg(strstr(out.data, cases[i].text) != NULL, "want %s in %s", cases[i].text,
                      out.data);
        ck_assert_msg((float)json_real_value(json_object_get(j, "confidence")) == cases[i].f,
                      "confidence must read back as the same float");
        json_decref(j);
        kc_buf_free(&out);
    }
}
END_TEST

START_TEST(test_confidence_nan)
{
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    res.confidence = NAN;
    json_t *j = roundtrip(&res, "q", 1, &out);
    ck_assert_msg(json_is_null(json_object_get(j, "confidence")), "NaN is not JSON: want null");
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

/* ---- bytes ------------------------------------------------------------- */

START_TEST(test_query_nul_and_unicode)
{
    const char q[] = "caf\xC3\xA9\0x";
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    json_t *j = roundtrip(&res, q, sizeof(q) - 1, &out);
    json_t *jq = json_object_get(j, "query");
    ck_assert_msg(json_string_length(jq) == sizeof(q) - 1, "NUL must be kept: %s", out.data);
    ck_assert_msg(memcmp(json_string_value(jq), q, sizeof(q) - 1) == 0, "bytes differ");
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

START_TEST(test_query_invalid_utf8_replaced)
{
    const char q[] = "bad \xC3 byte \xFF!";
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    json_t *j = roundtrip(&res, q, sizeof(q) - 1, &out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "query")),
                     "bad \xEF\xBF\xBD byte \xEF\xBF\xBD!");
    json_decref(j);
    kc_buf_free(&out);
}
END_TEST

START_TEST(test_sanitize)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "plain"},
        {"", 0, ""},
        {"\xE2\x82\xAC euro", 8, "\xE2\x82\xAC euro"},               /* valid 3-byte */
        {"\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80"},                 /* valid 4-byte */
        {"\xE2\x82", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* truncated */
        {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong */
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"a\x80"
         "b",
         3,
         "a\xEF\xBF\xBD"
         "b"}, /* stray continuation */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kc_buf_t out;
        kc_buf_init(&out);
        ck_assert_int_eq(kc_result_json_sanitize(cases[i].in, cases[i].len, &out), 0);
        ck_assert_msg(out.len == strlen(cases[i].want) &&
                          memcmp(out.data, cases[i].want, out.len) == 0,
                      "case %zu: got %zu bytes '%s'", i, out.len, out.data);
        kc_buf_free(&out);
    }
}
END_TEST

START_TEST(test_appends)
{
    kc_result_t res;
    kc_buf_t out;

    fill(&res);
    kc_buf_init(&out);
    kc_buf_puts(&out, "prefix ");
    ck_assert_int_eq(kc_result_json_write(&res, "q", 1, &out, errstr, sizeof(errstr)), 0);
    ck_assert_msg(strncmp(out.data, "prefix {\"request_id\":", 21) == 0,
                  "must append after existing content: %s", out.data);
    kc_buf_free(&out);
}
END_TEST

static Suite *result_json_suite(void)
{
    Suite *s = suite_create("result_json");
    TCase *tc;

    tc = tcase_create("fields");
    tcase_add_test(tc, test_all_fields_in_order);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_nulls_and_error_result);
    tcase_add_test(tc, test_appends);
    suite_add_tcase(s, tc);
    tc = tcase_create("confidence");
    tcase_add_test(tc, test_confidence_shortest);
    tcase_add_test(tc, test_confidence_nan);
    suite_add_tcase(s, tc);
    tc = tcase_create("bytes");
    tcase_add_test(tc, test_query_nul_and_unicode);
    tcase_add_test(tc, test_query_invalid_utf8_replaced);
    tcase_add_test(tc, test_sanitize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(result_json_suite());
}
