/* Unit tests for kc_llm_plan: call sizes and timeouts from deadlines and a
 * model whose latency grows with output tokens. */
#include "kc_llm_plan.h"

#include "kc_check.h"

#include <check.h>
#include <stdint.h>

#define MS  1000LL
#define NOW (1700000000LL * 1000000LL)

/* ~an API: 300 ms to first token, 12 ms per output token, 4 + 10 n tokens. */
static const kc_llm_model_prior_t api = {.ttft_ms = 300,
                                         .ms_per_out_token = 12,
                                         .ms_per_in_token = 0.02,
                                         .out_fixed = 4,
                                         .out_per_query = 10,
                                         .in_fixed = 500};

static kc_llm_model_t m;

static void setup(void)
{
    kc_llm_model_init(&m, &api);
}

static void cands(kc_plan_cand_t *c, size_t n, int64_t deadline)
{
    for (size_t i = 0; i < n; i++) {
        c[i].deadline_us = deadline;
        c[i].q_tokens = 20;
    }
}

/* The largest k whose p90 fits, by brute force. */
static size_t brute_k(size_t max, int64_t budget_us)
{
    size_t best = 0;
    for (size_t k = 1; k <= max; k++) {
        kc_llm_pred_t p;
        kc_llm_model_predict(&m, k, 20.0 * (double)k, &p);
        if (p.p90_ms * 1000 <= (double)budget_us) {
            best = k;
        }
    }
    return best;
}

START_TEST(test_sized_to_deadline)
{
    kc_plan_cand_t c[64];
    kc_plan_t p;

    cands(c, 64, NOW + 2000 * MS);
    kc_llm_plan(&m, c, 64, 64, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == brute_k(64, 1900 * MS), "k %zu, the largest fitting is %zu", p.k,
                  brute_k(64, 1900 * MS));
    ck_assert_msg(p.k >= 5 && p.k <= 12, "a 2 s deadline on this model allows ~8 queries, got %zu",
                  p.k);
    ck_assert_msg(p.pred.p90_ms <= 1900, "p90 %.0f ms must fit 1900", p.pred.p90_ms);
}
END_TEST

START_TEST(test_want_caps)
{
    kc_plan_cand_t c[64];
    kc_plan_t p;

    cands(c, 64, NOW + 2000 * MS);
    kc_llm_plan(&m, c, 64, 2, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 2, "slots to spare: 2 wanted, got %zu", p.k);
    kc_llm_plan(&m, c, 3, 64, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 3, "only 3 candidates, got %zu", p.k);
}
END_TEST

START_TEST(test_tightest_deadline_rules)
{
    kc_plan_cand_t c[8];
    kc_plan_t p;

    cands(c, 8, NOW + 2000 * MS);
    c[2].deadline_us = NOW + 750 * MS; /* the third one has little time left */
    kc_llm_plan(&m, c, 8, 8, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 2, "the third query's deadline stops the call at 2, got %zu", p.k);
}
END_TEST

START_TEST(test_doomed_head)
{
    kc_plan_cand_t c[4];
    kc_plan_t p;

    cands(c, 4, NOW + 2000 * MS);
    c[0].deadline_us = NOW + 300 * MS;
    kc_llm_plan(&m, c, 4, 4, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 0, "a head with 200 ms left cannot be answered, got k=%zu", p.k);
    ck_assert(!kc_llm_plan_fits(&m, 20, NOW + 300 * MS, NOW, 100 * MS));
    ck_assert(kc_llm_plan_fits(&m, 20, NOW + 2000 * MS, NOW, 100 * MS));
    ck_assert(!kc_llm_plan_fits(&m, 20, NOW - 5 * MS, NOW, 100 * MS));
    ck_assert(kc_llm_plan_fits(&m, 20, KC_PLAN_NO_DEADLINE, NOW, 100 * MS));
}
END_TEST

/* One query with more time than a mean call but less than a p90 one still
 * goes (a fair chance beats an early fallback); with less than a mean call,
 * it does not. */
START_TEST(test_lone_long_shot)
{
    kc_plan_cand_t c[1];
    kc_llm_pred_t one;
    kc_plan_t p;
    int64_t mid;

    kc_llm_model_predict(&m, 1, 20, &one);
    ck_assert_msg(one.p90_ms > one.mean_ms + 10, "the model needs a spread (mean %.0f, p90 %.0f)",
                  one.mean_ms, one.p90_ms);
    mid = (int64_t)((one.mean_ms + one.p90_ms) / 2 * 1000);
    cands(c, 1, NOW + 100 * MS + mid);
    kc_llm_plan(&m, c, 1, 8, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 1, "between mean and p90: a lone query is tried, got k=%zu", p.k);
    ck_assert_msg(p.timeout_us >= (int64_t)(one.p99_ms * 1000), "timeout %lld below the p99",
                  (long long)p.timeout_us);
    cands(c, 1, NOW + 100 * MS + (int64_t)(one.mean_ms * 1000) - 50 * MS);
    kc_llm_plan(&m, c, 1, 8, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 0, "less than a mean call: not tried, got k=%zu", p.k);
}
END_TEST

START_TEST(test_timeouts)
{
    kc_plan_cand_t c[4];
    kc_plan_t p;

    cands(c, 4, NOW + 2000 * MS);
    c[1].deadline_us = NOW + 5000 * MS;
    kc_llm_plan(&m, c, 4, 4, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 4 && p.timeout_us == 5000 * MS,
                  "a call may run until its latest deadline: k %zu timeout %lld", p.k,
                  (long long)p.timeout_us);
    kc_llm_plan(&m, c, 4, 4, NOW, 100 * MS, 3000 * MS, &p);
    ck_assert_msg(p.timeout_us == 3000 * MS, "never past the ceiling, got %lld",
                  (long long)p.timeout_us);
    /* Cache filling: no deadline; twice the p99 plus a second. */
    cands(c, 4, KC_PLAN_NO_DEADLINE);
    kc_llm_plan(&m, c, 4, 4, NOW, 100 * MS, 30000 * MS, &p);
    ck_assert_msg(p.k == 4, "no deadline: as many as wanted, got %zu", p.k);
    ck_assert_msg(p.timeout_us == (int64_t)(p.pred.p99_ms * 1000) * 2 + 1000 * MS,
                  "fill timeout %lld for p99 %.0f ms", (long long)p.timeout_us, p.pred.p99_ms);
}
END_TEST

START_TEST(test_faster_server_bigger_calls)
{
    kc_llm_model_prior_t gpu = api;
    kc_plan_cand_t c[64];
    kc_plan_t slow, fast;

    cands(c, 64, NOW + 2000 * MS);
    kc_llm_plan(&m, c, 64, 64, NOW, 100 * MS, 30000 * MS, &slow);
    gpu.ttft_ms = 60;
    gpu.ms_per_out_token = 6;
    kc_llm_model_init(&m, &gpu);
    kc_llm_plan(&m, c, 64, 64, NOW, 100 * MS, 30000 * MS, &fast);
    ck_assert_msg(fast.k > slow.k * 3 / 2, "a faster decoder takes more per call: %zu vs %zu",
                  fast.k, slow.k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llm_plan");
    TCase *tc = tcase_create("size");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_sized_to_deadline);
    tcase_add_test(tc, test_want_caps);
    tcase_add_test(tc, test_tightest_deadline_rules);
    tcase_add_test(tc, test_doomed_head);
    tcase_add_test(tc, test_lone_long_shot);
    tcase_add_test(tc, test_faster_server_bigger_calls);
    suite_add_tcase(s, tc);
    tc = tcase_create("timeout");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_timeouts);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
