/* Unit tests for reading secrets from files. */
#include "kc_err.h"
#include "kc_secret.h"

#include "kc_check.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64];

static void write_file(const char *text, mode_t mode)
{
    FILE *fp;

    strcpy(path, "/tmp/kc-secret-XXXXXX");
    close(mkstemp(path));
    fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    chmod(path, mode);
}

START_TEST(test_reads_first_line)
{
    char key[64], errstr[256];

    write_file("sk-test-123  \nsecond line\n", 0600);
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(key, "sk-test-123");
    unlink(path);
}
END_TEST

/* A file without a newline, read into a buffer full of garbage: the secret
 * ends where the file does (the sanitizer build sees any read past it). */
START_TEST(test_no_newline_garbage_buffer)
{
    char key[64], errstr[256];

    write_file("sk-no-newline", 0600);
    memset(key, 'X', sizeof(key));
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(key, "sk-no-newline");
    unlink(path);
}
END_TEST

START_TEST(test_refuses_open_modes)
{
    char key[64], errstr[256];

    write_file("sk-test-123\n", 0644);
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    ck_assert_msg(strstr(errstr, "chmod 600") && !strstr(errstr, "sk-test"),
                  "message must explain and not leak: %s", errstr);
    unlink(path);
}
END_TEST

START_TEST(test_empty_missing_long)
{
    char key[8], errstr[256];

    write_file("\n", 0600);
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    unlink(path);
    write_file("0123456789abcdef", 0600);
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)),
                     KC_ERR_TOOBIG);
    unlink(path);
    ck_assert_int_eq(kc_secret_read_file(path, key, sizeof(key), errstr, sizeof(errstr)),
                     KC_ERR_IO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("secret");
    TCase *tc = tcase_create("file");

    tcase_add_test(tc, test_reads_first_line);
    tcase_add_test(tc, test_no_newline_garbage_buffer);
    tcase_add_test(tc, test_refuses_open_modes);
    tcase_add_test(tc, test_empty_missing_long);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
