/*
 * Redis URL parsing: a pure function over a string, no I/O, no allocation.
 *
 * Error messages quote the host, port or db that is wrong, never the whole
 * URL: it may carry a password, and errors end up in logs and /health.
 */
#include "kc_err.h"
#include "kc_redis.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define URL_ERR(...) kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "cache.redis.url: " __VA_ARGS__)

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[0..len) into out. @returns 0, or -1 on a bad escape,
 * -2 if it does not fit. */
static int pct_decode(const char *s, size_t len, char *out, size_t out_size)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') {
            return -1;
        }
        if (o + 1 >= out_size) {
            return -2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Non-negative decimal of s[0..len) bounded by max. @returns -1 if invalid. */
static long parse_uint(const char *s, size_t len, long max)
{
    long v = 0;

    if (len == 0 || len > 10) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* `[[user]:]password` as redis-cli reads it: text before the first ':' is
 * the ACL user, the rest the password; without ':' it is all password. */
static int parse_userinfo(const char *s, size_t len, kc_redis_url_t *u, char *errstr,
                          size_t errstr_size)
{
    const char *colon = memchr(s, ':', len);
    const char *pw = s;
    size_t pw_len = len;
    int rc;

    if (len == 0) {
        return 0;
    }
    if (colon) {
        if (pct_decode(s, (size_t)(colon - s), u->user, sizeof(u->user)) != 0) {
            return URL_ERR("bad percent-escape in the user name, or longer than %zu bytes",
                           sizeof(u->user) - 1);
        }
        pw = colon + 1;
        pw_len = len - (size_t)(pw - s);
    }
    if (pw_len == 0) {
        return URL_ERR("empty password after ':' (omit the '@' part for no AUTH)");
    }
    rc = pct_decode(pw, pw_len, u->password, sizeof(u->password));
    if (rc == -1) {
        return URL_ERR("bad percent-escape in the password (write '%%XX')");
    } else if (rc == -2) {
        return URL_ERR("password longer than %zu bytes", sizeof(u->password) - 1);
    }
    return 0;
}

static bool host_chars_ok(const char *s, size_t len, bool ipv6)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || (ipv6 && (c == ':' || c == '%')))) {
            return false;
        }
    }
    return true;
}

/* `host[:port]` or `[ipv6][:port]`. */
static int parse_hostport(const char *s, size_t len, kc_redis_url_t *u, char *errstr,
                          size_t errstr_size)
{
    const char *host = s, *port = NULL;
    size_t host_len = len;
    bool ipv6 = len > 0 && s[0] == '[';

    if (ipv6) {
        const char *close = memchr(s, ']', len);
        if (!close) {
            return URL_ERR("missing ']' after an IPv6 address");
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + len) {
            if (close[1] != ':') {
                return URL_ERR("unexpected text after ']'");
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (host_len == 0) {
        return URL_ERR("missing host (expected redis://host[:port][/db])");
    }
    if (host_len >= sizeof(u->host) || !host_chars_ok(host, host_len, ipv6)) {
        return URL_ERR("invalid host '%.*s'", (int)(host_len < 64 ? host_len : 64), host);
    }
    memcpy(u->host, host, host_len);
    u->host[host_len] = '\0';
    u->port = KC_REDIS_DEFAULT_PORT;
    if (port) {
        size_t port_len = (size_t)(s + len - port);
        long v = parse_uint(port, port_len, 65535);
        if (v < 1) {
            return URL_ERR("invalid port '%.*s' (expected 1-65535)",
                           (int)(port_len < 16 ? port_len : 16), port);
        }
        u->port = (int)v;
    }
    return 0;
}

static int parse_db(const char *s, size_t len, kc_redis_url_t *u, char *errstr, size_t errstr_size)
{
    long v;

    if (len == 0) {
        return 0; /* "redis://host/" */
    }
    if ((v = parse_uint(s, len, 2147483647L)) < 0) {
        return URL_ERR("invalid db '%.*s' (expected a number, e.g. /0)", (int)(len < 16 ? len : 16),
                       s);
    }
    u->db = (int)v;
    return 0;
}

/* After "redis://" or "rediss://": `[userinfo@]hostport[/db]`. A password with '/', '?',
 * '#' must be percent-encoded; one with '@' may be (the last '@' counts). */
static int parse_tcp(const char *s, kc_redis_url_t *u, char *errstr, size_t errstr_size)
{
    size_t auth_len = strcspn(s, "/?#");
    const char *at = NULL, *rest = s + auth_len;
    int rc;

    for (size_t i = 0; i < auth_len; i++) {
        if (s[i] == '@') {
            at = s + i;
        }
    }
    if (at && (rc = parse_userinfo(s, (size_t)(at - s), u, errstr, errstr_size))) {
        return rc;
    }
    if ((rc = parse_hostport(at ? at + 1 : s, (size_t)(s + auth_len - (at ? at + 1 : s)), u, errstr,
                             errstr_size))) {
        return rc;
    }
    if (*rest == '?' || *rest == '#') {
        return URL_ERR("query parameters are not supported in redis:// URLs (db goes in the path)");
    }
    if (*rest == '/') {
        rest++;
        if (strcspn(rest, "?#") != strlen(rest)) {
            return URL_ERR("query parameters are not supported in redis:// URLs");
        }
        return parse_db(rest, strlen(rest), u, errstr, errstr_size);
    }
    return 0;
}

/* After "unix://": `[userinfo@]/abs/path[?db=N]`. */
static int parse_unix(const char *s, kc_redis_url_t *u, char *errstr, size_t errstr_size)
{
    const char *at = strchr(s, '@');
    const char *path = s, *query;
    size_t path_len;
    int rc;

    /* '@' may appear in a socket path: it ends userinfo only before the
     * path's first '/'. */
    if (at && at < s + strcspn(s, "/")) {
        if ((rc = parse_userinfo(s, (size_t)(at - s), u, errstr, errstr_size))) {
            return rc;
        }
        path = at + 1;
    }
    if (*path != '/') {
        return URL_ERR("unix socket path must be absolute (unix:///path/to/redis.sock)");
    }
    query = strchr(path, '?');
    path_len = query ? (size_t)(query - path) : strlen(path);
    if (path_len >= sizeof(u->path)) {
        return URL_ERR("unix socket path longer than %zu bytes", sizeof(u->path) - 1);
    }
    memcpy(u->path, path, path_len);
    u->path[path_len] = '\0';
    u->is_unix = true;
    if (query) {
        if (strncmp(query, "?db=", 4) != 0) {
            return URL_ERR("the only unix:// parameter supported is ?db=N");
        }
        if (query[4] == '\0') {
            return URL_ERR("empty db in ?db=N");
        }
        return parse_db(query + 4, strlen(query + 4), u, errstr, errstr_size);
    }
    return 0;
}

int kc_redis_url_parse(const char *url, kc_redis_url_t *u, char *errstr, size_t errstr_size)
{
    memset(u, 0, sizeof(*u));
    if (!url || !*url) {
        return URL_ERR("empty URL");
    }
    if (strncmp(url, "redis://", 8) == 0) {
        return parse_tcp(url + 8, u, errstr, errstr_size);
    }
    if (strncmp(url, "unix://", 7) == 0) {
        return parse_unix(url + 7, u, errstr, errstr_size);
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        u->tls = true; /* the TLS settings come from elsewhere (kc_redis_new) */
        return parse_tcp(url + 9, u, errstr, errstr_size);
    }
    return URL_ERR("unknown scheme (expected redis://host[:port][/db], rediss://host[:port][/db] "
                   "or unix:///path)");
}
