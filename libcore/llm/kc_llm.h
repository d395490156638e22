/**
 * @file kc_llm.h
 * @brief Asynchronous OpenAI-compatible LLM client on libcurl multi.
 *
 * One client per event loop. Calls are submitted without blocking; the loop
 * waits in kc_llm_wait() (which also watches the caller's file descriptors,
 * e.g. librdkafka queue event fds) and completes calls in kc_llm_perform(),
 * which invokes each call's callback on the loop's thread.
 */
#ifndef KC_LLM_H
#define KC_LLM_H

#include "kc_llm_proto.h"
#include "kc_ratelimit.h"
#include "kc_taxonomy.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kc_llm_s kc_llm_t;
typedef struct kc_llm_call_s kc_llm_call_t; /**< a running call (handle for kc_llm_cancel) */

typedef struct kc_llm_conf_s {
    const char *url;     /**< base URL, "/chat/completions" is appended */
    const char *model;   /**< model name */
    const char *api_key; /**< bearer token or NULL; never logged */
    int64_t timeout_ms;  /**< ceiling of every call's own timeout */
    int64_t inflight_max;
    int64_t response_max_bytes;
    kc_llm_answer_opts_t answer; /**< what each result carries */
    bool allow_insecure;         /**< send api_key over plain http:// to a remote host */
} kc_llm_conf_t;

#define KC_LLM_API_KEY_MAX 4096 /**< a longer key is refused, never cut */

/**
 * @brief Check what kc_llm_new() would refuse: an API key longer than
 * KC_LLM_API_KEY_MAX or with a character outside printable ASCII (it goes
 * into an HTTP header), or an API key for a plain http:// URL whose host is
 * not loopback (127.0.0.0/8, ::1, localhost) unless allow_insecure.
 * @returns 0 or KC_ERR_CONFIG with errstr set (never showing the key).
 */
int kc_llm_conf_check(const kc_llm_conf_t *conf, char *errstr, size_t errstr_size);

/** @brief Outcome of one call, passed to the callback. */
typedef struct kc_llm_outcome_s {
    int err;          /**< 0 if a response was parsed (items may still be missing) */
    long http_status; /**< 0 if no HTTP response */
    char errstr[256]; /**< why err != 0 */
    int64_t latency_us;
    int64_t retry_after_ms; /**< Retry-After / retry-after-ms (capped), 0 if none */
    kc_rl_headers_t rl;     /**< x-ratelimit-* headers of the response */
    bool param_rejected;    /**< a 4xx naming a parameter we sent (logprobs) */
    bool cancelled;         /**< kc_llm_cancel() or shutdown */
    size_t request_bytes;   /**< size of the request body */
    kc_llm_response_t resp; /**< valid when err == 0; owned by the client */
} kc_llm_outcome_t;

typedef void(kc_llm_done_cb)(void *opaque, const kc_llm_outcome_t *out);

/**
 * @brief Create a client. Copies everything it keeps from conf.
 * @remark tx must outlive the client.
 */
kc_llm_t *kc_llm_new(const kc_llm_conf_t *conf, const kc_taxonomy_t *tx, char *errstr,
                     size_t errstr_size);
void kc_llm_destroy(kc_llm_t *llm);

/**
 * @brief Start a call classifying n queries; cb(opaque, outcome) runs from a
 * later kc_llm_perform() (or kc_llm_cancel()).
 * @param co per-call options (max_tokens, logprobs); NULL = none.
 * @param timeout_ms this call's timeout, cut to the configured ceiling.
 * @param callp receives the call's handle (valid until its callback ran); may be NULL.
 * @returns 0, KC_ERR_FULL if inflight_max calls are running, or an error.
 */
int kc_llm_submit(kc_llm_t *llm, const char *const *texts, const size_t *lens, size_t n,
                  const kc_llm_call_opts_t *co, int64_t timeout_ms, kc_llm_done_cb *cb,
                  void *opaque, kc_llm_call_t **callp, char *errstr, size_t errstr_size);

/**
 * @brief Abort one running call: its callback runs now with err
 * KC_ERR_STATE and outcome.cancelled set (the transfer is dropped, so the
 * server may stop generating).
 */
void kc_llm_cancel(kc_llm_t *llm, kc_llm_call_t *call);

/** @brief Calls running now. */
size_t kc_llm_inflight(const kc_llm_t *llm);

/**
 * @brief Wait for network activity on running calls or on extra fds, at most
 * timeout_ms (an extra fd, e.g. a wake pipe, interrupts it).
 */
int kc_llm_wait(kc_llm_t *llm, struct curl_waitfd *extra, unsigned extra_cnt, int timeout_ms);

/**
 * @brief Abort every running call; each callback runs now with err
 * KC_ERR_STATE. kc_llm_destroy() does this too, so owners get their opaque
 * pointers back.
 */
void kc_llm_cancel_all(kc_llm_t *llm);

/** @brief Drive transfers and run callbacks of finished calls. @returns calls finished. */
int kc_llm_perform(kc_llm_t *llm);

/** @brief Counters since creation. */
typedef struct kc_llm_stats_s {
    uint64_t calls, queries, ok_calls, failed_calls, cancelled_calls;
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
    uint64_t truncated; /**< answers cut by max_tokens (finish_reason "length") */
} kc_llm_stats_t;

/** @brief The system prompt every call sends (byte-identical across calls). */
const char *kc_llm_system_prompt(const kc_llm_t *llm);
void kc_llm_stats(const kc_llm_t *llm, kc_llm_stats_t *st);

#endif
