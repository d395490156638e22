/* Unit tests for the LLM circuit breaker. */
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

/* A flaky server that answers most calls keeps being asked; a dead one trips
 * the breaker even after a long healthy run. */
START_TEST(test_flaky_is_not_dead)
{
    kc_breaker_t b;
    uint64_t s = 1;
    int opened = 0;

    kc_breaker_init(&b, 5, 5000 * MS, 60000 * MS);
    for (int i = 0; i < 100000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        kc_breaker_record(&b, (s >> 33) % 100 >= 35, 0); /* 35% of calls fail */
        opened += b.state == KC_BREAKER_OPEN;
        if (b.state == KC_BREAKER_OPEN) {
            kc_breaker_init(&b, 5, 5000 * MS, 60000 * MS);
        }
    }
    /* Ten in a row happen about every 36,000 calls at 35%: a few 5 s pauses
     * in 100,000 calls, instead of one every ~200 calls with 5 in a row. */
    ck_assert_msg(opened <= 8,
                  "a server failing 35%% of calls opened the breaker %d times in 100,000 calls",
                  opened);
    for (int i = 0; i < 100; i++) {
        kc_breaker_record(&b, true, 0);
    }
    for (int i = 0; i < 10; i++) {
        ck_assert_msg(b.state == KC_BREAKER_CLOSED, "open after %d failures", i);
        kc_breaker_record(&b, false, 0);
    }
    ck_assert_msg(b.state == KC_BREAKER_OPEN,
                  "10 failures in a row (2 x 5) after a healthy run must open it");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("breaker");

    tcase_add_test(tc, test_opens_after_failures);
    tcase_add_test(tc, test_half_open_probe);
    tcase_add_test(tc, test_backoff_doubles_to_cap);
    tcase_add_test(tc, test_flaky_is_not_dead);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
