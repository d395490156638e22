/* Online latency and token model of an LLM endpoint (see kc_llm_model.h). */
#include "kc_llm_model.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Regressors are scaled so the 3x3 system stays well conditioned: output
 * tokens in hundreds, input tokens in thousands. */
#define OUT_SCALE 100.0
#define IN_SCALE  1000.0

#define CUR_LAMBDA  0.95
#define BASE_LAMBDA 0.995
#define BASE_WARMUP 32  /* calls during which `base` learns from every call */
#define BASE_SLOW   1.5 /* ratio to `base` above which a call counts as congested */
#define TOKEN_ALPHA 0.1
#define MIN_RES     8 /* ratios needed before the measured spread is used */
/* One call moves the fit at most this far from its prediction: a hung call
 * (or one cut by its timeout) is not allowed to redefine the server. */
#define Y_CLIP_LO   0.2
#define Y_CLIP_HI   2.5
#define RES_MAX     20.0
#define CENSORED_UP 1.2
#define HANG_RATIO  2.0 /* a timeout this far past the prediction is a hang */

/* How much the prior counts, per coefficient, in calls' worth of evidence
 * about a *relative* error of the coefficient (a 100% wrong guess costs as
 * much as N calls each mispredicted by a whole one-query call's latency):
 * coefficients of very different sizes are then held alike, a few measured
 * calls outweigh a wrong guess, and what the data cannot tell apart (calls of
 * one size) moves the time to first token more than the time per token, so
 * larger calls are over- rather than under-predicted. The input coefficient
 * is held most: prompt and completion tokens both grow with n. */
static const double prior_calls[3] = {0.05, 0.2, 0.2};
/* Smallest coefficient magnitude the relative weights divide by (scaled units). */
static const double prior_floor[3] = {10.0, 100.0, 1.0};

static void prior_weights(const double theta[3], double w[3])
{
    /* A one-query call's latency under the prior: the error scale. */
    double s = theta[0] + theta[1] * 0.14 + theta[2] * 0.8;

    s = s > 50.0 ? s : 50.0;
    for (int i = 0; i < 3; i++) {
        double p = theta[i] > prior_floor[i] ? theta[i] : prior_floor[i];
        w[i] = prior_calls[i] * (s / p) * (s / p);
    }
}

/* ------------------------------------------------------------- fitting */

static void fit_init(kc_llm_fit_t *f, const double theta[3], double lambda)
{
    memset(f, 0, sizeof(*f));
    f->lambda = lambda;
    prior_weights(theta, f->w);
    for (int i = 0; i < 3; i++) {
        f->a[i][i] = f->w[i];
        f->b[i] = f->w[i] * theta[i];
        f->theta[i] = theta[i];
    }
}

/* Solve the rows and columns of a x = b that `on` selects (others 0) by
 * Gaussian elimination with partial pivoting. @returns 0, or -1 if singular. */
static int solve_sub(const double a[3][3], const double b[3], const bool on[3], double x[3])
{
    double m[3][4];
    int idx[3], n = 0;

    for (int i = 0; i < 3; i++) {
        x[i] = 0.0;
        if (on[i]) {
            idx[n++] = i;
        }
    }
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < n; c++) {
            m[r][c] = a[idx[r]][idx[c]];
        }
        m[r][n] = b[idx[r]];
    }
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++) {
            piv = fabs(m[r][c]) > fabs(m[piv][c]) ? r : piv;
        }
        if (!(fabs(m[piv][c]) > 1e-12)) {
            return -1;
        }
        for (int k = 0; k <= n; k++) {
            double t = m[c][k];
            m[c][k] = m[piv][k];
            m[piv][k] = t;
        }
        for (int r = 0; r < n; r++) {
            double f = r == c ? 0.0 : m[r][c] / m[c][c];
            for (int k = c; k <= n && f != 0.0; k++) {
                m[r][k] -= f * m[c][k];
            }
        }
    }
    for (int r = 0; r < n; r++) {
        x[idx[r]] = m[r][n] / m[r][r];
    }
    return 0;
}

/* Least squares with every coefficient >= 0 (no latency term is negative):
 * a coefficient the free solution makes negative is held at 0 and the rest
 * solved again, so the others still fit the data (clipping it afterwards
 * would leave the fit biased). */
static int solve_nonneg(const double a[3][3], const double b[3], double x[3])
{
    bool on[3] = {true, true, true};

    for (int round = 0; round < 3; round++) {
        int worst = -1;
        if (solve_sub(a, b, on, x) != 0) {
            return -1;
        }
        for (int i = 0; i < 3; i++) {
            if (on[i] && x[i] < 0 && (worst < 0 || x[i] < x[worst])) {
                worst = i;
            }
        }
        if (worst < 0) {
            return 0;
        }
        on[worst] = false;
    }
    return 0;
}

/* One weighted observation; the prior keeps a constant weight (it is added
 * back at the rate it is forgotten), so nothing winds up. */
static void fit_update(kc_llm_fit_t *f, const double prior[3], const double x[3], double y,
                       double weight)
{
    double theta[3];

    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            f->a[i][j] = f->lambda * f->a[i][j] + weight * x[i] * x[j];
        }
        f->a[i][i] += (1.0 - f->lambda) * f->w[i];
        f->b[i] = f->lambda * f->b[i] + weight * x[i] * y + (1.0 - f->lambda) * f->w[i] * prior[i];
    }
    if (solve_nonneg(f->a, f->b, theta) == 0) {
        for (int i = 0; i < 3; i++) {
            f->theta[i] = isfinite(theta[i]) && theta[i] > 0 ? theta[i] : 0.0;
        }
    }
}

double kc_llm_fit_eval(const kc_llm_fit_t *f, double out_tokens, double in_tokens)
{
    double ms =
        f->theta[0] + f->theta[1] * out_tokens / OUT_SCALE + f->theta[2] * in_tokens / IN_SCALE;
    return ms > 0 ? ms : 0;
}

/* ------------------------------------------------------------- model */

static void spread_refresh(kc_llm_model_t *m);

static void prior_theta(const kc_llm_model_prior_t *p, double theta[3])
{
    theta[0] = p->ttft_ms;
    theta[1] = p->ms_per_out_token * OUT_SCALE;
    theta[2] = p->ms_per_in_token * IN_SCALE;
}

void kc_llm_model_init(kc_llm_model_t *m, const kc_llm_model_prior_t *prior)
{
    double theta[3];

    memset(m, 0, sizeof(*m));
    m->prior = *prior;
    prior_theta(prior, theta);
    fit_init(&m->cur, theta, CUR_LAMBDA);
    fit_init(&m->base, theta, BASE_LAMBDA);
    m->out_fixed = prior->out_fixed;
    m->out_per_query = prior->out_per_query;
    m->in_fixed = prior->in_fixed;
    /* Until calls are measured: a conservative spread. */
    m->q50 = 1.0;
    m->q90 = 1.3;
    m->q99 = 1.8;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void kc_llm_model_predict(const kc_llm_model_t *m, size_t n, double q_tokens, kc_llm_pred_t *p)
{
    p->out_tokens = m->out_fixed + m->out_per_query * (double)n;
    p->in_tokens = m->in_fixed + q_tokens;
    if (p->in_tokens < 0) {
        p->in_tokens = 0;
    }
    p->mean_ms = kc_llm_fit_eval(&m->cur, p->out_tokens, p->in_tokens);
    /* Never below the mean: ratios under 1 come from a fit that was still
     * too pessimistic, and a plan must not count on luck. */
    p->p90_ms = p->mean_ms * clampd(m->q90, 1.0, 20.0);
    p->p99_ms = p->mean_ms * clampd(m->q99, 1.0, 50.0);
    if (p->p99_ms < p->p90_ms) {
        p->p99_ms = p->p90_ms;
    }
    p->base_ms = kc_llm_fit_eval(&m->base, p->out_tokens, p->in_tokens);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantiles of the kept ratios. */
static void spread_refresh(kc_llm_model_t *m)
{
    double sorted[KC_LLM_MODEL_RES];
    size_t n = m->res_cnt;

    if (n < MIN_RES) {
        return;
    }
    memcpy(sorted, m->res, n * sizeof(double));
    qsort(sorted, n, sizeof(double), cmp_double);
    m->q50 = sorted[(size_t)(0.50 * (double)(n - 1) + 0.5)];
    m->q90 = sorted[(size_t)(0.90 * (double)(n - 1) + 0.5)];
    m->q99 = sorted[(size_t)(0.99 * (double)(n - 1) + 0.5)];
}

static void tokens_learn(kc_llm_model_t *m, size_t n, double q_tokens, double prompt_tokens,
                         double cached_tokens, double completion_tokens)
{
    if (completion_tokens >= 0 && n > 0) {
        double per = (completion_tokens - m->out_fixed) / (double)n;
        m->out_per_query += TOKEN_ALPHA * ((per > 0 ? per : 0) - m->out_per_query);
    }
    if (prompt_tokens >= 0) {
        double cached = cached_tokens > 0 && cached_tokens <= prompt_tokens ? cached_tokens : 0;
        m->in_fixed += TOKEN_ALPHA * (prompt_tokens - cached - q_tokens - m->in_fixed);
        if (prompt_tokens > 0) {
            m->cached_frac += TOKEN_ALPHA * (cached / prompt_tokens - m->cached_frac);
        }
    }
}

static void residual_add(kc_llm_model_t *m, double ratio)
{
    m->res[m->res_pos] = ratio < RES_MAX ? ratio : RES_MAX;
    m->res_pos = (m->res_pos + 1) % KC_LLM_MODEL_RES;
    m->res_cnt += m->res_cnt < KC_LLM_MODEL_RES;
}

/* Update both fits with one (clipped) latency for these tokens. */
static void fits_update(kc_llm_model_t *m, double out, double in, double latency_ms)
{
    double prior[3], x[3], base_ratio, y, cur = kc_llm_fit_eval(&m->cur, out, in);
    double base = kc_llm_fit_eval(&m->base, out, in);

    x[0] = 1.0;
    x[1] = out / OUT_SCALE;
    x[2] = in / IN_SCALE;
    prior_theta(&m->prior, prior);
    y = cur > 0 ? clampd(latency_ms, cur * Y_CLIP_LO, cur * Y_CLIP_HI) : latency_ms;
    fit_update(&m->cur, prior, x, y, 1.0);
    /* The baseline learns from congested calls only slowly: it is the
     * speed the limiter tries to keep. */
    base_ratio = base > 0 ? latency_ms / base : 1.0;
    y = base > 0 ? clampd(latency_ms, base * Y_CLIP_LO, base * Y_CLIP_HI) : latency_ms;
    fit_update(&m->base, prior, x, y,
               m->samples < BASE_WARMUP || base_ratio <= BASE_SLOW ? 1.0 : 0.2);
}

void kc_llm_model_timeout(kc_llm_model_t *m, size_t n, double q_tokens, double elapsed_ms)
{
    kc_llm_pred_t p;

    if (!(elapsed_ms > 0) || !isfinite(elapsed_ms)) {
        return;
    }
    kc_llm_model_predict(m, n, q_tokens, &p);
    if (elapsed_ms <= p.mean_ms || elapsed_ms > p.mean_ms * HANG_RATIO) {
        /* Cut before it could finish says nothing; far past any plausible
         * slowdown it is a hung call, a fault rather than the server's speed. */
        return;
    }
    /* It had not finished: its latency is more than elapsed, by how much is
     * unknown; a fifth more keeps the model learning upwards. */
    elapsed_ms *= CENSORED_UP;
    /* Not in the spread: a hung call is a fault, not the tail of the
     * latency that hedging and sizing must plan for. */
    fits_update(m, p.out_tokens, p.in_tokens, elapsed_ms);
    m->samples++;
    m->timeouts++;
    spread_refresh(m);
}

void kc_llm_model_observe(kc_llm_model_t *m, size_t n, double q_tokens, double prompt_tokens,
                          double cached_tokens, double completion_tokens, double latency_ms)
{
    kc_llm_pred_t p;
    double out, in;

    if (!(latency_ms >= 0) || !isfinite(latency_ms)) {
        return;
    }
    kc_llm_model_predict(m, n, q_tokens, &p);
    if (p.mean_ms > 0) {
        residual_add(m, latency_ms / p.mean_ms);
    }
    out = completion_tokens >= 0 ? completion_tokens : p.out_tokens;
    if (prompt_tokens >= 0) {
        in = prompt_tokens -
             (cached_tokens > 0 && cached_tokens <= prompt_tokens ? cached_tokens : 0);
    } else {
        in = p.in_tokens;
    }
    fits_update(m, out, in, latency_ms);
    tokens_learn(m, n, q_tokens, prompt_tokens, cached_tokens, completion_tokens);
    m->samples++;
    spread_refresh(m);
}

void kc_llm_model_coef(const kc_llm_model_t *m, double *ttft_ms, double *ms_out, double *ms_in)
{
    *ttft_ms = m->cur.theta[0];
    *ms_out = m->cur.theta[1] / OUT_SCALE;
    *ms_in = m->cur.theta[2] / IN_SCALE;
}
