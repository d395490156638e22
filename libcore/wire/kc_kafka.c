#include "kc_kafka.h"
#include "kc_err.h"

#include <stdbool.h>
#include <string.h>

int kc_kafka_conf_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                      size_t errstr_size)
{
    char kerr[256];

    if (rd_kafka_conf_set(kconf, key, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "kafka.%s: %s", key, kerr);
    }
    return 0;
}

/* librdkafka properties of one client type only: an unscoped kafka.* key
 * naming one is not given to the other type, which would log a warning. */
static bool consumer_only(const char *k)
{
    return !strcmp(k, "group.id") || !strcmp(k, "auto.offset.reset") ||
           !strncmp(k, "session.", 8) || !strncmp(k, "heartbeat.", 10) ||
           !strcmp(k, "partition.assignment.strategy") || !strncmp(k, "fetch.", 6) ||
           !strcmp(k, "max.poll.interval.ms") || !strncmp(k, "auto.commit", 11) ||
           !strcmp(k, "enable.auto.commit") || !strcmp(k, "enable.auto.offset.store") ||
           !strcmp(k, "group.instance.id") || !strcmp(k, "isolation.level") ||
           !strcmp(k, "enable.partition.eof") || !strcmp(k, "check.crcs") ||
           !strncmp(k, "queued.", 7) || !strcmp(k, "group.protocol.type");
}

static bool producer_only(const char *k)
{
    return !strcmp(k, "acks") || !strcmp(k, "request.required.acks") || !strncmp(k, "linger", 6) ||
           !strcmp(k, "enable.idempotence") || !strncmp(k, "queue.buffering", 15) ||
           !strcmp(k, "compression.type") || !strcmp(k, "compression.codec") ||
           !strcmp(k, "batch.size") || !strcmp(k, "batch.num.messages") ||
           !strcmp(k, "message.timeout.ms") || !strcmp(k, "delivery.timeout.ms") ||
           !strncmp(k, "transaction", 11) || !strcmp(k, "partitioner") ||
           !strcmp(k, "enable.gapless.guarantee") || !strcmp(k, "retries") ||
           !strcmp(k, "message.send.max.retries");
}

const char *kc_kafka_key_for(kc_kafka_role_t role, const char *key)
{
    static const char *const scope[] = {"producer.", "consumer."};

    for (int r = 0; r < 2; r++) {
        size_t n = strlen(scope[r]);
        if (!strncmp(key, scope[r], n)) {
            return (int)role == r ? key + n : NULL;
        }
    }
    if (role == KC_KAFKA_CONSUMER ? producer_only(key) : consumer_only(key)) {
        return NULL;
    }
    return key;
}

kc_kafka_err_class_t kc_kafka_err_class(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG: /* CORRUPT_MESSAGE */
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
        return KC_KAFKA_ERR_RECORD;
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return KC_KAFKA_ERR_TOPIC;
    default:
        return KC_KAFKA_ERR_TRANSIENT;
    }
}

static bool scoped(const char *key)
{
    return !strncmp(key, "producer.", 9) || !strncmp(key, "consumer.", 9);
}

rd_kafka_conf_t *kc_kafka_conf_new(kc_kafka_role_t role, const char *const *defaults,
                                   const kc_conf_kv_list_t *kv, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    char kerr[256];

    for (size_t i = 0; defaults && defaults[i]; i += 2) {
        if (kc_kafka_conf_set(kconf, defaults[i], defaults[i + 1], errstr, errstr_size) != 0) {
            goto error;
        }
    }
    /* Unscoped keys first, then kafka.consumer.* / kafka.producer.*: the
     * narrower key wins whatever the order in the file. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; kv && i < kv->cnt; i++) {
            const char *k = kc_kafka_key_for(role, kv->keys[i]);
            if (!k || scoped(kv->keys[i]) != (pass == 1)) {
                continue;
            }
            if (rd_kafka_conf_set(kconf, k, kv->values[i], kerr, sizeof(kerr)) !=
                RD_KAFKA_CONF_OK) {
                /* named as the user wrote it, scope included */
                kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "kafka.%s: %s", kv->keys[i], kerr);
                goto error;
            }
        }
    }
    return kconf;
error:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}
