/**
 * The client's two librdkafka handles: a producer for requests and a reply
 * consumer assigned at the reply topic's high watermarks. Both queues signal
 * the background thread through the wake pipe (librdkafka queue I/O events),
 * so a reply is dispatched as soon as it is fetched, without busy polling.
 */
#include "kc_client_int.h"
#include "kc_err.h"
#include "kc_uuid.h"

#include <inttypes.h>
#include "kc_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METADATA_TIMEOUT_MS 10000

/* Learn the requests topic's leaders now: a new producer otherwise holds its
 * first records until a metadata refresh (measured ~1 s on the mock cluster),
 * which would count against those requests' deadlines. Failure only means
 * the first send learns them instead. */
static void producer_warm(kc_client_t *cl)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cl->rk, cl->conf.topic_requests, NULL);
    const struct rd_kafka_metadata *md = NULL;

    if (rkt &&
        rd_kafka_metadata(cl->rk, 0, rkt, &md, METADATA_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
    }
    if (rkt) {
        rd_kafka_topic_destroy(rkt);
    }
}

static int producer_new(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"linger.ms", "5", "acks", "all", NULL};
    rd_kafka_conf_t *conf =
        kc_kafka_conf_new(KC_KAFKA_PRODUCER, defaults, &cl->kafka, errstr, errstr_size);
    char rkerr[512];

    if (!conf) {
        return KC_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kc_client_on_delivery);
    rd_kafka_conf_set_opaque(conf, cl);
    if (!(cl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr)))) {
        rd_kafka_conf_destroy(conf);
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "producer: %s", rkerr);
    }
    cl->rkq_main = rd_kafka_queue_get_main(cl->rk);
    rd_kafka_queue_io_event_enable(cl->rkq_main, cl->wake[1], "p", 1);
    producer_warm(cl);
    return 0;
}

static int topic_partitions(rd_kafka_t *rkc, const char *topic, int *cnt, int32_t **ids,
                            char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rkc, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    int rc = 0;

    err = rd_kafka_metadata(rkc, 0, rkt, &md, METADATA_TIMEOUT_MS);
    if (!err && (md->topic_cnt != 1 || md->topics[0].err)) {
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    }
    if (err) {
        rc = kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "reply topic %s: %s", topic,
                       rd_kafka_err2str(err));
    } else if (!(*ids = calloc((size_t)md->topics[0].partition_cnt + 1, sizeof(int32_t)))) {
        rc = KC_ERR_NOMEM;
    } else {
        *cnt = md->topics[0].partition_cnt;
        for (int i = 0; i < *cnt; i++) {
            (*ids)[i] = md->topics[0].partitions[i].id;
        }
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Every partition of topic at its current high watermark. */
static rd_kafka_topic_partition_list_t *reply_offsets(rd_kafka_t *rkc, const char *topic,
                                                      char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts;
    int32_t *ids = NULL;
    int cnt = 0;

    if (topic_partitions(rkc, topic, &cnt, &ids, errstr, errstr_size) != 0) {
        return NULL;
    }
    parts = rd_kafka_topic_partition_list_new(cnt);
    for (int i = 0; i < cnt; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rkc, topic, ids[i], &lo, &hi, METADATA_TIMEOUT_MS);
        if (err) {
            kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "%s [%" PRId32 "] watermarks: %s", topic,
                      ids[i], rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(parts);
            free(ids);
            return NULL;
        }
        rd_kafka_topic_partition_list_add(parts, topic, ids[i])->offset = hi;
    }
    free(ids);
    return parts;
}

/* librdkafka refuses assign() without a group.id; a unique throwaway one is
 * never joined (no subscribe) and never committed to. A short fetch wait keeps
 * up with brokers that answer a fetch only when the wait expires (the mock). */
static rd_kafka_t *consumer_create(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    char group[KC_UUID_STR_SIZE + 24] = "kclassify-client-";
    const char *const defaults[] = {"group.id",
                                    group,
                                    "enable.auto.commit",
                                    "false",
                                    "enable.auto.offset.store",
                                    "false",
                                    "enable.partition.eof",
                                    "false",
                                    "fetch.wait.max.ms",
                                    "100",
                                    NULL};
    rd_kafka_conf_t *conf;
    rd_kafka_t *rkc;
    char rkerr[512];

    if (kc_uuid_v4(group + strlen(group), errstr, errstr_size) != 0 ||
        !(conf = kc_kafka_conf_new(KC_KAFKA_CONSUMER, defaults, &cl->kafka, errstr, errstr_size))) {
        return NULL;
    }
    if (!(rkc = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr)))) {
        kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consumer: %s", rkerr);
        rd_kafka_conf_destroy(conf);
    }
    return rkc;
}

static int consumer_new(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_resp_err_t err;

    if (!(cl->rkc = consumer_create(cl, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    if (!(parts = reply_offsets(cl->rkc, cl->conf.topic_replies, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    err = rd_kafka_assign(cl->rkc, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "assigning %s: %s",
                         cl->conf.topic_replies, rd_kafka_err2str(err));
    }
    rd_kafka_poll_set_consumer(cl->rkc);
    cl->rkq_cons = rd_kafka_queue_get_consumer(cl->rkc);
    rd_kafka_queue_io_event_enable(cl->rkq_cons, cl->wake[1], "c", 1);
    return 0;
}

int kc_client_kafka_setup(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    int rc;

    if (!kc_conf_kv_get(&cl->kafka, "bootstrap.servers")) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "no brokers: set kafka.bootstrap.servers");
    }
    /* The consumer first: its assignment at the high watermarks must precede
     * any request, or a fast reply could land below the starting offset. */
    if (!cl->opts.send_only && (rc = consumer_new(cl, errstr, errstr_size)) != 0) {
        return rc;
    }
    return producer_new(cl, errstr, errstr_size);
}
