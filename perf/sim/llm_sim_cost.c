/*
 * kclassify-llm-sim: what a call costs, priced like a real LLM server.
 * Part of a SIMULATOR for tests and benchmarks; see llm_sim.h.
 *
 * Tokens are counted at about 4 bytes each (no real tokenizer: the worker
 * only needs counts that grow with the text the way a tokenizer's do).
 * A call's time is:
 *
 *   first token = per_query_ms x n + (latency_ms + ttft_ms) x exp(jitter x z)
 *                 + prefill_ms_per_token x (prompt tokens - cached prefix tokens)
 *   decode      = one step per output token, each
 *                 decode_ms_per_token x max(1, D / knee)
 *
 * where D is the number of calls decoding at that moment. A real server
 * batches the decoding sequences into each forward pass: a step costs about
 * the same for any batch up to the point where the accelerator is saturated
 * (the knee), and grows with the batch beyond it. So a call that answers 20
 * queries takes longer than one answering 1, and a crowd of calls slows
 * every one of them down; neither was true of a per-call lognormal latency.
 */
#include "llm_sim.h"

#include "kc_err.h"
#include "kc_normalize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_BYTES      4
#define MSG_TOKENS       4    /* per-message framing (role, separators), as OpenAI counts it */
#define DECODE_SLICE_TOK 4    /* tokens slept at once before D is read again */
#define DECODE_SLICE_MS  50.0 /* ... or fewer, so a slow step follows the load closely */
#define SLEEP_SLICE_US   50000

/* ------------------------------------------------------------ tokenizing */

int64_t llm_sim_text_tokens(size_t bytes)
{
    return (int64_t)((bytes + TOKEN_BYTES - 1) / TOKEN_BYTES);
}

size_t llm_sim_piece_end(const char *s, size_t len, size_t start)
{
    size_t end = start + TOKEN_BYTES < len ? start + TOKEN_BYTES : len;
    /* A continuation byte (10xxxxxx) belongs to the character before it. */
    while (end < len && ((unsigned char)s[end] & 0xC0) == 0x80) {
        end++;
    }
    return end;
}

int64_t llm_sim_piece_count(const char *s, size_t len)
{
    int64_t cnt = 0;
    for (size_t at = 0; at < len; at = llm_sim_piece_end(s, len, at)) {
        cnt++;
    }
    return cnt;
}

/* The bytes a message's content costs: a string as is, anything else (an
 * array of content parts) as its compact JSON. */
static size_t content_bytes(json_t *content)
{
    if (json_is_string(content)) {
        return json_string_length(content);
    }
    if (!content || json_is_null(content)) {
        return 0;
    }
    char *dump = json_dumps(content, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = dump ? strlen(dump) : 0;
    free(dump);
    return len;
}

static json_t *first_system_message(json_t *messages)
{
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role && strcmp(role, "system") == 0) {
            return msg;
        }
    }
    return NULL;
}

int llm_sim_prompt_measure(json_t *req, llm_sim_prompt_t *prompt)
{
    json_t *messages = json_object_get(req, "messages"),
           *rf = json_object_get(req, "response_format");
    json_t *sys = first_system_message(messages), *msg;
    size_t i;
    memset(prompt, 0, sizeof(*prompt));
    json_array_foreach(messages, i, msg)
    {
        prompt->tokens +=
            llm_sim_text_tokens(content_bytes(json_object_get(msg, "content"))) + MSG_TOKENS;
    }
    /* Serialized as sent (jansson keeps key order): the same schema bytes
     * give the same count and the same prefix hash. */
    char *rf_json = rf ? json_dumps(rf, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (rf && !rf_json) {
        return KC_ERR_NOMEM;
    }
    size_t rf_len = rf_json ? strlen(rf_json) : 0;
    int64_t rf_tokens = llm_sim_text_tokens(rf_len);
    prompt->tokens += rf_tokens;
    if (sys || rf_json) {
        json_t *sys_content = json_object_get(sys, "content");
        const char *text = json_is_string(sys_content) ? json_string_value(sys_content) : "";
        size_t text_len = json_is_string(sys_content) ? json_string_length(sys_content) : 0;
        prompt->prefix_tokens =
            (sys ? llm_sim_text_tokens(content_bytes(sys_content)) + MSG_TOKENS : 0) + rf_tokens;
        /* Two hashes chained, so "ab"+"c" and "a"+"bc" differ; 0 is kept for "no prefix". */
        uint64_t h = kc_hash64(rf_json ? rf_json : "", rf_len, kc_hash64(text, text_len, 0x5157));
        prompt->prefix_hash = h ? h : 1;
    }
    free(rf_json);
    return 0;
}

/* ---------------------------------------------------------- prefix cache */

void llm_sim_prefix_cache_init(llm_sim_prefix_cache_t *pc)
{
    memset(pc, 0, sizeof(*pc));
    pthread_mutex_init(&pc->lock, NULL);
}

void llm_sim_prefix_cache_destroy(llm_sim_prefix_cache_t *pc)
{
    pthread_mutex_destroy(&pc->lock);
}

/* A linear scan of 256 hashes costs less than the HTTP parsing around it. */
bool llm_sim_prefix_cache_seen(llm_sim_prefix_cache_t *pc, uint64_t hash)
{
    bool seen = false;
    pthread_mutex_lock(&pc->lock);
    for (size_t i = 0; i < pc->cnt && !seen; i++) {
        seen = pc->hash[i] == hash;
    }
    if (!seen) {
        pc->hash[pc->next] = hash; /* the oldest goes first */
        pc->next = (pc->next + 1) % LLM_SIM_PREFIX_CACHE;
        pc->cnt += pc->cnt < LLM_SIM_PREFIX_CACHE;
    }
    pthread_mutex_unlock(&pc->lock);
    return seen;
}

/* ---------------------------------------------------------------- timing */

bool llm_sim_cost_tokens_on(const llm_sim_conf_t *conf)
{
    return conf->ttft_ms > 0 || conf->prefill_ms_per_token > 0 || conf->decode_ms_per_token > 0;
}

double llm_sim_cost_first_token_ms(const llm_sim_conf_t *conf, double z, size_t n,
                                   int64_t uncached_tokens, double *prefill_ms)
{
    double ms = conf->per_query_ms * (double)n;
    /* One draw scales both: the fixed profile's sequence of draws is unchanged. */
    double base = conf->latency_ms + conf->ttft_ms;
    if (base > 0) {
        ms += base * exp(conf->jitter * z);
    }
    *prefill_ms = conf->prefill_ms_per_token * (double)(uncached_tokens > 0 ? uncached_tokens : 0);
    return ms + *prefill_ms;
}

double llm_sim_cost_step_ms(const llm_sim_conf_t *conf, int decoding)
{
    double load = conf->knee > 0 ? (double)decoding / (double)conf->knee : 1.0;
    return conf->decode_ms_per_token * (load > 1.0 ? load : 1.0);
}

void llm_sim_sleep_ms(llm_sim_t *sim, double ms)
{
    int64_t left_us = (int64_t)(ms * 1000.0);
    while (left_us > 0 && !atomic_load(&sim->stopping)) {
        int64_t step = left_us < SLEEP_SLICE_US ? left_us : SLEEP_SLICE_US;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000};
        nanosleep(&ts, NULL);
        left_us -= step;
    }
}

/* Tokens to sleep before looking at D again: a few, and never much more than
 * DECODE_SLICE_MS, so the step time follows calls joining and leaving. */
static int64_t decode_slice(double step_ms, int64_t left)
{
    int64_t tok = DECODE_SLICE_TOK;
    if (step_ms * (double)tok > DECODE_SLICE_MS) {
        tok = (int64_t)(DECODE_SLICE_MS / step_ms);
        tok = tok < 1 ? 1 : tok;
    }
    return tok < left ? tok : left;
}

double llm_sim_decode(llm_sim_t *sim, int64_t tokens)
{
    llm_sim_stats_t *st = &sim->stats;
    double slept = 0;
    if (sim->conf.decode_ms_per_token <= 0 || tokens <= 0) {
        return 0;
    }
    llm_sim_stats_decoding(st, atomic_fetch_add(&st->decoding, 1) + 1);
    for (int64_t left = tokens; left > 0 && !atomic_load(&sim->stopping);) {
        double step = llm_sim_cost_step_ms(&sim->conf, atomic_load(&st->decoding));
        int64_t tok = decode_slice(step, left);
        llm_sim_sleep_ms(sim, step * (double)tok);
        slept += step * (double)tok;
        left -= tok;
    }
    atomic_fetch_sub(&st->decoding, 1);
    return slept;
}
