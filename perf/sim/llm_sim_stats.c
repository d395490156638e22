/*
 * kclassify-llm-sim: what the simulator saw, for GET /stats. Tests and the
 * bench assert on LLM traffic through these counters.
 * Part of a SIMULATOR for tests and benchmarks; see llm_sim.h.
 */
#include "llm_sim.h"

#include "kc_time.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void llm_sim_stats_init(llm_sim_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    pthread_mutex_init(&stats->lock, NULL);
    llm_sim_map_init(&stats->per_query);
    atomic_init(&stats->inflight, 0);
    atomic_init(&stats->decoding, 0);
}

void llm_sim_stats_destroy(llm_sim_stats_t *stats)
{
    llm_sim_map_clear(&stats->per_query);
    pthread_mutex_destroy(&stats->lock);
}

void llm_sim_stats_bump(llm_sim_stats_t *stats, uint64_t *counter)
{
    pthread_mutex_lock(&stats->lock);
    (*counter)++;
    pthread_mutex_unlock(&stats->lock);
}

void llm_sim_stats_429(llm_sim_stats_t *stats, llm_sim_429_t kind)
{
    pthread_mutex_lock(&stats->lock);
    stats->rejected_429++;
    stats->rejected_by_kind[kind]++;
    pthread_mutex_unlock(&stats->lock);
}

void llm_sim_stats_decoding(llm_sim_stats_t *stats, int decoding)
{
    pthread_mutex_lock(&stats->lock);
    if (decoding > stats->max_decoding_seen) {
        stats->max_decoding_seen = decoding;
    }
    pthread_mutex_unlock(&stats->lock);
}

/* The counters are the plain fields from `calls` up to `per_query` (see
 * llm_sim_stats_t): zeroed in one go, so a counter added there is reset too.
 * The gauges (inflight, decoding) describe calls still running: kept. */
void llm_sim_stats_reset(llm_sim_stats_t *st)
{
    size_t head = offsetof(llm_sim_stats_t, calls);
    size_t tail = offsetof(llm_sim_stats_t, per_query);
    pthread_mutex_lock(&st->lock);
    memset((char *)st + head, 0, tail - head);
    llm_sim_map_clear(&st->per_query);
    st->max_inflight_seen = atomic_load(&st->inflight);
    st->max_decoding_seen = atomic_load(&st->decoding);
    pthread_mutex_unlock(&st->lock);
}

/* A query repeated inside one call counts once: the mark is the call number.
 * Caller holds the lock. */
static void per_query_count(llm_sim_stats_t *st, uint64_t call_no, const llm_sim_call_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        llm_sim_entry_t *e =
            llm_sim_map_upsert(&st->per_query, call->queries[i].norm, call->queries[i].norm_len);
        if (e && e->mark != call_no) {
            e->mark = call_no;
            e->value++;
            if (e->value > st->max_query_repeats) {
                st->max_query_repeats = e->value;
            }
        }
    }
}

/* Time and tokens count for hangs too (the server did the work); the
 * answer-level counters only for the 200s a client received in time. */
void llm_sim_stats_record_answer(llm_sim_stats_t *st, uint64_t call_no, const llm_sim_call_t *call,
                                 const llm_sim_faults_t *f, const llm_sim_spent_t *spent)
{
    pthread_mutex_lock(&st->lock);
    st->ttft_ms += spent->ttft_ms;
    st->prefill_ms += spent->prefill_ms;
    st->decode_ms += spent->decode_ms;
    st->decode_tokens += (uint64_t)spent->usage.completion;
    if (f->hang) {
        st->hangs++; /* answered late: the client gave up */
        pthread_mutex_unlock(&st->lock);
        return;
    }
    st->ok_calls++;
    st->queries += call->n;
    st->prompt_tokens += (uint64_t)spent->usage.prompt;
    st->completion_tokens += (uint64_t)spent->usage.completion;
    st->cached_tokens += (uint64_t)spent->usage.cached;
    st->truncated += spent->truncated;
    st->logprobs_answered += spent->logprobs_answered;
    st->fenced += f->fenced && !f->garbage;
    st->shuffled += f->shuffle && !f->garbage;
    st->missing += f->missing && !f->garbage;
    st->garbage += f->garbage;
    st->invalid_category += f->invalid_cnt;
    st->invalid_one += f->invalid_one;
    per_query_count(st, call_no, call);
    pthread_mutex_unlock(&st->lock);
}

/* ----------------------------------------------------------------- /stats */

static void set_u64(json_t *obj, const char *key, uint64_t v)
{
    json_object_set_new(obj, key, json_integer((json_int_t)v));
}

static void set_ms(json_t *obj, const char *key, double ms)
{
    json_object_set_new(obj, key, json_real((double)(int64_t)(ms * 1000.0) / 1000.0));
}

static json_t *stats_per_query(const llm_sim_map_t *map)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < map->size; i++) {
        const llm_sim_entry_t *e = &map->slots[i];
        if (e->key) {
            json_object_setn_new(obj, e->key, e->key_len, json_integer(e->value));
        }
    }
    return obj;
}

/* Caller holds the stats lock. */
static json_t *stats_injected(const llm_sim_stats_t *st)
{
    json_t *inj = json_object();
    set_u64(inj, "fenced", st->fenced);
    set_u64(inj, "shuffled", st->shuffled);
    set_u64(inj, "missing", st->missing);
    set_u64(inj, "invalid_category", st->invalid_category);
    set_u64(inj, "invalid_one", st->invalid_one);
    set_u64(inj, "garbage", st->garbage);
    return inj;
}

static json_t *stats_429(const llm_sim_stats_t *st)
{
    json_t *obj = json_object();
    set_u64(obj, "concurrency", st->rejected_by_kind[LLM_SIM_429_CONCURRENCY]);
    set_u64(obj, "injected", st->rejected_by_kind[LLM_SIM_429_INJECTED]);
    set_u64(obj, "rate_limit_requests", st->rejected_by_kind[LLM_SIM_429_RATE_REQUESTS]);
    set_u64(obj, "rate_limit_tokens", st->rejected_by_kind[LLM_SIM_429_RATE_TOKENS]);
    return obj;
}

static json_t *stats_logprobs(const llm_sim_stats_t *st)
{
    json_t *obj = json_object();
    set_u64(obj, "requests", st->logprobs_asked);
    set_u64(obj, "answered", st->logprobs_answered);
    set_u64(obj, "ignored", st->logprobs_ignored);
    set_u64(obj, "rejected", st->logprobs_rejected);
    return obj;
}

/* The configuration that produced the numbers: a figure without it means little. */
static json_t *stats_cost(const llm_sim_conf_t *c)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "model", json_string(llm_sim_cost_tokens_on(c) ? "tokens" : "fixed"));
    json_object_set_new(obj, "latency_ms", json_real(c->latency_ms));
    json_object_set_new(obj, "jitter", json_real(c->jitter));
    json_object_set_new(obj, "per_query_ms", json_real(c->per_query_ms));
    json_object_set_new(obj, "ttft_ms", json_real(c->ttft_ms));
    json_object_set_new(obj, "prefill_ms_per_token", json_real(c->prefill_ms_per_token));
    json_object_set_new(obj, "decode_ms_per_token", json_real(c->decode_ms_per_token));
    set_u64(obj, "knee", (uint64_t)c->knee);
    set_u64(obj, "max_concurrency", (uint64_t)c->max_concurrency);
    set_u64(obj, "rpm", (uint64_t)c->rpm);
    set_u64(obj, "tpm", (uint64_t)c->tpm);
    json_object_set_new(obj, "logprobs", json_string(llm_sim_logprobs_mode_name(c->logprobs)));
    return obj;
}

/* Caller holds the stats lock. */
static void stats_timing(json_t *root, const llm_sim_stats_t *st, const llm_sim_conf_t *c)
{
    set_u64(root, "decoding", (uint64_t)atomic_load(&st->decoding));
    set_u64(root, "max_decoding_seen", (uint64_t)st->max_decoding_seen);
    set_ms(root, "ttft_ms_total", st->ttft_ms);
    set_ms(root, "prefill_ms_total", st->prefill_ms);
    set_ms(root, "decode_ms_total", st->decode_ms);
    set_u64(root, "decode_tokens", st->decode_tokens);
    /* How much the knee stretched the decode steps on average (1 = never). */
    double ideal = c->decode_ms_per_token * (double)st->decode_tokens;
    json_object_set_new(root, "decode_slowdown_mean",
                        ideal > 0 ? json_real(st->decode_ms / ideal) : json_null());
}

/* Caller holds the stats lock. */
static void stats_counts(json_t *root, const llm_sim_stats_t *st)
{
    set_u64(root, "calls", st->calls);
    set_u64(root, "ok_calls", st->ok_calls);
    set_u64(root, "queries", st->queries);
    set_u64(root, "distinct_queries", st->per_query.cnt);
    set_u64(root, "max_query_repeats", (uint64_t)st->max_query_repeats);
    set_u64(root, "rejected_429", st->rejected_429);
    json_object_set_new(root, "rejected_429_by_kind", stats_429(st));
    set_u64(root, "errors_500", st->errors_500);
    set_u64(root, "hangs", st->hangs);
    set_u64(root, "bad_requests", st->bad_requests);
    set_u64(root, "unauthorized", st->unauthorized);
    set_u64(root, "too_large", st->too_large);
    set_u64(root, "enum_mismatch", st->enum_mismatch);
    set_u64(root, "inflight", (uint64_t)atomic_load(&st->inflight));
    set_u64(root, "max_inflight_seen", (uint64_t)st->max_inflight_seen);
    set_u64(root, "prompt_tokens", st->prompt_tokens);
    set_u64(root, "cached_tokens", st->cached_tokens);
    set_u64(root, "completion_tokens", st->completion_tokens);
    set_u64(root, "truncated", st->truncated);
    json_object_set_new(root, "logprobs", stats_logprobs(st));
}

char *llm_sim_stats_json(llm_sim_t *sim, bool with_queries)
{
    llm_sim_stats_t *st = &sim->stats;
    json_t *root = json_object();
    if (!root) {
        return NULL;
    }
    json_object_set_new(root, "profile", json_string(sim->conf.profile));
    json_object_set_new(root, "cost", stats_cost(&sim->conf));
    json_t *limits = llm_sim_limits_json(&sim->limits, kc_mono_us());
    json_object_set_new(root, "rate_limits", limits ? limits : json_null());
    pthread_mutex_lock(&st->lock);
    stats_counts(root, st);
    stats_timing(root, st, &sim->conf);
    set_u64(root, "labels", sim->labels.cnt);
    json_object_set_new(root, "injected", stats_injected(st));
    if (with_queries) {
        json_object_set_new(root, "per_query", stats_per_query(&st->per_query));
    }
    pthread_mutex_unlock(&st->lock);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
