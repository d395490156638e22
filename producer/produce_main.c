/**
 * kclassify-produce: send classification requests, optionally wait for results.
 *
 * A kcat-like CLI built on the kcclient library (kc_client.h): one query (or
 * one JSON request) per input line is encoded as an Avro ClassificationRequest
 * and produced, keyed by its cache key. With --wait, results are read from the
 * reply topic and printed as JSON lines, at most --max-inflight requests being
 * outstanding at a time, so a file of any size runs in bounded memory.
 * Diagnostics go to stderr prefixed with "% ".
 *
 * Files: produce_main.c (options), produce_run.c (input, sending, replies),
 * produce_report.c (progress bar, summary).
 *
 * Exit codes: 0 success; 1 runtime failure (unanswered requests after
 * --timeout-ms, failed deliveries, rejected input lines, Kafka errors);
 * 2 usage or configuration error.
 */
#include "produce.h"

#include "kc_err.h"
#include "kc_input.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t produce_run_flag = 1;

static void on_signal(int sig)
{
    (void)sig;
    produce_run_flag = 0;
}

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
            "  -F FILE             properties file (key=value lines), applied first;\n"
            "                      -c FILE is the same (older spelling)\n"
            "  -X KEY=VALUE        set a configuration key (overrides -F)\n"
            "  -t TOPIC            request topic (= -X topic.requests=TOPIC)\n"
            "  -w, --wait          wait for every result and print it as a JSON line\n"
            "  -T, --timeout-ms N  with --wait: give up N ms after the last send (30000)\n"
            "      --ordered       with --wait: print results in input order\n"
            "      --max-inflight N  with --wait: requests outstanding (or, with --ordered,\n"
            "                      not yet printed) at most; bounds memory (10000)\n"
            "      --skip N        skip the first N input lines (resume an interrupted run:\n"
            "                      with --ordered, the final message names N)\n"
            "      --progress      draw the progress bar even when stderr is not a terminal\n"
            "  -h, --help          show this help\n"
            "\n"
            "With --wait, a summary (categories, sources, statuses, latency percentiles)\n"
            "goes to stderr at the end.\n"
            "\n"
            "Exit status: 0 ok, 1 runtime failure (timeout, delivery failure, rejected\n"
            "input line), 64 usage or configuration error.\n"
            "\n"
            "Configuration keys:\n");
    for (const kc_conf_prop_t *p = kc_producer_conf_props; p->name; p++) {
        fprintf(fp, "  %s = %s\n      %s\n", p->name, p->defval, p->desc);
    }
    fprintf(fp, "  kafka.* (producer defaults: kafka.linger.ms=5, kafka.acks=all)\n"
                "      passed to librdkafka with the prefix removed; kafka.producer.* and\n"
                "      kafka.consumer.* (the --wait reply consumer) scope a key to one client\n");
}

/* Parses a decimal integer in [min, max] for option `name`. */
static int parse_uint(const char *name, const char *s, long long min, long long max, uint64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "%% invalid %s '%s': expected an integer from %lld to %lld\n", name, s, min,
                max);
        return -1;
    }
    *out = (uint64_t)v;
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

enum { OPT_ORDERED = 256, OPT_SKIP, OPT_MAX_INFLIGHT, OPT_PROGRESS };

static const struct option longopts[] = {
    {"wait", no_argument, NULL, 'w'},
    {"timeout-ms", required_argument, NULL, 'T'},
    {"ordered", no_argument, NULL, OPT_ORDERED},
    {"skip", required_argument, NULL, OPT_SKIP},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};
static const char shortopts[] = "b:c:F:X:t:wT:h";

/* First pass: only -F (-c) and -h, so the file is applied before any -X/-b/-t. */
static int parse_args_first(int argc, char **argv, produce_t *pr)
{
    int c;

    opterr = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return HELP_SHOWN;
        } else if (c == 'c' || c == 'F') {
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

static int apply_option(produce_t *pr, int c, const char *arg)
{
    char errstr[512];
    uint64_t v;

    switch (c) {
    case 'b':
        return conf_apply(pr, "kafka.bootstrap.servers", arg);
    case 't':
        return conf_apply(pr, "topic.requests", arg);
    case 'w':
        pr->wait = true;
        return 0;
    case 'T':
        if (parse_uint("--timeout-ms", arg, 1, INT32_MAX, &v) != 0) {
            return -1;
        }
        pr->timeout_ms = (int64_t)v;
        return 0;
    case OPT_ORDERED:
        pr->ordered = true;
        return 0;
    case OPT_SKIP:
        return parse_uint("--skip", arg, 0, INT64_MAX, &pr->skip);
    case OPT_MAX_INFLIGHT:
        return parse_uint("--max-inflight", arg, 1, 10000000, &pr->max_inflight);
    case OPT_PROGRESS:
        pr->progress = true;
        return 0;
    case 'X':
        if (kc_conf_set_assignment(kc_producer_conf_props, &pr->conf, &pr->kafka, arg, errstr,
                                   sizeof(errstr)) != 0) {
            fprintf(stderr, "%% -X %s: %s\n", arg, errstr);
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int parse_args_second(int argc, char **argv, produce_t *pr)
{
    int c;

    optind = 0; /* GNU getopt: rescan from the start */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (apply_option(pr, c, optarg) != 0) {
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
    if (pr->ordered && !pr->wait) {
        fprintf(stderr, "%% --ordered needs --wait\n");
        return -1;
    }
    return 0;
}

/* @returns 0 to run, HELP_SHOWN, or EXIT_USAGE. */
int produce_configure(int argc, char **argv, produce_t *pr)
{
    char errstr[512];
    int rc;

    if (kc_conf_defaults(kc_producer_conf_props, &pr->conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_USAGE;
    }
    pr->timeout_ms = 30000;
    pr->max_inflight = 10000;
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

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: ^C also ends a blocked read */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    static produce_t pr; /* zeroed; large-ish and lives for the whole run */
    int rc;

    rc = produce_configure(argc, argv, &pr);
    if (rc == 0) {
        pr.progress = pr.progress || isatty(STDERR_FILENO);
        rc = produce_setup(&pr);
    }
    if (rc == 0) {
        install_signals();
        rc = produce_input(&pr) == 0 ? 0 : EXIT_RUNTIME;
        produce_finish(&pr);
        rc = produce_report(&pr) ? EXIT_RUNTIME : rc;
    }
    produce_teardown(&pr);
    return rc == HELP_SHOWN ? 0 : rc;
}
