/**
 * kclassify-kafka-mock: a librdkafka mock cluster for tests and demos.
 *
 * Starts N in-process mock brokers, pre-creates the kclassify topics, prints
 * `BOOTSTRAP=host:port,...` and serves until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOPICS 64

static volatile sig_atomic_t run = 1;

static const char *default_topics[] = {"kclassify.requests", "kclassify.replies",
                                       "kclassify.requests.DLT", "kclassify.alerts"};

typedef struct mock_opts_s {
    int brokers;
    int partitions;
    const char *topics[MAX_TOPICS];
    int topic_cnt;
    const char *bootstrap_file;
} mock_opts_t;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: kclassify-kafka-mock [options]\n"
                "\n"
                "Runs an in-process librdkafka mock Kafka cluster until SIGINT/SIGTERM.\n"
                "Prints BOOTSTRAP=host:port,... on stdout once the topics exist.\n"
                "\n"
                "Options:\n"
                "  -n, --brokers N          number of brokers (default 1)\n"
                "  -p, --partitions N       partitions per pre-created topic (default 4)\n"
                "  -t, --topic NAME         topic to pre-create (repeatable; default:\n"
                "                           kclassify.requests, kclassify.replies,\n"
                "                           kclassify.requests.DLT, kclassify.alerts)\n"
                "      --bootstrap-file PATH  also write the host:port list to PATH\n"
                "  -h, --help               show this help\n"
                "\n"
                "Limits: the mock keeps at most about 5 MiB per partition; older messages\n"
                "are dropped, so size long runs with more partitions or drain promptly.\n"
                "Other topics are auto-created on first use with the mock's defaults.\n");
}

static int parse_positive(const char *s, const char *what, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 1 || v > 10000) {
        fprintf(stderr, "%% invalid %s '%s': expected an integer 1..10000\n", what, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* @returns 0 to run, 1 after --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, mock_opts_t *o)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'n'}, {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},   {"bootstrap-file", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "n:p:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_positive(optarg, "broker count", &o->brokers)) {
                return 2;
            }
            break;
        case 'p':
            if (parse_positive(optarg, "partition count", &o->partitions)) {
                return 2;
            }
            break;
        case 't':
            if (o->topic_cnt == MAX_TOPICS) {
                fprintf(stderr, "%% at most %d topics\n", MAX_TOPICS);
                return 2;
            }
            o->topics[o->topic_cnt++] = optarg;
            break;
        case 'B':
            o->bootstrap_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%% unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* The mock cluster needs a client handle to live in; a producer with
 * test.mock.num.brokers creates and owns one. */
static rd_kafka_t *mock_handle_new(int brokers)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char num[16], errstr[512];
    rd_kafka_t *rk;

    snprintf(num, sizeof(num), "%d", brokers);
    /* log_level 4 hides the notice that this (unused) client's own bootstrap
     * servers were replaced, which only confuses users of the mock. */
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", num, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%% %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%% failed to create mock cluster: %s\n", errstr);
        rd_kafka_conf_destroy(conf); /* rd_kafka_new() only takes conf on success */
    }
    return rk;
}

static int create_topics(rd_kafka_mock_cluster_t *mcluster, const mock_opts_t *o)
{
    for (int i = 0; i < o->topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, o->topics[i], o->partitions, 1);
        if (err) {
            fprintf(stderr, "%% creating topic %s: %s\n", o->topics[i], rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* Written to a temporary name and renamed, so a reader polling for the file
 * never sees it half-written. */
static int write_bootstrap_file(const char *path, const char *bootstraps)
{
    size_t tlen = strlen(path) + 8;
    char *tmp = malloc(tlen);
    FILE *fp;
    int ok;

    if (!tmp) {
        return -1;
    }
    snprintf(tmp, tlen, "%s.tmp", path);
    fp = fopen(tmp, "w");
    ok = fp && fprintf(fp, "%s\n", bootstraps) > 0;
    ok = fp && fclose(fp) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        fprintf(stderr, "%% writing %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
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

static int serve(const mock_opts_t *o)
{
    rd_kafka_t *rk = mock_handle_new(o->brokers);
    rd_kafka_mock_cluster_t *mcluster;
    const char *bootstraps;

    if (!rk) {
        return 1;
    }
    mcluster = rd_kafka_handle_mock_cluster(rk);
    if (!mcluster || create_topics(mcluster, o) != 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (o->bootstrap_file && write_bootstrap_file(o->bootstrap_file, bootstraps) != 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("BOOTSTRAP=%s\n", bootstraps);
    fflush(stdout);
    fprintf(stderr, "%% mock cluster: %d broker(s), %d topic(s) x %d partition(s)\n", o->brokers,
            o->topic_cnt, o->partitions);
    /* The brokers run on librdkafka's threads. A short sleep rather than pause():
     * the signal may be delivered to one of those threads, leaving pause() asleep. */
    while (run) {
        usleep(100 * 1000);
    }
    fprintf(stderr, "%% shutting down\n");
    rd_kafka_destroy(rk); /* destroys the mock cluster it owns */
    return 0;
}

int main(int argc, char **argv)
{
    mock_opts_t o = {.brokers = 1, .partitions = 4};
    int rc = parse_args(argc, argv, &o);

    if (rc) {
        return rc == 1 ? 0 : 2;
    }
    if (o.topic_cnt == 0) {
        for (size_t i = 0; i < sizeof(default_topics) / sizeof(default_topics[0]); i++) {
            o.topics[o.topic_cnt++] = default_topics[i];
        }
    }
    install_signals();
    return serve(&o);
}
