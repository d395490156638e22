/*
 * A worker on fake seams for the check_worker_* suites (kc_worker_io.h): a
 * clock the test moves, a reply sink that keeps every record until the test
 * reports its delivery, and an LLM whose calls the test answers or fails.
 * Everything else is the real worker: taxonomy, L1, LMDB and Redis when
 * configured, queues, planner, limiter, breaker.
 */
#ifndef KC_FAKE_WORKER_H
#define KC_FAKE_WORKER_H

#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_conf.h"
#include "kc_err.h"
#include "kc_llm_proto.h"
#include "kc_worker_int.h"
#include "kc_worker_io.h"

#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FK_MAX 4096

typedef struct fk_msg_s {
    char *topic;
    char *key;
    void *value;
    size_t len;
    rd_kafka_headers_t *hdrs;
    void *opaque;
    bool reported;
} fk_msg_t;

typedef struct fk_call_s {
    char *texts[64];
    size_t n;
    kc_llm_call_opts_t co;
    int64_t timeout_ms;
    int64_t start_mono;
    kc_llm_done_cb *cb;
    void *cb_opaque;
    bool done;
} fk_call_t;

typedef struct fk_s {
    kc_worker_t *w;
    kc_avro_t *av;
    int64_t now, mono; /* us */
    fk_msg_t msgs[FK_MAX];
    size_t msg_cnt;
    fk_call_t *calls[FK_MAX];
    size_t call_cnt;
    size_t inflight;
    int produce_err;        /* returned by the sink while set ... */
    const char *fail_topic; /* ... for this topic only, when set */
} fk_t;

static inline int64_t fk_now(void *opaque)
{
    return ((fk_t *)opaque)->now;
}

static inline int64_t fk_mono(void *opaque)
{
    return ((fk_t *)opaque)->mono;
}

static inline int fk_produce(void *opaque, const kc_wmsg_t *m, void *msg_opaque)
{
    fk_t *f = opaque;
    fk_msg_t *x;

    if (f->produce_err && (!f->fail_topic || strcmp(m->topic, f->fail_topic) == 0)) {
        return f->produce_err;
    }
    ck_assert_uint_lt(f->msg_cnt, FK_MAX);
    x = &f->msgs[f->msg_cnt++];
    x->topic = strdup(m->topic);
    x->key = strndup(m->key ? m->key : "", m->key_len);
    x->value = malloc(m->len + 1);
    if (m->len) {
        memcpy(x->value, m->value, m->len);
    }
    x->len = m->len;
    x->hdrs = m->hdrs;
    x->opaque = msg_opaque;
    x->reported = false;
    return 0;
}

static inline int fk_llm_submit(void *opaque, const char *const *texts, const size_t *lens,
                                size_t n, const kc_llm_call_opts_t *co, int64_t timeout_ms,
                                kc_llm_done_cb *cb, void *cb_opaque, kc_llm_call_t **callp,
                                char *errstr, size_t errstr_size)
{
    fk_t *f = opaque;
    fk_call_t *c = calloc(1, sizeof(*c));

    (void)errstr;
    (void)errstr_size;
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_le(n, 64);
    ck_assert_uint_lt(f->call_cnt, FK_MAX);
    for (size_t i = 0; i < n; i++) {
        c->texts[i] = strndup(texts[i], lens[i]);
    }
    c->n = n;
    c->co = *co;
    c->timeout_ms = timeout_ms;
    c->start_mono = f->mono;
    c->cb = cb;
    c->cb_opaque = cb_opaque;
    f->calls[f->call_cnt++] = c;
    f->inflight++;
    *callp = (kc_llm_call_t *)c;
    return 0;
}

/* An outcome as the real client starts one: no rate-limit headers seen. */
static inline void fk_outcome_init(kc_llm_outcome_t *out)
{
    memset(out, 0, sizeof(*out));
    kc_rl_headers_init(&out->rl);
}

static inline void fk_finish(fk_t *f, fk_call_t *c, kc_llm_outcome_t *out)
{
    ck_assert_msg(!c->done, "LLM call finished twice");
    c->done = true;
    f->inflight--;
    out->latency_us = f->mono - c->start_mono;
    c->cb(c->cb_opaque, out);
    kc_llm_response_clear(&out->resp);
}

static inline void fk_llm_cancel(void *opaque, kc_llm_call_t *call)
{
    kc_llm_outcome_t out;

    fk_outcome_init(&out);
    out.err = KC_ERR_STATE;
    out.cancelled = true;
    snprintf(out.errstr, sizeof(out.errstr), "LLM call cancelled");
    fk_finish(opaque, (fk_call_t *)call, &out);
}

static inline size_t fk_llm_inflight(void *opaque)
{
    return ((fk_t *)opaque)->inflight;
}

/* A worker on fake seams; props are "key=value" strings, NULL-terminated. */
static inline void fk_start(fk_t *f, const char *const *props)
{
    kc_worker_io_t io = {
        f, fk_now, fk_mono, fk_produce, fk_llm_submit, fk_llm_cancel, fk_llm_inflight};
    kc_worker_conf_t conf;
    char errstr[512];
    int rc;

    memset(f, 0, sizeof(*f));
    f->now = 1780000000LL * 1000000; /* 2026 */
    f->mono = 1000LL * 1000000;
    ck_assert_int_eq(kc_worker_conf_init(&conf, errstr, sizeof(errstr)), 0);
    /* Never contacted: the LLM is the fake one. Answers carry only the
     * category unless a test asks for more. */
    ck_assert_int_eq(kc_conf_set_assignment(kc_worker_conf_props, &conf, &conf.kafka,
                                            "llm.url=http://127.0.0.1:9/v1", errstr,
                                            sizeof(errstr)),
                     0);
    ck_assert_int_eq(kc_conf_set_assignment(kc_worker_conf_props, &conf, &conf.kafka,
                                            "llm.confidence=none", errstr, sizeof(errstr)),
                     0);
    for (size_t i = 0; props && props[i]; i++) {
        rc = kc_conf_set_assignment(kc_worker_conf_props, &conf, &conf.kafka, props[i], errstr,
                                    sizeof(errstr));
        ck_assert_msg(rc == 0, "%s: %s", props[i], errstr);
    }
    f->w = kc_worker_new_io(&conf, &io, &rc, errstr, sizeof(errstr));
    ck_assert_msg(f->w != NULL, "kc_worker_new_io: %s", errstr);
    f->av = kc_avro_new(1, 2, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(f->av);
}

static inline void fk_stop(fk_t *f)
{
    /* Calls still open are cancelled by the worker's teardown path. */
    f->w->destroying = true;
    for (size_t i = 0; i < f->call_cnt; i++) {
        if (!f->calls[i]->done) {
            fk_llm_cancel(f, (kc_llm_call_t *)f->calls[i]);
        }
    }
    for (size_t i = 0; i < f->msg_cnt; i++) {
        if (!f->msgs[i].reported) {
            kc_wmsg_t m = {f->msgs[i].topic, 0, 0, NULL, 0, NULL, 0, NULL};
            f->msgs[i].reported = true;
            kc_worker_delivery(f->w, &m, RD_KAFKA_RESP_ERR__PURGE_QUEUE, f->msgs[i].opaque);
        }
    }
    kc_worker_destroy(f->w);
    for (size_t i = 0; i < f->msg_cnt; i++) {
        free(f->msgs[i].topic);
        free(f->msgs[i].key);
        free(f->msgs[i].value);
        if (f->msgs[i].hdrs) {
            rd_kafka_headers_destroy(f->msgs[i].hdrs);
        }
    }
    for (size_t i = 0; i < f->call_cnt; i++) {
        for (size_t j = 0; j < f->calls[i]->n; j++) {
            free(f->calls[i]->texts[j]);
        }
        free(f->calls[i]);
    }
    kc_avro_destroy(f->av);
}

/* ------------------------------------------------------------- requests */

typedef struct fk_req_s {
    const char *id;
    const char *query;
    int32_t deadline_ms;
    int64_t created_at; /* 0: now */
    kc_priority_t priority;
    kc_cache_policy_t cache_policy;
    const char *reply_topic; /* NULL: none */
    const char *tenant;      /* context["tenant"], NULL: none */
} fk_req_t;

/* Encode r as the value of a record at partition/offset. */
static inline void fk_encode(fk_t *f, const fk_req_t *r, kc_buf_t *out)
{
    kc_request_t req = {0};
    char errstr[256];

    req.request_id = (char *)r->id;
    req.query = (char *)r->query;
    req.query_len = strlen(r->query);
    req.priority = r->priority;
    req.deadline_ms = r->deadline_ms;
    req.created_at = r->created_at ? r->created_at : f->now;
    req.cache_policy = r->cache_policy;
    req.reply_topic = (char *)r->reply_topic;
    kc_kv_t ctx = {"tenant", (char *)r->tenant};
    if (r->tenant) {
        req.context = &ctx;
        req.context_cnt = 1;
    }
    kc_buf_init(out);
    ck_assert_msg(kc_avro_request_encode(f->av, &req, out, errstr, sizeof(errstr)) == 0, "%s",
                  errstr);
}

/* One micro-batch of cnt requests on partition 0 from offset `first`. */
static inline void fk_feed(fk_t *f, const fk_req_t *rs, size_t cnt, int64_t first)
{
    kc_wmsg_t recs[64];
    kc_buf_t bufs[64];

    ck_assert_uint_le(cnt, 64);
    for (size_t i = 0; i < cnt; i++) {
        fk_encode(f, &rs[i], &bufs[i]);
        recs[i] = (kc_wmsg_t){
            "kclassify.requests", 0,   first + (int64_t)i, rs[i].id, strlen(rs[i].id), bufs[i].data,
            bufs[i].len,          NULL};
    }
    kc_worker_feed(f->w, recs, cnt);
    for (size_t i = 0; i < cnt; i++) {
        kc_buf_free(&bufs[i]);
    }
}

/* One request of query at offset off (default deadline). */
static inline void fk_ask(fk_t *f, const char *id, const char *query, int64_t off)
{
    fk_req_t r = {id, query, 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL, NULL};
    fk_feed(f, &r, 1, off);
}

/* ------------------------------------------------------------- time */

/* Move both clocks by ms and turn the loop once. */
static inline void fk_advance(fk_t *f, int64_t ms)
{
    f->now += ms * 1000;
    f->mono += ms * 1000;
    kc_worker_step(f->w);
}

/* ------------------------------------------------------------- replies */

/* Decode produced record i (a reply) into res; clear it with kc_result_clear. */
static inline void fk_result(fk_t *f, size_t i, kc_result_t *res)
{
    char errstr[256];

    ck_assert_uint_lt(i, f->msg_cnt);
    memset(res, 0, sizeof(*res));
    ck_assert_msg(kc_avro_result_decode(f->av, f->msgs[i].value, f->msgs[i].len, res, errstr,
                                        sizeof(errstr)) == 0,
                  "record %zu to %s: %s", i, f->msgs[i].topic, errstr);
}

/* The index of the reply to request id, or -1. Fails on two replies. */
static inline long fk_reply_of(fk_t *f, const char *id)
{
    long found = -1;

    for (size_t i = 0; i < f->msg_cnt; i++) {
        if (strcmp(f->msgs[i].key, id) == 0 && strcmp(f->msgs[i].topic, "kclassify.replies") == 0) {
            ck_assert_msg(found < 0, "two replies to %s", id);
            found = (long)i;
        }
    }
    return found;
}

/* Assert request id got exactly one reply with this status and source. */
static inline void fk_expect(fk_t *f, const char *id, kc_status_t status, kc_source_t source)
{
    long i = fk_reply_of(f, id);
    kc_result_t res;

    ck_assert_msg(i >= 0, "no reply to %s", id);
    fk_result(f, (size_t)i, &res);
    ck_assert_msg(res.status == status && res.source == source,
                  "%s: status %d source %d (want %d %d), error %s", id, (int)res.status,
                  (int)res.source, (int)status, (int)source, res.error ? res.error : "-");
    kc_result_clear(&res);
}

/* Report the delivery of produced record i. */
static inline void fk_deliver(fk_t *f, size_t i, int err)
{
    fk_msg_t *x = &f->msgs[i];
    kc_wmsg_t m = {x->topic, 0, (int64_t)i, x->key, strlen(x->key), x->value, x->len, x->hdrs};

    ck_assert_uint_lt(i, f->msg_cnt);
    ck_assert_msg(!x->reported, "record %zu reported twice", i);
    x->reported = true;
    kc_worker_delivery(f->w, &m, err, x->opaque);
}

/* Report the delivery of every record not yet reported. */
static inline void fk_deliver_all(fk_t *f, int err)
{
    for (size_t i = 0; i < f->msg_cnt; i++) {
        if (!f->msgs[i].reported) {
            fk_deliver(f, i, err);
        }
    }
}

/* ------------------------------------------------------------- the LLM */

static inline fk_call_t *fk_call(fk_t *f, size_t i)
{
    ck_assert_msg(i < f->call_cnt, "LLM call %zu not made (%zu calls)", i, f->call_cnt);
    return f->calls[i];
}

/* Answer call i: cats[k] is the category of its k-th query, NULL = no
 * result for it. */
/* Answer call i: cats[k] is the category of its k-th query, NULL = no
 * result for it; reasons (may be NULL) the reasoning of each. */
static inline void fk_answer_why(fk_t *f, size_t i, const char *const *cats,
                                 const char *const *reasons)
{
    fk_call_t *c = fk_call(f, i);
    kc_llm_outcome_t out;
    json_t *results = json_array(), *body;
    char *content, *text, errstr[256];

    for (size_t k = 0; k < c->n; k++) {
        if (cats[k]) {
            char id[32];
            json_t *r;
            snprintf(id, sizeof(id), "q%zu", k);
            r = json_pack("{s:s,s:s}", "id", id, "category", cats[k]);
            if (reasons && reasons[k]) {
                json_object_set_new(r, "reasoning", json_string(reasons[k]));
            }
            json_array_append_new(results, r);
        }
    }
    body = json_pack("{s:o}", "results", results);
    content = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    body = json_pack("{s:[{s:{s:s},s:s}],s:s,s:{s:i,s:i}}", "choices", "message", "content",
                     content, "finish_reason", "stop", "model", "fake-model", "usage",
                     "prompt_tokens", 100, "completion_tokens", (int)(8 * c->n));
    free(content);
    text = json_dumps(body, JSON_COMPACT);
    fk_outcome_init(&out);
    out.http_status = 200;
    ck_assert_int_eq(kc_llm_response_parse(f->w->tx, text, strlen(text), c->n, 0, &out.resp, errstr,
                                           sizeof(errstr)),
                     0);
    free(text);
    json_decref(body);
    fk_finish(f, c, &out);
}

static inline void fk_answer(fk_t *f, size_t i, const char *const *cats)
{
    fk_answer_why(f, i, cats, NULL);
}

/* Answer every query of call i with cat. */
static inline void fk_answer_all(fk_t *f, size_t i, const char *cat)
{
    const char *cats[64];

    for (size_t k = 0; k < 64; k++) {
        cats[k] = cat;
    }
    fk_answer(f, i, cats);
}

/* Fail call i with an HTTP status (0: a transport error). */
static inline void fk_fail(fk_t *f, size_t i, long http_status)
{
    kc_llm_outcome_t out;

    fk_outcome_init(&out);
    out.err = KC_ERR_LLM;
    out.http_status = http_status;
    snprintf(out.errstr, sizeof(out.errstr), "LLM answered HTTP %ld", http_status);
    fk_finish(f, fk_call(f, i), &out);
}

/* The lookup in flight for query (normalized as the worker does), or NULL. */
static inline kc_lookup_t *fk_lookup(fk_t *f, const char *query)
{
    char norm[1024];
    size_t norm_len;
    kc_key_t key;

    ck_assert_int_eq(kc_query_normalize(query, strlen(query), norm, &norm_len), 0);
    key = kc_key_compute(norm, norm_len, f->w->key_seed);
    return kc_keymap_get(f->w->inflight, &key);
}

#endif
