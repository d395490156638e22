/*
 * libFuzzer target: kc_llm_response_parse() over arbitrary response bodies,
 * for a call of n = 1..20 queries (n from the low 7 bits of the first byte;
 * its high bit sets KC_LLM_PARSE_LOGPROBS), with the default taxonomy.
 * Beyond "no crash": n items always come back, the counters add up, every
 * OK item names a category inside the taxonomy (which is what keeps a
 * hostile LLM from putting a foreign category into a reply), confidences
 * stay in [0, 1] and say where they came from, the logprobs state fits the
 * flag, and the model name is capped and printable. The same bytes also go
 * through kc_llm_error_names_param() as an HTTP error body.
 */
#include "fuzz.h"
#include "kc_llm_proto.h"
#include "kc_normalize.h"
#include "kc_taxonomy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static kc_taxonomy_t *tx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    tx = kc_taxonomy_new_default();
    FUZZ_CHECK(tx != NULL, "kc_taxonomy_new_default");
    return 0;
}

/* Valid UTF-8 without C0 controls or DEL. */
static void printable_check(const char *what, const char *s)
{
    size_t len = strlen(s);

    FUZZ_CHECK(kc_utf8_valid(s, len), "%s is not valid UTF-8", what);
    for (size_t i = 0; i < len; i++) {
        FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7F, "%s: control byte 0x%02x at %zu",
                   what, (unsigned char)s[i], i);
    }
}

static void item_check(const kc_llm_item_t *it, size_t i, unsigned flags)
{
    FUZZ_CHECK(it->confidence >= 0.0f && it->confidence <= 1.0f, "item %zu: confidence %f", i,
               (double)it->confidence);
    FUZZ_CHECK(it->conf_src == KC_LLM_CONF_SRC_NONE || it->conf_src == KC_LLM_CONF_SRC_FIELD ||
                   it->conf_src == KC_LLM_CONF_SRC_LOGPROBS,
               "item %zu: conf_src %d", i, it->conf_src);
    FUZZ_CHECK(it->conf_src != KC_LLM_CONF_SRC_NONE || it->confidence == KC_LLM_CONFIDENCE_UNKNOWN,
               "item %zu: no source but confidence %f", i, (double)it->confidence);
    FUZZ_CHECK(it->conf_src != KC_LLM_CONF_SRC_LOGPROBS || (flags & KC_LLM_PARSE_LOGPROBS),
               "item %zu: logprob confidence without the flag", i);
    FUZZ_CHECK(it->state == KC_LLM_ITEM_OK || it->conf_src == KC_LLM_CONF_SRC_NONE,
               "item %zu: state %d with a confidence source", i, it->state);
}

static void response_check(const kc_llm_response_t *resp, size_t n, unsigned flags)
{
    size_t ok = 0, missing = 0, invalid = 0, from_lp = 0;

    FUZZ_CHECK(resp->items != NULL && resp->n == n, "%zu items for n %zu", resp->n, n);
    for (size_t i = 0; i < n; i++) {
        const kc_llm_item_t *it = &resp->items[i];
        item_check(it, i, flags);
        from_lp += it->conf_src == KC_LLM_CONF_SRC_LOGPROBS;
        if (it->state == KC_LLM_ITEM_OK) {
            ok++;
            FUZZ_CHECK(it->category >= 0 && (size_t)it->category < tx->category_cnt,
                       "item %zu: category index %d outside the taxonomy", i, it->category);
            FUZZ_CHECK(!it->reasoning || strlen(it->reasoning) <= KC_LLM_REASONING_MAX,
                       "item %zu: reasoning of %zu bytes", i, strlen(it->reasoning));
        } else if (it->state == KC_LLM_ITEM_MISSING) {
            missing++;
        } else {
            FUZZ_CHECK(it->state == KC_LLM_ITEM_INVALID, "item %zu: state %d", i, it->state);
            invalid++;
        }
    }
    FUZZ_CHECK(ok == resp->ok_cnt && missing == resp->missing_cnt && invalid == resp->invalid_cnt,
               "counters %zu/%zu/%zu, items say %zu/%zu/%zu", resp->ok_cnt, resp->missing_cnt,
               resp->invalid_cnt, ok, missing, invalid);
    if (resp->logprobs == KC_LLM_LOGPROBS_USED) {
        FUZZ_CHECK(from_lp == ok, "logprobs USED but %zu of %zu OK items mapped", from_lp, ok);
    } else if (resp->logprobs != KC_LLM_LOGPROBS_PARTIAL) {
        FUZZ_CHECK(from_lp == 0, "logprobs state %d but %zu items mapped", resp->logprobs, from_lp);
    }
}

static void meta_check(const kc_llm_response_t *resp, unsigned flags)
{
    if (flags & KC_LLM_PARSE_LOGPROBS) {
        FUZZ_CHECK(resp->logprobs >= KC_LLM_LOGPROBS_ABSENT &&
                       resp->logprobs <= KC_LLM_LOGPROBS_UNUSABLE,
                   "logprobs state %d", resp->logprobs);
    } else {
        FUZZ_CHECK(resp->logprobs == KC_LLM_LOGPROBS_NOT_ASKED, "logprobs state %d unasked",
                   resp->logprobs);
    }
    FUZZ_CHECK(resp->prompt_tokens >= 0 && resp->completion_tokens >= 0 && resp->cached_tokens >= 0,
               "negative token counts");
    if (resp->model) {
        FUZZ_CHECK(strlen(resp->model) > 0 && strlen(resp->model) <= KC_LLM_MODEL_MAX,
                   "model of %zu bytes", strlen(resp->model));
        printable_check("model", resp->model);
    }
}

static void error_body_check(const char *body, size_t len)
{
    char msg[64];

    msg[0] = 'x';
    kc_llm_error_names_param(body, len, "logprobs", msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL, "msg not terminated");
    printable_check("error message", msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_llm_response_t resp;

    if (size < 1) {
        return 0;
    }
    size_t n = 1 + (data[0] & 0x7F) % 20;
    unsigned flags = (data[0] & 0x80) ? KC_LLM_PARSE_LOGPROBS : 0;
    const char *body = (const char *)data + 1;
    memset(&resp, 0, sizeof(resp));
    int rc = kc_llm_response_parse(tx, body, size - 1, n, flags, &resp, errstr, sizeof(errstr));
    if (rc == 0) {
        response_check(&resp, n, flags);
    } else if (resp.items) {
        FUZZ_CHECK(resp.ok_cnt == 0, "rc %d with %zu OK items", rc, resp.ok_cnt);
        for (size_t i = 0; i < resp.n; i++) {
            item_check(&resp.items[i], i, flags);
        }
    }
    if (resp.items) {
        meta_check(&resp, flags);
    }
    kc_llm_response_clear(&resp);
    error_body_check(body, size - 1);
    return 0;
}
