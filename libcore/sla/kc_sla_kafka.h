/**
 * @file kc_sla_kafka.h
 * @brief Kafka helpers of the SLA monitor: client config from `kafka.*` keys,
 * partition lists with watermarks, and a consumer group's lag.
 *
 * All calls are blocking with a timeout; the monitor makes them only at
 * start-up and when replies stop (the silence rule), never per message.
 */
#ifndef KC_SLA_KAFKA_H
#define KC_SLA_KAFKA_H

#include "kc_conf.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/**
 * @brief The topic's partitions with their low and high watermarks.
 * @param out on success a list (caller destroys) with, per partition, `offset`
 *        = high watermark and the low watermark in the element's opaque
 *        (cast to intptr_t) - see kc_sla_kafka_low().
 * @returns 0, KC_ERR_NOTFOUND (no such topic), KC_ERR_KAFKA / KC_ERR_TIMEOUT.
 */
int kc_sla_kafka_watermarks(rd_kafka_t *rk, const char *topic, int timeout_ms,
                            rd_kafka_topic_partition_list_t **out, char *errstr,
                            size_t errstr_size);

/** @brief The low watermark stored by kc_sla_kafka_watermarks(). */
int64_t kc_sla_kafka_low(const rd_kafka_topic_partition_t *p);

/**
 * @brief Messages of topic that group has not committed yet: the sum over
 * partitions of high watermark - committed offset (low watermark when the
 * group committed nothing there). Uses the AdminAPI ListConsumerGroupOffsets
 * (works on any client, does not join the group) and watermark queries.
 * @returns 0 with *lag set, or KC_ERR_KAFKA / KC_ERR_TIMEOUT / KC_ERR_NOTFOUND.
 */
int kc_sla_kafka_group_lag(rd_kafka_t *rk, const char *group, const char *topic, int timeout_ms,
                           int64_t *lag, char *errstr, size_t errstr_size);

#endif
