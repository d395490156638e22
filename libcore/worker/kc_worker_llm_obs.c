/* What the LLM side shows: /metrics families and the "llm" object of /health. */
#include "kc_prom.h"
#include "kc_worker_int.h"

#include <jansson.h>

static const char *const llm_err_names[KC_LLM_ERR_CNT] = {
    "timeout", "rate_limited", "http_4xx", "http_5xx", "transport", "bad_response", "item"};

static const char *confidence_mode(const kc_worker_t *w)
{
    switch (w->lq.lp_state) {
    case KC_LP_ON:
        return "logprobs";
    case KC_LP_OFF_REJECTED:
        return "unknown (server refused logprobs)";
    case KC_LP_OFF_ABSENT:
        return "unknown (server returns no logprobs)";
    default:
        return w->conf.llm_confidence;
    }
}

static void render_tokens(kc_worker_t *w, kc_buf_t *b)
{
    kc_llm_stats_t ls;

    kc_llm_stats(w->llm, &ls);
    kc_prom_counter(b, "kclassify_llm_calls_total", "LLM calls started.", NULL, (double)ls.calls);
    kc_prom_counter(b, "kclassify_llm_queries_total", "Queries sent in LLM calls.", NULL,
                    (double)ls.queries);
    kc_prom_counter(b, "kclassify_llm_answered_queries_total",
                    "Distinct queries the LLM answered (each fills the caches once).", NULL,
                    (double)w->lq.llm_answered);
    kc_prom_counter(b, "kclassify_llm_prompt_tokens_total", "Prompt tokens the LLM reported.", NULL,
                    (double)ls.prompt_tokens);
    kc_prom_counter(b, "kclassify_llm_cached_prompt_tokens_total",
                    "Prompt tokens the LLM served from its prefix cache (when it reports them).",
                    NULL, (double)ls.cached_tokens);
    kc_prom_counter(b, "kclassify_llm_completion_tokens_total",
                    "Completion tokens the LLM reported.", NULL, (double)ls.completion_tokens);
    kc_prom_gauge(b, "kclassify_llm_completion_tokens_per_query",
                  "Completion tokens per LLM-answered query since start.", NULL,
                  w->lq.llm_answered ? (double)ls.completion_tokens / (double)w->lq.llm_answered
                                     : 0.0);
    kc_prom_counter(b, "kclassify_llm_truncated_total",
                    "Answers cut by max_tokens (finish_reason length).", NULL,
                    (double)ls.truncated);
}

static void render_model(kc_worker_t *w, kc_buf_t *b)
{
    const kc_llm_model_t *m = &w->lq.model;
    double ttft, ms_out, ms_in;

    kc_llm_model_coef(m, &ttft, &ms_out, &ms_in);
    kc_prom_gauge(b, "kclassify_llm_model_ttft_seconds",
                  "Fitted time to first token of the LLM (recent calls).", NULL, ttft / 1000.0);
    kc_prom_gauge(b, "kclassify_llm_model_output_token_seconds",
                  "Fitted time per output token of the LLM (recent calls).", NULL, ms_out / 1000.0);
    kc_prom_gauge(b, "kclassify_llm_model_input_token_seconds",
                  "Fitted time per uncached input token of the LLM (recent calls).", NULL,
                  ms_in / 1000.0);
    kc_prom_gauge(b, "kclassify_llm_model_residual_p90",
                  "p90 of observed / predicted call latency over the last 128 calls.", NULL,
                  m->q90);
    kc_prom_gauge(b, "kclassify_llm_model_output_tokens_per_query",
                  "Learned completion tokens per query.", NULL, m->out_per_query);
    kc_prom_gauge(b, "kclassify_llm_latency_ratio",
                  "Median latency over the uncongested prediction (the limiter's signal).", NULL,
                  w->lq.limiter.last_median);
}

static void render_flow(kc_worker_t *w, kc_buf_t *b)
{
    kc_wllm_t *q = &w->lq;

    kc_prom_gauge(b, "kclassify_llm_inflight", "LLM calls running now.", NULL,
                  (double)kc_w_inflight(w));
    kc_prom_gauge(b, "kclassify_llm_concurrency_limit",
                  "Latency-based LLM concurrency limit, within llm.inflight.min..max.", NULL,
                  (double)kc_limiter_limit(&q->limiter));
    kc_prom_family(b, "kclassify_llm_queue_length", "Distinct queries queued for the LLM.",
                   KC_PROM_GAUGE);
    kc_prom_sample(b, "kclassify_llm_queue_length", (const char *[]){"queue", "live", NULL},
                   (double)q->live.cnt);
    kc_prom_sample(b, "kclassify_llm_queue_length", (const char *[]){"queue", "fill", NULL},
                   (double)q->fill_cnt);
    kc_prom_sample(b, "kclassify_llm_queue_length", (const char *[]){"queue", "retry", NULL},
                   (double)q->retryq.cnt);
    kc_prom_counter(b, "kclassify_llm_early_fallbacks_total",
                    "Lookups whose requests got the fallback before their deadline because no "
                    "LLM call could answer in time.",
                    NULL, (double)q->early_fallbacks);
    kc_prom_counter(b, "kclassify_llm_queue_full_total",
                    "Lookups answered by the fallback because llm.queue.max was reached.", NULL,
                    (double)q->queue_full);
    kc_prom_counter(b, "kclassify_llm_fill_dropped_total",
                    "Cache-filling lookups dropped (queue bound, shutdown).", NULL,
                    (double)q->fill_dropped);
    kc_prom_counter(b, "kclassify_llm_hedges_total", "Hedge calls sent.", NULL, (double)q->hedges);
    kc_prom_counter(b, "kclassify_llm_hedge_wins_total", "Queries a hedge call answered first.",
                    NULL, (double)q->hedge_wins);
    kc_prom_counter(b, "kclassify_llm_cancelled_calls_total",
                    "Calls cancelled: another call answered all their queries, nobody waited for "
                    "them any more, or the worker was stopping.",
                    NULL, (double)q->cancelled);
    kc_prom_counter(b, "kclassify_llm_reasoning_dropped_total",
                    "LLM reasonings not passed on because they quoted another query of their call.",
                    NULL, (double)q->reasoning_dropped);
    kc_prom_counter(b, "kclassify_llm_ratelimit_pauses_total",
                    "Quota 429s that paused new calls for their Retry-After.", NULL,
                    (double)q->rl_pauses);
    kc_prom_counter(b, "kclassify_llm_overload_429_total",
                    "429s with rate-limit budget left (server overload): limit cut.", NULL,
                    (double)q->overload_429);
    kc_prom_gauge(b, "kclassify_llm_logprobs", "1 while confidences come from logprobs.", NULL,
                  q->lp_state == KC_LP_ON);
}

void kc_worker_llm_render(kc_worker_t *w, kc_buf_t *b)
{
    kc_wmetrics_t *m = &w->metrics;

    render_tokens(w, b);
    render_model(w, b);
    render_flow(w, b);
    kc_prom_family(b, "kclassify_llm_errors_total", "LLM failures by kind.", KC_PROM_COUNTER);
    for (int i = 0; i < KC_LLM_ERR_CNT; i++) {
        kc_prom_sample(b, "kclassify_llm_errors_total",
                       (const char *[]){"kind", llm_err_names[i], NULL}, (double)m->llm_errors[i]);
    }
    kc_prom_gauge(b, "kclassify_llm_breaker_state",
                  "LLM circuit breaker: 0 closed, 1 open, 2 half-open.", NULL,
                  (double)w->breaker.state);
    kc_prom_counter(b, "kclassify_llm_breaker_opens_total", "Times the LLM breaker opened.", NULL,
                    (double)w->breaker.opened);
    kc_prom_hist(b, "kclassify_llm_call_duration_seconds", "LLM call latency.", NULL,
                 m->llm_latency, kc_prom_latency_buckets, KC_PROM_LATENCY_BUCKETS_CNT);
    kc_worker_metrics_pow2_hist(b, "kclassify_llm_batch_queries", "Queries per LLM call.",
                                m->llm_batch, m->llm_queries_sum);
}

json_t *kc_worker_llm_health(kc_worker_t *w, const char *state, int failures_in_row)
{
    const kc_llm_model_t *m = &w->lq.model;
    double ttft, ms_out, ms_in;

    kc_llm_model_coef(m, &ttft, &ms_out, &ms_in);
    return json_pack("{s:s, s:i, s:i, s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:I}, "
                     "s:{s:I, s:I, s:I}, s:b}",
                     "state", state, "failures_in_row", failures_in_row, "concurrency_limit",
                     kc_limiter_limit(&w->lq.limiter), "confidence", confidence_mode(w),
                     "confidence_note", w->lq.lp_reason, "model", "ttft_ms", ttft,
                     "ms_per_output_token", ms_out, "ms_per_input_token", ms_in, "residual_p90",
                     m->q90, "output_tokens_per_query", m->out_per_query, "calls_measured",
                     (json_int_t)m->samples, "queue", "live", (json_int_t)w->lq.live.cnt, "fill",
                     (json_int_t)w->lq.fill_cnt, "retry", (json_int_t)w->lq.retryq.cnt, "paced",
                     w->lq.rl_wait_until > 0);
}
