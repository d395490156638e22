/**
 * @file kc_kafka.h
 * @brief librdkafka configuration helpers shared by every Kafka client of ours.
 */
#ifndef KC_KAFKA_H
#define KC_KAFKA_H

#include "kc_conf.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/**
 * @brief rd_kafka_conf_set() with our error convention.
 * @returns 0, or KC_ERR_CONFIG with errstr "kafka.<key>: <librdkafka's reason>".
 */
int kc_kafka_conf_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                      size_t errstr_size);

/**
 * @brief A new librdkafka config: our defaults first (a NULL-terminated list
 * of key, value pairs; may be NULL), then every `kafka.*` pair of kv, so the
 * user's keys win.
 * @returns the config, or NULL with errstr set.
 */
rd_kafka_conf_t *kc_kafka_conf_new(const char *const *defaults, const kc_conf_kv_list_t *kv,
                                   char *errstr, size_t errstr_size);

#endif
