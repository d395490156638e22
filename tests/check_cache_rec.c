/* Unit tests for libcore/cache/kc_cache_rec.c: the versioned binary cache record. */
#include "kc_buf.h"
#include "kc_cache_rec.h"
#include "kc_err.h"

#include "kc_check.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kc_cache_rec_t sample(void)
{
    kc_cache_rec_t rec = {0};

    rec.norm = "what is the latest metabolomics news";
    rec.norm_len = strlen(rec.norm);
    rec.category = "REAL_TIME";
    rec.category_len = strlen(rec.category);
    rec.confidence = 0.87f;
    rec.reasoning = "asks for recent events";
    rec.reasoning_len = strlen(rec.reasoning);
    rec.model = "gpt-4o-mini";
    rec.model_len = strlen(rec.model);
    rec.created_at = 1700000000123456LL;
    rec.expires_at = 1700000003723456LL;
    return rec;
}

static void assert_str(const char *what, const char *got, size_t got_len, const char *want,
                       size_t want_len)
{
    if (!want) {
        ck_assert_msg(got == NULL, "%s: expected absent (NULL), got %zu bytes", what, got_len);
        return;
    }
    ck_assert_msg(got != NULL, "%s: expected '%.*s', got NULL", what, (int)want_len, want);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "%s: got '%.*s' (%zu bytes), expected '%.*s' (%zu bytes)", what, (int)got_len,
                  got, got_len, (int)want_len, want, want_len);
}

static void assert_same(const kc_cache_rec_t *a, const kc_cache_rec_t *b)
{
    assert_str("norm", a->norm, a->norm_len, b->norm, b->norm_len);
    assert_str("category", a->category, a->category_len, b->category, b->category_len);
    assert_str("reasoning", a->reasoning, a->reasoning_len, b->reasoning, b->reasoning_len);
    assert_str("model", a->model, a->model_len, b->model, b->model_len);
    ck_assert_msg(memcmp(&a->confidence, &b->confidence, sizeof(float)) == 0,
                  "confidence %.9g != %.9g", (double)a->confidence, (double)b->confidence);
    ck_assert_msg(a->created_at == b->created_at, "created_at %lld != %lld",
                  (long long)a->created_at, (long long)b->created_at);
    ck_assert_msg(a->expires_at == b->expires_at, "expires_at %lld != %lld",
                  (long long)a->expires_at, (long long)b->expires_at);
}

static void roundtrip(const kc_cache_rec_t *rec)
{
    kc_buf_t buf;
    kc_cache_rec_t out;
    char errstr[256] = "";
    int rc;

    kc_buf_init(&buf);
    ck_assert_msg(kc_cache_rec_encode(rec, &buf) == 0, "encode failed");
    rc = kc_cache_rec_decode(buf.data, buf.len, &out, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "decode: %s", errstr);
    assert_same(&out, rec);
    kc_buf_free(&buf);
}

/* ------------------------------------------------------------ round trips */

START_TEST(test_roundtrip_full)
{
    kc_cache_rec_t rec = sample();
    roundtrip(&rec);
}
END_TEST

START_TEST(test_roundtrip_absent_vs_empty)
{
    kc_cache_rec_t rec = sample();

    rec.reasoning = NULL;
    rec.reasoning_len = 0;
    rec.model = NULL;
    rec.model_len = 0;
    roundtrip(&rec);
    rec.reasoning = "";
    rec.model = "";
    roundtrip(&rec); /* empty strings must stay empty, not become NULL */
    rec.reasoning = NULL;
    roundtrip(&rec);
}
END_TEST

START_TEST(test_roundtrip_extremes)
{
    kc_cache_rec_t rec = sample();
    char big[70000];

    memset(big, 'x', sizeof(big));
    rec.reasoning = big;
    rec.reasoning_len = sizeof(big); /* > 16 bits of length */
    rec.created_at = INT64_MIN;
    rec.expires_at = INT64_MAX;
    rec.confidence = -0.0f;
    roundtrip(&rec);
    rec.confidence = 1.0f;
    rec.created_at = -1;
    rec.expires_at = 0;
    rec.norm = "";
    rec.norm_len = 0;
    roundtrip(&rec);
    rec.norm = "a\0b"; /* bytes, not C strings */
    rec.norm_len = 3;
    roundtrip(&rec);
}
END_TEST

START_TEST(test_layout)
{
    kc_cache_rec_t rec = {0};
    kc_buf_t buf;
    const unsigned char want[] = {1, 0x00, 0x3f, 0x80, 0x00, 0x00,             /* v1, flags, 1.0f */
                                  0, 0,    0,    0,    0,    0,    0x01, 0x02, /* created */
                                  0, 0,    0,    0,    0,    0,    0x03, 0x04, /* expires */
                                  0, 0,    0,    1,    'n',                    /* norm */
                                  0, 0,    0,    2,    'C',  'X',              /* category */
                                  0, 0,    0,    0,  /* reasoning absent */
                                  0, 0,    0,    0}; /* model absent */

    rec.norm = "n";
    rec.norm_len = 1;
    rec.category = "CX";
    rec.category_len = 2;
    rec.confidence = 1.0f;
    rec.created_at = 0x0102;
    rec.expires_at = 0x0304;
    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    ck_assert_msg(buf.len == sizeof(want), "encoded %zu bytes, layout says %zu", buf.len,
                  sizeof(want));
    for (size_t i = 0; i < sizeof(want); i++) {
        ck_assert_msg((unsigned char)buf.data[i] == want[i], "byte %zu is 0x%02x, expected 0x%02x",
                      i, (unsigned char)buf.data[i], want[i]);
    }
    ck_assert_int_eq(buf.len - 3, KC_CACHE_REC_MIN_SIZE); /* minus 'n', 'C', 'X' */
    kc_buf_free(&buf);
}
END_TEST

START_TEST(test_encode_invalid)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;

    kc_buf_init(&buf);
    rec.category = NULL;
    rec.category_len = 0;
    ck_assert_msg(kc_cache_rec_encode(&rec, &buf) == KC_ERR_INVALID, "NULL category accepted");
    rec = sample();
    rec.category_len = 0;
    ck_assert_msg(kc_cache_rec_encode(&rec, &buf) == KC_ERR_INVALID, "empty category accepted");
    rec = sample();
    rec.model = NULL; /* model_len still > 0 */
    ck_assert_msg(kc_cache_rec_encode(&rec, &buf) == KC_ERR_INVALID,
                  "NULL model with a length accepted");
    ck_assert_msg(buf.len == 0, "a refused record left %zu bytes in the buffer", buf.len);
    kc_buf_free(&buf);
}
END_TEST

START_TEST(test_encode_appends)
{
    kc_cache_rec_t rec = sample(), out;
    kc_buf_t buf;
    char errstr[256];

    kc_buf_init(&buf);
    kc_buf_puts(&buf, "prefix");
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    ck_assert_msg(memcmp(buf.data, "prefix", 6) == 0, "encode must append, not overwrite");
    ck_assert_msg(kc_cache_rec_decode(buf.data + 6, buf.len - 6, &out, errstr, sizeof(errstr)) == 0,
                  "decode after prefix: %s", errstr);
    assert_same(&out, &rec);
    kc_buf_free(&buf);
}
END_TEST

/* ---------------------------------------------------------- strict decode */

static void assert_decode_error(const void *data, size_t len, const char *needle)
{
    kc_cache_rec_t out;
    char errstr[256] = "";
    int rc = kc_cache_rec_decode(data, len, &out, errstr, sizeof(errstr));

    ck_assert_msg(rc == KC_ERR_DECODE, "decoding %zu bytes: expected KC_ERR_DECODE, got %d", len,
                  rc);
    ck_assert_msg(strstr(errstr, needle) != NULL, "error '%s' should mention '%s'", errstr, needle);
}

START_TEST(test_every_truncation)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    assert_decode_error(buf.data, 0, "empty");
    for (size_t n = 1; n < buf.len; n++) {
        /* A copy of exactly n bytes, so ASan sees any read past the end. */
        char *p = malloc(n);
        memcpy(p, buf.data, n);
        assert_decode_error(p, n, "truncated");
        free(p);
    }
    kc_buf_free(&buf);
}
END_TEST

START_TEST(test_unknown_version)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    buf.data[0] = 2;
    assert_decode_error(buf.data, buf.len, "unknown version 2");
    buf.data[0] = 0;
    assert_decode_error(buf.data, buf.len, "unknown version 0");
    assert_decode_error(buf.data, 1, "unknown version 0"); /* version checked first */
    kc_buf_free(&buf);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    kc_buf_append(&buf, "\0", 1);
    assert_decode_error(buf.data, buf.len, "1 trailing bytes");
    kc_buf_free(&buf);
}
END_TEST

START_TEST(test_bad_fields)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;
    size_t cat_off = 22 + 4 + rec.norm_len;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    buf.data[1] = 0x07; /* unknown flag bit */
    assert_decode_error(buf.data, buf.len, "unknown flag");
    buf.data[1] = 0x02; /* reasoning flagged absent but has bytes */
    assert_decode_error(buf.data, buf.len, "reasoning is flagged absent");
    buf.data[1] = 0x03;
    /* norm length beyond the buffer */
    buf.data[22] = 0x7f;
    assert_decode_error(buf.data, buf.len, "norm at offset 26");
    buf.data[22] = 0;
    /* category length field 0xffffffff */
    memset(buf.data + cat_off, 0xff, 4);
    assert_decode_error(buf.data, buf.len, "category");
    kc_buf_free(&buf);

    /* An empty category is refused on decode as on encode. */
    {
        const unsigned char empty_cat[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        assert_decode_error(empty_cat, sizeof(empty_cat), "empty category");
    }
}
END_TEST

/* Random mutations of valid records: decode may fail but must never crash or
 * read outside the buffer (run under ASan), and a success must describe
 * strings inside the buffer. */
START_TEST(test_mutations)
{
    kc_cache_rec_t rec = sample();
    kc_buf_t buf;
    unsigned seed = 12345;
    size_t ok = 0, bad = 0;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_cache_rec_encode(&rec, &buf), 0);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = buf.len;
        unsigned char *p;
        kc_cache_rec_t out;
        int nmut = 1 + rand_r(&seed) % 4;

        if (rand_r(&seed) % 8 == 0) {
            len = (size_t)rand_r(&seed) % (buf.len + 8);
        }
        p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            p[i] = i < buf.len ? (unsigned char)buf.data[i] : (unsigned char)rand_r(&seed);
        }
        for (int m = 0; m < nmut && len > 0; m++) {
            p[(size_t)rand_r(&seed) % len] = (unsigned char)rand_r(&seed);
        }
        if (kc_cache_rec_decode(p, len, &out, NULL, 0) == 0) {
            const char *end = (const char *)p + len;
            ck_assert_msg(out.norm >= (const char *)p && out.norm + out.norm_len <= end,
                          "norm outside the buffer");
            ck_assert_msg(out.category + out.category_len <= end, "category outside the buffer");
            ck_assert_msg(!out.model || out.model + out.model_len <= end,
                          "model outside the buffer");
            ok++;
        } else {
            bad++;
        }
        free(p);
    }
    ck_assert_msg(ok > 0 && bad > 0, "mutations should produce both outcomes (ok %zu, bad %zu)", ok,
                  bad);
    kc_buf_free(&buf);
}
END_TEST

static Suite *cache_rec_suite(void)
{
    Suite *s = suite_create("cache_rec");
    TCase *tc;

    tc = tcase_create("roundtrip");
    tcase_add_test(tc, test_roundtrip_full);
    tcase_add_test(tc, test_roundtrip_absent_vs_empty);
    tcase_add_test(tc, test_roundtrip_extremes);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_encode_invalid);
    tcase_add_test(tc, test_encode_appends);
    suite_add_tcase(s, tc);

    tc = tcase_create("strict_decode");
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_unknown_version);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_bad_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz");
    tcase_add_test(tc, test_mutations);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(cache_rec_suite());
}
