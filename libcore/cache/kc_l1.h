/**
 * @file kc_l1.h
 * @brief L1 cache: in-process LRU with per-entry TTL, keyed by kc_key_t.
 *
 * Bounded by entry count and optionally by bytes. Each entry stores the normalized query, which is
 * compared on hit so a (vanishingly unlikely) hash collision is a miss, never
 * a wrong answer. Not thread-safe (one per event loop).
 */
#ifndef KC_L1_H
#define KC_L1_H

#include "kc_normalize.h"

#include <stddef.h>
#include <stdint.h>

/** @brief A cached classification. Strings are NUL-terminated. */
typedef struct kc_answer_s {
    const char *category;
    float confidence;
    const char *reasoning; /**< may be NULL */
    const char *model;     /**< may be NULL */
    const char *norm_query;
    size_t norm_len;
    int64_t created_at; /**< wall-clock microseconds when the answer was made */
    int degraded;       /**< a fallback answer, not the LLM's: replies say DEGRADED */
} kc_answer_t;

typedef struct kc_l1_s kc_l1_t;

/**
 * @brief Create a cache holding at most max_entries entries.
 * @returns NULL on allocation failure or max_entries == 0.
 */
kc_l1_t *kc_l1_new(size_t max_entries);
void kc_l1_destroy(kc_l1_t *l1);

/**
 * @brief Look up a key at time now_us (monotonic microseconds).
 * @param out receives a view valid until the next put/del/destroy.
 * @returns 0 on hit (entry becomes most recently used), KC_ERR_NOTFOUND on miss,
 *          expiry (the entry is removed) or normalized-query mismatch.
 */
int kc_l1_get(kc_l1_t *l1, const kc_key_t *key, const char *norm, size_t norm_len, int64_t now_us,
              kc_answer_t *out);

/**
 * @brief Insert or replace; copies every string. Evicts the least recently
 * used entry when full.
 * @param ttl_us lifetime from now_us.
 * @returns 0 or KC_ERR_NOMEM.
 */
int kc_l1_put(kc_l1_t *l1, const kc_key_t *key, const kc_answer_t *ans, int64_t now_us,
              int64_t ttl_us);

/** @brief Remove a key. @returns 0 or KC_ERR_NOTFOUND. */
int kc_l1_del(kc_l1_t *l1, const kc_key_t *key);

size_t kc_l1_count(const kc_l1_t *l1);

/**
 * @brief Also bound the cache by the bytes its entries take (header and
 * strings, not malloc overhead); 0 = entries only. Applies from the next put.
 */
void kc_l1_set_max_bytes(kc_l1_t *l1, size_t max_bytes);

/** @brief Bytes the entries take now. */
size_t kc_l1_bytes(const kc_l1_t *l1);

/** @brief Counters since creation. */
typedef struct kc_l1_stats_s {
    uint64_t hits, misses, expired, evicted, inserts;
} kc_l1_stats_t;
void kc_l1_stats(const kc_l1_t *l1, kc_l1_stats_t *st);

/** @brief Longest bucket chain (entries), a walk of the whole table. */
size_t kc_l1_chain_max(const kc_l1_t *l1);

#endif
