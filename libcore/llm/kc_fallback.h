/**
 * @file kc_fallback.h
 * @brief The fallback classifier: a keyword/pattern scorer over the taxonomy.
 *
 * Used when the LLM fails, is disabled or runs out of time. Pure and fast.
 * Its confidence is always < 0.7 so consumers can tell it from an LLM answer.
 */
#ifndef KC_FALLBACK_H
#define KC_FALLBACK_H

#include "kc_taxonomy.h"

/**
 * Only the first KC_FALLBACK_SCAN_MAX bytes of a query are scanned (cut back
 * to a word boundary), which bounds the cost of pathological inputs; the
 * deciding words of a real question come early.
 */
#define KC_FALLBACK_SCAN_MAX 4096

typedef struct kc_fallback_result_s {
    int category;          /**< index into tx->categories */
    float confidence;      /**< in [0.3, 0.69] */
    const char *reasoning; /**< static text naming the rule that decided */
} kc_fallback_result_t;

/**
 * @brief Classify a normalized query (lowercase, trimmed).
 * Scores each category's cues (word/phrase matches; "@year>=N" matches any
 * four-digit year >= N); highest score wins, ties go to the earlier category;
 * no match gives the taxonomy's default category.
 * Confidence: 0.30 when no cue matched, 0.35 on a tie, otherwise growing
 * with the winner's lead from 0.40 towards 0.69.
 * @param norm may be NULL when len is 0.
 * @remark Never allocates; reasoning points to static text. Thread-safe.
 */
void kc_fallback_classify(const kc_taxonomy_t *tx, const char *norm, size_t len,
                          kc_fallback_result_t *out);

#endif
