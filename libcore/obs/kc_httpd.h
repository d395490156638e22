/**
 * @file kc_httpd.h
 * @brief The metrics and health endpoint: `GET /metrics` (Prometheus text) and
 * `GET /health` (JSON), served by libmicrohttpd on its own thread.
 *
 * The serving thread never touches the program's state: the owning event loop
 * renders both documents itself (kc_prom_* into a kc_buf_t, a health JSON) and
 * hands copies over with kc_httpd_publish(), about once a second. Requests are
 * answered from the last published copy under a mutex. So a scrape costs the
 * loop nothing, and a loop that stops publishing is visible: after `stale_ms`
 * without a publish, /health answers 503 `{"status":"down",...}` whatever was
 * published last.
 *
 * Before the first publish both endpoints answer 503. Other paths are 404,
 * other methods than GET/HEAD 405.
 *
 * @code
 * kc_httpd_t *h = kc_httpd_new("127.0.0.1", conf.metrics_port, 10000, errstr, sizeof(errstr));
 * ... every second in the loop:
 * kc_buf_reset(&m); render metrics into m; build health JSON into j;
 * kc_httpd_publish(h, m.data, m.len, j.data, j.len, status_is_down ? 503 : 200);
 * ... on exit:
 * kc_httpd_destroy(h);
 * @endcode
 */
#ifndef KC_HTTPD_H
#define KC_HTTPD_H

#include <stddef.h>
#include <stdint.h>

typedef struct kc_httpd_s kc_httpd_t;

/**
 * @brief Start serving.
 * @param bind IPv4 or IPv6 literal to listen on; NULL or "" = 127.0.0.1 (loopback:
 *        metrics are not for the world unless asked).
 * @param port TCP port, 0 = any free port (see kc_httpd_port()).
 * @param stale_ms /health turns 503 when nothing was published for this long;
 *        0 = never.
 * @returns the server, or NULL with errstr set (bad address, port in use).
 * @remark Starts a libmicrohttpd thread.
 */
kc_httpd_t *kc_httpd_new(const char *bind, int port, int64_t stale_ms, char *errstr,
                         size_t errstr_size);

/** @brief The port actually bound. */
int kc_httpd_port(const kc_httpd_t *h);

/**
 * @brief Replace the served documents with copies of the given ones.
 * @param health_status HTTP status for /health: 200 (ok, degraded) or 503 (down).
 * @returns 0 or KC_ERR_NOMEM (the previous documents stay).
 * @remark Thread-safe; meant for the owning loop.
 */
int kc_httpd_publish(kc_httpd_t *h, const char *metrics, size_t metrics_len, const char *health,
                     size_t health_len, int health_status);

/** @brief Stop the server (waits for its thread) and free everything. NULL-safe. */
void kc_httpd_destroy(kc_httpd_t *h);

#endif
