/* The cache levels below L1: LMDB (local disk) and Redis (shared by the
 * fleet), the fleet-wide lease, and the batched writes to both. Each
 * micro-batch costs at most one LMDB read transaction, one Redis MGET and one
 * lease pipeline; each loop pass at most one LMDB write transaction and one
 * Redis SET pipeline. */
#include "kc_err.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KC_LMDB_SYNC_US   1000000 /* flush LMDB's dirty pages this often */
#define KC_LMDB_PURGE_US  100000  /* one incremental expiry step this often */
#define KC_LMDB_PURGE_MAX 256     /* entries examined per step */

/* ------------------------------------------------------------- growth */

static int grow(void **arr, size_t *size, size_t need, size_t elem)
{
    size_t n = *size ? *size : 64;
    void *p;

    if (need <= *size) {
        return 0;
    }
    while (n < need) {
        n *= 2;
    }
    if (!(p = realloc(*arr, n * elem))) {
        return KC_ERR_NOMEM;
    }
    memset((char *)p + *size * elem, 0, (n - *size) * elem);
    *arr = p;
    *size = n;
    return 0;
}

/* Per-key scratch arrays used by the batched lookups. */
static int scratch_reserve(kc_wcache_t *c, size_t n)
{
    size_t size = c->scratch_size;
    int err = 0;

    if (n <= size) {
        return 0;
    }
    err |= grow((void **)&c->keys, &size, n, sizeof(*c->keys));
    size = c->scratch_size;
    err |= grow((void **)&c->norms, &size, n, sizeof(*c->norms));
    size = c->scratch_size;
    err |= grow((void **)&c->norm_lens, &size, n, sizeof(*c->norm_lens));
    size = c->scratch_size;
    err |= grow((void **)&c->recs, &size, n, sizeof(*c->recs));
    size = c->scratch_size;
    err |= grow((void **)&c->rcs, &size, n, sizeof(*c->rcs));
    size = c->scratch_size;
    err |= grow((void **)&c->found, &size, n, sizeof(*c->found));
    size = c->scratch_size;
    err |= grow((void **)&c->vals, &size, n, sizeof(*c->vals)); /* zeroed = kc_buf_init */
    if (err) {
        return KC_ERR_NOMEM;
    }
    c->scratch_size = size;
    return 0;
}

static int writes_reserve(kc_wcache_t *c, size_t n)
{
    size_t size = c->wsize;

    if (n <= size) {
        return 0;
    }
    if (grow((void **)&c->wkeys, &size, n, sizeof(*c->wkeys))) {
        return KC_ERR_NOMEM;
    }
    size = c->wsize;
    if (grow((void **)&c->wlmdb, &size, n, sizeof(*c->wlmdb))) {
        return KC_ERR_NOMEM;
    }
    size = c->wsize;
    if (grow((void **)&c->wredis, &size, n, sizeof(*c->wredis))) {
        return KC_ERR_NOMEM;
    }
    c->wsize = size;
    return 0;
}

/* ------------------------------------------------------------- lifecycle */

/* Settings that are legal but probably not what the operator meant. */
static void redis_tls_warn(const kc_redis_t *redis, const kc_worker_conf_t *conf)
{
    bool tls = strncmp(conf->cache_redis_url, "rediss://", 9) == 0;

    if (tls && !conf->cache_redis_tls_verify) {
        kc_log(KC_LOG_WARN,
               "Redis %s: cache.redis.tls.verify=false: the server certificate is "
               "NOT verified (anyone on the path can read and change the cache); "
               "tests only",
               kc_redis_endpoint(redis));
    }
    if (!tls && (*conf->cache_redis_tls_ca_location || *conf->cache_redis_tls_cert_location)) {
        kc_log(KC_LOG_WARN,
               "Redis %s: cache.redis.tls.* is set but cache.redis.url is not "
               "rediss://: the connection is NOT encrypted",
               kc_redis_endpoint(redis));
    }
}

int kc_worker_cache_init(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    kc_wcache_t *c = &w->cache;
    const kc_worker_conf_t *conf = &w->conf;

    if (*conf->cache_lmdb_path &&
        !(c->lmdb = kc_lmdb_new(conf->cache_lmdb_path, (size_t)conf->cache_lmdb_size_mb, errstr,
                                errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if (*conf->cache_redis_url) {
        kc_redis_tls_conf_t tls = {
            .ca_location = conf->cache_redis_tls_ca_location,
            .cert_location = conf->cache_redis_tls_cert_location,
            .key_location = conf->cache_redis_tls_key_location,
            .verify = conf->cache_redis_tls_verify != 0,
        };
        c->redis = kc_redis_new(conf->cache_redis_url, conf->cache_redis_prefix,
                                (int)conf->cache_redis_timeout_ms,
                                (int)conf->cache_redis_timeout_ms, &tls, errstr, errstr_size);
        if (!c->redis) {
            return KC_ERR_CONFIG;
        }
        redis_tls_warn(c->redis, conf);
        /* Unique per process even when two workers share a worker.id. */
        snprintf(c->lease_token, sizeof(c->lease_token), "%s/%d", w->worker_id, (int)getpid());
        /* Connect now so /health and the log tell a wrong URL or a down Redis
         * at start-up; the worker starts anyway and reconnects later. */
        if (kc_redis_ping(c->redis, errstr, errstr_size) != 0) {
            kc_log(KC_LOG_WARN, "Redis %s: %s (continuing without it; it reconnects with backoff)",
                   kc_redis_endpoint(c->redis), errstr);
        }
    }
    return 0;
}

void kc_worker_cache_free(kc_worker_t *w)
{
    kc_wcache_t *c = &w->cache;

    kc_worker_cache_flush(w);
    kc_lmdb_destroy(c->lmdb);
    kc_redis_destroy(c->redis);
    for (size_t i = 0; i < c->wsize; i++) {
        kc_buf_free(&c->wlmdb[i]);
        kc_buf_free(&c->wredis[i]);
    }
    for (size_t i = 0; i < c->scratch_size; i++) {
        kc_buf_free(&c->vals[i]);
    }
    free(c->wlmdb);
    free(c->wredis);
    free(c->wkeys);
    free(c->rkeys);
    free(c->staged);
    free(c->lwait);
    free(c->keys);
    free(c->norms);
    free(c->norm_lens);
    free(c->recs);
    free(c->rcs);
    free(c->found);
    free(c->vals);
    kc_buf_free(&c->arena);
    memset(c, 0, sizeof(*c));
}

bool kc_worker_cache_enabled(const kc_worker_t *w)
{
    return w->cache.lmdb || w->cache.redis;
}

static bool lease_enabled(const kc_worker_t *w)
{
    return w->cache.redis && w->conf.coalesce_redis_lease_ms > 0 && w->llm_enabled;
}

int kc_worker_cache_stage_add(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_wcache_t *c = &w->cache;

    if (grow((void **)&c->staged, &c->staged_size, c->staged_cnt + 1, sizeof(*c->staged))) {
        return KC_ERR_NOMEM;
    }
    c->staged[c->staged_cnt++] = lk;
    kc_lookup_move(lk, KC_LK_STAGED);
    return 0;
}

/* ------------------------------------------------------------- answers */

/* Copy a record's strings (not NUL-terminated, in a scratch arena) into a
 * reply and answer the lookup's waiters. */
static void answer_from_rec(kc_worker_t *w, kc_lookup_t *lk, const kc_cache_rec_t *rec,
                            kc_source_t src, bool coalesced)
{
    char cat[128], model[256], reasoning[1100];
    kc_reply_t rp = {0};

    snprintf(cat, sizeof(cat), "%.*s", (int)rec->category_len, rec->category);
    if (kc_taxonomy_find(w->tx, cat, strlen(cat)) < 0) {
        /* A record from another taxonomy (same key only by a seed clash or a
         * hand-made import): never let it put a foreign category in a reply. */
        kc_worker_llmq_push(w, lk);
        return;
    }
    rp.category = cat;
    rp.confidence = rec->confidence;
    if (rec->reasoning) {
        snprintf(reasoning, sizeof(reasoning), "%.*s", (int)rec->reasoning_len, rec->reasoning);
        rp.reasoning = reasoning;
    }
    if (rec->model) {
        snprintf(model, sizeof(model), "%.*s", (int)rec->model_len, rec->model);
        rp.model = model;
    }
    rp.status = KC_STATUS_OK;
    rp.source = src;
    for (kc_wreq_t *wr = lk->waiters; wr; wr = wr->next) {
        /* resolve() stamped cache_us at the L1 miss; a lower-level hit's
         * cache_us must include that level's lookup. */
        wr->cache_us = kc_w_mono(w) - wr->consumed_mono;
        wr->coalesced = wr->coalesced || coalesced;
    }
    if (lk->write_cache) {
        int64_t left = rec->expires_at - kc_w_now(w);
        int64_t ttl = w->conf.cache_l1_ttl_s * 1000000;
        kc_worker_l1_put(w, lk, &rp, left < ttl ? left : ttl);
        if (src == KC_SRC_REDIS) {
            kc_worker_cache_store(w, lk, &rp); /* promote to LMDB (Redis has it) */
        }
    }
    kc_worker_lookup_finish(w, lk, &rp);
}

static void encode_rec(const kc_lookup_t *lk, const kc_reply_t *rp, int64_t now, int64_t ttl_s,
                       kc_buf_t *out)
{
    kc_cache_rec_t rec = {0};

    rec.norm = lk->norm;
    rec.norm_len = lk->norm_len;
    rec.category = rp->category;
    rec.category_len = strlen(rp->category);
    rec.confidence = rp->confidence;
    rec.reasoning = rp->reasoning;
    rec.reasoning_len = rp->reasoning ? strlen(rp->reasoning) : 0;
    rec.model = rp->model;
    rec.model_len = rp->model ? strlen(rp->model) : 0;
    rec.created_at = now;
    rec.expires_at = now + ttl_s * 1000000;
    kc_buf_reset(out);
    if (kc_cache_rec_encode(&rec, out) != 0) {
        kc_buf_reset(out);
    }
}

/* Give the fleet-wide lease back without an answer (the fallback answered):
 * another worker may then ask the LLM at once instead of waiting it out. */
void kc_worker_cache_release(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_wcache_t *c = &w->cache;
    size_t size = c->rsize;

    if (!lk->leased) {
        return;
    }
    lk->leased = false;
    if (grow((void **)&c->rkeys, &size, c->rcnt + 1, sizeof(*c->rkeys)) == 0) {
        c->rsize = size;
        c->rkeys[c->rcnt++] = lk->key;
    }
}

/* Queue an answer for LMDB and Redis (only LMDB when it came from Redis);
 * written by kc_worker_cache_flush(). Also queue the lease release. */
void kc_worker_cache_store(kc_worker_t *w, kc_lookup_t *lk, const kc_reply_t *rp)
{
    kc_wcache_t *c = &w->cache;
    int64_t now = kc_w_now(w);
    size_t i = c->wcnt;

    kc_worker_cache_release(w, lk);
    if (!kc_worker_cache_enabled(w)) {
        return;
    }
    if (writes_reserve(c, i + 1) != 0) {
        return; /* a lost cache write costs an LLM call later, nothing more */
    }
    c->wkeys[i] = lk->key;
    kc_buf_reset(&c->wlmdb[i]);
    kc_buf_reset(&c->wredis[i]);
    if (c->lmdb) {
        encode_rec(lk, rp, now, w->conf.cache_lmdb_ttl_s, &c->wlmdb[i]);
    }
    if (c->redis && rp->source != KC_SRC_REDIS) {
        encode_rec(lk, rp, now, w->conf.cache_redis_ttl_s, &c->wredis[i]);
    }
    c->wcnt++;
}

/* ------------------------------------------------------------- the stage */

/* Keep the lookups for which keep[i] is false, in order. */
static size_t compact(kc_lookup_t **arr, size_t n, const bool *done)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (!done[i]) {
            arr[k++] = arr[i];
        }
    }
    return k;
}

static size_t stage_lmdb(kc_worker_t *w, kc_lookup_t **lks, size_t n)
{
    kc_wcache_t *c = &w->cache;
    char errstr[256];
    bool *done = c->found;

    for (size_t i = 0; i < n; i++) {
        c->keys[i] = lks[i]->key;
        c->norms[i] = lks[i]->norm;
        c->norm_lens[i] = lks[i]->norm_len;
    }
    if (kc_lmdb_get_many(c->lmdb, c->keys, c->norms, c->norm_lens, n, kc_w_now(w), c->recs, c->rcs,
                         &c->arena, errstr, sizeof(errstr)) != 0) {
        kc_log(KC_LOG_WARN, "LMDB lookup: %s", errstr);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        done[i] = c->rcs[i] == 0;
        if (done[i]) {
            w->stats.cache_hits[KC_SRC_LMDB]++;
            answer_from_rec(w, lks[i], &c->recs[i], KC_SRC_LMDB, false);
        } else {
            w->stats.cache_misses[KC_SRC_LMDB]++;
        }
    }
    return compact(lks, n, done);
}

/* Decode a Redis value into c->recs[i] if it is a valid, live answer for the
 * lookup's query. */
static bool redis_rec(kc_wcache_t *c, size_t i, const kc_lookup_t *lk, int64_t now)
{
    char errstr[128];

    return c->found[i] &&
           kc_cache_rec_decode(c->vals[i].data, c->vals[i].len, &c->recs[i], errstr,
                               sizeof(errstr)) == 0 &&
           c->recs[i].norm_len == lk->norm_len &&
           memcmp(c->recs[i].norm, lk->norm, lk->norm_len) == 0 && c->recs[i].expires_at > now;
}

/* One MGET for the lookups; answer the hits, return how many are left (in
 * order, at the front of lks). */
static size_t redis_answer(kc_worker_t *w, kc_lookup_t **lks, size_t n, bool coalesced)
{
    kc_wcache_t *c = &w->cache;
    char errstr[256];
    bool *done = (bool *)c->rcs; /* found[] is busy with MGET's flags */

    for (size_t i = 0; i < n; i++) {
        c->keys[i] = lks[i]->key;
    }
    if (kc_redis_mget(c->redis, c->keys, n, c->vals, c->found, errstr, sizeof(errstr)) != 0) {
        if (kc_redis_state(c->redis) != KC_REDIS_DOWN || kc_log_enabled(KC_LOG_DEBUG)) {
            kc_log(KC_LOG_WARN, "Redis lookup: %s", errstr);
        }
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        done[i] = redis_rec(c, i, lks[i], kc_w_now(w));
        if (done[i]) {
            w->stats.cache_hits[KC_SRC_REDIS]++;
            answer_from_rec(w, lks[i], &c->recs[i], KC_SRC_REDIS, coalesced);
        } else if (!coalesced) {
            w->stats.cache_misses[KC_SRC_REDIS]++;
        }
    }
    return compact(lks, n, done);
}

static void lwait_add(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_wcache_t *c = &w->cache;

    if (grow((void **)&c->lwait, &c->lwait_size, c->lwait_cnt + 1, sizeof(*c->lwait))) {
        kc_worker_llmq_push(w, lk); /* cannot wait: ask the LLM ourselves */
        return;
    }
    kc_lookup_move(lk, KC_LK_LEASE_WAIT);
    c->lwait[c->lwait_cnt++] = lk;
}

/* Take the fleet-wide lease of each key: holders go to the LLM queue, the
 * others wait for the holder's answer to appear in Redis. On a Redis error
 * everybody asks the LLM (a duplicate call beats an unanswered request). */
static void stage_lease(kc_worker_t *w, kc_lookup_t **lks, size_t n)
{
    kc_wcache_t *c = &w->cache;
    char errstr[256];
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        c->keys[i] = lks[i]->key;
    }
    if (kc_redis_lease_acquire(c->redis, c->keys, n, w->conf.coalesce_redis_lease_ms,
                               c->lease_token, c->found, errstr, sizeof(errstr)) != 0) {
        for (size_t i = 0; i < n; i++) {
            kc_worker_llmq_push(w, lks[i]);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->found[i]) {
            lks[i]->leased = true;
            lks[m++] = lks[i];
        } else {
            w->stats.lease_waits++;
            lwait_add(w, lks[i]);
        }
    }
    /* The previous holder may have written its answer and released the lease
     * between our MGET and our SET NX: look again before asking the LLM. */
    m = m > 0 ? redis_answer(w, lks, m, true) : 0;
    for (size_t i = 0; i < m; i++) {
        kc_worker_llmq_push(w, lks[i]);
    }
}

/* Resolve this micro-batch's new lookups through LMDB, then Redis, then the
 * lease; what is left goes to the LLM queue. */
void kc_worker_cache_stage(kc_worker_t *w)
{
    kc_wcache_t *c = &w->cache;
    kc_lookup_t **lks = c->staged;
    size_t n = 0;

    /* A REFRESH or BYPASS request that attached after the lookup was staged
     * turned reads off for it. */
    for (size_t i = 0; i < c->staged_cnt; i++) {
        if (lks[i]->read_cache) {
            lks[n++] = lks[i];
        } else {
            kc_worker_llmq_push(w, lks[i]);
        }
    }
    c->staged_cnt = 0;
    if (n == 0 || scratch_reserve(c, n) != 0) {
        for (size_t i = 0; i < n; i++) {
            kc_worker_llmq_push(w, lks[i]);
        }
        return;
    }
    if (c->lmdb) {
        n = stage_lmdb(w, lks, n);
    }
    if (c->redis && n > 0) {
        n = redis_answer(w, lks, n, false);
    }
    if (lease_enabled(w) && n > 0) {
        stage_lease(w, lks, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        kc_worker_llmq_push(w, lks[i]);
    }
}

/* ------------------------------------------------------------- writes */

void kc_worker_cache_flush(kc_worker_t *w)
{
    kc_wcache_t *c = &w->cache;
    char errstr[256];
    size_t n = 0;

    if (c->lmdb && c->wcnt > 0 && scratch_reserve(c, c->wcnt) == 0) {
        for (size_t i = 0; i < c->wcnt; i++) {
            if (c->wlmdb[i].len > 0 &&
                kc_cache_rec_decode(c->wlmdb[i].data, c->wlmdb[i].len, &c->recs[n], errstr,
                                    sizeof(errstr)) == 0) {
                c->keys[n++] = c->wkeys[i];
            }
        }
        if (n > 0 && kc_lmdb_put_many(c->lmdb, c->keys, c->recs, n, errstr, sizeof(errstr))) {
            kc_log(KC_LOG_WARN, "LMDB write of %zu answers: %s", n, errstr);
        }
    }
    if (c->redis && c->wcnt > 0 && scratch_reserve(c, c->wcnt) == 0) {
        n = 0;
        for (size_t i = 0; i < c->wcnt; i++) {
            if (c->wredis[i].len > 0) {
                c->keys[n] = c->wkeys[i];
                /* swap, not copy: the buffers keep their allocations */
                kc_buf_t tmp = c->vals[n];
                c->vals[n++] = c->wredis[i];
                c->wredis[i] = tmp;
            }
        }
        if (n > 0 &&
            kc_redis_set_many(c->redis, c->keys, c->vals, n, w->conf.cache_redis_ttl_s, errstr,
                              sizeof(errstr)) != 0 &&
            kc_redis_state(c->redis) != KC_REDIS_DOWN) {
            kc_log(KC_LOG_WARN, "Redis write of %zu answers: %s", n, errstr);
        }
    }
    c->wcnt = 0;
    if (c->redis && c->rcnt > 0) {
        kc_redis_lease_release(c->redis, c->rkeys, c->rcnt, c->lease_token, NULL, errstr,
                               sizeof(errstr));
        c->rcnt = 0;
    }
}

/* ------------------------------------------------------------- timers */

/* Look for the answers other workers were asked for; where a lease expired
 * (its holder died) take it over. */
static void lease_poll(kc_worker_t *w)
{
    kc_wcache_t *c = &w->cache;
    size_t n = 0, left;

    /* Lookups nobody waits for any more are dropped: their holder fills the
     * cache anyway. */
    for (size_t i = 0; i < c->lwait_cnt; i++) {
        kc_lookup_t *lk = c->lwait[i];
        if (lk->waiter_cnt == 0) {
            kc_worker_lookup_finish(w, lk, NULL);
        } else {
            c->lwait[n++] = lk;
        }
    }
    c->lwait_cnt = n;
    if (n == 0 || scratch_reserve(c, n) != 0) {
        return;
    }
    left = redis_answer(w, c->lwait, n, true);
    c->lwait_cnt = 0;
    if (left > 0 && kc_redis_state(c->redis) != KC_REDIS_DOWN) {
        kc_lookup_t **retry = malloc(left * sizeof(*retry));
        if (retry) {
            memcpy(retry, c->lwait, left * sizeof(*retry));
            stage_lease(w, retry, left);
            free(retry);
            return;
        }
    }
    /* Redis is down: nobody's answer will show up there; ask the LLM. */
    for (size_t i = 0; i < left; i++) {
        kc_worker_llmq_push(w, c->lwait[i]);
    }
}

void kc_worker_cache_tick(kc_worker_t *w)
{
    kc_wcache_t *c = &w->cache;
    int64_t now = kc_w_mono(w);
    char errstr[256];

    if (c->redis && c->lwait_cnt > 0 && now >= c->next_poll) {
        c->next_poll = now + w->conf.coalesce_redis_poll_ms * 1000;
        lease_poll(w);
    }
    /* Reconnect a lost Redis when its backoff allows, even with no traffic,
     * so /health and the metrics tell the truth on an idle worker. */
    if (c->redis && kc_redis_state(c->redis) == KC_REDIS_DOWN &&
        kc_redis_retry_in_ms(c->redis) == 0) {
        kc_redis_ping(c->redis, errstr, sizeof(errstr));
    }
    if (c->lmdb && now >= c->next_purge) {
        c->next_purge = now + KC_LMDB_PURGE_US;
        kc_lmdb_purge_step(c->lmdb, kc_w_now(w), KC_LMDB_PURGE_MAX, NULL, errstr, sizeof(errstr));
    }
    if (c->lmdb && now >= c->next_sync) {
        c->next_sync = now + KC_LMDB_SYNC_US;
        kc_lmdb_sync(c->lmdb, errstr, sizeof(errstr));
    }
}
