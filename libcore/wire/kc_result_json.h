/**
 * @file kc_result_json.h
 * @brief A ClassificationResult as one line of JSON (for kclassify-produce --wait). Pure.
 *
 * Keys, in order: request_id, query, query_hash, category, confidence,
 * reasoning, status, error, source, coalesced, model, batch_size, worker_id,
 * created_at, consumed_at, replied_at, queue_us, cache_us, llm_us, total_us,
 * deadline_met. Enums are their schema symbols ("OK", "LLM"), absent optional
 * strings are null, timestamps are integer microseconds since the epoch, and
 * confidence is printed with the fewest digits that read back as the same float.
 * Bytes that are not valid UTF-8 (a raw query may hold any bytes) are replaced
 * by U+FFFD so the output is always valid JSON.
 */
#ifndef KC_RESULT_JSON_H
#define KC_RESULT_JSON_H

#include "kc_buf.h"
#include "kc_types.h"

#include <jansson.h>
#include <stddef.h>

/**
 * @brief Append res as a compact JSON object (no newline) to out.
 * @param query the query text that was sent, or NULL to write "query": null.
 * @param query_len bytes in query (it may contain NULs).
 * @returns 0, KC_ERR_NOMEM, or KC_ERR_ENCODE with errstr set.
 */
int kc_result_json_write(const kc_result_t *res, const char *query, size_t query_len, kc_buf_t *out,
                         char *errstr, size_t errstr_size);

/**
 * @brief Copy buf into out, replacing each invalid UTF-8 byte by U+FFFD. Pure.
 * @returns 0 or KC_ERR_NOMEM.
 */
int kc_result_json_sanitize(const char *buf, size_t len, kc_buf_t *out);

/** @brief Fewest significant digits (1..9) whose "%.*g" form reads back as f
 * exactly: JSON numbers that round-trip without noise digits. */
int kc_float_digits(float f);

/**
 * @brief Append o as one compact line of JSON (key order kept, reals with the
 *        precision of `confidence`) to out; takes o over (decref'd).
 * @returns 0, KC_ERR_ENCODE or KC_ERR_NOMEM (errstr says which).
 */
int kc_json_append(kc_buf_t *out, json_t *o, float confidence, char *errstr, size_t errstr_size);

#endif
