/*
 * libFuzzer target: kc_llm_response_parse() over arbitrary response bodies,
 * for a call of n = 1..20 queries (n from the first byte), with the default
 * taxonomy. Beyond "no crash": n items always come back, the counters add up,
 * and every OK item names a category inside the taxonomy, which is what
 * keeps a hostile LLM from putting a foreign category into a reply.
 */
#include "fuzz.h"
#include "kc_llm_proto.h"
#include "kc_taxonomy.h"

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

static void response_check(const kc_llm_response_t *resp, size_t n)
{
    size_t ok = 0, missing = 0, invalid = 0;

    FUZZ_CHECK(resp->items != NULL && resp->n == n, "%zu items for n %zu", resp->n, n);
    for (size_t i = 0; i < n; i++) {
        const kc_llm_item_t *it = &resp->items[i];
        if (it->state == KC_LLM_ITEM_OK) {
            ok++;
            FUZZ_CHECK(it->category >= 0 && (size_t)it->category < tx->category_cnt,
                       "item %zu: category index %d outside the taxonomy", i, it->category);
            FUZZ_CHECK(it->confidence >= 0.0f && it->confidence <= 1.0f, "item %zu: confidence %f",
                       i, (double)it->confidence);
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_llm_response_t resp;

    if (size < 1) {
        return 0;
    }
    size_t n = 1 + data[0] % 20;
    memset(&resp, 0, sizeof(resp));
    int rc = kc_llm_response_parse(tx, (const char *)data + 1, size - 1, n, &resp, errstr,
                                   sizeof(errstr));
    if (rc == 0) {
        response_check(&resp, n);
    } else if (resp.items) {
        FUZZ_CHECK(resp.ok_cnt == 0, "rc %d with %zu OK items", rc, resp.ok_cnt);
    }
    kc_llm_response_clear(&resp);
    return 0;
}
