/* Unit tests for what the LLM client refuses before it sends anything:
 * over-long or unprintable API keys, and an API key over plain http to a
 * host that is not loopback (kc_llm_conf_check, kc_llm_new). Nothing here
 * opens a connection. */
#include "kc_err.h"
#include "kc_llm.h"

#include "kc_check.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int check(const char *url, const char *key, bool insecure, char *errstr, size_t size)
{
    kc_llm_conf_t c = {url, "m", key, 1000, 4, 1 << 20, {false, KC_LLM_CONFIDENCE_NONE}, insecure};
    return kc_llm_conf_check(&c, errstr, size);
}

START_TEST(test_plain_http_remote_refused)
{
    char errstr[512];

    ck_assert_int_eq(check("http://llm.example:8080/v1", "sk-1", false, errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(errstr, "llm.allow.insecure"));
    ck_assert_ptr_null(strstr(errstr, "sk-1"));
    ck_assert_int_eq(check("HTTP://10.0.0.5/v1", "sk-1", false, errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    /* 127.evil.example is a name, not a loopback address */
    ck_assert_int_eq(check("http://127.evil.example/v1", "sk-1", false, errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    /* allowed: https, loopback, no key, or the explicit opt-in */
    ck_assert_int_eq(check("https://api.example/v1", "sk-1", false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://127.0.0.1:8080/v1", "sk-1", false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://localhost/v1", "sk-1", false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://[::1]:9/v1", "sk-1", false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://llm.example/v1", NULL, false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://llm.example/v1", "", false, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(check("http://llm.example/v1", "sk-1", true, errstr, sizeof(errstr)), 0);
}
END_TEST

START_TEST(test_keys_refused_not_cut)
{
    char errstr[512];
    char *key = malloc(KC_LLM_API_KEY_MAX + 2);

    memset(key, 'k', KC_LLM_API_KEY_MAX + 1);
    key[KC_LLM_API_KEY_MAX + 1] = '\0';
    ck_assert_int_eq(check("https://api.example/v1", key, false, errstr, sizeof(errstr)),
                     KC_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(errstr, "refused"));
    key[KC_LLM_API_KEY_MAX] = '\0';
    ck_assert_int_eq(check("https://api.example/v1", key, false, errstr, sizeof(errstr)), 0);
    free(key);
    /* a newline would end the header and start another */
    ck_assert_int_eq(
        check("https://api.example/v1", "sk-1\r\nX-Evil: 1", false, errstr, sizeof(errstr)),
        KC_ERR_CONFIG);
    ck_assert_ptr_null(strstr(errstr, "Evil"));
}
END_TEST

/* kc_llm_new() refuses the same, and builds a client with a 4 KiB key
 * (the header is no longer cut at 1 KiB). */
START_TEST(test_new_refuses_and_accepts)
{
    char errstr[512], *key = malloc(KC_LLM_API_KEY_MAX + 1);
    kc_taxonomy_t *tx = kc_taxonomy_new_default();
    kc_llm_conf_t c = {"http://llm.example/v1",         "m",  "sk-1", 1000, 4, 1 << 20,
                       {false, KC_LLM_CONFIDENCE_NONE}, false};
    kc_llm_t *llm;

    ck_assert_ptr_nonnull(tx);
    ck_assert_ptr_null(kc_llm_new(&c, tx, errstr, sizeof(errstr)));
    memset(key, 'k', KC_LLM_API_KEY_MAX);
    key[KC_LLM_API_KEY_MAX] = '\0';
    c.url = "http://127.0.0.1:9/v1";
    c.api_key = key;
    llm = kc_llm_new(&c, tx, errstr, sizeof(errstr));
    ck_assert_msg(llm != NULL, "%s", errstr);
    kc_llm_destroy(llm);
    kc_taxonomy_destroy(tx);
    free(key);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llm_client");
    TCase *tc = tcase_create("conf");

    tcase_add_test(tc, test_plain_http_remote_refused);
    tcase_add_test(tc, test_keys_refused_not_cut);
    tcase_add_test(tc, test_new_refuses_and_accepts);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
