/*
 * kclassify-llm-sim: the HTTP side of the SIMULATOR. One thread per
 * connection (libmicrohttpd), so simulated latency is a plain sleep in the
 * handler and keep-alive connections behave like a real API's.
 */
#include "llm_sim.h"

#include "kc_buf.h"
#include "kc_err.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SIM_BODY_MAX ((size_t)8 << 20) /* larger bodies get 413 */

/** Per-request state: the body, accumulated across upload_data chunks. */
typedef struct sim_req_s {
    kc_buf_t body;
    bool too_big;
} sim_req_t;

/* ----------------------------------------------------------------- stats */

void llm_sim_stats_init(llm_sim_stats_t *stats)
{
    memset(stats, 0, sizeof(*stats));
    pthread_mutex_init(&stats->lock, NULL);
    llm_sim_map_init(&stats->per_query);
    atomic_init(&stats->inflight, 0);
}

void llm_sim_stats_destroy(llm_sim_stats_t *stats)
{
    llm_sim_map_clear(&stats->per_query);
    pthread_mutex_destroy(&stats->lock);
}

/* Bump one counter under the lock. */
static void stats_bump(llm_sim_t *sim, uint64_t *counter)
{
    pthread_mutex_lock(&sim->stats.lock);
    (*counter)++;
    pthread_mutex_unlock(&sim->stats.lock);
}

static void stats_reset(llm_sim_stats_t *st)
{
    pthread_mutex_lock(&st->lock);
    st->calls = st->ok_calls = st->queries = st->rejected_429 = st->errors_500 = 0;
    st->hangs = st->bad_requests = st->unauthorized = st->too_large = st->enum_mismatch = 0;
    st->fenced = st->shuffled = st->missing = st->invalid_category = st->garbage = 0;
    st->prompt_tokens = st->completion_tokens = 0;
    st->max_query_repeats = 0;
    st->max_inflight_seen = atomic_load(&st->inflight);
    llm_sim_map_clear(&st->per_query);
    pthread_mutex_unlock(&st->lock);
}

/* A query repeated inside one call counts once: the mark is the call number. */
static void stats_record_ok(llm_sim_t *sim, uint64_t call_no, const llm_sim_call_t *call,
                            const llm_sim_faults_t *f, int64_t ptok, int64_t ctok)
{
    llm_sim_stats_t *st = &sim->stats;
    pthread_mutex_lock(&st->lock);
    st->ok_calls++;
    st->queries += call->n;
    st->prompt_tokens += (uint64_t)ptok;
    st->completion_tokens += (uint64_t)ctok;
    st->fenced += f->fenced && !f->garbage;
    st->shuffled += f->shuffle && !f->garbage;
    st->missing += f->missing && !f->garbage;
    st->garbage += f->garbage;
    st->invalid_category += f->invalid_cnt;
    for (size_t i = 0; i < call->n; i++) {
        llm_sim_entry_t *e =
            llm_sim_map_upsert(&st->per_query, call->queries[i].norm, call->queries[i].norm_len);
        if (e && e->mark != call_no) {
            e->mark = call_no;
            e->value++;
            if (e->value > st->max_query_repeats) {
                st->max_query_repeats = e->value;
            }
        }
    }
    pthread_mutex_unlock(&st->lock);
}

static json_t *stats_per_query(const llm_sim_map_t *map)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < map->size; i++) {
        const llm_sim_entry_t *e = &map->slots[i];
        if (e->key) {
            json_object_setn_new(obj, e->key, e->key_len, json_integer(e->value));
        }
    }
    return obj;
}

static void set_u64(json_t *obj, const char *key, uint64_t v)
{
    json_object_set_new(obj, key, json_integer((json_int_t)v));
}

/* Caller holds the stats lock. */
static json_t *stats_injected(const llm_sim_stats_t *st)
{
    json_t *inj = json_object();
    set_u64(inj, "fenced", st->fenced);
    set_u64(inj, "shuffled", st->shuffled);
    set_u64(inj, "missing", st->missing);
    set_u64(inj, "invalid_category", st->invalid_category);
    set_u64(inj, "garbage", st->garbage);
    return inj;
}

static char *stats_json(llm_sim_t *sim, bool with_queries)
{
    llm_sim_stats_t *st = &sim->stats;
    json_t *root = json_object();
    pthread_mutex_lock(&st->lock);
    set_u64(root, "calls", st->calls);
    set_u64(root, "ok_calls", st->ok_calls);
    set_u64(root, "queries", st->queries);
    set_u64(root, "distinct_queries", st->per_query.cnt);
    set_u64(root, "max_query_repeats", (uint64_t)st->max_query_repeats);
    set_u64(root, "rejected_429", st->rejected_429);
    set_u64(root, "errors_500", st->errors_500);
    set_u64(root, "hangs", st->hangs);
    set_u64(root, "bad_requests", st->bad_requests);
    set_u64(root, "unauthorized", st->unauthorized);
    set_u64(root, "too_large", st->too_large);
    set_u64(root, "enum_mismatch", st->enum_mismatch);
    set_u64(root, "inflight", (uint64_t)atomic_load(&st->inflight));
    set_u64(root, "max_inflight_seen", (uint64_t)st->max_inflight_seen);
    set_u64(root, "prompt_tokens", st->prompt_tokens);
    set_u64(root, "completion_tokens", st->completion_tokens);
    set_u64(root, "labels", sim->labels.cnt);
    json_object_set_new(root, "injected", stats_injected(st));
    if (with_queries) {
        json_object_set_new(root, "per_query", stats_per_query(&st->per_query));
    }
    pthread_mutex_unlock(&st->lock);
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

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

/* Sends body (owned, may be NULL on ENOMEM) as JSON. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body,
                             const char *retry_after)
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
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                                   const char *message, const char *type, const char *code)
{
    return reply(conn, status, llm_sim_error_build(message, type, code), NULL);
}

/* ------------------------------------------------------------- chat call */

/* Sleeps in short slices so SIGTERM does not wait out a 30 s hang. */
static void sim_sleep_ms(llm_sim_t *sim, double ms)
{
    int64_t left_us = (int64_t)(ms * 1000.0);
    while (left_us > 0 && !atomic_load(&sim->stopping)) {
        int64_t step = left_us < 50000 ? left_us : 50000;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000};
        nanosleep(&ts, NULL);
        left_us -= step;
    }
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
    sim_sleep_ms(d->sim, d->sim->conf.drip_ms);
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
                                  char *body)
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
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static double sim_latency_ms(const llm_sim_conf_t *conf, llm_sim_rng_t *rng, size_t n)
{
    double ms = conf->per_query_ms * (double)n;
    double z = llm_sim_rng_normal(rng); /* drawn always, to keep sequences stable */
    if (conf->latency_ms > 0) {
        ms += conf->latency_ms * exp(conf->jitter * z);
    }
    return ms;
}

static bool auth_ok(const llm_sim_t *sim, struct MHD_Connection *conn)
{
    if (!sim->conf.api_key) {
        return true;
    }
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, sim->conf.api_key) == 0;
}

/* Labels, builds and sends the 200 answer; the call is already parsed. */
static enum MHD_Result chat_answer(llm_sim_t *sim, struct MHD_Connection *conn, uint64_t call_no,
                                   llm_sim_call_t *call, llm_sim_faults_t *faults,
                                   llm_sim_rng_t *rng, size_t body_len)
{
    llm_sim_call_label(sim, call);
    size_t mismatches = llm_sim_call_enum_mismatches(call, sim->tx);
    if (mismatches > 0) {
        /* A real strict-schema LLM could not answer this; say so loudly. */
        fprintf(stderr,
                "%% call %llu: %zu answers outside the request's category enum "
                "(client and simulator use different taxonomies?)\n",
                (unsigned long long)call_no, mismatches);
        pthread_mutex_lock(&sim->stats.lock);
        sim->stats.enum_mismatch += mismatches;
        pthread_mutex_unlock(&sim->stats.lock);
    }
    char *content = llm_sim_content_build(call, sim->tx, &sim->conf, rng, faults);
    if (!content) {
        return MHD_NO;
    }
    int64_t ptok = (int64_t)(body_len + 3) / 4;
    int64_t ctok = (int64_t)(strlen(content) + 3) / 4;
    char *body = llm_sim_completion_build(call_no, call->model, content, ptok, ctok);
    free(content);
    if (faults->hang) {
        stats_bump(sim, &sim->stats.hangs); /* answered late: the client gave up */
    } else {
        stats_record_ok(sim, call_no, call, faults, ptok, ctok);
    }
    sim_log(sim, "call %llu: %zu queries -> 200%s%s%s%s%s, %zu invalid categories",
            (unsigned long long)call_no, call->n, faults->hang ? " hang" : "",
            faults->garbage ? " garbage" : "", faults->fenced ? " fenced" : "",
            faults->shuffle ? " shuffle" : "", faults->missing ? " missing" : "",
            faults->invalid_cnt);
    if (sim->conf.drip_ms > 0) {
        return reply_drip(sim, conn, MHD_HTTP_OK, body);
    }
    return reply(conn, MHD_HTTP_OK, body, NULL);
}

/* A 429 as a rate-limiting gateway sends it, with Retry-After. */
static enum MHD_Result reply_429(llm_sim_t *sim, struct MHD_Connection *conn, const char *message)
{
    char retry_after[16];

    snprintf(retry_after, sizeof(retry_after), "%d", sim->conf.retry_after_s);
    stats_bump(sim, &sim->stats.rejected_429);
    return reply(conn, MHD_HTTP_TOO_MANY_REQUESTS,
                 llm_sim_error_build(message, "requests", "rate_limit_exceeded"), retry_after);
}

static enum MHD_Result chat_call(llm_sim_t *sim, struct MHD_Connection *conn, uint64_t call_no,
                                 const sim_req_t *req)
{
    char errstr[256];
    llm_sim_call_t call;
    llm_sim_rng_t rng = {.s = sim->conf.seed ^ (call_no * 0xd1b54a32d192ed03ULL)};
    if (llm_sim_call_parse(req->body.data ? req->body.data : "", req->body.len, &call, errstr,
                           sizeof(errstr)) != 0) {
        llm_sim_call_clear(&call);
        stats_bump(sim, &sim->stats.bad_requests);
        sim_log(sim, "call %llu: 400 %s", (unsigned long long)call_no, errstr);
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, errstr, "invalid_request_error", NULL);
    }
    llm_sim_faults_t faults;
    llm_sim_faults_draw(&sim->conf, &rng, &faults);
    enum MHD_Result ret;
    if (faults.fail_500) {
        stats_bump(sim, &sim->stats.errors_500);
        sim_log(sim, "call %llu: %zu queries -> 500 (injected)", (unsigned long long)call_no,
                call.n);
        ret = reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "The server had an error while processing your request (simulated)",
                          "server_error", NULL);
    } else if (faults.fail_429) {
        sim_log(sim, "call %llu: %zu queries -> 429 (injected)", (unsigned long long)call_no,
                call.n);
        ret = reply_429(sim, conn, "Rate limit reached (simulated)");
    } else {
        sim_sleep_ms(sim, (faults.hang ? sim->conf.hang_ms : 0) +
                              sim_latency_ms(&sim->conf, &rng, call.n));
        ret = chat_answer(sim, conn, call_no, &call, &faults, &rng, req->body.len);
    }
    llm_sim_call_clear(&call);
    return ret;
}

/* Admission: auth, size, then the concurrency limit, as a real gateway would. */
static enum MHD_Result chat_handle(llm_sim_t *sim, struct MHD_Connection *conn,
                                   const sim_req_t *req)
{
    uint64_t call_no = atomic_fetch_add(&sim->call_seq, 1) + 1;
    llm_sim_stats_t *st = &sim->stats;
    stats_bump(sim, &st->calls);
    if (!auth_ok(sim, conn)) {
        stats_bump(sim, &st->unauthorized);
        sim_log(sim, "call %llu: 401", (unsigned long long)call_no);
        return reply_error(conn, MHD_HTTP_UNAUTHORIZED, "Incorrect API key provided (simulated)",
                           "invalid_request_error", "invalid_api_key");
    }
    if (req->too_big) {
        stats_bump(sim, &st->too_large);
        sim_log(sim, "call %llu: 413", (unsigned long long)call_no);
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than 8 MiB",
                           "invalid_request_error", "request_too_large");
    }
    int inflight = atomic_fetch_add(&st->inflight, 1) + 1;
    if (sim->conf.max_concurrency > 0 && inflight > sim->conf.max_concurrency) {
        atomic_fetch_sub(&st->inflight, 1);
        sim_log(sim, "call %llu: 429 (%d in flight)", (unsigned long long)call_no, inflight);
        return reply_429(sim, conn, "Rate limit reached: too many concurrent requests (simulated)");
    }
    pthread_mutex_lock(&st->lock);
    if (inflight > st->max_inflight_seen) {
        st->max_inflight_seen = inflight;
    }
    pthread_mutex_unlock(&st->lock);
    enum MHD_Result ret = chat_call(sim, conn, call_no, req);
    atomic_fetch_sub(&st->inflight, 1);
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
            return reply(conn, MHD_HTTP_OK, stats_json(sim, q && strcmp(q, "0") != 0), NULL);
        }
    } else if (strcmp(url, "/stats/reset") == 0) {
        if (post) {
            stats_reset(&sim->stats);
            return reply(conn, MHD_HTTP_OK, strdup("{\"status\":\"reset\"}"), NULL);
        }
    } else if (strcmp(url, "/health") == 0) {
        if (get) {
            return reply(conn, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}"), NULL);
        }
    } else {
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "unknown path", "invalid_request_error",
                           "not_found");
    }
    return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                       "invalid_request_error", NULL);
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
