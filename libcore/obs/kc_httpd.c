/*
 * libmicrohttpd server for /metrics and /health. The MHD thread only copies
 * the snapshot that the owning loop published (see kc_httpd.h).
 */
#include "kc_httpd.h"
#include "kc_err.h"
#include "kc_time.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_JSON    "application/json"

struct kc_httpd_s {
    struct MHD_Daemon *mhd;
    int port;
    int64_t stale_us;
    pthread_mutex_t lock; /* guards everything below */
    char *metrics, *health;
    size_t metrics_len, health_len;
    int health_status;
    int64_t published_us; /* monotonic; 0 = never */
};

/* ------------------------------------------------------------------------
 * Serving (MHD thread)
 * ------------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *ctype,
                             const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result serve_metrics(kc_httpd_t *h, struct MHD_Connection *conn)
{
    enum MHD_Result ret;

    pthread_mutex_lock(&h->lock);
    if (h->metrics) {
        ret = reply(conn, MHD_HTTP_OK, CT_METRICS, h->metrics, h->metrics_len);
    } else {
        ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "starting\n", 9);
    }
    pthread_mutex_unlock(&h->lock);
    return ret;
}

static enum MHD_Result serve_health(kc_httpd_t *h, struct MHD_Connection *conn)
{
    static const char starting[] = "{\"status\":\"down\",\"reason\":\"starting\"}\n";
    static const char stalled[] = "{\"status\":\"down\",\"reason\":\"event loop stalled\"}\n";
    enum MHD_Result ret;
    int64_t age;

    pthread_mutex_lock(&h->lock);
    age = kc_mono_us() - h->published_us;
    if (!h->health) {
        ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, CT_JSON, starting, sizeof(starting) - 1);
    } else if (h->stale_us > 0 && age > h->stale_us) {
        ret = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, CT_JSON, stalled, sizeof(stalled) - 1);
    } else {
        ret = reply(conn, h->health_status, CT_JSON, h->health, h->health_len);
    }
    pthread_mutex_unlock(&h->lock);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    kc_httpd_t *h = cls;

    (void)version;
    (void)upload;
    (void)req_cls;
    if (*upload_size != 0) {
        *upload_size = 0; /* a body we do not read */
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19);
    }
    if (strcmp(url, "/metrics") == 0) {
        return serve_metrics(h, conn);
    }
    if (strcmp(url, "/health") == 0) {
        return serve_health(h, conn);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found: try /metrics or /health\n",
                 35);
}

/* ------------------------------------------------------------------------
 * Lifecycle (owner)
 * ------------------------------------------------------------------------ */

static int make_addr(const char *bind, int port, struct sockaddr_storage *ss, unsigned *flags)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (!bind || !*bind) {
        bind = "127.0.0.1";
    }
    if (inet_pton(AF_INET, bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return KC_ERR_CONFIG;
}

kc_httpd_t *kc_httpd_new(const char *bind, int port, int64_t stale_ms, char *errstr,
                         size_t errstr_size)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    const union MHD_DaemonInfo *info;
    kc_httpd_t *h;

    if (port < 0 || port > 65535 || make_addr(bind, port, &ss, &flags) != 0) {
        kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                  "metrics endpoint: bad address '%s' or port %d (need an IP literal, 0..65535)",
                  bind ? bind : "", port);
        return NULL;
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->stale_us = stale_ms * 1000;
    h->mhd =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->mhd) {
        kc_seterr(KC_ERR_IO, errstr, errstr_size,
                  "metrics endpoint: cannot listen on %s port %d (in use?)",
                  bind && *bind ? bind : "127.0.0.1", port);
        kc_httpd_destroy(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

int kc_httpd_port(const kc_httpd_t *h)
{
    return h->port;
}

int kc_httpd_publish(kc_httpd_t *h, const char *metrics, size_t metrics_len, const char *health,
                     size_t health_len, int health_status)
{
    char *m = malloc(metrics_len + 1), *j = malloc(health_len + 1);

    if (!m || !j) {
        free(m);
        free(j);
        return KC_ERR_NOMEM;
    }
    memcpy(m, metrics ? metrics : "", metrics_len);
    m[metrics_len] = '\0';
    memcpy(j, health ? health : "", health_len);
    j[health_len] = '\0';
    pthread_mutex_lock(&h->lock);
    free(h->metrics);
    free(h->health);
    h->metrics = m;
    h->metrics_len = metrics_len;
    h->health = j;
    h->health_len = health_len;
    h->health_status = health_status;
    h->published_us = kc_mono_us();
    pthread_mutex_unlock(&h->lock);
    return 0;
}

void kc_httpd_destroy(kc_httpd_t *h)
{
    if (!h) {
        return;
    }
    if (h->mhd) {
        MHD_stop_daemon(h->mhd); /* joins the MHD thread: no request runs after this */
    }
    pthread_mutex_destroy(&h->lock);
    free(h->metrics);
    free(h->health);
    free(h);
}
