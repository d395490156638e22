/*
 * kclassify-sla: the SLA monitor. Consumes ClassificationResult records from
 * the replies topic in its own group, keeps per-second latency histograms,
 * evaluates alert rules with hysteresis, publishes SlaAlert records, logs and
 * POSTs alerts to Alertmanager, prints summaries, and serves /metrics and
 * /health. With --once it reads the topic up to its end and gives a verdict.
 *
 * One event loop: Kafka poll, timers (publish 1 s, eval, report, resend).
 * The webhook thread and the HTTP server thread only exchange copies with it.
 *
 * Exit codes: 0 ok / compliant; 1 runtime failure; 2 not compliant (--once),
 * or a usage / configuration error (with a message on stderr).
 */
#include "kc_alert.h"
#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_httpd.h"
#include "kc_log.h"
#include "kc_prom.h"
#include "kc_sla.h"
#include "kc_sla_conf.h"
#include "kc_sla_kafka.h"
#include "kc_sla_report.h"
#include "kc_sla_rules.h"
#include "kc_time.h"
#include "kc_webhook.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME       1
#define EXIT_NONCOMPLIANT  2
#define EXIT_USAGE         2
#define HELP_SHOWN         -1
#define MAX_VIEWS          4
#define KAFKA_TIMEOUT_MS   5000
#define LAG_REFRESH_US     (30 * 1000000LL)
#define ONCE_IDLE_US       (30 * 1000000LL) /* --once gives up without progress */
#define MAX_LOGGED_DECODES 10

static volatile sig_atomic_t run = 1;

static void on_signal(int sig)
{
    (void)sig;
    run = 0;
}

typedef struct app_s {
    kc_sla_conf_t conf;
    kc_sla_rules_conf_t rules_conf;
    bool json, once, from_beginning;
    kc_sla_t *sla;
    kc_sla_rules_t rules;
    kc_avro_t *av;
    kc_alert_codec_t *ac;
    rd_kafka_t *consumer;
    rd_kafka_t *producer; /* NULL when topic.alerts is empty or with --once */
    kc_webhook_t *webhook;
    kc_httpd_t *httpd;
    kc_sla_status_t st;
    int views[MAX_VIEWS]; /* window lengths shown; the alerting window is views[alert_view] */
    int view_cnt, alert_view;
    kc_sla_figures_t figs[MAX_VIEWS];
    int64_t figs_at_us;
    rd_kafka_topic_partition_list_t *ends; /* --once: high watermarks at start */
    int64_t started_us, last_publish_us, last_eval_us, last_report_us, last_resend_us;
    int64_t last_lag_us, last_progress_us;
    char instance[128];
    bool json_logs;
} app_t;

/* ------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------ */

static void log_text(void *opaque, kc_log_level_t level, const char *msg)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;

    (void)opaque;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "%% %s %s %s\n", ts, kc_log_level_name(level), msg);
}

static void log_json(void *opaque, kc_log_level_t level, const char *msg)
{
    char ts[32];
    json_t *o = json_object();
    char *line;

    (void)opaque;
    kc_alert_rfc3339(kc_now_us(), ts);
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(kc_log_level_name(level)));
    json_object_set_new(o, "component", json_string("kclassify-sla"));
    json_object_set_new(o, "msg", json_string(msg));
    if ((line = json_dumps(o, JSON_COMPACT)) != NULL) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    json_decref(o);
}

static int setup_log(app_t *app)
{
    static const struct {
        const char *name;
        kc_log_level_t level;
    } levels[] = {{"error", KC_LOG_ERROR},
                  {"warn", KC_LOG_WARN},
                  {"info", KC_LOG_INFO},
                  {"debug", KC_LOG_DEBUG}};
    int level = -1;

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(app->conf.log_level, levels[i].name) == 0) {
            level = (int)levels[i].level;
        }
    }
    if (level < 0 ||
        (strcmp(app->conf.log_format, "text") && strcmp(app->conf.log_format, "json"))) {
        fprintf(stderr, "%% log.level must be error|warn|info|debug and log.format text|json\n");
        return -1;
    }
    app->json_logs = strcmp(app->conf.log_format, "json") == 0;
    kc_log_set(app->json_logs ? log_json : log_text, NULL, (kc_log_level_t)level);
    return 0;
}

/* librdkafka's own log lines, through ours. */
static void rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (strcmp(fac, "CONFWARN") == 0) {
        level = 7; /* kafka.* goes to consumer and producer alike: expected */
    }
    kc_log(level <= 3   ? KC_LOG_ERROR
           : level == 4 ? KC_LOG_WARN
                        : KC_LOG_DEBUG,
           "rdkafka %s: %s", fac, buf);
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: kclassify-sla [-b BROKERS] [-c FILE] [-X key=value]... [--json] [--once]\n"
                "                     [--from-beginning]\n"
                "\n"
                "Watches ClassificationResult records on the replies topic (consumer group\n"
                "kclassify-sla): latency percentiles per window, target and deadline compliance,\n"
                "success/degraded rates, cache hit rates; fires and resolves SLA alerts (SlaAlert\n"
                "records on topic.alerts, one stderr line each, Alertmanager webhook).\n"
                "\n"
                "Options:\n"
                "  -b BROKERS         bootstrap servers (= -X kafka.bootstrap.servers=...)\n"
                "  -c FILE            properties file (key=value lines, # comments)\n"
                "  -X key=value       set a property (after -c, in the order given)\n"
                "  --json             reports as JSON lines instead of text\n"
                "  --once             read the topic up to its current end, print a final report\n"
                "                     and exit: 0 compliant, 2 not compliant (or no replies)\n"
                "  --from-beginning   start at the oldest retained reply (no group offsets used)\n"
                "  -v / -q            log.level=debug / warn\n"
                "  -h, --help         this help\n"
                "\n"
                "Exit status: 0 ok/compliant, 1 runtime failure, 2 not compliant or usage error.\n"
                "\n"
                "Properties (default in brackets):\n");
    for (const kc_conf_prop_t *p = kc_sla_conf_props; p->name; p++) {
        fprintf(fp, "  %-32s %s [%s]\n", p->name, p->desc, p->defval);
    }
    fprintf(fp, "  %-32s %s\n", "kafka.<property>",
            "any librdkafka property (kafka.bootstrap.servers, kafka.group.id [kclassify-sla], "
            "kafka.security.protocol, ...)");
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

    while ((c = getopt_long(argc, argv, "b:c:X:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            err = kc_conf_set(kc_sla_conf_props, conf, &conf->kafka, "kafka.bootstrap.servers",
                              optarg, errstr, sizeof(errstr));
            break;
        case 'c':
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
            app->json = true;
            break;
        case OPT_ONCE:
            app->once = true;
            break;
        case OPT_FROM_BEGINNING:
            app->from_beginning = true;
            break;
        case 'h':
            usage(stdout);
            return HELP_SHOWN;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
        if (err) {
            fprintf(stderr, "%% %s\n", errstr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%% unexpected argument '%s' (see --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (kc_sla_conf_rules(conf, &app->rules_conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_USAGE;
    }
    return 0;
}

/* 10 s, the alerting window, 300 s (deduplicated, ascending), then since start. */
static void setup_views(app_t *app)
{
    const int want[3] = {10, (int)app->conf.window_s, 300};

    app->view_cnt = 0;
    for (int i = 0; i < 3; i++) {
        if (app->view_cnt > 0 && app->views[app->view_cnt - 1] == want[i]) {
            continue;
        }
        if (app->view_cnt > 0 && app->views[app->view_cnt - 1] > want[i]) {
            app->views[app->view_cnt] = app->views[app->view_cnt - 1];
            app->views[app->view_cnt - 1] = want[i];
            app->view_cnt++;
            continue;
        }
        app->views[app->view_cnt++] = want[i];
    }
    app->views[app->view_cnt++] = KC_SLA_WINDOW_TOTAL;
    for (int i = 0; i < app->view_cnt; i++) {
        if (app->views[i] == app->conf.window_s) {
            app->alert_view = i;
        }
    }
}

/* ------------------------------------------------------------------------
 * Kafka clients
 * ------------------------------------------------------------------------ */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    app_t *app = opaque;
    kc_log_level_t level = KC_LOG_WARN;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        app->st.kafka_up = false; /* until a message, an EOF or a lag query succeeds */
        level = KC_LOG_ERROR;
    } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        level = KC_LOG_DEBUG; /* librdkafka's own log line said it already */
    }
    kc_log(level, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    app_t *app = opaque;

    (void)rk;
    if (m->err) {
        app->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert not delivered to %s: %s", rd_kafka_topic_name(m->rkt),
               rd_kafka_err2str(m->err));
    } else {
        app->st.alerts_published++;
    }
}

/* Only logs what the default handling would do, so operators see the assignment. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;

    (void)opaque;
    if (cooperative) {
        error = assign ? rd_kafka_incremental_assign(rk, parts)
                       : rd_kafka_incremental_unassign(rk, parts);
    } else {
        ret = rd_kafka_assign(rk, assign ? parts : NULL);
    }
    if (error || ret) {
        kc_log(KC_LOG_ERROR, "rebalance: %s",
               error ? rd_kafka_error_string(error) : rd_kafka_err2str(ret));
        if (error) {
            rd_kafka_error_destroy(error);
        }
        return;
    }
    kc_log(KC_LOG_INFO, "%s %d partition(s) of the replies topic", assign ? "assigned" : "revoked",
           parts->cnt);
}

static rd_kafka_t *client_new(app_t *app, rd_kafka_type_t type, const char *const *defaults,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf = kc_sla_kafka_conf(defaults, &app->conf.kafka, errstr, errstr_size);
    rd_kafka_t *rk;

    if (!kconf) {
        return NULL;
    }
    rd_kafka_conf_set_opaque(kconf, app);
    rd_kafka_conf_set_error_cb(kconf, error_cb);
    rd_kafka_conf_set_log_cb(kconf, rdkafka_log);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    } else {
        rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
    }
    if (!(rk = rd_kafka_new(type, kconf, errstr, errstr_size))) {
        rd_kafka_conf_destroy(kconf);
    }
    return rk;
}

static int consumer_start(app_t *app, char *errstr, size_t errstr_size)
{
    /* --once without --from-beginning resumes from the group's offsets and
     * commits, so consecutive runs judge consecutive stretches. */
    const char *defaults[] = {"group.id",
                              "kclassify-sla",
                              "auto.offset.reset",
                              app->once ? "earliest" : "latest",
                              "enable.partition.eof",
                              "true",
                              "enable.auto.commit",
                              app->from_beginning ? "false" : "true",
                              NULL};
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t err;

    if (!(app->consumer = client_new(app, RD_KAFKA_CONSUMER, defaults, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(app->consumer);
    if (app->once) {
        return 0; /* assigned after the watermarks are known */
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, app->conf.topic_replies, RD_KAFKA_PARTITION_UA);
    if (app->from_beginning) {
        /* No group management: every partition from its first retained offset. */
        rd_kafka_topic_partition_list_destroy(topics);
        if (kc_sla_kafka_watermarks(app->consumer, app->conf.topic_replies, KAFKA_TIMEOUT_MS,
                                    &topics, errstr, errstr_size) != 0) {
            return KC_ERR_KAFKA;
        }
        for (int i = 0; i < topics->cnt; i++) {
            topics->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        err = rd_kafka_assign(app->consumer, topics);
    } else {
        err = rd_kafka_subscribe(app->consumer, topics);
    }
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consuming %s: %s",
                         app->conf.topic_replies, rd_kafka_err2str(err));
    }
    return 0;
}

/* --once: note where each partition ends now and read up to there. */
static int once_assign(app_t *app, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *assign;
    rd_kafka_resp_err_t err;

    if (kc_sla_kafka_watermarks(app->consumer, app->conf.topic_replies, KAFKA_TIMEOUT_MS,
                                &app->ends, errstr, errstr_size) != 0) {
        return KC_ERR_KAFKA;
    }
    assign = rd_kafka_topic_partition_list_copy(app->ends);
    for (int i = 0; i < assign->cnt; i++) {
        assign->elems[i].offset =
            app->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_STORED;
    }
    err = rd_kafka_assign(app->consumer, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "assign %s: %s",
                         app->conf.topic_replies, rd_kafka_err2str(err));
    }
    return 0;
}

/* --once: true when every partition has been read up to its end at start. */
static bool once_done(const app_t *app)
{
    for (int i = 0; i < app->ends->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &app->ends->elems[i];
        if (p->offset > 0 && p->offset > kc_sla_kafka_low(p)) {
            return false;
        }
    }
    return true;
}

/* Mark partition p read up to next_offset. */
static void once_progress(app_t *app, int32_t partition, int64_t next_offset)
{
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(app->ends, app->conf.topic_replies, partition);

    if (p && next_offset >= p->offset) {
        p->offset = 0; /* reached: nothing more to wait for here */
        p->opaque = NULL;
    }
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static void on_reply(app_t *app, const rd_kafka_message_t *m, int64_t now_us)
{
    kc_result_t res;
    char errstr[512];

    memset(&res, 0, sizeof(res));
    if (kc_avro_result_decode(app->av, m->payload, m->len, &res, errstr, sizeof(errstr)) != 0) {
        if (app->st.decode_errors++ < MAX_LOGGED_DECODES) {
            kc_log(KC_LOG_WARN, "%s [%d] offset %" PRId64 ": cannot decode: %s%s",
                   rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset, errstr,
                   app->st.decode_errors == MAX_LOGGED_DECODES ? " (further errors only counted)"
                                                               : "");
        }
        return;
    }
    if (kc_sla_add_result(app->sla, &res, now_us) != 0) {
        kc_log(KC_LOG_ERROR, "out of memory recording a reply");
    }
    kc_result_clear(&res);
}

static void on_message(app_t *app, rd_kafka_message_t *m, int64_t now_us)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        app->st.kafka_up = true;
        if (app->ends) {
            once_progress(app, m->partition, m->offset);
        }
        return;
    }
    if (m->err) {
        kc_log(KC_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    app->st.kafka_up = true;
    app->last_progress_us = now_us;
    on_reply(app, m, now_us);
    if (app->ends) {
        once_progress(app, m->partition, m->offset + 1);
    }
}

/* Up to 10000 messages per turn, so timers still run under a flood. */
static void consume(app_t *app, int timeout_ms)
{
    rd_kafka_message_t *m;

    for (int n = 0; n < 10000; n++) {
        if (!(m = rd_kafka_consumer_poll(app->consumer, n == 0 ? timeout_ms : 0))) {
            break;
        }
        on_message(app, m, kc_now_us());
        rd_kafka_message_destroy(m);
    }
}

/* ------------------------------------------------------------------------
 * Figures, alerts, reports, metrics
 * ------------------------------------------------------------------------ */

static void compute_figs(app_t *app, int64_t now_us)
{
    char errstr[256];

    if (app->figs_at_us == now_us) {
        return;
    }
    for (int i = 0; i < app->view_cnt; i++) {
        if (kc_sla_figures(app->sla, app->views[i], now_us, &app->figs[i], errstr,
                           sizeof(errstr)) != 0) {
            kc_log(KC_LOG_ERROR, "figures of the %d s window: %s", app->views[i], errstr);
        }
    }
    app->figs_at_us = now_us;
}

static void webhook_send(app_t *app, const kc_alert_t *a, int64_t now_us)
{
    kc_buf_t body;
    char errstr[256];
    /* Alertmanager resolves a firing alert by itself after endsAt: tie it to
     * our resend interval, so a monitor that died does not leave it firing. */
    int64_t ends = now_us + 3 * app->conf.webhook_resend_s * 1000000;
    int rc;

    if (!app->webhook) {
        return;
    }
    kc_buf_init(&body);
    if ((rc = kc_alert_am_json(a, 1, app->instance, ends, &body, errstr, sizeof(errstr))) == 0) {
        rc = kc_webhook_post(app->webhook, body.data, body.len, a->alert_id);
        snprintf(errstr, sizeof(errstr), "%s", kc_strerror(rc));
    }
    if (rc) {
        app->st.webhook_failed++;
        kc_log(KC_LOG_ERROR, "webhook: alert %s not queued: %s", a->alert_id, errstr);
    }
    kc_buf_free(&body);
}

static void alert_publish(app_t *app, const kc_alert_t *a)
{
    kc_buf_t buf;
    char errstr[256];
    rd_kafka_resp_err_t err;

    if (!app->producer) {
        return;
    }
    kc_buf_init(&buf);
    if (kc_alert_encode(app->ac, a, &buf, errstr, sizeof(errstr)) != 0) {
        app->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert %s: %s", a->alert_id, errstr);
        kc_buf_free(&buf);
        return;
    }
    err = rd_kafka_producev(app->producer, RD_KAFKA_V_TOPIC(app->conf.topic_alerts),
                            RD_KAFKA_V_KEY(a->rule, strlen(a->rule)),
                            RD_KAFKA_V_VALUE(buf.data, buf.len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        app->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert %s not produced: %s", a->alert_id, rd_kafka_err2str(err));
    }
    kc_buf_free(&buf);
}

static void on_alert(app_t *app, const kc_alert_t *a, int64_t now_us)
{
    kc_buf_t line;

    kc_buf_init(&line);
    if (kc_alert_format_line(a, &line) == 0) {
        kc_log(a->state == KC_ALERT_FIRING ? KC_LOG_WARN : KC_LOG_INFO, "%s", line.data);
    }
    kc_buf_free(&line);
    alert_publish(app, a);
    webhook_send(app, a, now_us);
}

/* The workers' lag: needed by the silence rule, refreshed when replies stop. */
static void refresh_lag(app_t *app, int64_t now_us, int64_t silent_us)
{
    char errstr[512];
    int64_t lag;
    bool needed = app->rules_conf.rule[KC_SLA_RULE_SILENCE].enabled &&
                  silent_us >= app->conf.silence_s * 1000000;

    /* A successful query also tells a cluster that came back while idle. */
    if (!needed && app->st.kafka_up && now_us - app->last_lag_us < LAG_REFRESH_US) {
        return;
    }
    app->last_lag_us = now_us;
    if (kc_sla_kafka_group_lag(app->consumer, app->conf.lag_group, app->conf.topic_requests, 2000,
                               &lag, errstr, sizeof(errstr)) != 0) {
        kc_log(needed ? KC_LOG_WARN : KC_LOG_DEBUG, "lag of %s: %s", app->conf.lag_group, errstr);
        app->st.lag = -1;
        return;
    }
    app->st.lag = lag;
    app->st.kafka_up = true;
}

/* @returns the number of state changes. */
static size_t evaluate(app_t *app, int64_t now_us)
{
    kc_alert_t events[KC_SLA_RULE__CNT];
    int64_t last = kc_sla_last_seen_us(app->sla);
    int64_t silent_us = now_us - (last ? last : app->started_us);
    kc_sla_eval_in_t in = {.fig = &app->figs[app->alert_view],
                           .now_us = now_us,
                           .silent_for_us = silent_us,
                           .lag = -1};
    size_t n;

    refresh_lag(app, now_us, silent_us);
    in.lag = app->st.lag;
    n = kc_sla_rules_eval(&app->rules, &in, events);
    for (size_t i = 0; i < n; i++) {
        on_alert(app, &events[i], now_us);
    }
    return n;
}

static void resend_firing(app_t *app, int64_t now_us)
{
    kc_alert_t a;

    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        if (kc_sla_rules_current(&app->rules, (kc_sla_rule_id_t)i, &app->figs[app->alert_view],
                                 now_us, &a) == 0) {
            webhook_send(app, &a, now_us);
        }
    }
}

static void on_webhook_done(void *opaque, const char *tag, int ok, int attempts, long http_status,
                            const char *error)
{
    app_t *app = opaque;

    if (ok) {
        app->st.webhook_ok++;
        kc_log(KC_LOG_DEBUG, "webhook: %s delivered (HTTP %ld, %d attempt(s))", tag, http_status,
               attempts);
    } else {
        app->st.webhook_failed++;
        kc_log(KC_LOG_ERROR, "webhook: %s not delivered after %d attempt(s): %s", tag, attempts,
               error);
    }
}

static void report(app_t *app, const kc_sla_figures_t *figs, int n, const kc_sla_verdict_t *v,
                   int64_t now_us)
{
    kc_buf_t out;
    int rc;

    kc_buf_init(&out);
    rc = app->json ? kc_sla_report_json(figs, (size_t)n, &app->rules, &app->st, v, now_us, &out)
                   : kc_sla_report_text(figs, (size_t)n, &app->rules, &app->st, v, now_us, &out);
    if (rc == 0) {
        fputs(out.data, stdout);
        fflush(stdout);
    }
    kc_buf_free(&out);
}

static void publish_http(app_t *app)
{
    kc_buf_t m, h;
    char errstr[256];
    int status = 503;

    if (!app->httpd) {
        return;
    }
    kc_buf_init(&m);
    kc_buf_init(&h);
    if (kc_sla_metrics_render(&m, app->figs, (size_t)app->view_cnt, &app->figs[app->view_cnt - 1],
                              kc_sla_total_hist(app->sla), &app->rules, &app->st) != 0 ||
        kc_prom_process(&m, errstr, sizeof(errstr)) != 0 ||
        kc_sla_health_json(&h, &app->figs[app->alert_view], &app->rules, &app->st, &status) != 0 ||
        kc_httpd_publish(app->httpd, m.data, m.len, h.data, h.len, status) != 0) {
        kc_log(KC_LOG_WARN, "metrics not refreshed (rendering failed)");
    }
    kc_buf_free(&m);
    kc_buf_free(&h);
}

/* ------------------------------------------------------------------------
 * Setup and loops
 * ------------------------------------------------------------------------ */

static int app_init(app_t *app, char *errstr, size_t errstr_size)
{
    kc_sla_opts_t o = {.target_us = app->conf.target_ms * 1000,
                       .deadline_us = app->conf.deadline_ms * 1000,
                       .ring_s = app->conf.window_s > 300 ? (int)app->conf.window_s : 300,
                       .start_us = app->started_us};
    const char *pdefaults[] = {"linger.ms", "5", NULL};
    int rc;

    app->st.lag = -1;
    app->st.kafka_up = true;
    app->st.target_ms = app->conf.target_ms;
    app->st.deadline_ms = app->conf.deadline_ms;
    if (!(app->sla = kc_sla_new(&o, errstr, errstr_size)) ||
        (rc = kc_sla_rules_init(&app->rules, &app->rules_conf, errstr, errstr_size)) != 0 ||
        !(app->av = kc_avro_new(KC_AVRO_DEFAULT_REQUEST_ID, (int32_t)app->conf.schema_id_result,
                                errstr, errstr_size)) ||
        !(app->ac = kc_alert_codec_new((int32_t)app->conf.schema_id_alert, errstr, errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if ((rc = consumer_start(app, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (app->once) {
        return once_assign(app, errstr, errstr_size);
    }
    if (*app->conf.topic_alerts &&
        !(app->producer = client_new(app, RD_KAFKA_PRODUCER, pdefaults, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    if (*app->conf.webhook_url) {
        kc_webhook_opts_t wo;
        kc_webhook_opts_defaults(&wo);
        wo.timeout_ms = app->conf.webhook_timeout_ms;
        wo.max_attempts = (int)app->conf.webhook_attempts;
        if (!(app->webhook = kc_webhook_new(app->conf.webhook_url, &wo, errstr, errstr_size))) {
            return KC_ERR_CONFIG;
        }
    }
    if (app->conf.metrics_port > 0 &&
        !(app->httpd = kc_httpd_new(app->conf.metrics_bind, (int)app->conf.metrics_port, 10000,
                                    errstr, errstr_size))) {
        return KC_ERR_IO;
    }
    return 0;
}

static void app_destroy(app_t *app)
{
    /* Exit stays bounded when the cluster is gone: no group leave, short flush. */
    if (app->consumer && app->st.kafka_up) {
        rd_kafka_consumer_close(app->consumer);
        rd_kafka_destroy(app->consumer);
    } else if (app->consumer) {
        rd_kafka_destroy_flags(app->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    if (app->producer) {
        if (rd_kafka_flush(app->producer, app->st.kafka_up ? KAFKA_TIMEOUT_MS : 1000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            kc_log(KC_LOG_ERROR, "%d alert record(s) not delivered at exit",
                   rd_kafka_outq_len(app->producer));
        }
        rd_kafka_destroy(app->producer);
    }
    if (app->webhook) {
        /* Give queued alerts (a RESOLVED at shutdown) a bounded chance to go out. */
        int64_t deadline = kc_mono_us() + 3000000;
        while (kc_webhook_pending(app->webhook) > 0 && kc_mono_us() < deadline) {
            usleep(50000);
        }
        kc_webhook_poll(app->webhook, on_webhook_done, app);
    }
    kc_webhook_destroy(app->webhook);
    kc_httpd_destroy(app->httpd);
    if (app->ends) {
        rd_kafka_topic_partition_list_destroy(app->ends);
    }
    kc_alert_codec_destroy(app->ac);
    kc_avro_destroy(app->av);
    kc_sla_destroy(app->sla);
    kc_sla_conf_free(&app->conf);
}

static bool due(int64_t now_us, int64_t *last_us, int64_t every_s)
{
    if (every_s <= 0 || now_us - *last_us < every_s * 1000000) {
        return false;
    }
    *last_us = now_us;
    return true;
}

static void live_loop(app_t *app)
{
    kc_log(KC_LOG_INFO,
           "watching %s: window %" PRId64 " s, target %" PRId64 " ms, deadline %" PRId64
           " ms, eval every %" PRId64 " s",
           app->conf.topic_replies, app->conf.window_s, app->conf.target_ms, app->conf.deadline_ms,
           app->conf.eval_s);
    if (app->httpd) {
        kc_log(KC_LOG_INFO, "metrics and health on http://%s:%d/metrics", app->conf.metrics_bind,
               kc_httpd_port(app->httpd));
    }
    app->last_eval_us = app->last_report_us = app->last_resend_us = app->started_us;
    while (run) {
        int64_t now_us;
        bool pub, ev, rep, resend;

        consume(app, 100);
        if (app->producer) {
            rd_kafka_poll(app->producer, 0);
        }
        if (app->webhook) {
            kc_webhook_poll(app->webhook, on_webhook_done, app);
        }
        now_us = kc_now_us();
        pub = due(now_us, &app->last_publish_us, 1);
        ev = due(now_us, &app->last_eval_us, app->conf.eval_s);
        rep = due(now_us, &app->last_report_us, app->conf.report_s);
        resend = app->webhook && due(now_us, &app->last_resend_us, app->conf.webhook_resend_s);
        if (pub || ev || rep || resend) {
            compute_figs(app, now_us);
        }
        if (ev && evaluate(app, now_us) > 0) {
            pub = true; /* /health shows a state change at once */
        }
        if (resend) {
            resend_firing(app, now_us);
        }
        if (rep) {
            report(app, app->figs, app->view_cnt, NULL, now_us);
        }
        if (pub) {
            publish_http(app);
        }
    }
}

/* @returns 0 when the end was reached, else EXIT_RUNTIME. */
static int once_loop(app_t *app)
{
    app->last_progress_us = kc_now_us();
    while (run && !once_done(app)) {
        consume(app, 100);
        if (kc_now_us() - app->last_progress_us > ONCE_IDLE_US) {
            kc_log(KC_LOG_ERROR, "no progress for %lld s before the end of %s: giving up",
                   ONCE_IDLE_US / 1000000, app->conf.topic_replies);
            return EXIT_RUNTIME;
        }
    }
    return run ? 0 : EXIT_RUNTIME;
}

static int final_report(app_t *app)
{
    int64_t now_us = kc_now_us();
    kc_sla_figures_t total;
    kc_sla_verdict_t v;
    char errstr[256];

    if (kc_sla_figures(app->sla, KC_SLA_WINDOW_TOTAL, now_us, &total, errstr, sizeof(errstr))) {
        kc_log(KC_LOG_ERROR, "final figures: %s", errstr);
        return EXIT_RUNTIME;
    }
    kc_sla_verdict(&app->rules_conf, &total, &v);
    report(app, &total, 1, &v, now_us);
    return v.compliant ? 0 : EXIT_NONCOMPLIANT;
}

static void set_instance(app_t *app)
{
    if (*app->conf.instance) {
        snprintf(app->instance, sizeof(app->instance), "%s", app->conf.instance);
    } else if (gethostname(app->instance, sizeof(app->instance)) != 0) {
        snprintf(app->instance, sizeof(app->instance), "kclassify-sla");
    }
    app->instance[sizeof(app->instance) - 1] = '\0';
}

int main(int argc, char **argv)
{
    static app_t app;
    char errstr[512];
    struct sigaction sa;
    int rc;

    if (kc_sla_conf_init(&app.conf, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        return EXIT_USAGE;
    }
    if ((rc = parse_args(argc, argv, &app)) != 0 || (rc = setup_log(&app) ? EXIT_USAGE : 0)) {
        kc_sla_conf_free(&app.conf);
        return rc == HELP_SHOWN ? 0 : rc;
    }
    if (!kc_conf_kv_get(&app.conf.kafka, "bootstrap.servers")) {
        fprintf(stderr, "%% no brokers: use -b BROKERS or kafka.bootstrap.servers\n");
        kc_sla_conf_free(&app.conf);
        return EXIT_USAGE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    set_instance(&app);
    setup_views(&app);
    app.started_us = kc_now_us();
    if ((rc = app_init(&app, errstr, sizeof(errstr))) != 0) {
        fprintf(stderr, "%% %s\n", errstr);
        app_destroy(&app);
        return rc == KC_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (app.once) {
        rc = once_loop(&app);
        rc = rc ? rc : final_report(&app);
    } else {
        live_loop(&app);
        final_report(&app); /* the verdict of a live run is informative only */
        rc = 0;
    }
    app_destroy(&app);
    return rc;
}
