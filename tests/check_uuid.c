#include "kc_err.h"
#include "kc_uuid.h"

#include "kc_check.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_format_forces_version_and_variant)
{
    uint8_t ones[16], zeros[16];
    char s[KC_UUID_STR_SIZE];

    memset(ones, 0xFF, sizeof(ones));
    memset(zeros, 0, sizeof(zeros));
    kc_uuid_v4_format(ones, s);
    ck_assert_msg(strcmp(s, "ffffffff-ffff-4fff-bfff-ffffffffffff") == 0, "all ones gave %s", s);
    kc_uuid_v4_format(zeros, s);
    ck_assert_msg(strcmp(s, "00000000-0000-4000-8000-000000000000") == 0, "all zeros gave %s", s);
}
END_TEST

START_TEST(test_format_byte_order)
{
    uint8_t b[16];
    char s[KC_UUID_STR_SIZE];

    for (int i = 0; i < 16; i++) {
        b[i] = (uint8_t)(i * 0x11);
    }
    kc_uuid_v4_format(b, s);
    ck_assert_msg(strcmp(s, "00112233-4455-4677-8899-aabbccddeeff") == 0,
                  "bytes must appear in order with version/variant forced, got %s", s);
}
END_TEST

START_TEST(test_valid_accepts_and_rejects)
{
    ck_assert_msg(kc_uuid_v4_valid("f47ac10b-58cc-4372-a567-0e02b2c3d479"), "canonical v4");
    ck_assert_msg(!kc_uuid_v4_valid("F47AC10B-58CC-4372-A567-0E02B2C3D479"), "uppercase rejected");
    ck_assert_msg(!kc_uuid_v4_valid("f47ac10b-58cc-1372-a567-0e02b2c3d479"), "version 1 rejected");
    ck_assert_msg(!kc_uuid_v4_valid("f47ac10b-58cc-4372-c567-0e02b2c3d479"),
                  "variant 11x rejected");
    ck_assert_msg(!kc_uuid_v4_valid("f47ac10b58cc-4372-a567-0e02b2c3d479a"), "hyphen misplaced");
    ck_assert_msg(!kc_uuid_v4_valid("f47ac10b-58cc-4372-a567-0e02b2c3d47"), "too short");
    ck_assert_msg(!kc_uuid_v4_valid("f47ac10b-58cc-4372-a567-0e02b2c3d4790"), "too long");
    ck_assert_msg(!kc_uuid_v4_valid("g47ac10b-58cc-4372-a567-0e02b2c3d479"), "non-hex digit");
    ck_assert_msg(!kc_uuid_v4_valid(NULL), "NULL rejected");
}
END_TEST

START_TEST(test_random_uuids_valid_and_distinct)
{
    enum { N = 1000 };
    char(*ids)[KC_UUID_STR_SIZE] = calloc(N, KC_UUID_STR_SIZE);
    char errstr[128];

    ck_assert_ptr_nonnull(ids);
    for (int i = 0; i < N; i++) {
        int rc = kc_uuid_v4(ids[i], errstr, sizeof(errstr));
        ck_assert_msg(rc == 0, "kc_uuid_v4: %s", errstr);
        ck_assert_msg(kc_uuid_v4_valid(ids[i]), "generated id %s is not a valid v4", ids[i]);
    }
    /* 122 random bits: any collision among 1000 means the randomness is broken. */
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            ck_assert_msg(strcmp(ids[i], ids[j]) != 0, "duplicate id %s", ids[i]);
        }
    }
    free(ids);
}
END_TEST

static Suite *uuid_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc;

    tc = tcase_create("format");
    tcase_add_test(tc, test_format_forces_version_and_variant);
    tcase_add_test(tc, test_format_byte_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("validate");
    tcase_add_test(tc, test_valid_accepts_and_rejects);
    suite_add_tcase(s, tc);
    tc = tcase_create("random");
    tcase_add_test(tc, test_random_uuids_valid_and_distinct);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(uuid_suite());
}
