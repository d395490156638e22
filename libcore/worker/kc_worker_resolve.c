/* Resolution: decode, validate, L1, in-flight coalescing, LLM batches, fallback. */
#include "kc_err.h"
#include "kc_fallback.h"
#include "kc_input.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* created_at this far ahead of our clock is taken as clock skew. */
#define KC_CLOCK_SKEW_US (5 * 1000000LL)

/* ---------------------------------------------------------------- lookups */

/* The diagram of kc_worker_int.h: the states each state may move to. */
#define TO(st) (1u << (st))
static const unsigned lookup_moves[KC_LK__CNT] = {
    [KC_LK_NEW] = TO(KC_LK_STAGED) | TO(KC_LK_LIVE) | TO(KC_LK_FILL) | TO(KC_LK_TAKEN),
    [KC_LK_STAGED] = TO(KC_LK_LEASE_WAIT) | TO(KC_LK_LIVE) | TO(KC_LK_FILL),
    [KC_LK_LEASE_WAIT] = TO(KC_LK_LEASE_WAIT) | TO(KC_LK_LIVE) | TO(KC_LK_FILL),
    [KC_LK_LIVE] = TO(KC_LK_TAKEN) | TO(KC_LK_NEW),
    [KC_LK_FILL] = TO(KC_LK_NEW),
    [KC_LK_TAKEN] = TO(KC_LK_IN_CALL) | TO(KC_LK_LIVE) | TO(KC_LK_FILL),
    [KC_LK_IN_CALL] =
        TO(KC_LK_IN_CALL) | TO(KC_LK_LIVE) | TO(KC_LK_FILL) | TO(KC_LK_BACKOFF) | TO(KC_LK_DONE),
    [KC_LK_BACKOFF] = TO(KC_LK_LIVE) | TO(KC_LK_FILL) | TO(KC_LK_NEW),
    [KC_LK_DONE] = 0,
};

static const char *const lookup_state_names[KC_LK__CNT] = {
    "NEW", "STAGED", "LEASE_WAIT", "LIVE", "FILL", "TAKEN", "IN_CALL", "BACKOFF", "DONE"};

void kc_lookup_move(kc_lookup_t *lk, kc_lookup_state_t to)
{
    if (!(lookup_moves[lk->state] & TO(to))) {
        /* A bug: Debug builds (and the sanitizer tests) stop here. */
        kc_log(KC_LOG_ERROR, "internal error: lookup moved %s -> %s", lookup_state_names[lk->state],
               lookup_state_names[to]);
        assert(!"illegal lookup move");
    }
    lk->state = to;
}
#undef TO

kc_lookup_t *kc_worker_lookup_new(const kc_key_t *key, const char *norm, size_t norm_len,
                                  const char *text, size_t text_len)
{
    kc_lookup_t *lk = calloc(1, sizeof(*lk));

    if (!lk) {
        return NULL;
    }
    /* Trim so the LLM sees the query as typed but without padding. */
    while (text_len > 0 && (unsigned char)*text <= ' ') {
        text++;
        text_len--;
    }
    while (text_len > 0 && (unsigned char)text[text_len - 1] <= ' ') {
        text_len--;
    }
    lk->norm = malloc(norm_len + 1);
    lk->text = malloc(text_len + 1);
    if (!lk->norm || !lk->text) {
        kc_worker_lookup_free(lk);
        return NULL;
    }
    memcpy(lk->norm, norm, norm_len);
    lk->norm[norm_len] = '\0';
    lk->norm_len = norm_len;
    memcpy(lk->text, text, text_len);
    lk->text[text_len] = '\0';
    lk->text_len = text_len;
    lk->key = *key;
    lk->waiters_tail = &lk->waiters;
    lk->deadline_at = INT64_MAX;
    lk->prio = KC_PRIO_LOW;
    lk->pq_pos = KC_HEAP_NONE;
    lk->pq2_pos = KC_HEAP_NONE;
    lk->rq_pos = KC_HEAP_NONE;
    lk->read_cache = true;
    return lk;
}

void kc_worker_lookup_free(kc_lookup_t *lk)
{
    free(lk->tenant);
    free(lk->norm);
    free(lk->text);
    free(lk);
}

/* ------------------------------------------------------------- deadline heap */

bool kc_worker_deadline_before(const void *a, const void *b)
{
    return ((const kc_wreq_t *)a)->fire_at < ((const kc_wreq_t *)b)->fire_at;
}

void kc_worker_deadline_set_pos(void *e, size_t pos)
{
    ((kc_wreq_t *)e)->dl_pos = pos;
}

/* ------------------------------------------------------------- waiters */

static int lookup_attach(kc_worker_t *w, kc_lookup_t *lk, kc_wreq_t *wr)
{
    bool reorder = false;

    if (kc_heap_push(&w->deadlines, wr) != 0) {
        return KC_ERR_NOMEM;
    }
    wr->next = NULL;
    wr->lookup = lk;
    *lk->waiters_tail = wr;
    lk->waiters_tail = &wr->next;
    lk->waiter_cnt++;
    if (wr->deadline_at < lk->deadline_at) {
        lk->deadline_at = wr->deadline_at;
        reorder = true;
    }
    if (wr->req.priority > lk->prio) {
        lk->prio = wr->req.priority;
        reorder = true;
    }
    if (reorder || lk->state == KC_LK_FILL) {
        kc_worker_llmq_waiters_changed(w, lk);
    }
    if (wr->req.cache_policy != KC_CACHE_BYPASS) {
        lk->write_cache = true;
    }
    if (wr->req.cache_policy != KC_CACHE_USE) {
        lk->read_cache = false;
    }
    return 0;
}

/* Take a waiter off its lookup (answered early by the deadline timer). */
static void lookup_detach(kc_lookup_t *lk, kc_wreq_t *wr)
{
    kc_wreq_t **pp = &lk->waiters;

    while (*pp && *pp != wr) {
        pp = &(*pp)->next;
    }
    if (!*pp) {
        return;
    }
    *pp = wr->next;
    if (lk->waiters_tail == &wr->next) {
        lk->waiters_tail = pp;
    }
    lk->waiter_cnt--;
    wr->next = NULL;
    wr->lookup = NULL;
    /* The earliest deadline and highest priority may have left with it. */
    lk->deadline_at = INT64_MAX;
    lk->prio = KC_PRIO_LOW;
    for (kc_wreq_t *x = lk->waiters; x; x = x->next) {
        lk->deadline_at = x->deadline_at < lk->deadline_at ? x->deadline_at : lk->deadline_at;
        lk->prio = x->req.priority > lk->prio ? x->req.priority : lk->prio;
    }
}

static void reply_waiter(kc_worker_t *w, kc_wreq_t *wr, const kc_reply_t *rp)
{
    if (wr->dl_pos != KC_HEAP_NONE) {
        kc_heap_remove(&w->deadlines, wr->dl_pos);
    }
    wr->lookup = NULL;
    kc_worker_reply(w, wr, rp);
}

/* Reply to every waiter, then forget the lookup. */
void kc_worker_lookup_finish(kc_worker_t *w, kc_lookup_t *lk, const kc_reply_t *rp)
{
    kc_wreq_t *wr = lk->waiters, *next;

    /* With coalesce.inflight off a newer lookup of the same key may own the
     * table slot: leave it alone. */
    if (kc_keymap_get(w->inflight, &lk->key) == lk) {
        kc_keymap_del(w->inflight, &lk->key);
    }
    kc_worker_llmq_remove(w, lk);
    for (; wr; wr = next) { /* rp is NULL only for a lookup without waiters */
        next = wr->next;
        reply_waiter(w, wr, rp);
    }
    lk->waiters = NULL;
    lk->waiters_tail = &lk->waiters;
    lk->waiter_cnt = 0;
    if (lk->calls > 0) {
        kc_lookup_move(lk, KC_LK_DONE); /* freed when its last call has finished */
    } else {
        kc_worker_lookup_free(lk);
    }
}

static void fallback_reply(kc_worker_t *w, const char *norm, size_t norm_len, const char *why,
                           kc_reply_t *rp, kc_fallback_result_t *fb)
{
    kc_fallback_classify(w->tx, norm, norm_len, fb);
    memset(rp, 0, sizeof(*rp));
    rp->category = w->tx->categories[fb->category].name;
    rp->confidence = fb->confidence;
    rp->reasoning = fb->reasoning;
    rp->status = KC_STATUS_DEGRADED;
    rp->error = why;
    rp->source = KC_SRC_FALLBACK;
    kc_log(KC_LOG_DEBUG, "fallback for \"%.40s\": %s", norm, why);
}

/* The lookup ends without an LLM answer. The fallback's answer is cached
 * only briefly and only in L1, so a recovered LLM soon replaces it. */
void kc_worker_lookup_fallback(kc_worker_t *w, kc_lookup_t *lk, const char *why)
{
    kc_fallback_result_t fb;
    kc_reply_t rp;

    fallback_reply(w, lk->norm, lk->norm_len, why, &rp, &fb);
    kc_worker_cache_release(w, lk);
    if (lk->write_cache && w->conf.cache_fallback_ttl_s > 0) {
        kc_worker_l1_put(w, lk, &rp, w->conf.cache_fallback_ttl_s * 1000000);
    }
    kc_worker_lookup_finish(w, lk, &rp);
}

/* Answer every waiter by the fallback now; the lookup goes on (its LLM
 * answer, if one comes, only fills the caches). */
void kc_worker_waiters_fallback(kc_worker_t *w, kc_lookup_t *lk, const char *why)
{
    kc_fallback_result_t fb;
    kc_wreq_t *wr = lk->waiters, *next;
    kc_reply_t rp;

    fallback_reply(w, lk->norm, lk->norm_len, why, &rp, &fb);
    lk->waiters = NULL;
    lk->waiters_tail = &lk->waiters;
    lk->waiter_cnt = 0;
    lk->deadline_at = INT64_MAX;
    lk->prio = KC_PRIO_LOW;
    for (; wr; wr = next) {
        next = wr->next;
        w->stats.deadline_fallbacks++;
        reply_waiter(w, wr, &rp);
    }
}

void kc_worker_l1_put(kc_worker_t *w, const kc_lookup_t *lk, const kc_reply_t *rp, int64_t ttl_us)
{
    kc_answer_t ans = {rp->category, rp->confidence, rp->reasoning, rp->model,
                       lk->norm,     lk->norm_len,   kc_w_now(w),   rp->status != KC_STATUS_OK};

    if (w->l1 && ttl_us > 0) {
        kc_l1_put(w->l1, &lk->key, &ans, kc_w_mono(w), ttl_us);
    }
}

/* ------------------------------------------------------------- deadlines */

/* Answer every request whose time is up by the fallback; its lookup goes on,
 * so a late LLM answer still fills the cache (and sends no second reply). */
void kc_worker_deadlines(kc_worker_t *w)
{
    int64_t now = kc_w_now(w);
    kc_wreq_t *wr;

    while ((wr = kc_heap_peek(&w->deadlines)) && wr->fire_at <= now) {
        kc_lookup_t *lk = wr->lookup;
        kc_fallback_result_t fb;
        kc_reply_t rp;

        kc_heap_pop(&w->deadlines);
        lookup_detach(lk, wr);
        fallback_reply(w, lk->norm, lk->norm_len,
                       wr->consumed_at >= wr->fire_at
                           ? "consumed after its deadline (a backlog): no cache had it"
                           : "deadline reached before the LLM answered",
                       &rp, &fb);
        w->stats.deadline_fallbacks++;
        kc_worker_reply(w, wr, &rp);
        kc_worker_llmq_waiters_changed(w, lk); /* may free lk */
    }
}

int kc_worker_next_timer_ms(kc_worker_t *w, int max_ms)
{
    kc_wreq_t *wr = kc_heap_peek(&w->deadlines);
    int64_t ms = max_ms, llm_us = kc_worker_llm_next_timer_us(w);

    if (wr) {
        int64_t d = (wr->fire_at - kc_w_now(w) + 999) / 1000;
        ms = d < ms ? d : ms;
    }
    if (llm_us < INT64_MAX) {
        int64_t d = (llm_us + 999) / 1000;
        ms = d < ms ? d : ms;
    }
    if (w->cache.lwait_cnt > 0) { /* waiting on other workers' leases */
        int64_t d = (w->cache.next_poll - kc_w_mono(w) + 999) / 1000;
        ms = d < ms ? d : ms;
    }
    return ms < 0 ? 0 : (int)ms;
}

/* ---------------------------------------------------------------- requests */

static char *header_dup(const kc_wmsg_t *rec, const char *name)
{
    const void *val;
    size_t size;
    char *s;

    if (!rec->hdrs ||
        rd_kafka_header_get_last(rec->hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val) {
        return NULL;
    }
    if ((s = malloc(size + 1))) {
        memcpy(s, val, size);
        s[size] = '\0';
    }
    return s;
}

/* Track a consumed offset in its partition's watermark (what may be committed). */
static void track(kc_part_t *part, const kc_wmsg_t *rec)
{
    int rc = kc_wm_track(part->wm, rec->offset);

    if (rc == KC_WM_OUT_OF_ORDER) {
        kc_log(KC_LOG_WARN, "offset %lld on partition %d is below one consumed before",
               (long long)rec->offset, (int)rec->partition);
    } else if (rc == KC_ERR_STATE) {
        kc_log(KC_LOG_WARN, "offset %lld on partition %d consumed twice", (long long)rec->offset,
               (int)rec->partition);
    } else if (rc != 0) {
        /* Untracked, the commit could pass this offset before it is answered. */
        kc_log(KC_LOG_ERROR, "offset %lld on partition %d not tracked: %s", (long long)rec->offset,
               (int)rec->partition, kc_strerror(rc));
    }
}

static kc_wreq_t *wreq_new(kc_worker_t *w, const kc_wmsg_t *rec)
{
    kc_wreq_t *wr = calloc(1, sizeof(*wr));
    kc_part_t *part = kc_worker_part(w, rec->partition);

    if (!wr) {
        return NULL;
    }
    wr->partition = rec->partition;
    wr->offset = rec->offset;
    wr->consumed_at = kc_w_now(w);
    wr->consumed_mono = kc_w_mono(w);
    if (part) {
        wr->gen = part->gen;
        if (part->assigned) {
            track(part, rec);
        }
        kc_log(KC_LOG_DEBUG, "consumed %d@%lld gen %u%s", (int)rec->partition,
               (long long)rec->offset, part->gen, part->assigned ? "" : " (not assigned)");
    }
    wr->dl_pos = KC_HEAP_NONE;
    w->outstanding++;
    w->stats.requests++;
    return wr;
}

static int normalize(kc_worker_t *w, kc_wreq_t *wr, size_t *norm_len)
{
    if (wr->req.query_len + 1 > w->normbuf_size) {
        char *p = realloc(w->normbuf, wr->req.query_len + 1);
        if (!p) {
            return KC_ERR_NOMEM;
        }
        w->normbuf = p;
        w->normbuf_size = wr->req.query_len + 1;
    }
    return kc_query_normalize(wr->req.query, wr->req.query_len, w->normbuf, norm_len);
}

/* Checks that give an ERROR reply. @returns false if the request was answered. */
static bool validate(kc_worker_t *w, kc_wreq_t *wr, size_t *norm_len)
{
    int err;

    if ((int64_t)wr->req.query_len > w->conf.query_max_bytes) {
        kc_worker_reply_error(w, wr, "query is %zu bytes, longer than query.max.bytes=%lld",
                              wr->req.query_len, (long long)w->conf.query_max_bytes);
        return false;
    }
    err = normalize(w, wr, norm_len);
    if (err == KC_ERR_INVALID) {
        kc_worker_reply_error(w, wr, "query is not valid UTF-8");
        return false;
    } else if (err) {
        kc_worker_reply_error(w, wr, "out of memory normalizing the query");
        return false;
    }
    if (*norm_len == 0) {
        kc_worker_reply_error(w, wr, "query is empty");
        return false;
    }
    if (memchr(w->normbuf, '\0', *norm_len)) {
        kc_worker_reply_error(w, wr, "query contains a NUL byte");
        return false;
    }
    /* Whitespace controls were folded by normalization; any other control
     * character (terminal escapes, backspaces) has no place in a question. */
    for (size_t i = 0; i < *norm_len; i++) {
        unsigned char c = (unsigned char)w->normbuf[i];
        if (c < 0x20 || c == 0x7f) {
            kc_worker_reply_error(w, wr, "query contains control character 0x%02x", c);
            return false;
        }
    }
    return true;
}

/* A request_id that can go into a reply: valid UTF-8, no control character. */
static bool id_printable(const char *id, size_t len)
{
    for (size_t i = 0, n; i < len; i += n) {
        unsigned char c = (unsigned char)id[i];
        if (!(n = kc_utf8_seq_len(id + i, len - i)) || c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Cut an unusable request_id to KC_REQUEST_ID_MAX bytes on a character
 * boundary, each invalid byte or control character made '?': the ERROR reply
 * still names something like it, and stays small. */
static void id_sanitize(char *id)
{
    size_t len = strlen(id), o = 0;

    for (size_t i = 0, n; i < len && o < KC_REQUEST_ID_MAX; i += n) {
        unsigned char c = (unsigned char)id[i];
        n = kc_utf8_seq_len(id + i, len - i);
        if (n == 0 || c < 0x20 || c == 0x7f) {
            id[o++] = '?';
            n = 1;
        } else if (o + n <= KC_REQUEST_ID_MAX) {
            memmove(id + o, id + i, n);
            o += n;
        } else {
            break;
        }
    }
    id[o] = '\0';
}

/* The request's own reply topic: the field, else the kafka_replyTopic header. */
static const char *asked_topic(const kc_wreq_t *wr)
{
    if (wr->req.reply_topic && *wr->req.reply_topic) {
        return wr->req.reply_topic;
    }
    return wr->reply_topic_hdr && *wr->reply_topic_hdr ? wr->reply_topic_hdr : NULL;
}

/* What a reply is addressed with: an unusable request_id or reply topic gets
 * an ERROR reply on topic.replies, never a write to the named topic.
 * @returns false if the request was answered. */
static bool validate_envelope(kc_worker_t *w, kc_wreq_t *wr)
{
    char *id = wr->req.request_id;
    size_t len = id ? strlen(id) : 0;
    const char *topic = asked_topic(wr);

    if (len > KC_REQUEST_ID_MAX || !id_printable(id, len)) {
        wr->reply_default = true;
        id_sanitize(id);
        kc_worker_reply_error(w, wr,
                              len > KC_REQUEST_ID_MAX
                                  ? "request_id is %zu bytes, longer than %d (shown cut)"
                                  : "request_id has a control character or invalid UTF-8 "
                                    "(%zu bytes; shown with ? for each)",
                              len, KC_REQUEST_ID_MAX);
        return false;
    }
    if (!topic || strcmp(topic, w->conf.topic_replies) == 0) {
        return true;
    }
    wr->reply_default = true;
    if (!kc_input_topic_valid(topic)) {
        kc_worker_reply_error(w, wr, "reply topic is not a valid Kafka topic name (%zu bytes)",
                              strlen(topic));
        return false;
    }
    if (!kc_input_topic_allowed(w->conf.topic_replies_allowed, topic)) {
        kc_worker_reply_error(w, wr, "reply topic %s is not in topic.replies.allowed", topic);
        return false;
    }
    wr->reply_default = false;
    return true;
}

/* The requester chooses created_at and deadline_ms: a clock far ahead, or a
 * deadline of days, must neither overflow nor hold the partition's commit. */
static void set_deadline(kc_worker_t *w, kc_wreq_t *wr)
{
    int64_t budget = wr->req.deadline_ms > 0 ? wr->req.deadline_ms : w->conf.sla_deadline_ms;
    int64_t created = wr->req.created_at;

    if (budget > w->conf.sla_deadline_max_ms) {
        budget = w->conf.sla_deadline_max_ms;
    }
    if (created <= 0 || created > wr->consumed_at + KC_CLOCK_SKEW_US) {
        created = wr->consumed_at; /* 0, or in the future: consume time */
    }
    wr->created_at = created;
    wr->deadline_at = created + budget * 1000;
    wr->fire_at = wr->deadline_at - w->margin_us;
}

static bool l1_hit(kc_worker_t *w, kc_wreq_t *wr, size_t norm_len)
{
    kc_answer_t ans;
    kc_reply_t rp = {0};

    if (!w->l1 || wr->req.cache_policy != KC_CACHE_USE) {
        return false;
    }
    if (kc_l1_get(w->l1, &wr->key, w->normbuf, norm_len, kc_w_mono(w), &ans) != 0 ||
        (ans.degraded && w->llm_enabled && w->breaker.state == KC_BREAKER_CLOSED)) {
        /* A cached fallback answer stands in only while the LLM is known to
         * be sick (breaker not closed): a recovered LLM replaces it at once. */
        w->stats.cache_misses[KC_SRC_L1]++;
        return false;
    }
    w->stats.cache_hits[KC_SRC_L1]++;
    wr->cache_us = kc_w_mono(w) - wr->consumed_mono;
    rp.category = ans.category;
    rp.confidence = ans.confidence;
    rp.reasoning = ans.reasoning;
    rp.model = ans.model;
    /* A cached fallback answer is still the fallback's: say so, not "L1". */
    rp.status = ans.degraded ? KC_STATUS_DEGRADED : KC_STATUS_OK;
    rp.error = ans.degraded ? "cached fallback answer: the LLM was unavailable" : NULL;
    rp.source = ans.degraded ? KC_SRC_FALLBACK : KC_SRC_L1;
    kc_worker_reply(w, wr, &rp);
    return true;
}

/* context["tenant"] of a request, "" without one. */
static const char *tenant_of(const kc_request_t *req)
{
    for (size_t i = 0; i < req->context_cnt; i++) {
        if (strcmp(req->context[i].key, "tenant") == 0 && req->context[i].value) {
            return req->context[i].value;
        }
    }
    return "";
}

/* Queue a new lookup: to the LMDB/Redis stage of this micro-batch when those
 * levels may answer it, else straight to the LLM queue. */
static int lookup_start(kc_worker_t *w, kc_lookup_t *lk)
{
    if (lk->read_cache && kc_worker_cache_enabled(w)) {
        return kc_worker_cache_stage_add(w, lk);
    }
    kc_worker_llmq_push(w, lk);
    return 0;
}

/* A request consumed when its time is already up (a backlog) is still looked
 * up like any other: the deadline timer, run right after this micro-batch's
 * cache stage, answers it by the fallback if no cache level did. */
static void resolve(kc_worker_t *w, kc_wreq_t *wr, size_t norm_len)
{
    kc_lookup_t *lk;

    wr->key = kc_key_compute(w->normbuf, norm_len, w->key_seed);
    kc_key_hex(&wr->key, wr->key_hex);
    if (l1_hit(w, wr, norm_len)) {
        return;
    }
    wr->cache_us = kc_w_mono(w) - wr->consumed_mono;
    if ((lk = kc_keymap_get(w->inflight, &wr->key)) && w->conf.coalesce_inflight) {
        wr->coalesced = true;
        w->stats.coalesced++;
        if (lookup_attach(w, lk, wr) != 0) {
            kc_worker_reply_error(w, wr, "out of memory");
        }
        return;
    }
    lk = kc_worker_lookup_new(&wr->key, w->normbuf, norm_len, wr->req.query, wr->req.query_len);
    if (lk && w->isolate_tenants && !(lk->tenant = strdup(tenant_of(&wr->req)))) {
        kc_worker_lookup_free(lk);
        lk = NULL;
    }
    if (!lk || kc_keymap_put(w->inflight, &wr->key, lk) != 0) {
        if (lk) {
            kc_worker_lookup_free(lk);
        }
        kc_worker_reply_error(w, wr, "out of memory");
        return;
    }
    if (lookup_attach(w, lk, wr) != 0) {
        kc_keymap_del(w->inflight, &lk->key);
        kc_worker_lookup_free(lk);
        kc_worker_reply_error(w, wr, "out of memory");
    } else if (lookup_start(w, lk) != 0) {
        kc_worker_lookup_fallback(w, lk, "out of memory queueing the lookup");
    }
}

void kc_worker_handle_record(kc_worker_t *w, const kc_wmsg_t *rec)
{
    char errstr[512];
    size_t norm_len = 0;
    kc_wreq_t *wr;

    if (w->txn.on && kc_worker_txn_skip(w, rec)) {
        return;
    }
    if (!(wr = wreq_new(w, rec))) {
        kc_log(KC_LOG_ERROR, "out of memory: request at offset %lld left uncommitted",
               (long long)rec->offset);
        return;
    }
    if (kc_avro_request_decode(w->av, rec->value, rec->len, &wr->req, errstr, sizeof(errstr)) !=
        0) {
        kc_log(KC_LOG_DEBUG, "partition %d offset %lld to DLT: %s", (int)rec->partition,
               (long long)rec->offset, errstr);
        kc_worker_dlt(w, wr, rec, errstr);
        return;
    }
    wr->reply_topic_hdr = header_dup(rec, "kafka_replyTopic");
    set_deadline(w, wr);
    strcpy(wr->key_hex, "");
    if (!validate_envelope(w, wr) || !validate(w, wr, &norm_len)) {
        return;
    }
    resolve(w, wr, norm_len);
}

/* Teardown: free every request still waiting and every lookup. */
void kc_worker_resolve_free_all(kc_worker_t *w)
{
    kc_wreq_t *wr;
    kc_lookup_t *lk;

    while ((wr = kc_heap_pop(&w->deadlines))) {
        kc_worker_wreq_free(w, wr);
    }
    while ((lk = kc_keymap_pop(w->inflight))) {
        kc_worker_llmq_remove(w, lk);
        kc_worker_lookup_free(lk);
    }
}
