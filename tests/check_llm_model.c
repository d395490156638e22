/* Unit tests for kc_llm_model: the online latency and token model fits
 * synthetic calls whose true costs are known. */
#include "kc_llm_model.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdint.h>

static const kc_llm_model_prior_t prior = {.ttft_ms = 500,
                                           .ms_per_out_token = 15,
                                           .ms_per_in_token = 0.02,
                                           .out_fixed = 4,
                                           .out_per_query = 12,
                                           .in_fixed = 600};

/* Deterministic uniform in [0,1). */
static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static double normal(uint64_t *s)
{
    double u = rnd(s) + 1e-12, v = rnd(s);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* A server: ttft + per-token costs; out = 4 + 9.5 n tokens. */
typedef struct server_s {
    double ttft, ms_out, ms_in, sigma;
} server_t;

static double serve(const server_t *sv, uint64_t *s, size_t n, double in, double *out)
{
    *out = 4.0 + 9.5 * (double)n;
    return sv->ttft * exp(sv->sigma * normal(s)) + sv->ms_out * *out + sv->ms_in * in;
}

/* One call of n queries with independently varying prompt sizes. */
static void observe_one(kc_llm_model_t *m, const server_t *sv, uint64_t *s, size_t n)
{
    double q_tokens = 25.0 * (double)n + 400.0 * rnd(s), prompt = 600.0 + q_tokens, out;
    double ms = serve(sv, s, n, prompt, &out);

    kc_llm_model_observe(m, n, q_tokens, prompt, 0, out, ms);
}

START_TEST(test_fits_known_costs)
{
    server_t sv = {300, 12, 0.02, 0};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 1;
    double ttft, ms_out, ms_in;

    kc_llm_model_init(&m, &prior);
    for (int i = 0; i < 300; i++) {
        observe_one(&m, &sv, &s, 1 + (size_t)(rnd(&s) * 20));
    }
    kc_llm_model_coef(&m, &ttft, &ms_out, &ms_in);
    ck_assert_msg(fabs(ttft - 300) < 30, "ttft %.1f, want ~300", ttft);
    ck_assert_msg(fabs(ms_out - 12) < 1.2, "ms per output token %.2f, want ~12", ms_out);
    for (size_t n = 1; n <= 20; n += 19) {
        double out, truth;
        kc_llm_model_predict(&m, n, 25.0 * (double)n + 200, &p);
        truth = serve(&sv, &s, n, 600 + 25.0 * (double)n + 200, &out);
        ck_assert_msg(fabs(p.mean_ms - truth) / truth < 0.05, "n=%zu: predicted %.0f, true %.0f", n,
                      p.mean_ms, truth);
        ck_assert_msg(fabs(p.out_tokens - out) < 1.0, "n=%zu: %.1f output tokens, true %.1f", n,
                      p.out_tokens, out);
    }
}
END_TEST

START_TEST(test_collinear_tokens_predict_well)
{
    /* Prompt and completion both grow with n only: the coefficients cannot
     * be told apart, the predictions must still be right. */
    server_t sv = {300, 12, 0.02, 0};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 2;

    kc_llm_model_init(&m, &prior);
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)(rnd(&s) * 16);
        double out, q = 25.0 * (double)n, ms = serve(&sv, &s, n, 600 + q, &out);
        kc_llm_model_observe(&m, n, q, 600 + q, 0, out, ms);
    }
    for (size_t n = 1; n <= 16; n++) {
        double out, truth = serve(&sv, &s, n, 600 + 25.0 * (double)n, &out);
        kc_llm_model_predict(&m, n, 25.0 * (double)n, &p);
        ck_assert_msg(fabs(p.mean_ms - truth) / truth < 0.05, "n=%zu: predicted %.0f, true %.0f", n,
                      p.mean_ms, truth);
        ck_assert_msg(p.p90_ms >= p.mean_ms * 0.95 && p.p99_ms >= p.p90_ms,
                      "n=%zu: mean %.0f p90 %.0f p99 %.0f", n, p.mean_ms, p.p90_ms, p.p99_ms);
    }
}
END_TEST

START_TEST(test_spread_from_residuals)
{
    server_t sv = {300, 12, 0.02, 0.25};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 3;
    int over90 = 0, over99 = 0, trials = 2000;

    kc_llm_model_init(&m, &prior);
    for (int i = 0; i < 300; i++) {
        observe_one(&m, &sv, &s, 4);
    }
    ck_assert_msg(m.q90 > 1.05 && m.q99 >= m.q90, "q90 %.3f q99 %.3f", m.q90, m.q99);
    /* The p90 and p99 must be about right on fresh calls of the same kind. */
    for (int i = 0; i < trials; i++) {
        double out, q = 100.0 + 400.0 * rnd(&s), ms = serve(&sv, &s, 4, 600 + q, &out);
        kc_llm_model_predict(&m, 4, q, &p);
        over90 += ms > p.p90_ms;
        over99 += ms > p.p99_ms;
    }
    ck_assert_msg(over90 > trials * 0.04 && over90 < trials * 0.18, "%d of %d over p90", over90,
                  trials);
    ck_assert_msg(over99 < trials * 0.04, "%d of %d over p99", over99, trials);
}
END_TEST

START_TEST(test_cur_adapts_base_lags)
{
    server_t fast = {300, 12, 0.02, 0}, slow = {300, 24, 0.02, 0};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 4;
    double out, truth;

    kc_llm_model_init(&m, &prior);
    for (int i = 0; i < 200; i++) {
        observe_one(&m, &fast, &s, 1 + (size_t)(rnd(&s) * 10));
    }
    for (int i = 0; i < 60; i++) {
        observe_one(&m, &slow, &s, 1 + (size_t)(rnd(&s) * 10));
    }
    kc_llm_model_predict(&m, 8, 200, &p);
    truth = serve(&slow, &s, 8, 800, &out);
    ck_assert_msg(fabs(p.mean_ms - truth) / truth < 0.15, "cur %.0f, slow server %.0f", p.mean_ms,
                  truth);
    truth = serve(&fast, &s, 8, 800, &out);
    ck_assert_msg(p.base_ms < truth * 1.35, "base %.0f should stay near the fast %.0f", p.base_ms,
                  truth);
}
END_TEST

START_TEST(test_tokens_learned)
{
    server_t sv = {300, 12, 0.02, 0};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 5;

    kc_llm_model_init(&m, &prior);
    kc_llm_model_predict(&m, 10, 250, &p);
    ck_assert_msg(fabs(p.out_tokens - (4 + 12 * 10)) < 0.01, "prior: %.1f", p.out_tokens);
    for (int i = 0; i < 100; i++) {
        observe_one(&m, &sv, &s, 10);
    }
    kc_llm_model_predict(&m, 10, 250, &p);
    ck_assert_msg(fabs(p.out_tokens - 99) < 2, "learned: %.1f output tokens, true 99",
                  p.out_tokens);
    ck_assert_msg(fabs(p.in_tokens - 850) < 60, "learned: %.1f input tokens, true ~850",
                  p.in_tokens);
}
END_TEST

START_TEST(test_timeouts_teach)
{
    /* Learned from one-query calls only, the model cannot tell time to
     * first token from time per token; bigger calls then time out. Their
     * timeouts must teach it that such calls are slower. */
    server_t sv = {60, 20, 0.05, 0};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 6;
    double before;

    kc_llm_model_init(&m, &prior);
    for (int i = 0; i < 100; i++) {
        observe_one(&m, &sv, &s, 1);
    }
    kc_llm_model_predict(&m, 9, 225, &p);
    before = p.p90_ms;
    for (int i = 0; i < 20; i++) {
        kc_llm_model_timeout(&m, 9, 225, 1800); /* cut at a 1.8 s deadline */
    }
    kc_llm_model_predict(&m, 9, 225, &p);
    ck_assert_msg(p.p90_ms > 1800 && p.p90_ms > before,
                  "p90 %.0f ms (before %.0f) after timeouts "
                  "at 1800 ms",
                  p.p90_ms, before);
    /* Once the model expects such a call to run past 1.8 s, further cuts at
     * 1.8 s teach it nothing (the timeout, not the server, ended them). */
    ck_assert_msg(m.timeouts >= 1 && m.timeouts < 20, "%llu of 20 timeouts learned from",
                  (unsigned long long)m.timeouts);
}
END_TEST

START_TEST(test_faster_than_prior)
{
    /* A server 7x faster than the guess must be learned, not averaged with
     * the guess; with calls of one size only, the one size is predicted
     * right and larger calls are over-predicted (the safe side). */
    server_t fast = {40, 2, 0.02, 0}, gpu = {60, 20, 0.05, 0};
    kc_llm_model_prior_t guess = {300, 30, 0.02, 4, 10, 600};
    kc_llm_model_t m;
    kc_llm_pred_t p;
    uint64_t s = 7;
    double out, truth;

    kc_llm_model_init(&m, &guess);
    for (int i = 0; i < 60; i++) {
        observe_one(&m, &fast, &s, 1 + (size_t)(rnd(&s) * 6));
    }
    for (size_t n = 1; n <= 12; n += 11) {
        kc_llm_model_predict(&m, n, 25.0 * (double)n + 200, &p);
        truth = serve(&fast, &s, n, 600 + 25.0 * (double)n + 200, &out);
        ck_assert_msg(fabs(p.mean_ms - truth) / truth < 0.15, "n=%zu: predicted %.0f, true %.0f", n,
                      p.mean_ms, truth);
    }
    kc_llm_model_init(&m, &guess);
    for (int i = 0; i < 60; i++) {
        observe_one(&m, &gpu, &s, 1);
    }
    kc_llm_model_predict(&m, 1, 225, &p);
    truth = serve(&gpu, &s, 1, 825, &out);
    ck_assert_msg(fabs(p.mean_ms - truth) / truth < 0.1,
                  "one-query calls: predicted %.0f, true %.0f", p.mean_ms, truth);
    kc_llm_model_predict(&m, 9, 225, &p);
    truth = serve(&gpu, &s, 9, 825, &out);
    ck_assert_msg(p.mean_ms >= truth * 0.95,
                  "nine queries, never measured: predicted %.0f, true "
                  "%.0f (must not be optimistic)",
                  p.mean_ms, truth);
}
END_TEST

START_TEST(test_bad_input_ignored)
{
    kc_llm_model_t m, before;
    kc_llm_pred_t p;

    kc_llm_model_init(&m, &prior);
    before = m;
    kc_llm_model_observe(&m, 3, 75, 700, 0, 34, NAN);
    kc_llm_model_observe(&m, 3, 75, 700, 0, 34, -5);
    kc_llm_model_observe(&m, 3, 75, 700, 0, 34, INFINITY);
    ck_assert_msg(m.samples == 0 && m.cur.theta[0] == before.cur.theta[0],
                  "NaN, negative and infinite latencies must be ignored");
    /* No usage from the server: estimates stand in, nothing breaks. */
    kc_llm_model_observe(&m, 3, 75, -1, -1, -1, 800);
    kc_llm_model_predict(&m, 3, 75, &p);
    ck_assert(isfinite(p.mean_ms) && p.mean_ms > 0);
    ck_assert_msg(m.out_per_query == prior.out_per_query, "token model must not learn from -1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llm_model");
    TCase *tc = tcase_create("fit");

    tcase_add_test(tc, test_fits_known_costs);
    tcase_add_test(tc, test_collinear_tokens_predict_well);
    tcase_add_test(tc, test_cur_adapts_base_lags);
    tcase_add_test(tc, test_timeouts_teach);
    tcase_add_test(tc, test_faster_than_prior);
    suite_add_tcase(s, tc);
    tc = tcase_create("spread");
    tcase_add_test(tc, test_spread_from_residuals);
    suite_add_tcase(s, tc);
    tc = tcase_create("tokens");
    tcase_add_test(tc, test_tokens_learned);
    tcase_add_test(tc, test_bad_input_ignored);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
