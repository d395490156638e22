/* Unit tests for kc_limiter: the latency-based concurrency limit against a
 * simulated server that slows down past its knee. */
#include "kc_limiter.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdint.h>

static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* A saturated worker (it always has work) against a server whose decode
 * slows in proportion beyond `knee` calls: feed n samples. */
static void run_knee(kc_limiter_t *l, double knee, int n, uint64_t *s)
{
    for (int i = 0; i < n; i++) {
        int inflight = kc_limiter_limit(l);
        double slow = inflight > knee ? inflight / knee : 1.0;
        kc_limiter_sample(l, slow * (0.95 + 0.1 * rnd(s)), inflight);
    }
}

START_TEST(test_grows_to_knee_and_stays)
{
    kc_limiter_t l;
    uint64_t s = 1;

    kc_limiter_init(&l, 4, 64, 8);
    run_knee(&l, 16, 600, &s);
    ck_assert_msg(kc_limiter_limit(&l) >= 14 && kc_limiter_limit(&l) <= 26,
                  "knee 16: limit %d, want about 16..20 (tolerance 1.25)", kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_shrinks_when_server_slows)
{
    kc_limiter_t l;
    uint64_t s = 2;

    kc_limiter_init(&l, 4, 64, 64);
    run_knee(&l, 64, 100, &s);
    ck_assert_msg(kc_limiter_limit(&l) == 64, "no slowdown: stays at max, got %d",
                  kc_limiter_limit(&l));
    run_knee(&l, 12, 300, &s); /* the server now saturates at 12 */
    ck_assert_msg(kc_limiter_limit(&l) <= 18, "server slowed: limit %d, want <= 18",
                  kc_limiter_limit(&l));
    ck_assert_msg(kc_limiter_limit(&l) >= 10, "but not collapsed: %d", kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_self_inflicted_timeouts_ignored)
{
    kc_limiter_t l;

    kc_limiter_init(&l, 4, 64, 32);
    for (int i = 0; i < 1000; i++) {
        /* the model predicted 2.5 s, the call's deadline allowed 1.5 s */
        ck_assert(!kc_limiter_timeout(&l, 1500, 2500, 900, 32));
    }
    ck_assert_msg(kc_limiter_limit(&l) == 32,
                  "timeouts the model foresaw must not shrink the "
                  "limit (got %d)",
                  kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_real_timeouts_shrink_but_floor)
{
    kc_limiter_t l;

    kc_limiter_init(&l, 4, 64, 32);
    for (int i = 0; i < 1000; i++) {
        /* predicted p99 0.8 s, still running at 2 s: the server is slow */
        ck_assert(kc_limiter_timeout(&l, 2000, 800, 500, 32));
    }
    ck_assert_msg(kc_limiter_limit(&l) == 4, "sustained slow calls go down to the floor, got %d",
                  kc_limiter_limit(&l));
    for (int i = 0; i < 200; i++) {
        kc_limiter_sample(&l, 1.0, kc_limiter_limit(&l));
    }
    ck_assert_msg(kc_limiter_limit(&l) >= 32, "and recover when calls are fast again, got %d",
                  kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_one_hang_does_not_move_it)
{
    kc_limiter_t l;

    kc_limiter_init(&l, 4, 64, 40);
    for (int i = 0; i < 200; i++) {
        kc_limiter_sample(&l, i % 20 == 0 ? 10.0 : 1.0, 40); /* 5% hung calls */
    }
    ck_assert_msg(kc_limiter_limit(&l) >= 40, "isolated outliers: limit %d, want >= 40",
                  kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_grows_only_when_used)
{
    kc_limiter_t l;

    kc_limiter_init(&l, 4, 64, 8);
    for (int i = 0; i < 500; i++) {
        kc_limiter_sample(&l, 1.0, 2); /* two calls at a time: the limit is not what binds */
    }
    ck_assert_msg(kc_limiter_limit(&l) == 8, "an idle limit must not grow, got %d",
                  kc_limiter_limit(&l));
}
END_TEST

START_TEST(test_overload_429)
{
    kc_limiter_t l;

    kc_limiter_init(&l, 4, 64, 40);
    kc_limiter_overload(&l, 60); /* a busy server, far above our limit: a 10% cut */
    ck_assert_int_eq(kc_limiter_limit(&l), 36);
    for (int i = 0; i < 50; i++) {
        kc_limiter_overload(&l, 60); /* the same episode: no sample in between */
    }
    ck_assert_msg(kc_limiter_limit(&l) == 36, "one cut per episode, got %d", kc_limiter_limit(&l));
    kc_limiter_sample(&l, NAN, 36);
    kc_limiter_sample(&l, -1, 36);
    ck_assert_uint_eq(l.ignored, 2);
}
END_TEST

/* A server that admits `cap` calls and turns the rest away with a 429. */
START_TEST(test_finds_server_cap)
{
    kc_limiter_t l;
    int overloads = 0, cap = 48;

    kc_limiter_init(&l, 4, 64, 8);
    for (int i = 0; i < 5000; i++) {
        int inflight = kc_limiter_limit(&l);
        if (inflight > cap) {
            kc_limiter_overload(&l, inflight);
            overloads++;
        } else {
            kc_limiter_admitted(&l, inflight);
            kc_limiter_sample(&l, 1.0, inflight);
        }
    }
    ck_assert_msg(kc_limiter_limit(&l) >= cap - 6 && kc_limiter_limit(&l) <= cap,
                  "limit %d, server cap %d", kc_limiter_limit(&l), cap);
    ck_assert_msg(overloads < 80, "%d overload 429s in 5000 calls: the cap must be learned",
                  overloads);
}
END_TEST

/* A flaky gateway: 10% of calls get a 429 whatever the load. */
START_TEST(test_random_429s_do_not_pin)
{
    kc_limiter_t l;
    uint64_t s = 9;

    kc_limiter_init(&l, 4, 64, 8);
    for (int i = 0; i < 3000; i++) {
        int inflight = kc_limiter_limit(&l);
        if (rnd(&s) < 0.10) {
            kc_limiter_overload(&l, inflight);
        } else {
            kc_limiter_admitted(&l, inflight);
            kc_limiter_sample(&l, 1.0, inflight);
        }
    }
    /* Two in a row at the top now and then look like a cap: the limit
     * settles around half its max, far from the floor. */
    ck_assert_msg(kc_limiter_limit(&l) >= 20, "random 429s pinned the limit at %d",
                  kc_limiter_limit(&l));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limiter");
    TCase *tc = tcase_create("knee");

    tcase_add_test(tc, test_grows_to_knee_and_stays);
    tcase_add_test(tc, test_shrinks_when_server_slows);
    tcase_add_test(tc, test_grows_only_when_used);
    suite_add_tcase(s, tc);
    tc = tcase_create("signals");
    tcase_add_test(tc, test_self_inflicted_timeouts_ignored);
    tcase_add_test(tc, test_real_timeouts_shrink_but_floor);
    tcase_add_test(tc, test_one_hang_does_not_move_it);
    tcase_add_test(tc, test_overload_429);
    tcase_add_test(tc, test_finds_server_cap);
    tcase_add_test(tc, test_random_429s_do_not_pin);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
