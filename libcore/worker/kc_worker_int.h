/**
 * @file kc_worker_int.h
 * @brief Worker internals shared by kc_worker*.c. Not a public API.
 *
 * Life of a request: consumed -> (decode error -> DLT) | (invalid -> ERROR
 * reply) | L1 hit -> reply | attach to the lookup for its key (in-flight table)
 * -> LLM call(s) or fallback -> reply to every waiter. Each request (kc_wreq_t)
 * lives until the delivery report of its reply (or DLT record), which marks its
 * offset done in the partition's watermark.
 */
#ifndef KC_WORKER_INT_H
#define KC_WORKER_INT_H

#include "kc_avro.h"
#include "kc_breaker.h"
#include "kc_heap.h"
#include "kc_keymap.h"
#include "kc_l1.h"
#include "kc_limiter.h"
#include "kc_llm.h"
#include "kc_llm_model.h"
#include "kc_lmdb.h"
#include "kc_redis.h"
#include "kc_normalize.h"
#include "kc_ratelimit.h"
#include "kc_taxonomy.h"
#include "kc_wm.h"
#include "kc_worker.h"
#include "kc_worker_io.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct kc_lookup_s kc_lookup_t;

typedef struct kc_wreq_s {
    struct kc_wreq_s *next; /* next waiter of the same lookup */
    kc_lookup_t *lookup;    /* the lookup it waits on, NULL once answered */
    size_t dl_pos;          /* position in the deadline heap */
    int64_t fire_at;        /* wall-clock us: answer by fallback if still waiting */
    int32_t partition;
    int64_t offset;
    uint32_t gen; /* partition generation when consumed */
    kc_request_t req;
    char *reply_topic_hdr; /* kafka_replyTopic header, if any */
    kc_key_t key;
    char key_hex[KC_KEY_HEX_SIZE];
    int64_t consumed_at;   /* wall-clock us */
    int64_t consumed_mono; /* monotonic us */
    int64_t deadline_at;   /* wall-clock us */
    int64_t created_at;    /* wall-clock us: the request's, or the consume time (absent, future) */
    int64_t cache_us;
    bool coalesced;
    bool reply_default;   /* its own reply topic or id is unusable: topic.replies */
    bool dead_letter;     /* its reply could not be written: on its way to the DLT */
    int produce_attempts; /* failed deliveries, for the log */
    int refusals;         /* record-class refusals of its current record */
} kc_wreq_t;

/* Longest request_id a reply carries (key, header and value); a longer one
 * gets an ERROR reply with the id cut. */
#define KC_REQUEST_ID_MAX 256

/*
 * A lookup is the resolution of one distinct key, in the in-flight table from
 * its first request until it is answered. Its state says which one container
 * holds it; kc_lookup_move() is the only writer and asserts the move:
 *
 *   NEW --> STAGED --> LEASE_WAIT (another worker holds the Redis lease) --.
 *    |        |            ^  |  (lease taken again)                        |
 *    |        v            '--'                                             v
 *    '----> LIVE (someone waits) <-------> FILL (nobody waits: cache filling,
 *            |  ^                          |  ^   bounded, oldest dropped)
 *            v  |                          v  |
 *           TAKEN (off the queues while a call is built) ---> IN_CALL
 *                                                              |  |
 *     BACKOFF (retry heap, a failed call) <--------------------'  |
 *       '--> LIVE / FILL          IN_CALL --> LIVE / FILL (requeued) / DONE
 *
 * Answered (cache hit, LLM answer, fallback) or dropped, a lookup leaves the
 * table and is freed, from any state; one that a running call still holds
 * becomes DONE and is freed when its last call ends. A lookup may be in two
 * running calls at once (a hedge): `calls` counts them. Waiters answered by
 * the fallback (deadline, or no call can make it) leave a lookup without
 * waiters, which goes on as cache filling (FILL); a new waiter moves it back
 * to LIVE. kc_worker_llmq_push() places a lookup in LIVE or FILL and never
 * fails (ENOMEM and a full queue answer by the fallback), so no lookup stays
 * in the table in no container.
 */
typedef enum {
    KC_LK_NEW,        /* just created, or out of a queue (on its way to another, or freed) */
    KC_LK_STAGED,     /* waits for this micro-batch's LMDB/Redis reads */
    KC_LK_LEASE_WAIT, /* polls Redis for the answer of the lease's holder */
    KC_LK_LIVE,       /* LLM live queue */
    KC_LK_FILL,       /* LLM fill queue */
    KC_LK_TAKEN,      /* off the queues: a call is being built */
    KC_LK_IN_CALL,    /* in one or two running calls */
    KC_LK_BACKOFF,    /* retry heap */
    KC_LK_DONE,       /* answered while a call still holds it */
    KC_LK__CNT
} kc_lookup_state_t;

struct kc_lookup_s {
    kc_key_t key;
    char *norm; /* normalized query: cache value check */
    size_t norm_len;
    char *text; /* first requester's query, trimmed: what the LLM sees */
    size_t text_len;
    char *tenant; /* batch.isolation=tenant: the first requester's context["tenant"] */
    kc_wreq_t *waiters;
    kc_wreq_t **waiters_tail;
    size_t waiter_cnt;
    int attempts;
    bool write_cache;
    bool read_cache;         /* no REFRESH/BYPASS waiter: LMDB/Redis may answer */
    bool leased;             /* holds the fleet-wide Redis lease: release after answering */
    kc_lookup_state_t state; /* kc_lookup_move() */
    int calls;               /* running LLM calls that include it */
    kc_priority_t prio;      /* highest waiter priority */
    int64_t deadline_at;     /* earliest waiter deadline (wall us), INT64_MAX without waiters */
    size_t pq_pos;  /* position in the live queue's deadline order, KC_HEAP_NONE if not queued */
    size_t pq2_pos; /* position in the live queue's newest-first order */
    struct kc_lookup_s *fill_prev, *fill_next; /* fill queue links */
    int retries;      /* failed calls (429, 5xx, timeout, transport) it took part in */
    int64_t ready_at; /* monotonic us: when a backed-off retry may go */
    size_t rq_pos;    /* position in the retry heap */
};

/* A running LLM call and the lookups it answers, in id order. */
typedef struct kc_wcall_s {
    kc_worker_t *w;
    struct kc_wcall_s *next, **pprev; /* running calls */
    kc_llm_call_t *handle;
    struct kc_wcall_s *partner; /* the hedge of this call, or the call it hedges */
    int64_t start_mono;
    int64_t timeout_us;
    kc_llm_pred_t pred; /* at send */
    double q_tokens;
    int64_t est_tokens; /* what the pacer was charged at start */
    int inflight_at_start;
    bool hedged;   /* a hedge was sent (or judged useless) */
    bool is_hedge; /* this call is a hedge */
    bool fill;     /* cache filling: nobody waited when it was sent */
    bool logprobs; /* asked for logprobs */
    size_t n;
    kc_lookup_t *lookups[];
} kc_wcall_t;

/* Logprob confidence (llm.confidence=auto): on until the server shows it
 * does not give them. */
typedef enum {
    KC_LP_ON = 0,
    KC_LP_OFF_CONFIG,   /* llm.confidence is not auto */
    KC_LP_OFF_REJECTED, /* the server refused the parameter (4xx naming it) */
    KC_LP_OFF_ABSENT,   /* the server ignored it (answers without logprobs) */
} kc_lp_state_t;

/* The LLM side of a worker: queues, model, limiter, pacer, calls. */
typedef struct kc_wllm_s {
    kc_heap_t live;                     /* lookups with waiters: priority, then deadline */
    kc_heap_t live_new;                 /* the same lookups: priority, then newest deadline first */
    kc_lookup_t *fill_head, *fill_tail; /* newest at head */
    size_t fill_cnt;
    kc_heap_t retryq;   /* lookups backing off before a retry, by ready_at */
    int64_t live_since; /* monotonic us the live queue became non-empty (batch linger) */
    kc_llm_model_t model;
    kc_limiter_t limiter;
    kc_rl_t rl;
    int64_t rl_wait_until; /* monotonic us: pacing holds new calls until then */
    kc_wcall_t *running;
    double hedge_credit;
    kc_lp_state_t lp_state;
    char lp_reason[256];
    int lp_absent_in_row; /* answers without logprobs in a row */
    uint64_t hedges, hedge_wins, early_fallbacks, fill_dropped, queue_full, llm_answered;
    uint64_t rl_pauses, overload_429, cancelled;
    uint64_t reasoning_dropped; /* reasonings that quoted another query of their call */
} kc_wllm_t;

/* The cache levels below L1 and the work batched for them. */
typedef struct kc_wcache_s {
    kc_lmdb_t *lmdb;
    kc_redis_t *redis;
    char lease_token[160];
    kc_lookup_t **staged; /* new lookups of this micro-batch, for LMDB/Redis */
    size_t staged_cnt, staged_size;
    kc_lookup_t **lwait; /* lookups waiting on another worker's lease */
    size_t lwait_cnt, lwait_size;
    /* Pending writes, flushed once per loop pass: one LMDB transaction and
     * one Redis pipeline however many answers arrived. */
    kc_key_t *wkeys;
    kc_buf_t *wlmdb, *wredis; /* encoded records; len 0 = not for that level */
    size_t wcnt, wsize;
    kc_key_t *rkeys; /* leases to release */
    size_t rcnt, rsize;
    /* Scratch for batched lookups. */
    kc_key_t *keys;
    const char **norms;
    size_t *norm_lens;
    kc_cache_rec_t *recs;
    int *rcs;
    bool *found;
    kc_buf_t *vals;
    size_t scratch_size;
    kc_buf_t arena;
    int64_t next_poll, next_sync, next_purge; /* monotonic us */
} kc_wcache_t;

/* LLM error kinds, for metrics. */
typedef enum {
    KC_LLM_ERR_TIMEOUT,
    KC_LLM_ERR_RATE_LIMITED, /* HTTP 429 */
    KC_LLM_ERR_HTTP_4XX,
    KC_LLM_ERR_HTTP_5XX,
    KC_LLM_ERR_TRANSPORT,
    KC_LLM_ERR_BAD_RESPONSE, /* body or content not understood, too big */
    KC_LLM_ERR_ITEM,         /* a single result missing or invalid */
    KC_LLM_ERR_CNT
} kc_llm_err_kind_t;

#define KC_BATCH_BUCKETS 9 /* 1, 2, 4, ... 256 */

/* Observability state, rendered once a second for /metrics and /health. */
typedef struct kc_wmetrics_s {
    struct kc_httpd_s *httpd;
    int64_t next_publish;                 /* monotonic us */
    struct kc_hist_s *latency;            /* total_us of every reply */
    struct kc_hist_s *win_cur, *win_prev; /* 60 s windows for /health */
    int64_t win_start;
    struct kc_hist_s *llm_latency;
    uint64_t llm_batch[KC_BATCH_BUCKETS + 1]; /* queries per LLM call */
    uint64_t mbatch[KC_BATCH_BUCKETS + 1];    /* requests per micro-batch */
    double llm_queries_sum, mbatch_sum;
    uint64_t llm_errors[KC_LLM_ERR_CNT];
    int llm_failures_in_row;
    uint64_t win_ok, win_total, win_hits, win_lookups; /* current window */
    double last_success_rate, last_hit_rate;
    bool have_window;
    int64_t *lag; /* per partition, -1 unknown */
    size_t lag_cnt;
    char kafka_error[256];
    bool kafka_down;
    kc_buf_t text, health;
} kc_wmetrics_t;

typedef struct kc_part_s {
    kc_wm_t *wm;
    uint32_t gen;
    bool assigned;
    bool dirty; /* watermark advanced since the last offsets_store */
    /* exactly_once (kc_worker_txn.c): the offset committed or to commit (-1
     * none yet), and records above it answered in committed transactions
     * that this owner has not consumed again yet (sorted). */
    int64_t txn_pos;
    int64_t first_off; /* lowest offset consumed since the assignment (-1 none) */
    int64_t *skip;
    size_t skip_cnt, skip_at; /* skip[skip_at..] are still ahead */
    /* The last committed position and metadata known (read at assignment or
     * committed since): where an abort rewinds to, without asking the
     * coordinator that may be the reason for the abort. */
    int64_t c_pos;
    char *c_meta;
    size_t c_meta_len;
} kc_part_t;

/* A record whose reply (or dead letter) the brokers refused inside a
 * transaction: the transaction was aborted and the record is consumed again;
 * this time it goes the way at_least_once would send it at once. */
typedef struct kc_txn_refusal_s {
    int32_t partition;
    int64_t offset;
    int err; /* the last refusal's rd_kafka_resp_err_t */
    /* Refusals so far, of the reply and of the dead letter: a batch's error
     * reaches every record in it, so one is not enough to give up. */
    int attempts, dlt_attempts;
} kc_txn_refusal_t;

/* Refusals after which a reply goes to the DLT (a dead letter: lost). */
#define KC_TXN_RECORD_ATTEMPTS 3

#define KC_TXN_REFUSALS 64

/* A record produced while the transaction is being committed: it waits
 * for the next one. */
typedef struct kc_txn_held_s {
    char *topic;
    void *key, *value;
    size_t key_len, len;
    rd_kafka_headers_t *hdrs;
    kc_wreq_t *wr;
} kc_txn_held_t;

typedef enum {
    KC_TXS_OPEN,   /* records go into the open transaction */
    KC_TXS_DRAIN,  /* commit due: new records held until the last are acknowledged */
    KC_TXS_COMMIT, /* the transaction thread sends the offsets and commits */
    KC_TXS_ABORT,  /* the transaction thread aborts; then every partition is rewound */
} kc_txs_t;

typedef struct kc_wtxn_s {
    bool on;       /* processing.guarantee=exactly_once */
    bool open;     /* a transaction is begun */
    bool abort;    /* a record of it failed: abort and rewind */
    bool produced; /* records produced since it began */
    kc_txs_t state;
    int64_t next_at, commit_t0;
    /* The commit thread: it owns offsets and cgmd while it runs, and sets
     * done (then writes to the wake pipe) with rc and msg. */
    pthread_t thr;
    bool thr_running;
    bool thr_abort; /* the thread aborts (else it commits) */
    atomic_bool thr_done;
    int thr_rc;
    char thr_msg[512];
    rd_kafka_topic_partition_list_t *offsets;
    rd_kafka_consumer_group_metadata_t *cgmd;
    kc_txn_held_t *held;
    size_t held_cnt, held_cap;
    kc_txn_refusal_t refused[KC_TXN_REFUSALS];
    size_t refused_cnt;
    uint64_t commits, aborts, skipped, stale, postponed, truncated;
    double commit_ms_sum, commit_ms_max;
} kc_wtxn_t;

struct kc_worker_s {
    kc_worker_conf_t conf;
    kc_worker_io_t io; /* clock, reply sink, LLM calls (kc_worker_io.h) */
    kc_taxonomy_t *tx;
    uint64_t key_seed;
    kc_avro_t *av;
    kc_l1_t *l1; /* NULL when cache.l1.ttl.s = 0 */
    kc_llm_t *llm;
    bool llm_enabled;
    /* sla.deadline.margin.ms, plus (exactly_once) transaction.interval.ms: a
     * reply is visible only once its transaction commits. */
    int64_t margin_us;
    bool isolate_tenants; /* batch.isolation=tenant */
    kc_keymap_t *inflight;
    kc_wcache_t cache;
    kc_wmetrics_t metrics;
    FILE *warm_fp; /* cache.warm.file being read; NULL when done */
    int64_t warm_started, warm_t0;
    kc_heap_t deadlines; /* waiting requests by fire_at */
    kc_wllm_t lq;        /* the LLM side */
    kc_breaker_t breaker;
    uint64_t rng;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_queue_t *cq; /* consumer queue */
    rd_kafka_queue_t *mq; /* producer main queue (delivery reports) */
    int cq_pipe[2], mq_pipe[2], wake_pipe[2];
    kc_part_t *parts;
    size_t part_cnt;
    char worker_id[128];
    volatile sig_atomic_t stop;
    bool fatal; /* a Kafka client failed for good (kc_worker_fatal) */
    char fatal_reason[256];
    bool destroying;    /* tearing down: callbacks only release memory */
    size_t outstanding; /* wreqs alive (consumed, not yet delivered) */
    bool store_pending;
    kc_wtxn_t txn;
    kc_buf_t enc;
    char *normbuf;
    size_t normbuf_size;
    rd_kafka_message_t **msgs;
    kc_worker_stats_t stats;
};

typedef struct kc_reply_s {
    const char *category;
    float confidence;
    const char *reasoning;
    const char *model;
    kc_status_t status;
    const char *error;
    kc_source_t source;
    int64_t llm_us;
    int32_t batch_size;
} kc_reply_t;

/* kc_worker_resolve.c */
bool kc_worker_deadline_before(const void *a, const void *b);
void kc_worker_deadline_set_pos(void *e, size_t pos);
void kc_worker_handle_record(kc_worker_t *w, const kc_wmsg_t *rec);
void kc_worker_resolve_free_all(kc_worker_t *w);
void kc_worker_deadlines(kc_worker_t *w);

kc_lookup_t *kc_worker_lookup_new(const kc_key_t *key, const char *norm, size_t norm_len,
                                  const char *text, size_t text_len);
void kc_worker_lookup_free(kc_lookup_t *lk);
/* Move lk to state `to` (asserts the move is one of the diagram's). */
void kc_lookup_move(kc_lookup_t *lk, kc_lookup_state_t to);
void kc_worker_lookup_finish(kc_worker_t *w, kc_lookup_t *lk, const kc_reply_t *rp);
void kc_worker_lookup_fallback(kc_worker_t *w, kc_lookup_t *lk, const char *why);
void kc_worker_waiters_fallback(kc_worker_t *w, kc_lookup_t *lk, const char *why);
void kc_worker_l1_put(kc_worker_t *w, const kc_lookup_t *lk, const kc_reply_t *rp, int64_t ttl_us);

/* kc_worker_llm.c */
void kc_worker_answer_opts(const kc_worker_t *w, kc_llm_answer_opts_t *ao);
int kc_worker_llm_init(kc_worker_t *w, char *errstr, size_t errstr_size);
void kc_worker_llm_free(kc_worker_t *w);
/* Queue lk for the LLM: live if it has waiters, else fill (or dropped).
 * Never fails: a full queue or ENOMEM answers its waiters by the fallback
 * at once, so a lookup is never left in the in-flight map in no queue. lk may
 * be freed on return. */
void kc_worker_llmq_push(kc_worker_t *w, kc_lookup_t *lk);
void kc_worker_llmq_remove(kc_worker_t *w, kc_lookup_t *lk);
void kc_worker_llmq_waiters_changed(kc_worker_t *w, kc_lookup_t *lk);
size_t kc_worker_llmq_len(const kc_worker_t *w);
void kc_worker_dispatch(kc_worker_t *w);
void kc_worker_retries(kc_worker_t *w);
int64_t kc_worker_llm_next_timer_us(kc_worker_t *w);

/* kc_worker_cache.c */
int kc_worker_cache_init(kc_worker_t *w, char *errstr, size_t errstr_size);
void kc_worker_cache_free(kc_worker_t *w);
bool kc_worker_cache_enabled(const kc_worker_t *w);
int kc_worker_cache_stage_add(kc_worker_t *w, kc_lookup_t *lk);
void kc_worker_cache_stage(kc_worker_t *w);
void kc_worker_cache_store(kc_worker_t *w, kc_lookup_t *lk, const kc_reply_t *rp);
void kc_worker_cache_release(kc_worker_t *w, kc_lookup_t *lk);
void kc_worker_cache_flush(kc_worker_t *w);
void kc_worker_cache_tick(kc_worker_t *w);

/* kc_worker_metrics.c */
int kc_worker_metrics_init(kc_worker_t *w, char *errstr, size_t errstr_size);
void kc_worker_metrics_free(kc_worker_t *w);
void kc_worker_metrics_reply(kc_worker_t *w, const kc_result_t *res);
void kc_worker_metrics_llm(kc_worker_t *w, const kc_llm_outcome_t *out, size_t n);
void kc_worker_metrics_llm_item(kc_worker_t *w);
void kc_worker_metrics_batch(kc_worker_t *w, size_t n);
void kc_worker_metrics_tick(kc_worker_t *w);
void kc_worker_metrics_pow2_hist(kc_buf_t *b, const char *name, const char *help,
                                 const uint64_t *buckets, double sum);

/* kc_worker_llm_obs.c */
void kc_worker_llm_render(kc_worker_t *w, kc_buf_t *b);
struct json_t *kc_worker_llm_health(kc_worker_t *w, const char *state, int failures_in_row);
int kc_worker_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque);
void kc_worker_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* kc_worker_warm.c */
int kc_worker_warm_start(kc_worker_t *w, char *errstr, size_t errstr_size);
bool kc_worker_warm_step(kc_worker_t *w);

/* kc_worker_reply.c */

void kc_worker_reply(kc_worker_t *w, kc_wreq_t *wr, const kc_reply_t *rp);
void kc_worker_reply_error(kc_worker_t *w, kc_wreq_t *wr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kc_worker_dlt(kc_worker_t *w, kc_wreq_t *wr, const kc_wmsg_t *rec, const char *reason);
/* Its reply cannot be written: the request (re-encoded) goes to the DLT with
 * the reason, so its offset completes. */
void kc_worker_dead_letter(kc_worker_t *w, kc_wreq_t *wr, const char *reason);
void kc_worker_fatal(kc_worker_t *w, const char *reason);
void kc_worker_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
int kc_worker_kafka_produce(void *opaque, const kc_wmsg_t *m, void *msg_opaque);
void kc_worker_wreq_free(kc_worker_t *w, kc_wreq_t *wr);

/* kc_worker_txn.c: processing.guarantee=exactly_once */
int kc_worker_txn_start(kc_worker_t *w, char *errstr, size_t errstr_size);
void kc_worker_txn_assigned(kc_worker_t *w, const rd_kafka_topic_partition_list_t *parts);
void kc_worker_txn_revoked(kc_worker_t *w);
void kc_worker_txn_tick(kc_worker_t *w);
void kc_worker_txn_end(kc_worker_t *w);
void kc_worker_txn_free(kc_worker_t *w);
/* A consumed record answered in a committed transaction: marked done. */
bool kc_worker_txn_skip(kc_worker_t *w, const kc_wmsg_t *rec);
/* Its partition was rewound or revoked since it was consumed: freed, true. */
bool kc_worker_txn_stale(kc_worker_t *w, kc_wreq_t *wr);
/* After a revoke: the held replies go out (the revoked ones are dropped). */
void kc_worker_txn_release(kc_worker_t *w);
/* Forget a partition's exactly_once state (assigned, revoked, freed). */
void kc_worker_txn_part_reset(kc_part_t *part);
void kc_worker_txn_refusal(kc_worker_t *w, const kc_wreq_t *wr, int err, bool dlt);
const kc_txn_refusal_t *kc_worker_txn_refused(kc_worker_t *w, const kc_wreq_t *wr);
void kc_worker_txn_render(kc_worker_t *w, kc_buf_t *b);
/* Hold a record produced while a commit runs (takes hdrs). */
int kc_worker_txn_hold(kc_worker_t *w, const kc_wmsg_t *m, kc_wreq_t *wr);
/* A record the sink refused (err): what at_least_once does, or the abort. */
void kc_worker_produce_error(kc_worker_t *w, kc_wreq_t *wr, const kc_wmsg_t *m, int err);
/* Serve the producer's delivery reports and errors (callbacks, or events in
 * exactly_once mode), waiting up to timeout_ms. */
void kc_worker_producer_serve(kc_worker_t *w, int timeout_ms);

/* kc_worker.c */
kc_part_t *kc_worker_part(kc_worker_t *w, int32_t partition);

/* The worker's clocks (the io seam). */
static inline int64_t kc_w_now(const kc_worker_t *w)
{
    return w->io.now_us(w->io.opaque);
}

static inline int64_t kc_w_mono(const kc_worker_t *w)
{
    return w->io.mono_us(w->io.opaque);
}

/* LLM calls running now. */
static inline size_t kc_w_inflight(const kc_worker_t *w)
{
    return w->io.llm_inflight(w->io.opaque);
}

#endif
