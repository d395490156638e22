#include "kc_kafka.h"
#include "kc_err.h"

int kc_kafka_conf_set(rd_kafka_conf_t *kconf, const char *key, const char *value, char *errstr,
                      size_t errstr_size)
{
    char kerr[256];

    if (rd_kafka_conf_set(kconf, key, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "kafka.%s: %s", key, kerr);
    }
    return 0;
}

rd_kafka_conf_t *kc_kafka_conf_new(const char *const *defaults, const kc_conf_kv_list_t *kv,
                                   char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();

    for (size_t i = 0; defaults && defaults[i]; i += 2) {
        if (kc_kafka_conf_set(kconf, defaults[i], defaults[i + 1], errstr, errstr_size) != 0) {
            goto error;
        }
    }
    for (size_t i = 0; kv && i < kv->cnt; i++) {
        if (kc_kafka_conf_set(kconf, kv->keys[i], kv->values[i], errstr, errstr_size) != 0) {
            goto error;
        }
    }
    return kconf;
error:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}
