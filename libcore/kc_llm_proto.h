/**
 * @file kc_llm_proto.h
 * @brief OpenAI-compatible chat-completions contract: request building and
 * response parsing. Pure: no I/O.
 *
 * Request: model, temperature 0, the taxonomy's system prompt, then one user
 * message whose content is JSON {"queries":[{"id":"q0","text":"..."},...]},
 * and response_format json_schema (strict) whose `category` is an enum of the
 * taxonomy's names. Response: choices[0].message.content is JSON
 * {"results":[{"id","category","confidence","reasoning"}...]}, possibly wrapped
 * in ```json fences, in any order, with ids missing or invalid.
 */
#ifndef KC_LLM_PROTO_H
#define KC_LLM_PROTO_H

#include "kc_buf.h"
#include "kc_taxonomy.h"

#include <stddef.h>
#include <stdint.h>

#define KC_LLM_BODY_MAX      (8 << 20) /**< larger response bodies are rejected unparsed */
#define KC_LLM_CONTENT_MAX   (4 << 20) /**< larger message contents are rejected unparsed */
#define KC_LLM_REASONING_MAX 1024      /**< reasoning is truncated (UTF-8 safe) to this */

/**
 * @brief Build the request body for n queries; ids are "q0".."q{n-1}".
 * @param texts query texts (need not be NUL-terminated), lens their lengths.
 * @param out reset, then holds exactly the JSON body (NUL-terminated).
 * @returns 0 or KC_ERR_NOMEM / KC_ERR_INVALID (n == 0, NULL model, a text
 *          or the model that is not valid UTF-8).
 * @remark Byte-identical output for identical input.
 */
int kc_llm_request_build(const kc_taxonomy_t *tx, const char *model, const char *const *texts,
                         const size_t *lens, size_t n, kc_buf_t *out, char *errstr,
                         size_t errstr_size);

typedef enum {
    KC_LLM_ITEM_MISSING = 0, /**< no result carried this id */
    KC_LLM_ITEM_OK = 1,
    KC_LLM_ITEM_INVALID = 2 /**< a result carried this id but was unusable */
} kc_llm_item_state_t;

typedef struct kc_llm_item_s {
    kc_llm_item_state_t state;
    int category;     /**< index into the taxonomy, when OK */
    float confidence; /**< clamped to [0,1]; 0.5 when absent */
    char *reasoning;  /**< owned, may be NULL */
} kc_llm_item_t;

typedef struct kc_llm_response_s {
    kc_llm_item_t *items; /**< n entries, index = id number */
    size_t n;
    char *model; /**< owned, may be NULL */
    int64_t prompt_tokens, completion_tokens;
    size_t ok_cnt, missing_cnt, invalid_cnt;
} kc_llm_response_t;

/**
 * @brief Parse a chat-completions response body for a call of n queries.
 * @param resp zeroed on entry; filled with n items even on partial results.
 * @returns 0 if the body was a usable completion (individual items may still
 *          be MISSING or INVALID), KC_ERR_DECODE if the body or its content
 *          could not be understood at all (all items MISSING).
 * @remark release with kc_llm_response_clear() whatever the return code.
 *
 * Leniency, all deliberate: content may be wrapped in ``` or ```json fences
 * and surrounded by prose; results may come in any order; a result is matched
 * only by its id "qN" (N < n, no leading zeros), others are ignored; for a
 * repeated id the first valid result wins; a category must equal a taxonomy
 * name, else it is retried after trimming whitespace and ASCII-uppercasing
 * (" real_time " -> REAL_TIME), else the item is INVALID; a confidence that
 * is missing or not a number becomes 0.5, one out of range is clamped; a
 * reasoning that is not a string becomes NULL. prompt_tokens and
 * completion_tokens stay 0 when usage is absent or malformed. Bodies over
 * KC_LLM_BODY_MAX or contents over KC_LLM_CONTENT_MAX give KC_ERR_DECODE.
 * Returns KC_ERR_INVALID for n == 0, KC_ERR_NOMEM on allocation failure.
 */
int kc_llm_response_parse(const kc_taxonomy_t *tx, const char *body, size_t len, size_t n,
                          kc_llm_response_t *resp, char *errstr, size_t errstr_size);

void kc_llm_response_clear(kc_llm_response_t *resp);

#endif
