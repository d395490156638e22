/* Unit tests for libcore/wire/kc_normalize.c: UTF-8 check, normalization, cache key. */
#include "kc_err.h"
#include "kc_normalize.h"

#include "kc_check.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct utf8_case_s {
    const char *bytes;
    size_t len;
    const char *what;
} utf8_case_t;

#define U(s, what)                                                                                 \
    {                                                                                              \
        s, sizeof(s) - 1, what                                                                     \
    }

/* ------------------------------------------------------------------------- */

START_TEST(test_utf8_valid)
{
    static const utf8_case_t cases[] = {
        U("", "empty"),
        U("plain ascii", "ASCII"),
        U("a\0b", "embedded NUL (U+0000)"),
        U("\x7F", "DEL, last 1-byte"),
        U("\xC2\x80", "U+0080, first 2-byte"),
        U("caf\xC3\xA9", "U+00E9"),
        U("\xDF\xBF", "U+07FF, last 2-byte"),
        U("\xE0\xA0\x80", "U+0800, first 3-byte"),
        U("\xE2\x82\xAC", "euro sign"),
        U("\xED\x9F\xBF", "U+D7FF, just below surrogates"),
        U("\xEE\x80\x80", "U+E000, just above surrogates"),
        U("\xEF\xBF\xBF", "U+FFFF"),
        U("\xF0\x90\x80\x80", "U+10000, first 4-byte"),
        U("\xF0\x9F\x98\x80", "emoji U+1F600"),
        U("\xF4\x8F\xBF\xBF", "U+10FFFF, last code point"),
        U("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "Japanese"),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(kc_utf8_valid(cases[i].bytes, cases[i].len), "should be valid: %s",
                      cases[i].what);
    }
}
END_TEST

START_TEST(test_utf8_invalid)
{
    static const utf8_case_t cases[] = {
        U("\x80", "lone continuation byte"),
        U("a\xBF", "continuation after ASCII"),
        U("\xC0\xAF", "overlong '/' (C0)"),
        U("\xC1\xBF", "overlong (C1)"),
        U("\xE0\x80\xAF", "overlong 3-byte '/'"),
        U("\xE0\x9F\xBF", "overlong 3-byte U+07FF"),
        U("\xF0\x80\x80\xAF", "overlong 4-byte '/'"),
        U("\xF0\x8F\xBF\xBF", "overlong 4-byte U+FFFF"),
        U("\xED\xA0\x80", "high surrogate U+D800"),
        U("\xED\xBF\xBF", "low surrogate U+DFFF"),
        U("\xED\xA0\xBD\xED\xB8\x80", "CESU-8 surrogate pair"),
        U("\xF4\x90\x80\x80", "U+110000, beyond Unicode"),
        U("\xF5\x80\x80\x80", "F5 lead byte"),
        U("\xF8\x88\x80\x80\x80", "5-byte form"),
        U("\xFE", "FE"),
        U("\xFF", "FF"),
        U("\xC3", "truncated 2-byte at end"),
        U("\xE2\x82", "truncated 3-byte at end"),
        U("\xF0\x9F\x98", "truncated 4-byte at end"),
        U("ok \xE2\x82 ok", "truncated 3-byte inside"),
        U("\xC3\x28", "bad continuation"),
        U("\xF0\x9F\x98\x28", "bad last continuation of 4-byte"),
        U("caf\xE9", "Latin-1 e-acute"),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(!kc_utf8_valid(cases[i].bytes, cases[i].len), "should be invalid: %s",
                      cases[i].what);
    }
}
END_TEST

START_TEST(test_utf8_length_bound)
{
    /* A valid sequence cut by len must be rejected, not read past len. */
    const char emoji[] = "\xF0\x9F\x98\x80";
    for (size_t n = 1; n < 4; n++) {
        char *p = malloc(n); /* exact size: ASan catches an over-read */
        memcpy(p, emoji, n);
        ck_assert_msg(!kc_utf8_valid(p, n), "first %zu bytes of a 4-byte char", n);
        free(p);
    }
}
END_TEST

/* ------------------------------------------------------------------------- */

static void assert_norm(const char *in, size_t len, const char *want)
{
    /* Exactly len + 1 bytes, the documented minimum: ASan catches overflow. */
    char *out = malloc(len + 1);
    size_t out_len = 12345;
    int rc = kc_query_normalize(in, len, out, &out_len);
    ck_assert_msg(rc == 0, "normalize '%s': %s", in, kc_strerror(rc));
    ck_assert_msg(
        out_len == strlen(want) && memcmp(out, want, out_len) == 0 && out[out_len] == '\0',
        "normalize '%s' gave '%.*s' (%zu), expected '%s'", in, (int)out_len, out, out_len, want);
    free(out);
}

#define N(in, want) assert_norm(in, sizeof(in) - 1, want)

START_TEST(test_norm_whitespace)
{
    N("hello", "hello");
    N("  hello  ", "hello");
    N("hello   world", "hello world");
    N("\thello\t\tworld\n", "hello world");
    N("a \t\n\r\v\f b", "a b");
    N("line one\r\nline two", "line one line two");
    N("a b c", "a b c");
    N(" \n a", "a");
}
END_TEST

START_TEST(test_norm_case)
{
    N("Hello World", "hello world");
    N("ABCXYZ abcxyz 0129 @[`{", "abcxyz abcxyz 0129 @[`{");
    /* ASCII-only fold: non-ASCII bytes are left exactly as they are. */
    N("\xC3\x89"
      "COLE",
      "\xC3\x89"
      "cole"); /* "ÉCOLE" -> "École" */
    N("STRA\xC3\x9F"
      "E",
      "stra\xC3\x9F"
      "e"); /* "STRAßE" */
    N("\xCE\xA3\xCE\x99\xCE\x93\xCE\x9C\xCE\x91", "\xCE\xA3\xCE\x99\xCE\x93\xCE\x9C\xCE\x91");
    N("\xF0\x9F\x98\x80 SMILE", "\xF0\x9F\x98\x80 smile"); /* 4-byte char kept */
}
END_TEST

START_TEST(test_norm_trailing_punct)
{
    N("What is X ?!", "what is x");
    N("what is x?", "what is x");
    N("what is x...", "what is x");
    N("really?!?!", "really");
    N("why . ! ?  ", "why");
    N("e.g.", "e.g");
    N("a ? b", "a ? b");   /* only trailing punctuation goes */
    N("?hello", "?hello"); /* leading punctuation stays */
    N("x,", "x,");         /* only ?.! are stripped */
    N("\xC2\xBF"
      "qu\xC3\xA9?",
      "\xC2\xBF"
      "qu\xC3\xA9");
    N("caf\xC3\xA9!", "caf\xC3\xA9");
}
END_TEST

START_TEST(test_norm_empty)
{
    N("", "");
    N("   ", "");
    N("\t\r\n", "");
    N("?", "");
    N("?!. ..", "");
    N("  ? ! . ", "");
}
END_TEST

START_TEST(test_norm_embedded_nul)
{
    /* U+0000 is valid UTF-8; it is kept, not treated as the end of input. */
    const char in[] = "A\0B";
    char out[4];
    size_t out_len;
    ck_assert_int_eq(kc_query_normalize(in, 3, out, &out_len), 0);
    ck_assert_msg(out_len == 3 && memcmp(out, "a\0b", 3) == 0, "embedded NUL: len %zu", out_len);
}
END_TEST

START_TEST(test_norm_invalid_utf8)
{
    char out[16];
    size_t out_len = 99;
    int rc = kc_query_normalize("bad \xC0\xAF", 6, out, &out_len);
    ck_assert_msg(rc == KC_ERR_INVALID, "overlong must be rejected, got %d", rc);
    ck_assert_msg(out_len == 0 && out[0] == '\0', "output must be empty on error");
    rc = kc_query_normalize("\xED\xA0\x80", 3, out, &out_len);
    ck_assert_msg(rc == KC_ERR_INVALID, "surrogate must be rejected, got %d", rc);
}
END_TEST

START_TEST(test_norm_idempotent)
{
    static const char *inputs[] = {
        "  What IS   the Capital of FRANCE?? ",
        "a\t\tb\n\nc!",
        "   ",
        "x . . .",
        "Q?A?",
        "\xC3\x89"
        "COLE  Polytechnique.",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t len = strlen(inputs[i]), n1, n2;
        char *a = malloc(len + 1), *b = malloc(len + 1);
        ck_assert_int_eq(kc_query_normalize(inputs[i], len, a, &n1), 0);
        ck_assert_int_eq(kc_query_normalize(a, n1, b, &n2), 0);
        ck_assert_msg(n1 == n2 && memcmp(a, b, n1) == 0,
                      "normalizing twice changed '%s': '%s' -> '%s'", inputs[i], a, b);
        free(a);
        free(b);
    }
}
END_TEST

/* ------------------------------------------------------------------------- */

static kc_key_t key_of_query(const char *q, uint64_t seed)
{
    size_t len = strlen(q), n;
    char *out = malloc(len + 1);
    ck_assert_int_eq(kc_query_normalize(q, len, out, &n), 0);
    kc_key_t key = kc_key_compute(out, n, seed);
    free(out);
    return key;
}

START_TEST(test_key_stable)
{
    kc_key_t a = kc_key_compute("what is x", 9, 7);
    kc_key_t b = kc_key_compute("what is x", 9, 7);
    ck_assert_msg(kc_key_eq(&a, &b), "same input and seed must give the same key");
    ck_assert_msg(a.hi != 0 || a.lo != 0, "key should not be zero");
    /* Queries that differ only in what normalization removes share a key. */
    kc_key_t c = key_of_query("  What   is X ?!", 7);
    ck_assert_msg(kc_key_eq(&a, &c), "normalized variants must share a key");
}
END_TEST

START_TEST(test_key_differs)
{
    kc_key_t a = kc_key_compute("what is x", 9, 7);
    kc_key_t b = kc_key_compute("what is x", 9, 8);
    kc_key_t c = kc_key_compute("what is y", 9, 7);
    kc_key_t d = kc_key_compute("what is", 7, 7);
    ck_assert_msg(!kc_key_eq(&a, &b), "a new taxonomy version must change the key");
    ck_assert_msg(a.hi != b.hi && a.lo != b.lo, "both halves should change with the seed");
    ck_assert_msg(!kc_key_eq(&a, &c), "different text must change the key");
    ck_assert_msg(!kc_key_eq(&a, &d), "a prefix must not share the key");
    /* The key covers bytes after an embedded NUL. */
    kc_key_t e = kc_key_compute("a\0b", 3, 7);
    kc_key_t f = kc_key_compute("a\0c", 3, 7);
    ck_assert_msg(!kc_key_eq(&e, &f), "bytes after NUL must count");
}
END_TEST

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

START_TEST(test_key_hex)
{
    char hex[KC_KEY_HEX_SIZE];
    kc_key_t k = {0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL};
    kc_key_hex(&k, hex);
    ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");

    kc_key_t z = {0, 1};
    kc_key_hex(&z, hex);
    ck_assert_msg(strcmp(hex, "00000000000000000000000000000001") == 0,
                  "leading zeros must be kept (hi then lo): %s", hex);

    kc_key_t m = {UINT64_MAX, UINT64_MAX};
    memset(hex, 'Z', sizeof(hex));
    kc_key_hex(&m, hex);
    ck_assert_str_eq(hex, "ffffffffffffffffffffffffffffffff");

    for (uint64_t seed = 0; seed < 64; seed++) {
        kc_key_t r = kc_key_compute("some query", 10, seed);
        kc_key_hex(&r, hex);
        ck_assert_msg(strlen(hex) == 32 && is_lower_hex(hex, 32), "bad hex '%s'", hex);
    }
}
END_TEST

START_TEST(test_hash64)
{
    uint64_t a = kc_hash64("abc", 3, 0);
    ck_assert_msg(a == kc_hash64("abc", 3, 0), "hash64 must be deterministic");
    ck_assert_msg(a != kc_hash64("abc", 3, 1), "hash64 must depend on the seed");
    ck_assert_msg(a != kc_hash64("abd", 3, 0), "hash64 must depend on the data");
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *normalize_suite(void)
{
    Suite *s = suite_create("normalize");
    TCase *tc;

    tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_utf8_invalid);
    tcase_add_test(tc, test_utf8_length_bound);
    suite_add_tcase(s, tc);

    tc = tcase_create("normalize");
    tcase_add_test(tc, test_norm_whitespace);
    tcase_add_test(tc, test_norm_case);
    tcase_add_test(tc, test_norm_trailing_punct);
    tcase_add_test(tc, test_norm_empty);
    tcase_add_test(tc, test_norm_embedded_nul);
    tcase_add_test(tc, test_norm_invalid_utf8);
    tcase_add_test(tc, test_norm_idempotent);
    suite_add_tcase(s, tc);

    tc = tcase_create("key");
    tcase_add_test(tc, test_key_stable);
    tcase_add_test(tc, test_key_differs);
    tcase_add_test(tc, test_key_hex);
    tcase_add_test(tc, test_hash64);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return kc_check_run(normalize_suite());
}
