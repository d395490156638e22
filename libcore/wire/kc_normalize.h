/**
 * @file kc_normalize.h
 * @brief Query normalization and the 128-bit cache key.
 *
 * Normalization: valid UTF-8 required, trim, collapse internal whitespace runs
 * to one space, ASCII case-fold, strip trailing '?', '.', '!' (and whitespace
 * left behind). The cache key is XXH3-128 of the normalized query seeded with
 * the taxonomy version, so a new prompt, category set or model never serves
 * stale answers.
 */
#ifndef KC_NORMALIZE_H
#define KC_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kc_key_s {
    uint64_t hi;
    uint64_t lo;
} kc_key_t;

#define KC_KEY_HEX_SIZE 33 /**< 32 hex digits + NUL */

/** @brief Length (1..4) of the valid UTF-8 character at s[0..avail), avail >= 1;
 *  0 if invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t kc_utf8_seq_len(const char *s, size_t avail);

/** @brief true if buf[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool kc_utf8_valid(const char *buf, size_t len);

/**
 * @brief Normalize a query.
 * @param out buffer of at least len + 1 bytes (normalization never grows).
 * @param out_len receives the normalized length (out is NUL-terminated).
 * @returns 0, KC_ERR_INVALID if the input is not valid UTF-8.
 * @remark A query that normalizes to nothing yields out_len 0 and returns 0;
 *         callers decide whether empty is an error.
 */
int kc_query_normalize(const char *in, size_t len, char *out, size_t *out_len);

/** @brief Cache key of a normalized query under a taxonomy version. */
kc_key_t kc_key_compute(const char *norm, size_t len, uint64_t taxonomy_version);

/** @brief Lowercase hex of the key (hi then lo), NUL-terminated. */
void kc_key_hex(const kc_key_t *key, char out[KC_KEY_HEX_SIZE]);

static inline bool kc_key_eq(const kc_key_t *a, const kc_key_t *b)
{
    return a->hi == b->hi && a->lo == b->lo;
}

/** @brief A 64-bit hash of arbitrary bytes (XXH3-64), for versions and tables. */
uint64_t kc_hash64(const void *data, size_t len, uint64_t seed);

#endif
