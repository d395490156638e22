/**
 * @file kc_llm_proto.h
 * @brief OpenAI-compatible chat-completions contract: request building and
 * response parsing. Pure: no I/O.
 *
 * Request: model, temperature 0, then the messages: the system prompt first
 * (the taxonomy's prompt, tx->system_prompt, followed by the answer-format
 * paragraph for the options; byte-identical for the same taxonomy and
 * options, so provider prefix caches apply), then one user message whose
 * content is JSON {"queries":[{"id":"q0","text":"..."},...]}; then
 * response_format json_schema (strict) listing only the fields asked for,
 * whose `category` is an enum of the taxonomy's names; then, per call,
 * max_tokens and logprobs/top_logprobs when asked for.
 *
 * Response: choices[0].message.content is JSON {"results":[{"id","category",...}]},
 * possibly wrapped in ```json fences, in any order, with ids missing or
 * invalid; choices[0].logprobs.content (OpenAI format) when logprobs were asked
 * for and the server supports them.
 */
#ifndef KC_LLM_PROTO_H
#define KC_LLM_PROTO_H

#include "kc_buf.h"
#include "kc_taxonomy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_LLM_BODY_MAX      (8 << 20) /**< larger response bodies are rejected unparsed */
#define KC_LLM_CONTENT_MAX   (4 << 20) /**< larger message contents are rejected unparsed */
#define KC_LLM_REASONING_MAX 1024      /**< reasoning is truncated (UTF-8 safe) to this */
#define KC_LLM_MODEL_MAX     128       /**< a longer `model` from the server is truncated */

/** Confidence of an item that carries none (mode NONE, field absent, logprobs unusable). */
#define KC_LLM_CONFIDENCE_UNKNOWN 0.5f

/** @brief How the confidence of an answer is obtained. */
typedef enum {
    KC_LLM_CONFIDENCE_NONE = 0, /**< not asked for: items carry KC_LLM_CONFIDENCE_UNKNOWN */
    KC_LLM_CONFIDENCE_FIELD,    /**< a "confidence" number in each result (model's own claim) */
    KC_LLM_CONFIDENCE_LOGPROBS, /**< the category's probability from the token logprobs */
    KC_LLM_CONFIDENCE_CNT
} kc_llm_confidence_t;

/** @brief What each result carries: fixed for a client's lifetime. */
typedef struct kc_llm_answer_opts_s {
    bool reasoning; /**< ask for a one-sentence "reasoning" per result */
    kc_llm_confidence_t confidence;
} kc_llm_answer_opts_t;

/** @brief Per-call request options. */
typedef struct kc_llm_call_opts_s {
    int64_t max_tokens; /**< sent as "max_tokens" when > 0 */
    bool logprobs;      /**< send "logprobs":true (meant for confidence LOGPROBS; not checked) */
    int top_logprobs;   /**< sent as "top_logprobs" when logprobs and > 0 */
} kc_llm_call_opts_t;

/**
 * @brief The system prompt for these options: tx->system_prompt followed by
 * the answer-format paragraph (which fields, one result per id, ids as
 * given, category spelled exactly; the confidence and reasoning sentences
 * only when those fields are asked for). Byte-identical for identical input.
 * @param ao NULL = the compact answer (no reasoning, confidence NONE).
 * @param out reset, then holds the prompt (NUL-terminated).
 * @returns 0, KC_ERR_INVALID (NULL tx or out) or KC_ERR_NOMEM.
 * @remark The taxonomy's version (and so every cache key) hashes only
 *         tx->system_prompt: the answer format can change without
 *         invalidating caches.
 */
int kc_llm_system_prompt_build(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao,
                               kc_buf_t *out);

/**
 * @brief Expected completion tokens of a compliant answer for n queries, from
 * the longest category name and the fields asked for, without headroom. Used
 * to size max_tokens and to predict latency before any call has been measured.
 *
 * ceil(bytes / 4) + n * (6 if confidence FIELD) + n * (30 if reasoning),
 * where bytes are those of the compact answer at its longest:
 * `{"results":[` `]}` plus, per query, `{"id":"qN","category":"<longest
 * name>"},` with the real digits of N. 6 tokens stand for
 * `"confidence":0.93,`, 30 for a one-sentence reasoning.
 * @param ao NULL = the compact answer.
 * @returns the estimate; 0 for n == 0 or a NULL tx.
 */
int64_t kc_llm_answer_tokens_estimate(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao,
                                      size_t n);

/**
 * @brief Build the request body for n queries; ids are "q0".."q{n-1}".
 *
 * Keys in this order: "model", "temperature", "messages" (system, then
 * user), "response_format", then "max_tokens" (when co->max_tokens > 0),
 * "logprobs":true (when co->logprobs) and "top_logprobs" (when also
 * co->top_logprobs > 0): calls differing only in per-call options share
 * every byte before "max_tokens".
 * @param system the system prompt from kc_llm_system_prompt_build() (the
 *        caller keeps one, so it is built once).
 * @param ao the fields of the response_format schema; NULL = compact.
 * @param texts query texts (need not be NUL-terminated), lens their lengths.
 * @param co per-call options; NULL = none.
 * @param out reset, then holds exactly the JSON body (NUL-terminated).
 * @returns 0 or KC_ERR_NOMEM / KC_ERR_INVALID (n == 0, NULL model or
 *          system, a text, the model or the system prompt that is not valid
 *          UTF-8).
 * @remark Byte-identical output for identical input.
 */
int kc_llm_request_build(const kc_taxonomy_t *tx, const char *model, const char *system,
                         const kc_llm_answer_opts_t *ao, const kc_llm_call_opts_t *co,
                         const char *const *texts, const size_t *lens, size_t n, kc_buf_t *out,
                         char *errstr, size_t errstr_size);

typedef enum {
    KC_LLM_ITEM_MISSING = 0, /**< no result carried this id */
    KC_LLM_ITEM_OK = 1,
    KC_LLM_ITEM_INVALID = 2 /**< a result carried this id but was unusable */
} kc_llm_item_state_t;

/** @brief Where an item's confidence came from. */
typedef enum {
    KC_LLM_CONF_SRC_NONE = 0, /**< KC_LLM_CONFIDENCE_UNKNOWN */
    KC_LLM_CONF_SRC_FIELD,
    KC_LLM_CONF_SRC_LOGPROBS
} kc_llm_conf_src_t;

typedef struct kc_llm_item_s {
    kc_llm_item_state_t state;
    int category;     /**< index into the taxonomy, when OK */
    float confidence; /**< in [0,1]; KC_LLM_CONFIDENCE_UNKNOWN when conf_src is NONE */
    kc_llm_conf_src_t conf_src;
    char *reasoning; /**< owned, may be NULL */
} kc_llm_item_t;

/** @brief What the response said about logprobs, when the parse asked for them. */
typedef enum {
    KC_LLM_LOGPROBS_NOT_ASKED = 0,
    KC_LLM_LOGPROBS_ABSENT,   /**< no choices[0].logprobs.content: the server ignores them */
    KC_LLM_LOGPROBS_USED,     /**< read; every OK item got a logprob confidence */
    KC_LLM_LOGPROBS_PARTIAL,  /**< read, but some OK items could not be mapped to tokens */
    KC_LLM_LOGPROBS_UNUSABLE, /**< present but malformed or not matching the content */
} kc_llm_logprobs_state_t;

typedef struct kc_llm_response_s {
    kc_llm_item_t *items; /**< n entries, index = id number */
    size_t n;
    char *model; /**< owned, may be NULL, at most KC_LLM_MODEL_MAX bytes (UTF-8 safe cut) */
    int64_t prompt_tokens, completion_tokens;
    int64_t cached_tokens; /**< usage.prompt_tokens_details.cached_tokens, 0 if absent */
    bool truncated;        /**< finish_reason "length" */
    kc_llm_logprobs_state_t logprobs;
    size_t ok_cnt, missing_cnt, invalid_cnt;
} kc_llm_response_t;

/** Parse flags. */
#define KC_LLM_PARSE_LOGPROBS 0x1 /**< take confidences from choices[0].logprobs */

/**
 * @brief Parse a chat-completions response body for a call of n queries.
 * @param flags KC_LLM_PARSE_*; a "confidence" field is always read when
 *        present; with KC_LLM_PARSE_LOGPROBS each OK item's confidence is
 *        then replaced by its category's probability from the logprobs (see
 *        kc_llm_logprob.h) where it can be computed, and resp->logprobs says
 *        how that went; without it resp->logprobs is NOT_ASKED.
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
 * is missing or not a number leaves conf_src NONE, one out of range is
 * clamped; a reasoning that is not a string becomes NULL. Items that are
 * not OK carry conf_src NONE and KC_LLM_CONFIDENCE_UNKNOWN. Token counts
 * stay 0 when usage is absent or malformed. `model` loses its control
 * characters (C0, DEL, C1) and is cut to KC_LLM_MODEL_MAX bytes on a
 * character boundary; NULL when nothing is left. `truncated` and the usage
 * are read even when the content is unusable. Bodies over KC_LLM_BODY_MAX
 * or contents over KC_LLM_CONTENT_MAX give KC_ERR_DECODE. Returns
 * KC_ERR_INVALID for n == 0, KC_ERR_NOMEM on allocation failure.
 *
 * Logprobs (with KC_LLM_PARSE_LOGPROBS): choices[0].logprobs.content missing,
 * null or an empty array is ABSENT. Anything else is matched with the
 * content: each token's bytes are its "bytes" array when that is an array
 * of integers 0..255, else its "token" text; its logprob is "logprob" when
 * a number, else unknown. UNUSABLE: logprobs or its content of the wrong
 * type, a token that is not an object or has neither bytes nor text, tokens
 * that do not spell the content (or a prefix of it), a content whose
 * results the logprob scanner does not find as jansson does, or a content
 * that is not usable at all (KC_ERR_DECODE). Otherwise USED when every OK
 * item got a probability, else PARTIAL (the token list stops before a
 * category's deciding token, or one of those tokens had no usable logprob),
 * even when no item could be mapped. Items keep what the field gave
 * whenever they get no probability.
 */
int kc_llm_response_parse(const kc_taxonomy_t *tx, const char *body, size_t len, size_t n,
                          unsigned flags, kc_llm_response_t *resp, char *errstr,
                          size_t errstr_size);

void kc_llm_response_clear(kc_llm_response_t *resp);

/**
 * @brief Does an answer's reasoning quote another query of its call? A query
 * can ask the model to copy the others into its own reasoning, which would
 * hand them to its requester (and to the shared caches). Compared on the
 * normalized forms (kc_query_normalize: case and spacing folded): a match
 * of any 24-byte window of another normalized query (the whole of one of
 * 8 to 24 bytes) counts. Shorter queries are not looked for. Pure.
 * @param norms, lens the normalized queries of the call; `self` is skipped.
 * @returns true if it quotes one, or if the reasoning cannot be normalized.
 */
bool kc_llm_reasoning_quotes(const char *reasoning, const char *const *norms, const size_t *lens,
                             size_t n, size_t self);

/**
 * @brief Read an HTTP error body: OpenAI and llama.cpp
 * {"error":{"message","type","param","code"}}, vLLM
 * {"object":"error","message","param",...}, {"error":"..."},
 * {"message":"..."}, FastAPI {"detail":"..."} or
 * {"detail":[{"loc":[...],"msg":"..."}]}; a body that is not JSON is read as
 * text (its first 4096 bytes).
 * @param param e.g. "logprobs"; NULL or "" names nothing (to read msg only).
 * @param msg receives the first message found (error.message, error,
 *        message, detail, detail[].msg) for logs: control characters become
 *        spaces, invalid UTF-8 '?', cut on a character boundary to
 *        msg_size - 1 bytes; "" when the body has none. May be NULL.
 * @returns true if the error names `param`: a "param" field (or a pydantic
 *          "loc" element) equals it, or the message contains it as a whole
 *          word, ASCII case-insensitively ("logprobs is not supported",
 *          "Unrecognized request argument supplied: logprobs"; but
 *          "top_logprobs" does not name "logprobs"). This is how a server
 *          says it does not support a request parameter. Bodies over
 *          KC_LLM_BODY_MAX are not read.
 */
bool kc_llm_error_names_param(const char *body, size_t len, const char *param, char *msg,
                              size_t msg_size);

#endif
