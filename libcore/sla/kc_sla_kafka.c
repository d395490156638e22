/*
 * Kafka helpers for kclassify-sla: config, watermarks, consumer-group lag.
 */
#include "kc_sla_kafka.h"
#include "kc_err.h"
#include "kc_kafka.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Watermarks
 * ------------------------------------------------------------------------ */

static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int *cnt,
                           char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err;
    int rc = 0;

    if (!rkt) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "topic %s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
    }
    err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err) {
        rc = kc_seterr(err == RD_KAFKA_RESP_ERR__TIMED_OUT ? KC_ERR_TIMEOUT : KC_ERR_KAFKA, errstr,
                       errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        rc = kc_seterr(KC_ERR_NOTFOUND, errstr, errstr_size, "topic %s: %s", topic,
                       md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                               : "no partitions");
    } else {
        *cnt = md->topics[0].partition_cnt;
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int64_t kc_sla_kafka_low(const rd_kafka_topic_partition_t *p)
{
    return (int64_t)(intptr_t)p->opaque;
}

int kc_sla_kafka_watermarks(rd_kafka_t *rk, const char *topic, int timeout_ms,
                            rd_kafka_topic_partition_list_t **out, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;
    int cnt = 0, rc;
    int64_t lo, hi;

    if ((rc = partition_count(rk, topic, timeout_ms, &cnt, errstr, errstr_size)) != 0) {
        return rc;
    }
    list = rd_kafka_topic_partition_list_new(cnt);
    for (int32_t p = 0; p < cnt; p++) {
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms);
        if (err) {
            rd_kafka_topic_partition_list_destroy(list);
            return kc_seterr(err == RD_KAFKA_RESP_ERR__TIMED_OUT ? KC_ERR_TIMEOUT : KC_ERR_KAFKA,
                             errstr, errstr_size, "watermarks of %s [%d]: %s", topic, (int)p,
                             rd_kafka_err2str(err));
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, topic, p);
        tp->offset = hi;
        tp->opaque = (void *)(intptr_t)lo;
    }
    *out = list;
    return 0;
}

/* ------------------------------------------------------------------------
 * Group lag
 * ------------------------------------------------------------------------ */

/* The group's committed offsets for the given partitions, through the
 * AdminAPI. Partitions are named explicitly: the librdkafka mock cluster
 * answers an OffsetFetch for "all topics" with nothing. */
static int committed_offsets(rd_kafka_t *rk, const char *group,
                             const rd_kafka_topic_partition_list_t *parts, int timeout_ms,
                             rd_kafka_topic_partition_list_t **out, char *errstr,
                             size_t errstr_size)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    const rd_kafka_ListConsumerGroupOffsets_result_t *res;
    const rd_kafka_group_result_t **groups;
    size_t n = 0;
    int rc = 0;

    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        rc = kc_seterr(KC_ERR_TIMEOUT, errstr, errstr_size,
                       "offsets of group %s: no answer within %d ms", group, timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        rc = kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "offsets of group %s: %s", group,
                       rd_kafka_event_error_string(ev));
    } else if (!(res = rd_kafka_event_ListConsumerGroupOffsets_result(ev)) ||
               !(groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n)) || n != 1) {
        rc = kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "offsets of group %s: empty result",
                       group);
    } else if (rd_kafka_group_result_error(groups[0])) {
        rc = kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "offsets of group %s: %s", group,
                       rd_kafka_error_string(rd_kafka_group_result_error(groups[0])));
    } else {
        *out = rd_kafka_topic_partition_list_copy(rd_kafka_group_result_partitions(groups[0]));
    }
    if (ev) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return rc;
}

int kc_sla_kafka_group_lag(rd_kafka_t *rk, const char *group, const char *topic, int timeout_ms,
                           int64_t *lag, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *marks = NULL, *committed = NULL;
    int64_t sum = 0;
    int rc;

    if ((rc = kc_sla_kafka_watermarks(rk, topic, timeout_ms, &marks, errstr, errstr_size)) != 0 ||
        (rc = committed_offsets(rk, group, marks, timeout_ms, &committed, errstr, errstr_size)) !=
            0) {
        if (marks) {
            rd_kafka_topic_partition_list_destroy(marks);
        }
        return rc;
    }
    for (int i = 0; i < marks->cnt; i++) {
        const rd_kafka_topic_partition_t *m = &marks->elems[i];
        const rd_kafka_topic_partition_t *c =
            rd_kafka_topic_partition_list_find(committed, topic, m->partition);
        int64_t from = c && c->offset >= 0 && !c->err ? c->offset : kc_sla_kafka_low(m);
        sum += m->offset > from ? m->offset - from : 0;
    }
    rd_kafka_topic_partition_list_destroy(marks);
    rd_kafka_topic_partition_list_destroy(committed);
    *lag = sum;
    return 0;
}
