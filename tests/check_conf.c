/* Unit tests for libcore/base/kc_conf.c: table-driven properties parsing. */
#include "kc_conf.h"
#include "kc_err.h"

#include "kc_check.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A sample component config, the way a real component declares one. */
typedef struct test_conf_s {
    char *topic;
    char *group;
    char *prompt;
    int64_t batch_max;
    int64_t offset;
    int verbose;
} test_conf_t;

static const kc_conf_prop_t test_props[] = {
    {"in.topic", KC_CONF_STR, "requests", 0, 0, offsetof(test_conf_t, topic), "request topic"},
    {"group.id", KC_CONF_STR, NULL, 0, 0, offsetof(test_conf_t, group), "consumer group"},
    {"llm.prompt", KC_CONF_STR, "", 0, 0, offsetof(test_conf_t, prompt), "prompt"},
    {"llm.batch.max", KC_CONF_INT, "16", 1, 1000, offsetof(test_conf_t, batch_max), "batch"},
    {"offset", KC_CONF_INT, "-5", INT64_MIN, INT64_MAX, offsetof(test_conf_t, offset), "any"},
    {"verbose", KC_CONF_BOOL, "false", 0, 0, offsetof(test_conf_t, verbose), "chatty"},
    {NULL},
};

typedef struct fixture_s {
    test_conf_t conf;
    kc_conf_kv_list_t kv;
    char errstr[512];
} fixture_t;

static fixture_t fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    ck_assert_msg(kc_conf_defaults(test_props, &fx.conf, fx.errstr, sizeof(fx.errstr)) == 0,
                  "defaults: %s", fx.errstr);
}

static void teardown(void)
{
    kc_conf_free(test_props, &fx.conf);
    kc_conf_kv_free(&fx.kv);
}

static int parse(const char *text)
{
    fx.errstr[0] = '\0';
    return kc_conf_parse_buf(test_props, &fx.conf, &fx.kv, "worker.conf", text, strlen(text),
                             fx.errstr, sizeof(fx.errstr));
}

static void assert_parse_error(const char *text, int code, const char *msg)
{
    int rc = parse(text);
    ck_assert_msg(rc == code, "parsing \"%s\": expected %s, got %d (%s)", text, kc_strerror(code),
                  rc, fx.errstr);
    ck_assert_msg(strcmp(fx.errstr, msg) == 0, "parsing \"%s\": message\n  '%s'\nexpected\n  '%s'",
                  text, fx.errstr, msg);
}

/* ------------------------------------------------------------------------- */

START_TEST(test_defaults)
{
    ck_assert_msg(fx.conf.topic && strcmp(fx.conf.topic, "requests") == 0, "topic default: %s",
                  fx.conf.topic ? fx.conf.topic : "(null)");
    ck_assert_msg(fx.conf.group == NULL, "NULL defval for STR should leave a NULL pointer");
    ck_assert_msg(fx.conf.prompt && fx.conf.prompt[0] == '\0', "\"\" default should be \"\"");
    ck_assert_msg(fx.conf.batch_max == 16, "batch default %lld", (long long)fx.conf.batch_max);
    ck_assert_msg(fx.conf.offset == -5, "negative default %lld", (long long)fx.conf.offset);
    ck_assert_msg(fx.conf.verbose == 0, "verbose default %d", fx.conf.verbose);
}
END_TEST

START_TEST(test_defaults_bad_table)
{
    static const kc_conf_prop_t bad[] = {
        {"n", KC_CONF_INT, "zero", 0, 10, offsetof(test_conf_t, batch_max), "bad default"},
        {NULL},
    };
    test_conf_t c = {0};
    char err[256] = "";
    int rc = kc_conf_defaults(bad, &c, err, sizeof(err));
    ck_assert_msg(rc == KC_ERR_CONFIG, "bad default should fail, got %d", rc);
    ck_assert_msg(strstr(err, "n: expected an integer") != NULL, "message: %s", err);
}
END_TEST

START_TEST(test_defaults_reapply_frees)
{
    /* Re-applying defaults over set values must free them (ASan/valgrind check). */
    ck_assert_int_eq(parse("group.id = g1\nin.topic = other\n"), 0);
    ck_assert_msg(kc_conf_defaults(test_props, &fx.conf, fx.errstr, sizeof(fx.errstr)) == 0,
                  "defaults again: %s", fx.errstr);
    ck_assert_msg(fx.conf.group == NULL && strcmp(fx.conf.topic, "requests") == 0,
                  "defaults should restore every field");
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_parse_basic)
{
    const char *text = "# worker settings\n"
                       "\n"
                       "in.topic=classify.requests\n"
                       "   group.id   =   workers  \n"
                       "\tllm.batch.max\t=\t32\t\n"
                       "    # indented comment\n"
                       "verbose = yes\n"
                       "llm.prompt = a=b = c   # not a comment\n"
                       "offset=-123"; /* last line without newline */
    int rc = parse(text);
    ck_assert_msg(rc == 0, "parse: %s", fx.errstr);
    ck_assert_str_eq(fx.conf.topic, "classify.requests");
    ck_assert_str_eq(fx.conf.group, "workers");
    ck_assert_msg(fx.conf.batch_max == 32, "batch %lld", (long long)fx.conf.batch_max);
    ck_assert_msg(fx.conf.verbose == 1, "verbose should be on");
    ck_assert_msg(strcmp(fx.conf.prompt, "a=b = c   # not a comment") == 0,
                  "value keeps '=' and '#', trimmed only at the ends: '%s'", fx.conf.prompt);
    ck_assert_msg(fx.conf.offset == -123, "offset %lld", (long long)fx.conf.offset);
    ck_assert_msg(fx.kv.cnt == 0, "no kafka keys expected");
}
END_TEST

START_TEST(test_parse_crlf_and_bom)
{
    int rc = parse("\xEF\xBB\xBFin.topic = t1\r\n\r\n# c\r\ngroup.id=g\r\nverbose=ON\r\n");
    ck_assert_msg(rc == 0, "parse: %s", fx.errstr);
    ck_assert_msg(strcmp(fx.conf.topic, "t1") == 0, "BOM/CR leaked into topic: '%s'",
                  fx.conf.topic);
    ck_assert_msg(strcmp(fx.conf.group, "g") == 0, "CR leaked into value: '%s'", fx.conf.group);
    ck_assert_int_eq(fx.conf.verbose, 1);
}
END_TEST

START_TEST(test_parse_empty_value)
{
    ck_assert_msg(parse("group.id=\nin.topic =  \n") == 0, "parse: %s", fx.errstr);
    ck_assert_msg(fx.conf.group && fx.conf.group[0] == '\0', "empty value should give \"\"");
    ck_assert_msg(fx.conf.topic && fx.conf.topic[0] == '\0', "blank value should give \"\"");
}
END_TEST

START_TEST(test_parse_empty_text)
{
    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(parse("\n\n   \n# only comments\n"), 0);
    ck_assert_str_eq(fx.conf.topic, "requests");
}
END_TEST

START_TEST(test_parse_later_wins)
{
    ck_assert_msg(parse("in.topic=a\nin.topic=b\n") == 0, "parse: %s", fx.errstr);
    ck_assert_str_eq(fx.conf.topic, "b");
}
END_TEST

START_TEST(test_parse_not_nul_terminated)
{
    /* parse_buf takes a length: bytes beyond it must not be read. */
    const char text[] = "in.topic=abcdef";
    int rc = kc_conf_parse_buf(test_props, &fx.conf, &fx.kv, "x", text, 12, fx.errstr,
                               sizeof(fx.errstr));
    ck_assert_msg(rc == 0, "parse: %s", fx.errstr);
    ck_assert_str_eq(fx.conf.topic, "abc");
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_err_no_equals)
{
    assert_parse_error("in.topic=a\n\n# c\njust words\n", KC_ERR_CONFIG,
                       "worker.conf:4: expected key=value");
}
END_TEST

START_TEST(test_err_empty_key)
{
    assert_parse_error("  = value\n", KC_ERR_CONFIG, "worker.conf:1: expected key=value");
}
END_TEST

START_TEST(test_err_unknown_key)
{
    assert_parse_error("in.topic=a\r\nfoo.bar = 1\r\n", KC_ERR_CONFIG,
                       "worker.conf:2: unknown configuration key 'foo.bar'");
}
END_TEST

START_TEST(test_err_stops_at_first)
{
    /* Lines after the error are not applied. */
    assert_parse_error("nope\nin.topic=late\n", KC_ERR_CONFIG, "worker.conf:1: expected key=value");
    ck_assert_str_eq(fx.conf.topic, "requests");
}
END_TEST

START_TEST(test_err_nul_byte)
{
    const char text[] = "in.topic=ab\0cd\n";
    int rc = kc_conf_parse_buf(test_props, &fx.conf, &fx.kv, "worker.conf", text, sizeof(text) - 1,
                               fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "NUL inside a line should be rejected, got %d", rc);
    ck_assert_str_eq(fx.errstr, "worker.conf:1: NUL byte in line");
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_int_ok)
{
    static const struct {
        const char *v;
        int64_t want;
    } cases[] = {{"1", 1}, {"1000", 1000}, {"+7", 7}, {"0042", 42}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = kc_conf_set(test_props, &fx.conf, &fx.kv, "llm.batch.max", cases[i].v, fx.errstr,
                             sizeof(fx.errstr));
        ck_assert_msg(rc == 0, "'%s': %s", cases[i].v, fx.errstr);
        ck_assert_msg(fx.conf.batch_max == cases[i].want, "'%s' parsed as %lld", cases[i].v,
                      (long long)fx.conf.batch_max);
    }
    ck_assert_int_eq(kc_conf_set(test_props, &fx.conf, NULL, "offset", "-9223372036854775808",
                                 fx.errstr, sizeof(fx.errstr)),
                     0);
    ck_assert_msg(fx.conf.offset == INT64_MIN, "INT64_MIN should round-trip");
}
END_TEST

START_TEST(test_int_errors)
{
    static const struct {
        const char *key, *v, *msg;
    } cases[] = {
        {"llm.batch.max", "0", "llm.batch.max: 0 is below the minimum 1"},
        {"llm.batch.max", "-3", "llm.batch.max: -3 is below the minimum 1"},
        {"llm.batch.max", "1001", "llm.batch.max: 1001 is above the maximum 1000"},
        {"llm.batch.max", "abc", "llm.batch.max: expected an integer, got 'abc'"},
        {"llm.batch.max", "12abc", "llm.batch.max: expected an integer, got '12abc'"},
        {"llm.batch.max", "1.5", "llm.batch.max: expected an integer, got '1.5'"},
        {"llm.batch.max", "", "llm.batch.max: expected an integer, got ''"},
        {"llm.batch.max", " 5", "llm.batch.max: expected an integer, got ' 5'"},
        {"llm.batch.max", "0x10", "llm.batch.max: expected an integer, got '0x10'"},
        {"llm.batch.max", "-", "llm.batch.max: expected an integer, got '-'"},
        {"offset", "9223372036854775808",
         "offset: 9223372036854775808 is out of the 64-bit integer range"},
        {"offset", "-99999999999999999999",
         "offset: -99999999999999999999 is out of the 64-bit integer range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx.conf.batch_max = 77;
        fx.errstr[0] = '\0';
        int rc = kc_conf_set(test_props, &fx.conf, &fx.kv, cases[i].key, cases[i].v, fx.errstr,
                             sizeof(fx.errstr));
        ck_assert_msg(rc == KC_ERR_CONFIG, "'%s' should be rejected, got %d", cases[i].v, rc);
        ck_assert_msg(strcmp(fx.errstr, cases[i].msg) == 0, "'%s': message '%s', expected '%s'",
                      cases[i].v, fx.errstr, cases[i].msg);
        ck_assert_msg(fx.conf.batch_max == 77, "a rejected value must not change the field");
    }
}
END_TEST

START_TEST(test_int_error_in_file)
{
    assert_parse_error("\nllm.batch.max = 0\n", KC_ERR_CONFIG,
                       "worker.conf:2: llm.batch.max: 0 is below the minimum 1");
}
END_TEST

START_TEST(test_bool)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {{"true", 1}, {"false", 0}, {"1", 1},   {"0", 0},    {"yes", 1},
                 {"no", 0},   {"on", 1},    {"off", 0}, {"TRUE", 1}, {"Off", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx.conf.verbose = !cases[i].want;
        int rc = kc_conf_set(test_props, &fx.conf, NULL, "verbose", cases[i].v, fx.errstr,
                             sizeof(fx.errstr));
        ck_assert_msg(rc == 0, "'%s': %s", cases[i].v, fx.errstr);
        ck_assert_msg(fx.conf.verbose == cases[i].want, "'%s' gave %d", cases[i].v,
                      fx.conf.verbose);
    }
    int rc = kc_conf_set(test_props, &fx.conf, NULL, "verbose", "2", fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "'2' is not a boolean, got %d", rc);
    ck_assert_str_eq(fx.errstr, "verbose: expected true/false/1/0/yes/no/on/off, got '2'");
    rc = kc_conf_set(test_props, &fx.conf, NULL, "verbose", "", fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "'' is not a boolean, got %d", rc);
}
END_TEST

START_TEST(test_str_replace)
{
    /* Each set frees the previous string; leaks show up under ASan/valgrind. */
    for (int i = 0; i < 100; i++) {
        char v[32];
        snprintf(v, sizeof(v), "topic-%d", i);
        ck_assert_int_eq(kc_conf_set(test_props, &fx.conf, NULL, "in.topic", v, NULL, 0), 0);
    }
    ck_assert_str_eq(fx.conf.topic, "topic-99");
}
END_TEST

START_TEST(test_conf_free)
{
    ck_assert_int_eq(parse("group.id=g\n"), 0);
    kc_conf_free(test_props, &fx.conf);
    ck_assert_msg(fx.conf.topic == NULL && fx.conf.group == NULL && fx.conf.prompt == NULL,
                  "kc_conf_free should NULL every STR field");
    kc_conf_free(test_props, &fx.conf); /* idempotent */
    kc_conf_free(test_props, NULL);
}
END_TEST

START_TEST(test_find)
{
    const kc_conf_prop_t *p = kc_conf_find(test_props, "llm.batch.max");
    ck_assert_msg(p && p->type == KC_CONF_INT && p->max == 1000, "find llm.batch.max");
    ck_assert_msg(kc_conf_find(test_props, "llm.batch") == NULL, "prefix must not match");
    ck_assert_msg(kc_conf_find(test_props, "") == NULL, "empty name must not match");
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_kafka_passthrough)
{
    int rc = parse("kafka.bootstrap.servers = host1:9092\n"
                   "kafka.acks=all\n"
                   "kafka.bootstrap.servers=host2:9092,host3:9092\n"
                   "in.topic=t\n");
    ck_assert_msg(rc == 0, "parse: %s", fx.errstr);
    ck_assert_msg(fx.kv.cnt == 2, "later kafka value should replace, cnt=%zu", fx.kv.cnt);
    ck_assert_str_eq(fx.kv.keys[0], "bootstrap.servers");
    ck_assert_str_eq(fx.kv.keys[1], "acks");
    ck_assert_str_eq(kc_conf_kv_get(&fx.kv, "bootstrap.servers"), "host2:9092,host3:9092");
    ck_assert_str_eq(kc_conf_kv_get(&fx.kv, "acks"), "all");
    ck_assert_msg(kc_conf_kv_get(&fx.kv, "kafka.acks") == NULL, "prefix should be stripped");
}
END_TEST

START_TEST(test_kafka_without_list)
{
    /* A component without a librdkafka pass-through treats kafka.* as unknown. */
    int rc =
        kc_conf_set(test_props, &fx.conf, NULL, "kafka.acks", "all", fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "got %d", rc);
    ck_assert_str_eq(fx.errstr, "unknown configuration key 'kafka.acks'");
}
END_TEST

START_TEST(test_kafka_empty_name)
{
    assert_parse_error("kafka. = x\n", KC_ERR_CONFIG,
                       "worker.conf:1: 'kafka.' needs a librdkafka property name after the prefix");
}
END_TEST

START_TEST(test_kv_list)
{
    kc_conf_kv_list_t kv = {0};
    char k[32], v[32];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_int_eq(kc_conf_kv_set(&kv, k, v), 0);
    }
    ck_assert_int_eq(kc_conf_kv_set(&kv, "k7", "seven"), 0);
    ck_assert_msg(kv.cnt == 50, "replace must not append, cnt=%zu", kv.cnt);
    ck_assert_str_eq(kc_conf_kv_get(&kv, "k7"), "seven");
    ck_assert_str_eq(kc_conf_kv_get(&kv, "k49"), "v49");
    ck_assert_msg(kc_conf_kv_get(&kv, "k50") == NULL, "missing key");
    kc_conf_kv_free(&kv);
    ck_assert_msg(kv.cnt == 0 && kv.keys == NULL, "free should empty the list");
    kc_conf_kv_free(&kv);
    kc_conf_kv_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_assignment)
{
    int rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "llm.prompt=x=1,y=2", fx.errstr,
                                    sizeof(fx.errstr));
    ck_assert_msg(rc == 0, "assignment: %s", fx.errstr);
    ck_assert_str_eq(fx.conf.prompt, "x=1,y=2");
    rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "kafka.linger.ms = 5", fx.errstr,
                                sizeof(fx.errstr));
    ck_assert_msg(rc == 0, "assignment: %s", fx.errstr);
    ck_assert_str_eq(kc_conf_kv_get(&fx.kv, "linger.ms"), "5");
    rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "group.id=", fx.errstr,
                                sizeof(fx.errstr));
    ck_assert_msg(rc == 0 && fx.conf.group && fx.conf.group[0] == '\0', "empty value via -X");
}
END_TEST

START_TEST(test_assignment_errors)
{
    int rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "verbose", fx.errstr,
                                    sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "missing '=' got %d", rc);
    ck_assert_str_eq(fx.errstr, "expected key=value, got 'verbose'");
    rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "=1", fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "empty key got %d", rc);
    rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "no.such=1", fx.errstr,
                                sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "unknown key got %d", rc);
    ck_assert_str_eq(fx.errstr, "unknown configuration key 'no.such'");
    /* errstr is optional */
    rc = kc_conf_set_assignment(test_props, &fx.conf, &fx.kv, "llm.batch.max=0", NULL, 0);
    ck_assert_int_eq(rc, KC_ERR_CONFIG);
}
END_TEST

/* ------------------------------------------------------------------------- */

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/check_conf_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    ck_assert_msg(write(fd, content, strlen(content)) == (ssize_t)strlen(content), "write");
    close(fd);
    return path;
}

START_TEST(test_file_ok)
{
    /* Larger than the reader's first chunk, to exercise its growth. */
    size_t n = 3000;
    char *text = malloc(n * 32 + 64);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        off += (size_t)sprintf(text + off, "# comment line %zu\n", i);
    }
    sprintf(text + off, "llm.batch.max=99\nkafka.acks=1\n");
    char *path = write_temp(text);
    int rc = kc_conf_parse_file(test_props, &fx.conf, &fx.kv, path, fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == 0, "parse_file: %s", fx.errstr);
    ck_assert_msg(fx.conf.batch_max == 99, "batch %lld", (long long)fx.conf.batch_max);
    ck_assert_str_eq(kc_conf_kv_get(&fx.kv, "acks"), "1");
    unlink(path);
    free(path);
    free(text);
}
END_TEST

START_TEST(test_file_error_names_file)
{
    char *path = write_temp("in.topic=a\nbogus.key=1\n");
    char want[512];
    snprintf(want, sizeof(want), "%s:2: unknown configuration key 'bogus.key'", path);
    int rc = kc_conf_parse_file(test_props, &fx.conf, &fx.kv, path, fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_CONFIG, "got %d", rc);
    ck_assert_str_eq(fx.errstr, want);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_file_missing)
{
    int rc = kc_conf_parse_file(test_props, &fx.conf, &fx.kv, "/nonexistent/dir/worker.conf",
                                fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_IO, "missing file should be KC_ERR_IO, got %d", rc);
    ck_assert_str_eq(fx.errstr,
                     "cannot read /nonexistent/dir/worker.conf: No such file or directory");
}
END_TEST

START_TEST(test_file_is_directory)
{
    int rc = kc_conf_parse_file(test_props, &fx.conf, &fx.kv, "/tmp", fx.errstr, sizeof(fx.errstr));
    ck_assert_msg(rc == KC_ERR_IO, "a directory should be KC_ERR_IO, got %d", rc);
    ck_assert_str_eq(fx.errstr, "cannot read /tmp: Is a directory");
}
END_TEST

/* ------------------------------------------------------------------------- */

static TCase *add_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc;

    tc = add_tcase(s, "defaults");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_defaults_bad_table);
    tcase_add_test(tc, test_defaults_reapply_frees);

    tc = add_tcase(s, "parse");
    tcase_add_test(tc, test_parse_basic);
    tcase_add_test(tc, test_parse_crlf_and_bom);
    tcase_add_test(tc, test_parse_empty_value);
    tcase_add_test(tc, test_parse_empty_text);
    tcase_add_test(tc, test_parse_later_wins);
    tcase_add_test(tc, test_parse_not_nul_terminated);

    tc = add_tcase(s, "parse_errors");
    tcase_add_test(tc, test_err_no_equals);
    tcase_add_test(tc, test_err_empty_key);
    tcase_add_test(tc, test_err_unknown_key);
    tcase_add_test(tc, test_err_stops_at_first);
    tcase_add_test(tc, test_err_nul_byte);

    tc = add_tcase(s, "types");
    tcase_add_test(tc, test_int_ok);
    tcase_add_test(tc, test_int_errors);
    tcase_add_test(tc, test_int_error_in_file);
    tcase_add_test(tc, test_bool);
    tcase_add_test(tc, test_str_replace);
    tcase_add_test(tc, test_conf_free);
    tcase_add_test(tc, test_find);

    tc = add_tcase(s, "kafka");
    tcase_add_test(tc, test_kafka_passthrough);
    tcase_add_test(tc, test_kafka_without_list);
    tcase_add_test(tc, test_kafka_empty_name);
    tcase_add_test(tc, test_kv_list);

    tc = add_tcase(s, "assignment");
    tcase_add_test(tc, test_assignment);
    tcase_add_test(tc, test_assignment_errors);

    tc = add_tcase(s, "file");
    tcase_add_test(tc, test_file_ok);
    tcase_add_test(tc, test_file_error_names_file);
    tcase_add_test(tc, test_file_missing);
    tcase_add_test(tc, test_file_is_directory);

    return s;
}

int main(void)
{
    return kc_check_run(conf_suite());
}
