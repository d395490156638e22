/**
 * kclassify-produce: send classification requests, optionally wait for results.
 *
 * A kcat-like CLI: one query (or one JSON request) per input line is encoded
 * as an Avro ClassificationRequest and produced, keyed by its cache key. With
 * --wait, results are read from the reply topic and printed as JSON lines.
 * Diagnostics go to stderr prefixed with "% ".
 *
 * Exit codes: 0 success; 1 runtime failure (unanswered requests after
 * --timeout-ms, failed deliveries, rejected input lines, Kafka errors);
 * 2 usage or configuration error.
 */
#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_conf.h"
#include "kc_err.h"
#include "kc_input.h"
#include "kc_keymap.h"
#include "kc_normalize.h"
#include "kc_producer_conf.h"
#include "kc_result_json.h"
#include "kc_taxonomy.h"
#include "kc_time.h"
#include "kc_uuid.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_RUNTIME      1
#define EXIT_USAGE        2
#define HELP_SHOWN        -1     /* internal: --help printed, exit 0 */
#define PROGRESS_EVERY_US 250000 /* ~4 refreshes per second */
#define MAX_REPORTED_ERRS 10     /* per kind; the rest are only counted */
#define CONSUME_BATCH     1000   /* replies drained per loop turn before producing on */
#define METADATA_TIMEOUT  10000

static volatile sig_atomic_t run = 1;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

/* ---------------------------------------------------------------------------
 * Outstanding requests (--wait): request_id -> the query text to print.
 * ------------------------------------------------------------------------- */

typedef struct pending_s {
    struct pending_s *all_next; /* every entry, for destroy */
    char *query;                /* freed once every expected reply arrived */
    size_t query_len;
    uint32_t expected; /* sends not known to have failed (ids may repeat in input) */
    uint32_t answered;
    char id[];
} pending_t;

typedef struct pending_map_s {
    kc_keymap_t *km; /* key: XXH3-128 of the id; the id is compared too */
    pending_t *all;
} pending_map_t;

static kc_key_t pending_key(const char *id)
{
    return kc_key_compute(id, strlen(id), 0);
}

static pending_t *pending_get(pending_map_t *pm, const char *id)
{
    kc_key_t key = pending_key(id);
    pending_t *p = kc_keymap_get(pm->km, &key);

    return p && strcmp(p->id, id) == 0 ? p : NULL;
}

/* @returns the entry for id, created or reused (then *reused is set), or NULL on ENOMEM. */
static pending_t *pending_add(pending_map_t *pm, const char *id, const kc_request_t *req,
                              bool *reused)
{
    kc_key_t key = pending_key(id);
    pending_t *p = kc_keymap_get(pm->km, &key);

    *reused = p != NULL;
    if (p) {
        /* all earlier sends were answered: the text is needed again */
        if (!p->query) {
            if (!(p->query = malloc(req->query_len + 1))) {
                return NULL;
            }
            memcpy(p->query, req->query, req->query_len + 1);
            p->query_len = req->query_len;
        }
        p->expected++;
        return p;
    }
    p = calloc(1, sizeof(*p) + strlen(id) + 1);
    if (!p || !(p->query = malloc(req->query_len + 1)) || kc_keymap_put(pm->km, &key, p) != 0) {
        if (p) {
            free(p->query);
        }
        free(p);
        return NULL;
    }
    memcpy(p->query, req->query, req->query_len + 1);
    p->query_len = req->query_len;
    p->expected = 1;
    strcpy(p->id, id);
    p->all_next = pm->all;
    pm->all = p;
    return p;
}

static void pending_free(pending_map_t *pm)
{
    pending_t *next;

    for (pending_t *p = pm->all; p; p = next) {
        next = p->all_next;
        free(p->query);
        free(p);
    }
    kc_keymap_destroy(pm->km);
}

/* ---------------------------------------------------------------------------
 * Run state
 * ------------------------------------------------------------------------- */

typedef struct produce_s {
    /* options */
    kc_producer_conf_t conf;
    kc_conf_kv_list_t kafka;
    const char *conf_file;
    const char *input_name;
    bool wait;
    int64_t timeout_ms;
    /* handles */
    rd_kafka_t *rk;  /* producer */
    rd_kafka_t *rkc; /* reply consumer (--wait) */
    kc_avro_t *av;
    uint64_t key_seed;
    pending_map_t pending;
    FILE *in;
    kc_buf_t value;
    kc_buf_t line_out;
    /* counters */
    uint64_t lineno, rejected, sent, delivered, failed;
    uint64_t tracked, answered, untracked, duplicates, foreign, bad_replies;
    /* progress */
    bool progress;
    bool progress_drawn;
    bool input_done;
    off_t in_size, in_pos;
    int64_t start_us, last_send_us, last_progress_us;
} produce_t;

static uint64_t outstanding(const produce_t *pr)
{
    return pr->tracked - pr->answered;
}

/* Erases the progress line (if drawn) so other output does not land inside it. */
static void progress_clear(produce_t *pr)
{
    if (pr->progress_drawn) {
        fputs("\r\033[K", stderr);
        pr->progress_drawn = false;
    }
}

static void progress_eta(const produce_t *pr, double elapsed, char *out, size_t size)
{
    double eta = -1;

    if (!pr->input_done && pr->in_size > 0 && pr->in_pos > 0) {
        eta = elapsed * (double)(pr->in_size - pr->in_pos) / (double)pr->in_pos;
    } else if (pr->input_done && pr->wait && pr->answered > 0) {
        eta = (double)outstanding(pr) * elapsed / (double)pr->answered;
    }
    if (eta < 0) {
        snprintf(out, size, "?");
    } else {
        snprintf(out, size, "%.0fs", eta);
    }
}

static void progress_show(produce_t *pr)
{
    int64_t now = kc_mono_us();
    double elapsed = (double)(now - pr->start_us) / 1e6;
    uint64_t done = pr->wait ? pr->answered : pr->delivered;
    char eta[32];

    if (!pr->progress || now - pr->last_progress_us < PROGRESS_EVERY_US) {
        return;
    }
    pr->last_progress_us = now;
    pr->progress_drawn = true;
    progress_eta(pr, elapsed, eta, sizeof(eta));
    fprintf(stderr, "\r\033[K%% sent %" PRIu64 ", %s %" PRIu64 ", %.0f/s, ETA %s", pr->sent,
            pr->wait ? "answered" : "delivered", done, elapsed > 0 ? (double)done / elapsed : 0.0,
            eta);
}

/* ---------------------------------------------------------------------------
 * Configuration and usage
 * ------------------------------------------------------------------------- */

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: kclassify-produce -b BROKERS [options] [FILE|-]\n"
            "\n"
            "Sends one classification request per input line (default: stdin). A line is\n"
            "a plain query, or a JSON object when it starts with '{':\n"
            "  {\"query\": \"...\", \"request_id\": \"...\", \"priority\": \"LOW|NORMAL|HIGH\",\n"
            "   \"deadline_ms\": N, \"cache_policy\": \"USE|REFRESH|BYPASS\",\n"
            "   \"reply_topic\": \"...\", \"context\": {\"key\": \"value\"}}\n"
            "Blank lines are skipped; request ids default to random UUIDs.\n"
            "\n"
            "Options:\n"
            "  -b BROKERS          bootstrap servers (= -X kafka.bootstrap.servers=...)\n"
            "  -c FILE             properties file (key=value lines)\n"
            "  -X KEY=VALUE        set a configuration key (overrides -c)\n"
            "  -t TOPIC            request topic (= -X topic.requests=TOPIC)\n"
            "  -w, --wait          wait for every result and print it as a JSON line\n"
            "  -T, --timeout-ms N  with --wait: give up N ms after the last send (30000)\n"
            "  -h, --help          show this help\n"
            "\n"
            "Exit status: 0 ok, 1 runtime failure (timeout, delivery failure, rejected\n"
            "input line), 2 usage or configuration error.\n"
            "\n"
            "Configuration keys:\n");
    for (const kc_conf_prop_t *p = kc_producer_conf_props; p->name; p++) {
        fprintf(fp, "  %s = %s\n      %s\n", p->name, p->defval, p->desc);
    }
    fprintf(fp, "  kafka.* (producer defaults: kafka.linger.ms=5, kafka.acks=all)\n"
                "      passed to librdkafka with the prefix removed\n");
}

static int parse_timeout(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1) {
        fprintf(stderr, "%% invalid --timeout-ms '%s': expected a positive integer\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int conf_apply(produce_t *pr, const char *key, const char *value)
{
    char errstr[512];

    if (kc_conf_set(kc_producer_conf_props, &pr->conf, &pr->kafka, key, value, errstr,
                    sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return -1;
    }
    return 0;
}

static const struct option longopts[] = {{"wait", no_argument, NULL, 'w'},
                                         {"timeout-ms", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
static const char shortopts[] = "b:c:X:t:wT:h";

/* First pass: only -c and -h, so the file is applied before any -X/-b/-t. */
static int parse_args_first(int argc, char **argv, produce_t *pr)
{
    int c;

    opterr = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return HELP_SHOWN;
        } else if (c == 'c') {
            pr->conf_file = optarg;
        } else if (c == '?') {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "%% at most one input file, got '%s' and '%s'\n", argv[optind],
                argv[optind + 1]);
        return EXIT_USAGE;
    }
    pr->input_name = optind < argc ? argv[optind] : "-";
    return 0;
}

static int parse_args_second(int argc, char **argv, produce_t *pr)
{
    char errstr[512];
    int c;

    optind = 0; /* GNU getopt: rescan from the start */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        int rc = 0;
        if (c == 'b') {
            rc = conf_apply(pr, "kafka.bootstrap.servers", optarg);
        } else if (c == 't') {
            rc = conf_apply(pr, "topic.requests", optarg);
        } else if (c == 'w') {
            pr->wait = true;
        } else if (c == 'T') {
            rc = parse_timeout(optarg, &pr->timeout_ms);
        } else if (c == 'X' && kc_conf_set_assignment(kc_producer_conf_props, &pr->conf, &pr->kafka,
                                                      optarg, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "%% -X %s: %s\n", optarg, errstr);
            rc = -1;
        }
        if (rc) {
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int conf_check(const produce_t *pr)
{
    if (!kc_conf_kv_get(&pr->kafka, "bootstrap.servers")) {
        fprintf(stderr, "%% no brokers: use -b or kafka.bootstrap.servers\n");
        return -1;
    }
    if (!kc_input_topic_valid(pr->conf.topic_requests) ||
        !kc_input_topic_valid(pr->conf.topic_replies)) {
        fprintf(stderr, "%% topic.requests '%s' / topic.replies '%s': invalid topic name\n",
                pr->conf.topic_requests, pr->conf.topic_replies);
        return -1;
    }
    return 0;
}

/* @returns 0 to run, HELP_SHOWN, or EXIT_USAGE. */
static int configure(int argc, char **argv, produce_t *pr)
{
    char errstr[512];
    int rc;

    if (kc_conf_defaults(kc_producer_conf_props, &pr->conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_USAGE;
    }
    pr->timeout_ms = 30000;
    if ((rc = parse_args_first(argc, argv, pr)) != 0) {
        return rc;
    }
    if (pr->conf_file && kc_conf_parse_file(kc_producer_conf_props, &pr->conf, &pr->kafka,
                                            pr->conf_file, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_USAGE;
    }
    if ((rc = parse_args_second(argc, argv, pr)) != 0) {
        return rc;
    }
    return conf_check(pr) == 0 ? 0 : EXIT_USAGE;
}

/* The key seed must be the worker's, so the request key equals the reply's query_hash. */
static int load_key_seed(produce_t *pr)
{
    char errstr[512];
    kc_taxonomy_t *tx;

    if (pr->conf.taxonomy_file[0]) {
        tx = kc_taxonomy_load(pr->conf.taxonomy_file, errstr, sizeof(errstr));
    } else {
        tx = kc_taxonomy_new_default();
        snprintf(errstr, sizeof(errstr), "out of memory");
    }
    if (!tx) {
        fprintf(stderr, "%% taxonomy: %s\n", errstr);
        return -1;
    }
    pr->key_seed = kc_taxonomy_key_seed(tx, pr->conf.llm_model);
    kc_taxonomy_destroy(tx);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Kafka clients
 * ------------------------------------------------------------------------- */

static int rk_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%% kafka.%s: %s\n", key, errstr);
        return -1;
    }
    return 0;
}

/* Builds a librdkafka conf: our defaults first, then every kafka.* key. */
static rd_kafka_conf_t *rk_conf_build(const produce_t *pr, const char *const *defaults)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    for (size_t i = 0; defaults[i]; i += 2) {
        if (rk_conf_set(conf, defaults[i], defaults[i + 1]) != 0) {
            goto error;
        }
    }
    for (size_t i = 0; i < pr->kafka.cnt; i++) {
        if (rk_conf_set(conf, pr->kafka.keys[i], pr->kafka.values[i]) != 0) {
            goto error;
        }
    }
    return conf;
error:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    produce_t *pr = opaque;
    pending_t *p = rkm->_private; /* the msg_opaque given to producev */

    (void)rk;
    if (!rkm->err) {
        pr->delivered++;
        return;
    }
    if (pr->failed++ < MAX_REPORTED_ERRS) {
        progress_clear(pr);
        fprintf(stderr, "%% delivery to %s failed: %s\n", rd_kafka_topic_name(rkm->rkt),
                rd_kafka_err2str(rkm->err));
    }
    if (p) { /* no reply will come for it */
        p->expected--;
        pr->tracked--;
    }
}

static rd_kafka_t *producer_new(produce_t *pr)
{
    static const char *const defaults[] = {"linger.ms", "5", "acks", "all", NULL};
    rd_kafka_conf_t *conf = rk_conf_build(pr, defaults);
    char errstr[512];
    rd_kafka_t *rk;

    if (!conf) {
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, pr);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%% producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* A list of every partition of topic at its current high watermark. */
static rd_kafka_topic_partition_list_t *reply_offsets(rd_kafka_t *rkc, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rkc, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;

    err = rd_kafka_metadata(rkc, 0, rkt, &md, METADATA_TIMEOUT);
    if (!err && (md->topic_cnt != 1 || md->topics[0].err)) {
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    }
    if (err) {
        fprintf(stderr, "%% reply topic %s: %s\n", topic, rd_kafka_err2str(err));
        goto done;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rkc, topic, id, &lo, &hi, METADATA_TIMEOUT);
        if (err) {
            fprintf(stderr, "%% %s [%" PRId32 "] watermarks: %s\n", topic, id,
                    rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(parts);
            parts = NULL;
            goto done;
        }
        rd_kafka_topic_partition_list_add(parts, topic, id)->offset = hi;
    }
done:
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return parts;
}

/* Assigned (not subscribed) at the high watermarks before anything is sent,
 * so no reply can slip past, and no consumer group is joined or committed. */
static rd_kafka_t *consumer_new(produce_t *pr)
{
    /* librdkafka refuses assign() without a group.id; a unique throwaway one is
     * never joined (no subscribe) and never committed to. A short fetch wait
     * keeps up with bursts on brokers that do not answer a waiting fetch as
     * soon as data arrives (the mock cluster), where a burst could otherwise
     * outrun its retention before we read it. */
    char group[KC_UUID_STR_SIZE + 24] = "kclassify-produce-";
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
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_resp_err_t err;
    char errstr[512];
    rd_kafka_t *rkc;

    if (kc_uuid_v4(group + strlen(group), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return NULL;
    }
    if (!(conf = rk_conf_build(pr, defaults))) {
        return NULL;
    }
    rkc = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rkc) {
        fprintf(stderr, "%% consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    parts = reply_offsets(rkc, pr->conf.topic_replies);
    if (parts && (err = rd_kafka_assign(rkc, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "%% assigning %s: %s\n", pr->conf.topic_replies, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
        parts = NULL;
    }
    if (!parts) {
        rd_kafka_destroy(rkc);
        return NULL;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rkc;
}

/* ---------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------- */

static void reply_print(produce_t *pr, const kc_result_t *res, pending_t *p)
{
    char errstr[256];

    kc_buf_reset(&pr->line_out);
    if (kc_result_json_write(res, p->query, p->query_len, &pr->line_out, errstr, sizeof(errstr)) !=
        0) {
        fprintf(stderr, "%% result %s: %s\n", res->request_id, errstr);
        return;
    }
    kc_buf_puts(&pr->line_out, "\n");
    progress_clear(pr);
    fwrite(pr->line_out.data, 1, pr->line_out.len, stdout);
}

static void reply_handle(produce_t *pr, const rd_kafka_message_t *rkm)
{
    kc_result_t res = {0};
    char errstr[256];
    pending_t *p;

    if (kc_avro_result_decode(pr->av, rkm->payload, rkm->len, &res, errstr, sizeof(errstr))) {
        if (pr->bad_replies++ < MAX_REPORTED_ERRS) {
            progress_clear(pr);
            fprintf(stderr, "%% %s [%" PRId32 "] offset %" PRId64 ": %s\n",
                    rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset, errstr);
        }
        return;
    }
    p = pending_get(&pr->pending, res.request_id);
    if (!p) {
        pr->foreign++; /* another client's reply on a shared topic */
    } else if (p->answered >= p->expected) {
        pr->duplicates++;
    } else {
        reply_print(pr, &res, p);
        pr->answered++;
        if (++p->answered == p->expected) {
            free(p->query); /* only the id stays, to recognise duplicates */
            p->query = NULL;
        }
    }
    kc_result_clear(&res);
}

/* @returns the number of messages handled. */
static int replies_drain(produce_t *pr, int timeout_ms)
{
    rd_kafka_message_t *rkm;
    int n = 0;

    if (!pr->rkc) {
        return 0;
    }
    while (n < CONSUME_BATCH && (rkm = rd_kafka_consumer_poll(pr->rkc, n ? 0 : timeout_ms))) {
        if (rkm->err) {
            progress_clear(pr);
            fprintf(stderr, "%% consumer: %s\n", rd_kafka_message_errstr(rkm));
        } else {
            reply_handle(pr, rkm);
        }
        rd_kafka_message_destroy(rkm);
        n++;
    }
    if (n) {
        fflush(stdout);
    }
    return n;
}

/* ---------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------- */

/* Hex cache key of the normalized query; for invalid UTF-8 (which the worker
 * answers with ERROR) a 64-bit hash of the raw bytes still spreads partitions. */
static int request_key(const produce_t *pr, const kc_request_t *req, char key[KC_KEY_HEX_SIZE])
{
    char *norm = malloc(req->query_len + 1);
    size_t norm_len;

    if (!norm) {
        return KC_ERR_NOMEM;
    }
    if (kc_query_normalize(req->query, req->query_len, norm, &norm_len) == 0) {
        kc_key_t k = kc_key_compute(norm, norm_len, pr->key_seed);
        kc_key_hex(&k, key);
    } else {
        snprintf(key, KC_KEY_HEX_SIZE, "%016" PRIx64,
                 kc_hash64(req->query, req->query_len, pr->key_seed));
    }
    free(norm);
    return 0;
}

/* Fill what the input line left to us: id, timestamp, and with --wait the reply topic. */
static int request_complete(produce_t *pr, kc_request_t *req)
{
    char id[KC_UUID_STR_SIZE], errstr[256];

    if (!req->request_id) {
        if (kc_uuid_v4(id, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "%% %s\n", errstr);
            return -1;
        }
        if (!(req->request_id = strdup(id))) {
            return -1;
        }
    }
    req->created_at = kc_now_us();
    if (pr->wait && !req->reply_topic && !(req->reply_topic = strdup(pr->conf.topic_replies))) {
        return -1;
    }
    return 0;
}

/* With --wait, the request is remembered unless its replies go elsewhere. */
static int request_track(produce_t *pr, const kc_request_t *req, pending_t **out)
{
    bool reused;

    *out = NULL;
    if (!pr->wait) {
        return 0;
    }
    if (strcmp(req->reply_topic, pr->conf.topic_replies) != 0) {
        if (pr->untracked++ == 0) {
            fprintf(stderr, "%% line %" PRIu64 ": reply_topic %s is not %s: not waiting for it\n",
                    pr->lineno, req->reply_topic, pr->conf.topic_replies);
        }
        return 0;
    }
    if (!(*out = pending_add(&pr->pending, req->request_id, req, &reused))) {
        fprintf(stderr, "%% out of memory\n");
        return -1;
    }
    if (reused) {
        fprintf(stderr, "%% line %" PRIu64 ": request_id %s repeats an earlier line\n", pr->lineno,
                req->request_id);
    }
    pr->tracked++;
    return 0;
}

static void poll_both(produce_t *pr, int timeout_ms)
{
    rd_kafka_poll(pr->rk, pr->rkc ? 0 : timeout_ms);
    replies_drain(pr, timeout_ms);
}

static int request_produce(produce_t *pr, const char *key, pending_t *p)
{
    rd_kafka_resp_err_t err;

    for (;;) {
        err = rd_kafka_producev(
            pr->rk, RD_KAFKA_V_TOPIC(pr->conf.topic_requests), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(pr->value.data, pr->value.len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        poll_both(pr, 100); /* a full queue is back-pressure: serve reports, retry */
    }
    if (err) {
        fprintf(stderr, "%% produce to %s failed: %s\n", pr->conf.topic_requests,
                rd_kafka_err2str(err));
        return -1;
    }
    pr->sent++;
    pr->last_send_us = kc_mono_us();
    return 0;
}

/* Everything for one parsed request: complete, track, encode, produce. */
static int request_send(produce_t *pr, kc_request_t *req)
{
    char key[KC_KEY_HEX_SIZE], errstr[256];
    pending_t *p;

    if (request_complete(pr, req) != 0 || request_key(pr, req, key) != 0 ||
        request_track(pr, req, &p) != 0) {
        return -1;
    }
    kc_buf_reset(&pr->value);
    if (kc_avro_request_encode(pr->av, req, &pr->value, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% line %" PRIu64 ": %s\n", pr->lineno, errstr);
        return -1;
    }
    if (request_produce(pr, key, p) != 0) {
        if (p) {
            p->expected--;
            pr->tracked--;
        }
        return -1;
    }
    return 0;
}

/* @returns 0 when the line was sent or skipped, -1 on a fatal error. */
static int line_handle(produce_t *pr, const char *line, size_t len)
{
    kc_request_t req;
    char errstr[512];
    int rc = kc_input_parse_line(line, len, &req, errstr, sizeof(errstr));

    if (rc == KC_ERR_NOTFOUND) {
        return 0;
    }
    if (rc == KC_ERR_INVALID) {
        if (pr->rejected++ < MAX_REPORTED_ERRS) {
            progress_clear(pr);
            fprintf(stderr, "%% %s:%" PRIu64 ": %s\n", pr->input_name, pr->lineno, errstr);
        }
        return 0;
    }
    if (rc == 0) {
        rc = request_send(pr, &req);
    }
    kc_request_clear(&req);
    return rc == 0 ? 0 : -1;
}

static int input_open(produce_t *pr)
{
    struct stat st;

    pr->in = strcmp(pr->input_name, "-") == 0 ? stdin : fopen(pr->input_name, "r");
    if (!pr->in) {
        fprintf(stderr, "%% %s: %s\n", pr->input_name, strerror(errno));
        return -1;
    }
    if (fstat(fileno(pr->in), &st) == 0 && S_ISREG(st.st_mode)) {
        pr->in_size = st.st_size;
    }
    if (strcmp(pr->input_name, "-") == 0) {
        pr->input_name = "stdin";
    }
    return 0;
}

static int input_run(produce_t *pr)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    while (run && (len = getline(&line, &cap, pr->in)) != -1) {
        pr->lineno++;
        pr->in_pos += len;
        if ((rc = line_handle(pr, line, (size_t)len)) != 0) {
            break;
        }
        poll_both(pr, 0);
        progress_show(pr);
    }
    /* The signal handler is installed without SA_RESTART, so ^C also ends a blocked read. */
    if (rc == 0 && ferror(pr->in) && !(errno == EINTR && !run)) {
        fprintf(stderr, "%% reading %s: %s\n", pr->input_name, strerror(errno));
        rc = -1;
    }
    free(line);
    pr->input_done = true;
    return rc;
}

/* ---------------------------------------------------------------------------
 * Phases after the input: flush, wait, report
 * ------------------------------------------------------------------------- */

/* Like rd_kafka_flush(), but keeps reading replies and the progress line alive. */
static void flush_all(produce_t *pr)
{
    while (rd_kafka_outq_len(pr->rk) > 0) {
        rd_kafka_poll(pr->rk, pr->rkc ? 0 : 100);
        replies_drain(pr, 100);
        progress_show(pr);
        if (!run) {
            rd_kafka_flush(pr->rk, 5000); /* interrupted: a bounded last try */
            break;
        }
    }
    rd_kafka_poll(pr->rk, 0);
}

static void wait_replies(produce_t *pr)
{
    int64_t deadline = pr->last_send_us + pr->timeout_ms * 1000;

    while (run && outstanding(pr) > 0 && kc_mono_us() < deadline) {
        replies_drain(pr, 100);
        rd_kafka_poll(pr->rk, 0);
        progress_show(pr);
    }
}

static int report(produce_t *pr)
{
    int rc = 0;

    progress_clear(pr);
    if (!run) {
        fprintf(stderr, "%% interrupted after %" PRIu64 " input line(s)\n", pr->lineno);
        rc = EXIT_RUNTIME;
    }
    if (pr->rejected) {
        fprintf(stderr, "%% %" PRIu64 " input line(s) rejected\n", pr->rejected);
        rc = EXIT_RUNTIME;
    }
    if (pr->failed) {
        fprintf(stderr, "%% %" PRIu64 " of %" PRIu64 " request(s) failed delivery\n", pr->failed,
                pr->sent);
        rc = EXIT_RUNTIME;
    }
    if (!pr->wait) {
        fprintf(stderr, "%% sent %" PRIu64 " requests to %s\n", pr->delivered,
                pr->conf.topic_requests);
        return rc;
    }
    if (pr->duplicates || pr->foreign || pr->bad_replies) {
        fprintf(stderr,
                "%% ignored replies: %" PRIu64 " duplicate, %" PRIu64 " for other clients, %" PRIu64
                " undecodable\n",
                pr->duplicates, pr->foreign, pr->bad_replies);
    }
    if (outstanding(pr) > 0) {
        fprintf(stderr, "%% %" PRIu64 " of %" PRIu64 " request(s) not answered %s\n",
                outstanding(pr), pr->tracked,
                run ? "within --timeout-ms after the last send" : "(interrupted)");
        rc = EXIT_RUNTIME;
    }
    fprintf(stderr, "%% %" PRIu64 " answered of %" PRIu64 " sent to %s\n", pr->answered, pr->sent,
            pr->conf.topic_requests);
    return rc;
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

static int setup(produce_t *pr)
{
    char errstr[512];

    if (load_key_seed(pr) != 0) {
        return EXIT_USAGE;
    }
    pr->av = kc_avro_new((int32_t)pr->conf.schema_id_request, (int32_t)pr->conf.schema_id_result,
                         errstr, sizeof(errstr));
    if (!pr->av) {
        fprintf(stderr, "%% avro: %s\n", errstr);
        return EXIT_USAGE;
    }
    if (input_open(pr) != 0) {
        return EXIT_USAGE;
    }
    if (pr->wait && (!(pr->pending.km = kc_keymap_new(1024)) || !(pr->rkc = consumer_new(pr)))) {
        return EXIT_RUNTIME;
    }
    if (!(pr->rk = producer_new(pr))) {
        return EXIT_USAGE;
    }
    return 0;
}

static void teardown(produce_t *pr)
{
    if (pr->rkc) {
        rd_kafka_consumer_close(pr->rkc);
        rd_kafka_destroy(pr->rkc);
    }
    if (pr->rk) {
        rd_kafka_destroy(pr->rk);
    }
    if (pr->in && pr->in != stdin) {
        fclose(pr->in);
    }
    pending_free(&pr->pending);
    kc_avro_destroy(pr->av);
    kc_buf_free(&pr->value);
    kc_buf_free(&pr->line_out);
    kc_conf_free(kc_producer_conf_props, &pr->conf);
    kc_conf_kv_free(&pr->kafka);
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    static produce_t pr; /* zeroed; large-ish and lives for the whole run */
    int rc;

    kc_buf_init(&pr.value);
    kc_buf_init(&pr.line_out);
    rc = configure(argc, argv, &pr);
    if (rc == 0) {
        rc = setup(&pr);
    }
    if (rc == 0) {
        install_signals();
        pr.progress = isatty(STDERR_FILENO);
        pr.start_us = pr.last_progress_us = pr.last_send_us = kc_mono_us();
        rc = input_run(&pr) == 0 ? 0 : EXIT_RUNTIME;
        flush_all(&pr);
        if (pr.wait) {
            wait_replies(&pr);
        }
        rc = report(&pr) ? EXIT_RUNTIME : rc;
    }
    teardown(&pr);
    return rc == HELP_SHOWN ? 0 : rc;
}
