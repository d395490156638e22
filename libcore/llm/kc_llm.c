#include "kc_llm.h"
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One running call. Easy handles are kept on a free list so connections and
 * buffers are reused: keep-alive is the point of a long-lived client. */
struct kc_llm_call_s {
    struct kc_llm_call_s *next;   /* free list, or running list */
    struct kc_llm_call_s **pprev; /* running list back link */
    CURL *easy;
    kc_llm_t *llm;
    kc_buf_t body;
    kc_buf_t resp;
    size_t n;
    int64_t start_us;
    int overflow;
    unsigned parse_flags;
    kc_rl_headers_t rl;
    int64_t retry_after_ms;
    bool retry_after_fine; /* from retry-after-ms */
    kc_llm_done_cb *cb;
    void *opaque;
};

struct kc_llm_s {
    CURLM *multi;
    struct curl_slist *headers;
    char *endpoint;
    char *model;
    kc_buf_t system; /* built once: byte-identical across calls */
    kc_llm_answer_opts_t answer;
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

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    return len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
}

/* The value of a header line after "name:", without surrounding blanks. */
static void header_value(const char *line, size_t len, size_t name_len, const char **v,
                         size_t *vlen)
{
    const char *p = line + name_len + 1, *end = line + len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    *v = p;
    *vlen = (size_t)(end - p);
}

/* Rate-limit and Retry-After headers; a new status line (a redirect, an
 * interim response) starts over. retry-after-ms (Azure OpenAI) wins over
 * Retry-After, which has only whole seconds. */
static size_t header_cb(char *line, size_t size, size_t nmemb, void *userdata)
{
    kc_llm_call_t *call = userdata;
    size_t len = size * nmemb, vlen;
    const char *v;
    int64_t ms;

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        kc_rl_headers_init(&call->rl);
        call->retry_after_ms = 0;
        call->retry_after_fine = false;
    } else if (header_is(line, len, "retry-after-ms")) {
        header_value(line, len, 14, &v, &vlen);
        ms = 0;
        for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) {
            ms = ms * 10 + (v[i] - '0');
            if (ms > KC_RL_RETRY_AFTER_MAX_MS) {
                ms = KC_RL_RETRY_AFTER_MAX_MS; /* and no overflow, however long */
                break;
            }
        }
        if (vlen > 0 && v[0] >= '0' && v[0] <= '9') {
            call->retry_after_ms = ms;
            call->retry_after_fine = true;
        }
    } else if (header_is(line, len, "retry-after")) {
        header_value(line, len, 11, &v, &vlen);
        if (!call->retry_after_fine &&
            kc_rl_retry_after_parse(v, vlen, (int64_t)time(NULL), &ms) == 0) {
            call->retry_after_ms = ms;
        }
    } else {
        kc_rl_header_line(&call->rl, line, len);
    }
    return len;
}

static struct curl_slist *build_headers(const char *api_key)
{
    static const char prefix[] = "Authorization: Bearer ";
    struct curl_slist *h = NULL;
    char *auth;
    size_t len;

    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (h && api_key && *api_key) {
        len = sizeof(prefix) + strlen(api_key);
        if (!(auth = malloc(len))) {
            curl_slist_free_all(h);
            return NULL;
        }
        snprintf(auth, len, "%s%s", prefix, api_key);
        h = curl_slist_append(h, auth);
        memset(auth, 0, len);
        free(auth);
    }
    return h;
}

/* The host of an http:// URL is loopback: "localhost", 127.x.y.z or [::1]. */
static bool loopback_host(const char *host, size_t len)
{
    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && strncmp(host, "[::1]", 5) == 0)) {
        return true;
    }
    if (len < 4 || strncmp(host, "127.", 4) != 0) {
        return false;
    }
    for (size_t i = 4; i < len; i++) {
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.')) {
            return false;
        }
    }
    return true;
}

int kc_llm_conf_check(const kc_llm_conf_t *conf, char *errstr, size_t errstr_size)
{
    const char *key = conf->api_key ? conf->api_key : "", *host;
    size_t klen = strlen(key), hlen;

    if (klen > KC_LLM_API_KEY_MAX) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "the LLM API key is %zu bytes, longer than %d: refused", klen,
                         KC_LLM_API_KEY_MAX);
    }
    for (size_t i = 0; i < klen; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "the LLM API key has a character outside printable ASCII "
                             "(byte %zu): refused",
                             i);
        }
    }
    if (klen == 0 || conf->allow_insecure || strncasecmp(conf->url, "http://", 7) != 0) {
        return 0;
    }
    host = conf->url + 7;
    hlen = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
    if (loopback_host(host, hlen)) {
        return 0;
    }
    return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                     "llm.url %s is plain http to a remote host: the API key would travel "
                     "unencrypted (use https://, or llm.allow.insecure=true)",
                     conf->url);
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
    if (kc_llm_conf_check(conf, errstr, errstr_size) != 0) {
        free(llm);
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    llm->tx = tx;
    llm->answer = conf->answer;
    kc_buf_init(&llm->system);
    if (kc_llm_system_prompt_build(tx, &conf->answer, &llm->system) != 0) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot build the system prompt");
        kc_llm_destroy(llm);
        return NULL;
    }
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
    kc_buf_free(&llm->system);
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

static void call_setup(kc_llm_t *llm, kc_llm_call_t *call, int64_t timeout_ms)
{
    CURL *e = call->easy;

    if (timeout_ms <= 0 || timeout_ms > llm->timeout_ms) {
        timeout_ms = llm->timeout_ms;
    }
    curl_easy_setopt(e, CURLOPT_URL, llm->endpoint);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, llm->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
}

int kc_llm_submit(kc_llm_t *llm, const char *const *texts, const size_t *lens, size_t n,
                  const kc_llm_call_opts_t *co, int64_t timeout_ms, kc_llm_done_cb *cb,
                  void *opaque, kc_llm_call_t **callp, char *errstr, size_t errstr_size)
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
    err = kc_llm_request_build(llm->tx, llm->model, llm->system.data, &llm->answer, co, texts, lens,
                               n, &call->body, errstr, errstr_size);
    if (err) {
        call->next = llm->free_calls;
        llm->free_calls = call;
        return err;
    }
    call->n = n;
    call->cb = cb;
    call->opaque = opaque;
    call->start_us = kc_mono_us();
    call->parse_flags = co && co->logprobs ? KC_LLM_PARSE_LOGPROBS : 0;
    kc_rl_headers_init(&call->rl);
    call->retry_after_ms = 0;
    call->retry_after_fine = false;
    call_setup(llm, call, timeout_ms);
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
    if (callp) {
        *callp = call;
    }
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

/* Turn a finished transfer into an outcome: transport error, HTTP error or a
 * parsed response. */
/* An HTTP error: say what the server said, and whether it refused a
 * parameter we sent (a server without logprobs support). */
static void http_error(kc_llm_call_t *call, kc_llm_outcome_t *out)
{
    char msg[200] = "";
    const char *body = call->resp.data ? call->resp.data : "";

    if (out->http_status >= 400 && out->http_status < 500 && out->http_status != 429 &&
        (call->parse_flags & KC_LLM_PARSE_LOGPROBS)) {
        out->param_rejected =
            kc_llm_error_names_param(body, call->resp.len, "logprobs", msg, sizeof(msg)) ||
            kc_llm_error_names_param(body, call->resp.len, "top_logprobs", msg, sizeof(msg));
    } else {
        kc_llm_error_names_param(body, call->resp.len, "", msg, sizeof(msg));
    }
    out->err = kc_seterr(KC_ERR_LLM, out->errstr, sizeof(out->errstr), "LLM answered HTTP %ld%s%s",
                         out->http_status, *msg ? ": " : "", msg);
}

static void call_outcome(kc_llm_call_t *call, CURLcode cc, kc_llm_outcome_t *out)
{
    kc_llm_t *llm = call->llm;

    memset(out, 0, sizeof(*out));
    out->latency_us = kc_mono_us() - call->start_us;
    out->request_bytes = call->body.len;
    out->rl = call->rl;
    out->retry_after_ms = call->retry_after_ms;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &out->http_status);
    if (call->overflow) {
        out->err =
            kc_seterr(KC_ERR_TOOBIG, out->errstr, sizeof(out->errstr),
                      "LLM response larger than %lld bytes", (long long)llm->response_max_bytes);
    } else if (cc != CURLE_OK) {
        out->err =
            kc_seterr(cc == CURLE_OPERATION_TIMEDOUT ? KC_ERR_TIMEOUT : KC_ERR_LLM, out->errstr,
                      sizeof(out->errstr), "LLM call failed: %s", curl_easy_strerror(cc));
    } else if (out->http_status != 200) {
        http_error(call, out);
    } else {
        out->err = kc_llm_response_parse(llm->tx, call->resp.data ? call->resp.data : "",
                                         call->resp.len, call->n, call->parse_flags, &out->resp,
                                         out->errstr, sizeof(out->errstr));
    }
    if (out->err) {
        llm->stats.failed_calls++;
    } else {
        llm->stats.ok_calls++;
        llm->stats.prompt_tokens += (uint64_t)out->resp.prompt_tokens;
        llm->stats.completion_tokens += (uint64_t)out->resp.completion_tokens;
        llm->stats.cached_tokens += (uint64_t)out->resp.cached_tokens;
        llm->stats.truncated += out->resp.truncated;
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

void kc_llm_cancel(kc_llm_t *llm, kc_llm_call_t *call)
{
    kc_llm_outcome_t out;

    memset(&out, 0, sizeof(out));
    out.err = kc_seterr(KC_ERR_STATE, out.errstr, sizeof(out.errstr), "LLM call cancelled");
    out.cancelled = true;
    out.latency_us = kc_mono_us() - call->start_us;
    out.request_bytes = call->body.len;
    llm->stats.cancelled_calls++;
    call_finish(llm, call, &out);
}

void kc_llm_cancel_all(kc_llm_t *llm)
{
    while (llm->running) {
        kc_llm_cancel(llm, llm->running);
    }
}

const char *kc_llm_system_prompt(const kc_llm_t *llm)
{
    return llm->system.data;
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
