/**
 * @file kc_client.h
 * @brief kcclient: classify queries from a C service, request/reply over Kafka.
 *
 * A client owns one producer (requests) and, unless created send-only, one
 * reply consumer shared by every request it makes. The consumer is assigned
 * (no consumer group, nothing committed) to every partition of the reply
 * topic at the high watermarks before kc_client_new() returns, so no reply to
 * a request sent afterwards can be missed. Replies are matched to requests by
 * their `kafka_correlationId` header (else the message key, else the decoded
 * request_id): the worker sets all three to the request_id.
 *
 * Threads: every function may be called from any thread, concurrently. A
 * background thread owned by the client serves delivery reports, reads
 * replies, expires timeouts and runs the callbacks; callbacks therefore run on
 * that thread, one at a time, and must not block for long. A callback may call
 * kc_client_classify_async() and kc_client_send(), but not the blocking
 * kc_client_classify() or kc_client_destroy() (they return KC_ERR_STATE /
 * must not be called there).
 *
 * Lifecycle (as in librdkafka's examples):
 * @code
 *   kc_client_t *cl = kc_client_new_kv(props, NULL, errstr, sizeof(errstr));
 *   kc_request_t req = {.query = "What is a metabolite?", .query_len = 21};
 *   kc_result_t res = {0};
 *   if (kc_client_classify(cl, &req, 5000, &res, errstr, sizeof(errstr)) == 0) {
 *       printf("%s\n", res.category);
 *       kc_result_clear(&res);
 *   }
 *   kc_client_destroy(cl);
 * @endcode
 */
#ifndef KC_CLIENT_H
#define KC_CLIENT_H

#include "kc_conf.h"
#include "kc_producer_conf.h"
#include "kc_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kc_client_s kc_client_t;

/** @brief What a client reports through kc_client_opts_t.on_event (it never prints). */
typedef enum {
    KC_CLIENT_EV_DELIVERY_FAILED, /**< a request was not delivered to Kafka */
    KC_CLIENT_EV_BAD_REPLY,       /**< an undecodable record on the reply topic */
    KC_CLIENT_EV_KAFKA_ERROR      /**< a client-level Kafka error (often transient) */
} kc_client_event_t;

/**
 * @brief Event callback, on the background thread (or in kc_client_destroy()).
 * @param msg a one-line description, valid during the call.
 */
typedef void(kc_client_event_cb_t)(kc_client_event_t ev, const char *msg, void *opaque);

/**
 * @brief Completion of kc_client_classify_async(): called exactly once per
 *        accepted request, on the background thread (or, for requests still
 *        waiting when the client is destroyed, in kc_client_destroy()).
 * @param err 0 with a result; KC_ERR_TIMEOUT (no reply within the timeout),
 *        KC_ERR_KAFKA (the request was not delivered) or KC_ERR_STATE (the
 *        client was destroyed first), with res NULL and errmsg saying why.
 * @param res the decoded result, owned by the client and cleared after the
 *        callback returns. To keep it, move it out: `mine = *res;
 *        memset(res, 0, sizeof(*res));` then kc_result_clear(&mine) later.
 * @param rtt_us microseconds from the send to the completion.
 */
typedef void(kc_client_reply_cb_t)(int err, const char *errmsg, kc_result_t *res, int64_t rtt_us,
                                   void *opaque);

/** @brief Options of kc_client_new(); a zeroed struct (or NULL) gives the defaults. */
typedef struct kc_client_opts_s {
    bool send_only;                 /**< no reply consumer: only kc_client_send() works */
    kc_client_event_cb_t *on_event; /**< NULL = events are only counted */
    void *event_opaque;
    size_t recent_ids; /**< answered ids remembered to tell duplicates from other clients'
                            replies (0 = 65536); bounds the memory this takes */
} kc_client_opts_t;

/** @brief Counters of a client, a consistent snapshot (kc_client_stats()). */
typedef struct kc_client_stats_s {
    uint64_t sent;            /**< requests handed to the producer */
    uint64_t delivered;       /**< requests acknowledged by Kafka */
    uint64_t delivery_failed; /**< requests Kafka could not take */
    uint64_t answered;        /**< replies matched to a waiting request */
    uint64_t timed_out;       /**< requests whose timeout expired first */
    uint64_t duplicates;      /**< replies to an id already answered (at-least-once) */
    uint64_t foreign;         /**< replies to other clients on a shared reply topic */
    uint64_t bad_replies;     /**< undecodable reply records */
    uint64_t pending;         /**< requests waiting for a reply now */
} kc_client_stats_t;

/**
 * @brief Create a client from a configuration (kc_producer_conf_props table)
 *        and the `kafka.*` pass-through list (prefix removed).
 * @param conf topic.requests / topic.replies / schema ids / llm.model /
 *        taxonomy.file: copied; the key-seed keys must match the workers'.
 * @param kafka librdkafka properties; bootstrap.servers is required. Copied.
 * @param opts NULL for defaults.
 * @returns the client, or NULL with errstr set (bad property, reply topic
 *          missing, brokers unreachable within 10 s).
 */
kc_client_t *kc_client_new(const kc_producer_conf_t *conf, const kc_conf_kv_list_t *kafka,
                           const kc_client_opts_t *opts, char *errstr, size_t errstr_size);

/**
 * @brief Create a client from key/value pairs: {"kafka.bootstrap.servers",
 *        "host:9092", "topic.replies", "my.replies", NULL}. Keys as in
 *        kc_producer_conf_props plus `kafka.*`; unknown keys are an error.
 */
kc_client_t *kc_client_new_kv(const char *const *kv, const kc_client_opts_t *opts, char *errstr,
                              size_t errstr_size);

/**
 * @brief Send a request and wait for its result.
 * @param req only read. request_id NULL = a random UUID; created_at 0 = now;
 *        reply_topic must be NULL or the client's topic.replies.
 * @param timeout_ms > 0: how long to wait for the reply after sending.
 * @param res zeroed on entry; on success owns its strings (kc_result_clear()).
 * @returns 0; KC_ERR_TIMEOUT; KC_ERR_KAFKA (not delivered); KC_ERR_INVALID
 *          (bad argument); KC_ERR_STATE (send-only client, or called from a
 *          callback); KC_ERR_FULL (the producer queue stayed full for 30 s);
 *          KC_ERR_NOMEM / KC_ERR_ENCODE. errstr says why.
 */
int kc_client_classify(kc_client_t *cl, const kc_request_t *req, int timeout_ms, kc_result_t *res,
                       char *errstr, size_t errstr_size);

/**
 * @brief Send a request; cb is called once with its result or failure.
 * @param timeout_ms > 0: fail with KC_ERR_TIMEOUT that long after the send;
 *        <= 0: no timeout (the caller gives up by destroying the client).
 * @returns 0 when the request was sent (cb will be called); otherwise an
 *          error as for kc_client_classify() and cb is never called.
 */
int kc_client_classify_async(kc_client_t *cl, const kc_request_t *req, int timeout_ms,
                             kc_client_reply_cb_t *cb, void *opaque, char *errstr,
                             size_t errstr_size);

/**
 * @brief Send a request without waiting for (or tracking) a reply; its
 *        reply_topic is sent as given (NULL = the worker's default topic).
 * @returns 0 when handed to the producer; delivery failures are counted and
 *          reported as KC_CLIENT_EV_DELIVERY_FAILED.
 */
int kc_client_send(kc_client_t *cl, const kc_request_t *req, char *errstr, size_t errstr_size);

/**
 * @brief Wait until every request sent so far was delivered or failed.
 * @returns 0, or KC_ERR_TIMEOUT if some are still queued after timeout_ms.
 */
int kc_client_flush(kc_client_t *cl, int timeout_ms);

/** @brief true if a request with this id is waiting for its reply. */
bool kc_client_is_pending(kc_client_t *cl, const char *request_id);

/** @brief A snapshot of the counters. */
void kc_client_stats(kc_client_t *cl, kc_client_stats_t *st);

/** @brief The request and reply topics (valid while the client lives). */
const char *kc_client_topic_requests(const kc_client_t *cl);
const char *kc_client_topic_replies(const kc_client_t *cl);

/**
 * @brief Stop the background thread, flush queued requests (at most 5 s),
 *        complete every waiting request with KC_ERR_STATE, free everything.
 *        NULL-safe. Not from a callback.
 */
void kc_client_destroy(kc_client_t *cl);

/** @brief The library's version ("0.1.0"), for services linking libkcclient.so. */
const char *kc_client_version(void);

#endif
