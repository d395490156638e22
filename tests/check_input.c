#include "kc_err.h"
#include "kc_input.h"

#include "kc_check.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char errstr[256];

/* Parse a NUL-terminated line; the request is cleared by the caller. */
static int parse(const char *line, kc_request_t *req)
{
    errstr[0] = '\0';
    return kc_input_parse_line(line, strlen(line), req, errstr, sizeof(errstr));
}

/* Expect a parse failure whose message mentions `needle`. */
static void expect_invalid(const char *line, const char *needle)
{
    kc_request_t req;
    int rc = parse(line, &req);

    ck_assert_msg(rc == KC_ERR_INVALID, "'%s' should be rejected, got %d", line, rc);
    ck_assert_msg(strstr(errstr, needle) != NULL, "'%s': message '%s' should mention '%s'", line,
                  errstr, needle);
    ck_assert_msg(req.query == NULL && req.context == NULL, "req must be cleared on error");
}

/* ---- plain lines ------------------------------------------------------- */

START_TEST(test_plain_line)
{
    kc_request_t req;
    int rc = parse("What is the latest news on metformin?\n", &req);

    ck_assert_msg(rc == 0, "plain line: %d %s", rc, errstr);
    ck_assert_msg(strcmp(req.query, "What is the latest news on metformin?") == 0,
                  "newline must be stripped, got '%s'", req.query);
    ck_assert_msg(req.query_len == strlen(req.query), "query_len %zu", req.query_len);
    ck_assert_msg(req.request_id == NULL, "request_id is left for the caller");
    ck_assert_msg(req.priority == KC_PRIO_NORMAL && req.cache_policy == KC_CACHE_USE,
                  "schema defaults expected");
    ck_assert_msg(req.deadline_ms == 0 && req.reply_topic == NULL && req.context_cnt == 0,
                  "schema defaults expected");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_plain_crlf_and_no_terminator)
{
    kc_request_t req;

    ck_assert_int_eq(parse("  glucose pathway \r\n", &req), 0);
    ck_assert_msg(strcmp(req.query, "  glucose pathway ") == 0,
                  "only the line terminator is removed, got '%s'", req.query);
    kc_request_clear(&req);
    ck_assert_int_eq(parse("no newline", &req), 0);
    ck_assert_str_eq(req.query, "no newline");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_plain_invalid_utf8_kept)
{
    const char line[] = "caf\xC3 au lait\n";
    kc_request_t req;
    int rc = kc_input_parse_line(line, sizeof(line) - 1, &req, errstr, sizeof(errstr));

    ck_assert_msg(rc == 0, "invalid UTF-8 is still sent (the worker answers ERROR): %d", rc);
    ck_assert_msg(req.query_len == sizeof(line) - 2, "bytes kept as is, len %zu", req.query_len);
    ck_assert_msg(memcmp(req.query, line, req.query_len) == 0, "bytes kept as is");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_blank_lines)
{
    const char *blanks[] = {"", "\n", "\r\n", "   \t \n", " \r\n"};
    kc_request_t req;

    for (size_t i = 0; i < sizeof(blanks) / sizeof(blanks[0]); i++) {
        ck_assert_msg(parse(blanks[i], &req) == KC_ERR_NOTFOUND, "blank line %zu must be skipped",
                      i);
        ck_assert_msg(req.query == NULL, "no query for a blank line");
    }
}
END_TEST

/* ---- JSON lines -------------------------------------------------------- */

START_TEST(test_json_all_fields)
{
    kc_request_t req;
    int rc =
        parse("  {\"query\":\"Pathway of glycolysis?\",\"request_id\":\"r-1\","
              "\"priority\":\"HIGH\",\"deadline_ms\":250,\"cache_policy\":\"REFRESH\","
              "\"reply_topic\":\"my.replies\",\"context\":{\"user\":\"u1\",\"lang\":\"en\"}}\n",
              &req);

    ck_assert_msg(rc == 0, "full JSON line: %s", errstr);
    ck_assert_str_eq(req.query, "Pathway of glycolysis?");
    ck_assert_str_eq(req.request_id, "r-1");
    ck_assert_msg(req.priority == KC_PRIO_HIGH, "priority %d", req.priority);
    ck_assert_int_eq(req.deadline_ms, 250);
    ck_assert_msg(req.cache_policy == KC_CACHE_REFRESH, "cache_policy %d", req.cache_policy);
    ck_assert_str_eq(req.reply_topic, "my.replies");
    ck_assert_msg(req.context_cnt == 2, "context_cnt %zu", req.context_cnt);
    ck_assert_str_eq(req.context[0].key, "user");
    ck_assert_str_eq(req.context[0].value, "u1");
    ck_assert_str_eq(req.context[1].key, "lang");
    ck_assert_str_eq(req.context[1].value, "en");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_json_defaults)
{
    kc_request_t req;

    ck_assert_msg(parse("{\"query\":\"q\",\"reply_topic\":null,\"context\":{}}", &req) == 0,
                  "minimal JSON: %s", errstr);
    ck_assert_str_eq(req.query, "q");
    ck_assert_msg(req.request_id == NULL && req.reply_topic == NULL && req.context_cnt == 0,
                  "absent optional fields stay empty");
    ck_assert_msg(req.priority == KC_PRIO_NORMAL && req.cache_policy == KC_CACHE_USE &&
                      req.deadline_ms == 0,
                  "schema defaults expected");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_json_unicode_and_nul)
{
    kc_request_t req;

    ck_assert_msg(parse("{\"query\":\"caf\\u00e9\\u0000x\"}", &req) == 0, "escapes: %s", errstr);
    ck_assert_msg(req.query_len == 7, "é is 2 bytes, NUL kept: len %zu", req.query_len);
    ck_assert_msg(memcmp(req.query, "caf\xC3\xA9\0x", 7) == 0, "decoded bytes differ");
    kc_request_clear(&req);
}
END_TEST

START_TEST(test_json_rejects)
{
    expect_invalid("{\"query\":\"q\"", "invalid JSON");
    expect_invalid("{\"query\":\"q\"} trailing", "invalid JSON");
    expect_invalid("{\"request_id\":\"x\"}", "missing required field 'query'");
    expect_invalid("{\"query\":\"\"}", "'query' must not be empty");
    expect_invalid("{\"query\":42}", "'query' must be a string");
    expect_invalid("{\"query\":\"q\",\"qeury\":\"typo\"}", "unknown field 'qeury'");
    expect_invalid("{\"query\":\"q\",\"priority\":\"URGENT\"}", "'priority'");
    expect_invalid("{\"query\":\"q\",\"priority\":\"high\"}", "'priority'");
    expect_invalid("{\"query\":\"q\",\"cache_policy\":\"NEVER\"}", "'cache_policy'");
    expect_invalid("{\"query\":\"q\",\"deadline_ms\":-1}", "out of range");
    expect_invalid("{\"query\":\"q\",\"deadline_ms\":3000000000}", "out of range");
    expect_invalid("{\"query\":\"q\",\"deadline_ms\":1.5}", "must be an integer");
    expect_invalid("{\"query\":\"q\",\"reply_topic\":\"bad topic\"}", "'reply_topic'");
    expect_invalid("{\"query\":\"q\",\"context\":[]}", "'context' must be an object");
    expect_invalid("{\"query\":\"q\",\"context\":{\"a\":\"b\",\"n\":1}}", "'context.n'");
    expect_invalid("{\"query\":\"q\",\"query\":\"r\"}", "invalid JSON");
    expect_invalid("{\"query\":\"q\",\"request_id\":\"\"}", "'request_id' must not be empty");
}
END_TEST

START_TEST(test_topic_names)
{
    ck_assert_msg(kc_input_topic_valid("kclassify.replies-2_x"), "legal name");
    ck_assert_msg(!kc_input_topic_valid(""), "empty");
    ck_assert_msg(!kc_input_topic_valid("."), "dot");
    ck_assert_msg(!kc_input_topic_valid(".."), "dot dot");
    ck_assert_msg(!kc_input_topic_valid("a/b"), "slash");
    char longname[251];
    memset(longname, 'a', 250);
    longname[250] = '\0';
    ck_assert_msg(!kc_input_topic_valid(longname), "250 characters is too long");
    longname[249] = '\0';
    ck_assert_msg(kc_input_topic_valid(longname), "249 characters is allowed");
}
END_TEST

START_TEST(test_topic_allowed)
{
    const char *list = "kclassify.replies.*, svc.a ,svc.b";

    ck_assert(kc_input_topic_allowed(list, "kclassify.replies.x"));
    ck_assert(kc_input_topic_allowed(list, "kclassify.replies."));
    ck_assert(!kc_input_topic_allowed(list, "kclassify.replies")); /* topic.replies: the caller's */
    ck_assert(!kc_input_topic_allowed(list, "kclassify.alerts"));
    ck_assert(kc_input_topic_allowed(list, "svc.a"));
    ck_assert(kc_input_topic_allowed(list, "svc.b"));
    ck_assert(!kc_input_topic_allowed(list, "svc.ab"));
    ck_assert(!kc_input_topic_allowed(list, "svc"));
    ck_assert(kc_input_topic_allowed("*", "anything"));
    ck_assert(!kc_input_topic_allowed("", "anything"));
    ck_assert(!kc_input_topic_allowed(NULL, "anything"));
    ck_assert(!kc_input_topic_allowed(" , ,", "anything"));
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("input");
    TCase *tc;

    tc = tcase_create("plain");
    tcase_add_test(tc, test_plain_line);
    tcase_add_test(tc, test_plain_crlf_and_no_terminator);
    tcase_add_test(tc, test_plain_invalid_utf8_kept);
    tcase_add_test(tc, test_blank_lines);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, test_json_all_fields);
    tcase_add_test(tc, test_json_defaults);
    tcase_add_test(tc, test_json_unicode_and_nul);
    tcase_add_test(tc, test_json_rejects);
    suite_add_tcase(s, tc);
    tc = tcase_create("topic");
    tcase_add_test(tc, test_topic_names);
    tcase_add_test(tc, test_topic_allowed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(input_suite());
}
