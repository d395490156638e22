/*
 * libFuzzer target: UTF-8 validation, query normalization and the fallback
 * classifier over arbitrary query bytes (every query of every request goes
 * through them). Checked: normalization never grows, accepts exactly the
 * valid UTF-8, yields valid UTF-8 in canonical form (no leading, trailing or
 * doubled space, no ASCII uppercase, no trailing ?.!), is idempotent, and the
 * fallback answers inside the taxonomy with a confidence in its documented
 * range.
 */
#include "fuzz.h"
#include "kc_fallback.h"
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

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void canonical_check(const char *out, size_t len)
{
    FUZZ_CHECK(kc_utf8_valid(out, len), "normalized output is not valid UTF-8");
    FUZZ_CHECK(out[len] == '\0', "output not NUL-terminated");
    if (len == 0) {
        return;
    }
    FUZZ_CHECK(out[0] != ' ' && out[len - 1] != ' ', "leading or trailing space");
    char last = out[len - 1];
    FUZZ_CHECK(last != '?' && last != '.' && last != '!', "trailing '%c' kept", last);
    for (size_t i = 0; i < len; i++) {
        FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'), "uppercase at %zu", i);
        FUZZ_CHECK(out[i] == ' ' || !is_space(out[i]), "whitespace 0x%02x kept at %zu",
                   (unsigned char)out[i], i);
        FUZZ_CHECK(i == 0 || !(out[i] == ' ' && out[i - 1] == ' '), "double space at %zu", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *out = malloc(size + 1), *again = malloc(size + 1);
    size_t len = 0, len2 = 0;

    FUZZ_CHECK(out && again, "malloc");
    bool valid = kc_utf8_valid(in, size);
    int rc = kc_query_normalize(in, size, out, &len);
    FUZZ_CHECK((rc == 0) == valid, "normalize rc %d but utf8_valid %d", rc, valid);
    if (rc == 0) {
        FUZZ_CHECK(len <= size, "normalization grew %zu -> %zu", size, len);
        canonical_check(out, len);
        FUZZ_CHECK(kc_query_normalize(out, len, again, &len2) == 0, "re-normalize failed");
        FUZZ_CHECK(len2 == len && memcmp(out, again, len) == 0, "normalization not idempotent");
        kc_key_t a = kc_key_compute(out, len, tx->version);
        kc_key_t b = kc_key_compute(again, len2, tx->version);
        FUZZ_CHECK(kc_key_eq(&a, &b), "key differs for equal input");
        kc_fallback_result_t fb;
        kc_fallback_classify(tx, out, len, &fb);
        FUZZ_CHECK(fb.category >= 0 && (size_t)fb.category < tx->category_cnt,
                   "fallback category %d", fb.category);
        FUZZ_CHECK(fb.confidence >= 0.29f && fb.confidence <= 0.70f, "fallback confidence %f",
                   (double)fb.confidence);
    }
    free(out);
    free(again);
    return 0;
}
