/* Unit tests for consumer/prog_log.c: the programs' log line formats. */
#include "prog_log.h"

#include "kc_check.h"

#include <check.h>
#include <jansson.h>
#include <string.h>

#define T0 (1764775858123456LL) /* 2025-12-03T15:30:58.123456Z */

static json_t *parse(const char *line)
{
    json_error_t e;
    size_t n = strlen(line);
    json_t *j;

    ck_assert_msg(n > 0 && line[n - 1] == '\n', "a line ends in a newline: %s", line);
    ck_assert_msg(strchr(line, '\n') == line + n - 1, "one line only: %s", line);
    j = json_loadb(line, n - 1, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, line);
    return j;
}

START_TEST(test_text)
{
    char out[256];
    size_t n = prog_log_format(out, sizeof(out), false, "kclassify-worker", T0, KC_LOG_INFO,
                               "assigned 4 partition(s)");

    ck_assert_str_eq(out, "% 2025-12-03T15:30:58.123Z INFO assigned 4 partition(s)\n");
    ck_assert_uint_eq(n, strlen(out));
}
END_TEST

START_TEST(test_json_schema)
{
    char out[256];
    json_t *j;

    prog_log_format(out, sizeof(out), true, "kclassify-sla", T0, KC_LOG_WARN, "say \"hi\" \\ ok");
    j = parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "ts")), "2025-12-03T15:30:58.123Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "WARN");
    ck_assert_str_eq(json_string_value(json_object_get(j, "program")), "kclassify-sla");
    ck_assert_str_eq(json_string_value(json_object_get(j, "msg")), "say \"hi\" \\ ok");
    ck_assert_uint_eq(json_object_size(j), 4);
    json_decref(j);
}
END_TEST

/* A query (or an LLM answer) with a newline, a terminal escape and invalid
 * UTF-8 cannot forge a second line or break the JSON. */
START_TEST(test_hostile_message)
{
    const char *msg = "query \"a\nINFO forged\" \x1b[31mred\x7f \xff\xc3 caf\xc3\xa9";
    char out[512];
    json_t *j;

    prog_log_format(out, sizeof(out), false, "w", T0, KC_LOG_INFO, msg);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "text: one line: %s", out);
    ck_assert_msg(strstr(out, "\\x0a") && strstr(out, "\\x1b") && strstr(out, "\\xff") &&
                      strstr(out, "\\x7f"),
                  "text escapes: %s", out);
    ck_assert_msg(strstr(out, "caf\xc3\xa9") != NULL, "valid UTF-8 kept: %s", out);

    prog_log_format(out, sizeof(out), true, "w", T0, KC_LOG_INFO, msg);
    j = parse(out);
    ck_assert_str_eq(
        json_string_value(json_object_get(j, "msg")),
        "query \"a\nINFO forged\" \x1b[31mred\x7f \xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9");
    json_decref(j);
}
END_TEST

START_TEST(test_truncated_stays_valid)
{
    char msg[2000], out[200];
    json_t *j;
    size_t n;

    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    msg[100] = '"'; /* an escape near the cut */
    n = prog_log_format(out, sizeof(out), true, "w", T0, KC_LOG_ERROR, msg);
    ck_assert_msg(n < sizeof(out), "fits: %zu", n);
    j = parse(out);
    ck_assert_msg(strstr(json_string_value(json_object_get(j, "msg")), "...") != NULL,
                  "truncation is marked: %s", out);
    json_decref(j);
    n = prog_log_format(out, sizeof(out), false, "w", T0, KC_LOG_ERROR, msg);
    ck_assert_msg(n < sizeof(out) && out[n - 1] == '\n', "text truncated to one line: %s", out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prog_log");
    TCase *tc = tcase_create("format");

    tcase_add_test(tc, test_text);
    tcase_add_test(tc, test_json_schema);
    tcase_add_test(tc, test_hostile_message);
    tcase_add_test(tc, test_truncated_stays_valid);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
