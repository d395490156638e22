/**
 * @file kc_types.h
 * @brief The wire records (ClassificationRequest, ClassificationResult) as C structs.
 *
 * Field meanings follow the .avsc files in schemas/ exactly. Strings are NUL-terminated;
 * `query` may also contain NUL bytes, so its length is carried in `query_len`.
 */
#ifndef KC_TYPES_H
#define KC_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KC_PRIO_LOW = 0, KC_PRIO_NORMAL = 1, KC_PRIO_HIGH = 2 } kc_priority_t;

typedef enum {
    KC_CACHE_USE = 0,     /**< read and write caches */
    KC_CACHE_REFRESH = 1, /**< skip reads, ask the LLM, write the answer */
    KC_CACHE_BYPASS = 2   /**< neither read nor write */
} kc_cache_policy_t;

typedef enum {
    KC_STATUS_OK = 0,
    KC_STATUS_DEGRADED = 1,
    KC_STATUS_ERROR = 2,
    KC_STATUS__CNT /**< number of statuses (not a status) */
} kc_status_t;

typedef enum {
    KC_SRC_L1 = 0,
    KC_SRC_LMDB = 1,
    KC_SRC_REDIS = 2,
    KC_SRC_LLM = 3,
    KC_SRC_FALLBACK = 4,
    KC_SRC_NONE = 5,
    KC_SRC__CNT /**< number of sources (not a source) */
} kc_source_t;

/** @brief Symbol names, as in the Avro enums ("LOW", "OK", "L1", ...). */
const char *kc_priority_name(kc_priority_t p);
const char *kc_cache_policy_name(kc_cache_policy_t p);
const char *kc_status_name(kc_status_t s);
const char *kc_source_name(kc_source_t s);
/** @brief Parse a symbol name (case-sensitive). @returns 0 or KC_ERR_INVALID. */
int kc_priority_parse(const char *s, kc_priority_t *out);
int kc_cache_policy_parse(const char *s, kc_cache_policy_t *out);

typedef struct kc_kv_s {
    char *key;
    char *value;
} kc_kv_t;

/**
 * @brief A ClassificationRequest.
 *
 * When filled by a decoder every pointer is owned by the struct and released
 * by kc_request_clear(). When filled by a caller for encoding, the encoder only
 * reads it and ownership stays with the caller.
 */
typedef struct kc_request_s {
    char *request_id;
    char *query;
    size_t query_len; /**< bytes in query, excluding the terminating NUL */
    kc_priority_t priority;
    int32_t deadline_ms; /**< budget from created_at; 0 = worker default */
    int64_t created_at;  /**< microseconds since epoch */
    char *reply_topic;   /**< NULL = default reply topic */
    kc_cache_policy_t cache_policy;
    kc_kv_t *context;
    size_t context_cnt;
} kc_request_t;

/** @brief Free everything a decoder put into req and zero it. NULL-safe. */
void kc_request_clear(kc_request_t *req);

/**
 * @brief A ClassificationResult. Same ownership rules as kc_request_t;
 * release decoded results with kc_result_clear().
 */
typedef struct kc_result_s {
    char *request_id;
    char *query_hash; /**< 32 lowercase hex digits */
    char *category;
    float confidence;
    char *reasoning; /**< may be NULL */
    kc_status_t status;
    char *error; /**< may be NULL */
    kc_source_t source;
    bool coalesced;
    char *model; /**< may be NULL */
    int32_t batch_size;
    char *worker_id;
    int64_t created_at;
    int64_t consumed_at;
    int64_t replied_at;
    int64_t queue_us;
    int64_t cache_us;
    int64_t llm_us;
    int64_t total_us;
    bool deadline_met;
} kc_result_t;

/** @brief Free everything a decoder put into res and zero it. NULL-safe. */
void kc_result_clear(kc_result_t *res);

#endif
