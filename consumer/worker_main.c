/* kclassify-worker: consumes classification requests and replies. */
#include "kc_err.h"
#include "kc_exit.h"
#include "kc_log.h"
#include "kc_secret.h"
#include "kc_time.h"
#include "kc_worker.h"
#include "prog_log.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static kc_worker_t *the_worker;

static void on_signal(int sig)
{
    (void)sig;
    if (the_worker) {
        kc_worker_stop(the_worker);
    }
}

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "Usage: kclassify-worker [-b BROKERS] [-F FILE] [-X key=value]... [--warm FILE] [-v|-q]\n"
        "\n"
        "Consumes ClassificationRequest records, classifies each distinct query once\n"
        "(L1 cache, in-flight coalescing, batched OpenAI-compatible LLM calls, keyword\n"
        "fallback) and produces ClassificationResult records.\n"
        "\n"
        "Options:\n"
        "  -b BROKERS     bootstrap servers (same as -X kafka.bootstrap.servers=...)\n"
        "  -F FILE        properties file (key=value lines, # comments); -c FILE is\n"
        "                 the same (older spelling)\n"
        "  -X key=value   set a property\n"
        "  --warm FILE    resolve the queries in FILE (one per line) into the caches\n"
        "                 before consuming (same as -X cache.warm.file=FILE)\n"
        "  -v / -q        more / less logging (default: info)\n"
        "  -h, --help     this help\n"
        "\n"
        "Options apply in the order given: a later -F or -X overrides an earlier one.\n"
        "Exit status: 0 clean stop, 1 runtime failure, 64 usage or configuration error,\n"
        "69 a required service unavailable at start (Kafka client, LMDB, metrics port).\n"
        "\n"
        "Environment: KCLASSIFY_LLM_API_KEY or OPENAI_API_KEY (bearer token, never "
        "logged).\n"
        "\n"
        "Properties (default in brackets):\n");
    for (const kc_conf_prop_t *p = kc_worker_conf_props; p->name; p++) {
        fprintf(fp, "  %-28s %s [%s]\n", p->name, p->desc, p->defval);
    }
    fprintf(fp, "  %-28s %s\n", "kafka.<property>",
            "any librdkafka property (e.g. kafka.bootstrap.servers, kafka.group.id "
            "[kclassify-workers], kafka.security.protocol), for the consumer and the producer");
    fprintf(fp, "  %-28s %s\n", "kafka.consumer.<property>",
            "for the consumer only (kafka.producer.<property>: the producer); wins over "
            "kafka.<property>");
}

/* Options are applied in command-line order, so -X after -c overrides it. */
static int parse_args(int argc, char **argv, kc_worker_conf_t *conf, int *level)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"warm", required_argument, NULL, 'W'},
                                             {NULL, 0, NULL, 0}};
    char errstr[512];
    int c, err = 0;

    while ((c = getopt_long(argc, argv, "b:c:F:X:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            err = kc_conf_set(kc_worker_conf_props, conf, &conf->kafka, "kafka.bootstrap.servers",
                              optarg, errstr, sizeof(errstr));
            break;
        case 'c':
        case 'F':
            err = kc_conf_parse_file(kc_worker_conf_props, conf, &conf->kafka, optarg, errstr,
                                     sizeof(errstr));
            break;
        case 'X':
            err = kc_conf_set_assignment(kc_worker_conf_props, conf, &conf->kafka, optarg, errstr,
                                         sizeof(errstr));
            break;
        case 'W':
            err = kc_conf_set(kc_worker_conf_props, conf, &conf->kafka, "cache.warm.file", optarg,
                              errstr, sizeof(errstr));
            break;
        case 'v':
            *level = KC_LOG_DEBUG;
            break;
        case 'q':
            *level = KC_LOG_WARN;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return KC_EXIT_USAGE;
        }
        if (err) {
            fprintf(stderr, "%% %s\n", errstr);
            return KC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%% unexpected argument '%s' (see --help)\n", argv[optind]);
        return KC_EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    kc_worker_conf_t conf;
    char errstr[512], key_buf[4096];
    const char *api_key = getenv("KCLASSIFY_LLM_API_KEY");
    int level = 0, rc;
    struct sigaction sa;

    if (kc_worker_conf_init(&conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return KC_EXIT_USAGE;
    }
    if ((rc = parse_args(argc, argv, &conf, &level)) != 0) {
        kc_worker_conf_free(&conf);
        return rc;
    }
    if (prog_log_setup("kclassify-worker", conf.log_level, conf.log_format,
                       (kc_log_level_t)level) != 0) {
        kc_worker_conf_free(&conf);
        return KC_EXIT_USAGE;
    }
    if (!kc_conf_kv_get(&conf.kafka, "bootstrap.servers")) {
        fprintf(stderr, "%% no brokers: use -b BROKERS or kafka.bootstrap.servers\n");
        kc_worker_conf_free(&conf);
        return KC_EXIT_USAGE;
    }
    if (*conf.llm_api_key_file) {
        if (kc_secret_read_file(conf.llm_api_key_file, key_buf, sizeof(key_buf), errstr,
                                sizeof(errstr)) != 0) {
            fprintf(stderr, "%% llm.api.key.file: %s\n", errstr);
            kc_worker_conf_free(&conf);
            return KC_EXIT_USAGE;
        }
        api_key = key_buf;
    } else if (!api_key || !*api_key) {
        api_key = getenv("OPENAI_API_KEY");
    }
    if (!(the_worker = kc_worker_new(&conf, api_key, &rc, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%% %s\n", errstr);
        kc_worker_conf_free(&conf);
        return rc == KC_ERR_CONFIG                     ? KC_EXIT_USAGE
               : rc == KC_ERR_KAFKA || rc == KC_ERR_IO ? KC_EXIT_UNAVAILABLE
                                                       : KC_EXIT_FAILURE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = kc_worker_run(the_worker, errstr, sizeof(errstr));
    if (rc) {
        fprintf(stderr, "%% %s\n", errstr);
    }
    kc_worker_destroy(the_worker);
    the_worker = NULL;
    memset(key_buf, 0, sizeof(key_buf));
    return rc ? KC_EXIT_FAILURE : KC_EXIT_OK;
}
