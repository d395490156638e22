/* Unit tests for libcore/wire/kc_offmeta.c: what exactly_once commits with an
 * offset (the records above it answered already). */
#include "kc_err.h"
#include "kc_offmeta.h"

#include "kc_check.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(int64_t base, const int64_t *done, size_t n, const char *want)
{
    char buf[4000];
    long len = kc_offmeta_encode(base, done, n, buf, sizeof(buf));
    int64_t *got;
    long cnt;

    ck_assert_msg(len >= 0, "encode failed");
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq((size_t)len, strlen(want));
    cnt = kc_offmeta_decode(base, buf, (size_t)len, 1000, &got);
    ck_assert_int_eq(cnt, (long)n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(got[i], done[i]);
    }
    free(got);
}

START_TEST(test_ranges)
{
    roundtrip(100, NULL, 0, "kc1;");
    roundtrip(100, (int64_t[]){105, 106, 107, 110}, 4, "kc1;5+3,2+1");
    roundtrip(100, (int64_t[]){100}, 1, "kc1;0+1");
    roundtrip(0, (int64_t[]){1, 3, 5, 6}, 4, "kc1;1+1,1+1,1+2");
    roundtrip(INT64_MAX - 10, (int64_t[]){INT64_MAX - 2}, 1, "kc1;8+1");
}
END_TEST

START_TEST(test_encode_refuses)
{
    char buf[16];

    /* Below the base, unsorted, duplicated: not what a watermark gives. */
    ck_assert_int_eq(kc_offmeta_encode(100, (int64_t[]){99}, 1, buf, sizeof(buf)), -1);
    ck_assert_int_eq(kc_offmeta_encode(100, (int64_t[]){105, 103}, 2, buf, sizeof(buf)), -1);
    ck_assert_int_eq(kc_offmeta_encode(100, (int64_t[]){105, 105}, 2, buf, sizeof(buf)), -1);
    /* Too long for the buffer: -1, never a cut list. */
    ck_assert_int_eq(kc_offmeta_encode(0, (int64_t[]){2, 4, 6, 8, 10}, 5, buf, sizeof(buf)), -1);
    ck_assert_int_eq(kc_offmeta_encode(0, NULL, 0, buf, 4), -1);
    ck_assert_int_eq(kc_offmeta_encode(0, NULL, 0, buf, 5), 4);
}
END_TEST

START_TEST(test_encode_fit)
{
    char buf[16];
    size_t used = 99;
    long len;

    /* "kc1;2+1,1+1,1+1" is 15 bytes: three of the five fit in 16. */
    len = kc_offmeta_encode_fit(0, (int64_t[]){2, 4, 6, 8, 10}, 5, buf, sizeof(buf), &used);
    ck_assert_int_eq(len, 15);
    ck_assert_uint_eq(used, 3);
    ck_assert_str_eq(buf, "kc1;2+1,1+1,1+1");
    len = kc_offmeta_encode_fit(0, (int64_t[]){2, 3}, 2, buf, sizeof(buf), &used);
    ck_assert_int_eq(len, 7);
    ck_assert_uint_eq(used, 2);
    len = kc_offmeta_encode_fit(0, (int64_t[]){9}, 1, buf, 5, &used);
    ck_assert_int_eq(len, 4); /* the prefix alone: nothing listed */
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(kc_offmeta_encode_fit(0, NULL, 0, buf, 4, &used), -1);
}
END_TEST

static long decode(int64_t base, const char *s, int64_t **out)
{
    return kc_offmeta_decode(base, s, strlen(s), 1000, out);
}

START_TEST(test_decode_foreign_and_bad)
{
    int64_t *out = (int64_t *)1;

    /* Not ours (an at_least_once commit, another tool's): nothing to skip. */
    ck_assert_int_eq(decode(5, "", &out), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(decode(5, "hello", &out), 0);
    ck_assert_int_eq(kc_offmeta_decode(5, NULL, 0, 1000, &out), 0);
    /* Ours but malformed: an error, so the caller says so. */
    const char *bad[] = {
        "kc1;5",    "kc1;5+",   "kc1;+3",  "kc1;5+0",      "kc1;5+3,",
        "kc1;5+3;", "kc1;-1+2", "kc1;a+1", "kc1;5+3,,1+1", "kc1;99999999999999999999+1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode(5, bad[i], &out) == KC_ERR_INVALID, "accepted %s", bad[i]);
        ck_assert_ptr_null(out);
    }
    /* Past INT64_MAX, or more offsets than allowed. */
    ck_assert_int_eq(decode(INT64_MAX - 3, "kc1;1+5", &out), KC_ERR_INVALID);
    ck_assert_int_eq(decode(0, "kc1;0+1001", &out), KC_ERR_INVALID);
    ck_assert_int_eq(decode(0, "kc1;0+1000", &out), 1000);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("offmeta");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_encode_refuses);
    tcase_add_test(tc, test_encode_fit);
    tcase_add_test(tc, test_decode_foreign_and_bad);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
