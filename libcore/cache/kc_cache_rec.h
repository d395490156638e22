/**
 * @file kc_cache_rec.h
 * @brief The cached-answer record shared by the LMDB and Redis cache levels:
 * a small versioned binary format with a pure encoder and decoder.
 *
 * Layout, version 1 (integers big-endian, like the cache key):
 *
 *     offset  size  field
 *     0       1     version = 1
 *     1       1     flags: bit 0 reasoning present, bit 1 model present;
 *                   other bits must be 0
 *     2       4     confidence, IEEE-754 binary32 bits
 *     6       8     created_at, int64 microseconds since the epoch
 *     14      8     expires_at, int64 microseconds since the epoch
 *     22      4+n   norm:      uint32 length n, then n bytes
 *     ...     4+n   category:  uint32 length n (n >= 1), then n bytes
 *     ...     4+n   reasoning: uint32 length, bytes (length 0 when absent)
 *     ...     4+n   model:     uint32 length, bytes (length 0 when absent)
 *
 * The flags keep "absent" (NULL) apart from "empty". The record ends exactly
 * after the model bytes: trailing bytes are a decode error, so a reader never
 * silently accepts a future layout under an old version number. A new layout
 * gets a new version byte.
 */
#ifndef KC_CACHE_REC_H
#define KC_CACHE_REC_H

#include "kc_buf.h"

#include <stddef.h>
#include <stdint.h>

#define KC_CACHE_REC_VERSION  1
#define KC_CACHE_REC_MIN_SIZE 38 /**< header + four empty length prefixes */

/** @brief A cached answer. After decode, strings point into the input buffer
 * and are NOT NUL-terminated: use the lengths. */
typedef struct kc_cache_rec_s {
    const char *norm; /**< normalized query (compared on hit) */
    size_t norm_len;
    const char *category;
    size_t category_len;
    float confidence;
    const char *reasoning; /**< may be NULL */
    size_t reasoning_len;
    const char *model; /**< may be NULL */
    size_t model_len;
    int64_t created_at; /**< wall-clock microseconds */
    int64_t expires_at; /**< wall-clock microseconds */
} kc_cache_rec_t;

/**
 * @brief Append the encoded record to out. Pure.
 * @returns 0, KC_ERR_NOMEM, or KC_ERR_INVALID (NULL or empty category, a
 *          NULL string with a non-zero length, a string longer than 4 GiB).
 */
int kc_cache_rec_encode(const kc_cache_rec_t *rec, kc_buf_t *out);

/**
 * @brief Decode a record (views into data).
 * @returns 0, or KC_ERR_DECODE with errstr (unknown version, truncated, ...).
 */
int kc_cache_rec_decode(const void *data, size_t len, kc_cache_rec_t *rec, char *errstr,
                        size_t errstr_size);

#endif
