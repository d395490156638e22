/**
 * @file kc_cache_rec.h
 * @brief The cached-answer record shared by the LMDB and Redis cache levels:
 * a small versioned binary format with a pure encoder and decoder.
 */
#ifndef KC_CACHE_REC_H
#define KC_CACHE_REC_H

#include "kc_buf.h"

#include <stddef.h>
#include <stdint.h>

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

/** @brief Append the encoded record to out. @returns 0, KC_ERR_NOMEM, KC_ERR_INVALID. */
int kc_cache_rec_encode(const kc_cache_rec_t *rec, kc_buf_t *out);

/**
 * @brief Decode a record (views into data).
 * @returns 0, or KC_ERR_DECODE with errstr (unknown version, truncated, ...).
 */
int kc_cache_rec_decode(const void *data, size_t len, kc_cache_rec_t *rec, char *errstr,
                        size_t errstr_size);

#endif
