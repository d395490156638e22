/**
 * @file kc_worker_io.h
 * @brief The worker's seams: its clock, its reply sink and its LLM calls.
 *
 * kc_worker_new() uses the real ones (kc_now_us()/kc_mono_us(),
 * rd_kafka_producev() on the worker's producer, kc_llm_submit() on its
 * libcurl client). kc_worker_new_io() takes others and creates no Kafka
 * client: requests are fed with kc_worker_feed(), the loop is turned with
 * kc_worker_step(), replies go to io->produce and their delivery is reported
 * back with kc_worker_delivery(). The unit suites (tests/check_worker_*.c)
 * drive a worker this way, on a fake clock and fake LLM outcomes, without
 * Kafka or HTTP.
 */
#ifndef KC_WORKER_IO_H
#define KC_WORKER_IO_H

#include "kc_llm.h"
#include "kc_worker.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/** @brief A record: one the worker consumed (kc_worker_feed()), one it
 * produces (reply or dead letter), or a produced one's delivery report. */
typedef struct kc_wmsg_s {
    const char *topic;
    int32_t partition; /**< produced: -1 (any) until the report says */
    int64_t offset;    /**< produced: -1 until the report says */
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    rd_kafka_headers_t *hdrs; /**< may be NULL; only read in a consumed record */
} kc_wmsg_t;

/** @brief The record a librdkafka message is (no copy: valid while rkm is). */
void kc_wmsg_of(const rd_kafka_message_t *rkm, kc_wmsg_t *m);

typedef struct kc_worker_io_s {
    void *opaque; /**< passed to every function below */
    /** Wall clock and monotonic clock, microseconds. */
    int64_t (*now_us)(void *opaque);
    int64_t (*mono_us)(void *opaque);
    /**
     * Produce one record; key and value are copied. Returns 0 (then the sink
     * owns m->hdrs and reports the delivery later through
     * kc_worker_delivery() with msg_opaque) or an rd_kafka_resp_err_t (then
     * the caller still owns m->hdrs). RD_KAFKA_RESP_ERR__QUEUE_FULL is for
     * the sink to absorb, not to return.
     */
    int (*produce)(void *opaque, const kc_wmsg_t *m, void *msg_opaque);
    /** kc_llm_submit(), kc_llm_cancel() (runs cb at once) and kc_llm_inflight(). */
    int (*llm_submit)(void *opaque, const char *const *texts, const size_t *lens, size_t n,
                      const kc_llm_call_opts_t *co, int64_t timeout_ms, kc_llm_done_cb *cb,
                      void *cb_opaque, kc_llm_call_t **callp, char *errstr, size_t errstr_size);
    void (*llm_cancel)(void *opaque, kc_llm_call_t *call);
    size_t (*llm_inflight)(void *opaque);
} kc_worker_io_t;

/**
 * @brief A worker on the given seams (every member set), without Kafka
 * clients: kc_worker_run() is not for it. Caches, the taxonomy and the
 * metrics endpoint are set up from conf as kc_worker_new() does.
 */
kc_worker_t *kc_worker_new_io(kc_worker_conf_t *conf, const kc_worker_io_t *io, int *rcp,
                              char *errstr, size_t errstr_size);

/**
 * @brief Hand the worker one micro-batch of consumed records, as its loop
 * does after a consume: each is decoded and resolved (L1, coalescing,
 * LMDB/Redis stage), and may be replied to at once. A record of a partition
 * seen for the first time assigns that partition.
 */
void kc_worker_feed(kc_worker_t *w, const kc_wmsg_t *recs, size_t cnt);

/** @brief One pass of the event loop without waiting or consuming:
 * deadlines, retries, LLM dispatch, cache writes and polls, metrics. */
void kc_worker_step(kc_worker_t *w);

/** @brief The delivery report of a record io->produce accepted (err 0 = delivered). */
void kc_worker_delivery(kc_worker_t *w, const kc_wmsg_t *m, int err, void *msg_opaque);

/** @brief The offset the worker would commit for partition now (-1: none). */
int64_t kc_worker_committable(kc_worker_t *w, int32_t partition);

/** @brief Milliseconds until the worker's next timer, at most max_ms (0: due). */
int kc_worker_next_timer_ms(kc_worker_t *w, int max_ms);

#endif
