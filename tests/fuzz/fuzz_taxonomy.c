/*
 * libFuzzer target: kc_taxonomy_parse() over arbitrary JSON text. A taxonomy
 * that parses must satisfy what the rest of the worker relies on (bounded
 * category count, [A-Z0-9_]+ names that find themselves, a default inside
 * the list, a prompt), and must be usable: the system prompt and LLM request
 * are built from it for every answer format, and the fallback classifier
 * runs on it.
 */
#include "fuzz.h"
#include "kc_buf.h"
#include "kc_fallback.h"
#include "kc_llm_proto.h"
#include "kc_taxonomy.h"

#include <stddef.h>
#include <stdint.h>

static void names_check(const kc_taxonomy_t *tx)
{
    for (size_t i = 0; i < tx->category_cnt; i++) {
        const char *name = tx->categories[i].name;
        size_t len = strlen(name);
        FUZZ_CHECK(len > 0 && len <= KC_TAXONOMY_NAME_MAX, "name %zu: %zu bytes", i, len);
        for (size_t j = 0; j < len; j++) {
            char c = name[j];
            FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_',
                       "name %zu: byte 0x%02x", i, (unsigned char)c);
        }
        FUZZ_CHECK(kc_taxonomy_find(tx, name, len) == (int)i, "name %s does not find itself", name);
    }
}

/* The LLM request for every answer format: the taxonomy's prompt comes
 * first, and the answer estimate grows with the number of queries. */
static void request_check(const kc_taxonomy_t *tx, const char *const *texts, const size_t *lens)
{
    static const kc_llm_call_opts_t co = {100, true, 2};
    char errstr[256];
    kc_buf_t sys, body;

    kc_buf_init(&sys);
    kc_buf_init(&body);
    for (int r = 0; r < 2; r++) {
        for (int c = 0; c < KC_LLM_CONFIDENCE_CNT; c++) {
            kc_llm_answer_opts_t ao = {r == 1, (kc_llm_confidence_t)c};
            FUZZ_CHECK(kc_llm_system_prompt_build(tx, &ao, &sys) == 0, "system prompt");
            FUZZ_CHECK(strncmp(sys.data, tx->system_prompt, strlen(tx->system_prompt)) == 0,
                       "the taxonomy's prompt must come first");
            int rc = kc_llm_request_build(tx, "m", sys.data, &ao, &co, texts, lens, 2, &body,
                                          errstr, sizeof(errstr));
            FUZZ_CHECK(rc == 0, "request build with a parsed taxonomy: %s", errstr);
            int64_t e1 = kc_llm_answer_tokens_estimate(tx, &ao, 1);
            int64_t e2 = kc_llm_answer_tokens_estimate(tx, &ao, 2);
            FUZZ_CHECK(e1 > 0 && e2 > e1, "estimates %lld, %lld", (long long)e1, (long long)e2);
        }
    }
    kc_buf_free(&sys);
    kc_buf_free(&body);
}

static void use_check(const kc_taxonomy_t *tx)
{
    static const char *const texts[] = {"latest 2025 trial of metformin", "what is nmr"};
    const size_t lens[] = {strlen(texts[0]), strlen(texts[1])};

    request_check(tx, texts, lens);
    for (size_t i = 0; i < 2; i++) {
        kc_fallback_result_t fb;
        kc_fallback_classify(tx, texts[i], lens[i], &fb);
        FUZZ_CHECK(fb.category >= 0 && (size_t)fb.category < tx->category_cnt,
                   "fallback category %d", fb.category);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];

    errstr[0] = '\0';
    kc_taxonomy_t *tx = kc_taxonomy_parse((const char *)data, size, errstr, sizeof(errstr));
    if (!tx) {
        FUZZ_CHECK(errstr[0] != '\0', "rejected without a message");
        return 0;
    }
    FUZZ_CHECK(tx->category_cnt >= KC_TAXONOMY_MIN_CATEGORIES &&
                   tx->category_cnt <= KC_TAXONOMY_MAX_CATEGORIES,
               "%zu categories", tx->category_cnt);
    FUZZ_CHECK(tx->default_category < tx->category_cnt, "default %zu", tx->default_category);
    FUZZ_CHECK(tx->system_prompt != NULL, "no prompt");
    names_check(tx);
    use_check(tx);
    kc_taxonomy_destroy(tx);
    return 0;
}
