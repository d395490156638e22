/* kclassify-bench: figures derived from a run's records, grades, console table. */
#include "bench.h"

#include "kc_types.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_DEADLINE_MS 2000 /* the worker's sla.deadline.ms default */

static double pct_ms(const kc_hist_t *h, double p)
{
    return (double)kc_hist_percentile(h, p) / 1000.0;
}

/* Counts over the records; fills res->hist with every answered latency. */
static void count_recs(bench_result_t *res, double target_ms, bench_summary_t *sm)
{
    int64_t deadline_us =
        (int64_t)(res->load.deadline_ms > 0 ? res->load.deadline_ms : DEFAULT_DEADLINE_MS) * 1000;
    int64_t target_us = (int64_t)(target_ms * 1000);
    uint64_t compliant = 0;

    for (size_t i = 0; i < res->rec_cnt; i++) {
        const bench_rec_t *r = &res->recs[i];
        sm->repeats += (r->flags & BENCH_F_REPEAT) != 0;
        if (r->flags & BENCH_F_FAILED) {
            sm->failed++;
        }
        if (r->flags & BENCH_F_SENT) {
            sm->sent++;
        }
        if (!(r->flags & BENCH_F_REPLIED)) {
            sm->lost += (r->flags & BENCH_F_SENT) && !(r->flags & BENCH_F_FAILED);
            continue;
        }
        int64_t lat = r->reply_us - r->intended_us;
        kc_hist_record(res->hist, lat);
        sm->answered++;
        sm->ok += r->status == KC_STATUS_OK;
        sm->degraded += r->status == KC_STATUS_DEGRADED;
        sm->error += r->status == KC_STATUS_ERROR;
        sm->by_source[r->source < KC_SRC__CNT ? r->source : KC_SRC_NONE]++;
        sm->coalesced += (r->flags & BENCH_F_COALESCED) != 0;
        sm->deadline_met += (r->flags & BENCH_F_DEADLINE) != 0;
        sm->within_deadline += lat <= deadline_us;
        compliant += target_us > 0 && lat <= target_us;
    }
    sm->compliance = sm->sent ? (double)compliant / (double)sm->sent : 0;
}

/* What the simulator saw during the run: /stats after minus before. */
static void delta_llm(const bench_result_t *res, bench_summary_t *sm)
{
    const bench_simstats_t *a = &res->sim0, *b = &res->sim1;
    double llm = (double)sm->by_source[KC_SRC_LLM];

    sm->llm_answered_share = sm->answered ? llm / (double)sm->answered : 0;
    sm->llm_answered_rps = sm->duration_s > 0 ? llm / sm->duration_s : 0;
    if (!a->ok || !b->ok) {
        sm->llm_calls = sm->llm_queries = sm->llm_distinct = sm->llm_429 = NAN;
        sm->prompt_tokens = sm->cached_tokens = sm->completion_tokens = sm->truncated = NAN;
        sm->completion_per_query = NAN;
        for (int k = 0; k < BENCH_429_CNT; k++) {
            sm->llm_429_by_kind[k] = NAN;
        }
        return;
    }
    sm->llm_calls = b->calls - a->calls;
    sm->llm_queries = b->queries - a->queries;
    sm->llm_distinct = b->distinct_queries - a->distinct_queries;
    sm->llm_429 = b->rejected_429 - a->rejected_429;
    sm->prompt_tokens = b->prompt_tokens - a->prompt_tokens;
    sm->cached_tokens = b->cached_tokens - a->cached_tokens;
    sm->completion_tokens = b->completion_tokens - a->completion_tokens;
    sm->truncated = b->truncated - a->truncated;
    /* Per reply the LLM answered: what an answer costs in output, the figure
     * that compact answers and batching move. */
    sm->completion_per_query = llm > 0 ? sm->completion_tokens / llm : NAN;
    for (int k = 0; k < BENCH_429_CNT; k++) {
        sm->llm_429_by_kind[k] =
            b->has_429_kinds ? b->rejected_by_kind[k] - a->rejected_by_kind[k] : NAN;
    }
    snprintf(sm->llm_profile, sizeof(sm->llm_profile), "%s", b->profile);
    memcpy(sm->llm_cost, b->cost, sizeof(sm->llm_cost));
}

static void delta_metrics(const bench_result_t *res, bench_summary_t *sm)
{
    delta_llm(res, sm);
    for (size_t i = 0; i < res->worker_cnt && i < BENCH_MAX_WORKERS; i++) {
        double rss = fmax(res->peak_rss[i], fmax(res->w0[i].rss_bytes, res->w1[i].rss_bytes));
        sm->worker_cpu_s += res->w1[i].cpu_s - res->w0[i].cpu_s;
        sm->worker_peak_rss_mb = fmax(sm->worker_peak_rss_mb, rss / (1024.0 * 1024.0));
        sm->worker_l1_entries += fmax(res->peak_l1[i], res->w1[i].l1_entries);
    }
}

void bench_summarize(bench_result_t *res, double target_ms, bench_summary_t *sm)
{
    int64_t last_reply = 0;

    memset(sm, 0, sizeof(*sm));
    sm->target_ms = target_ms;
    if (!res->hist) {
        res->hist = kc_hist_new();
    } else {
        kc_hist_reset(res->hist);
    }
    if (!res->hist) {
        return;
    }
    count_recs(res, target_ms, sm);
    sm->duplicates = res->duplicates;
    sm->bench_cpu_s = res->bench_cpu_s;
    for (size_t i = 0; i < res->rec_cnt; i++) {
        last_reply = res->recs[i].reply_us > last_reply ? res->recs[i].reply_us : last_reply;
    }
    sm->duration_s = res->load.count ? (double)res->sched_end_us / 1e6 : res->load.duration_s;
    sm->offered_rps = sm->duration_s > 0 ? (double)sm->sent / sm->duration_s : 0;
    /* answered over the time from the first intended send to the last reply */
    sm->achieved_rps = last_reply > 0 ? (double)sm->answered / ((double)last_reply / 1e6) : 0;
    sm->mean_ms = kc_hist_mean(res->hist) / 1000.0;
    sm->p50_ms = pct_ms(res->hist, 50);
    sm->p90_ms = pct_ms(res->hist, 90);
    sm->p95_ms = pct_ms(res->hist, 95);
    sm->p99_ms = pct_ms(res->hist, 99);
    sm->p999_ms = pct_ms(res->hist, 99.9);
    sm->max_ms = (double)kc_hist_max(res->hist) / 1000.0;
    sm->hit_rate = sm->answered ? (double)(sm->by_source[KC_SRC_L1] + sm->by_source[KC_SRC_LMDB] +
                                           sm->by_source[KC_SRC_REDIS]) /
                                      (double)sm->answered
                                : 0;
    sm->success_rate = sm->sent ? (double)sm->ok / (double)sm->sent : 0;
    sm->degraded_rate = sm->answered ? (double)sm->degraded / (double)sm->answered : 0;
    sm->query_bytes_mean = res->rec_cnt ? res->query_bytes_sum / (double)res->rec_cnt : 0;
    delta_metrics(res, sm);
    snprintf(sm->grade, sizeof(sm->grade), "%s",
             target_ms > 0 ? bench_grade(sm->mean_ms, sm->compliance, target_ms) : "-");
}

/* Grades: mean latency against the target and the share of requests answered within it
 * (a lost request counts as outside). Each grade needs both. */
const char *bench_grade(double mean_ms, double compliance, double target_ms)
{
    static const struct {
        const char *g;
        double mean_frac, compliance;
    } scale[] = {{"A+", 0.25, 0.999},
                 {"A", 0.5, 0.995},
                 {"B", 0.75, 0.99},
                 {"C", 1.0, 0.95},
                 {"D", 1.5, 0.90}};

    for (size_t i = 0; i < sizeof(scale) / sizeof(scale[0]); i++) {
        if (mean_ms <= scale[i].mean_frac * target_ms && compliance >= scale[i].compliance) {
            return scale[i].g;
        }
    }
    return "F";
}

/* The LLM side in detail: what the simulator's profile made of the run. */
static void summary_print_llm(FILE *fp, const bench_summary_t *sm)
{
    const double *k = sm->llm_429_by_kind;

    fprintf(fp,
            "   llm cost   profile %s  LLM-answered %.1f%% of replies (%.1f/s)  completion "
            "tokens %.1f per LLM-answered reply\n"
            "              prompt tokens %.0f (%.0f cached)  truncated answers %.0f",
            sm->llm_profile[0] ? sm->llm_profile : "?", 100 * sm->llm_answered_share,
            sm->llm_answered_rps, sm->completion_per_query, sm->prompt_tokens, sm->cached_tokens,
            sm->truncated);
    if (!isnan(k[BENCH_429_CONCURRENCY])) {
        fprintf(fp, "  429s: concurrency %.0f, injected %.0f, rpm %.0f, tpm %.0f",
                k[BENCH_429_CONCURRENCY], k[BENCH_429_INJECTED], k[BENCH_429_RPM],
                k[BENCH_429_TPM]);
    }
    fputc('\n', fp);
}

void bench_summary_print(FILE *fp, const char *name, const bench_summary_t *sm)
{
    fprintf(fp,
            "== %s\n"
            "   requests   sent %llu  answered %llu  lost %llu  failed %llu  duplicates %llu\n"
            "   throughput offered %.0f/s  achieved %.0f/s\n"
            "   latency ms mean %.2f  p50 %.2f  p90 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max "
            "%.2f\n"
            "   status     ok %.2f%%  degraded %.2f%%  error %llu  within deadline %llu\n"
            "   source     L1 %llu  LMDB %llu  REDIS %llu  LLM %llu  FALLBACK %llu  NONE %llu  "
            "(hit rate %.1f%%, coalesced %llu, repeats sent %llu)\n"
            "   llm        calls %.0f  queries %.0f  distinct %.0f  429s %.0f  tokens %.0f+%.0f\n"
            "   workers    cpu %.2f s  peak rss %.1f MiB  l1 entries %.0f   (bench cpu %.2f s)\n",
            name, (unsigned long long)sm->sent, (unsigned long long)sm->answered,
            (unsigned long long)sm->lost, (unsigned long long)sm->failed,
            (unsigned long long)sm->duplicates, sm->offered_rps, sm->achieved_rps, sm->mean_ms,
            sm->p50_ms, sm->p90_ms, sm->p95_ms, sm->p99_ms, sm->p999_ms, sm->max_ms,
            100 * sm->success_rate, 100 * sm->degraded_rate, (unsigned long long)sm->error,
            (unsigned long long)sm->within_deadline, (unsigned long long)sm->by_source[0],
            (unsigned long long)sm->by_source[1], (unsigned long long)sm->by_source[2],
            (unsigned long long)sm->by_source[3], (unsigned long long)sm->by_source[4],
            (unsigned long long)sm->by_source[5], 100 * sm->hit_rate,
            (unsigned long long)sm->coalesced, (unsigned long long)sm->repeats, sm->llm_calls,
            sm->llm_queries, sm->llm_distinct, sm->llm_429, sm->prompt_tokens,
            sm->completion_tokens, sm->worker_cpu_s, sm->worker_peak_rss_mb, sm->worker_l1_entries,
            sm->bench_cpu_s);
    summary_print_llm(fp, sm);
    if (sm->target_ms > 0) {
        fprintf(fp, "   grade      %s (target %.0f ms: %.2f%% within)\n", sm->grade, sm->target_ms,
                100 * sm->compliance);
    }
}
