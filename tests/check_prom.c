/* Unit tests for kc_prom: Prometheus text format rendering and process metrics. */
#include "kc_err.h"
#include "kc_hist.h"
#include "kc_prom.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

START_TEST(test_family_and_samples)
{
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_prom_family(&b, "kclassify_replies_total", "Replies.\nBy status \\ source",
                                    KC_PROM_COUNTER),
                     0);
    ck_assert_int_eq(kc_prom_sample(&b, "kclassify_replies_total",
                                    (const char *[]){"status", "OK", "source", "L1", NULL}, 42),
                     0);
    ck_assert_int_eq(kc_prom_sample(&b, "kclassify_replies_total", NULL, 0.25), 0);
    ck_assert_str_eq(b.data, "# HELP kclassify_replies_total Replies.\\nBy status \\\\ source\n"
                             "# TYPE kclassify_replies_total counter\n"
                             "kclassify_replies_total{status=\"OK\",source=\"L1\"} 42\n"
                             "kclassify_replies_total 0.25\n");
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_label_escaping)
{
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_prom_sample(&b, "m", (const char *[]){"l", "a\"b\\c\nd", NULL}, 1), 0);
    ck_assert_str_eq(b.data, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_values)
{
    kc_buf_t b;

    kc_buf_init(&b);
    kc_prom_sample(&b, "a", NULL, NAN);
    kc_prom_sample(&b, "b", NULL, INFINITY);
    kc_prom_sample(&b, "c", NULL, -INFINITY);
    kc_prom_sample(&b, "d", NULL, 1e20);
    kc_prom_sample(&b, "e", NULL, -3);
    kc_prom_sample(&b, "f", NULL, 0.1);
    ck_assert_str_eq(b.data, "a NaN\nb +Inf\nc -Inf\nd 1e+20\ne -3\nf 0.1\n");
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_invalid_names)
{
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_prom_sample(&b, "9lives", NULL, 1), KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_sample(&b, "with-dash", NULL, 1), KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_sample(&b, "ok", (const char *[]){"__reserved", "x", NULL}, 1),
                     KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_sample(&b, "ok", (const char *[]){"a:b", "x", NULL}, 1),
                     KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_sample(&b, "ok", (const char *[]){"odd", NULL}, 1), KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_family(&b, "", "x", KC_PROM_GAUGE), KC_ERR_INVALID);
    ck_assert_msg(b.len == 0, "a rejected sample left output: '%s'", b.data ? b.data : "");
    ck_assert(kc_prom_valid_metric_name("ns:sub_metric_1"));
    ck_assert(kc_prom_valid_label_name("le"));
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_histogram_from_counts)
{
    static const double le[] = {0.1, 0.5, 1};
    static const uint64_t cum[] = {2, 5, 5};
    static const uint64_t bad[] = {3, 2, 5};
    kc_buf_t b;

    kc_buf_init(&b);
    ck_assert_int_eq(kc_prom_family(&b, "lat_seconds", "Latency.", KC_PROM_HISTOGRAM), 0);
    ck_assert_int_eq(kc_prom_hist_samples(&b, "lat_seconds", (const char *[]){"op", "x", NULL}, le,
                                          cum, 3, 1.75, 7),
                     0);
    ck_assert_str_eq(b.data, "# HELP lat_seconds Latency.\n"
                             "# TYPE lat_seconds histogram\n"
                             "lat_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
                             "lat_seconds_bucket{op=\"x\",le=\"0.5\"} 5\n"
                             "lat_seconds_bucket{op=\"x\",le=\"1\"} 5\n"
                             "lat_seconds_bucket{op=\"x\",le=\"+Inf\"} 7\n"
                             "lat_seconds_sum{op=\"x\"} 1.75\n"
                             "lat_seconds_count{op=\"x\"} 7\n");
    ck_assert_int_eq(kc_prom_hist_samples(&b, "lat_seconds", NULL, le, bad, 3, 1, 7),
                     KC_ERR_INVALID);
    ck_assert_int_eq(kc_prom_hist_samples(&b, "lat_seconds", (const char *[]){"le", "1", NULL}, le,
                                          cum, 3, 1, 7),
                     KC_ERR_INVALID);
    kc_buf_free(&b);
}
END_TEST

START_TEST(test_histogram_from_hist)
{
    static const double le[] = {0.01, 1.5, 2};
    kc_hist_t *h = kc_hist_new();
    kc_buf_t b;

    kc_hist_record_n(h, 5000, 4);    /* 5 ms */
    kc_hist_record_n(h, 1800000, 3); /* 1.8 s */
    kc_hist_record_n(h, 2500000, 1); /* 2.5 s */
    kc_buf_init(&b);
    ck_assert_int_eq(
        kc_prom_hist(&b, "kclassify_request_duration_seconds", "Latency.", NULL, h, le, 3), 0);
    ck_assert_msg(
        strstr(b.data, "_bucket{le=\"0.01\"} 4\n") && strstr(b.data, "_bucket{le=\"1.5\"} 4\n") &&
            strstr(b.data, "_bucket{le=\"2\"} 7\n") && strstr(b.data, "_bucket{le=\"+Inf\"} 8\n") &&
            strstr(b.data, "_sum 7.92\n") && strstr(b.data, "_count 8\n"),
        "histogram:\n%s", b.data);
    kc_buf_reset(&b);
    ck_assert_int_eq(kc_prom_hist_samples_us(&b, "empty_seconds", NULL, NULL, le, 3), 0);
    ck_assert_msg(strstr(b.data, "empty_seconds_count 0\n"), "%s", b.data);
    kc_buf_free(&b);
    kc_hist_destroy(h);
}
END_TEST

START_TEST(test_proc_parse)
{
    /* A real-looking /proc/<pid>/stat line whose comm holds spaces and ')'. */
    static const char stat[] =
        "4242 (kc worker) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 "
        "12000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    static const char pstat[] = "cpu  1 2 3\nintr 5 6 7\nctxt 99\nbtime 1700000000\nprocesses 5\n";
    kc_prom_proc_t p;
    double btime;
    char errstr[128];

    ck_assert_int_eq(kc_prom_proc_parse_btime(pstat, &btime), 0);
    ck_assert_double_eq(btime, 1700000000);
    ck_assert_int_eq(kc_prom_proc_parse_btime("cpu 1\n", &btime), KC_ERR_DECODE);
    ck_assert_msg(kc_prom_proc_parse_stat(stat, btime, 100, 4096, &p, errstr, sizeof(errstr)) == 0,
                  "%s", errstr);
    ck_assert_double_eq_tol(p.cpu_seconds, 4.0, 1e-9);               /* (250+150)/100 */
    ck_assert_double_eq_tol(p.start_time_seconds, 1700000120, 1e-6); /* btime + 12000/100 */
    ck_assert_double_eq(p.virtual_bytes, 104857600);
    ck_assert_double_eq(p.resident_bytes, 2560.0 * 4096);
    ck_assert_int_eq(kc_prom_proc_parse_stat("garbage", 0, 100, 4096, &p, errstr, sizeof(errstr)),
                     KC_ERR_DECODE);
    ck_assert_int_eq(
        kc_prom_proc_parse_stat("1 (x) S 1 2", 0, 100, 4096, &p, errstr, sizeof(errstr)),
        KC_ERR_DECODE);
}
END_TEST

START_TEST(test_process_metrics_live)
{
    kc_prom_proc_t p;
    kc_buf_t b;
    char errstr[256];
    double now = (double)time(NULL);

    ck_assert_msg(kc_prom_proc_read(&p, errstr, sizeof(errstr)) == 0, "%s", errstr);
    ck_assert_msg(p.start_time_seconds > now - 3600 && p.start_time_seconds <= now + 1,
                  "this test process started at %f, now is %f", p.start_time_seconds, now);
    ck_assert_msg(p.resident_bytes > 100000, "resident %f bytes", p.resident_bytes);
    ck_assert_msg(p.open_fds >= 3, "open fds %f", p.open_fds);
    kc_buf_init(&b);
    ck_assert_int_eq(kc_prom_process(&b, errstr, sizeof(errstr)), 0);
    ck_assert_msg(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n") &&
                      strstr(b.data, "\nprocess_resident_memory_bytes ") &&
                      strstr(b.data, "\nprocess_start_time_seconds "),
                  "%s", b.data);
    kc_buf_free(&b);
}
END_TEST

static Suite *prom_suite(void)
{
    Suite *s = suite_create("prom");
    TCase *tc;

    tc = tcase_create("format");
    tcase_add_test(tc, test_family_and_samples);
    tcase_add_test(tc, test_label_escaping);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_invalid_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("histogram");
    tcase_add_test(tc, test_histogram_from_counts);
    tcase_add_test(tc, test_histogram_from_hist);
    suite_add_tcase(s, tc);

    tc = tcase_create("process");
    tcase_add_test(tc, test_proc_parse);
    tcase_add_test(tc, test_process_metrics_live);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(prom_suite());
}
