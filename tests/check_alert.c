/* Unit tests for kc_alert (SlaAlert Avro codec, log line, Alertmanager payload)
 * and kc_webhook (POST with retry against a scripted loopback HTTP server). */
#define _GNU_SOURCE /* strcasestr */
#include "kc_alert.h"
#include "kc_err.h"
#include "kc_webhook.h"

#include <arpa/inet.h>
#include "kc_check.h"

#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T0 INT64_C(1700000000123456)

static kc_alert_t sample_alert(kc_alert_state_t state)
{
    kc_alert_t a;

    memset(&a, 0, sizeof(a));
    snprintf(a.alert_id, sizeof(a.alert_id), "p95_latency-%lld", (long long)T0);
    snprintf(a.rule, sizeof(a.rule), "p95_latency");
    snprintf(a.alertname, sizeof(a.alertname), "KclassifySlaP95Latency");
    snprintf(a.severity, sizeof(a.severity), "warning");
    snprintf(a.summary, sizeof(a.summary), "p95 latency 1873.0 ms above the \"1500\" ms\ntarget");
    a.state = state;
    a.window_s = 60;
    a.observed = 1873.25;
    a.threshold = 1500;
    a.started_at = T0;
    a.at = state == KC_ALERT_FIRING ? T0 : T0 + 65000000;
    a.p50_us = 900000;
    a.p95_us = 1873250;
    a.p99_us = 2100000;
    a.max_us = 2400000;
    a.count = 812;
    return a;
}

/* ------------------------------------------------------------------------
 * Avro
 * ------------------------------------------------------------------------ */

START_TEST(test_avro_roundtrip)
{
    char errstr[256];
    kc_alert_codec_t *ac = kc_alert_codec_new(3, errstr, sizeof(errstr));
    kc_alert_t in = sample_alert(KC_ALERT_RESOLVED), out;
    kc_buf_t b;

    ck_assert_msg(ac != NULL, "codec: %s", errstr);
    kc_buf_init(&b);
    ck_assert_msg(kc_alert_encode(ac, &in, &b, errstr, sizeof(errstr)) == 0, "encode: %s", errstr);
    ck_assert_msg(b.len > 5 && b.data[0] == 0 && b.data[4] == 3, "schema-registry framing");
    ck_assert_msg(kc_alert_decode(ac, b.data, b.len, &out, errstr, sizeof(errstr)) == 0,
                  "decode: %s", errstr);
    ck_assert_str_eq(out.alert_id, in.alert_id);
    ck_assert_str_eq(out.rule, in.rule);
    ck_assert_str_eq(out.summary, in.summary);
    ck_assert_int_eq(out.state, KC_ALERT_RESOLVED);
    ck_assert_int_eq(out.window_s, 60);
    ck_assert_double_eq(out.observed, 1873.25);
    ck_assert_double_eq(out.threshold, 1500);
    ck_assert_int_eq(out.at, in.at);
    ck_assert_int_eq(out.p50_us, in.p50_us);
    ck_assert_int_eq(out.p95_us, in.p95_us);
    ck_assert_int_eq(out.p99_us, in.p99_us);
    ck_assert_int_eq(out.max_us, in.max_us);
    ck_assert_int_eq(out.count, 812);
    kc_buf_free(&b);
    kc_alert_codec_destroy(ac);
}
END_TEST

START_TEST(test_avro_rejects)
{
    char errstr[256];
    kc_alert_codec_t *ac = kc_alert_codec_new(3, errstr, sizeof(errstr));
    kc_alert_codec_t *other = kc_alert_codec_new(9, errstr, sizeof(errstr));
    kc_alert_t in = sample_alert(KC_ALERT_FIRING), out;
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_alert_encode(ac, &in, &b, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(kc_alert_decode(other, b.data, b.len, &out, errstr, sizeof(errstr)),
                     KC_ERR_DECODE);
    ck_assert_msg(strstr(errstr, "schema id 3"), "errstr: %s", errstr);
    ck_assert_int_eq(kc_alert_decode(ac, b.data, b.len - 3, &out, errstr, sizeof(errstr)),
                     KC_ERR_DECODE);
    ck_assert_int_eq(kc_alert_decode(ac, b.data, 3, &out, errstr, sizeof(errstr)), KC_ERR_DECODE);
    b.data[0] = 1;
    ck_assert_int_eq(kc_alert_decode(ac, b.data, b.len, &out, errstr, sizeof(errstr)),
                     KC_ERR_DECODE);
    ck_assert_msg(strstr(errstr, "magic"), "errstr: %s", errstr);
    kc_buf_free(&b);
    kc_alert_codec_destroy(ac);
    kc_alert_codec_destroy(other);
    kc_alert_codec_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Text forms
 * ------------------------------------------------------------------------ */

START_TEST(test_log_line)
{
    kc_alert_t a = sample_alert(KC_ALERT_FIRING);
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_alert_format_line(&a, &b), 0);
    ck_assert_msg(strncmp(b.data, "ALERT FIRING p95_latency id=p95_latency-", 40) == 0, "%s",
                  b.data);
    ck_assert_msg(strstr(b.data, "observed=1873.250 threshold=1500.000 window=60s count=812"), "%s",
                  b.data);
    ck_assert_msg(!strchr(b.data, '\n'), "the line must stay one line: %s", b.data);
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_rfc3339)
{
    char ts[32];
    kc_alert_rfc3339(T0, ts);
    ck_assert_str_eq(ts, "2023-11-14T22:13:20.123Z");
    kc_alert_rfc3339(0, ts);
    ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(test_alertmanager_json)
{
    kc_alert_t a[2] = {sample_alert(KC_ALERT_FIRING), sample_alert(KC_ALERT_RESOLVED)};
    kc_buf_t b;
    json_t *root, *al, *labels, *ann;
    json_error_t jerr;
    char errstr[128];

    kc_buf_init(&b);
    ck_assert_int_eq(kc_alert_am_json(a, 2, "host-1", T0 + 180000000, &b, errstr, sizeof(errstr)),
                     0);
    root = json_loads(b.data, 0, &jerr);
    ck_assert_msg(root && json_is_array(root) && json_array_size(root) == 2, "payload: %s", b.data);
    al = json_array_get(root, 0);
    labels = json_object_get(al, "labels");
    ann = json_object_get(al, "annotations");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "alertname")),
                     "KclassifySlaP95Latency");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "rule")), "p95_latency");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "severity")), "warning");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "instance")), "host-1");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "service")), "kclassify");
    ck_assert_msg(json_object_size(labels) == 5, "labels must hold only stable values");
    ck_assert_str_eq(json_string_value(json_object_get(ann, "summary")), a[0].summary);
    ck_assert_str_eq(json_string_value(json_object_get(ann, "alert_id")), a[0].alert_id);
    ck_assert_str_eq(json_string_value(json_object_get(ann, "observed")), "1873.250");
    ck_assert_str_eq(json_string_value(json_object_get(al, "startsAt")),
                     "2023-11-14T22:13:20.123Z");
    ck_assert_str_eq(json_string_value(json_object_get(al, "endsAt")), "2023-11-14T22:16:20.123Z");
    al = json_array_get(root, 1);
    ck_assert_str_eq(json_string_value(json_object_get(al, "startsAt")),
                     "2023-11-14T22:13:20.123Z");
    ck_assert_str_eq(json_string_value(json_object_get(al, "endsAt")), "2023-11-14T22:14:25.123Z");
    json_decref(root);

    kc_buf_reset(&b);
    ck_assert_int_eq(kc_alert_am_json(a, 1, NULL, 0, &b, errstr, sizeof(errstr)), 0);
    ck_assert_msg(!strstr(b.data, "endsAt") && !strstr(b.data, "instance"),
                  "firing without an end and no instance: %s", b.data);
    ck_assert_int_eq(kc_alert_am_json(a, 0, NULL, 0, &b, errstr, sizeof(errstr)), KC_ERR_INVALID);
    kc_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------------
 * Webhook against a scripted HTTP server
 * ------------------------------------------------------------------------ */

/* The suite links with -Wl,--wrap=clock_gettime: while wall_skew_s is set,
 * our code reads a wall clock that far off (a clock step), while the
 * kernel's timed waits still run on the real one. */
static int64_t wall_skew_s;
int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = __real_clock_gettime(id, ts);
    if (rc == 0 && id == CLOCK_REALTIME) {
        ts->tv_sec += wall_skew_s;
    }
    return rc;
}

typedef struct srv_s {
    int fd, port;
    const int *statuses; /* answer i gets statuses[i]; 0 ends the script (then 200) */
    int served;
    char bodies[8][512];
    pthread_t thread;
} srv_t;

static void serve_one(srv_t *s, int c)
{
    char req[4096], resp[128];
    size_t len = 0;
    long clen = 0;
    char *hdr_end = NULL, *cl;
    int status;

    while (len < sizeof(req) - 1) {
        ssize_t n = read(c, req + len, sizeof(req) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        req[len] = '\0';
        if (!hdr_end && (hdr_end = strstr(req, "\r\n\r\n")) != NULL &&
            (cl = strcasestr(req, "Content-Length:")) != NULL) {
            clen = strtol(cl + 15, NULL, 10);
        }
        if (hdr_end && (long)(len - (size_t)(hdr_end + 4 - req)) >= clen) {
            break;
        }
    }
    if (hdr_end && s->served < 8) {
        snprintf(s->bodies[s->served], sizeof(s->bodies[0]), "%s", hdr_end + 4);
    }
    status = s->statuses[s->served] ? s->statuses[s->served] : 200;
    s->served++;
    snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             status);
    if (write(c, resp, strlen(resp)) < 0) {
        return;
    }
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    int c;

    while ((c = accept(s->fd, NULL, NULL)) >= 0) {
        serve_one(s, c);
        close(c);
    }
    return NULL;
}

static void srv_start(srv_t *s, const int *statuses)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);

    memset(s, 0, sizeof(*s));
    s->statuses = statuses;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(s->fd >= 0);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(s->fd, 8), 0);
    getsockname(s->fd, (struct sockaddr *)&sin, &sl);
    s->port = ntohs(sin.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(srv_t *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

typedef struct outcome_s {
    int n, ok, attempts;
    long status;
    char tag[64];
} outcome_t;

static void on_done(void *opaque, const char *tag, int ok, int attempts, long http_status,
                    const char *error)
{
    outcome_t *o = opaque;
    (void)error;
    o->n++;
    o->ok = ok;
    o->attempts = attempts;
    o->status = http_status;
    snprintf(o->tag, sizeof(o->tag), "%s", tag);
}

static outcome_t post_and_wait(int port, const int *statuses_unused, const char *body,
                               int max_attempts)
{
    kc_webhook_opts_t o;
    kc_webhook_t *wh;
    char url[64], errstr[128];
    outcome_t out = {0};

    (void)statuses_unused;
    kc_webhook_opts_defaults(&o);
    o.backoff_ms = 10;
    o.max_attempts = max_attempts;
    o.timeout_ms = 2000;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v2/alerts", port);
    wh = kc_webhook_new(url, &o, errstr, sizeof(errstr));
    ck_assert_msg(wh != NULL, "%s", errstr);
    ck_assert_int_eq(kc_webhook_post(wh, body, strlen(body), "tag-1"), 0);
    for (int i = 0; i < 500 && out.n == 0; i++) {
        usleep(10000);
        kc_webhook_poll(wh, on_done, &out);
    }
    ck_assert_uint_eq(kc_webhook_pending(wh), 0);
    kc_webhook_destroy(wh);
    return out;
}

START_TEST(test_webhook_retries_then_succeeds)
{
    static const int script[] = {503, 429, 0};
    srv_t s;
    outcome_t o;

    srv_start(&s, script);
    o = post_and_wait(s.port, script, "[{\"labels\":{}}]", 5);
    ck_assert_msg(o.n == 1 && o.ok && o.attempts == 3 && o.status == 200,
                  "outcome n=%d ok=%d attempts=%d status=%ld", o.n, o.ok, o.attempts, o.status);
    ck_assert_str_eq(o.tag, "tag-1");
    ck_assert_int_eq(s.served, 3);
    ck_assert_str_eq(s.bodies[2], "[{\"labels\":{}}]");
    srv_stop(&s);
}
END_TEST

/* A wall clock an hour ahead of the kernel's does not turn a 10 ms backoff
 * into an hour (the backoff waits on the monotonic clock). */
START_TEST(test_webhook_backoff_monotonic)
{
    static const int script[] = {503, 0};
    srv_t s;
    outcome_t o;

    srv_start(&s, script);
    wall_skew_s = 3600;
    o = post_and_wait(s.port, script, "[]", 3);
    wall_skew_s = 0;
    ck_assert_msg(o.n == 1 && o.ok && o.attempts == 2, "outcome n=%d ok=%d attempts=%d", o.n, o.ok,
                  o.attempts);
    srv_stop(&s);
}
END_TEST

START_TEST(test_webhook_gives_up)
{
    static const int all_fail[] = {500, 500, 500, 500, 0};
    static const int bad_request[] = {400, 0};
    srv_t s;
    outcome_t o;

    srv_start(&s, all_fail);
    o = post_and_wait(s.port, all_fail, "[]", 3);
    ck_assert_msg(o.n == 1 && !o.ok && o.attempts == 3 && o.status == 500,
                  "outcome n=%d ok=%d attempts=%d status=%ld", o.n, o.ok, o.attempts, o.status);
    srv_stop(&s);

    /* a 4xx is the payload's fault: not retried */
    srv_start(&s, bad_request);
    o = post_and_wait(s.port, bad_request, "[]", 5);
    ck_assert_msg(o.n == 1 && !o.ok && o.attempts == 1 && o.status == 400,
                  "outcome n=%d ok=%d attempts=%d status=%ld", o.n, o.ok, o.attempts, o.status);
    srv_stop(&s);
}
END_TEST

START_TEST(test_webhook_connection_refused_and_bad_url)
{
    srv_t s;
    int port;
    outcome_t o;
    char errstr[128];

    static const int none[] = {0};
    srv_start(&s, none);
    port = s.port;
    srv_stop(&s); /* nobody listens there now */
    o = post_and_wait(port, none, "[]", 2);
    ck_assert_msg(o.n == 1 && !o.ok && o.attempts == 2 && o.status == 0,
                  "outcome n=%d ok=%d attempts=%d status=%ld", o.n, o.ok, o.attempts, o.status);
    ck_assert_ptr_null(kc_webhook_new("ftp://x", NULL, errstr, sizeof(errstr)));
    ck_assert_ptr_null(kc_webhook_new(NULL, NULL, errstr, sizeof(errstr)));
    kc_webhook_destroy(NULL);
}
END_TEST

static Suite *alert_suite(void)
{
    Suite *s = suite_create("alert");
    TCase *tc;

    tc = tcase_create("avro");
    tcase_add_test(tc, test_avro_roundtrip);
    tcase_add_test(tc, test_avro_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_test(tc, test_log_line);
    tcase_add_test(tc, test_rfc3339);
    tcase_add_test(tc, test_alertmanager_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("webhook");
    tcase_add_test(tc, test_webhook_retries_then_succeeds);
    tcase_add_test(tc, test_webhook_backoff_monotonic);
    tcase_add_test(tc, test_webhook_gives_up);
    tcase_add_test(tc, test_webhook_connection_refused_and_bad_url);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(alert_suite());
}
