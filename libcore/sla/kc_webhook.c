/*
 * Webhook sender: a worker thread with a FIFO of JSON bodies, libcurl easy
 * POSTs with retry and exponential backoff, outcomes handed back to the
 * owner through a second queue (see kc_webhook.h for why a thread).
 */
#include "kc_webhook.h"
#include "kc_err.h"
#include "kc_time.h"

#include <curl/curl.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job_s {
    struct job_s *next;
    char *body;
    size_t len;
    char tag[96];
    /* outcome */
    int ok, attempts;
    long http_status;
    char error[256];
} job_t;

typedef struct jobq_s {
    job_t *head, *tail;
    size_t cnt;
} jobq_t;

struct kc_webhook_s {
    kc_webhook_opts_t opts;
    char *url;
    CURL *curl;
    struct curl_slist *headers;
    pthread_t thread;
    int thread_started;
    int curl_global;      /* curl_global_init() called: pair it on destroy */
    pthread_mutex_t lock; /* guards the queues and the flags */
    pthread_cond_t cond;  /* signalled on post and on stop */
    jobq_t queued, done;
    int in_flight;
    int stopping;
    int64_t drain_deadline_us; /* monotonic; valid while stopping */
};

void kc_webhook_opts_defaults(kc_webhook_opts_t *opts)
{
    *opts = (kc_webhook_opts_t){.timeout_ms = 5000,
                                .max_attempts = 5,
                                .backoff_ms = 200,
                                .backoff_max_ms = 5000,
                                .queue_max = 1000,
                                .drain_ms = 3000};
}

/* ------------------------------------------------------------------------
 * Queues (caller holds the lock)
 * ------------------------------------------------------------------------ */

static void q_push(jobq_t *q, job_t *j)
{
    j->next = NULL;
    if (q->tail) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
    q->cnt++;
}

static job_t *q_pop(jobq_t *q)
{
    job_t *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head) {
            q->tail = NULL;
        }
        q->cnt--;
    }
    return j;
}

static void job_free(job_t *j)
{
    if (j) {
        free(j->body);
        free(j);
    }
}

/* ------------------------------------------------------------------------
 * Worker thread
 * ------------------------------------------------------------------------ */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* Deadline for the current step: the drain deadline once stopping. */
static int abandoned(kc_webhook_t *wh)
{
    int r;
    pthread_mutex_lock(&wh->lock);
    r = wh->stopping && kc_mono_us() >= wh->drain_deadline_us;
    pthread_mutex_unlock(&wh->lock);
    return r;
}

/* One POST. @returns 1 ok, 0 retryable failure, -1 permanent failure. */
static int attempt(kc_webhook_t *wh, job_t *j)
{
    CURLcode cc;

    curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
    j->attempts++;
    j->http_status = 0;
    if ((cc = curl_easy_perform(wh->curl)) != CURLE_OK) {
        snprintf(j->error, sizeof(j->error), "%s", curl_easy_strerror(cc));
        return 0;
    }
    curl_easy_getinfo(wh->curl, CURLINFO_RESPONSE_CODE, &j->http_status);
    if (j->http_status >= 200 && j->http_status < 300) {
        j->error[0] = '\0';
        return 1;
    }
    snprintf(j->error, sizeof(j->error), "HTTP %ld", j->http_status);
    return j->http_status == 408 || j->http_status == 429 || j->http_status >= 500 ? 0 : -1;
}

/* Sleep before the next attempt; wakes early only to give up on shutdown. */
static void backoff(kc_webhook_t *wh, int tries)
{
    int64_t delay = wh->opts.backoff_ms;
    struct timespec ts;

    for (int i = 1; i < tries && delay < wh->opts.backoff_max_ms; i++) {
        delay *= 2;
    }
    if (delay > wh->opts.backoff_max_ms) {
        delay = wh->opts.backoff_max_ms;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += delay / 1000;
    ts.tv_nsec += (delay % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&wh->lock);
    while (!(wh->stopping && kc_mono_us() >= wh->drain_deadline_us)) {
        if (pthread_cond_timedwait(&wh->cond, &wh->lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&wh->lock);
}

static void deliver(kc_webhook_t *wh, job_t *j)
{
    int r = 0;

    while (j->attempts < wh->opts.max_attempts) {
        if (abandoned(wh)) {
            char last[sizeof(j->error)];
            memcpy(last, j->error, sizeof(last));
            snprintf(j->error, sizeof(j->error), "shutting down after %d attempt(s)%s%.200s",
                     j->attempts, last[0] ? ": " : "", last);
            break;
        }
        if ((r = attempt(wh, j)) != 0 || j->attempts >= wh->opts.max_attempts) {
            break;
        }
        backoff(wh, j->attempts);
    }
    j->ok = r == 1;
}

static void *worker(void *arg)
{
    kc_webhook_t *wh = arg;
    job_t *j;

    pthread_mutex_lock(&wh->lock);
    for (;;) {
        while (!wh->queued.head && !wh->stopping) {
            pthread_cond_wait(&wh->cond, &wh->lock);
        }
        if (!(j = q_pop(&wh->queued))) {
            break; /* stopping with nothing left */
        }
        wh->in_flight = 1;
        pthread_mutex_unlock(&wh->lock);
        deliver(wh, j);
        pthread_mutex_lock(&wh->lock);
        wh->in_flight = 0;
        free(j->body);
        j->body = NULL;
        q_push(&wh->done, j);
    }
    pthread_mutex_unlock(&wh->lock);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Owner API
 * ------------------------------------------------------------------------ */

static int setup_curl(kc_webhook_t *wh, char *errstr, size_t errstr_size)
{
    if (!(wh->curl = curl_easy_init()) ||
        !(wh->headers = curl_slist_append(NULL, "Content-Type: application/json"))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create a curl handle");
    }
    curl_easy_setopt(wh->curl, CURLOPT_URL, wh->url);
    curl_easy_setopt(wh->curl, CURLOPT_HTTPHEADER, wh->headers);
    curl_easy_setopt(wh->curl, CURLOPT_USERAGENT, "kclassify-sla");
    curl_easy_setopt(wh->curl, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a thread */
    curl_easy_setopt(wh->curl, CURLOPT_TIMEOUT_MS, (long)wh->opts.timeout_ms);
    curl_easy_setopt(wh->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->opts.timeout_ms);
    curl_easy_setopt(wh->curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(wh->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return 0;
}

kc_webhook_t *kc_webhook_new(const char *url, const kc_webhook_opts_t *opts, char *errstr,
                             size_t errstr_size)
{
    kc_webhook_t *wh;

    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "webhook URL '%s' is not http(s)://...",
                  url ? url : "");
        return NULL;
    }
    if (!(wh = calloc(1, sizeof(*wh))) || !(wh->url = strdup(url))) {
        free(wh);
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (opts) {
        wh->opts = *opts;
    } else {
        kc_webhook_opts_defaults(&wh->opts);
    }
    if (wh->opts.max_attempts < 1) {
        wh->opts.max_attempts = 1;
    }
    wh->curl_global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    pthread_mutex_init(&wh->lock, NULL);
    {
        /* Backoff waits on the monotonic clock: a wall-clock step must not
         * stretch or skip them. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&wh->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (setup_curl(wh, errstr, errstr_size) != 0) {
        kc_webhook_destroy(wh);
        return NULL;
    }
    if (pthread_create(&wh->thread, NULL, worker, wh) != 0) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot start the webhook thread");
        kc_webhook_destroy(wh);
        return NULL;
    }
    wh->thread_started = 1;
    return wh;
}

int kc_webhook_post(kc_webhook_t *wh, const char *body, size_t len, const char *tag)
{
    job_t *j;
    int rc = 0;

    if (!(j = calloc(1, sizeof(*j))) || !(j->body = malloc(len + 1))) {
        free(j);
        return KC_ERR_NOMEM;
    }
    memcpy(j->body, body, len);
    j->body[len] = '\0';
    j->len = len;
    snprintf(j->tag, sizeof(j->tag), "%s", tag ? tag : "");
    pthread_mutex_lock(&wh->lock);
    if (wh->stopping) {
        rc = KC_ERR_STATE;
    } else if (wh->queued.cnt >= wh->opts.queue_max) {
        rc = KC_ERR_FULL;
    } else {
        q_push(&wh->queued, j);
        pthread_cond_signal(&wh->cond);
    }
    pthread_mutex_unlock(&wh->lock);
    if (rc) {
        job_free(j);
    }
    return rc;
}

int kc_webhook_poll(kc_webhook_t *wh, kc_webhook_done_cb *cb, void *opaque)
{
    jobq_t done;
    job_t *j;
    int n = 0;

    pthread_mutex_lock(&wh->lock);
    done = wh->done;
    memset(&wh->done, 0, sizeof(wh->done));
    pthread_mutex_unlock(&wh->lock);
    while ((j = q_pop(&done)) != NULL) {
        if (cb) {
            cb(opaque, j->tag, j->ok, j->attempts, j->http_status, j->error);
        }
        job_free(j);
        n++;
    }
    return n;
}

size_t kc_webhook_pending(kc_webhook_t *wh)
{
    size_t n;
    pthread_mutex_lock(&wh->lock);
    n = wh->queued.cnt + (size_t)wh->in_flight;
    pthread_mutex_unlock(&wh->lock);
    return n;
}

void kc_webhook_destroy(kc_webhook_t *wh)
{
    job_t *j;

    if (!wh) {
        return;
    }
    if (wh->thread_started) {
        pthread_mutex_lock(&wh->lock);
        wh->stopping = 1;
        wh->drain_deadline_us = kc_mono_us() + wh->opts.drain_ms * 1000;
        pthread_cond_broadcast(&wh->cond);
        pthread_mutex_unlock(&wh->lock);
        pthread_join(wh->thread, NULL);
    }
    while ((j = q_pop(&wh->queued)) != NULL) {
        job_free(j);
    }
    while ((j = q_pop(&wh->done)) != NULL) {
        job_free(j);
    }
    if (wh->curl) {
        curl_easy_cleanup(wh->curl);
    }
    if (wh->curl_global) {
        curl_global_cleanup();
    }
    curl_slist_free_all(wh->headers);
    pthread_cond_destroy(&wh->cond);
    pthread_mutex_destroy(&wh->lock);
    free(wh->url);
    free(wh);
}
