#include "kc_llm.h"
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One running call. Easy handles are kept on a free list so connections and
 * buffers are reused: keep-alive is the point of a long-lived client. */
typedef struct kc_llm_call_s {
    struct kc_llm_call_s *next;   /* free list, or running list */
    struct kc_llm_call_s **pprev; /* running list back link */
    CURL *easy;
    kc_llm_t *llm;
    kc_buf_t body;
    kc_buf_t resp;
    size_t n;
    int64_t start_us;
    int overflow;
    kc_llm_done_cb *cb;
    void *opaque;
} kc_llm_call_t;

struct kc_llm_s {
    CURLM *multi;
    struct curl_slist *headers;
    char *endpoint;
    char *model;
    const kc_taxonomy_t *tx;
    int64_t timeout_ms;
    int64_t inflight_max;
    int64_t response_max_bytes;
    size_t inflight;
    kc_llm_call_t *running;
    kc_llm_call_t *free_calls;
    kc_llm_stats_t stats;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    kc_llm_call_t *call = userdata;
    size_t len = size * nmemb;

    if ((int64_t)(call->resp.len + len) > call->llm->response_max_bytes) {
        call->overflow = 1;
        return 0; /* aborts the transfer: an enormous body is an error, not a reply */
    }
    if (kc_buf_append(&call->resp, ptr, len) != 0) {
        return 0;
    }
    return len;
}

static struct curl_slist *build_headers(const char *api_key)
{
    struct curl_slist *h = NULL;
    char auth[1024];

    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (h && api_key && *api_key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api_key);
        h = curl_slist_append(h, auth);
        memset(auth, 0, sizeof(auth));
    }
    return h;
}

kc_llm_t *kc_llm_new(const kc_llm_conf_t *conf, const kc_taxonomy_t *tx, char *errstr,
                     size_t errstr_size)
{
    kc_llm_t *llm = calloc(1, sizeof(*llm));
    size_t ulen = strlen(conf->url);

    if (!llm) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    llm->tx = tx;
    llm->timeout_ms = conf->timeout_ms;
    llm->inflight_max = conf->inflight_max;
    llm->response_max_bytes = conf->response_max_bytes;
    llm->model = strdup(conf->model);
    llm->endpoint = malloc(ulen + sizeof("/chat/completions"));
    llm->multi = curl_multi_init();
    llm->headers = build_headers(conf->api_key);
    if (!llm->model || !llm->endpoint || !llm->multi || !llm->headers) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create LLM client");
        kc_llm_destroy(llm);
        return NULL;
    }
    while (ulen > 0 && conf->url[ulen - 1] == '/') {
        ulen--;
    }
    memcpy(llm->endpoint, conf->url, ulen);
    strcpy(llm->endpoint + ulen, "/chat/completions");
    curl_multi_setopt(llm->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conf->inflight_max);
    curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS, (long)conf->inflight_max * 2);
    return llm;
}

static void call_free(kc_llm_call_t *call)
{
    if (call->easy) {
        curl_easy_cleanup(call->easy);
    }
    kc_buf_free(&call->body);
    kc_buf_free(&call->resp);
    free(call);
}

void kc_llm_destroy(kc_llm_t *llm)
{
    kc_llm_call_t *call;

    if (!llm) {
        return;
    }
    kc_llm_cancel_all(llm);
    while ((call = llm->free_calls)) {
        llm->free_calls = call->next;
        call_free(call);
    }
    if (llm->multi) {
        curl_multi_cleanup(llm->multi);
    }
    curl_slist_free_all(llm->headers);
    free(llm->endpoint);
    free(llm->model);
    free(llm);
}

static kc_llm_call_t *call_get(kc_llm_t *llm)
{
    kc_llm_call_t *call = llm->free_calls;

    if (call) {
        llm->free_calls = call->next;
        kc_buf_reset(&call->body);
        kc_buf_reset(&call->resp);
    } else {
        call = calloc(1, sizeof(*call));
        if (!call) {
            return NULL;
        }
        call->easy = curl_easy_init();
        if (!call->easy) {
            free(call);
            return NULL;
        }
    }
    call->next = NULL;
    call->llm = llm;
    call->overflow = 0;
    return call;
}

static void call_setup(kc_llm_t *llm, kc_llm_call_t *call)
{
    CURL *e = call->easy;

    curl_easy_setopt(e, CURLOPT_URL, llm->endpoint);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, llm->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)llm->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)llm->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
}

int kc_llm_submit(kc_llm_t *llm, const char *const *texts, const size_t *lens, size_t n,
                  kc_llm_done_cb *cb, void *opaque, char *errstr, size_t errstr_size)
{
    kc_llm_call_t *call;
    int err;

    if ((int64_t)llm->inflight >= llm->inflight_max) {
        return kc_seterr(KC_ERR_FULL, errstr, errstr_size, "%zu LLM calls in flight",
                         llm->inflight);
    }
    if (!(call = call_get(llm))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    err =
        kc_llm_request_build(llm->tx, llm->model, texts, lens, n, &call->body, errstr, errstr_size);
    if (err) {
        call->next = llm->free_calls;
        llm->free_calls = call;
        return err;
    }
    call->n = n;
    call->cb = cb;
    call->opaque = opaque;
    call->start_us = kc_mono_us();
    call_setup(llm, call);
    if (curl_multi_add_handle(llm->multi, call->easy) != CURLM_OK) {
        call->next = llm->free_calls;
        llm->free_calls = call;
        return kc_seterr(KC_ERR_LLM, errstr, errstr_size, "curl_multi_add_handle failed");
    }
    call->next = llm->running;
    if (call->next) {
        call->next->pprev = &call->next;
    }
    call->pprev = &llm->running;
    llm->running = call;
    llm->inflight++;
    llm->stats.calls++;
    llm->stats.queries += n;
    return 0;
}

size_t kc_llm_inflight(const kc_llm_t *llm)
{
    return llm->inflight;
}

int kc_llm_wait(kc_llm_t *llm, struct curl_waitfd *extra, unsigned extra_cnt, int timeout_ms)
{
    int numfds = 0;

    if (curl_multi_poll(llm->multi, extra, extra_cnt, timeout_ms, &numfds) != CURLM_OK) {
        return KC_ERR_IO;
    }
    return numfds;
}

void kc_llm_wakeup(kc_llm_t *llm)
{
    curl_multi_wakeup(llm->multi);
}

/* Turn a finished transfer into an outcome: transport error, HTTP error or a
 * parsed response. */
static void call_outcome(kc_llm_call_t *call, CURLcode cc, kc_llm_outcome_t *out)
{
    kc_llm_t *llm = call->llm;
    curl_off_t retry_after = 0;

    memset(out, 0, sizeof(*out));
    out->latency_us = kc_mono_us() - call->start_us;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &out->http_status);
    if (curl_easy_getinfo(call->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
        out->retry_after_ms = (int64_t)retry_after * 1000;
    }
    if (call->overflow) {
        out->err =
            kc_seterr(KC_ERR_TOOBIG, out->errstr, sizeof(out->errstr),
                      "LLM response larger than %lld bytes", (long long)llm->response_max_bytes);
    } else if (cc != CURLE_OK) {
        out->err =
            kc_seterr(cc == CURLE_OPERATION_TIMEDOUT ? KC_ERR_TIMEOUT : KC_ERR_LLM, out->errstr,
                      sizeof(out->errstr), "LLM call failed: %s", curl_easy_strerror(cc));
    } else if (out->http_status != 200) {
        out->err = kc_seterr(KC_ERR_LLM, out->errstr, sizeof(out->errstr), "LLM answered HTTP %ld",
                             out->http_status);
    } else {
        out->err =
            kc_llm_response_parse(llm->tx, call->resp.data ? call->resp.data : "", call->resp.len,
                                  call->n, &out->resp, out->errstr, sizeof(out->errstr));
    }
    if (out->err) {
        llm->stats.failed_calls++;
    } else {
        llm->stats.ok_calls++;
        llm->stats.prompt_tokens += (uint64_t)out->resp.prompt_tokens;
        llm->stats.completion_tokens += (uint64_t)out->resp.completion_tokens;
    }
}

/* Unlink a running call, hand its outcome to the owner, recycle it. */
static void call_finish(kc_llm_t *llm, kc_llm_call_t *call, kc_llm_outcome_t *out)
{
    curl_multi_remove_handle(llm->multi, call->easy);
    *call->pprev = call->next;
    if (call->next) {
        call->next->pprev = call->pprev;
    }
    llm->inflight--;
    call->cb(call->opaque, out);
    kc_llm_response_clear(&out->resp);
    call->next = llm->free_calls;
    llm->free_calls = call;
}

void kc_llm_cancel_all(kc_llm_t *llm)
{
    kc_llm_outcome_t out;

    while (llm->running) {
        memset(&out, 0, sizeof(out));
        out.err = kc_seterr(KC_ERR_STATE, out.errstr, sizeof(out.errstr), "LLM call cancelled");
        call_finish(llm, llm->running, &out);
    }
}

int kc_llm_perform(kc_llm_t *llm)
{
    int running = 0, left = 0, done = 0;
    CURLMsg *msg;

    curl_multi_perform(llm->multi, &running);
    while ((msg = curl_multi_info_read(llm->multi, &left))) {
        kc_llm_call_t *call = NULL;
        kc_llm_outcome_t out;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        call_outcome(call, msg->data.result, &out);
        call_finish(llm, call, &out);
        done++;
    }
    return done;
}

void kc_llm_stats(const kc_llm_t *llm, kc_llm_stats_t *st)
{
    *st = llm->stats;
}
