/*
 * libFuzzer target: the properties parser with the worker's own table
 * (kc_conf_parse_buf over a whole file, kc_conf_set_assignment over the text
 * up to the first newline, as given to -X). Whatever is accepted must leave
 * every integer inside its table range; everything is freed by
 * kc_worker_conf_free (the leak checker sees the rest).
 */
#include "fuzz.h"
#include "kc_conf.h"
#include "kc_worker_conf.h"

#include <stddef.h>
#include <stdint.h>

static void ranges_check(const kc_worker_conf_t *conf)
{
    for (const kc_conf_prop_t *p = kc_worker_conf_props; p->name; p++) {
        const char *field = (const char *)conf + p->offset;
        if (p->type == KC_CONF_INT) {
            int64_t v;
            memcpy(&v, field, sizeof(v));
            FUZZ_CHECK(v >= p->min && v <= p->max, "%s = %lld outside [%lld, %lld]", p->name,
                       (long long)v, (long long)p->min, (long long)p->max);
        } else if (p->type == KC_CONF_STR) {
            char *s;
            memcpy(&s, field, sizeof(s));
            FUZZ_CHECK(s != NULL, "%s is NULL", p->name);
        }
    }
    for (size_t i = 0; i < conf->kafka.cnt; i++) {
        FUZZ_CHECK(conf->kafka.keys[i] && conf->kafka.values[i], "kafka pair %zu", i);
    }
}

static void assignment_run(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_worker_conf_t conf;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) : size;
    char *line = malloc(len + 1);

    FUZZ_CHECK(line != NULL, "malloc");
    memcpy(line, data, len);
    line[len] = '\0';
    FUZZ_CHECK(kc_worker_conf_init(&conf, errstr, sizeof(errstr)) == 0, "init: %s", errstr);
    if (kc_conf_set_assignment(kc_worker_conf_props, &conf, &conf.kafka, line, errstr,
                               sizeof(errstr)) == 0) {
        ranges_check(&conf);
    }
    kc_worker_conf_free(&conf);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_worker_conf_t conf;

    FUZZ_CHECK(kc_worker_conf_init(&conf, errstr, sizeof(errstr)) == 0, "init: %s", errstr);
    errstr[0] = '\0';
    int rc = kc_conf_parse_buf(kc_worker_conf_props, &conf, &conf.kafka, "fuzz.conf",
                               (const char *)data, size, errstr, sizeof(errstr));
    if (rc == 0) {
        ranges_check(&conf);
    } else {
        FUZZ_CHECK(errstr[0] != '\0', "error %d without a message", rc);
    }
    kc_worker_conf_free(&conf);
    assignment_run(data, size);
    return 0;
}
