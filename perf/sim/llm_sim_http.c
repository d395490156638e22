/*
 * kclassify-llm-sim: the HTTP side of the SIMULATOR. One thread per
 * connection (libmicrohttpd), so simulated latency is a plain sleep in the
 * handler and keep-alive connections behave like a real API's. The life of
 * a chat call is drawn in llm_sim.h.
 */
#include "llm_sim.h"

#include "kc_buf.h"
#include "kc_err.h"
#include "kc_time.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SIM_BODY_MAX ((size_t)8 << 20) /* larger bodies get 413 */

/** Per-request state: the body, accumulated across upload_data chunks. */
typedef struct sim_req_s {
    kc_buf_t body;
    bool too_big;
} sim_req_t;

/* ------------------------------------------------------------------- log */

static void sim_log(const llm_sim_t *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sim_log(const llm_sim_t *sim, const char *fmt, ...)
{
    if (!sim->conf.verbose) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%% ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ----------------------------------------------------------------- reply */

/* Queues resp (consumed) as JSON with the extra headers. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp, const llm_sim_headers_t *hdrs)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (size_t i = 0; hdrs && i < hdrs->cnt; i++) {
        MHD_add_response_header(resp, hdrs->name[i], hdrs->value[i]);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Sends body (owned, may be NULL on ENOMEM) as JSON. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body,
                             const llm_sim_headers_t *hdrs)
{
    if (!body) {
        return MHD_NO; /* out of memory: drop the connection */
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    return queue(conn, status, resp, hdrs);
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                                   const char *message, const char *type, const char *param,
                                   const char *code, const llm_sim_headers_t *hdrs)
{
    return reply(conn, status, llm_sim_error_build(message, type, param, code), hdrs);
}

/* --drip-ms: the body leaves in SIM_DRIP_CHUNK-byte pieces with a pause
 * before each, like a server that stalls mid-response. Content-Length is
 * honest, so only a client with an overall timeout gives up in time. */
#define SIM_DRIP_CHUNK 32

typedef struct sim_drip_s {
    llm_sim_t *sim;
    char *body;
    size_t len;
} sim_drip_t;

static ssize_t drip_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sim_drip_t *d = cls;
    if (pos >= d->len) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    llm_sim_sleep_ms(d->sim, d->sim->conf.drip_ms);
    if (atomic_load(&d->sim->stopping)) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = d->len - (size_t)pos;
    n = n < SIM_DRIP_CHUNK ? n : SIM_DRIP_CHUNK;
    n = n < max ? n : max;
    memcpy(buf, d->body + pos, n);
    return (ssize_t)n;
}

static void drip_free(void *cls)
{
    sim_drip_t *d = cls;
    free(d->body);
    free(d);
}

/* Like reply(), but drips the body (owned, may be NULL on ENOMEM). */
static enum MHD_Result reply_drip(llm_sim_t *sim, struct MHD_Connection *conn, unsigned status,
                                  char *body, const llm_sim_headers_t *hdrs)
{
    sim_drip_t *d = body ? calloc(1, sizeof(*d)) : NULL;
    if (!d) {
        free(body);
        return MHD_NO;
    }
    *d = (sim_drip_t){.sim = sim, .body = body, .len = strlen(body)};
    struct MHD_Response *resp =
        MHD_create_response_from_callback(d->len, SIM_DRIP_CHUNK, drip_read, d, drip_free);
    if (!resp) {
        drip_free(d);
        return MHD_NO;
    }
    return queue(conn, status, resp, hdrs);
}

/* ------------------------------------------------------------- chat call */

/** One chat call on its way through admission and answering. */
typedef struct sim_chat_s {
    llm_sim_t *sim;
    struct MHD_Connection *conn;
    uint64_t call_no;
    llm_sim_call_t call;
    bool admitted;       /**< holds rate-limit budget until settled */
    double tokens_taken; /**< the estimate taken from the --tpm bucket */
} sim_chat_t;

/* The answer's rough size before it exists: about 40 tokens per query in the
 * full form, which is what a client that sets no max_tokens may get. */
#define EST_TOKENS_PER_QUERY 40

static bool auth_ok(const llm_sim_t *sim, struct MHD_Connection *conn)
{
    if (!sim->conf.api_key) {
        return true;
    }
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, sim->conf.api_key) == 0;
}

/* Settles the rate limits with what the call used, then the headers that say
 * where the client stands: every response carries them, errors included. */
static void chat_finish(sim_chat_t *ch, double used_tokens, llm_sim_headers_t *hdrs)
{
    if (ch->admitted) {
        llm_sim_limits_settle(&ch->sim->limits, ch->tokens_taken, used_tokens);
        ch->admitted = false;
    }
    llm_sim_limits_headers(&ch->sim->limits, kc_mono_us(), hdrs);
}

/* A 429 of an overloaded server (concurrency, injected): the budget is not
 * spent, so the request does not count against the tokens. */
static enum MHD_Result reply_429(sim_chat_t *ch, llm_sim_429_t kind, const char *message)
{
    llm_sim_headers_t hdrs = {0};
    llm_sim_stats_429(&ch->sim->stats, kind);
    llm_sim_headers_add(&hdrs, MHD_HTTP_HEADER_RETRY_AFTER, "%d", ch->sim->conf.retry_after_s);
    chat_finish(ch, 0, &hdrs);
    return reply_error(ch->conn, MHD_HTTP_TOO_MANY_REQUESTS, message, "requests", NULL,
                       "rate_limit_exceeded", &hdrs);
}

static enum MHD_Result reply_rate_limited(sim_chat_t *ch, llm_sim_limit_t verdict, double need,
                                          int retry_after_s)
{
    const llm_sim_conf_t *conf = &ch->sim->conf;
    bool req = verdict == LLM_SIM_LIMIT_REQUESTS;
    llm_sim_headers_t hdrs = {0};
    char msg[256];
    snprintf(msg, sizeof(msg),
             "Rate limit reached for %s per min (%s) on %s: Limit %lld, Requested %.0f. "
             "Please try again in %ds. (simulated)",
             req ? "requests" : "tokens", req ? "RPM" : "TPM", ch->call.model,
             (long long)(req ? conf->rpm : conf->tpm), req ? 1.0 : need, retry_after_s);
    llm_sim_stats_429(&ch->sim->stats, req ? LLM_SIM_429_RATE_REQUESTS : LLM_SIM_429_RATE_TOKENS);
    llm_sim_headers_add(&hdrs, MHD_HTTP_HEADER_RETRY_AFTER, "%d", retry_after_s);
    chat_finish(ch, 0, &hdrs);
    sim_log(ch->sim, "call %llu: 429 (%s rate limit, retry after %d s)",
            (unsigned long long)ch->call_no, req ? "requests" : "tokens", retry_after_s);
    return reply_error(ch->conn, MHD_HTTP_TOO_MANY_REQUESTS, msg, req ? "requests" : "tokens", NULL,
                       "rate_limit_exceeded", &hdrs);
}

static enum MHD_Result reply_chat_error(sim_chat_t *ch, unsigned status, const char *message,
                                        const char *type, const char *param, const char *code)
{
    llm_sim_headers_t hdrs = {0};
    chat_finish(ch, 0, &hdrs);
    return reply_error(ch->conn, status, message, type, param, code, &hdrs);
}

/* Label, and say loudly when the client's enum disagrees with our taxonomy:
 * a real strict-schema LLM could not have answered. */
static void chat_label(sim_chat_t *ch)
{
    llm_sim_t *sim = ch->sim;
    llm_sim_call_label(sim, &ch->call);
    size_t mismatches = llm_sim_call_enum_mismatches(&ch->call, sim->tx);
    if (mismatches > 0) {
        fprintf(stderr,
                "%% call %llu: %zu answers outside the request's category enum "
                "(client and simulator use different taxonomies?)\n",
                (unsigned long long)ch->call_no, mismatches);
        pthread_mutex_lock(&sim->stats.lock);
        sim->stats.enum_mismatch += mismatches;
        pthread_mutex_unlock(&sim->stats.lock);
    }
}

/* The server's time for this answer: (hang), first token, then decode. */
static void chat_wait(sim_chat_t *ch, const llm_sim_faults_t *faults, double z,
                      const llm_sim_answer_t *ans, llm_sim_spent_t *spent)
{
    llm_sim_t *sim = ch->sim;
    const llm_sim_prompt_t *p = &ch->call.prompt;
    bool cached = p->prefix_hash && llm_sim_prefix_cache_seen(&sim->prefixes, p->prefix_hash);
    spent->usage = (llm_sim_usage_t){
        .prompt = p->tokens, .completion = ans->tokens, .cached = cached ? p->prefix_tokens : 0};
    double first = llm_sim_cost_first_token_ms(&sim->conf, z, ch->call.n,
                                               p->tokens - spent->usage.cached, &spent->prefill_ms);
    spent->ttft_ms = first - spent->prefill_ms;
    llm_sim_sleep_ms(sim, (faults->hang ? sim->conf.hang_ms : 0) + first);
    spent->decode_ms = llm_sim_decode(sim, ans->tokens);
    spent->truncated = ans->truncated;
}

/* The 200 body, with logprobs when asked for and supported. */
static char *chat_body(sim_chat_t *ch, const llm_sim_answer_t *ans, llm_sim_spent_t *spent)
{
    json_t *logprobs = NULL;
    if (ch->call.logprobs && ch->sim->conf.logprobs == LLM_SIM_LOGPROBS_ON) {
        json_t *names = llm_sim_call_category_names(&ch->call, ch->sim->tx);
        logprobs = names ? llm_sim_logprobs_build(ans, names, ch->call.top_logprobs) : NULL;
        json_decref(names);
        if (!logprobs) {
            return NULL;
        }
        spent->logprobs_answered = true;
    }
    return llm_sim_completion_build(ch->call_no, ch->call.model, ans, &spent->usage, logprobs);
}

/* Labels, builds, waits out the simulated work and sends the 200. */
static enum MHD_Result chat_answer(sim_chat_t *ch, llm_sim_faults_t *faults, llm_sim_rng_t *rng)
{
    llm_sim_t *sim = ch->sim;
    llm_sim_answer_t ans;
    llm_sim_spent_t spent = {0};
    llm_sim_headers_t hdrs = {0};
    double z = llm_sim_rng_normal(rng); /* before the content's draws, as it always was */
    chat_label(ch);
    if (llm_sim_answer_build(&ch->call, sim->tx, &sim->conf, rng, faults, &ans) != 0) {
        llm_sim_answer_clear(&ans);
        chat_finish(ch, 0, &hdrs);
        return MHD_NO;
    }
    chat_wait(ch, faults, z, &ans, &spent);
    char *body = chat_body(ch, &ans, &spent);
    llm_sim_stats_record_answer(&sim->stats, ch->call_no, &ch->call, faults, &spent);
    chat_finish(ch, (double)(spent.usage.prompt + spent.usage.completion), &hdrs);
    sim_log(sim,
            "call %llu: %zu queries -> 200%s%s%s%s%s%s, %zu invalid categories, %lld+%lld tokens "
            "(%lld cached), %.0f+%.0f+%.0f ms",
            (unsigned long long)ch->call_no, ch->call.n, faults->hang ? " hang" : "",
            faults->garbage ? " garbage" : "", faults->fenced ? " fenced" : "",
            faults->shuffle ? " shuffle" : "", faults->missing ? " missing" : "",
            ans.truncated ? " length" : "", faults->invalid_cnt, (long long)spent.usage.prompt,
            (long long)spent.usage.completion, (long long)spent.usage.cached, spent.ttft_ms,
            spent.prefill_ms, spent.decode_ms);
    llm_sim_answer_clear(&ans);
    if (sim->conf.drip_ms > 0) {
        return reply_drip(sim, ch->conn, MHD_HTTP_OK, body, &hdrs);
    }
    return reply(ch->conn, MHD_HTTP_OK, body, &hdrs);
}

/* Past admission: the drawn faults, else the answer. */
static enum MHD_Result chat_run(sim_chat_t *ch)
{
    llm_sim_t *sim = ch->sim;
    llm_sim_rng_t rng = {.s = sim->conf.seed ^ (ch->call_no * 0xd1b54a32d192ed03ULL)};
    llm_sim_faults_t faults;
    llm_sim_faults_draw(&sim->conf, &rng, &faults);
    if (faults.fail_500) {
        llm_sim_stats_bump(&sim->stats, &sim->stats.errors_500);
        sim_log(sim, "call %llu: %zu queries -> 500 (injected)", (unsigned long long)ch->call_no,
                ch->call.n);
        return reply_chat_error(ch, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "The server had an error while processing your request (simulated)",
                                "server_error", NULL, NULL);
    }
    if (faults.fail_429) {
        sim_log(sim, "call %llu: %zu queries -> 429 (injected)", (unsigned long long)ch->call_no,
                ch->call.n);
        return reply_429(ch, LLM_SIM_429_INJECTED, "Rate limit reached (simulated)");
    }
    return chat_answer(ch, &faults, &rng);
}

/* Parse errors and the logprobs policy: 400s before any budget is taken. */
static enum MHD_Result chat_validate(sim_chat_t *ch, const sim_req_t *req, bool *ok)
{
    llm_sim_t *sim = ch->sim;
    const char *param = NULL;
    char errstr[256];
    *ok = false;
    if (llm_sim_call_parse(req->body.data ? req->body.data : "", req->body.len, &ch->call, &param,
                           errstr, sizeof(errstr)) != 0) {
        llm_sim_stats_bump(&sim->stats, &sim->stats.bad_requests);
        sim_log(sim, "call %llu: 400 %s", (unsigned long long)ch->call_no, errstr);
        return reply_chat_error(ch, MHD_HTTP_BAD_REQUEST, errstr, "invalid_request_error", param,
                                NULL);
    }
    if (ch->call.logprobs) {
        llm_sim_stats_t *st = &sim->stats;
        llm_sim_stats_bump(st, &st->logprobs_asked);
        if (sim->conf.logprobs == LLM_SIM_LOGPROBS_IGNORE) {
            llm_sim_stats_bump(st, &st->logprobs_ignored);
        } else if (sim->conf.logprobs == LLM_SIM_LOGPROBS_REJECT) {
            llm_sim_stats_bump(st, &st->logprobs_rejected);
            llm_sim_stats_bump(st, &st->bad_requests);
            sim_log(sim, "call %llu: 400 logprobs not supported", (unsigned long long)ch->call_no);
            return reply_chat_error(ch, MHD_HTTP_BAD_REQUEST,
                                    "logprobs is not supported for this model",
                                    "invalid_request_error", "logprobs", "unsupported_parameter");
        }
    }
    *ok = true;
    return MHD_YES;
}

/* Rate limits, then the concurrency limit, as a provider's gateway orders them. */
static enum MHD_Result chat_admit(sim_chat_t *ch)
{
    llm_sim_t *sim = ch->sim;
    llm_sim_stats_t *st = &sim->stats;
    const llm_sim_call_t *call = &ch->call;
    double need =
        (double)call->prompt.tokens +
        (double)(call->max_tokens > 0 ? call->max_tokens : EST_TOKENS_PER_QUERY * (int64_t)call->n);
    int retry_after_s = 1;
    llm_sim_limit_t verdict =
        llm_sim_limits_admit(&sim->limits, need, kc_mono_us(), &retry_after_s);
    if (verdict != LLM_SIM_LIMIT_OK) {
        return reply_rate_limited(ch, verdict, need, retry_after_s);
    }
    ch->admitted = llm_sim_limits_on(&sim->limits);
    ch->tokens_taken = sim->limits.tok.on ? need : 0;
    int inflight = atomic_fetch_add(&st->inflight, 1) + 1;
    if (sim->conf.max_concurrency > 0 && inflight > sim->conf.max_concurrency) {
        atomic_fetch_sub(&st->inflight, 1);
        sim_log(sim, "call %llu: 429 (%d in flight)", (unsigned long long)ch->call_no, inflight);
        return reply_429(ch, LLM_SIM_429_CONCURRENCY,
                         "Rate limit reached: too many concurrent requests (simulated)");
    }
    pthread_mutex_lock(&st->lock);
    if (inflight > st->max_inflight_seen) {
        st->max_inflight_seen = inflight;
    }
    pthread_mutex_unlock(&st->lock);
    enum MHD_Result ret = chat_run(ch);
    atomic_fetch_sub(&st->inflight, 1);
    return ret;
}

/* Admission: auth, size, validity, then the limits, as a real gateway would. */
static enum MHD_Result chat_handle(llm_sim_t *sim, struct MHD_Connection *conn,
                                   const sim_req_t *req)
{
    sim_chat_t ch = {.sim = sim, .conn = conn};
    llm_sim_stats_t *st = &sim->stats;
    enum MHD_Result ret;
    bool ok;
    ch.call_no = atomic_fetch_add(&sim->call_seq, 1) + 1;
    llm_sim_stats_bump(st, &st->calls);
    if (!auth_ok(sim, conn)) {
        /* No rate-limit headers: the caller is unknown. */
        llm_sim_stats_bump(st, &st->unauthorized);
        sim_log(sim, "call %llu: 401", (unsigned long long)ch.call_no);
        return reply_error(conn, MHD_HTTP_UNAUTHORIZED, "Incorrect API key provided (simulated)",
                           "invalid_request_error", NULL, "invalid_api_key", NULL);
    }
    if (req->too_big) {
        llm_sim_stats_bump(st, &st->too_large);
        sim_log(sim, "call %llu: 413", (unsigned long long)ch.call_no);
        return reply_chat_error(&ch, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than 8 MiB",
                                "invalid_request_error", NULL, "request_too_large");
    }
    ret = chat_validate(&ch, req, &ok);
    if (ok) {
        ret = chat_admit(&ch);
    }
    llm_sim_call_clear(&ch.call);
    return ret;
}

/* --------------------------------------------------------------- routing */

static enum MHD_Result route(llm_sim_t *sim, struct MHD_Connection *conn, const char *url,
                             const char *method, const sim_req_t *req)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/chat/completions") == 0) {
        if (post) {
            return chat_handle(sim, conn, req);
        }
    } else if (strcmp(url, "/stats") == 0) {
        if (get) {
            const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "queries");
            return reply(conn, MHD_HTTP_OK, llm_sim_stats_json(sim, q && strcmp(q, "0") != 0),
                         NULL);
        }
    } else if (strcmp(url, "/stats/reset") == 0) {
        if (post) {
            llm_sim_stats_reset(&sim->stats);
            return reply(conn, MHD_HTTP_OK, strdup("{\"status\":\"reset\"}"), NULL);
        }
    } else if (strcmp(url, "/health") == 0) {
        if (get) {
            return reply(conn, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}"), NULL);
        }
    } else {
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown path", "invalid_request_error", NULL,
                           "not_found", NULL);
    }
    return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                       "invalid_request_error", NULL, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    sim_req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        *con_cls = req;
        return req ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        /* Past the cap, keep reading and discarding so the 413 can be sent. */
        if (!req->too_big && req->body.len + *upload_data_size > SIM_BODY_MAX) {
            req->too_big = true;
            kc_buf_free(&req->body);
        }
        if (!req->too_big && kc_buf_append(&req->body, upload_data, *upload_data_size) != 0) {
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(cls, conn, url, method, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    sim_req_t *req = *con_cls;
    if (req) {
        kc_buf_free(&req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* ---------------------------------------------------------------- daemon */

/* Only loopback: this is a test tool with no TLS and optional auth. */
static int parse_bind(const char *bind, int port, struct sockaddr_storage *ss, bool *ipv6,
                      char *errstr, size_t errstr_size)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    const char *addr = strcmp(bind, "localhost") == 0 ? "127.0.0.1" : bind;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "--bind %s: only loopback addresses are allowed", bind);
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *ipv6 = false;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "--bind %s: only loopback addresses are allowed", bind);
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return 0;
    }
    return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "--bind %s: not an IP address", bind);
}

struct MHD_Daemon *llm_sim_http_start(llm_sim_t *sim, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    bool ipv6;
    if (parse_bind(sim->conf.bind, sim->conf.port, &ss, &ipv6, errstr, errstr_size) != 0) {
        return NULL;
    }
    /* poll() rather than select(): many keep-alive connections may pass FD_SETSIZE. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | (ipv6 ? MHD_USE_IPv6 : 0) |
                     (sim->conf.verbose ? MHD_USE_ERROR_LOG : 0);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, (uint16_t)sim->conf.port, NULL, NULL, on_request, sim, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
    if (!daemon) {
        kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot listen on %s port %d", sim->conf.bind,
                  sim->conf.port);
    }
    return daemon;
}

int llm_sim_http_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}
