/**
 * kclassify-kafka-mock: a librdkafka mock cluster for tests and demos.
 *
 * Starts N in-process mock brokers, pre-creates the kclassify topics, prints
 * `BOOTSTRAP=host:port,...` and serves until SIGINT/SIGTERM. With
 * --control-fifo it also reads fault-injection commands (broker down/up,
 * request errors, round-trip delays) one per line, for the fault tests.
 */
#include "kc_exit.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
    const char *control_fifo;
} mock_opts_t;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: kclassify-kafka-mock [options]\n"
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
            "      --control-fifo PATH  read fault-injection commands from the FIFO PATH\n"
            "                           (created if missing), one per line:\n"
            "                             broker_down ID|-1   disconnect broker ID (-1: all)\n"
            "                                                 and refuse new connections\n"
            "                             broker_up ID|-1     accept connections again\n"
            "                             broker_rtt ID|-1 MS delay every response by MS\n"
            "                             push_errors API COUNT ERR [ERR...]\n"
            "                                 fail the next COUNT requests of API (Produce,\n"
            "                                 Fetch, OffsetCommit, ... or its number) with\n"
            "                                 the ERRs in turn (name, e.g. NOT_ENOUGH_REPLICAS,\n"
            "                                 or number); it applies to every client and\n"
            "                                 topic: the mock cannot target one topic\n"
            "                             clear_errors API    drop errors not yet used\n"
            "                           Each command is acknowledged on stderr as\n"
            "                           '%% control: <command>: ok' (or ': error ...'), so\n"
            "                           a test can wait for it. Broker ids start at 1.\n"
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
    static const struct option longopts[] = {{"brokers", required_argument, NULL, 'n'},
                                             {"partitions", required_argument, NULL, 'p'},
                                             {"topic", required_argument, NULL, 't'},
                                             {"bootstrap-file", required_argument, NULL, 'B'},
                                             {"control-fifo", required_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "n:p:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_positive(optarg, "broker count", &o->brokers)) {
                return KC_EXIT_USAGE;
            }
            break;
        case 'p':
            if (parse_positive(optarg, "partition count", &o->partitions)) {
                return KC_EXIT_USAGE;
            }
            break;
        case 't':
            if (o->topic_cnt == MAX_TOPICS) {
                fprintf(stderr, "%% at most %d topics\n", MAX_TOPICS);
                return KC_EXIT_USAGE;
            }
            o->topics[o->topic_cnt++] = optarg;
            break;
        case 'B':
            o->bootstrap_file = optarg;
            break;
        case 'C':
            o->control_fifo = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return KC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%% unexpected argument '%s'\n", argv[optind]);
        return KC_EXIT_USAGE;
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

/* ------------------------------------------------------------- control */

/* Kafka protocol request types by name, for push_errors. */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {{"Produce", 0},          {"Fetch", 1},        {"ListOffsets", 2},
                {"Metadata", 3},         {"OffsetCommit", 8}, {"OffsetFetch", 9},
                {"FindCoordinator", 10}, {"JoinGroup", 11},   {"Heartbeat", 12},
                {"LeaveGroup", 13},      {"SyncGroup", 14},   {"ApiVersions", 18},
                {"InitProducerId", 22}};

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_api(const char *s, int16_t *key)
{
    long v;

    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (!strcasecmp(s, api_keys[i].name)) {
            *key = api_keys[i].key;
            return 0;
        }
    }
    if (parse_int(s, 0, 1000, &v) != 0) {
        return -1;
    }
    *key = (int16_t)v;
    return 0;
}

/* An error by number or by name, with or without librdkafka's ERR_ prefix. */
static int parse_err(const char *s, rd_kafka_resp_err_t *err)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    long v;

    if (parse_int(s, -200, 1000, &v) == 0) {
        *err = (rd_kafka_resp_err_t)v;
        return 0;
    }
    if (!strncasecmp(s, "ERR_", 4)) {
        s += 4;
    }
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name && !strcasecmp(descs[i].name, s)) {
            *err = descs[i].code;
            return 0;
        }
    }
    return -1;
}

static int cmd_push_errors(rd_kafka_mock_cluster_t *mcluster, char **argv, int argc, char *why,
                           size_t why_size)
{
    rd_kafka_resp_err_t errs[64];
    int16_t key;
    long cnt;
    int nerr = argc - 3;

    if (argc < 4 || nerr > 64) {
        snprintf(why, why_size, "usage: push_errors API COUNT ERR [ERR...] (at most 64 ERRs)");
        return -1;
    }
    if (parse_api(argv[1], &key) != 0 || parse_int(argv[2], 1, 1000000, &cnt) != 0) {
        snprintf(why, why_size, "bad API '%s' or COUNT '%s'", argv[1], argv[2]);
        return -1;
    }
    for (int i = 0; i < nerr; i++) {
        if (parse_err(argv[3 + i], &errs[i]) != 0) {
            snprintf(why, why_size, "unknown error '%s'", argv[3 + i]);
            return -1;
        }
    }
    /* COUNT requests, cycling through the given errors. */
    for (long done = 0; done < cnt; done += nerr) {
        size_t n = (size_t)(cnt - done < nerr ? cnt - done : nerr);
        rd_kafka_mock_push_request_errors_array(mcluster, key, n, errs);
    }
    return 0;
}

static int cmd_broker(rd_kafka_mock_cluster_t *mcluster, char **argv, int argc, char *why,
                      size_t why_size)
{
    rd_kafka_resp_err_t err;
    long id, ms = 0;

    if (argc != (strcmp(argv[0], "broker_rtt") ? 2 : 3) || parse_int(argv[1], -1, 100000, &id) ||
        (argc == 3 && parse_int(argv[2], 0, 3600000, &ms))) {
        snprintf(why, why_size, "usage: broker_down|broker_up ID, broker_rtt ID MS");
        return -1;
    }
    if (!strcmp(argv[0], "broker_down")) {
        err = rd_kafka_mock_broker_set_down(mcluster, (int32_t)id);
    } else if (!strcmp(argv[0], "broker_up")) {
        err = rd_kafka_mock_broker_set_up(mcluster, (int32_t)id);
    } else {
        err = rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)id, (int)ms);
    }
    if (err) {
        snprintf(why, why_size, "%s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Run one command line. @returns 0, or -1 with the reason in why. */
static int control_exec(rd_kafka_mock_cluster_t *mcluster, char *line, char *why, size_t why_size)
{
    char *argv[80], *save = NULL, *tok;
    int argc = 0;
    int16_t key;

    for (tok = strtok_r(line, " \t", &save); tok && argc < 80; tok = strtok_r(NULL, " \t", &save)) {
        argv[argc++] = tok;
    }
    if (argc == 0) {
        snprintf(why, why_size, "empty command");
        return -1;
    }
    if (!strcmp(argv[0], "push_errors")) {
        return cmd_push_errors(mcluster, argv, argc, why, why_size);
    }
    if (!strncmp(argv[0], "broker_", 7)) {
        return cmd_broker(mcluster, argv, argc, why, why_size);
    }
    if (!strcmp(argv[0], "clear_errors") && argc == 2 && parse_api(argv[1], &key) == 0) {
        rd_kafka_mock_clear_request_errors(mcluster, key);
        return 0;
    }
    snprintf(why, why_size, "unknown command (see --help)");
    return -1;
}

typedef struct control_s {
    int fd;
    bool created; /* we made the FIFO: remove it at exit */
    char buf[4096];
    size_t len;
} control_t;

/* Opened read-write so that it never reports EOF between two writers. */
static int control_open(control_t *ctl, const char *path)
{
    struct stat st;

    memset(ctl, 0, sizeof(*ctl));
    ctl->fd = -1;
    if (mkfifo(path, 0600) == 0) {
        ctl->created = true;
    } else if (errno != EEXIST) {
        fprintf(stderr, "%% --control-fifo %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((ctl->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0 || fstat(ctl->fd, &st) != 0 ||
        !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "%% --control-fifo %s: %s\n", path,
                ctl->fd < 0 ? strerror(errno) : "not a FIFO");
        return -1;
    }
    return 0;
}

static void control_close(control_t *ctl, const char *path)
{
    if (ctl->fd >= 0) {
        close(ctl->fd);
        ctl->fd = -1;
    }
    if (ctl->created) {
        unlink(path);
    }
}

static void control_line(rd_kafka_mock_cluster_t *mcluster, char *line)
{
    char copy[sizeof(((control_t *)0)->buf)], why[256];

    snprintf(copy, sizeof(copy), "%s", line);
    if (control_exec(mcluster, line, why, sizeof(why)) == 0) {
        fprintf(stderr, "%% control: %s: ok\n", copy);
    } else {
        fprintf(stderr, "%% control: %s: error: %s\n", copy, why);
    }
}

/* Read what the FIFO holds and run every complete line. */
static void control_poll(control_t *ctl, rd_kafka_mock_cluster_t *mcluster, int timeout_ms)
{
    struct pollfd pfd = {ctl->fd, POLLIN, 0};
    char *nl;
    ssize_t r;

    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return;
    }
    while ((r = read(ctl->fd, ctl->buf + ctl->len, sizeof(ctl->buf) - 1 - ctl->len)) > 0) {
        ctl->len += (size_t)r;
        ctl->buf[ctl->len] = '\0';
        while ((nl = memchr(ctl->buf, '\n', ctl->len))) {
            size_t used = (size_t)(nl - ctl->buf) + 1;
            *nl = '\0';
            if (nl > ctl->buf && nl[-1] == '\r') {
                nl[-1] = '\0';
            }
            if (ctl->buf[0] != '\0' && ctl->buf[0] != '#') {
                control_line(mcluster, ctl->buf);
            }
            memmove(ctl->buf, ctl->buf + used, ctl->len - used);
            ctl->len -= used;
        }
        if (ctl->len == sizeof(ctl->buf) - 1) {
            fprintf(stderr, "%% control: line longer than %zu bytes dropped\n", ctl->len);
            ctl->len = 0;
        }
    }
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
    control_t ctl = {.fd = -1};

    if (!rk) {
        return 1;
    }
    if (o->control_fifo && control_open(&ctl, o->control_fifo) != 0) {
        control_close(&ctl, o->control_fifo);
        rd_kafka_destroy(rk);
        return 1;
    }
    mcluster = rd_kafka_handle_mock_cluster(rk);
    if (!mcluster || create_topics(mcluster, o) != 0) {
        control_close(&ctl, o->control_fifo);
        rd_kafka_destroy(rk);
        return 1;
    }
    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (o->bootstrap_file && write_bootstrap_file(o->bootstrap_file, bootstraps) != 0) {
        control_close(&ctl, o->control_fifo);
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
        if (ctl.fd >= 0) {
            control_poll(&ctl, mcluster, 100);
        } else {
            usleep(100 * 1000);
        }
    }
    fprintf(stderr, "%% shutting down\n");
    rd_kafka_destroy(rk); /* destroys the mock cluster it owns */
    control_close(&ctl, o->control_fifo);
    return 0;
}

int main(int argc, char **argv)
{
    mock_opts_t o = {.brokers = 1, .partitions = 4};
    int rc = parse_args(argc, argv, &o);

    if (rc) {
        return rc == 1 ? 0 : KC_EXIT_USAGE;
    }
    if (o.topic_cnt == 0) {
        for (size_t i = 0; i < sizeof(default_topics) / sizeof(default_topics[0]); i++) {
            o.topics[o.topic_cnt++] = default_topics[i];
        }
    }
    install_signals();
    return serve(&o);
}
