/**
 * @file kc_worker.h
 * @brief The classification worker: one event loop that consumes requests,
 * resolves them (L1 cache, in-flight coalescing, batched LLM calls, fallback)
 * and produces replies, committing offsets only for delivered replies.
 */
#ifndef KC_WORKER_H
#define KC_WORKER_H

#include "kc_types.h"
#include "kc_worker_conf.h"

#include <stdint.h>

typedef struct kc_worker_s kc_worker_t;

/**
 * @brief Create a worker: Kafka clients, caches, LLM client.
 * @remark takes ownership of conf's contents on success (conf is zeroed);
 *         on failure conf is left for the caller to free.
 * @param api_key LLM bearer token or NULL (not kept in conf so it is never
 *        printed with it).
 * @param rcp on failure: the KC_ERR_* code (KC_ERR_CONFIG for a configuration
 *        that cannot work, e.g. a bad taxonomy file).
 */
kc_worker_t *kc_worker_new(kc_worker_conf_t *conf, const char *api_key, int *rcp, char *errstr,
                           size_t errstr_size);

/**
 * @brief Run the event loop until kc_worker_stop(), then drain in-flight work
 * (bounded by worker.shutdown.timeout.ms), flush replies and commit.
 * @returns 0 on a clean stop, or an error code with errstr set.
 */
int kc_worker_run(kc_worker_t *w, char *errstr, size_t errstr_size);

/** @brief Ask the loop to stop. Async-signal-safe. */
void kc_worker_stop(kc_worker_t *w);

void kc_worker_destroy(kc_worker_t *w);

/** @brief Counters since start (the worker's `stats`, rendered in /metrics). */
typedef struct kc_worker_stats_s {
    uint64_t requests;
    uint64_t replies;
    uint64_t replies_by_source[KC_SRC__CNT];
    uint64_t replies_by_status[KC_STATUS__CNT];
    uint64_t replies_by[KC_STATUS__CNT][KC_SRC__CNT]; /**< by status, then source */
    uint64_t dlt;  /**< records to the DLT: undecodable, or their reply could not be written */
    uint64_t lost; /**< requests whose reply and dead letter both failed for good */
    uint64_t coalesced;
    uint64_t delivery_failures;
    uint64_t llm_calls;
    uint64_t llm_failed_calls;
    uint64_t llm_retried_items;
    uint64_t deadline_fallbacks;
    uint64_t cache_hits[KC_SRC__CNT];   /**< by kc_source_t level (L1, LMDB, REDIS) */
    uint64_t cache_misses[KC_SRC__CNT]; /**< by kc_source_t level */
    uint64_t lease_waits;               /**< lookups that waited on another worker's lease */
} kc_worker_stats_t;

#endif
