/*
 * libFuzzer target: kc_llm_logprob over arbitrary answer texts, checked
 * against jansson. The first byte picks how the text is cut into tokens
 * (lengths 0..7 from a generator it seeds) and a mode: 0 every token with
 * logprob 0, 1 mixed logprobs (NaN, positive, -inf, huge), 2 the token list
 * stops early, 3 one token's bytes are altered. Checked: whenever jansson
 * reads the text as an object with a "results" array, the scanner finds the
 * same number of results and a category value exactly where jansson sees a
 * string "category" in an object element (mode 0 then gives p = 1 for
 * those and nothing for the others); probabilities stay in [0, 1]; a
 * mismatch is reported as one, and only when a token's bytes differ.
 */
#include "fuzz.h"
#include "kc_err.h"
#include "kc_llm_logprob.h"
#include "kc_taxonomy.h"

#include <jansson.h>
#include <math.h>
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

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static double logprob_pick(uint32_t *s, int mode)
{
    static const double odd[] = {NAN, 0.5, -INFINITY, -1e308, 0.0, -0.25, -3.0, -1e-9};

    if (mode != 1) {
        return 0.0;
    }
    return odd[rng_next(s) % (sizeof(odd) / sizeof(odd[0]))];
}

/* Stream the content; returns whether the stream was poisoned. */
static bool stream(kc_llm_logprob_t *lp, const char *c, size_t len, uint32_t seed, int mode)
{
    uint32_t s = seed ? seed : 1;
    size_t stop = mode == 2 ? rng_next(&s) % (len + 1) : len;
    size_t bad = mode == 3 && len ? rng_next(&s) % len : SIZE_MAX;
    bool mismatch = false;

    for (size_t pos = 0; pos < stop;) {
        size_t tl = rng_next(&s) % 8;
        char tok[8];
        tl = tl > stop - pos ? stop - pos : tl;
        memcpy(tok, c + pos, tl);
        if (bad >= pos && bad < pos + tl) {
            tok[bad - pos] ^= 0x20;
            mismatch = true;
        }
        int rc = kc_llm_logprob_token(lp, tok, tl, logprob_pick(&s, mode));
        FUZZ_CHECK((rc == 0) == !mismatch, "token at %zu: rc %d, mismatch %d", pos, rc, mismatch);
        if (mismatch) {
            return true;
        }
        pos += tl;
    }
    FUZZ_CHECK(kc_llm_logprob_covered(lp) == stop, "covered %zu of %zu", kc_llm_logprob_covered(lp),
               stop);
    return false;
}

/* Does results[i] hold a string category, as jansson reads it? */
static bool has_category(json_t *results, size_t i)
{
    return json_is_string(json_object_get(json_array_get(results, i), "category"));
}

static void compare(kc_llm_logprob_t *lp, json_t *results, int mode, bool mismatch)
{
    size_t cnt = json_array_size(results);

    FUZZ_CHECK(kc_llm_logprob_result_cnt(lp) == cnt, "scanner found %zu results, jansson %zu",
               kc_llm_logprob_result_cnt(lp), cnt);
    for (size_t i = 0; i < cnt + 1; i++) {
        float p = -1.0f;
        int rc = kc_llm_logprob_get(lp, i, &p);
        if (mismatch) {
            FUZZ_CHECK(rc == KC_ERR_STATE, "results[%zu]: rc %d after a mismatch", i, rc);
            continue;
        }
        FUZZ_CHECK(rc == 0 || rc == KC_ERR_NOTFOUND, "results[%zu]: rc %d", i, rc);
        FUZZ_CHECK(rc != 0 || (p >= 0.0f && p <= 1.0f), "results[%zu]: p %f", i, (double)p);
        FUZZ_CHECK(rc != 0 || (i < cnt && has_category(results, i)),
                   "results[%zu]: a probability without a string category", i);
        if (mode == 0 && i < cnt && has_category(results, i)) {
            FUZZ_CHECK(rc == 0 && p == 1.0f, "results[%zu]: rc %d p %f with all logprobs 0", i, rc,
                       (double)p);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kc_llm_logprob_t *lp = NULL;

    if (size < 1) {
        return 0;
    }
    int mode = data[0] & 3;
    uint32_t seed = ((uint32_t)data[0] * 2654435761u) ^ (uint32_t)size;
    const char *c = (const char *)data + 1;
    size_t len = size - 1;
    const char *open = memchr(c, '{', len);
    size_t off = open ? (size_t)(open - c) : 0;
    json_t *root = json_loadb(c + off, len - off, JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, NULL);
    json_t *results = json_object_get(root, "results");
    int rc = kc_llm_logprob_new(&lp, tx, c, len, off, len - off);

    if (json_is_array(results)) {
        FUZZ_CHECK(rc == 0, "jansson reads a results array, the scanner says %d", rc);
    }
    FUZZ_CHECK(rc == 0 || rc == KC_ERR_DECODE, "new: rc %d", rc);
    FUZZ_CHECK((rc == 0) == (lp != NULL), "rc %d with lp %p", rc, (void *)lp);
    if (rc == 0) {
        bool mismatch = stream(lp, c, len, seed, mode);
        if (json_is_array(results)) {
            compare(lp, results, mode, mismatch);
        }
    }
    kc_llm_logprob_destroy(lp);
    json_decref(root);
    return 0;
}
