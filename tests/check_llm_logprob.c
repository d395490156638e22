/* Unit tests for kc_llm_logprob: finding category values in the raw answer
 * text, aligning tokens with it, and the probability of each category. */
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_llm_logprob.h"
#include "kc_taxonomy.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static kc_taxonomy_t *tx;

static void setup(void)
{
    tx = kc_taxonomy_new_default(); /* KNOWLEDGE_GRAPH, REAL_TIME, GENERAL */
    ck_assert_ptr_nonnull(tx);
}

static void teardown(void)
{
    kc_taxonomy_destroy(tx);
    tx = NULL;
}

/* A taxonomy with these names (descriptions are irrelevant here). */
static kc_taxonomy_t *tx_with(const char *const *names, size_t cnt)
{
    kc_buf_t b;
    char err[256];
    kc_taxonomy_t *t;

    kc_buf_init(&b);
    kc_buf_printf(&b, "{\"name\":\"t\",\"default\":\"%s\",\"categories\":[", names[0]);
    for (size_t i = 0; i < cnt; i++) {
        kc_buf_printf(&b, "%s{\"name\":\"%s\",\"description\":\"d\"}", i ? "," : "", names[i]);
    }
    kc_buf_puts(&b, "]}");
    t = kc_taxonomy_parse(b.data, b.len, err, sizeof(err));
    ck_assert_msg(t != NULL, "taxonomy: %s", err);
    kc_buf_free(&b);
    return t;
}

typedef struct {
    const char *text;
    double logprob;
} tok_t;

/* The content is the tokens' concatenation: stream them all. */
static kc_llm_logprob_t *run(const kc_taxonomy_t *t, const tok_t *toks, size_t n, kc_buf_t *c)
{
    kc_llm_logprob_t *lp;
    const char *open;
    int rc;

    kc_buf_init(c);
    for (size_t i = 0; i < n; i++) {
        kc_buf_puts(c, toks[i].text);
    }
    open = strchr(c->data, '{');
    ck_assert_ptr_nonnull(open);
    rc = kc_llm_logprob_new(&lp, t, c->data, c->len, (size_t)(open - c->data),
                            c->len - (size_t)(open - c->data));
    ck_assert_msg(rc == 0, "new: %s", kc_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        rc = kc_llm_logprob_token(lp, toks[i].text, strlen(toks[i].text), toks[i].logprob);
        ck_assert_msg(rc == 0, "token %zu \"%s\": %s", i, toks[i].text, kc_strerror(rc));
    }
    ck_assert_uint_eq(kc_llm_logprob_covered(lp), c->len);
    return lp;
}

static void assert_p(const kc_llm_logprob_t *lp, size_t i, double want)
{
    float p = -1.0f;
    int rc = kc_llm_logprob_get(lp, i, &p);

    ck_assert_msg(rc == 0, "results[%zu]: %s, want p %.6f", i, kc_strerror(rc), want);
    ck_assert_msg(fabs(p - want) < 1e-6, "results[%zu]: p %.6f, want %.6f", i, (double)p, want);
}

static void assert_rc(const kc_llm_logprob_t *lp, size_t i, int want)
{
    float p = -1.0f;
    int rc = kc_llm_logprob_get(lp, i, &p);

    ck_assert_msg(rc == want, "results[%zu]: rc %s (p %f), want %s", i, kc_strerror(rc), (double)p,
                  kc_strerror(want));
}

/* ------------------------------------------------------------------------
 * Which tokens decide a category
 * ------------------------------------------------------------------------ */

START_TEST(test_split_name)
{
    /* KNOWLEDGE_GRAPH is the only name starting with K: "KNOW" decides. */
    const tok_t toks[] = {
        {"{\"results\":[{\"id\":\"q0\",\"category\":\"", -0.5},
        {"KNOW", -0.1},
        {"LED", -0.2},
        {"GE_", -0.3},
        {"GRAPH", -0.4},
        {"\"}]}", -0.05},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 6, &c);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 1);
    assert_p(lp, 0, exp(-0.1));
    kc_llm_logprob_destroy(lp);

    /* With KNOWN_ISSUES too, "KNOWL" decides: its L is in "LED". */
    static const char *const names[] = {"KNOWLEDGE_GRAPH", "KNOWN_ISSUES", "REAL_TIME"};
    kc_taxonomy_t *t = tx_with(names, 3);
    kc_buf_free(&c);
    lp = run(t, toks, 6, &c);
    assert_p(lp, 0, exp(-0.1 - 0.2));
    kc_llm_logprob_destroy(lp);
    kc_taxonomy_destroy(t);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_token_starts_before_value)
{
    /* `":"KN` holds the quote and the value's first bytes; `_TIME"},{"`
     * runs from inside a value into the next structure. */
    const tok_t toks[] = {
        {"{\"results\":[{\"id\":\"q0\",\"category", -0.7},
        {"\":\"KN", -0.3},
        {"OWLEDGE_GRAPH\"},{\"id\":\"q1\",\"category\":\"REAL", -0.2},
        {"_TIME\"},{\"", -0.9},
        {"id\":\"q2\",\"category\":\"", -0.1},
        {"GENERAL\"}]}", -0.01},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 6, &c);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 3);
    assert_p(lp, 0, exp(-0.3));
    assert_p(lp, 1, exp(-0.2)); /* the R of REAL_TIME is in the token before */
    assert_p(lp, 2, exp(-0.01));
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_prefix_of_another_name)
{
    /* "A" is also a prefix of "AB": the closing quote chose A. */
    static const char *const names[] = {"A", "AB", "C"};
    kc_taxonomy_t *t = tx_with(names, 3);
    const tok_t toks[] = {
        {"{\"results\":[{\"category\":\"", -1.0},
        {"A", -0.1},
        {"\"},{\"category\":\"", -0.2},
        {"A", -0.3},
        {"B", -0.4},
        {"\"},{\"category\":\"C\"}]}", -0.5},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(t, toks, 6, &c);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 3);
    assert_p(lp, 0, exp(-0.1 - 0.2));
    assert_p(lp, 1, exp(-0.3 - 0.4)); /* unique after "AB" */
    assert_p(lp, 2, exp(-0.5));       /* unique at its first byte */
    kc_llm_logprob_destroy(lp);
    kc_taxonomy_destroy(t);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_never_unique)
{
    /* Lowercase (accepted by the parser's leniency) is no name's prefix:
     * the whole value and its closing quote count. So does an empty value. */
    const tok_t toks[] = {
        {"{\"results\":[{\"category\":\"", -1.0},
        {"gen", -0.1},
        {"eral", -0.2},
        {"\"},", -0.3},
        {"{\"category\":", -0.4},
        {"\"\"", -0.6},
        {"}]}", -0.7},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 7, &c);

    assert_p(lp, 0, exp(-0.6));
    assert_p(lp, 1, exp(-0.6)); /* `""` holds both quotes */
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_token_over_two_values)
{
    const tok_t toks[] = {
        {"{\"results\":[{\"category\":\"", -1.0},
        {"REAL_TIME\"},{\"category\":\"G", -0.2},
        {"ENERAL\"}]}", -0.3},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 3, &c);

    assert_p(lp, 0, exp(-0.2));
    assert_p(lp, 1, exp(-0.2)); /* the same token decided both */
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);

    /* One token for the whole content. */
    const tok_t one[] = {{"{\"results\":[{\"category\":\"GENERAL\"},{\"category\":\"x\"}]}", -0.4}};
    lp = run(tx, one, 1, &c);
    assert_p(lp, 0, exp(-0.4));
    assert_p(lp, 1, exp(-0.4));
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_empty_tokens_fold_forward)
{
    const tok_t toks[] = {
        {"", NAN}, /* before structure only: harmless */
        {"{\"results\":[{\"category\":\"", -1.0},
        {"", -0.5}, /* generated just before "GEN": counts with it */
        {"GEN", -0.1},
        {"ERAL\"}]}", -0.2},
        {"", -3.0}, /* nothing follows: dropped */
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 6, &c);

    assert_p(lp, 0, exp(-0.6));
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_logprob_numbers)
{
    const tok_t toks[] = {
        {"{\"results\":[{\"category\":\"", NAN}, /* outside every value */
        {"GENERAL\"},{\"category\":\"", 0.7},    /* positive: counts as 0 */
        {"REAL", -INFINITY},
        {"_TIME\"},{\"category\":\"", -0.1},
        {"KNOWLEDGE", NAN}, /* inside a value: unknown */
        {"_GRAPH\"},{\"category\":\"", -0.1},
        {"GEN", -1e308},
        {"ERAL", -1e308}, /* not deciding: never summed */
        {"\"},{\"category\":\"", -1e308},
        {"GENERAL\"}]}", 0.0},
    };
    kc_buf_t c;
    kc_llm_logprob_t *lp = run(tx, toks, 10, &c);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 5);
    assert_p(lp, 0, 1.0);
    assert_p(lp, 1, 0.0);
    assert_rc(lp, 2, KC_ERR_NOTFOUND);
    assert_p(lp, 3, 0.0); /* exp(-1e308) underflows to 0 */
    assert_p(lp, 4, 1.0);
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);

    /* Two huge logprobs in one value sum to -inf: p 0, not NaN. */
    static const char *const names[] = {"AA", "AB"};
    kc_taxonomy_t *t = tx_with(names, 2);
    const tok_t inf[] = {
        {"{\"results\":[{\"category\":\"", 0.0},
        {"A", -1e308},
        {"A", -1e308},
        {"\"}]}", 0.0},
    };
    lp = run(t, inf, 4, &c);
    assert_p(lp, 0, 0.0);
    kc_llm_logprob_destroy(lp);
    kc_taxonomy_destroy(t);
    kc_buf_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------
 * Tokens that do not spell the content
 * ------------------------------------------------------------------------ */

static const char CONTENT[] =
    "{\"results\":[{\"category\":\"REAL_TIME\"},{\"category\":\"GENERAL\"}]}";

static kc_llm_logprob_t *new_default(void)
{
    kc_llm_logprob_t *lp;
    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, CONTENT, strlen(CONTENT), 0, strlen(CONTENT)), 0);
    return lp;
}

START_TEST(test_mismatch)
{
    kc_llm_logprob_t *lp = new_default();
    const char *head = "{\"results\":[{\"category\":\"REAL_TIME\"},{\"category\":\"";

    ck_assert_int_eq(kc_llm_logprob_token(lp, head, strlen(head), -0.1), 0);
    assert_p(lp, 0, exp(-0.1));
    ck_assert_int_eq(kc_llm_logprob_token(lp, "KNOW", 4, -0.1), KC_ERR_DECODE);
    /* sticky: even the right bytes are refused now */
    ck_assert_int_eq(kc_llm_logprob_token(lp, "GENERAL", 7, -0.1), KC_ERR_DECODE);
    ck_assert_int_eq(kc_llm_logprob_token_end(lp, -0.1), KC_ERR_DECODE);
    assert_rc(lp, 0, KC_ERR_STATE);
    assert_rc(lp, 1, KC_ERR_STATE);
    kc_llm_logprob_destroy(lp);

    /* Past the end of the content. */
    lp = new_default();
    ck_assert_int_eq(kc_llm_logprob_token(lp, CONTENT, strlen(CONTENT), -0.1), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, "", 0, -0.1), 0); /* no bytes: fine */
    ck_assert_int_eq(kc_llm_logprob_token(lp, "\n", 1, -0.1), KC_ERR_DECODE);
    assert_rc(lp, 1, KC_ERR_STATE);
    kc_llm_logprob_destroy(lp);

    /* A NULL token with bytes claimed. */
    lp = new_default();
    ck_assert_int_eq(kc_llm_logprob_feed(lp, NULL, 3), KC_ERR_DECODE);
    kc_llm_logprob_destroy(lp);
}
END_TEST

START_TEST(test_truncated_list)
{
    kc_llm_logprob_t *lp = new_default();
    const char *head = "{\"results\":[{\"category\":\"REAL_TIME\"},{\"category\":\"";

    ck_assert_int_eq(kc_llm_logprob_token(lp, head, strlen(head), -0.25), 0);
    ck_assert_uint_eq(kc_llm_logprob_covered(lp), strlen(head));
    assert_p(lp, 0, exp(-0.25));
    assert_rc(lp, 1, KC_ERR_NOTFOUND); /* its deciding byte never came */
    assert_rc(lp, 2, KC_ERR_NOTFOUND); /* out of range */
    kc_llm_logprob_destroy(lp);

    /* No tokens at all: nothing is known, nothing is wrong. */
    lp = new_default();
    assert_rc(lp, 0, KC_ERR_NOTFOUND);
    kc_llm_logprob_destroy(lp);
}
END_TEST

START_TEST(test_utf8_split_in_bytes)
{
    /* "é✓" split across tokens: fed as raw bytes in pieces they spell the
     * content; as replacement characters (a token text without "bytes")
     * they do not. */
    static const char content[] =
        "{\"results\":[{\"reasoning\":\"caf\xc3\xa9 \xe2\x9c\x93\",\"category\":\"GENERAL\"}]}";
    const char *cut = strstr(content, "\xc3");
    kc_llm_logprob_t *lp;

    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, content, strlen(content), 0, strlen(content)), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, content, (size_t)(cut - content) + 1, -0.1), 0);
    ck_assert_int_eq(kc_llm_logprob_feed(lp, "\xa9 \xe2", 3), 0);
    ck_assert_int_eq(kc_llm_logprob_feed(lp, "\x9c", 1), 0);
    ck_assert_int_eq(kc_llm_logprob_token_end(lp, -0.2), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, "\x93\",\"category\":\"", 15, -0.3), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, "GENERAL\"}]}", 11, -0.4), 0);
    ck_assert_uint_eq(kc_llm_logprob_covered(lp), strlen(content));
    assert_p(lp, 0, exp(-0.4));
    kc_llm_logprob_destroy(lp);

    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, content, strlen(content), 0, strlen(content)), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, content, (size_t)(cut - content), -0.1), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, "\xef\xbf\xbd", 3, -0.1), KC_ERR_DECODE);
    assert_rc(lp, 0, KC_ERR_STATE);
    kc_llm_logprob_destroy(lp);
}
END_TEST

/* ------------------------------------------------------------------------
 * Scanner: which strings are category values
 * ------------------------------------------------------------------------ */

/* Stream the content one byte per token, logprob 0 except at the given
 * offsets; with the default taxonomy GENERAL and REAL_TIME are decided by
 * their first byte, so p tells which value an entry points at. */
static kc_llm_logprob_t *bytewise(const char *content, const char *const *marks, size_t mark_cnt)
{
    size_t len = strlen(content);
    const char *open = strchr(content, '{');
    kc_llm_logprob_t *lp;
    int rc = kc_llm_logprob_new(&lp, tx, content, len, (size_t)(open - content),
                                len - (size_t)(open - content));

    ck_assert_msg(rc == 0, "new: %s", kc_strerror(rc));
    for (size_t i = 0; i < len; i++) {
        double logprob = 0.0;
        for (size_t m = 0; m < mark_cnt; m++) {
            const char *at = strstr(content, marks[m]);
            ck_assert_msg(at != NULL, "mark %s not in content", marks[m]);
            if ((size_t)(at - content) + strlen(marks[m]) - 1 == i) {
                logprob = -0.1 * (double)(m + 1);
            }
        }
        ck_assert_int_eq(kc_llm_logprob_token(lp, content + i, 1, logprob), 0);
    }
    return lp;
}

START_TEST(test_scanner_decoys)
{
    /* Each mark ends on the first byte of the value it names. */
    static const char content[] =
        "{\"category\":\"REAL_TIME\",\"results\":["
        "{\"reasoning\":\"x \\\"category\\\":\\\"REAL_TIME\\\"\",\"category\":\"GENERAL\","
        "\"meta\":{\"category\":\"REAL_TIME\"}},"
        "5,"
        "{\"c\\u0061tegory\":\"REAL_TIME\"},"
        "{\"category\":\"REAL_TIME\",\"category\":7},"
        "{\"category\":\"KNOWLEDGE_GRAPH\",\"category\":\"GENERAL\"},"
        "[{\"category\":\"REAL_TIME\"}],"
        "{\"category\":[\"GENERAL\"],\"category\":\"REAL_TIME\"}"
        "],\"other\":{\"results\":[]}}";
    static const char *const marks[] = {
        "\"category\":\"G",     /* results[0] */
        "0061tegory\":\"R",     /* results[2], the escaped key */
        "H\",\"category\":\"G", /* results[4], the later key */
        "],\"category\":\"R",   /* results[6], after an array value */
    };
    kc_llm_logprob_t *lp = bytewise(content, marks, 4);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 7);
    assert_p(lp, 0, exp(-0.1));
    assert_rc(lp, 1, KC_ERR_NOTFOUND); /* not an object */
    assert_p(lp, 2, exp(-0.2));
    assert_rc(lp, 3, KC_ERR_NOTFOUND); /* the last category is a number */
    assert_p(lp, 4, exp(-0.3));
    assert_rc(lp, 5, KC_ERR_NOTFOUND); /* an array element */
    assert_p(lp, 6, exp(-0.4));
    kc_llm_logprob_destroy(lp);
}
END_TEST

START_TEST(test_scanner_repeated_results)
{
    static const char content[] = "{\"results\":[{\"category\":\"GENERAL\"}],"
                                  "\"results\":[true,{\"category\":\"REAL_TIME\"}]}";
    static const char *const marks[] = {"\"R"};
    kc_llm_logprob_t *lp = bytewise(content, marks, 1);

    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 2);
    assert_rc(lp, 0, KC_ERR_NOTFOUND);
    assert_p(lp, 1, exp(-0.1));
    kc_llm_logprob_destroy(lp);
}
END_TEST

START_TEST(test_scanner_prose_offsets)
{
    /* The JSON sits inside fences and prose (and the prose has braces):
     * offsets are in the whole content. */
    static const char content[] = "Here {you} go:\n```json\n{\"results\": [ {\"id\": \"q0\", "
                                  "\"category\" : \"REAL_TIME\" } ] }\n```\nDone {ok}.";
    const char *open = strstr(content, "{\"results");
    size_t off = (size_t)(open - content);
    size_t jlen = (size_t)(strstr(content, "\n```\nDone") - open);
    const char *v = strstr(content, "REAL_TIME");
    kc_llm_logprob_t *lp;

    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, content, strlen(content), off, jlen), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, content, (size_t)(v - content), -0.5), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, "RE", 2, -0.25), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, v + 2, strlen(v + 2), -0.5), 0);
    assert_p(lp, 0, exp(-0.25));
    kc_llm_logprob_destroy(lp);
}
END_TEST

START_TEST(test_scanner_errors)
{
    static const char *const bad[] = {
        "[{\"results\":[]}]",
        "\"results\"",
        "{\"x\":1}",
        "{\"results\":{}}",
        "{\"results\":[",
        "{\"results\":\"[\"}",
        "}",
        "",
        "{\"results\":[\"unterminated",
    };
    kc_llm_logprob_t *lp = (kc_llm_logprob_t *)&lp;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = kc_llm_logprob_new(&lp, tx, bad[i], strlen(bad[i]), 0, strlen(bad[i]));
        ck_assert_msg(rc == KC_ERR_DECODE, "\"%s\": rc %s", bad[i], kc_strerror(rc));
        ck_assert_ptr_null(lp);
    }
    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, CONTENT, 10, 5, 6), KC_ERR_INVALID);
    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, CONTENT, 10, 11, 0), KC_ERR_INVALID);
    ck_assert_int_eq(kc_llm_logprob_new(&lp, NULL, CONTENT, 10, 0, 10), KC_ERR_INVALID);
    ck_assert_int_eq(kc_llm_logprob_new(NULL, tx, CONTENT, 10, 0, 10), KC_ERR_INVALID);
    /* Prose after the object is not scanned. */
    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, "{\"results\":[]} {\"x", 18, 0, 18), 0);
    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), 0);
    kc_llm_logprob_destroy(lp);
    kc_llm_logprob_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

START_TEST(test_linear)
{
    size_t n = 100000;
    kc_buf_t c;
    kc_llm_logprob_t *lp;
    clock_t t0;
    double secs;
    float p;
    int rc = 0;

    kc_buf_init(&c);
    kc_buf_puts(&c, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        kc_buf_printf(&c, "%s{\"id\":\"q%zu\",\"category\":\"%s\"}", i ? "," : "", i,
                      tx->categories[i % 3].name);
    }
    kc_buf_puts(&c, "]}");
    t0 = clock();
    ck_assert_int_eq(kc_llm_logprob_new(&lp, tx, c.data, c.len, 0, c.len), 0);
    /* One assertion per loop: Check's are slow enough to hide the code's cost. */
    for (size_t i = 0; i < c.len; i++) {
        rc |= kc_llm_logprob_token(lp, c.data + i, 1, -0.001);
    }
    ck_assert_int_eq(rc, 0);
    for (size_t i = 0; i < n; i++) {
        rc |= kc_llm_logprob_get(lp, i, &p);
    }
    ck_assert_int_eq(rc, 0);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("llm_logprob: %zu results, %zu one-byte tokens in %.3f s\n", n, c.len, secs);
    ck_assert_msg(secs < 5.0, "took %.2f s", secs);
    ck_assert_uint_eq(kc_llm_logprob_result_cnt(lp), n);
    kc_llm_logprob_destroy(lp);
    kc_buf_free(&c);
}
END_TEST

START_TEST(test_long_value_many_names)
{
    /* 64 names sharing a 62-byte prefix and values as long: deciding stays
     * cheap (binary search per byte, at most 65 bytes per value). */
    const char *names[KC_TAXONOMY_MAX_CATEGORIES];
    char store[KC_TAXONOMY_MAX_CATEGORIES][KC_TAXONOMY_NAME_MAX + 1];
    kc_taxonomy_t *t;
    kc_buf_t c;
    kc_llm_logprob_t *lp;
    float p;

    for (size_t i = 0; i < KC_TAXONOMY_MAX_CATEGORIES; i++) {
        memset(store[i], 'A', 62);
        snprintf(store[i] + 62, 3, "%02zu", i);
        names[i] = store[i];
    }
    t = tx_with(names, KC_TAXONOMY_MAX_CATEGORIES);
    kc_buf_init(&c);
    kc_buf_puts(&c, "{\"results\":[");
    for (size_t i = 0; i < 20000; i++) {
        kc_buf_printf(&c, "%s{\"category\":\"%s\"}", i ? "," : "", store[i % 64]);
    }
    kc_buf_puts(&c, "]}");
    ck_assert_int_eq(kc_llm_logprob_new(&lp, t, c.data, c.len, 0, c.len), 0);
    ck_assert_int_eq(kc_llm_logprob_token(lp, c.data, c.len, -0.5), 0);
    ck_assert_int_eq(kc_llm_logprob_get(lp, 19999, &p), 0);
    ck_assert_float_eq_tol(p, (float)exp(-0.5), 1e-6f);
    kc_llm_logprob_destroy(lp);
    kc_taxonomy_destroy(t);
    kc_buf_free(&c);
}
END_TEST

static Suite *llm_logprob_suite(void)
{
    Suite *s = suite_create("llm_logprob");
    TCase *tc;

    tc = tcase_create("deciding_tokens");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_split_name);
    tcase_add_test(tc, test_token_starts_before_value);
    tcase_add_test(tc, test_prefix_of_another_name);
    tcase_add_test(tc, test_never_unique);
    tcase_add_test(tc, test_token_over_two_values);
    tcase_add_test(tc, test_empty_tokens_fold_forward);
    tcase_add_test(tc, test_logprob_numbers);
    suite_add_tcase(s, tc);

    tc = tcase_create("alignment");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mismatch);
    tcase_add_test(tc, test_truncated_list);
    tcase_add_test(tc, test_utf8_split_in_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("scanner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_scanner_decoys);
    tcase_add_test(tc, test_scanner_repeated_results);
    tcase_add_test(tc, test_scanner_prose_offsets);
    tcase_add_test(tc, test_scanner_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_long_value_many_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(llm_logprob_suite());
}
