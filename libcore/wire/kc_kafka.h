/**
 * @file kc_kafka.h
 * @brief librdkafka configuration helpers shared by every Kafka client of ours.
 */
#ifndef KC_KAFKA_H
#define KC_KAFKA_H

#include "kc_conf.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/**
 * @brief rd_kafka_conf_set() with our error convention.
 * @returns 0, or KC_ERR_CONFIG with errstr "kafka.<key>: <librdkafka's reason>".
 */
int kc_kafka_conf_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                      size_t errstr_size);

typedef enum { KC_KAFKA_PRODUCER = 0, KC_KAFKA_CONSUMER = 1 } kc_kafka_role_t;

/**
 * @brief The librdkafka property a `kafka.*` key (prefix already removed)
 * sets on a client of `role`, or NULL if it is not for that client:
 * `consumer.X` / `producer.X` are X for that type only; an unscoped key goes
 * to both types unless librdkafka knows it as the other type's property
 * (group.id, acks, ...).
 */
const char *kc_kafka_key_for(kc_kafka_role_t role, const char *key);

/**
 * @brief A new librdkafka config for a client of `role`: our defaults first
 * (a NULL-terminated list of key, value pairs; may be NULL), then the
 * unscoped `kafka.*` pairs of kv, then the `kafka.<role>.*` ones, so the
 * user's keys win and the scoped key wins over the unscoped one.
 * @returns the config, or NULL with errstr set.
 */
rd_kafka_conf_t *kc_kafka_conf_new(kc_kafka_role_t role, const char *const *defaults,
                                   const kc_conf_kv_list_t *kv, char *errstr, size_t errstr_size);

/** What producing a record again can do about a produce or delivery error. */
typedef enum {
    KC_KAFKA_ERR_TRANSIENT, /**< may pass: brokers down, timeouts, leader changes */
    KC_KAFKA_ERR_RECORD,    /**< the broker refused the batch it was in (invalid record, too
                                 large, policy): its batch-mates may be fine, so retry a few
                                 times, alone, before giving up on it */
    KC_KAFKA_ERR_TOPIC,     /**< the topic cannot take it: unknown, invalid, not authorised */
} kc_kafka_err_class_t;

/** @brief The class of a produce or delivery error (rd_kafka_resp_err_t). Pure. */
kc_kafka_err_class_t kc_kafka_err_class(int err);

#endif
