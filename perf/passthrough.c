/**
 * kclassify-passthrough: the broker's ceiling for the hit path.
 *
 * A plain librdkafka consumer/producer pair that copies every record of one
 * topic to another, key and value unchanged, with the worker's Kafka
 * settings and its guarantee (an offset is stored only once its copy is
 * delivered): no decoding, no cache, no logic. `kclassify-bench stack
 * --passthrough` runs it in the worker's place, so the same load on the same
 * machine and broker shows how much of the end-to-end cost is Kafka's.
 */
#include "kc_conf.h"
#include "kc_exit.h"
#include "kc_kafka.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t run = 1;

typedef struct pt_opts_s {
    const char *brokers;
    const char *from;
    const char *to;
    const char *group;
    kc_conf_kv_list_t kafka; /* -X pairs, read as the worker reads kafka.* */
} pt_opts_t;

typedef struct pt_s {
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *to;
    uint64_t copied, delivered, failed;
} pt_t;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: kclassify-passthrough -b BROKERS [options]\n"
                "\n"
                "Copies every record of --from to --to (key and value unchanged) until\n"
                "SIGINT/SIGTERM, storing a consumed offset only once its copy is delivered.\n"
                "The Kafka ceiling of the hit path: kclassify-bench stack --passthrough.\n"
                "\n"
                "Options:\n"
                "  -b, --brokers LIST   bootstrap servers (required)\n"
                "  -f, --from TOPIC     topic to consume [kclassify.requests]\n"
                "  -t, --to TOPIC       topic to produce to [kclassify.replies]\n"
                "  -g, --group ID       consumer group [kclassify-passthrough]\n"
                "  -X KEY=VALUE         librdkafka property for both clients (repeatable);\n"
                "                       consumer.KEY / producer.KEY: one client only\n"
                "  -h, --help           this help\n"
                "\n"
                "Defaults are the worker's: idempotent producer, linger.ms=1,\n"
                "cooperative-sticky assignment, auto.offset.reset=earliest.\n");
}

/* A copy delivered: its source offset may be committed. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pt_t *pt = opaque;
    rd_kafka_message_t *src = m->_private;
    rd_kafka_topic_partition_list_t *l;

    (void)rk;
    if (m->err) {
        /* Not stored: consumed again by the next owner (at-least-once). */
        pt->failed++;
        fprintf(stderr, "%% delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        pt->delivered++;
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(src->rkt), src->partition)
            ->offset = src->offset + 1;
        rd_kafka_offsets_store(pt->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_message_destroy(src);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;

    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* "assigned N": kclassify-bench waits for this line, as for a worker */
        fprintf(stderr, "%% assigned %d partition(s)\n", parts->cnt);
        if (cooperative) {
            error = rd_kafka_incremental_assign(rk, parts);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        fprintf(stderr, "%% revoked %d partition(s)\n", parts->cnt);
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    if (error) {
        fprintf(stderr, "%% rebalance: %s\n", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

/* The worker's defaults, then -X (unscoped, then consumer./producer.). */
static rd_kafka_t *client_new(const pt_opts_t *o, bool consumer, pt_t *pt)
{
    const char *cdef[] = {"bootstrap.servers",
                          o->brokers,
                          "group.id",
                          o->group,
                          "enable.auto.offset.store",
                          "false",
                          "auto.offset.reset",
                          "earliest",
                          "partition.assignment.strategy",
                          "cooperative-sticky",
                          NULL};
    const char *pdef[] = {
        "bootstrap.servers", o->brokers, "enable.idempotence", "true", "linger.ms", "1", NULL};
    char err[512];
    rd_kafka_conf_t *c = kc_kafka_conf_new(consumer ? KC_KAFKA_CONSUMER : KC_KAFKA_PRODUCER,
                                           consumer ? cdef : pdef, &o->kafka, err, sizeof(err));
    rd_kafka_t *rk;

    if (!c) {
        fprintf(stderr, "%% %s\n", err);
        return NULL;
    }
    rd_kafka_conf_set_opaque(c, pt);
    if (consumer) {
        rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    } else {
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    }
    if (!(rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, c, err,
                            sizeof(err)))) {
        fprintf(stderr, "%% %s: %s\n", consumer ? "consumer" : "producer", err);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return rk;
}

/* Copy one record; the source message lives until its copy's delivery report. */
static void copy_one(pt_t *pt, rd_kafka_message_t *m)
{
    while (rd_kafka_produce(pt->to, RD_KAFKA_PARTITION_UA, 0, m->payload, m->len, m->key,
                            m->key_len, m) != 0) {
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "%% produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            pt->failed++;
            rd_kafka_message_destroy(m);
            return;
        }
        rd_kafka_poll(pt->producer, 10); /* a full queue: wait for room */
    }
    pt->copied++;
}

static void loop(pt_t *pt)
{
    while (run) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(pt->consumer, 10);
        if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "%% consume: %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        } else if (m) {
            copy_one(pt, m);
        }
        rd_kafka_poll(pt->producer, 0);
    }
}

static int props_add(pt_opts_t *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[256];

    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
        fprintf(stderr, "%% -X %s: expected KEY=VALUE\n", kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    if (kc_conf_kv_set(&o->kafka, key, eq + 1) != 0) {
        fprintf(stderr, "%% out of memory\n");
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, pt_opts_t *o)
{
    static const struct option lopts[] = {
        {"brokers", required_argument, NULL, 'b'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},      {"group", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "b:f:t:g:X:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->brokers = optarg;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'X':
            if (props_add(o, optarg) != 0) {
                return KC_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return KC_EXIT_OK;
        default:
            usage(stderr);
            return KC_EXIT_USAGE;
        }
    }
    if (optind < argc || !o->brokers) {
        fprintf(stderr, "%% %s\n",
                optind < argc ? "unexpected argument" : "-b BROKERS is required");
        usage(stderr);
        return KC_EXIT_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    pt_opts_t o = {
        .from = "kclassify.requests", .to = "kclassify.replies", .group = "kclassify-passthrough"};
    rd_kafka_topic_partition_list_t *sub;
    pt_t pt = {0};
    int rc = parse(argc, argv, &o);

    if (rc >= 0) {
        return rc;
    }
    if (!(pt.producer = client_new(&o, false, &pt)) || !(pt.consumer = client_new(&o, true, &pt))) {
        return KC_EXIT_USAGE;
    }
    pt.to = rd_kafka_topic_new(pt.producer, o.to, NULL);
    rd_kafka_poll_set_consumer(pt.consumer);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, o.from, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(pt.consumer, sub) != 0) {
        fprintf(stderr, "%% cannot subscribe to %s\n", o.from);
        return KC_EXIT_UNAVAILABLE;
    }
    rd_kafka_topic_partition_list_destroy(sub);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "%% copying %s to %s\n", o.from, o.to);
    loop(&pt);
    /* Deliver what was copied, store its offsets, commit them on close. */
    rd_kafka_flush(pt.producer, 10000);
    /* What did not go out in time is not stored: reported failed, replayed. */
    rd_kafka_purge(pt.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(pt.producer, 0);
    rd_kafka_consumer_close(pt.consumer);
    rd_kafka_topic_destroy(pt.to);
    rd_kafka_destroy(pt.producer);
    rd_kafka_destroy(pt.consumer);
    fprintf(stderr, "%% copied %llu, delivered %llu, failed %llu\n", (unsigned long long)pt.copied,
            (unsigned long long)pt.delivered, (unsigned long long)pt.failed);
    kc_conf_kv_free(&o.kafka);
    return pt.failed ? KC_EXIT_FAILURE : KC_EXIT_OK;
}
