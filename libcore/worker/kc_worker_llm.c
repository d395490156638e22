/*
 * The LLM side of the worker: the live and fill queues, call sizing from the
 * latency model, the concurrency limiter and the rate-limit pacer, calls and
 * their hedges, and what each outcome does to the lookups it carried.
 *
 * Order of service: live lookups (someone waits) by priority, then deadline;
 * when the head's deadline only allows a call smaller than the backlog needs
 * (the worker is behind), the call is taken newest-first instead, so the LLM
 * spends itself on queries that can still be answered in full-size calls and
 * the oldest get the fallback at their deadline (adaptive LIFO). Lookups
 * nobody waits for only fill the caches, with spare capacity.
 */
#include "kc_err.h"
#include "kc_fallback.h"
#include "kc_llm_plan.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KC_CALL_MAX      1024 /* llm.batch.max's upper bound */
#define HEDGE_CREDIT_MAX 3.0
#define LP_ABSENT_LIMIT  3     /* answers without logprobs before auto stops asking */
#define QUOTA_PAUSE_MS   1000  /* a quota 429 without Retry-After pauses this long */
#define INITIAL_LIMIT    8     /* calls at first, until the baseline latency is learned */
#define BUSY_LINGER_US   50000 /* a busy worker's wait for a fuller call */
#define BUSY_BATCH       4     /* queries worth a call at once when busy */

enum { SEND_SENT, SEND_AGAIN, SEND_STOP };

/* ------------------------------------------------------------- queue orders */

static bool live_before(const void *a, const void *b)
{
    const kc_lookup_t *x = a, *y = b;

    if (x->prio != y->prio) {
        return x->prio > y->prio;
    }
    return x->deadline_at < y->deadline_at;
}

static bool live_new_before(const void *a, const void *b)
{
    const kc_lookup_t *x = a, *y = b;

    if (x->prio != y->prio) {
        return x->prio > y->prio;
    }
    return x->deadline_at > y->deadline_at;
}

static void live_set_pos(void *e, size_t pos)
{
    ((kc_lookup_t *)e)->pq_pos = pos;
}

static void live_new_set_pos(void *e, size_t pos)
{
    ((kc_lookup_t *)e)->pq2_pos = pos;
}

static bool retry_before(const void *a, const void *b)
{
    return ((const kc_lookup_t *)a)->ready_at < ((const kc_lookup_t *)b)->ready_at;
}

static void retry_set_pos(void *e, size_t pos)
{
    ((kc_lookup_t *)e)->rq_pos = pos;
}

/* ------------------------------------------------------------- setup */

void kc_worker_answer_opts(const kc_worker_t *w, kc_llm_answer_opts_t *ao)
{
    const char *c = w->conf.llm_confidence;

    ao->reasoning = strcmp(w->conf.llm_reasoning, "short") == 0;
    ao->confidence = strcmp(c, "field") == 0  ? KC_LLM_CONFIDENCE_FIELD
                     : strcmp(c, "none") == 0 ? KC_LLM_CONFIDENCE_NONE
                                              : KC_LLM_CONFIDENCE_LOGPROBS;
}

static kc_llm_model_prior_t model_prior(const kc_worker_t *w, const kc_llm_answer_opts_t *ao)
{
    kc_llm_model_prior_t p;
    double one = (double)kc_llm_answer_tokens_estimate(w->tx, ao, 1);
    double two = (double)kc_llm_answer_tokens_estimate(w->tx, ao, 2);

    p.ttft_ms = (double)w->conf.llm_prior_ttft_ms;
    p.ms_per_out_token = (double)w->conf.llm_prior_decode_us_per_token / 1000.0;
    p.ms_per_in_token = (double)w->conf.llm_prior_prefill_us_per_token / 1000.0;
    p.out_per_query = two - one;
    p.out_fixed = one - p.out_per_query;
    /* The system prompt is the fixed part of every prompt (~4 bytes per token). */
    p.in_fixed = (double)strlen(kc_llm_system_prompt(w->llm)) / 4.0 + 200.0;
    return p;
}

int kc_worker_llm_init(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    kc_wllm_t *q = &w->lq;
    kc_llm_answer_opts_t ao = {0};
    kc_llm_model_prior_t prior;
    int max = (int)w->conf.llm_inflight_max;
    int min = (int)(w->conf.llm_inflight_min < max ? w->conf.llm_inflight_min : max);

    (void)errstr, (void)errstr_size;
    kc_heap_init(&q->live, live_before, live_set_pos);
    kc_heap_init(&q->live_new, live_new_before, live_new_set_pos);
    kc_heap_init(&q->retryq, retry_before, retry_set_pos);
    kc_worker_answer_opts(w, &ao);
    prior = model_prior(w, &ao);
    kc_llm_model_init(&q->model, &prior);
    /* Start low: the baseline latency is learned before the limit grows. */
    kc_limiter_init(&q->limiter, min, max, max < INITIAL_LIMIT ? max : INITIAL_LIMIT);
    kc_rl_init(&q->rl, w->conf.llm_rpm, w->conf.llm_tpm, kc_w_mono(w));
    q->lp_state = ao.confidence == KC_LLM_CONFIDENCE_LOGPROBS ? KC_LP_ON : KC_LP_OFF_CONFIG;
    /* One hedge banked from the start, unless hedging is off (0). */
    q->hedge_credit = w->conf.llm_hedge_max_pct > 0 ? 1.0 : 0.0;
    return 0;
}

void kc_worker_llm_free(kc_worker_t *w)
{
    kc_heap_free(&w->lq.live);
    kc_heap_free(&w->lq.live_new);
    kc_heap_free(&w->lq.retryq);
}

/* ------------------------------------------------------------- queues */

size_t kc_worker_llmq_len(const kc_worker_t *w)
{
    return w->lq.live.cnt + w->lq.fill_cnt + w->lq.retryq.cnt;
}

static void fill_unlink(kc_wllm_t *q, kc_lookup_t *lk)
{
    if (lk->fill_prev) {
        lk->fill_prev->fill_next = lk->fill_next;
    } else {
        q->fill_head = lk->fill_next;
    }
    if (lk->fill_next) {
        lk->fill_next->fill_prev = lk->fill_prev;
    } else {
        q->fill_tail = lk->fill_prev;
    }
    lk->fill_prev = lk->fill_next = NULL;
    kc_lookup_move(lk, KC_LK_NEW);
    q->fill_cnt--;
}

static void fill_push(kc_wllm_t *q, kc_lookup_t *lk)
{
    lk->fill_prev = NULL;
    lk->fill_next = q->fill_head;
    if (q->fill_head) {
        q->fill_head->fill_prev = lk;
    } else {
        q->fill_tail = lk;
    }
    q->fill_head = lk;
    kc_lookup_move(lk, KC_LK_FILL);
    q->fill_cnt++;
}

/* A lookup nobody waits for leaves without an answer (it filled no cache). */
static void lookup_drop(kc_worker_t *w, kc_lookup_t *lk)
{
    w->lq.fill_dropped++;
    kc_worker_cache_release(w, lk);
    kc_worker_lookup_finish(w, lk, NULL);
}

/* Room for one more queued lookup: the oldest cache-filling ones make way.
 * @returns false if the queue is full of lookups someone waits for. */
static bool queue_room(kc_worker_t *w)
{
    kc_wllm_t *q = &w->lq;

    while (kc_worker_llmq_len(w) >= (size_t)w->conf.llm_queue_max) {
        kc_lookup_t *old = q->fill_tail;
        if (!old) {
            return false;
        }
        fill_unlink(q, old);
        lookup_drop(w, old);
    }
    return true;
}

static int live_push(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_wllm_t *q = &w->lq;

    if (q->live.cnt == 0) {
        q->live_since = kc_w_mono(w);
    }
    if (kc_heap_push(&q->live, lk) != 0) {
        return KC_ERR_NOMEM;
    }
    if (kc_heap_push(&q->live_new, lk) != 0) {
        kc_heap_remove(&q->live, lk->pq_pos);
        return KC_ERR_NOMEM;
    }
    kc_lookup_move(lk, KC_LK_LIVE);
    return 0;
}

static void live_remove(kc_wllm_t *q, kc_lookup_t *lk)
{
    if (lk->state != KC_LK_LIVE) {
        return;
    }
    kc_heap_remove(&q->live, lk->pq_pos);
    kc_heap_remove(&q->live_new, lk->pq2_pos);
    kc_lookup_move(lk, KC_LK_NEW);
}

void kc_worker_llmq_push(kc_worker_t *w, kc_lookup_t *lk)
{
    if (lk->waiter_cnt == 0) {
        if (!lk->write_cache || w->stop || !queue_room(w)) {
            lookup_drop(w, lk);
        } else {
            fill_push(&w->lq, lk);
        }
        return;
    }
    if (!queue_room(w)) {
        w->lq.queue_full++;
        kc_worker_lookup_fallback(w, lk, "LLM queue full (llm.queue.max)");
        return;
    }
    if (live_push(w, lk) != 0) {
        kc_worker_lookup_fallback(w, lk, "out of memory queueing the lookup for the LLM");
    }
}

void kc_worker_llmq_remove(kc_worker_t *w, kc_lookup_t *lk)
{
    live_remove(&w->lq, lk);
    if (lk->state == KC_LK_FILL) {
        fill_unlink(&w->lq, lk);
    }
    if (lk->rq_pos != KC_HEAP_NONE) {
        kc_heap_remove(&w->lq.retryq, lk->rq_pos);
        kc_lookup_move(lk, KC_LK_NEW);
    }
}

void kc_worker_llmq_waiters_changed(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_wllm_t *q = &w->lq;

    if (lk->pq_pos != KC_HEAP_NONE) {
        if (lk->waiter_cnt == 0) {
            live_remove(q, lk);
            kc_worker_llmq_push(w, lk); /* to the fill queue */
        } else {
            kc_heap_update(&q->live, lk->pq_pos);
            kc_heap_update(&q->live_new, lk->pq2_pos);
        }
    } else if (lk->state == KC_LK_FILL && lk->waiter_cnt > 0) {
        fill_unlink(q, lk);
        if (live_push(w, lk) != 0) {
            kc_worker_lookup_fallback(w, lk, "out of memory queueing the lookup");
        }
    }
}

/* May b share an LLM call with a (batch.isolation)? */
static bool same_batch(const kc_worker_t *w, const kc_lookup_t *a, const kc_lookup_t *b)
{
    /* warm-up lookups have no requester, so no tenant: "" */
    return !w->isolate_tenants ||
           strcmp(a->tenant ? a->tenant : "", b->tenant ? b->tenant : "") == 0;
}

static void put_back(kc_worker_t *w, kc_lookup_t **lks, size_t n);

/* Pop up to max lookups in deadline order (or newest first), off both
 * orders; with batch.isolation=tenant only those of the first one's tenant
 * (others met on the way, at most KC_CALL_MAX, go back). */
static size_t take(kc_worker_t *w, bool newest, kc_lookup_t **out, size_t max)
{
    kc_wllm_t *q = &w->lq;
    kc_lookup_t *other[KC_CALL_MAX];
    size_t n = 0, no = 0;

    while (n < max && q->live.cnt > 0) {
        kc_lookup_t *lk = kc_heap_pop(newest ? &q->live_new : &q->live);
        kc_heap_remove(newest ? &q->live : &q->live_new, newest ? lk->pq_pos : lk->pq2_pos);
        kc_lookup_move(lk, KC_LK_TAKEN);
        if (n > 0 && !same_batch(w, out[0], lk)) {
            other[no++] = lk;
            if (no == KC_CALL_MAX) {
                break;
            }
            continue;
        }
        out[n++] = lk;
    }
    put_back(w, other, no);
    return n;
}

/* Return lookups taken for a call that did not take them: those with
 * waiters to the live queue, the others to the fill queue (the queue had
 * room for them a moment ago). */
static void put_back(kc_worker_t *w, kc_lookup_t **lks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lks[i]->waiter_cnt == 0) {
            fill_push(&w->lq, lks[i]);
        } else if (live_push(w, lks[i]) != 0) {
            kc_worker_lookup_fallback(w, lks[i], "out of memory requeueing the lookup");
        }
    }
}

/* ------------------------------------------------------------- planning */

static double query_tokens(const kc_lookup_t *lk)
{
    /* ~4 bytes per token, plus the {"id":"qN","text":""} around it */
    return (double)lk->text_len / 4.0 + 6.0;
}

static int64_t margin_us(const kc_worker_t *w)
{
    return w->margin_us;
}

static void plan(kc_worker_t *w, kc_lookup_t **lks, size_t n, size_t want, kc_plan_t *p)
{
    kc_plan_cand_t c[KC_CALL_MAX];

    for (size_t i = 0; i < n; i++) {
        c[i].deadline_us = lks[i]->waiter_cnt > 0 ? lks[i]->deadline_at : KC_PLAN_NO_DEADLINE;
        c[i].q_tokens = query_tokens(lks[i]);
    }
    kc_llm_plan(&w->lq.model, c, n, want, kc_w_now(w), margin_us(w), w->conf.llm_timeout_ms * 1000,
                p);
}

/* Spread the live queue over the free call slots: with slots to spare,
 * several small calls finish sooner than one long one. With
 * llm.batch.linger.ms the user asked for fuller calls (fewer prompts to pay
 * for) at some latency: what lingered goes in one call, deadlines allowing. */
static size_t want_size(const kc_worker_t *w, size_t free_slots, size_t limit)
{
    /* A quarter of the limit is kept in reserve: calls grow before the slots
     * run out, instead of running at the server's cap (and into its 429s). */
    size_t spread = free_slots > limit / 4 ? free_slots - limit / 4 : 1;
    size_t want = (w->lq.live.cnt + spread - 1) / spread;
    size_t max = (size_t)w->conf.llm_batch_max;

    if (w->conf.llm_batch_linger_ms > 0) {
        want = max;
    }
    return want < 1 ? 1 : want > max ? max : want;
}

static int64_t max_tokens_for(const kc_worker_t *w, size_t k, const kc_llm_pred_t *pred)
{
    kc_llm_answer_opts_t ao;
    double est;

    kc_worker_answer_opts(w, &ao);
    est = (double)kc_llm_answer_tokens_estimate(w->tx, &ao, k);
    if (pred->out_tokens > est) {
        est = pred->out_tokens;
    }
    /* Headroom for tokenizers that cut finer than ~4 bytes; what is left
     * stops a runaway generation from holding a slot for seconds. */
    return (int64_t)ceil(est * 1.5) + 16;
}

/* ------------------------------------------------------------- calls */

static void llm_done_cb(void *opaque, const kc_llm_outcome_t *out);

static void running_link(kc_wllm_t *q, kc_wcall_t *call)
{
    call->next = q->running;
    if (call->next) {
        call->next->pprev = &call->next;
    }
    call->pprev = &q->running;
    q->running = call;
}

static void running_unlink(kc_wcall_t *call)
{
    *call->pprev = call->next;
    if (call->next) {
        call->next->pprev = call->pprev;
    }
}

static double est_call_tokens(const kc_worker_t *w, const kc_plan_t *p, int64_t max_tokens)
{
    double cached = w->lq.model.cached_frac;
    double in = p->pred.in_tokens / (cached < 0.95 ? 1.0 - cached : 0.05);

    return in + (double)max_tokens;
}

/* Start a call for lks[0..k): NULL with errstr when it could not start. */
static kc_wcall_t *call_start(kc_worker_t *w, kc_lookup_t **lks, const kc_plan_t *p, bool fill,
                              bool is_hedge, char *errstr, size_t errstr_size)
{
    const char *texts[KC_CALL_MAX];
    size_t lens[KC_CALL_MAX];
    kc_wllm_t *q = &w->lq;
    kc_llm_call_opts_t co = {0};
    kc_wcall_t *call = calloc(1, sizeof(*call) + p->k * sizeof(kc_lookup_t *));

    if (!call) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    call->w = w;
    call->n = p->k;
    call->pred = p->pred;
    call->timeout_us = p->timeout_us;
    call->fill = fill;
    call->is_hedge = is_hedge;
    call->hedged = is_hedge || fill;
    call->logprobs = q->lp_state == KC_LP_ON;
    for (size_t i = 0; i < p->k; i++) {
        call->lookups[i] = lks[i];
        texts[i] = lks[i]->text;
        lens[i] = lks[i]->text_len;
        call->q_tokens += query_tokens(lks[i]);
    }
    co.max_tokens = max_tokens_for(w, p->k, &p->pred);
    co.logprobs = call->logprobs;
    if (w->io.llm_submit(w->io.opaque, texts, lens, p->k, &co, (p->timeout_us + 999) / 1000,
                         llm_done_cb, call, &call->handle, errstr, errstr_size) != 0) {
        free(call);
        return NULL;
    }
    call->start_mono = kc_w_mono(w);
    call->inflight_at_start = (int)kc_w_inflight(w);
    call->est_tokens = (int64_t)est_call_tokens(w, p, co.max_tokens);
    kc_rl_start(&q->rl, call->start_mono, call->est_tokens);
    for (size_t i = 0; i < p->k; i++) {
        lks[i]->calls++;
        kc_lookup_move(lks[i], KC_LK_IN_CALL);
    }
    running_link(q, call);
    w->stats.llm_calls++;
    if (!is_hedge) {
        q->hedge_credit += (double)w->conf.llm_hedge_max_pct / 100.0;
        q->hedge_credit = q->hedge_credit > HEDGE_CREDIT_MAX ? HEDGE_CREDIT_MAX : q->hedge_credit;
    }
    return call;
}

/* Pacing and the breaker, in the order that leaves no half-open probe
 * claimed by a call that is not sent. @returns true if a call may start. */
static bool may_send(kc_worker_t *w, const kc_plan_t *p)
{
    kc_wllm_t *q = &w->lq;
    int64_t now = kc_w_mono(w);
    int64_t est = (int64_t)est_call_tokens(w, p, max_tokens_for(w, p->k, &p->pred));
    int64_t wait = kc_rl_wait_us(&q->rl, now, est);

    if (wait > 0) {
        q->rl_wait_until = now + wait;
        return false;
    }
    q->rl_wait_until = 0;
    return kc_breaker_allow(&w->breaker, now);
}

static void breaker_reject(kc_worker_t *w)
{
    kc_lookup_t *lk;

    if (w->breaker.state != KC_BREAKER_OPEN) {
        return;
    }
    while (take(w, false, &lk, 1) == 1) {
        kc_worker_lookup_fallback(w, lk, "LLM circuit breaker open");
    }
}

/* Send lks[0..p->k) and requeue the rest of the n taken. */
static int send_call(kc_worker_t *w, kc_lookup_t **lks, size_t n, const kc_plan_t *p, bool fill)
{
    char errstr[256];

    if (!may_send(w, p)) {
        put_back(w, lks, n);
        breaker_reject(w);
        return SEND_STOP;
    }
    if (!call_start(w, lks, p, fill, false, errstr, sizeof(errstr))) {
        kc_log(KC_LOG_WARN, "cannot start LLM call: %s", errstr);
        kc_breaker_record(&w->breaker, false, kc_w_mono(w)); /* frees a half-open probe */
        put_back(w, lks + p->k, n - p->k);
        for (size_t i = 0; i < p->k; i++) {
            if (lks[i]->waiter_cnt == 0) {
                lookup_drop(w, lks[i]);
            } else {
                kc_worker_lookup_fallback(w, lks[i], errstr);
            }
        }
        return SEND_STOP;
    }
    put_back(w, lks + p->k, n - p->k);
    return SEND_SENT;
}

/* No call can answer this lookup's requests in time any more: they get the
 * fallback now, and the lookup goes on filling the caches. */
static void doomed(kc_worker_t *w, kc_lookup_t *lk)
{
    kc_llm_pred_t p;

    kc_llm_model_predict(&w->lq.model, 1, query_tokens(lk), &p);
    kc_log(KC_LOG_DEBUG,
           "doomed: %lld ms left before the margin, a call takes %.0f ms (p90 %.0f); "
           "retries %d, attempts %d; %zu calls running, limit %d",
           (long long)(lk->deadline_at - kc_w_now(w) - margin_us(w)) / 1000, p.mean_ms, p.p90_ms,
           lk->retries, lk->attempts, kc_w_inflight(w), kc_limiter_limit(&w->lq.limiter));
    w->lq.early_fallbacks++;
    kc_worker_waiters_fallback(w, lk, "no LLM call can answer before the deadline");
    kc_worker_llmq_push(w, lk);
}

static int send_live(kc_worker_t *w, size_t free_slots, size_t limit)
{
    kc_lookup_t *a[KC_CALL_MAX], *b[KC_CALL_MAX];
    size_t want = want_size(w, free_slots, limit), na, nb;
    kc_plan_t pa, pb;

    na = take(w, false, a, want);
    plan(w, a, na, want, &pa);
    if (pa.k == 0) {
        put_back(w, a + 1, na - 1);
        doomed(w, a[0]);
        return SEND_AGAIN;
    }
    if (pa.k < want) {
        /* The oldest query's deadline allows only a smaller call than the
         * backlog needs: the freshest queries make a fuller call. */
        put_back(w, a, na);
        nb = take(w, true, b, want);
        plan(w, b, nb, want, &pb);
        if (pb.k > pa.k) {
            return send_call(w, b, nb, &pb, false);
        }
        put_back(w, b, nb);
        na = take(w, false, a, pa.k);
    }
    return send_call(w, a, na, &pa, false);
}

/* Cache filling: the newest lookups nobody waits for, sized like a call
 * with a full default deadline so it never slows live calls for long. */
static int send_fill(kc_worker_t *w)
{
    kc_lookup_t *lks[KC_CALL_MAX];
    kc_plan_cand_t c[KC_CALL_MAX];
    size_t n = 0, max = (size_t)w->conf.llm_batch_max;
    int64_t now = kc_w_now(w);
    kc_plan_t p;

    for (kc_lookup_t *lk = w->lq.fill_head, *next; lk && n < max; lk = next) {
        next = lk->fill_next;
        if (n > 0 && !same_batch(w, lks[0], lk)) {
            continue;
        }
        lks[n] = lk;
        fill_unlink(&w->lq, lks[n]);
        kc_lookup_move(lks[n], KC_LK_TAKEN);
        c[n].deadline_us = now + w->conf.sla_deadline_ms * 1000;
        c[n].q_tokens = query_tokens(lks[n]);
        n++;
    }
    kc_llm_plan(&w->lq.model, c, n, n, now, margin_us(w), w->conf.llm_timeout_ms * 1000, &p);
    p.k = p.k > 0 ? p.k : 1;
    p.timeout_us = w->conf.llm_timeout_ms * 1000;
    return send_call(w, lks, n, &p, true);
}

/* With llm.batch.linger.ms, a call that would not be full waits until the
 * queue's oldest entry has lingered that long (deadlines still rule). */
/* How long the live queue's oldest entry may wait for a fuller call now, in
 * us (0 = none): llm.batch.linger.ms when set; else, once three quarters of
 * the concurrency limit are in use, BUSY_LINGER_US for BUSY_BATCH queries, so
 * a busy worker sends fewer, fuller calls instead of running into the
 * server's cap with one query per call. */
static int64_t linger_us(const kc_worker_t *w)
{
    int inflight = (int)kc_w_inflight(w), limit = kc_limiter_limit(&w->lq.limiter);

    if (w->conf.llm_batch_linger_ms > 0) {
        return w->lq.live.cnt < (size_t)w->conf.llm_batch_max ? w->conf.llm_batch_linger_ms * 1000
                                                              : 0;
    }
    return inflight * 4 >= limit * 3 && w->lq.live.cnt < BUSY_BATCH ? BUSY_LINGER_US : 0;
}

static bool batch_lingering(const kc_worker_t *w)
{
    int64_t l = linger_us(w);
    return l > 0 && kc_w_mono(w) - w->lq.live_since < l;
}

/* ------------------------------------------------------------- hedges */

static bool call_all_done(const kc_wcall_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        if (call->lookups[i]->state != KC_LK_DONE) {
            return false;
        }
    }
    return true;
}

/* Nobody waits for any of its queries any more. */
static bool call_unneeded(const kc_wcall_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        if (call->lookups[i]->state != KC_LK_DONE && call->lookups[i]->waiter_cnt > 0) {
            return false;
        }
    }
    return true;
}

/* Unneeded, and it has run twice its predicted p99, and at least a second
 * past it: most likely hung (a late call of a fast server is not: cancelling
 * it would ask its queries again). Its slot is worth more to live work; its
 * queries go back to the fill queue. */
static bool call_hung_and_unneeded(const kc_wcall_t *call, int64_t now)
{
    int64_t p99 = (int64_t)(call->pred.p99_ms * 1000.0);

    return now >= call->start_mono + (p99 > 1000000 ? 2 * p99 : p99 + 1000000) &&
           call_unneeded(call);
}

/* Someone still waits for it and no hedge holds it yet. */
static bool hedgeable(const kc_lookup_t *lk)
{
    return lk->state != KC_LK_DONE && lk->waiter_cnt > 0 && lk->calls == 1;
}

/* When to hedge a call (monotonic us), INT64_MAX if nobody waits for it.
 * Not before its predicted p99, and not before the last moment a second call
 * of its size (1.25x its p99 plus sla.deadline.margin.ms) still fits the
 * earliest waiting deadline: most calls late at their p99 answer soon after,
 * and every hedge asks the LLM a query twice. With a tight deadline both
 * moments coincide. */
static int64_t hedge_at(const kc_worker_t *w, const kc_wcall_t *call, int64_t now_mono,
                        int64_t now_wall)
{
    int64_t p99 = (int64_t)(call->pred.p99_ms * 1000.0), dl = INT64_MAX, at;

    for (size_t i = 0; i < call->n; i++) {
        const kc_lookup_t *lk = call->lookups[i];
        if (hedgeable(lk) && lk->deadline_at < dl) {
            dl = lk->deadline_at;
        }
    }
    if (dl == INT64_MAX) {
        return INT64_MAX;
    }
    at = now_mono + (dl - now_wall) - (p99 + p99 / 4 + margin_us(w));
    return at > call->start_mono + p99 ? at : call->start_mono + p99;
}

/* A call past its hedge moment whose queries still have time: ask again in
 * a new call (the first valid answer wins), within llm.hedge.max.pct. */
static void hedge(kc_worker_t *w, kc_wcall_t *call)
{
    kc_lookup_t *lks[KC_CALL_MAX];
    kc_wllm_t *q = &w->lq;
    char errstr[256];
    kc_wcall_t *h;
    size_t n = 0;
    kc_plan_t p;

    call->hedged = true;
    for (size_t i = 0; i < call->n; i++) {
        kc_lookup_t *lk = call->lookups[i];
        if (hedgeable(lk)) {
            lks[n++] = lk;
        }
    }
    if (n == 0 || q->hedge_credit < 1.0) {
        return;
    }
    plan(w, lks, n, n, &p);
    if (p.k == 0 ||
        kc_rl_wait_us(&q->rl, kc_w_mono(w),
                      (int64_t)est_call_tokens(w, &p, max_tokens_for(w, p.k, &p.pred))) > 0) {
        return; /* no time left for another call, or the provider says wait */
    }
    if (!(h = call_start(w, lks, &p, false, true, errstr, sizeof(errstr)))) {
        return;
    }
    q->hedge_credit -= 1.0;
    q->hedges++;
    h->partner = call;
    call->partner = h;
    kc_log(KC_LOG_DEBUG, "hedged an LLM call of %zu queries after %lld ms (p99 %.0f ms)", p.k,
           (long long)(kc_w_mono(w) - call->start_mono) / 1000, call->pred.p99_ms);
}

/* Cancel calls nobody needs any more (a hedge pair's loser, a hung call
 * whose requests were answered otherwise) and hedge the slow ones. */
static void calls_tick(kc_worker_t *w)
{
    int64_t now = kc_w_mono(w), wall = kc_w_now(w);
    kc_wcall_t *call = w->lq.running, *next;

    for (; call; call = next) {
        next = call->next;
        /* Stopping, only calls someone waits for are worth finishing. */
        if (call_all_done(call) || (w->stop && call_unneeded(call)) ||
            call_hung_and_unneeded(call, now)) {
            w->io.llm_cancel(w->io.opaque, call->handle); /* frees only this call */
            continue;
        }
        if (!call->hedged && now >= hedge_at(w, call, now, wall)) {
            hedge(w, call);
        }
    }
}

int64_t kc_worker_llm_next_timer_us(kc_worker_t *w)
{
    kc_wllm_t *q = &w->lq;
    int64_t now = kc_w_mono(w), wall = kc_w_now(w), t = INT64_MAX;
    kc_lookup_t *lk = kc_heap_peek(&q->retryq);

    if (lk) {
        t = lk->ready_at - now;
    }
    for (kc_wcall_t *c = q->running; c; c = c->next) {
        int64_t at = c->hedged ? INT64_MAX : hedge_at(w, c, now, wall);
        if (at != INT64_MAX && at - now < t) {
            t = at - now;
        }
    }
    if (q->live.cnt > 0 && q->rl_wait_until > 0 && q->rl_wait_until - now < t) {
        t = q->rl_wait_until - now;
    }
    if (q->live.cnt > 0 && batch_lingering(w)) {
        int64_t d = q->live_since + linger_us(w) - now;
        t = d < t ? d : t;
    }
    return t < 0 ? 0 : t;
}

/* ------------------------------------------------------------- dispatch */

/* Queue heads that no call can answer in time get the fallback now. */
static void doom_sweep(kc_worker_t *w)
{
    int64_t now = kc_w_now(w);
    kc_lookup_t *lk;

    while ((lk = kc_heap_peek(&w->lq.live)) &&
           !kc_llm_plan_fits(&w->lq.model, query_tokens(lk), lk->deadline_at, now, margin_us(w))) {
        take(w, false, &lk, 1);
        doomed(w, lk);
    }
}

static void drain_disabled(kc_worker_t *w)
{
    kc_lookup_t *lk;

    while (take(w, false, &lk, 1) == 1) {
        kc_worker_lookup_fallback(w, lk, "LLM disabled (llm.url is empty)");
    }
    while ((lk = w->lq.fill_head)) {
        fill_unlink(&w->lq, lk);
        lookup_drop(w, lk);
    }
}

void kc_worker_dispatch(kc_worker_t *w)
{
    kc_wllm_t *q = &w->lq;
    int rc = SEND_AGAIN;

    if (!w->llm_enabled) {
        drain_disabled(w);
        return;
    }
    calls_tick(w);
    doom_sweep(w);
    while (w->stop && q->fill_head) { /* stopping: no cache filling */
        kc_lookup_t *lk = q->fill_head;
        fill_unlink(q, lk);
        lookup_drop(w, lk);
    }
    while (rc != SEND_STOP && (q->live.cnt > 0 || q->fill_head)) {
        int inflight = (int)kc_w_inflight(w);
        int limit = kc_limiter_limit(&q->limiter);

        if (inflight >= limit || kc_w_mono(w) < q->rl_wait_until) {
            break;
        }
        if (q->live.cnt > 0) {
            if (batch_lingering(w)) {
                break;
            }
            rc = send_live(w, (size_t)(limit - inflight), (size_t)limit);
        } else if (inflight * 2 < limit) {
            rc = send_fill(w); /* spare capacity only */
        } else {
            break;
        }
    }
}

/* ------------------------------------------------------------- retries */

/* Backed-off lookups whose time has come go back to a queue. */
void kc_worker_retries(kc_worker_t *w)
{
    int64_t now = kc_w_mono(w);
    kc_lookup_t *lk;

    while ((lk = kc_heap_peek(&w->lq.retryq)) && lk->ready_at <= now) {
        kc_heap_pop(&w->lq.retryq);
        kc_worker_llmq_push(w, lk);
    }
}

/* Full jitter: uniform in [0, min(max, base * 2^retry)], and never sooner
 * than the server's Retry-After. */
static int64_t backoff_us(kc_worker_t *w, int retry, int64_t retry_after_ms)
{
    int64_t cap = w->conf.llm_retry_backoff_ms;
    int64_t delay;

    for (int i = 0; i < retry && cap < w->conf.llm_retry_backoff_max_ms; i++) {
        cap *= 2;
    }
    cap = cap < w->conf.llm_retry_backoff_max_ms ? cap : w->conf.llm_retry_backoff_max_ms;
    w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    delay = (int64_t)((w->rng >> 33) % (uint64_t)(cap * 1000 + 1));
    return delay > retry_after_ms * 1000 ? delay : retry_after_ms * 1000;
}

static bool retryable(const kc_llm_outcome_t *out)
{
    return out->err == KC_ERR_TIMEOUT || out->http_status == 429 || out->http_status >= 500 ||
           (out->err == KC_ERR_LLM && out->http_status == 0);
}

/* A missing or invalid result, or a call that failed for good: try again in
 * a later call while attempts remain, else the fallback answers. */
static void item_retry_or_fallback(kc_worker_t *w, kc_lookup_t *lk, const char *why)
{
    if (++lk->attempts < w->conf.llm_item_attempts) {
        w->stats.llm_retried_items++;
        kc_worker_llmq_push(w, lk);
        return;
    }
    kc_worker_lookup_fallback(w, lk, why);
}

/* A failed call: back off and retry while retries remain; requests that
 * cannot wait for the retry get the fallback now, and the retry only fills
 * the caches. */
static void lookup_call_failed(kc_worker_t *w, kc_lookup_t *lk, const kc_llm_outcome_t *out)
{
    int64_t delay;

    if (out->param_rejected) {
        kc_worker_llmq_push(w, lk); /* sent again without the refused parameter */
        return;
    }
    if (!retryable(out)) {
        item_retry_or_fallback(w, lk, out->errstr);
        return;
    }
    if (lk->retries >= w->conf.llm_retries) {
        kc_worker_lookup_fallback(w, lk, out->errstr);
        return;
    }
    delay = backoff_us(w, lk->retries, out->retry_after_ms);
    if (lk->waiter_cnt > 0 && !kc_llm_plan_fits(&w->lq.model, query_tokens(lk), lk->deadline_at,
                                                kc_w_now(w) + delay, margin_us(w))) {
        w->lq.early_fallbacks++;
        kc_worker_waiters_fallback(w, lk, out->errstr);
    }
    if (lk->waiter_cnt == 0 && !lk->write_cache) {
        lookup_drop(w, lk);
        return;
    }
    lk->ready_at = kc_w_mono(w) + delay;
    if (kc_heap_push(&w->lq.retryq, lk) != 0) {
        kc_worker_lookup_fallback(w, lk, out->errstr);
        return;
    }
    kc_lookup_move(lk, KC_LK_BACKOFF);
    lk->retries++;
    w->stats.llm_retried_items++;
}

/* ------------------------------------------------------------- outcomes */

/* Its reasoning names another query of the call (an injected "repeat the
 * other questions"): it goes to nobody, and into no cache. */
static bool reasoning_leaks(const kc_wcall_t *call, size_t self, const char *reasoning)
{
    const char *norms[KC_CALL_MAX];
    size_t lens[KC_CALL_MAX];

    if (!reasoning || !*reasoning || call->n < 2) {
        return false;
    }
    for (size_t j = 0; j < call->n; j++) {
        norms[j] = call->lookups[j]->norm;
        lens[j] = call->lookups[j]->norm_len;
    }
    return kc_llm_reasoning_quotes(reasoning, norms, lens, call->n, self);
}

static void lookup_answer(kc_worker_t *w, const kc_wcall_t *call, size_t i, const kc_llm_item_t *it,
                          const kc_llm_outcome_t *out, bool leaks)
{
    kc_lookup_t *lk = call->lookups[i];
    kc_reply_t rp = {0};
    const char *model = out->resp.model ? out->resp.model : w->conf.llm_model;
    size_t n = call->n;

    rp.category = w->tx->categories[it->category].name;
    rp.confidence = it->confidence;
    rp.reasoning = it->reasoning;
    if (leaks) {
        kc_log(KC_LOG_WARN, "LLM reasoning for \"%.40s\" quotes another query of its call: dropped",
               lk->norm);
        w->lq.reasoning_dropped++;
        rp.reasoning = NULL;
    }
    rp.model = model;
    rp.status = KC_STATUS_OK;
    rp.source = KC_SRC_LLM;
    rp.llm_us = out->latency_us;
    rp.batch_size = (int32_t)n;
    if (lk->write_cache) {
        kc_worker_l1_put(w, lk, &rp, w->conf.cache_l1_ttl_s * 1000000);
        kc_worker_cache_store(w, lk, &rp);
    }
    w->lq.llm_answered++;
    kc_worker_lookup_finish(w, lk, &rp);
}

static void lp_off(kc_worker_t *w, kc_lp_state_t st, const char *why)
{
    w->lq.lp_state = st;
    snprintf(w->lq.lp_reason, sizeof(w->lq.lp_reason), "%.255s", why);
    kc_log(KC_LOG_WARN,
           "llm.confidence=auto: no more logprobs requests (%s); confidence is now %.1f "
           "(unknown) for LLM answers",
           why, KC_LLM_CONFIDENCE_UNKNOWN);
}

/* auto confidence: stop asking for logprobs when the server refuses or
 * ignores them. */
static void lp_learn(kc_worker_t *w, const kc_wcall_t *call, const kc_llm_outcome_t *out)
{
    kc_wllm_t *q = &w->lq;

    if (!call->logprobs || q->lp_state != KC_LP_ON) {
        return;
    }
    if (out->param_rejected) {
        lp_off(w, KC_LP_OFF_REJECTED, out->errstr);
    } else if (out->err == 0 && out->resp.logprobs == KC_LLM_LOGPROBS_ABSENT) {
        if (++q->lp_absent_in_row >= LP_ABSENT_LIMIT) {
            lp_off(w, KC_LP_OFF_ABSENT, "the server answers without logprobs");
        }
    } else if (out->err == 0) {
        q->lp_absent_in_row = 0;
    }
}

/* Feed the outcome to the model, the limiter, the pacer and the breaker. */
static void learn(kc_worker_t *w, const kc_wcall_t *call, const kc_llm_outcome_t *out)
{
    kc_wllm_t *q = &w->lq;
    int64_t now = kc_w_mono(w);
    int inflight = (int)kc_w_inflight(w) + 1;
    double ms = (double)out->latency_us / 1000.0;
    const kc_llm_response_t *r = &out->resp;

    /* The breaker is for a server that is down or sick. A call refused for
     * the logprobs parameter (sent again without it at once) or with a 429
     * (rate-limited or busy: the pacer and the limiter deal with it) reached
     * a live server; counted as failures, a burst of instant refusals would
     * open the breaker on a server that answers. */
    kc_breaker_record(&w->breaker, out->err == 0 || out->param_rejected || out->http_status == 429,
                      now);
    if (kc_rl_headers_any(&out->rl)) {
        kc_rl_headers(&q->rl, now, &out->rl);
    }
    kc_rl_finish(&q->rl, now, call->est_tokens,
                 out->err == 0 && r->prompt_tokens > 0 ? r->prompt_tokens + r->completion_tokens
                                                       : -1);
    if (out->http_status == 429) {
        if (kc_rl_is_quota_429(&out->rl)) {
            kc_rl_pause(&q->rl, now,
                        out->retry_after_ms > 0 ? out->retry_after_ms : QUOTA_PAUSE_MS);
            q->rl_pauses++;
        } else {
            kc_limiter_overload(&q->limiter, inflight);
            q->overload_429++;
        }
    }
    if (out->err == 0) {
        double out_tok =
            r->completion_tokens > 0 ? (double)r->completion_tokens : call->pred.out_tokens;
        double in_tok = r->prompt_tokens > 0 ? (double)(r->prompt_tokens - r->cached_tokens)
                                             : call->pred.in_tokens;
        double base = kc_llm_fit_eval(&q->model.base, out_tok, in_tok);
        kc_limiter_admitted(&q->limiter, call->inflight_at_start);
        if (base > 0) {
            kc_limiter_sample(&q->limiter, ms / base, inflight);
        }
        kc_llm_model_observe(&q->model, call->n, call->q_tokens,
                             r->prompt_tokens > 0 ? (double)r->prompt_tokens : -1,
                             (double)r->cached_tokens,
                             r->completion_tokens > 0 ? (double)r->completion_tokens : -1, ms);
    } else if (out->err == KC_ERR_TIMEOUT) {
        kc_limiter_timeout(&q->limiter, (double)call->timeout_us / 1000.0, call->pred.p99_ms,
                           call->pred.base_ms, inflight);
        kc_llm_model_timeout(&q->model, call->n, call->q_tokens, ms);
    }
    lp_learn(w, call, out);
}

/* Release the call's hold on its lookups (a lookup answered elsewhere is
 * freed by its last call). */
static void call_release(kc_wcall_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        kc_lookup_t *lk = call->lookups[i];
        if (--lk->calls == 0 && lk->state == KC_LK_DONE) {
            kc_worker_lookup_free(lk);
        }
    }
}

/* A cancelled call: what it still held goes back to a queue (the fill
 * queue, as nobody waits for it), or is freed when answered elsewhere. */
static void call_requeue(kc_worker_t *w, kc_wcall_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        kc_lookup_t *lk = call->lookups[i];
        if (--lk->calls > 0) {
            continue;
        }
        if (lk->state == KC_LK_DONE) {
            kc_worker_lookup_free(lk);
        } else {
            kc_worker_llmq_push(w, lk);
        }
    }
}

static void lookup_outcome(kc_worker_t *w, kc_wcall_t *call, size_t i, const kc_llm_outcome_t *out,
                           bool leaks)
{
    kc_lookup_t *lk = call->lookups[i];
    const kc_llm_item_t *it = out->err ? NULL : &out->resp.items[i];

    if (it && it->state == KC_LLM_ITEM_OK) {
        w->lq.hedge_wins += call->is_hedge;
        lookup_answer(w, call, i, it, out, leaks);
    } else if (lk->calls > 0) {
        /* its other call (a hedge pair) may still answer it */
    } else if (out->err) {
        lookup_call_failed(w, lk, out);
    } else {
        kc_worker_metrics_llm_item(w);
        item_retry_or_fallback(w, lk,
                               it->state == KC_LLM_ITEM_MISSING
                                   ? "LLM response had no result for this query"
                                   : "LLM result for this query was invalid");
    }
}

static void llm_done_cb(void *opaque, const kc_llm_outcome_t *out)
{
    kc_wcall_t *call = opaque;
    kc_worker_t *w = call->w;
    bool leaks[KC_CALL_MAX];

    running_unlink(call);
    if (call->partner) {
        call->partner->partner = NULL;
    }
    if (w->destroying) {
        call_release(call);
        free(call);
        return;
    }
    if (out->cancelled) {
        w->lq.cancelled++;
        call_requeue(w, call);
        free(call);
        return;
    }
    kc_worker_metrics_llm(w, out, call->n);
    learn(w, call, out);
    if (out->err) {
        w->stats.llm_failed_calls++;
        kc_log(KC_LOG_WARN, "LLM call of %zu queries failed after %lld ms: %s", call->n,
               (long long)out->latency_us / 1000, out->errstr);
    }
    /* Judged while every lookup of the call is still there: answering one
     * may free it. */
    for (size_t i = 0; i < call->n; i++) {
        leaks[i] = !out->err && out->resp.items[i].state == KC_LLM_ITEM_OK &&
                   reasoning_leaks(call, i, out->resp.items[i].reasoning);
    }
    for (size_t i = 0; i < call->n; i++) {
        kc_lookup_t *lk = call->lookups[i];
        lk->calls--;
        if (lk->state == KC_LK_DONE) {
            if (lk->calls == 0) {
                kc_worker_lookup_free(lk);
            }
            continue;
        }
        lookup_outcome(w, call, i, out, leaks[i]);
    }
    free(call);
}
