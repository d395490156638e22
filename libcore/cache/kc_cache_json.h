/**
 * @file kc_cache_json.h
 * @brief A cache entry as one line of JSON (kclassify-cache export/import). Pure.
 *
 * Keys, in this order: key (32 lowercase hex digits, kc_key_hex), norm,
 * category, confidence, reasoning (string or null), model (string or null),
 * created_at, expires_at (integer microseconds since the epoch). confidence
 * is printed with the fewest digits that read back as the same float, so an
 * export imports back bit for bit.
 */
#ifndef KC_CACHE_JSON_H
#define KC_CACHE_JSON_H

#include "kc_buf.h"
#include "kc_cache_rec.h"
#include "kc_normalize.h"

#include <stddef.h>

/**
 * @brief Append key and rec as a compact JSON object (no newline) to out.
 * @returns 0, KC_ERR_NOMEM, or KC_ERR_ENCODE with errstr (a string that is
 *          not valid UTF-8 or holds a NUL, a confidence that is not finite).
 */
int kc_cache_json_write(const kc_key_t *key, const kc_cache_rec_t *rec, kc_buf_t *out, char *errstr,
                        size_t errstr_size);

/**
 * @brief Parse one JSON object as written by kc_cache_json_write().
 * @param store reset, then holds the strings rec points to (NUL-terminated);
 *        rec is valid until store is next modified or freed.
 * @returns 0, KC_ERR_NOMEM, or KC_ERR_DECODE with errstr naming the problem:
 *          not an object, a missing, unknown or mistyped key, a key that is
 *          not 32 hex digits, an empty norm or category, confidence outside
 *          [0, 1], expires_at before created_at.
 */
int kc_cache_json_parse(const char *text, size_t len, kc_key_t *key, kc_cache_rec_t *rec,
                        kc_buf_t *store, char *errstr, size_t errstr_size);

/** @brief Parse 32 hex digits (either case) as written by kc_key_hex(). @returns 0 or
 * KC_ERR_DECODE. */
int kc_cache_key_parse(const char *hex, size_t len, kc_key_t *key);

#endif
