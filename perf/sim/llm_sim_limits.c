/*
 * kclassify-llm-sim: provider-style rate limits (--rpm, --tpm).
 * Part of a SIMULATOR for tests and benchmarks; see llm_sim.h.
 *
 * Hosted APIs limit requests and tokens per minute with token buckets: each
 * holds one minute's worth and refills continuously. A call is admitted when
 * both buckets hold what it needs (1 request; its prompt tokens plus
 * max_tokens, or an estimate of the answer), and once answered its estimate
 * is replaced by the tokens it actually used. Every response then tells the
 * client where it stands in OpenAI's x-ratelimit-* headers, which is what
 * lets a client pace itself instead of discovering the limit by 429s.
 */
#include "llm_sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --------------------------------------------------------------- buckets */

static void bucket_init(llm_sim_bucket_t *b, int64_t per_minute, int64_t now_us)
{
    memset(b, 0, sizeof(*b));
    b->on = per_minute > 0;
    b->cap = b->level = (double)per_minute;
    b->per_us = (double)per_minute / 60e6;
    b->at_us = now_us;
}

static void bucket_refill(llm_sim_bucket_t *b, int64_t now_us)
{
    if (now_us > b->at_us) {
        b->level = fmin(b->cap, b->level + b->per_us * (double)(now_us - b->at_us));
        b->at_us = now_us;
    }
}

/* Seconds until the bucket holds `need` (infinite when it never can). */
static double bucket_wait_s(const llm_sim_bucket_t *b, double need)
{
    if (b->level >= need) {
        return 0;
    }
    if (need > b->cap) {
        return INFINITY;
    }
    return (need - b->level) / b->per_us / 1e6;
}

static double bucket_until_full_s(const llm_sim_bucket_t *b)
{
    return b->level >= b->cap ? 0 : (b->cap - b->level) / b->per_us / 1e6;
}

void llm_sim_limits_init(llm_sim_limits_t *lim, int64_t rpm, int64_t tpm, int64_t now_us)
{
    pthread_mutex_init(&lim->lock, NULL);
    bucket_init(&lim->req, rpm, now_us);
    bucket_init(&lim->tok, tpm, now_us);
}

void llm_sim_limits_destroy(llm_sim_limits_t *lim)
{
    pthread_mutex_destroy(&lim->lock);
}

/* A request larger than the whole bucket can never pass; its Retry-After is
 * the time to a full bucket, the most a client could wait for. */
static int retry_after(const llm_sim_bucket_t *b, double need)
{
    double s = bucket_wait_s(b, need);
    if (isinf(s)) {
        s = bucket_until_full_s(b);
    }
    s = ceil(s);
    return s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
}

llm_sim_limit_t llm_sim_limits_admit(llm_sim_limits_t *lim, double tokens, int64_t now_us,
                                     int *retry_after_s)
{
    llm_sim_limit_t verdict = LLM_SIM_LIMIT_OK;
    pthread_mutex_lock(&lim->lock);
    bucket_refill(&lim->req, now_us);
    bucket_refill(&lim->tok, now_us);
    if (lim->req.on && lim->req.level < 1) {
        verdict = LLM_SIM_LIMIT_REQUESTS;
        *retry_after_s = retry_after(&lim->req, 1);
    } else if (lim->tok.on && lim->tok.level < tokens) {
        verdict = LLM_SIM_LIMIT_TOKENS;
        *retry_after_s = retry_after(&lim->tok, tokens);
    } else {
        /* Both or neither: a refused call takes nothing. */
        lim->req.level -= lim->req.on ? 1 : 0;
        lim->tok.level -= lim->tok.on ? tokens : 0;
    }
    pthread_mutex_unlock(&lim->lock);
    return verdict;
}

void llm_sim_limits_settle(llm_sim_limits_t *lim, double estimate, double actual)
{
    pthread_mutex_lock(&lim->lock);
    if (lim->tok.on) {
        /* May go below 0: the call used more than it said; later calls wait longer. */
        lim->tok.level = fmin(lim->tok.cap, lim->tok.level + estimate - actual);
    }
    pthread_mutex_unlock(&lim->lock);
}

/* --------------------------------------------------------------- headers */

void llm_sim_headers_add(llm_sim_headers_t *hdrs, const char *name, const char *fmt, ...)
{
    if (hdrs->cnt >= LLM_SIM_HDR_MAX) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    snprintf(hdrs->name[hdrs->cnt], sizeof(hdrs->name[0]), "%s", name);
    vsnprintf(hdrs->value[hdrs->cnt], sizeof(hdrs->value[0]), fmt, ap);
    va_end(ap);
    hdrs->cnt++;
}

/* Seconds with up to 3 decimals, trailing zeros dropped: "30.5", "6", "0.25". */
static void seconds_format(int64_t ms, char *buf, size_t size)
{
    int len = snprintf(buf, size, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    while (len > 0 && (buf[len - 1] == '0' || buf[len - 1] == '.')) {
        bool dot = buf[len - 1] == '.';
        buf[--len] = '\0';
        if (dot) {
            break;
        }
    }
    if (len == 0) {
        snprintf(buf, size, "0");
    }
}

/* Go's time.Duration spelling, which OpenAI's reset headers use. */
void llm_sim_duration_format(double seconds, char *buf, size_t size)
{
    int64_t ms = (int64_t)ceil(seconds * 1000.0 - 1e-9);
    char sec[32];
    ms = ms < 0 ? 0 : ms;
    if (ms < 1000) {
        snprintf(buf, size, ms == 0 ? "0s" : "%lldms", (long long)ms);
        return;
    }
    seconds_format(ms % 60000, sec, sizeof(sec));
    int64_t min = ms / 60000;
    if (min == 0) {
        snprintf(buf, size, "%ss", sec);
    } else if (min < 60) {
        snprintf(buf, size, "%lldm%ss", (long long)min, sec);
    } else {
        snprintf(buf, size, "%lldh%lldm%ss", (long long)(min / 60), (long long)(min % 60), sec);
    }
}

static void bucket_headers(const llm_sim_bucket_t *b, const char *what, llm_sim_headers_t *hdrs)
{
    char name[40], reset[32];
    if (!b->on) {
        return;
    }
    llm_sim_duration_format(bucket_until_full_s(b), reset, sizeof(reset));
    snprintf(name, sizeof(name), "x-ratelimit-limit-%s", what);
    llm_sim_headers_add(hdrs, name, "%.0f", b->cap);
    snprintf(name, sizeof(name), "x-ratelimit-remaining-%s", what);
    llm_sim_headers_add(hdrs, name, "%.0f", b->level > 0 ? floor(b->level) : 0);
    snprintf(name, sizeof(name), "x-ratelimit-reset-%s", what);
    llm_sim_headers_add(hdrs, name, "%s", reset);
}

void llm_sim_limits_headers(llm_sim_limits_t *lim, int64_t now_us, llm_sim_headers_t *hdrs)
{
    if (!llm_sim_limits_on(lim)) {
        return;
    }
    pthread_mutex_lock(&lim->lock);
    bucket_refill(&lim->req, now_us);
    bucket_refill(&lim->tok, now_us);
    bucket_headers(&lim->req, "requests", hdrs);
    bucket_headers(&lim->tok, "tokens", hdrs);
    pthread_mutex_unlock(&lim->lock);
}

static json_t *bucket_json(const llm_sim_bucket_t *b)
{
    char reset[32];
    llm_sim_duration_format(bucket_until_full_s(b), reset, sizeof(reset));
    return json_pack("{s:I, s:I, s:s}", "limit", (json_int_t)b->cap, "remaining",
                     (json_int_t)(b->level > 0 ? floor(b->level) : 0), "reset", reset);
}

json_t *llm_sim_limits_json(llm_sim_limits_t *lim, int64_t now_us)
{
    if (!llm_sim_limits_on(lim)) {
        return NULL;
    }
    json_t *obj = json_object();
    pthread_mutex_lock(&lim->lock);
    bucket_refill(&lim->req, now_us);
    bucket_refill(&lim->tok, now_us);
    if (lim->req.on) {
        json_object_set_new(obj, "requests", bucket_json(&lim->req));
    }
    if (lim->tok.on) {
        json_object_set_new(obj, "tokens", bucket_json(&lim->tok));
    }
    pthread_mutex_unlock(&lim->lock);
    return obj;
}
