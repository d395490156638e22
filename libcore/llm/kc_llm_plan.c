/* Call sizing from deadlines and the latency model (see kc_llm_plan.h). */
#include "kc_llm_plan.h"

static int64_t ms_to_us(double ms)
{
    double us = ms * 1000.0;
    return us >= 9.0e18 ? INT64_MAX : us <= 0 ? 0 : (int64_t)us;
}

/* Time left before deadline - margin, overflow-safe. */
static int64_t budget_us(int64_t deadline_us, int64_t now, int64_t margin_us)
{
    if (deadline_us == KC_PLAN_NO_DEADLINE) {
        return INT64_MAX;
    }
    if (deadline_us < now) {
        return -1;
    }
    return deadline_us - now - margin_us;
}

bool kc_llm_plan_fits(const kc_llm_model_t *m, double q_tokens, int64_t deadline_us, int64_t now,
                      int64_t margin_us)
{
    kc_llm_pred_t p;

    kc_llm_model_predict(m, 1, q_tokens, &p);
    return ms_to_us(p.mean_ms) <= budget_us(deadline_us, now, margin_us);
}

static int64_t timeout_for(const kc_llm_pred_t *p, int64_t latest, int64_t now, int64_t ceiling_us)
{
    int64_t p99 = ms_to_us(p->p99_ms), t;

    if (latest == KC_PLAN_NO_DEADLINE) {
        t = p99 > (INT64_MAX - 1000000) / 2 ? INT64_MAX : 2 * p99 + 1000000;
    } else {
        t = latest > now ? latest - now : 0;
        t = t > p99 ? t : p99;
    }
    return t < ceiling_us ? (t > 1000 ? t : 1000) : ceiling_us;
}

void kc_llm_plan(const kc_llm_model_t *m, const kc_plan_cand_t *c, size_t cnt, size_t want,
                 int64_t now, int64_t margin_us, int64_t ceiling_us, kc_plan_t *out)
{
    int64_t tight = KC_PLAN_NO_DEADLINE, latest = 0, best_latest = 0;
    double q_tokens = 0;
    kc_llm_pred_t p;

    out->k = 0;
    kc_llm_model_predict(m, 1, cnt > 0 ? c[0].q_tokens : 0, &out->pred);
    for (size_t k = 1; k <= cnt && k <= want; k++) {
        const kc_plan_cand_t *x = &c[k - 1];
        tight = x->deadline_us < tight ? x->deadline_us : tight;
        latest = x->deadline_us > latest ? x->deadline_us : latest;
        q_tokens += x->q_tokens;
        kc_llm_model_predict(m, k, q_tokens, &p);
        if (ms_to_us(p.p90_ms) > budget_us(tight, now, margin_us)) {
            break; /* latency grows with k: a larger call fits even less */
        }
        out->k = k;
        out->pred = p;
        best_latest = latest;
    }
    if (out->k == 0 && cnt > 0 && want > 0 &&
        ms_to_us(out->pred.mean_ms) <= budget_us(c[0].deadline_us, now, margin_us)) {
        /* A lone query with less time than a p90 call still has a fair
         * chance: try it rather than give up early. */
        out->k = 1;
        best_latest = c[0].deadline_us;
    }
    out->timeout_us =
        timeout_for(&out->pred, out->k ? best_latest : KC_PLAN_NO_DEADLINE, now, ceiling_us);
}
