/*
 * Unit tests for libcore/wire/kc_types.c: enum symbol names (which must match the
 * Avro enums in schemas/), parsing, and the NULL-safe clear functions.
 */
#include "kc_err.h"
#include "kc_types.h"

#include "kc_check.h"

#include <check.h>

#include <stdlib.h>
#include <string.h>

START_TEST(test_enum_names)
{
    static const char *prio[] = {"LOW", "NORMAL", "HIGH"};
    static const char *policy[] = {"USE", "REFRESH", "BYPASS"};
    static const char *status[] = {"OK", "DEGRADED", "ERROR"};
    static const char *source[] = {"L1", "LMDB", "REDIS", "LLM", "FALLBACK", "NONE"};

    for (int i = 0; i < 3; i++) {
        ck_assert_msg(strcmp(kc_priority_name((kc_priority_t)i), prio[i]) == 0,
                      "priority %d: got %s, want %s", i, kc_priority_name((kc_priority_t)i),
                      prio[i]);
        ck_assert_msg(strcmp(kc_cache_policy_name((kc_cache_policy_t)i), policy[i]) == 0,
                      "cache policy %d: got %s, want %s", i,
                      kc_cache_policy_name((kc_cache_policy_t)i), policy[i]);
        ck_assert_msg(strcmp(kc_status_name((kc_status_t)i), status[i]) == 0,
                      "status %d: got %s, want %s", i, kc_status_name((kc_status_t)i), status[i]);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(strcmp(kc_source_name((kc_source_t)i), source[i]) == 0,
                      "source %d: got %s, want %s", i, kc_source_name((kc_source_t)i), source[i]);
    }
}
END_TEST

START_TEST(test_enum_names_out_of_range)
{
    /* Out-of-range values (e.g. from a corrupt struct) get a placeholder, not a crash. */
    ck_assert_str_eq(kc_priority_name((kc_priority_t)3), "?");
    ck_assert_str_eq(kc_priority_name((kc_priority_t)-1), "?");
    ck_assert_str_eq(kc_cache_policy_name((kc_cache_policy_t)3), "?");
    ck_assert_str_eq(kc_status_name((kc_status_t)3), "?");
    ck_assert_str_eq(kc_source_name((kc_source_t)6), "?");
    ck_assert_str_eq(kc_source_name((kc_source_t)-7), "?");
}
END_TEST

START_TEST(test_parse_roundtrip)
{
    for (int i = 0; i < 3; i++) {
        kc_priority_t p = (kc_priority_t)99;
        kc_cache_policy_t c = (kc_cache_policy_t)99;
        int rc = kc_priority_parse(kc_priority_name((kc_priority_t)i), &p);
        ck_assert_msg(rc == 0 && (int)p == i, "parse(name(priority %d)) gave rc %d value %d", i, rc,
                      (int)p);
        rc = kc_cache_policy_parse(kc_cache_policy_name((kc_cache_policy_t)i), &c);
        ck_assert_msg(rc == 0 && (int)c == i, "parse(name(policy %d)) gave rc %d value %d", i, rc,
                      (int)c);
    }
}
END_TEST

START_TEST(test_parse_rejects)
{
    static const char *bad[] = {"", "low", "High", "NORMAL ", " LOW", "URGENT", "?", "USE"};
    static const char *bad_policy[] = {"", "use", "Refresh", "BYPASS\n", "NORMAL", "?"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kc_priority_t p = KC_PRIO_HIGH;
        int rc = kc_priority_parse(bad[i], &p);
        ck_assert_msg(rc == KC_ERR_INVALID, "priority \"%s\" must be KC_ERR_INVALID, got %d",
                      bad[i], rc);
        ck_assert_msg(p == KC_PRIO_HIGH, "a failed parse must not touch *out (\"%s\")", bad[i]);
    }
    for (size_t i = 0; i < sizeof(bad_policy) / sizeof(bad_policy[0]); i++) {
        kc_cache_policy_t c = KC_CACHE_REFRESH;
        int rc = kc_cache_policy_parse(bad_policy[i], &c);
        ck_assert_msg(rc == KC_ERR_INVALID, "policy \"%s\" must be KC_ERR_INVALID, got %d",
                      bad_policy[i], rc);
        ck_assert_msg(c == KC_CACHE_REFRESH, "a failed parse must not touch *out");
    }
}
END_TEST

START_TEST(test_clear_null_safe)
{
    kc_request_t req = {0};
    kc_result_t res = {0};

    kc_request_clear(NULL);
    kc_result_clear(NULL);
    /* Clearing an already-empty struct, twice, is fine too. */
    kc_request_clear(&req);
    kc_request_clear(&req);
    kc_result_clear(&res);
    kc_result_clear(&res);
}
END_TEST

START_TEST(test_request_clear_frees_and_zeroes)
{
    kc_request_t req = {0};
    kc_request_t zero = {0};

    req.request_id = strdup("id");
    req.query = strdup("q");
    req.query_len = 1;
    req.reply_topic = strdup("topic");
    req.priority = KC_PRIO_HIGH;
    req.created_at = 7;
    req.context_cnt = 2;
    req.context = calloc(2, sizeof(*req.context));
    req.context[0].key = strdup("k");
    req.context[0].value = strdup("v");
    req.context[1].key = strdup("k2");
    req.context[1].value = NULL; /* partially filled entries are freed too */
    kc_request_clear(&req);      /* ASan/valgrind runs catch anything left behind */
    ck_assert_msg(memcmp(&req, &zero, sizeof(req)) == 0, "kc_request_clear must zero the struct");
}
END_TEST

START_TEST(test_result_clear_frees_and_zeroes)
{
    kc_result_t res = {0};
    kc_result_t zero = {0};

    res.request_id = strdup("id");
    res.query_hash = strdup("0123");
    res.category = strdup("cat");
    res.reasoning = strdup("why");
    res.error = NULL;
    res.model = strdup("m");
    res.worker_id = strdup("w");
    res.coalesced = true;
    res.total_us = 5;
    kc_result_clear(&res);
    ck_assert_msg(memcmp(&res, &zero, sizeof(res)) == 0, "kc_result_clear must zero the struct");
}
END_TEST

static Suite *types_suite(void)
{
    Suite *s = suite_create("types");
    TCase *tc;

    tc = tcase_create("names");
    tcase_add_test(tc, test_enum_names);
    tcase_add_test(tc, test_enum_names_out_of_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_roundtrip);
    tcase_add_test(tc, test_parse_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("clear");
    tcase_add_test(tc, test_clear_null_safe);
    tcase_add_test(tc, test_request_clear_frees_and_zeroes);
    tcase_add_test(tc, test_result_clear_frees_and_zeroes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(types_suite());
}
