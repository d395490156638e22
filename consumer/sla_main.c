/*
 * kclassify-sla: the SLA monitor's program: command line, configuration,
 * logging and signals around libcore/sla/kc_sla_monitor.c, which does the
 * work (consume the replies, histograms, alert rules, alerts to Kafka and
 * Alertmanager, /metrics and /health); reports go to stdout. With --once it
 * reads the topic up to its end and gives a verdict.
 *
 * Exit codes (kc_exit.h): 0 ok / compliant; 1 runtime failure; 2 not
 * compliant (--once); 64 usage or configuration error; 69 Kafka unavailable at
 * start (--once); 75 no progress towards the end of the topic (--once).
 */
#include "kc_conf.h"
#include "kc_err.h"
#include "kc_exit.h"
#include "kc_log.h"
#include "kc_sla_conf.h"
#include "kc_sla_monitor.h"
#include "kc_sla_rules.h"
#include "prog_log.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELP_SHOWN -1

/* What the command line gives the monitor. */
typedef struct app_s {
    kc_sla_conf_t conf;
    kc_sla_rules_conf_t rules_conf;
    kc_sla_monitor_opts_t opts;
} app_t;

static volatile sig_atomic_t run = 1;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: kclassify-sla [-b BROKERS] [-F FILE] [-X key=value]... [--json] [--once]\n"
                "                     [--from-beginning]\n"
                "\n"
                "Watches ClassificationResult records on the replies topic (consumer group\n"
                "kclassify-sla): latency percentiles per window, target and deadline compliance,\n"
                "success/degraded rates, cache hit rates; fires and resolves SLA alerts (SlaAlert\n"
                "records on topic.alerts, one stderr line each, Alertmanager webhook).\n"
                "\n"
                "Options:\n"
                "  -b BROKERS         bootstrap servers (= -X kafka.bootstrap.servers=...)\n"
                "  -F FILE            properties file (key=value lines, # comments); -c FILE\n"
                "                     is the same (older spelling)\n"
                "  -X key=value       set a property (options apply in the order given)\n"
                "  --json             reports as JSON lines instead of text\n"
                "  --once             read the topic up to its current end, print a final report\n"
                "                     and exit: 0 compliant, 2 not compliant (or no replies)\n"
                "  --from-beginning   start at the oldest retained reply (no group offsets used)\n"
                "  -v / -q            log.level=debug / warn\n"
                "  -h, --help         this help\n"
                "\n"
                "Exit status: 0 ok/compliant, 1 runtime failure, 2 not compliant, 64 usage or\n"
                "configuration error, 69 Kafka unavailable at start, 75 no progress (--once).\n"
                "\n"
                "Properties (default in brackets):\n");
    for (const kc_conf_prop_t *p = kc_sla_conf_props; p->name; p++) {
        fprintf(fp, "  %-32s %s [%s]\n", p->name, p->desc, p->defval);
    }
    fprintf(fp, "  %-32s %s\n", "kafka.<property>",
            "any librdkafka property (kafka.bootstrap.servers, kafka.group.id [kclassify-sla], "
            "kafka.security.protocol, ...), for the consumer and the alerts producer");
    fprintf(fp, "  %-32s %s\n", "kafka.consumer.<property>",
            "for the consumer only (kafka.producer.<property>: the producer); wins over "
            "kafka.<property>");
}

static int parse_args(int argc, char **argv, app_t *app)
{
    enum { OPT_JSON = 1000, OPT_ONCE, OPT_FROM_BEGINNING };
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, OPT_JSON},
        {"once", no_argument, NULL, OPT_ONCE},
        {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
        {NULL, 0, NULL, 0}};
    kc_sla_conf_t *conf = &app->conf;
    char errstr[512];
    int c, err = 0;

    while ((c = getopt_long(argc, argv, "b:c:F:X:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            err = kc_conf_set(kc_sla_conf_props, conf, &conf->kafka, "kafka.bootstrap.servers",
                              optarg, errstr, sizeof(errstr));
            break;
        case 'c':
        case 'F':
            err = kc_conf_parse_file(kc_sla_conf_props, conf, &conf->kafka, optarg, errstr,
                                     sizeof(errstr));
            break;
        case 'X':
            err = kc_conf_set_assignment(kc_sla_conf_props, conf, &conf->kafka, optarg, errstr,
                                         sizeof(errstr));
            break;
        case 'v':
        case 'q':
            err = kc_conf_set(kc_sla_conf_props, conf, NULL, "log.level",
                              c == 'v' ? "debug" : "warn", errstr, sizeof(errstr));
            break;
        case OPT_JSON:
            app->opts.json = true;
            break;
        case OPT_ONCE:
            app->opts.once = true;
            break;
        case OPT_FROM_BEGINNING:
            app->opts.from_beginning = true;
            break;
        case 'h':
            usage(stdout);
            return HELP_SHOWN;
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
    if (kc_sla_conf_rules(conf, &app->rules_conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return KC_EXIT_USAGE;
    }
    return 0;
}

/* Reports go to stdout, one flush per report. */
static void print_report(void *opaque, const char *text, size_t len)
{
    (void)opaque;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static app_t app;
    kc_sla_monitor_t *mon;
    char errstr[512];
    struct sigaction sa;
    int rc;

    if (kc_sla_conf_init(&app.conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return KC_EXIT_USAGE;
    }
    if ((rc = parse_args(argc, argv, &app)) != 0 ||
        (rc = prog_log_setup("kclassify-sla", app.conf.log_level, app.conf.log_format, 0)
                  ? KC_EXIT_USAGE
                  : 0)) {
        kc_sla_conf_free(&app.conf);
        return rc == HELP_SHOWN ? 0 : rc;
    }
    if (!kc_conf_kv_get(&app.conf.kafka, "bootstrap.servers")) {
        fprintf(stderr, "%% no brokers: use -b BROKERS or kafka.bootstrap.servers\n");
        kc_sla_conf_free(&app.conf);
        return KC_EXIT_USAGE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    app.opts.output_cb = print_report;
    if (!(mon = kc_sla_monitor_new(&app.conf, &app.rules_conf, &app.opts, &rc, errstr,
                                   sizeof(errstr)))) {
        fprintf(stderr, "%% %s\n", errstr);
        return rc == KC_ERR_CONFIG                     ? KC_EXIT_USAGE
               : rc == KC_ERR_KAFKA || rc == KC_ERR_IO ? KC_EXIT_UNAVAILABLE
                                                       : KC_EXIT_FAILURE;
    }
    rc = kc_sla_monitor_run(mon, &run);
    kc_sla_monitor_destroy(mon);
    return rc == 0                     ? KC_EXIT_OK
           : rc == KC_SLA_NONCOMPLIANT ? KC_EXIT_NONCOMPLIANT
           : rc == KC_ERR_TIMEOUT      ? KC_EXIT_TEMPFAIL
                                       : KC_EXIT_FAILURE;
}
