/*
 * Unit tests for libcore/cache/kc_redis.c and kc_redis_url.c: the L3 Redis client.
 *
 * The "url" TCase is pure (TLS connections: check_redis_tls.c). "mget", "set_many" and "lease" use
 * the shared redis-server named by KC_TEST_REDIS_URL (scripts/test.sh starts one) and FAIL when it
 * is unset. "down" needs no server (closed port, a listener that never accepts, one that never
 * answers); "restart", "auth" and "script" fork/exec their own redis-server on a free loopback
 * port.
 */
#define _GNU_SOURCE
#include "kc_err.h"
#include "kc_redis.h"
#include "kc_time.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000LL

static char errstr[512];

/* ------------------------------------------------------------------------- */
/* Helpers: servers, raw connections, keys                                    */
/* ------------------------------------------------------------------------- */

static const char *shared_url(void)
{
    const char *url = getenv("KC_TEST_REDIS_URL");
    if (!url || !*url) {
        ck_abort_msg(
            "KC_TEST_REDIS_URL is not set: this test needs a redis-server. Start one "
            "(redis-server --port P --bind 127.0.0.1 --save '' --appendonly no) and export "
            "KC_TEST_REDIS_URL=redis://127.0.0.1:P/0, or run scripts/test.sh");
    }
    return url;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    ck_assert_msg(getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "getsockname");
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listening socket on a free loopback port that never accepts. */
static int listener(int backlog, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                      listen(fd, backlog) == 0 &&
                      getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
                  "listener: %s", strerror(errno));
    *port = ntohs(sa.sin_port);
    return fd;
}

typedef struct srv_s {
    pid_t pid;
    int port;
} srv_t;

static redisContext *raw_connect(const char *url);

/* Start redis-server on port with extra arguments (NULL-terminated). The
 * server dies with the test process (PR_SET_PDEATHSIG), even on a failed
 * assertion. */
static void srv_start(srv_t *srv, int port, const char *const *extra)
{
    const char *argv[32] = {"redis-server", "--port", NULL,    "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no",     "--dir", "/tmp"};
    char port_s[16], url[64];
    int argc = 11;
    int64_t until = kc_mono_us() + 5000 * MS;

    snprintf(port_s, sizeof(port_s), "%d", port);
    argv[2] = port_s;
    for (; extra && *extra && argc < 31; extra++) {
        argv[argc++] = *extra;
    }
    argv[argc] = NULL;
    srv->port = port;
    srv->pid = fork();
    ck_assert_msg(srv->pid >= 0, "fork: %s", strerror(errno));
    if (srv->pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    while (kc_mono_us() < until) {
        redisContext *c = raw_connect(url);
        redisReply *r = c ? redisCommand(c, "PING") : NULL;
        bool up = r != NULL; /* PONG, or NOAUTH from a password-protected one */
        if (r) {
            freeReplyObject(r);
        }
        if (c) {
            redisFree(c);
        }
        if (up) {
            return;
        }
        ck_assert_msg(waitpid(srv->pid, NULL, WNOHANG) == 0,
                      "redis-server on port %d exited at startup (is it in PATH?)", port);
        usleep(20 * 1000);
    }
    ck_abort_msg("redis-server on port %d did not answer within 5 s", port);
}

static void srv_stop(srv_t *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGKILL);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
}

/* A plain hiredis connection (AUTH and SELECT from the URL), to look behind
 * the client's back. Returns NULL if it cannot connect. */
static redisContext *raw_connect(const char *url)
{
    kc_redis_url_t u;
    struct timeval tv = {1, 0};
    redisContext *c;

    ck_assert_msg(kc_redis_url_parse(url, &u, errstr, sizeof(errstr)) == 0, "url: %s", errstr);
    c = u.is_unix ? redisConnectUnixWithTimeout(u.path, tv)
                  : redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (u.password[0]) {
        redisReply *r = u.user[0] ? redisCommand(c, "AUTH %s %s", u.user, u.password)
                                  : redisCommand(c, "AUTH %s", u.password);
        freeReplyObject(r);
    }
    if (u.db) {
        freeReplyObject(redisCommand(c, "SELECT %d", u.db));
    }
    return c;
}

static redisContext *raw_must(const char *url)
{
    redisContext *c = raw_connect(url);
    ck_assert_msg(c != NULL, "raw hiredis connection to the test server failed");
    return c;
}

static long long raw_int(redisContext *c, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(c, "%s %s", cmd, key);
    long long v;

    ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "%s %s: no integer reply", cmd, key);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* GET key into out; @returns length or -1 for nil. */
static long raw_get(redisContext *c, const char *key, char *out, size_t out_size)
{
    redisReply *r = redisCommand(c, "GET %s", key);
    long len = -1;

    ck_assert_msg(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL),
                  "GET %s failed", key);
    if (r->type == REDIS_REPLY_STRING) {
        ck_assert_msg(r->len < out_size, "GET %s: value too long", key);
        memcpy(out, r->str, r->len);
        out[r->len] = '\0';
        len = (long)r->len;
    }
    freeReplyObject(r);
    return len;
}

/* A prefix no other test (or earlier run) uses. */
static const char *test_prefix(const char *name)
{
    static char prefix[128];
    snprintf(prefix, sizeof(prefix), "kctest:%d:%lld:%s:", (int)getpid(), (long long)kc_mono_us(),
             name);
    return prefix;
}

static kc_key_t key_of(const char *s)
{
    return kc_key_compute(s, strlen(s), 7);
}

static void redis_key(const char *prefix, const char *infix, const kc_key_t *key, char *out,
                      size_t out_size)
{
    char hex[KC_KEY_HEX_SIZE];
    kc_key_hex(key, hex);
    snprintf(out, out_size, "%s%s%s", prefix, infix, hex);
}

static kc_redis_t *client(const char *url, const char *prefix)
{
    kc_redis_t *rd = kc_redis_new(url, prefix, 1000, 1000, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "kc_redis_new: %s", errstr);
    return rd;
}

static void bufs_init(kc_buf_t *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kc_buf_init(&vals[i]);
    }
}

static void bufs_free(kc_buf_t *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kc_buf_free(&vals[i]);
    }
}

static void buf_set(kc_buf_t *b, const void *data, size_t len)
{
    kc_buf_init(b);
    ck_assert_msg(kc_buf_append(b, data, len) == 0, "kc_buf_append");
}

/* One set + one mget round trip, to check the client works. */
static void assert_roundtrip(kc_redis_t *rd, const char *what)
{
    kc_key_t key = key_of(what);
    kc_buf_t val, got;
    bool found = false;
    int rc;

    buf_set(&val, what, strlen(what));
    kc_buf_init(&got);
    rc = kc_redis_set_many(rd, &key, &val, 1, 60, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%s: set_many: %s (%s)", what, kc_strerror(rc), errstr);
    rc = kc_redis_mget(rd, &key, 1, &got, &found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%s: mget: %s (%s)", what, kc_strerror(rc), errstr);
    ck_assert_msg(found && got.len == val.len && memcmp(got.data, val.data, val.len) == 0,
                  "%s: value read back differs from the one written", what);
    kc_buf_free(&val);
    kc_buf_free(&got);
}

/* ------------------------------------------------------------------------- */
/* url: pure parsing                                                          */
/* ------------------------------------------------------------------------- */

static kc_redis_url_t parse_ok(const char *url)
{
    kc_redis_url_t u;
    int rc = kc_redis_url_parse(url, &u, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "'%s' should parse, got %s: %s", url, kc_strerror(rc), errstr);
    return u;
}

START_TEST(test_url_full)
{
    kc_redis_url_t u = parse_ok("redis://:s3cret@10.1.2.3:6380/3");

    ck_assert_msg(!u.is_unix, "tcp URL parsed as unix");
    ck_assert_msg(strcmp(u.host, "10.1.2.3") == 0, "host '%s'", u.host);
    ck_assert_msg(u.port == 6380, "port %d, expected 6380", u.port);
    ck_assert_msg(u.db == 3, "db %d, expected 3", u.db);
    ck_assert_msg(strcmp(u.password, "s3cret") == 0, "password '%s'", u.password);
    ck_assert_msg(u.user[0] == '\0', "':pw@' has no user, got '%s'", u.user);
}
END_TEST

START_TEST(test_url_defaults)
{
    kc_redis_url_t u = parse_ok("redis://localhost");

    ck_assert_msg(strcmp(u.host, "localhost") == 0, "host '%s'", u.host);
    ck_assert_msg(u.port == 6379, "default port should be 6379, got %d", u.port);
    ck_assert_msg(u.db == 0 && u.password[0] == '\0' && u.user[0] == '\0',
                  "defaults: db 0, no auth");
    u = parse_ok("redis://cache-1.example.com:7000/");
    ck_assert_msg(strcmp(u.host, "cache-1.example.com") == 0 && u.port == 7000 && u.db == 0,
                  "hostname with port and empty db: %s:%d/%d", u.host, u.port, u.db);
    u = parse_ok("redis://127.0.0.1/15");
    ck_assert_msg(u.port == 6379 && u.db == 15, "db without port: port %d db %d", u.port, u.db);
}
END_TEST

START_TEST(test_url_auth_forms)
{
    kc_redis_url_t u = parse_ok("redis://alice:wonder@127.0.0.1:6379/1");

    ck_assert_msg(strcmp(u.user, "alice") == 0 && strcmp(u.password, "wonder") == 0,
                  "ACL user form: user '%s' password '%s'", u.user, u.password);
    u = parse_ok("redis://justapassword@host");
    ck_assert_msg(u.user[0] == '\0' && strcmp(u.password, "justapassword") == 0,
                  "userinfo without ':' is a password (as redis-cli), got user '%s' pw '%s'",
                  u.user, u.password);
    u = parse_ok("redis://:p%40ss%2Fw%3a@h:1");
    ck_assert_msg(strcmp(u.password, "p@ss/w:") == 0, "percent-decoding: '%s'", u.password);
    u = parse_ok("redis://:a@b@h");
    ck_assert_msg(strcmp(u.password, "a@b") == 0 && strcmp(u.host, "h") == 0,
                  "the last '@' ends userinfo: pw '%s' host '%s'", u.password, u.host);
}
END_TEST

START_TEST(test_url_tls)
{
    kc_redis_url_t u = parse_ok("rediss://alice:s3cret@10.1.2.3:6380/3");

    ck_assert_msg(u.tls && !u.is_unix, "rediss:// should set tls (tls %d unix %d)", u.tls,
                  u.is_unix);
    ck_assert_msg(strcmp(u.host, "10.1.2.3") == 0 && u.port == 6380 && u.db == 3,
                  "rediss host '%s' port %d db %d", u.host, u.port, u.db);
    ck_assert_msg(strcmp(u.user, "alice") == 0 && strcmp(u.password, "s3cret") == 0,
                  "rediss auth: user '%s' password '%s'", u.user, u.password);
    u = parse_ok("rediss://cache.example.com");
    ck_assert_msg(u.tls && u.port == 6379 && u.db == 0, "rediss defaults: port %d db %d", u.port,
                  u.db);
    u = parse_ok("rediss://[::1]:7000/1");
    ck_assert_msg(u.tls && strcmp(u.host, "::1") == 0 && u.port == 7000,
                  "rediss IPv6: host '%s' port %d", u.host, u.port);
    ck_assert_msg(!parse_ok("redis://h").tls, "redis:// must not set tls");
    ck_assert_msg(!parse_ok("unix:///tmp/r.sock").tls, "unix:// must not set tls");
    ck_assert_msg(kc_redis_url_parse("rediss://:topsecret@host:0", &u, errstr, sizeof(errstr)) ==
                          KC_ERR_CONFIG &&
                      strstr(errstr, "topsecret") == NULL,
                  "a bad rediss:// URL must be refused without the password: %s", errstr);
}
END_TEST

START_TEST(test_url_ipv6_unix)
{
    kc_redis_url_t u = parse_ok("redis://[::1]:6390/2");

    ck_assert_msg(strcmp(u.host, "::1") == 0 && u.port == 6390 && u.db == 2,
                  "IPv6: host '%s' port %d db %d", u.host, u.port, u.db);
    u = parse_ok("unix:///var/run/redis/redis.sock");
    ck_assert_msg(u.is_unix && strcmp(u.path, "/var/run/redis/redis.sock") == 0 && u.db == 0,
                  "unix path '%s'", u.path);
    u = parse_ok("unix://bob:pw@/tmp/r.sock?db=4");
    ck_assert_msg(u.is_unix && strcmp(u.path, "/tmp/r.sock") == 0 && u.db == 4 &&
                      strcmp(u.user, "bob") == 0 && strcmp(u.password, "pw") == 0,
                  "unix with auth and db: path '%s' db %d user '%s'", u.path, u.db, u.user);
}
END_TEST

static const struct {
    const char *url;
    const char *want; /* substring of the error */
} bad_urls[] = {
    {"", "empty"},
    {"http://host:6379", "scheme"},
    {"rediss://", "missing host"},
    {"rediss://host:99999", "port"},
    {"redis+tls://host", "scheme"},
    {"redis://", "missing host"},
    {"redis://:6379", "missing host"},
    {"redis://host:", "port"},
    {"redis://host:0", "port"},
    {"redis://host:70000", "port"},
    {"redis://host:12ab", "port"},
    {"redis://host/abc", "db"},
    {"redis://host/1/2", "db"},
    {"redis://host/-1", "db"},
    {"redis://host/1?timeout=3", "query"},
    {"redis://ho st", "host"},
    {"redis://[::1", "]"},
    {"redis://user:@host", "empty password"},
    {"redis://:bad%zzescape@host", "percent"},
    {"redis://:trunc%4@host", "percent"},
    {"unix://relative.sock", "absolute"},
    {"unix:///tmp/r.sock?timeout=1", "db=N"},
    {"unix:///tmp/r.sock?db=x", "db"},
};

START_TEST(test_url_bad)
{
    kc_redis_url_t u;
    int rc = kc_redis_url_parse(bad_urls[_i].url, &u, errstr, sizeof(errstr));

    ck_assert_msg(rc == KC_ERR_CONFIG, "'%s' should be refused with KC_ERR_CONFIG, got %d",
                  bad_urls[_i].url, rc);
    ck_assert_msg(strstr(errstr, bad_urls[_i].want) != NULL, "'%s': error '%s' should mention '%s'",
                  bad_urls[_i].url, errstr, bad_urls[_i].want);
}
END_TEST

START_TEST(test_url_errors_hide_password)
{
    kc_redis_url_t u;
    const char *urls[] = {"redis://:topsecret@host:99999", "redis://:topsecret@host/xx",
                          "redis://:topsecret@ho$t"};

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        ck_assert_msg(kc_redis_url_parse(urls[i], &u, errstr, sizeof(errstr)) == KC_ERR_CONFIG,
                      "URL %zu should be refused", i);
        ck_assert_msg(strstr(errstr, "topsecret") == NULL, "error leaks the password: %s", errstr);
    }
}
END_TEST

START_TEST(test_new_no_io)
{
    int port = free_port(); /* nothing listens there */
    char url[64];
    kc_redis_t *rd;

    ck_assert_msg(kc_redis_new("redis://h:bad", NULL, 100, 100, NULL, errstr, sizeof(errstr)) ==
                      NULL,
                  "a bad URL must fail kc_redis_new");
    ck_assert_msg(strstr(errstr, "port") != NULL, "error should name the port: %s", errstr);
    ck_assert_msg(kc_redis_new("redis://h", NULL, 0, 100, NULL, errstr, sizeof(errstr)) == NULL,
                  "a zero connect timeout must be refused");
    snprintf(url, sizeof(url), "redis://:pw@127.0.0.1:%d/2", port);
    rd = kc_redis_new(url, NULL, 100, 100, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "kc_redis_new must not need a server: %s", errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_IDLE, "new client should be idle, is %s",
                  kc_redis_state_name(kc_redis_state(rd)));
    ck_assert_msg(strstr(kc_redis_endpoint(rd), "pw") == NULL &&
                      strstr(kc_redis_endpoint(rd), "/2") != NULL,
                  "endpoint '%s' should show db and hide the password", kc_redis_endpoint(rd));
    kc_redis_destroy(rd);
    kc_redis_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* mget / set_many against the shared server                                  */
/* ------------------------------------------------------------------------- */

START_TEST(test_mget_present_missing_binary)
{
    const char *url = shared_url();
    const char *prefix = test_prefix("mget");
    kc_redis_t *rd = client(url, prefix);
    static const char bin[] = {'a', '\0', 'b', '\0', '\xff', '\0', '\n', '\r'};
    kc_key_t keys[5] = {key_of("one"), key_of("missing-1"), key_of("bin"), key_of("empty"),
                        key_of("missing-2")};
    kc_key_t set_keys[3] = {keys[0], keys[2], keys[3]};
    kc_buf_t set_vals[3], vals[5];
    bool found[5];
    kc_redis_stats_t st;
    char rkey[256], raw[64];
    redisContext *c = raw_must(url);
    int rc;

    buf_set(&set_vals[0], "first", 5);
    buf_set(&set_vals[1], bin, sizeof(bin));
    buf_set(&set_vals[2], "", 0);
    rc = kc_redis_set_many(rd, set_keys, set_vals, 3, 60, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "set_many: %s (%s)", kc_strerror(rc), errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_CONNECTED, "state after a call: %s",
                  kc_redis_state_name(kc_redis_state(rd)));

    bufs_init(vals, 5);
    rc = kc_redis_mget(rd, keys, 5, vals, found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "mget: %s (%s)", kc_strerror(rc), errstr);
    ck_assert_msg(found[0] && vals[0].len == 5 && memcmp(vals[0].data, "first", 5) == 0,
                  "key 0: found %d len %zu", found[0], vals[0].len);
    ck_assert_msg(!found[1] && vals[1].len == 0, "key 1 was never set but found");
    ck_assert_msg(found[2] && vals[2].len == sizeof(bin) &&
                      memcmp(vals[2].data, bin, sizeof(bin)) == 0,
                  "binary value with NULs: found %d len %zu, expected %zu bytes intact", found[2],
                  vals[2].len, sizeof(bin));
    ck_assert_msg(found[3] && vals[3].len == 0, "empty value should be found with length 0");
    ck_assert_msg(!found[4], "key 4 was never set but found");
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.hits == 3 && st.misses == 2, "stats: hits %llu misses %llu, expected 3/2",
                  (unsigned long long)st.hits, (unsigned long long)st.misses);
    ck_assert_msg(st.sets == 3 && st.calls == 2 && st.errors == 0 && st.connects == 1,
                  "stats: sets %llu calls %llu errors %llu connects %llu",
                  (unsigned long long)st.sets, (unsigned long long)st.calls,
                  (unsigned long long)st.errors, (unsigned long long)st.connects);

    /* The key layout is part of the contract: prefix + 32 hex digits. */
    redis_key(prefix, "", &keys[0], rkey, sizeof(rkey));
    ck_assert_msg(raw_get(c, rkey, raw, sizeof(raw)) == 5 && strcmp(raw, "first") == 0,
                  "raw GET %s should return the stored value", rkey);

    rc = kc_redis_mget(rd, keys, 0, vals, found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "mget of 0 keys should succeed without I/O");
    bufs_free(vals, 5);
    bufs_free(set_vals, 3);
    redisFree(c);
    kc_redis_destroy(rd);
}
END_TEST

START_TEST(test_mget_large_batch)
{
    enum { N = 1000 };
    const char *prefix = test_prefix("large");
    kc_redis_t *rd = client(shared_url(), prefix);
    kc_key_t *keys = calloc(2 * N, sizeof(*keys));
    kc_buf_t *vals = calloc(2 * N, sizeof(*vals));
    bool *found = calloc(2 * N, sizeof(*found));
    char s[64];
    kc_redis_stats_t st;
    int rc;

    ck_assert_msg(keys && vals && found, "calloc");
    for (int i = 0; i < 2 * N; i++) {
        snprintf(s, sizeof(s), "query number %d", i);
        keys[i] = key_of(s);
        buf_set(&vals[i], s, strlen(s));
    }
    rc = kc_redis_set_many(rd, keys, vals, N, 60, errstr, sizeof(errstr)); /* first half */
    ck_assert_msg(rc == 0, "set_many of %d: %s (%s)", N, kc_strerror(rc), errstr);
    bufs_free(vals, 2 * N);
    rc = kc_redis_mget(rd, keys, 2 * N, vals, found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "mget of %d: %s (%s)", 2 * N, kc_strerror(rc), errstr);
    for (int i = 0; i < 2 * N; i++) {
        snprintf(s, sizeof(s), "query number %d", i);
        ck_assert_msg(found[i] == (i < N), "key %d: found %d, expected %d", i, found[i], i < N);
        ck_assert_msg(i >= N ||
                          (vals[i].len == strlen(s) && memcmp(vals[i].data, s, vals[i].len) == 0),
                      "key %d: wrong value", i);
    }
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.hits == N && st.misses == N && st.calls == 2, "stats: hits %llu misses %llu",
                  (unsigned long long)st.hits, (unsigned long long)st.misses);
    bufs_free(vals, 2 * N);
    free(keys);
    free(vals);
    free(found);
    kc_redis_destroy(rd);
}
END_TEST

START_TEST(test_set_many_ttl)
{
    const char *url = shared_url();
    const char *prefix = test_prefix("ttl");
    kc_redis_t *rd = client(url, prefix);
    redisContext *c = raw_must(url);
    kc_key_t keys[2] = {key_of("long"), key_of("short")};
    kc_buf_t vals[2], got[2];
    bool found[2];
    char rkey[256];
    long long ttl;
    int rc;

    buf_set(&vals[0], "v0", 2);
    buf_set(&vals[1], "v1", 2);
    rc = kc_redis_set_many(rd, keys, vals, 2, 86400, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "set_many: %s", errstr);
    redis_key(prefix, "", &keys[0], rkey, sizeof(rkey));
    ttl = raw_int(c, "TTL", rkey);
    ck_assert_msg(ttl > 86390 && ttl <= 86400, "TTL of %s is %lld, expected ~86400", rkey, ttl);

    /* Overwrite one with a 1 s TTL: it must expire, the other must stay. */
    rc = kc_redis_set_many(rd, &keys[1], &vals[1], 1, 1, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "set_many ttl 1: %s", errstr);
    redis_key(prefix, "", &keys[1], rkey, sizeof(rkey));
    ttl = raw_int(c, "PTTL", rkey);
    ck_assert_msg(ttl > 0 && ttl <= 1000, "PTTL after overwrite is %lld, expected <= 1000", ttl);
    usleep(1300 * 1000);
    bufs_init(got, 2);
    rc = kc_redis_mget(rd, keys, 2, got, found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "mget: %s", errstr);
    ck_assert_msg(found[0] && !found[1],
                  "after 1.3 s: long-lived found=%d (want 1), "
                  "1 s TTL found=%d (want 0)",
                  found[0], found[1]);

    ck_assert_msg(kc_redis_set_many(rd, keys, vals, 2, 0, errstr, sizeof(errstr)) == KC_ERR_INVALID,
                  "ttl 0 must be refused");
    bufs_free(got, 2);
    bufs_free(vals, 2);
    redisFree(c);
    kc_redis_destroy(rd);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* lease                                                                      */
/* ------------------------------------------------------------------------- */

static void acquire(kc_redis_t *rd, const kc_key_t *keys, size_t n, int64_t ttl_ms,
                    const char *token, bool *acquired)
{
    int rc = kc_redis_lease_acquire(rd, keys, n, ttl_ms, token, acquired, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "lease_acquire by %s: %s (%s)", token, kc_strerror(rc), errstr);
}

static size_t release(kc_redis_t *rd, const kc_key_t *keys, size_t n, const char *token)
{
    size_t released = 99;
    int rc = kc_redis_lease_release(rd, keys, n, token, &released, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "lease_release by %s: %s (%s)", token, kc_strerror(rc), errstr);
    return released;
}

START_TEST(test_lease_one_winner)
{
    const char *url = shared_url();
    const char *prefix = test_prefix("lease");
    kc_redis_t *a = client(url, prefix), *b = client(url, prefix);
    redisContext *c = raw_must(url);
    kc_key_t k[3] = {key_of("k1"), key_of("k2"), key_of("k3")};
    bool got[3];
    char rkey[256], owner[64];
    kc_redis_stats_t st;

    acquire(a, k, 2, 10000, "worker-A", got);
    ck_assert_msg(got[0] && got[1], "A should take both free leases: %d %d", got[0], got[1]);
    acquire(b, k, 3, 10000, "worker-B", got);
    ck_assert_msg(!got[0] && !got[1] && got[2], "B: k1 %d k2 %d (held by A), k3 %d (free)", got[0],
                  got[1], got[2]);
    redis_key(prefix, "lease:", &k[0], rkey, sizeof(rkey));
    ck_assert_msg(raw_get(c, rkey, owner, sizeof(owner)) > 0 && strcmp(owner, "worker-A") == 0,
                  "lease key %s should hold A's token", rkey);
    ck_assert_msg(raw_int(c, "PTTL", rkey) > 9000, "lease should carry its PX ttl");

    /* B releasing A's leases must not delete them. */
    ck_assert_msg(release(b, k, 2, "worker-B") == 0, "non-owner release deleted a lease");
    ck_assert_msg(raw_get(c, rkey, owner, sizeof(owner)) > 0 && strcmp(owner, "worker-A") == 0,
                  "A's lease gone after B's release");
    acquire(b, k, 1, 10000, "worker-B", got);
    ck_assert_msg(!got[0], "B took k1 while A still holds it");

    ck_assert_msg(release(a, k, 3, "worker-A") == 2, "A should release exactly k1 and k2");
    ck_assert_msg(raw_get(c, rkey, owner, sizeof(owner)) == -1, "k1 lease still present");
    acquire(b, k, 1, 10000, "worker-B", got);
    ck_assert_msg(got[0], "B should take k1 after A released it");
    ck_assert_msg(release(b, k, 3, "worker-B") == 2, "B holds k1 and k3");

    kc_redis_stats(a, &st);
    ck_assert_msg(st.leases_acquired == 2 && st.leases_busy == 0 && st.leases_released == 2,
                  "A stats: acquired %llu busy %llu released %llu",
                  (unsigned long long)st.leases_acquired, (unsigned long long)st.leases_busy,
                  (unsigned long long)st.leases_released);
    kc_redis_stats(b, &st);
    ck_assert_msg(st.leases_acquired == 2 && st.leases_busy == 3,
                  "B stats: acquired %llu busy %llu", (unsigned long long)st.leases_acquired,
                  (unsigned long long)st.leases_busy);
    redisFree(c);
    kc_redis_destroy(a);
    kc_redis_destroy(b);
}
END_TEST

START_TEST(test_lease_expiry)
{
    const char *prefix = test_prefix("lease-exp");
    kc_redis_t *a = client(shared_url(), prefix), *b = client(shared_url(), prefix);
    kc_key_t k = key_of("expiring");
    bool got;

    acquire(a, &k, 1, 200, "A", &got);
    ck_assert_msg(got, "A should take the free lease");
    acquire(b, &k, 1, 200, "B", &got);
    ck_assert_msg(!got, "B must not take a live lease");
    usleep(350 * 1000);
    acquire(b, &k, 1, 5000, "B", &got);
    ck_assert_msg(got, "B should take the lease after A's 200 ms expired");
    ck_assert_msg(release(a, &k, 1, "A") == 0, "A's late release must not delete B's lease");
    ck_assert_msg(release(b, &k, 1, "B") == 1, "B should release its lease");
    ck_assert_msg(kc_redis_lease_acquire(a, &k, 1, 0, "A", &got, errstr, sizeof(errstr)) ==
                      KC_ERR_INVALID,
                  "ttl_ms 0 must be refused");
    ck_assert_msg(kc_redis_lease_acquire(a, &k, 1, 100, "", &got, errstr, sizeof(errstr)) ==
                      KC_ERR_INVALID,
                  "an empty token must be refused");
    kc_redis_destroy(a);
    kc_redis_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* down: no server, a full accept queue, a server that never answers          */
/* ------------------------------------------------------------------------- */

static int64_t timed_mget(kc_redis_t *rd, int *rc)
{
    kc_key_t k = key_of("x");
    kc_buf_t v;
    bool found;
    int64_t t0 = kc_mono_us();

    kc_buf_init(&v);
    *rc = kc_redis_mget(rd, &k, 1, &v, &found, errstr, sizeof(errstr));
    kc_buf_free(&v);
    return (kc_mono_us() - t0) / 1000;
}

START_TEST(test_down_closed_port)
{
    char url[64];
    kc_redis_t *rd;
    kc_redis_stats_t st;
    kc_key_t k = key_of("x");
    kc_buf_t v;
    bool b;
    int rc;
    int64_t ms, retry;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
    rd = kc_redis_new(url, NULL, 300, 300, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "new: %s", errstr);
    ck_assert_msg(kc_redis_backoff_set(rd, 200, 2000) == 0, "backoff_set");

    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO, "first call to a closed port: want KC_ERR_IO, got %s (%s)",
                  kc_strerror(rc), errstr);
    ck_assert_msg(ms < 300, "refused connect took %lld ms, more than the 300 ms timeout",
                  (long long)ms);
    ck_assert_msg(strstr(errstr, "connect") != NULL, "error should say connect: %s", errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "state should be down, is %s",
                  kc_redis_state_name(kc_redis_state(rd)));
    ck_assert_msg(strstr(kc_redis_last_error(rd), "connect") != NULL, "last error: '%s'",
                  kc_redis_last_error(rd));
    retry = kc_redis_retry_in_ms(rd);
    ck_assert_msg(retry >= 90 && retry <= 200, "first backoff %lld ms, expected in [100, 200]",
                  (long long)retry);

    /* During the backoff: KC_ERR_STATE at once, for every kind of call. */
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_STATE, "call during backoff: want KC_ERR_STATE, got %s",
                  kc_strerror(rc));
    ck_assert_msg(ms <= 10, "a call during backoff took %lld ms: it must not touch the network",
                  (long long)ms);
    ck_assert_msg(strstr(errstr, "next connection attempt") != NULL, "state error: %s", errstr);
    buf_set(&v, "v", 1);
    ck_assert_msg(kc_redis_set_many(rd, &k, &v, 1, 10, errstr, sizeof(errstr)) == KC_ERR_STATE,
                  "set_many during backoff");
    ck_assert_msg(kc_redis_lease_acquire(rd, &k, 1, 10, "t", &b, errstr, sizeof(errstr)) ==
                      KC_ERR_STATE,
                  "lease_acquire during backoff");
    ck_assert_msg(kc_redis_lease_release(rd, &k, 1, "t", NULL, errstr, sizeof(errstr)) ==
                      KC_ERR_STATE,
                  "lease_release during backoff");
    ck_assert_msg(kc_redis_ping(rd, errstr, sizeof(errstr)) == KC_ERR_STATE, "ping during backoff");
    kc_buf_free(&v);

    /* When due, one more attempt; the next delay doubles (400 ms jittered
     * into [200, 400]). */
    usleep((useconds_t)(kc_redis_retry_in_ms(rd) + 10) * 1000);
    timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO, "attempt after the backoff: want KC_ERR_IO, got %s",
                  kc_strerror(rc));
    retry = kc_redis_retry_in_ms(rd);
    ck_assert_msg(retry >= 190 && retry <= 400, "second backoff %lld ms, expected in [200, 400]",
                  (long long)retry);
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.connect_failures == 2 && st.skipped == 5 && st.calls == 7 && st.errors == 2,
                  "stats: connect_failures %llu skipped %llu calls %llu errors %llu",
                  (unsigned long long)st.connect_failures, (unsigned long long)st.skipped,
                  (unsigned long long)st.calls, (unsigned long long)st.errors);
    kc_redis_destroy(rd);
}
END_TEST

START_TEST(test_down_connect_timeout)
{
    /* A listener with a full accept queue: the kernel drops our SYN, so the
     * connect hangs until the client's timeout. */
    int port, fd = listener(0, &port);
    int fillers[4], rc;
    char url[64];
    kc_redis_t *rd;
    int64_t ms;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    sa.sin_port = htons((uint16_t)port);
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(50 * 1000);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    rd = kc_redis_new(url, NULL, 250, 250, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "new: %s", errstr);
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO, "connect to a full accept queue: want KC_ERR_IO, got %s (%s)",
                  kc_strerror(rc), errstr);
    ck_assert_msg(ms >= 200 && ms < 250 + 150,
                  "the call took %lld ms: it should block about the 250 ms connect timeout",
                  (long long)ms);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "state should be down");
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_STATE && ms <= 10, "then KC_ERR_STATE at once: %s in %lld ms",
                  kc_strerror(rc), (long long)ms);
    kc_redis_destroy(rd);
    for (int i = 0; i < 4; i++) {
        close(fillers[i]);
    }
    close(fd);
}
END_TEST

START_TEST(test_down_command_timeout)
{
    /* The kernel completes the handshake but nobody reads or answers. */
    int port, fd = listener(16, &port), rc;
    char url[64];
    kc_redis_t *rd;
    int64_t ms;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    rd = kc_redis_new(url, NULL, 1000, 200, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "new: %s", errstr);
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO, "silent server: want KC_ERR_IO, got %s (%s)", kc_strerror(rc),
                  errstr);
    ck_assert_msg(strstr(errstr, "timed out") != NULL, "error should say timed out: %s", errstr);
    ck_assert_msg(ms >= 150 && ms < 200 + 150,
                  "the call took %lld ms: it should block about the 200 ms command timeout",
                  (long long)ms);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "a timeout must drop the connection");
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_STATE && ms <= 10, "then KC_ERR_STATE at once: %s in %lld ms",
                  kc_strerror(rc), (long long)ms);
    kc_redis_destroy(rd);
    close(fd);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* restart, auth, script cache: private servers                               */
/* ------------------------------------------------------------------------- */

START_TEST(test_restart_reconnects)
{
    srv_t srv;
    int port = free_port(), rc;
    char url[64];
    kc_redis_t *rd;
    kc_redis_stats_t st;
    int64_t t0, ms;

    srv_start(&srv, port, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    rd = kc_redis_new(url, NULL, 500, 500, NULL, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "new: %s", errstr);
    kc_redis_backoff_set(rd, 100, 400);
    assert_roundtrip(rd, "before the restart");

    srv_stop(&srv);
    ms = timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO, "after the server died: want KC_ERR_IO, got %s",
                  kc_strerror(rc));
    ck_assert_msg(ms < 100, "noticing a dead server took %lld ms", (long long)ms);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "state should be down");
    timed_mget(rd, &rc);
    ck_assert_msg(rc == KC_ERR_STATE, "during backoff: want KC_ERR_STATE, got %s", kc_strerror(rc));

    /* Let two attempts fail against the dead port, then bring it back. */
    usleep(500 * 1000);
    for (int i = 0; i < 20; i++) {
        kc_redis_ping(rd, errstr, sizeof(errstr));
        usleep(20 * 1000);
    }
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.connect_failures >= 1, "expected failed reconnection attempts, got %llu",
                  (unsigned long long)st.connect_failures);
    srv_start(&srv, port, NULL);
    t0 = kc_mono_us();
    while ((rc = kc_redis_ping(rd, errstr, sizeof(errstr))) != 0 && kc_mono_us() - t0 < 3000 * MS) {
        ck_assert_msg(rc == KC_ERR_STATE || rc == KC_ERR_IO, "unexpected %s", kc_strerror(rc));
        usleep(10 * 1000);
    }
    ms = (kc_mono_us() - t0) / 1000;
    ck_assert_msg(rc == 0, "no reconnection within 3 s: %s", errstr);
    ck_assert_msg(ms <= 400 + 100, "reconnected after %lld ms, backoff max is 400 ms",
                  (long long)ms);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_CONNECTED, "state should be connected");
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.connects == 2 && st.reconnects == 1, "connects %llu reconnects %llu",
                  (unsigned long long)st.connects, (unsigned long long)st.reconnects);
    assert_roundtrip(rd, "after the restart");
    kc_redis_destroy(rd);
    srv_stop(&srv);
}
END_TEST

START_TEST(test_auth_password_acl_db)
{
    const char *extra[] = {"--requirepass", "s3cret", "--user", "alice", "on",
                           ">alicepw",      "~*",     "+@all",  NULL};
    srv_t srv;
    int port = free_port(), rc;
    char url[128];
    kc_redis_t *rd;
    redisContext *c;
    kc_key_t k = key_of("db-check");
    kc_buf_t v;
    char rkey[256], raw[32];

    srv_start(&srv, port, extra);

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    rd = client(url, "auth:");
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "NOAUTH"), "no password: want NOAUTH, got %s",
                  errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "NOAUTH should drop the connection");
    kc_redis_destroy(rd);

    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", port);
    rd = client(url, "auth:");
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "AUTH failed"),
                  "wrong password: want 'AUTH failed', got %s", errstr);
    ck_assert_msg(strstr(errstr, "wrong") == NULL, "error leaks the password: %s", errstr);
    kc_redis_destroy(rd);
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/2", port);
    rd = client(url, "auth:");
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "AUTH failed"),
                  "wrong password with a db: the AUTH failure should be reported, got %s", errstr);
    kc_redis_destroy(rd);

    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/2", port);
    rd = client(url, "auth:");
    assert_roundtrip(rd, "password");
    buf_set(&v, "in-db-2", 7);
    rc = kc_redis_set_many(rd, &k, &v, 1, 60, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "set in db 2: %s", errstr);
    redis_key("auth:", "", &k, rkey, sizeof(rkey));
    c = raw_must(url); /* db 2 */
    ck_assert_msg(raw_get(c, rkey, raw, sizeof(raw)) == 7, "value should be in db 2");
    redisFree(c);
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/0", port);
    c = raw_must(url);
    ck_assert_msg(raw_get(c, rkey, raw, sizeof(raw)) == -1, "value leaked into db 0");
    redisFree(c);
    kc_buf_free(&v);
    kc_redis_destroy(rd);

    snprintf(url, sizeof(url), "redis://alice:alicepw@127.0.0.1:%d", port);
    rd = client(url, "auth:");
    assert_roundtrip(rd, "ACL user");
    kc_redis_destroy(rd);
    snprintf(url, sizeof(url), "redis://alice:s3cret@127.0.0.1:%d", port);
    rd = client(url, "auth:");
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "AUTH failed"),
                  "alice with the default user's password must fail: %s", errstr);
    kc_redis_destroy(rd);
    srv_stop(&srv);
}
END_TEST

START_TEST(test_unix_socket)
{
    char sock[64], sock_url[96];
    const char *extra[] = {"--unixsocket", sock, NULL};
    srv_t srv;
    kc_redis_t *rd;

    snprintf(sock, sizeof(sock), "/tmp/kc-check-redis-%d.sock", (int)getpid());
    srv_start(&srv, free_port(), extra);
    snprintf(sock_url, sizeof(sock_url), "unix://%s", sock);
    rd = client(sock_url, "unix:");
    assert_roundtrip(rd, "over a unix socket");
    ck_assert_msg(strncmp(kc_redis_endpoint(rd), "unix:", 5) == 0, "endpoint '%s'",
                  kc_redis_endpoint(rd));
    kc_redis_destroy(rd);
    srv_stop(&srv);
    unlink(sock);
}
END_TEST

static long long cmdstat_calls(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    char needle[64];
    const char *p;
    long long calls = 0;

    ck_assert_msg(r && r->type == REDIS_REPLY_STRING, "INFO commandstats");
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    if ((p = strstr(r->str, needle))) {
        calls = atoll(p + strlen(needle));
    }
    freeReplyObject(r);
    return calls;
}

START_TEST(test_release_script_cache)
{
    srv_t srv;
    int port = free_port();
    char url[64];
    kc_redis_t *rd;
    redisContext *c;
    kc_key_t k[2] = {key_of("s1"), key_of("s2")};
    bool got[2];

    srv_start(&srv, port, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    rd = client(url, NULL);
    c = raw_must(url);

    /* A fresh server has no script: the first release falls back to EVAL,
     * which caches it; the second must then hit EVALSHA, which proves the
     * client's hard-coded SHA1 is that of its script. */
    acquire(rd, k, 2, 10000, "me", got);
    ck_assert_msg(release(rd, k, 2, "me") == 2, "first release (after NOSCRIPT)");
    acquire(rd, k, 2, 10000, "me", got);
    ck_assert_msg(release(rd, k, 2, "me") == 2, "second release (EVALSHA)");
    ck_assert_msg(cmdstat_calls(c, "eval") == 1 && cmdstat_calls(c, "evalsha") == 2,
                  "expected 1 EVAL and 2 EVALSHA, got %lld and %lld: is RELEASE_SHA stale?",
                  cmdstat_calls(c, "eval"), cmdstat_calls(c, "evalsha"));

    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    acquire(rd, k, 1, 10000, "me", got);
    ck_assert_msg(release(rd, k, 1, "me") == 1, "release after SCRIPT FLUSH must still work");
    ck_assert_msg(cmdstat_calls(c, "eval") == 2, "SCRIPT FLUSH should cost one more EVAL");
    redisFree(c);
    kc_redis_destroy(rd);
    srv_stop(&srv);
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc;

    tc = tcase_create("url");
    tcase_add_test(tc, test_url_full);
    tcase_add_test(tc, test_url_defaults);
    tcase_add_test(tc, test_url_auth_forms);
    tcase_add_test(tc, test_url_ipv6_unix);
    tcase_add_test(tc, test_url_tls);
    tcase_add_loop_test(tc, test_url_bad, 0, (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
    tcase_add_test(tc, test_url_errors_hide_password);
    tcase_add_test(tc, test_new_no_io);
    suite_add_tcase(s, tc);

    tc = tcase_create("mget");
    tcase_add_test(tc, test_mget_present_missing_binary);
    tcase_add_test(tc, test_mget_large_batch);
    suite_add_tcase(s, tc);

    tc = tcase_create("set_many");
    tcase_add_test(tc, test_set_many_ttl);
    suite_add_tcase(s, tc);

    tc = tcase_create("lease");
    tcase_add_test(tc, test_lease_one_winner);
    tcase_add_test(tc, test_lease_expiry);
    suite_add_tcase(s, tc);

    tc = tcase_create("down");
    tcase_add_test(tc, test_down_closed_port);
    tcase_add_test(tc, test_down_connect_timeout);
    tcase_add_test(tc, test_down_command_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_add_test(tc, test_restart_reconnects);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth");
    tcase_add_test(tc, test_auth_password_acl_db);
    tcase_add_test(tc, test_unix_socket);
    suite_add_tcase(s, tc);

    tc = tcase_create("script");
    tcase_add_test(tc, test_release_script_cache);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(redis_suite());
    int failed;

    signal(SIGPIPE, SIG_IGN); /* as worker_main: see kc_redis.h */
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
