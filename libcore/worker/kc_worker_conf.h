/**
 * @file kc_worker_conf.h
 * @brief kclassify-worker configuration: the struct and its property table.
 */
#ifndef KC_WORKER_CONF_H
#define KC_WORKER_CONF_H

#include "kc_conf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kc_worker_conf_s {
    char *topic_requests;
    char *topic_replies;
    char *topic_dlt;
    char *topic_replies_allowed;
    int64_t schema_id_request;
    int64_t schema_id_result;
    char *llm_url;
    char *llm_model;
    int64_t llm_timeout_ms;
    int64_t llm_batch_max;
    int64_t llm_batch_linger_ms;
    int coalesce_inflight;
    int64_t llm_inflight_max;
    int64_t llm_response_max_bytes;
    int64_t llm_item_attempts;
    int64_t llm_retries;
    int64_t llm_retry_backoff_ms;
    int64_t llm_retry_backoff_max_ms;
    int64_t llm_inflight_min;
    int64_t llm_rpm;
    int64_t llm_tpm;
    int64_t llm_hedge_max_pct;
    char *llm_reasoning;
    char *llm_confidence;
    int64_t llm_prior_ttft_ms;
    int64_t llm_prior_decode_us_per_token;
    int64_t llm_prior_prefill_us_per_token;
    int64_t sla_deadline_max_ms;
    int64_t llm_breaker_failures;
    int64_t llm_breaker_open_ms;
    int64_t llm_breaker_open_max_ms;
    char *llm_api_key_file;
    char *batch_isolation;
    int llm_allow_insecure;
    int64_t cache_l1_entries;
    int64_t cache_l1_ttl_s;
    int64_t cache_l1_max_mb;
    int64_t cache_fallback_ttl_s;
    char *cache_lmdb_path;
    int64_t cache_lmdb_size_mb;
    int64_t cache_lmdb_ttl_s;
    char *cache_redis_url;
    int64_t cache_redis_ttl_s;
    char *cache_redis_prefix;
    int64_t cache_redis_timeout_ms;
    char *cache_redis_tls_ca_location;
    char *cache_redis_tls_cert_location;
    char *cache_redis_tls_key_location;
    int cache_redis_tls_verify;
    int64_t coalesce_redis_lease_ms;
    int64_t coalesce_redis_poll_ms;
    char *cache_warm_file;
    int64_t cache_warm_rate;
    int64_t batch_max_messages;
    int64_t batch_linger_ms;
    int64_t sla_deadline_ms;
    int64_t sla_deadline_margin_ms;
    int64_t llm_queue_max;
    int64_t query_max_bytes;
    char *taxonomy_file;
    int64_t metrics_port;
    char *metrics_bind;
    char *log_format;
    char *log_level;
    char *worker_id;
    char *processing_guarantee;
    int64_t transaction_interval_ms;
    int64_t worker_shutdown_timeout_ms;
    kc_conf_kv_list_t kafka; /**< kafka.* pass-through, prefix stripped */
} kc_worker_conf_t;

/** @brief The property table (ends with a {NULL} entry). */
extern const kc_conf_prop_t kc_worker_conf_props[];

/** @brief Apply defaults. @returns 0 or an error with errstr. */
int kc_worker_conf_init(kc_worker_conf_t *conf, char *errstr, size_t errstr_size);

/** @brief Checks across keys and of enumerated values. @returns 0 or KC_ERR_CONFIG. */
int kc_worker_conf_check(const kc_worker_conf_t *conf, char *errstr, size_t errstr_size);

/** @brief Free everything the struct owns. NULL-safe. */
void kc_worker_conf_free(kc_worker_conf_t *conf);

#endif
