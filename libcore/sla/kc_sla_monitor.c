/*
 * kclassify - the SLA monitor's loop (kclassify-sla): consumes
 * ClassificationResult records from the replies topic in its own group, keeps
 * per-second latency histograms, evaluates the alert rules with hysteresis,
 * publishes SlaAlert records, logs and POSTs alerts to Alertmanager, hands
 * reports to its output callback and serves /metrics and /health. With `once`
 * it reads the topic up to its end and gives a verdict.
 *
 * One event loop: Kafka poll, timers (publish 1 s, eval, report, resend). The
 * webhook thread and the HTTP server thread only exchange copies with it.
 */
#include "kc_sla_monitor.h"

#include "kc_alert.h"
#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_httpd.h"
#include "kc_kafka.h"
#include "kc_log.h"
#include "kc_prom.h"
#include "kc_sla.h"
#include "kc_sla_kafka.h"
#include "kc_sla_report.h"
#include "kc_time.h"
#include "kc_webhook.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_VIEWS          4
#define KAFKA_TIMEOUT_MS   5000
#define LAG_REFRESH_US     (30 * 1000000LL)
#define ONCE_IDLE_US       (30 * 1000000LL) /* once gives up without progress */
#define MAX_LOGGED_DECODES 10

struct kc_sla_monitor_s {
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
    volatile sig_atomic_t *run; /* kc_sla_monitor_run() until *run is 0 */
    kc_sla_output_cb_t *output_cb;
    void *opaque;
};

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

/* 10 s, the alerting window, 300 s (deduplicated, ascending), then since start. */
static void setup_views(kc_sla_monitor_t *mon)
{
    const int want[3] = {10, (int)mon->conf.window_s, 300};

    mon->view_cnt = 0;
    for (int i = 0; i < 3; i++) {
        if (mon->view_cnt > 0 && mon->views[mon->view_cnt - 1] == want[i]) {
            continue;
        }
        if (mon->view_cnt > 0 && mon->views[mon->view_cnt - 1] > want[i]) {
            mon->views[mon->view_cnt] = mon->views[mon->view_cnt - 1];
            mon->views[mon->view_cnt - 1] = want[i];
            mon->view_cnt++;
            continue;
        }
        mon->views[mon->view_cnt++] = want[i];
    }
    mon->views[mon->view_cnt++] = KC_SLA_WINDOW_TOTAL;
    for (int i = 0; i < mon->view_cnt; i++) {
        if (mon->views[i] == mon->conf.window_s) {
            mon->alert_view = i;
        }
    }
}

/* ------------------------------------------------------------------------
 * Kafka clients
 * ------------------------------------------------------------------------ */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kc_sla_monitor_t *mon = opaque;
    kc_log_level_t level = KC_LOG_WARN;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        mon->st.kafka_up = false; /* until a message, an EOF or a lag query succeeds */
        level = KC_LOG_ERROR;
    } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        level = KC_LOG_DEBUG; /* librdkafka's own log line said it already */
    }
    kc_log(level, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kc_sla_monitor_t *mon = opaque;

    (void)rk;
    if (m->err) {
        mon->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert not delivered to %s: %s", rd_kafka_topic_name(m->rkt),
               rd_kafka_err2str(m->err));
    } else {
        mon->st.alerts_published++;
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

static rd_kafka_t *client_new(kc_sla_monitor_t *mon, rd_kafka_type_t type,
                              const char *const *defaults, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf =
        kc_kafka_conf_new(type == RD_KAFKA_PRODUCER ? KC_KAFKA_PRODUCER : KC_KAFKA_CONSUMER,
                          defaults, &mon->conf.kafka, errstr, errstr_size);
    rd_kafka_t *rk;

    if (!kconf) {
        return NULL;
    }
    rd_kafka_conf_set_opaque(kconf, mon);
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

static int consumer_start(kc_sla_monitor_t *mon, char *errstr, size_t errstr_size)
{
    /* --once without --from-beginning resumes from the group's offsets and
     * commits, so consecutive runs judge consecutive stretches. */
    const char *defaults[] = {"group.id",
                              "kclassify-sla",
                              "auto.offset.reset",
                              mon->once ? "earliest" : "latest",
                              "enable.partition.eof",
                              "true",
                              "enable.auto.commit",
                              mon->from_beginning ? "false" : "true",
                              NULL};
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t err;

    if (!(mon->consumer = client_new(mon, RD_KAFKA_CONSUMER, defaults, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(mon->consumer);
    if (mon->once) {
        return 0; /* assigned after the watermarks are known */
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, mon->conf.topic_replies, RD_KAFKA_PARTITION_UA);
    if (mon->from_beginning) {
        /* No group management: every partition from its first retained offset. */
        rd_kafka_topic_partition_list_destroy(topics);
        if (kc_sla_kafka_watermarks(mon->consumer, mon->conf.topic_replies, KAFKA_TIMEOUT_MS,
                                    &topics, errstr, errstr_size) != 0) {
            return KC_ERR_KAFKA;
        }
        for (int i = 0; i < topics->cnt; i++) {
            topics->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        err = rd_kafka_assign(mon->consumer, topics);
    } else {
        err = rd_kafka_subscribe(mon->consumer, topics);
    }
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consuming %s: %s",
                         mon->conf.topic_replies, rd_kafka_err2str(err));
    }
    return 0;
}

/* --once: note where each partition ends now and read up to there. */
static int once_assign(kc_sla_monitor_t *mon, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *assign;
    rd_kafka_resp_err_t err;

    if (kc_sla_kafka_watermarks(mon->consumer, mon->conf.topic_replies, KAFKA_TIMEOUT_MS,
                                &mon->ends, errstr, errstr_size) != 0) {
        return KC_ERR_KAFKA;
    }
    assign = rd_kafka_topic_partition_list_copy(mon->ends);
    for (int i = 0; i < assign->cnt; i++) {
        assign->elems[i].offset =
            mon->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_STORED;
    }
    err = rd_kafka_assign(mon->consumer, assign);
    rd_kafka_topic_partition_list_destroy(assign);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "assign %s: %s",
                         mon->conf.topic_replies, rd_kafka_err2str(err));
    }
    return 0;
}

/* --once: true when every partition has been read up to its end at start. */
static bool once_done(const kc_sla_monitor_t *mon)
{
    for (int i = 0; i < mon->ends->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &mon->ends->elems[i];
        if (p->offset > 0 && p->offset > kc_sla_kafka_low(p)) {
            return false;
        }
    }
    return true;
}

/* Mark partition p read up to next_offset. */
static void once_progress(kc_sla_monitor_t *mon, int32_t partition, int64_t next_offset)
{
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(mon->ends, mon->conf.topic_replies, partition);

    if (p && next_offset >= p->offset) {
        p->offset = 0; /* reached: nothing more to wait for here */
        p->opaque = NULL;
    }
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static void on_reply(kc_sla_monitor_t *mon, const rd_kafka_message_t *m, int64_t now_us)
{
    kc_result_t res;
    char errstr[512];

    memset(&res, 0, sizeof(res));
    if (kc_avro_result_decode(mon->av, m->payload, m->len, &res, errstr, sizeof(errstr)) != 0) {
        if (mon->st.decode_errors++ < MAX_LOGGED_DECODES) {
            kc_log(KC_LOG_WARN, "%s [%d] offset %" PRId64 ": cannot decode: %s%s",
                   rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset, errstr,
                   mon->st.decode_errors == MAX_LOGGED_DECODES ? " (further errors only counted)"
                                                               : "");
        }
        return;
    }
    if (kc_sla_add_result(mon->sla, &res, now_us) != 0) {
        kc_log(KC_LOG_ERROR, "out of memory recording a reply");
    }
    kc_result_clear(&res);
}

static void on_message(kc_sla_monitor_t *mon, rd_kafka_message_t *m, int64_t now_us)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        mon->st.kafka_up = true;
        if (mon->ends) {
            once_progress(mon, m->partition, m->offset);
        }
        return;
    }
    if (m->err) {
        kc_log(KC_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    mon->st.kafka_up = true;
    mon->last_progress_us = now_us;
    on_reply(mon, m, now_us);
    if (mon->ends) {
        once_progress(mon, m->partition, m->offset + 1);
    }
}

/* Up to 10000 messages per turn, so timers still run under a flood. */
static void consume(kc_sla_monitor_t *mon, int timeout_ms)
{
    rd_kafka_message_t *m;

    for (int n = 0; n < 10000; n++) {
        if (!(m = rd_kafka_consumer_poll(mon->consumer, n == 0 ? timeout_ms : 0))) {
            break;
        }
        on_message(mon, m, kc_now_us());
        rd_kafka_message_destroy(m);
    }
}

/* ------------------------------------------------------------------------
 * Figures, alerts, reports, metrics
 * ------------------------------------------------------------------------ */

static void compute_figs(kc_sla_monitor_t *mon, int64_t now_us)
{
    char errstr[256];

    if (mon->figs_at_us == now_us) {
        return;
    }
    for (int i = 0; i < mon->view_cnt; i++) {
        if (kc_sla_figures(mon->sla, mon->views[i], now_us, &mon->figs[i], errstr,
                           sizeof(errstr)) != 0) {
            kc_log(KC_LOG_ERROR, "figures of the %d s window: %s", mon->views[i], errstr);
        }
    }
    mon->figs_at_us = now_us;
}

static void webhook_send(kc_sla_monitor_t *mon, const kc_alert_t *a, int64_t now_us)
{
    kc_buf_t body;
    char errstr[256];
    /* Alertmanager resolves a firing alert by itself after endsAt: tie it to
     * our resend interval, so a monitor that died does not leave it firing. */
    int64_t ends = now_us + 3 * mon->conf.webhook_resend_s * 1000000;
    int rc;

    if (!mon->webhook) {
        return;
    }
    kc_buf_init(&body);
    if ((rc = kc_alert_am_json(a, 1, mon->instance, ends, &body, errstr, sizeof(errstr))) == 0) {
        rc = kc_webhook_post(mon->webhook, body.data, body.len, a->alert_id);
        snprintf(errstr, sizeof(errstr), "%s", kc_strerror(rc));
    }
    if (rc) {
        mon->st.webhook_failed++;
        kc_log(KC_LOG_ERROR, "webhook: alert %s not queued: %s", a->alert_id, errstr);
    }
    kc_buf_free(&body);
}

static void alert_publish(kc_sla_monitor_t *mon, const kc_alert_t *a)
{
    kc_buf_t buf;
    char errstr[256];
    rd_kafka_resp_err_t err;

    if (!mon->producer) {
        return;
    }
    kc_buf_init(&buf);
    if (kc_alert_encode(mon->ac, a, &buf, errstr, sizeof(errstr)) != 0) {
        mon->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert %s: %s", a->alert_id, errstr);
        kc_buf_free(&buf);
        return;
    }
    err = rd_kafka_producev(mon->producer, RD_KAFKA_V_TOPIC(mon->conf.topic_alerts),
                            RD_KAFKA_V_KEY(a->rule, strlen(a->rule)),
                            RD_KAFKA_V_VALUE(buf.data, buf.len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        mon->st.alerts_failed++;
        kc_log(KC_LOG_ERROR, "alert %s not produced: %s", a->alert_id, rd_kafka_err2str(err));
    }
    kc_buf_free(&buf);
}

static void on_alert(kc_sla_monitor_t *mon, const kc_alert_t *a, int64_t now_us)
{
    kc_buf_t line;

    kc_buf_init(&line);
    if (kc_alert_format_line(a, &line) == 0) {
        kc_log(a->state == KC_ALERT_FIRING ? KC_LOG_WARN : KC_LOG_INFO, "%s", line.data);
    }
    kc_buf_free(&line);
    alert_publish(mon, a);
    webhook_send(mon, a, now_us);
}

/* The workers' lag: needed by the silence rule, refreshed when replies stop. */
static void refresh_lag(kc_sla_monitor_t *mon, int64_t now_us, int64_t silent_us)
{
    char errstr[512];
    int64_t lag;
    bool needed = mon->rules_conf.rule[KC_SLA_RULE_SILENCE].enabled &&
                  silent_us >= mon->conf.silence_s * 1000000;

    /* A successful query also tells a cluster that came back while idle. */
    if (!needed && mon->st.kafka_up && now_us - mon->last_lag_us < LAG_REFRESH_US) {
        return;
    }
    mon->last_lag_us = now_us;
    if (kc_sla_kafka_group_lag(mon->consumer, mon->conf.lag_group, mon->conf.topic_requests, 2000,
                               &lag, errstr, sizeof(errstr)) != 0) {
        kc_log(needed ? KC_LOG_WARN : KC_LOG_DEBUG, "lag of %s: %s", mon->conf.lag_group, errstr);
        mon->st.lag = -1;
        return;
    }
    mon->st.lag = lag;
    mon->st.kafka_up = true;
}

/* @returns the number of state changes. */
static size_t evaluate(kc_sla_monitor_t *mon, int64_t now_us)
{
    kc_alert_t events[KC_SLA_RULE__CNT];
    int64_t last = kc_sla_last_seen_us(mon->sla);
    int64_t silent_us = now_us - (last ? last : mon->started_us);
    kc_sla_eval_in_t in = {.fig = &mon->figs[mon->alert_view],
                           .now_us = now_us,
                           .silent_for_us = silent_us,
                           .lag = -1};
    size_t n;

    refresh_lag(mon, now_us, silent_us);
    in.lag = mon->st.lag;
    n = kc_sla_rules_eval(&mon->rules, &in, events);
    for (size_t i = 0; i < n; i++) {
        on_alert(mon, &events[i], now_us);
    }
    return n;
}

static void resend_firing(kc_sla_monitor_t *mon, int64_t now_us)
{
    kc_alert_t a;

    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        if (kc_sla_rules_current(&mon->rules, (kc_sla_rule_id_t)i, &mon->figs[mon->alert_view],
                                 now_us, &a) == 0) {
            webhook_send(mon, &a, now_us);
        }
    }
}

static void on_webhook_done(void *opaque, const char *tag, int ok, int attempts, long http_status,
                            const char *error)
{
    kc_sla_monitor_t *mon = opaque;

    if (ok) {
        mon->st.webhook_ok++;
        kc_log(KC_LOG_DEBUG, "webhook: %s delivered (HTTP %ld, %d attempt(s))", tag, http_status,
               attempts);
    } else {
        mon->st.webhook_failed++;
        kc_log(KC_LOG_ERROR, "webhook: %s not delivered after %d attempt(s): %s", tag, attempts,
               error);
    }
}

static void report(kc_sla_monitor_t *mon, const kc_sla_figures_t *figs, int n,
                   const kc_sla_verdict_t *v, int64_t now_us)
{
    kc_buf_t out;
    int rc;

    kc_buf_init(&out);
    rc = mon->json ? kc_sla_report_json(figs, (size_t)n, &mon->rules, &mon->st, v, now_us, &out)
                   : kc_sla_report_text(figs, (size_t)n, &mon->rules, &mon->st, v, now_us, &out);
    if (rc == 0 && mon->output_cb) {
        mon->output_cb(mon->opaque, out.data, out.len);
    }
    kc_buf_free(&out);
}

static void publish_http(kc_sla_monitor_t *mon)
{
    kc_buf_t m, h;
    char errstr[256];
    int status = 503;

    if (!mon->httpd) {
        return;
    }
    kc_buf_init(&m);
    kc_buf_init(&h);
    if (kc_sla_metrics_render(&m, mon->figs, (size_t)mon->view_cnt, &mon->figs[mon->view_cnt - 1],
                              kc_sla_total_hist(mon->sla), &mon->rules, &mon->st) != 0 ||
        kc_prom_process(&m, errstr, sizeof(errstr)) != 0 ||
        kc_sla_health_json(&h, &mon->figs[mon->alert_view], &mon->rules, &mon->st, &status) != 0 ||
        kc_httpd_publish(mon->httpd, m.data, m.len, h.data, h.len, status) != 0) {
        kc_log(KC_LOG_WARN, "metrics not refreshed (rendering failed)");
    }
    kc_buf_free(&m);
    kc_buf_free(&h);
}

/* ------------------------------------------------------------------------
 * Setup and loops
 * ------------------------------------------------------------------------ */

static int monitor_init(kc_sla_monitor_t *mon, char *errstr, size_t errstr_size)
{
    kc_sla_opts_t o = {.target_us = mon->conf.target_ms * 1000,
                       .deadline_us = mon->conf.deadline_ms * 1000,
                       .ring_s = mon->conf.window_s > 300 ? (int)mon->conf.window_s : 300,
                       .start_us = mon->started_us};
    const char *pdefaults[] = {"linger.ms", "5", NULL};
    int rc;

    mon->st.lag = -1;
    mon->st.kafka_up = true;
    mon->st.target_ms = mon->conf.target_ms;
    mon->st.deadline_ms = mon->conf.deadline_ms;
    if (!(mon->sla = kc_sla_new(&o, errstr, errstr_size)) ||
        (rc = kc_sla_rules_init(&mon->rules, &mon->rules_conf, errstr, errstr_size)) != 0 ||
        !(mon->av = kc_avro_new(KC_AVRO_DEFAULT_REQUEST_ID, (int32_t)mon->conf.schema_id_result,
                                errstr, errstr_size)) ||
        !(mon->ac = kc_alert_codec_new((int32_t)mon->conf.schema_id_alert, errstr, errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if ((rc = consumer_start(mon, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (mon->once) {
        return once_assign(mon, errstr, errstr_size);
    }
    if (*mon->conf.topic_alerts &&
        !(mon->producer = client_new(mon, RD_KAFKA_PRODUCER, pdefaults, errstr, errstr_size))) {
        return KC_ERR_KAFKA;
    }
    if (*mon->conf.webhook_url) {
        kc_webhook_opts_t wo;
        kc_webhook_opts_defaults(&wo);
        wo.timeout_ms = mon->conf.webhook_timeout_ms;
        wo.max_attempts = (int)mon->conf.webhook_attempts;
        if (!(mon->webhook = kc_webhook_new(mon->conf.webhook_url, &wo, errstr, errstr_size))) {
            return KC_ERR_CONFIG;
        }
    }
    if (mon->conf.metrics_port > 0 &&
        !(mon->httpd = kc_httpd_new(mon->conf.metrics_bind, (int)mon->conf.metrics_port, 10000,
                                    errstr, errstr_size))) {
        return KC_ERR_IO;
    }
    return 0;
}

static void monitor_close(kc_sla_monitor_t *mon)
{
    /* Exit stays bounded when the cluster is gone: no group leave, short flush. */
    if (mon->consumer && mon->st.kafka_up) {
        rd_kafka_consumer_close(mon->consumer);
        rd_kafka_destroy(mon->consumer);
    } else if (mon->consumer) {
        rd_kafka_destroy_flags(mon->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    if (mon->producer) {
        if (rd_kafka_flush(mon->producer, mon->st.kafka_up ? KAFKA_TIMEOUT_MS : 1000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            kc_log(KC_LOG_ERROR, "%d alert record(s) not delivered at exit",
                   rd_kafka_outq_len(mon->producer));
        }
        rd_kafka_destroy(mon->producer);
    }
    if (mon->webhook) {
        /* Give queued alerts (a RESOLVED at shutdown) a bounded chance to go out. */
        int64_t deadline = kc_mono_us() + 3000000;
        while (kc_webhook_pending(mon->webhook) > 0 && kc_mono_us() < deadline) {
            usleep(50000);
        }
        kc_webhook_poll(mon->webhook, on_webhook_done, mon);
    }
    kc_webhook_destroy(mon->webhook);
    kc_httpd_destroy(mon->httpd);
    if (mon->ends) {
        rd_kafka_topic_partition_list_destroy(mon->ends);
    }
    kc_alert_codec_destroy(mon->ac);
    kc_avro_destroy(mon->av);
    kc_sla_destroy(mon->sla);
    kc_sla_conf_free(&mon->conf);
}

static bool due(int64_t now_us, int64_t *last_us, int64_t every_s)
{
    if (every_s <= 0 || now_us - *last_us < every_s * 1000000) {
        return false;
    }
    *last_us = now_us;
    return true;
}

static void live_loop(kc_sla_monitor_t *mon)
{
    kc_log(KC_LOG_INFO,
           "watching %s: window %" PRId64 " s, target %" PRId64 " ms, deadline %" PRId64
           " ms, eval every %" PRId64 " s",
           mon->conf.topic_replies, mon->conf.window_s, mon->conf.target_ms, mon->conf.deadline_ms,
           mon->conf.eval_s);
    if (mon->httpd) {
        kc_log(KC_LOG_INFO, "metrics and health on http://%s:%d/metrics", mon->conf.metrics_bind,
               kc_httpd_port(mon->httpd));
    }
    mon->last_eval_us = mon->last_report_us = mon->last_resend_us = mon->started_us;
    while (*mon->run) {
        int64_t now_us;
        bool pub, ev, rep, resend;

        consume(mon, 100);
        if (mon->producer) {
            rd_kafka_poll(mon->producer, 0);
        }
        if (mon->webhook) {
            kc_webhook_poll(mon->webhook, on_webhook_done, mon);
        }
        now_us = kc_now_us();
        pub = due(now_us, &mon->last_publish_us, 1);
        ev = due(now_us, &mon->last_eval_us, mon->conf.eval_s);
        rep = due(now_us, &mon->last_report_us, mon->conf.report_s);
        resend = mon->webhook && due(now_us, &mon->last_resend_us, mon->conf.webhook_resend_s);
        if (pub || ev || rep || resend) {
            compute_figs(mon, now_us);
        }
        if (ev && evaluate(mon, now_us) > 0) {
            pub = true; /* /health shows a state change at once */
        }
        if (resend) {
            resend_firing(mon, now_us);
        }
        if (rep) {
            report(mon, mon->figs, mon->view_cnt, NULL, now_us);
        }
        if (pub) {
            publish_http(mon);
        }
    }
}

/* @returns 0 when the end was reached, KC_ERR_TIMEOUT without progress,
 * KC_ERR_STATE when stopped before it. */
static int once_loop(kc_sla_monitor_t *mon)
{
    mon->last_progress_us = kc_now_us();
    while (*mon->run && !once_done(mon)) {
        consume(mon, 100);
        if (kc_now_us() - mon->last_progress_us > ONCE_IDLE_US) {
            kc_log(KC_LOG_ERROR, "no progress for %lld s before the end of %s: giving up",
                   ONCE_IDLE_US / 1000000, mon->conf.topic_replies);
            return KC_ERR_TIMEOUT;
        }
    }
    return *mon->run ? 0 : KC_ERR_STATE;
}

static int final_report(kc_sla_monitor_t *mon)
{
    int64_t now_us = kc_now_us();
    kc_sla_figures_t total;
    kc_sla_verdict_t v;
    char errstr[256];

    int rc;

    if ((rc = kc_sla_figures(mon->sla, KC_SLA_WINDOW_TOTAL, now_us, &total, errstr,
                             sizeof(errstr))) != 0) {
        kc_log(KC_LOG_ERROR, "final figures: %s", errstr);
        return rc;
    }
    kc_sla_verdict(&mon->rules_conf, &total, &v);
    report(mon, &total, 1, &v, now_us);
    return v.compliant ? 0 : KC_SLA_NONCOMPLIANT;
}

static void set_instance(kc_sla_monitor_t *mon)
{
    if (*mon->conf.instance) {
        snprintf(mon->instance, sizeof(mon->instance), "%s", mon->conf.instance);
    } else if (gethostname(mon->instance, sizeof(mon->instance)) != 0) {
        snprintf(mon->instance, sizeof(mon->instance), "kclassify-sla");
    }
    mon->instance[sizeof(mon->instance) - 1] = '\0';
}

/* ------------------------------------------------------------------------
 * API
 * ------------------------------------------------------------------------ */

kc_sla_monitor_t *kc_sla_monitor_new(kc_sla_conf_t *conf, const kc_sla_rules_conf_t *rules_conf,
                                     const kc_sla_monitor_opts_t *opts, int *rcp, char *errstr,
                                     size_t errstr_size)
{
    kc_sla_monitor_t *mon = calloc(1, sizeof(*mon));
    int rc;

    if (!mon) {
        kc_sla_conf_free(conf);
        *rcp = kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    mon->conf = *conf; /* taken over: freed by kc_sla_monitor_destroy() */
    memset(conf, 0, sizeof(*conf));
    mon->rules_conf = *rules_conf;
    mon->json = opts->json;
    mon->once = opts->once;
    mon->from_beginning = opts->from_beginning;
    mon->output_cb = opts->output_cb;
    mon->opaque = opts->opaque;
    set_instance(mon);
    setup_views(mon);
    mon->started_us = kc_now_us();
    if ((rc = monitor_init(mon, errstr, errstr_size)) != 0) {
        kc_sla_monitor_destroy(mon);
        *rcp = rc;
        return NULL;
    }
    *rcp = 0;
    return mon;
}

int kc_sla_monitor_run(kc_sla_monitor_t *mon, volatile sig_atomic_t *run)
{
    int rc;

    mon->run = run;
    if (mon->once) {
        rc = once_loop(mon);
        return rc ? rc : final_report(mon);
    }
    live_loop(mon);
    final_report(mon); /* the verdict of a live run is informative only */
    return 0;
}

void kc_sla_monitor_destroy(kc_sla_monitor_t *mon)
{
    if (!mon) {
        return;
    }
    monitor_close(mon);
    free(mon);
}
