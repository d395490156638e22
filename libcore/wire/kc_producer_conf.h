/**
 * @file kc_producer_conf.h
 * @brief Configuration table of kclassify-produce.
 *
 * Keys (defaults in kc_producer_conf_props): topic.requests, topic.replies,
 * schema.id.request, schema.id.result, llm.model, taxonomy.file, plus any
 * `kafka.*` key passed to librdkafka (kc_conf collects those).
 */
#ifndef KC_PRODUCER_CONF_H
#define KC_PRODUCER_CONF_H

#include "kc_conf.h"

#include <stdint.h>

typedef struct kc_producer_conf_s {
    char *topic_requests;      /**< where requests are produced */
    char *topic_replies;       /**< where --wait reads results */
    int64_t schema_id_request; /**< Schema Registry id framed into each request */
    int64_t schema_id_result;  /**< id expected on results */
    char *llm_model;           /**< part of the cache-key seed; must match the worker */
    char *taxonomy_file;       /**< "" = embedded default; must match the worker */
} kc_producer_conf_t;

/** @brief The table, terminated by a {NULL} entry. */
extern const kc_conf_prop_t kc_producer_conf_props[];

#endif
