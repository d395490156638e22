/* Latency-gradient concurrency limiter (see kc_limiter.h). */
#include "kc_limiter.h"

#include <math.h>
#include <string.h>

#define TOLERANCE    1.25
#define SMOOTHING    0.2
#define RATIO_MAX    10.0 /* one sample cannot claim more than this */
#define OVERLOAD_CUT 0.9
#define GRADIENT_MIN 0.5

void kc_limiter_init(kc_limiter_t *l, int min, int max, int initial)
{
    memset(l, 0, sizeof(*l));
    l->min = min > 0 ? min : 1;
    l->max = max > l->min ? max : l->min;
    l->limit = initial < l->min ? l->min : initial > l->max ? l->max : initial;
    l->tolerance = TOLERANCE;
    l->smoothing = SMOOTHING;
    l->last_median = 1.0;
    l->since_drop = KC_LIMITER_WIN;
    l->ceiling = l->max;
}

static double median(const kc_limiter_t *l)
{
    double v[KC_LIMITER_WIN];
    int n = l->win_cnt;

    memcpy(v, l->win, sizeof(double) * (size_t)n);
    for (int i = 1; i < n; i++) { /* insertion sort: at most 9 values */
        double x = v[i];
        int j = i - 1;
        for (; j >= 0 && v[j] > x; j--) {
            v[j + 1] = v[j];
        }
        v[j + 1] = x;
    }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void clamp_limit(kc_limiter_t *l)
{
    if (l->limit > l->ceiling) {
        l->limit = l->ceiling;
    }
    if (l->limit < l->min) {
        l->limit = l->min;
    } else if (l->limit > l->max) {
        l->limit = l->max;
    }
}

/* A ceiling learned from overload 429s rises by one now and then: the
 * server's capacity may have grown. */
static void ceiling_probe(kc_limiter_t *l)
{
    if (l->ceiling < l->max && ++l->probe >= 16 * l->ceiling) {
        l->ceiling++;
        l->probe = 0;
        l->admitted_max = 0; /* what the server admits is learned again */
    }
}

void kc_limiter_admitted(kc_limiter_t *l, int inflight)
{
    if (inflight > l->admitted_max) {
        l->admitted_max = inflight;
    }
    l->cap_hits = 0;
}

void kc_limiter_sample(kc_limiter_t *l, double ratio, int inflight)
{
    double m, gradient, growth, target;

    if (!(ratio > 0) || !isfinite(ratio)) {
        l->ignored++;
        return;
    }
    l->win[l->win_pos] = ratio < RATIO_MAX ? ratio : RATIO_MAX;
    l->win_pos = (l->win_pos + 1) % KC_LIMITER_WIN;
    l->win_cnt += l->win_cnt < KC_LIMITER_WIN;
    l->samples++;
    l->since_drop++;
    ceiling_probe(l);
    m = l->last_median = median(l);
    gradient = l->tolerance / m;
    gradient = gradient < GRADIENT_MIN ? GRADIENT_MIN : gradient > 1.0 ? 1.0 : gradient;
    /* Grow only when the server keeps up and the limit is what holds calls
     * back: an idle limiter learns nothing about a higher one. */
    growth = m <= l->tolerance && inflight * 2 >= (int)l->limit ? sqrt(l->limit) : 0.0;
    target = l->limit * gradient + growth;
    l->limit += l->smoothing * (target - l->limit);
    clamp_limit(l);
}

bool kc_limiter_timeout(kc_limiter_t *l, double timeout_ms, double predicted_p99_ms, double base_ms,
                        int inflight)
{
    if (!(timeout_ms > 0) || !(base_ms > 0) || predicted_p99_ms >= timeout_ms) {
        l->ignored++; /* the model said it would not fit: not the server's fault */
        return false;
    }
    kc_limiter_sample(l, timeout_ms / base_ms, inflight);
    return true;
}

void kc_limiter_overload(kc_limiter_t *l, int inflight)
{
    int below = inflight - 1;

    /* One 429 at the top may be chance; two in a row are a cap. "The top": at
     * least as many calls as the server admitted lately (it may count one
     * we no longer do, cut by a timeout: then the cap is below that). */
    if (inflight >= l->admitted_max && ++l->cap_hits >= 2 && below < l->ceiling) {
        /* The server turned a call away with `inflight` running: stay under. */
        l->ceiling = below > l->min ? below : l->min;
        l->probe = 0;
    }
    if (l->since_drop < KC_LIMITER_WIN) {
        clamp_limit(l);
        return; /* one overload episode, one cut */
    }
    l->since_drop = 0;
    l->drops++;
    l->limit *= OVERLOAD_CUT;
    clamp_limit(l);
}

int kc_limiter_limit(const kc_limiter_t *l)
{
    int v = (int)(l->limit + 0.5);
    return v < l->min ? l->min : v;
}
