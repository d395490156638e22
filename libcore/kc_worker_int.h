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
#include "kc_heap.h"
#include "kc_keymap.h"
#include "kc_l1.h"
#include "kc_llm.h"
#include "kc_normalize.h"
#include "kc_taxonomy.h"
#include "kc_wm.h"
#include "kc_worker.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>

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
    int64_t cache_us;
    bool coalesced;
    int produce_attempts;
} kc_wreq_t;

struct kc_lookup_s {
    kc_key_t key;
    char *norm; /* normalized query: cache value check */
    size_t norm_len;
    char *text; /* first requester's query, trimmed: what the LLM sees */
    size_t text_len;
    kc_wreq_t *waiters;
    kc_wreq_t **waiters_tail;
    size_t waiter_cnt;
    int attempts;
    bool write_cache;
    bool in_call;        /* an LLM call for it is running */
    kc_priority_t prio;  /* highest waiter priority */
    int64_t deadline_at; /* earliest waiter deadline */
    size_t pq_pos;       /* position in the LLM queue, KC_HEAP_NONE if not queued */
};

/* A running LLM call and the lookups it answers, in id order. */
typedef struct kc_wcall_s {
    kc_worker_t *w;
    size_t n;
    kc_lookup_t *lookups[];
} kc_wcall_t;

typedef struct kc_part_s {
    kc_wm_t *wm;
    uint32_t gen;
    bool assigned;
    bool dirty; /* watermark advanced since the last offsets_store */
} kc_part_t;

struct kc_worker_s {
    kc_worker_conf_t conf;
    kc_taxonomy_t *tx;
    uint64_t key_seed;
    kc_avro_t *av;
    kc_l1_t *l1; /* NULL when cache.l1.ttl.s = 0 */
    kc_llm_t *llm;
    bool llm_enabled;
    kc_keymap_t *inflight;
    kc_heap_t llmq;      /* lookups waiting for an LLM slot: priority, then deadline */
    kc_heap_t deadlines; /* waiting requests by fire_at */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_queue_t *cq; /* consumer queue */
    rd_kafka_queue_t *mq; /* producer main queue (delivery reports) */
    int cq_pipe[2], mq_pipe[2], wake_pipe[2];
    kc_part_t *parts;
    size_t part_cnt;
    char worker_id[128];
    volatile sig_atomic_t stop;
    size_t outstanding; /* wreqs alive (consumed, not yet delivered) */
    bool store_pending;
    kc_buf_t enc;
    char *normbuf;
    size_t normbuf_size;
    rd_kafka_message_t **msgs;
    kc_worker_stats_t stats;
};

/* kc_worker_resolve.c */
void kc_worker_handle_message(kc_worker_t *w, rd_kafka_message_t *rkm);
void kc_worker_dispatch(kc_worker_t *w);
void kc_worker_lookups_abandon(kc_worker_t *w);
void kc_worker_deadlines(kc_worker_t *w);
int kc_worker_next_timer_ms(kc_worker_t *w, int max_ms);
void kc_worker_queues_init(kc_worker_t *w);

/* kc_worker_reply.c */
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

void kc_worker_reply(kc_worker_t *w, kc_wreq_t *wr, const kc_reply_t *rp);
void kc_worker_reply_error(kc_worker_t *w, kc_wreq_t *wr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kc_worker_dlt(kc_worker_t *w, kc_wreq_t *wr, const rd_kafka_message_t *rkm,
                   const char *reason);
void kc_worker_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
void kc_worker_wreq_free(kc_worker_t *w, kc_wreq_t *wr);

/* kc_worker.c */
kc_part_t *kc_worker_part(kc_worker_t *w, int32_t partition);

#endif
