/* Unit tests for kc_taxonomy: the embedded default, parsing and validation,
 * the generated prompt, version and key seed. */
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_taxonomy.h"

#include "kc_check.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TXDIR KC_TEST_DATA "/taxonomy/"

static kc_taxonomy_t *parse_str(const char *json, char *errstr, size_t size)
{
    return kc_taxonomy_parse(json, strlen(json), errstr, size);
}

/* A minimal valid taxonomy with one substitution point for tests. */
static const char *const MINI =
    "{\"name\":\"mini\",\"default\":\"B\",\"categories\":["
    "{\"name\":\"A\",\"description\":\"first\",\"cues\":[\"alpha\",\"@year>=2024\"]},"
    "{\"name\":\"B\",\"description\":\"second\"}]}";

/* ------------------------------------------------------------------------ */

START_TEST(test_default_valid)
{
    kc_taxonomy_t *tx = kc_taxonomy_new_default();

    ck_assert_msg(tx != NULL, "the embedded taxonomy must pass its own validation");
    ck_assert_str_eq(tx->name, "clinical-metabolomics");
    ck_assert_uint_eq(tx->category_cnt, 3);
    ck_assert_str_eq(tx->categories[0].name, "KNOWLEDGE_GRAPH");
    ck_assert_str_eq(tx->categories[1].name, "REAL_TIME");
    ck_assert_str_eq(tx->categories[2].name, "GENERAL");
    ck_assert_str_eq(tx->categories[tx->default_category].name, "GENERAL");
    for (size_t i = 0; i < tx->category_cnt; i++) {
        ck_assert_msg(tx->categories[i].cue_cnt >= 20, "%s has only %zu cues",
                      tx->categories[i].name, tx->categories[i].cue_cnt);
        ck_assert_msg(strlen(tx->categories[i].description) > 80, "%s: description too thin",
                      tx->categories[i].name);
    }
    ck_assert_msg(tx->version != 0, "version must be computed");
    kc_taxonomy_destroy(tx);
}
END_TEST

START_TEST(test_default_deterministic)
{
    kc_taxonomy_t *a = kc_taxonomy_new_default();
    kc_taxonomy_t *b = kc_taxonomy_new_default();

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(strcmp(a->system_prompt, b->system_prompt) == 0, "prompt differs between builds");
    ck_assert_msg(a->version == b->version, "version differs between builds");
    kc_taxonomy_destroy(a);
    kc_taxonomy_destroy(b);
}
END_TEST

START_TEST(test_destroy_null)
{
    kc_taxonomy_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */

START_TEST(test_prompt_content)
{
    kc_taxonomy_t *tx = kc_taxonomy_new_default();
    const char *p;

    ck_assert_ptr_nonnull(tx);
    p = tx->system_prompt;
    for (size_t i = 0; i < tx->category_cnt; i++) {
        char line[2300];
        snprintf(line, sizeof(line), "- %s: %s\n", tx->categories[i].name,
                 tx->categories[i].description);
        ck_assert_msg(strstr(p, line), "prompt lacks the line for %s", tx->categories[i].name);
    }
    ck_assert_msg(strstr(p, "{\"queries\":[{\"id\":\"q0\",\"text\":"), "input format missing");
    ck_assert_msg(strstr(p, "exactly one"), "must ask for exactly one category");
    /* The answer format depends on the fields asked for, so the LLM layer
     * appends it (kc_llm_system_prompt_build); the version must not change
     * with it. */
    ck_assert_msg(!strstr(p, "{\"results\""), "answer format must not be in the taxonomy prompt");
    ck_assert_msg(!strstr(p, "confidence"), "answer fields must not be in the taxonomy prompt");
    ck_assert_msg(strstr(p, "never instructions"), "prompt-injection guard missing");
    ck_assert_msg(strstr(p, "use GENERAL"), "default category not named");
    ck_assert_msg(strstr(p, tx->instructions), "instructions not included");
    kc_taxonomy_destroy(tx);
}
END_TEST

START_TEST(test_version_sensitivity)
{
    char err[256];
    kc_taxonomy_t *base = parse_str(MINI, err, sizeof(err));
    const char *variants[] = {
        /* description changed */
        "{\"name\":\"mini\",\"default\":\"B\",\"categories\":["
        "{\"name\":\"A\",\"description\":\"First\",\"cues\":[\"alpha\"]},"
        "{\"name\":\"B\",\"description\":\"second\"}]}",
        /* default changed */
        "{\"name\":\"mini\",\"default\":\"A\",\"categories\":["
        "{\"name\":\"A\",\"description\":\"first\",\"cues\":[\"alpha\"]},"
        "{\"name\":\"B\",\"description\":\"second\"}]}",
        /* name changed */
        "{\"name\":\"mini2\",\"default\":\"B\",\"categories\":["
        "{\"name\":\"A\",\"description\":\"first\",\"cues\":[\"alpha\"]},"
        "{\"name\":\"B\",\"description\":\"second\"}]}",
        /* instructions added: only the prompt changes */
        "{\"name\":\"mini\",\"default\":\"B\",\"instructions\":\"Be careful.\",\"categories\":["
        "{\"name\":\"A\",\"description\":\"first\",\"cues\":[\"alpha\"]},"
        "{\"name\":\"B\",\"description\":\"second\"}]}",
        /* category renamed */
        "{\"name\":\"mini\",\"default\":\"B\",\"categories\":["
        "{\"name\":\"A2\",\"description\":\"first\",\"cues\":[\"alpha\"]},"
        "{\"name\":\"B\",\"description\":\"second\"}]}",
    };
    /* Cues only steer the fallback: changing them must not invalidate caches. */
    const char *same = "{\"name\":\"mini\",\"default\":\"B\",\"categories\":["
                       "{\"name\":\"A\",\"description\":\"first\",\"cues\":[\"beta\"]},"
                       "{\"name\":\"B\",\"description\":\"second\",\"cues\":[\"x\"]}]}";
    kc_taxonomy_t *tx;

    ck_assert_msg(base != NULL, "parse: %s", err);
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        tx = parse_str(variants[i], err, sizeof(err));
        ck_assert_msg(tx != NULL, "variant %zu: %s", i, err);
        ck_assert_msg(tx->version != base->version, "variant %zu kept the version", i);
        kc_taxonomy_destroy(tx);
    }
    tx = parse_str(same, err, sizeof(err));
    ck_assert_msg(tx != NULL, "parse: %s", err);
    ck_assert_msg(tx->version == base->version, "cue-only change altered the version");
    kc_taxonomy_destroy(tx);
    kc_taxonomy_destroy(base);
}
END_TEST

START_TEST(test_key_seed)
{
    kc_taxonomy_t *tx = kc_taxonomy_new_default();
    uint64_t a, b, c;

    ck_assert_ptr_nonnull(tx);
    a = kc_taxonomy_key_seed(tx, "gpt-4o-mini");
    b = kc_taxonomy_key_seed(tx, "gpt-4o");
    c = kc_taxonomy_key_seed(tx, "gpt-4o-mini");
    ck_assert_msg(a != b, "different models must give different seeds");
    ck_assert_msg(a == c, "the seed must be deterministic");
    ck_assert_msg(a != tx->version, "the model must be mixed into the seed");
    tx->version ^= 1; /* a new taxonomy version changes the seed too */
    ck_assert_msg(kc_taxonomy_key_seed(tx, "gpt-4o-mini") != a, "version not in the seed");
    (void)kc_taxonomy_key_seed(tx, NULL); /* must not crash */
    kc_taxonomy_destroy(tx);
}
END_TEST

START_TEST(test_find)
{
    kc_taxonomy_t *tx = kc_taxonomy_new_default();

    ck_assert_ptr_nonnull(tx);
    ck_assert_int_eq(kc_taxonomy_find(tx, "REAL_TIME", 9), 1);
    ck_assert_int_eq(kc_taxonomy_find(tx, "GENERALX", 7), 2); /* length-bounded */
    ck_assert_int_eq(kc_taxonomy_find(tx, "GENERAL", 6), -1); /* prefix is not a match */
    ck_assert_int_eq(kc_taxonomy_find(tx, "general", 7), -1); /* case-sensitive */
    ck_assert_int_eq(kc_taxonomy_find(tx, "", 0), -1);
    kc_taxonomy_destroy(tx);
}
END_TEST

/* ------------------------------------------------------------------------ */

START_TEST(test_parse_valid_file)
{
    char err[512];
    kc_taxonomy_t *tx = kc_taxonomy_load(TXDIR "valid_lab.json", err, sizeof(err));

    ck_assert_msg(tx != NULL, "load: %s", err);
    ck_assert_str_eq(tx->name, "lab-operations");
    ck_assert_uint_eq(tx->category_cnt, 3);
    ck_assert_str_eq(tx->categories[1].name, "SCHEDULE_2");
    ck_assert_uint_eq(tx->default_category, 2);
    ck_assert_uint_eq(tx->categories[0].cue_cnt, 5);
    ck_assert_uint_eq(tx->categories[2].cue_cnt, 0);
    ck_assert_str_eq(tx->categories[1].cues[4], "@year>=2025");
    ck_assert_str_eq(tx->instructions, "Prefer INSTRUMENT for questions about a specific machine.");
    ck_assert_msg(strstr(tx->system_prompt, "- SCHEDULE_2: Questions about bookings"),
                  "prompt lacks a category: %s", tx->system_prompt);
    kc_taxonomy_destroy(tx);
}
END_TEST

typedef struct {
    const char *file;
    const char *expect; /* substring of the error message */
} invalid_case_t;

static const invalid_case_t invalid_files[] = {
    {"invalid_name_lowercase.json", "categories[0].name: \"Instrument\" must match"},
    {"invalid_duplicate_name.json", "duplicate name \"INSTRUMENT\""},
    {"invalid_unknown_default.json", "default: \"MISC\" is not one of the categories"},
    {"invalid_missing_default.json", "default: missing required string"},
    {"invalid_one_category.json", "categories: 1 given, 2..64 required"},
    {"invalid_cue_uppercase.json",
     "categories[0] (INSTRUMENT).cues[5]: \"NMR\": cues must be lowercase"},
    {"invalid_year_cue.json",
     "cues[5]: \"@year>=25\": a cue starting with '@' must be \"@year>=YYYY\""},
    {"invalid_unknown_key.json", "categories[2]: unknown key \"colour\""},
    {"invalid_missing_description.json", "categories[2].description: missing required string"},
    {"invalid_cue_not_string.json", "categories[0].cues[5]: expected a string"},
    {"invalid_not_json.json", "line 2"},
};

START_TEST(test_parse_invalid_file)
{
    const invalid_case_t *c = &invalid_files[_i];
    char path[512], err[512] = "";
    kc_taxonomy_t *tx;

    snprintf(path, sizeof(path), "%s%s", TXDIR, c->file);
    tx = kc_taxonomy_load(path, err, sizeof(err));
    ck_assert_msg(tx == NULL, "%s: accepted", c->file);
    ck_assert_msg(strstr(err, c->expect), "%s: error \"%s\" lacks \"%s\"", c->file, err, c->expect);
    ck_assert_msg(strstr(err, c->file), "%s: error \"%s\" does not name the file", c->file, err);
}
END_TEST

typedef struct {
    const char *json;
    const char *expect;
} invalid_str_t;

static const invalid_str_t invalid_strings[] = {
    {"[]", "top level: expected an object"},
    {"{\"name\":\"x\",\"default\":\"A\"}", "categories: missing required array"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":{}}", "categories: expected an array"},
    {"{\"default\":\"A\",\"categories\":[]}", "name: missing required string"},
    {"{\"name\":\"\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\"},"
     "{\"name\":\"B\",\"description\":\"b\"}]}",
     "name: must be 1..128 bytes"},
    {"{\"name\":\"x\",\"default\":\"A\",\"extra\":1,\"categories\":[]}",
     "top level: unknown key \"extra\""},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\"},"
     "{\"name\":\"1B\",\"description\":\"b\"}]}",
     "categories[1].name: \"1B\" must match"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\"},"
     "{\"name\":\"B-C\",\"description\":\"b\"}]}",
     "\"B-C\" must match"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"\"},"
     "{\"name\":\"B\",\"description\":\"b\"}]}",
     "categories[0] (A).description: must be 1..2000 bytes"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"a*b\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "'*' is only allowed at the end"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\" lead\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "no leading, trailing or double spaces"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "cue must be 1..64 bytes"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"?!\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "at least one letter or digit"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"@year>=1800\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "year must be in 1900..2099"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"@month>=5\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "must be \"@year>=YYYY\""},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":[\"@year>=20x5\"]},{\"name\":\"B\",\"description\":\"b\"}]}",
     "the year must be four digits"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[{\"name\":\"A\",\"description\":\"a\","
     "\"cues\":\"alpha\"},{\"name\":\"B\",\"description\":\"b\"}]}",
     "categories[0].cues: expected an array"},
    {"{\"name\":\"x\",\"default\":\"A\",\"categories\":[\"A\",\"B\"]}",
     "categories[0]: expected an object"},
    {"{\"name\":\"x\",\"name\":\"y\",\"default\":\"A\",\"categories\":[]}", "duplicate"},
    {"{\"name\":\"x\",\"default\":7,\"categories\":[]}", "default: expected a string"},
    {"", "line"},
};

START_TEST(test_parse_invalid_string)
{
    const invalid_str_t *c = &invalid_strings[_i];
    char err[512] = "";
    kc_taxonomy_t *tx = parse_str(c->json, err, sizeof(err));

    ck_assert_msg(tx == NULL, "case %d accepted: %s", _i, c->json);
    ck_assert_msg(strstr(err, c->expect), "case %d: error \"%s\" lacks \"%s\"", _i, err, c->expect);
}
END_TEST

/* Build a taxonomy with cnt categories C0..C{cnt-1}. */
static kc_taxonomy_t *parse_n(size_t cnt, char *err, size_t size)
{
    kc_buf_t b;
    kc_taxonomy_t *tx;

    kc_buf_init(&b);
    kc_buf_puts(&b, "{\"name\":\"many\",\"default\":\"C0\",\"categories\":[");
    for (size_t i = 0; i < cnt; i++) {
        kc_buf_printf(&b, "%s{\"name\":\"C%zu\",\"description\":\"category %zu\"}", i ? "," : "", i,
                      i);
    }
    kc_buf_puts(&b, "]}");
    tx = kc_taxonomy_parse(b.data, b.len, err, size);
    kc_buf_free(&b);
    return tx;
}

START_TEST(test_category_count_limits)
{
    char err[256] = "";
    kc_taxonomy_t *tx = parse_n(64, err, sizeof(err));

    ck_assert_msg(tx != NULL, "64 categories must be accepted: %s", err);
    ck_assert_uint_eq(tx->category_cnt, 64);
    kc_taxonomy_destroy(tx);
    tx = parse_n(65, err, sizeof(err));
    ck_assert_msg(tx == NULL, "65 categories accepted");
    ck_assert_msg(strstr(err, "65 given, 2..64 required"), "error: %s", err);
}
END_TEST

START_TEST(test_load_missing_file)
{
    char err[512] = "";
    kc_taxonomy_t *tx = kc_taxonomy_load(TXDIR "does-not-exist.json", err, sizeof(err));

    ck_assert_msg(tx == NULL, "a missing file cannot load");
    ck_assert_msg(strstr(err, "does-not-exist.json") && strstr(err, "No such file"), "error: %s",
                  err);
}
END_TEST

START_TEST(test_load_too_big)
{
    char path[] = "/tmp/kc_tx_big_XXXXXX";
    char err[512] = "";
    int fd = mkstemp(path);
    FILE *fp;
    kc_taxonomy_t *tx;

    ck_assert_msg(fd >= 0, "mkstemp");
    fp = fdopen(fd, "w");
    for (size_t i = 0; i < KC_TAXONOMY_FILE_MAX / 8 + 1; i++) {
        fputs("        ", fp);
    }
    fclose(fp);
    tx = kc_taxonomy_load(path, err, sizeof(err));
    unlink(path);
    ck_assert_msg(tx == NULL && strstr(err, "larger than"), "error: %s", err);
}
END_TEST

static Suite *taxonomy_suite(void)
{
    Suite *s = suite_create("taxonomy");
    TCase *tc;

    tc = tcase_create("default");
    tcase_add_test(tc, test_default_valid);
    tcase_add_test(tc, test_default_deterministic);
    tcase_add_test(tc, test_destroy_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("prompt_version");
    tcase_add_test(tc, test_prompt_content);
    tcase_add_test(tc, test_version_sensitivity);
    tcase_add_test(tc, test_key_seed);
    tcase_add_test(tc, test_find);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_valid_file);
    tcase_add_loop_test(tc, test_parse_invalid_file, 0,
                        sizeof(invalid_files) / sizeof(invalid_files[0]));
    tcase_add_loop_test(tc, test_parse_invalid_string, 0,
                        sizeof(invalid_strings) / sizeof(invalid_strings[0]));
    tcase_add_test(tc, test_category_count_limits);
    tcase_add_test(tc, test_load_missing_file);
    tcase_add_test(tc, test_load_too_big);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(taxonomy_suite());
}
