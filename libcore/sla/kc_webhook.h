/**
 * @file kc_webhook.h
 * @brief Fire-and-forget JSON POSTs (alert webhooks) with retry and backoff.
 *
 * Design: one small worker thread with its own libcurl easy handle and a FIFO
 * queue, so the caller's event loop never blocks on a slow or dead receiver.
 * Bodies are delivered in the order posted (a FIRING is never overtaken by its
 * RESOLVED); a body that keeps failing holds the queue for at most
 * max_attempts tries. Outcomes are queued back and reported on the owner's
 * thread by kc_webhook_poll(), so no callback ever runs on the worker thread.
 *
 * Retried: connection errors, timeouts, HTTP 408, 429 and 5xx. Not retried:
 * other 4xx (the payload itself is wrong). Backoff doubles from backoff_ms up
 * to backoff_max_ms.
 *
 * @remark kc_webhook_new() calls curl_global_init(); create webhooks from the
 *         main thread before other threads use libcurl.
 */
#ifndef KC_WEBHOOK_H
#define KC_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct kc_webhook_s kc_webhook_t;

typedef struct kc_webhook_opts_s {
    int64_t timeout_ms;     /**< one attempt, connect included (default 5000) */
    int max_attempts;       /**< >= 1 (default 5) */
    int64_t backoff_ms;     /**< first retry delay (default 200) */
    int64_t backoff_max_ms; /**< cap (default 5000) */
    size_t queue_max;       /**< bodies waiting at most (default 1000) */
    int64_t drain_ms;       /**< on destroy, time to finish the queue (default 3000) */
} kc_webhook_opts_t;

/** @brief Fill opts with the defaults above. */
void kc_webhook_opts_defaults(kc_webhook_opts_t *opts);

/**
 * @brief Start a webhook sender for url (http or https).
 * @param opts NULL = defaults.
 * @returns the sender, or NULL with errstr set.
 */
kc_webhook_t *kc_webhook_new(const char *url, const kc_webhook_opts_t *opts, char *errstr,
                             size_t errstr_size);

/**
 * @brief Queue a copy of body for POSTing with Content-Type: application/json.
 * @param tag short text returned with the outcome (e.g. an alert id), copied.
 * @returns 0, KC_ERR_FULL (queue full: dropped), KC_ERR_NOMEM, KC_ERR_STATE (stopping).
 */
int kc_webhook_post(kc_webhook_t *wh, const char *body, size_t len, const char *tag);

/**
 * @brief Outcome of one body.
 * @param ok 1 if a 2xx answer was received.
 * @param attempts tries made; http_status the last status (0 if none);
 *        error a description of the last failure ("" when ok).
 */
typedef void(kc_webhook_done_cb)(void *opaque, const char *tag, int ok, int attempts,
                                 long http_status, const char *error);

/**
 * @brief Report finished bodies through cb on the calling thread.
 * @returns the number reported.
 */
int kc_webhook_poll(kc_webhook_t *wh, kc_webhook_done_cb *cb, void *opaque);

/** @brief Bodies queued or in flight. */
size_t kc_webhook_pending(kc_webhook_t *wh);

/**
 * @brief Give the queue up to drain_ms to finish, stop the thread, free all.
 * Unreported outcomes are dropped. NULL-safe.
 */
void kc_webhook_destroy(kc_webhook_t *wh);

#endif
