/**
 * @file kc_llm_logprob.h
 * @brief A result's confidence from the token logprobs of a chat completion:
 * the probability the model gave to its category. Pure: no I/O, no jansson.
 *
 * The answer is the message content, a JSON text such as
 * `{"results":[{"id":"q0","category":"REAL_TIME"},...]}`, possibly inside
 * fences or prose. The server's logprobs split the same text into tokens,
 * each with the natural log of the probability the model gave it. Under a
 * strict schema whose `category` is an enum, once the value written so far is
 * the prefix of a single name the rest is forced, so the category was chosen
 * by the tokens up to that point; their probabilities multiply.
 *
 * Lifecycle (one object per response, one thread):
 *
 *     kc_llm_logprob_new()            scan the content for category values
 *       kc_llm_logprob_token()...     stream the tokens, in order
 *       kc_llm_logprob_get(i)...      read results[i]'s probability
 *     kc_llm_logprob_destroy()
 *
 * Definitions, all in byte offsets of the whole content string:
 *
 * - **Values.** Only the `category` member of an object that is an element
 *   of the `results` array of the top-level object counts; keys are compared
 *   after JSON unescaping (`"c\u0061tegory"` counts), text inside strings
 *   never does (`"reasoning":"\"category\":\"X\""` is not a value), nor does
 *   a `category` nested deeper or outside `results`. As in the jansson parse
 *   the caller does, a repeated key counts once, its last occurrence; a
 *   `category` whose (last) value is not a string has no value. A value is
 *   the raw bytes between its quotes, [start, end); content[end] is the
 *   closing quote. Results are numbered by their index in `results`, like
 *   json_array_get(), whatever their type.
 * - **Deciding byte.** d is the first offset p in [start, end) such that the
 *   raw bytes content[start..p] are the prefix of exactly one taxonomy name.
 *   If there is none, d = end: the value is no name's prefix (lowercase,
 *   escaped, padded or foreign; the caller may still accept it), or is still
 *   the prefix of several names at its end ("A" when "AB" exists too), in
 *   which case the closing quote is what chose "A" over "AB"; an empty value
 *   is decided by its closing quote too.
 * - **Tokens.** Each token is a run of bytes (its `bytes`, else its text)
 *   that must continue the content exactly where the previous one ended; a
 *   token covers [s, e). A token without bytes covers nothing: its logprob is
 *   added to the next token that has bytes (dropped if none follows).
 * - **Probability.** The tokens overlapping [start, d] (both ends inclusive):
 *   from the token holding the value's first byte, which may begin before it
 *   (`":"KN`), through the token holding the deciding byte, which may run on
 *   past the value (`TIME"},{"`). p = exp(sum of their logprobs), clamped to
 *   [0, 1]. Token boundaries may fall anywhere (`KNOW`,`LED`,`GE_`); a token
 *   overlapping two values counts in both.
 * - **Logprob numbers.** A positive one counts as 0 (p <= 1); -inf or a sum
 *   that underflows gives p = 0; NaN, which callers pass for a missing or
 *   non-numeric logprob, makes the values whose tokens include it unknown.
 *
 * Failures, each with a defined result:
 *
 * - the content has no top-level object with a `results` array:
 *   kc_llm_logprob_new() returns KC_ERR_DECODE;
 * - a token's bytes differ from the content, or run past its end (the
 *   tokens do not spell the content: bytes misreported, a different
 *   choice's tokens, a token text standing for invalid UTF-8 with no
 *   `bytes`): the stream is poisoned, every call after returns
 *   KC_ERR_DECODE and kc_llm_logprob_get() returns KC_ERR_STATE;
 * - the tokens stop early (a prefix of the content): values whose deciding
 *   byte was reached have a probability, the others are KC_ERR_NOTFOUND;
 * - results[i] is not an object, has no string category, or a logprob of
 *   its tokens was NaN: KC_ERR_NOTFOUND.
 *
 * Cost: one pass over the content at creation, O(1) amortized per token
 * byte, O(log n) per kc_llm_logprob_get(). Memory: one small entry per
 * result object with a string category (at most one per 15 content bytes),
 * nothing per token.
 */
#ifndef KC_LLM_LOGPROB_H
#define KC_LLM_LOGPROB_H

#include "kc_taxonomy.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kc_llm_logprob_s kc_llm_logprob_t;

/**
 * @brief Scan the content for the category values of its results.
 * @param lpp receives the new object, NULL on error.
 * @param tx the taxonomy whose names decide where a value is decided;
 *        borrowed, must outlive the object.
 * @param content the whole message content (need not be NUL-terminated,
 *        may contain NULs); borrowed, must outlive the object.
 * @param json_off, json_len where in the content the JSON object starts and
 *        the text the caller parsed (after stripping fences and prose); the
 *        scan stops at the end of the first JSON value.
 * @returns 0, KC_ERR_INVALID (NULL argument, the range outside the content),
 *          KC_ERR_DECODE (no object with a `results` array there), or
 *          KC_ERR_NOMEM.
 */
int kc_llm_logprob_new(kc_llm_logprob_t **lpp, const kc_taxonomy_t *tx, const char *content,
                       size_t len, size_t json_off, size_t json_len);

/** @brief Free the object. NULL-safe. */
void kc_llm_logprob_destroy(kc_llm_logprob_t *lp);

/** @brief Number of elements of the `results` array (of any type). */
size_t kc_llm_logprob_result_cnt(const kc_llm_logprob_t *lp);

/**
 * @brief Append bytes to the current token (a token given in pieces, such as
 * a `bytes` array read in chunks).
 * @returns 0, or KC_ERR_DECODE if they do not continue the content (sticky).
 */
int kc_llm_logprob_feed(kc_llm_logprob_t *lp, const void *bytes, size_t len);

/**
 * @brief End the current token, whose bytes were fed, with its logprob
 * (NaN when unknown).
 * @returns 0, or KC_ERR_DECODE after a mismatch.
 */
int kc_llm_logprob_token_end(kc_llm_logprob_t *lp, double logprob);

/** @brief kc_llm_logprob_feed() then kc_llm_logprob_token_end(). */
int kc_llm_logprob_token(kc_llm_logprob_t *lp, const void *bytes, size_t len, double logprob);

/** @brief Content bytes the tokens have reproduced so far. */
size_t kc_llm_logprob_covered(const kc_llm_logprob_t *lp);

/**
 * @brief The probability of results[i]'s category, from the tokens so far.
 * @param p receives it, in [0, 1], on success.
 * @returns 0; KC_ERR_NOTFOUND when results[i] has no string category (or i
 *          is out of range), its deciding token has not been seen, or one of
 *          its tokens had no logprob; KC_ERR_STATE after a mismatch.
 */
int kc_llm_logprob_get(const kc_llm_logprob_t *lp, size_t i, float *p);

#endif
