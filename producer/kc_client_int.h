/**
 * @file kc_client_int.h
 * @brief Internals shared by the kc_client*.c files. Not installed.
 *
 * Locking: `send_lock` serialises encoding (one Avro codec, one buffer) and
 * the producer-queue-full retry; `lock` guards the pending table, the counters
 * and the recent-id set. Order: send_lock before lock. The background thread
 * takes only `lock`, and never while calling back into the application.
 */
#ifndef KC_CLIENT_INT_H
#define KC_CLIENT_INT_H

#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_client_parts.h"
#include "kc_keymap.h"
#include "kc_normalize.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#define KC_CLIENT_QUEUE_FULL_WAIT_MS 30000 /* producer queue full this long: KC_ERR_FULL */
#define KC_CLIENT_ID_MAX             256   /* longest correlation id looked up */

/* Bounded set of recently answered (or expired) ids: tells a duplicate reply
 * from another client's. A ring of keys plus a key -> count map. */
typedef struct kc_recent_s {
    kc_key_t *ring;
    size_t cap, pos, cnt;
    kc_keymap_t *km;
} kc_recent_t;

struct kc_client_s {
    kc_producer_conf_t conf; /* owned copy */
    kc_conf_kv_list_t kafka; /* owned copy */
    kc_client_opts_t opts;
    uint64_t key_seed; /* the workers' cache-key seed: request key = reply query_hash */

    rd_kafka_t *rk;  /* producer */
    rd_kafka_t *rkc; /* reply consumer, NULL when send-only */
    rd_kafka_queue_t *rkq_main, *rkq_cons;

    pthread_mutex_t send_lock;
    kc_avro_t *av_send; /* under send_lock */
    kc_buf_t value;     /* under send_lock */

    pthread_mutex_t lock;
    kc_pending_t *pending;
    kc_client_stats_t st;
    kc_recent_t recent;

    kc_avro_t *av_recv; /* background thread only */
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    int wake[2]; /* pipe: librdkafka queue events and our own wake-ups */
};

/* kc_client_loop.c */
void *kc_client_loop(void *arg);
void kc_client_wake(kc_client_t *cl);
void kc_client_complete(kc_client_t *cl, kc_waiter_t *w, int err, const char *errmsg,
                        kc_result_t *res);
void kc_client_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
void kc_client_event(kc_client_t *cl, kc_client_event_t ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kc_client_recent (in kc_client_loop.c) */
int kc_recent_init(kc_recent_t *rc, size_t cap);
void kc_recent_free(kc_recent_t *rc);
void kc_recent_add(kc_recent_t *rc, const char *id);
bool kc_recent_has(const kc_recent_t *rc, const char *id);

/* kc_client_kafka.c */
int kc_client_kafka_setup(kc_client_t *cl, char *errstr, size_t errstr_size);

#endif
