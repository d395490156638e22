/* Unit tests for the LLM circuit breaker and the AIMD concurrency limit. */
#include "kc_breaker.h"

#include "kc_check.h"

#include <check.h>

#define MS 1000

START_TEST(test_opens_after_failures)
{
    kc_breaker_t b;

    kc_breaker_init(&b, 3, 5000 * MS, 60000 * MS);
    for (int i = 0; i < 2; i++) {
        ck_assert(kc_breaker_allow(&b, 0));
        kc_breaker_record(&b, false, 0);
    }
    ck_assert_msg(b.state == KC_BREAKER_CLOSED, "2 of 3 failures must not open it");
    kc_breaker_record(&b, true, 0);
    kc_breaker_record(&b, false, 0);
    kc_breaker_record(&b, false, 0);
    ck_assert_msg(b.state == KC_BREAKER_CLOSED, "a success resets the count");
    kc_breaker_record(&b, false, 10);
    ck_assert_int_eq(b.state, KC_BREAKER_OPEN);
    ck_assert_msg(!kc_breaker_allow(&b, 10 + 4999 * MS), "open: no call before open.ms");
}
END_TEST

START_TEST(test_half_open_probe)
{
    kc_breaker_t b;

    kc_breaker_init(&b, 1, 5000 * MS, 60000 * MS);
    kc_breaker_record(&b, false, 0);
    ck_assert(kc_breaker_allow(&b, 5000 * MS));
    ck_assert_int_eq(b.state, KC_BREAKER_HALF_OPEN);
    ck_assert_msg(!kc_breaker_allow(&b, 5000 * MS), "only one probe at a time");
    kc_breaker_record(&b, true, 5100 * MS);
    ck_assert_int_eq(b.state, KC_BREAKER_CLOSED);
    ck_assert(kc_breaker_allow(&b, 5100 * MS));
}
END_TEST

/* Failed probes double the open time up to the cap; a success resets it. */
START_TEST(test_backoff_doubles_to_cap)
{
    kc_breaker_t b;
    int64_t now = 0, expect[] = {10000, 20000, 40000, 60000, 60000};

    kc_breaker_init(&b, 1, 5000 * MS, 60000 * MS);
    kc_breaker_record(&b, false, now);
    for (int i = 0; i < 5; i++) {
        now = b.open_until;
        ck_assert(kc_breaker_allow(&b, now));
        kc_breaker_record(&b, false, now);
        ck_assert_msg(b.open_until - now == expect[i] * MS, "probe %d: open for %lld ms, want %lld",
                      i, (long long)((b.open_until - now) / MS), (long long)expect[i]);
    }
    now = b.open_until;
    ck_assert(kc_breaker_allow(&b, now));
    kc_breaker_record(&b, true, now);
    kc_breaker_record(&b, false, now);
    ck_assert_msg(b.open_until - now == 5000 * MS, "after closing, the open time starts again");
}
END_TEST

START_TEST(test_aimd)
{
    kc_aimd_t a;

    kc_aimd_init(&a, 8);
    ck_assert_int_eq(a.limit, 8);
    kc_aimd_record(&a, true, false);
    ck_assert_int_eq(a.limit, 4);
    kc_aimd_record(&a, true, false);
    kc_aimd_record(&a, true, false);
    kc_aimd_record(&a, true, false);
    ck_assert_msg(a.limit == 1, "never below 1, got %d", a.limit);
    kc_aimd_record(&a, false, true);
    ck_assert_msg(a.limit == 2, "a window of 1 success at limit 1 adds one, got %d", a.limit);
    kc_aimd_record(&a, false, true);
    ck_assert_int_eq(a.limit, 2);
    kc_aimd_record(&a, false, true);
    ck_assert_int_eq(a.limit, 3);
    for (int i = 0; i < 100; i++) {
        kc_aimd_record(&a, false, true);
    }
    ck_assert_msg(a.limit == 8, "never above max, got %d", a.limit);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("breaker");

    tcase_add_test(tc, test_opens_after_failures);
    tcase_add_test(tc, test_half_open_probe);
    tcase_add_test(tc, test_backoff_doubles_to_cap);
    suite_add_tcase(s, tc);
    tc = tcase_create("aimd");
    tcase_add_test(tc, test_aimd);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
