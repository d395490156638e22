/*
 * Unit tests for libcore/cache/kc_redis_tls.c: Redis over TLS through the relay
 * thread, and kc_redis with rediss:// URLs.
 *
 * "pure" needs nothing. "conf" loads certificate files made by
 * tests/integration/tls_certs.sh (the openssl CLI) into a temp directory.
 * "connect" uses fake listeners and a plain redis-server; "server" forks
 * its own redis-server 7 with --tls-port on a free loopback port.
 */
#define _GNU_SOURCE
#include "kc_err.h"
#include "kc_redis.h"
#include "kc_redis_tls.h"
#include "kc_time.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
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
static char certs[256]; /* tls_certs.sh output, made once in main() */

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */
/* ------------------------------------------------------------------------- */

static const char *cert(const char *name)
{
    static char paths[8][320];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, sizeof(paths[0]), "%s/%s", certs, name);
    return p;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                      getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
                  "free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listening socket that never accepts: the kernel completes TCP
 * handshakes, nobody speaks TLS. */
static int silent_listener(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                      listen(fd, 16) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
                  "listener: %s", strerror(errno));
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool port_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* redis-server on a free loopback port: TLS only (--port 0) unless plain.
 * auth_clients: "no", "yes" (mutual TLS) or "optional". cert_name: the
 * server certificate's base name in certs. Dies with the test process. */
static pid_t srv_start(int port, bool plain, const char *auth_clients, const char *cert_name)
{
    char port_s[16], crt[320], key[320];
    const char *argv[32] = {"redis-server", "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no",     "--dir",     "/tmp"};
    int argc = 9;
    int64_t until = kc_mono_us() + 5000 * MS;
    pid_t pid;

    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(crt, sizeof(crt), "%s/%s.crt", certs, cert_name);
    snprintf(key, sizeof(key), "%s/%s.key", certs, cert_name);
    if (plain) {
        argv[argc++] = "--port";
        argv[argc++] = port_s;
    } else {
        const char *tls[] = {"--port",
                             "0",
                             "--tls-port",
                             port_s,
                             "--tls-cert-file",
                             crt,
                             "--tls-key-file",
                             key,
                             "--tls-ca-cert-file",
                             cert("ca.crt"),
                             "--tls-auth-clients",
                             auth_clients};
        for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++) {
            argv[argc++] = tls[i];
        }
    }
    argv[argc] = NULL;
    pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    while (!port_open(port)) {
        ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0,
                      "redis-server (TLS port %d) exited at startup", port);
        ck_assert_msg(kc_mono_us() < until, "redis-server on port %d not up within 5 s", port);
        usleep(20 * 1000);
    }
    return pid;
}

static void srv_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static kc_redis_tls_conf_t conf_ca(const char *ca)
{
    kc_redis_tls_conf_t conf = KC_REDIS_TLS_CONF_DEFAULT;
    conf.ca_location = ca ? cert(ca) : NULL;
    return conf;
}

static kc_redis_t *tls_client(const char *host, int port, const kc_redis_tls_conf_t *conf,
                              int timeout_ms)
{
    char url[128];
    kc_redis_t *rd;

    snprintf(url, sizeof(url), "rediss://%s:%d/0", host, port);
    rd = kc_redis_new(url, "tlstest:", timeout_ms, timeout_ms, conf, errstr, sizeof(errstr));
    ck_assert_msg(rd != NULL, "kc_redis_new(%s): %s", url, errstr);
    return rd;
}

static kc_key_t key_of(const char *s)
{
    return kc_key_compute(s, strlen(s), 7);
}

/* Write n values of vlen bytes, read them back in one MGET. Large batches
 * push many TLS records each way through the relay at once. */
static void assert_roundtrip(kc_redis_t *rd, const char *what, size_t n, size_t vlen)
{
    kc_key_t *keys = calloc(n, sizeof(*keys));
    kc_buf_t *vals = calloc(n, sizeof(*vals)), *got = calloc(n, sizeof(*got));
    bool *found = calloc(n, sizeof(*found));
    char *v = malloc(vlen), name[96];
    int rc;

    ck_assert_msg(keys && vals && got && found && v, "calloc");
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s-%zu", what, i);
        keys[i] = key_of(name);
        memset(v, 'a' + (int)(i % 26), vlen);
        memcpy(v, name, strlen(name) < vlen ? strlen(name) : vlen);
        kc_buf_init(&vals[i]);
        kc_buf_init(&got[i]);
        ck_assert_msg(kc_buf_append(&vals[i], v, vlen) == 0, "kc_buf_append");
    }
    rc = kc_redis_set_many(rd, keys, vals, n, 60, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%s: set_many of %zu: %s (%s)", what, n, kc_strerror(rc), errstr);
    rc = kc_redis_mget(rd, keys, n, got, found, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%s: mget of %zu: %s (%s)", what, n, kc_strerror(rc), errstr);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(found[i] && got[i].len == vlen &&
                          memcmp(got[i].data, vals[i].data, vlen) == 0,
                      "%s: value %zu read back differs", what, i);
        kc_buf_free(&vals[i]);
        kc_buf_free(&got[i]);
    }
    free(keys);
    free(vals);
    free(got);
    free(found);
    free(v);
}

static int64_t timed_ping(kc_redis_t *rd, int *rc)
{
    int64_t t0 = kc_mono_us();
    *rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    return (kc_mono_us() - t0) / 1000;
}

/* ------------------------------------------------------------------------- */
/* pure                                                                       */
/* ------------------------------------------------------------------------- */

START_TEST(test_host_is_ip)
{
    const char *ips[] = {"127.0.0.1", "10.1.2.3", "::1", "fe80::1%eth0", "2001:db8::7"};
    const char *names[] = {"localhost", "redis-1.example.com", "1.2.3", "", "10.0.0.1.nip.io"};

    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        ck_assert_msg(kc_redis_tls_host_is_ip(ips[i]), "'%s' is an IP literal", ips[i]);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ck_assert_msg(!kc_redis_tls_host_is_ip(names[i]), "'%s' is not an IP literal", names[i]);
    }
    ck_assert_msg(!kc_redis_tls_host_is_ip(NULL), "NULL is not an IP");
}
END_TEST

/* ------------------------------------------------------------------------- */
/* conf: loading the files                                                    */
/* ------------------------------------------------------------------------- */

static void assert_ctx_fails(const kc_redis_tls_conf_t *conf, const char *want, const char *what)
{
    kc_redis_tls_ctx_t *tctx = kc_redis_tls_ctx_new(conf, errstr, sizeof(errstr));

    ck_assert_msg(tctx == NULL, "%s: should be refused", what);
    ck_assert_msg(strstr(errstr, want) != NULL, "%s: error '%s' should mention '%s'", what, errstr,
                  want);
}

START_TEST(test_conf_errors)
{
    kc_redis_tls_conf_t conf = KC_REDIS_TLS_CONF_DEFAULT;
    char url[64];

    conf.ca_location = "/nonexistent/ca.pem";
    assert_ctx_fails(&conf, "/nonexistent/ca.pem", "missing CA file");
    conf.ca_location = cert("server.key"); /* a key, not a certificate */
    assert_ctx_fails(&conf, "cannot load CA file", "CA file without certificates");
    conf.ca_location = cert("ca.crt");
    conf.cert_location = cert("client.crt");
    assert_ctx_fails(&conf, "set both or neither", "certificate without key");
    conf.key_location = cert("server.key");
    assert_ctx_fails(&conf, "mismatch", "certificate with another key");
    conf.cert_location = cert("nope.crt");
    assert_ctx_fails(&conf, "nope.crt", "missing client certificate");

    /* kc_redis_new loads the files: a bad one is a configuration error. */
    conf.cert_location = conf.key_location = NULL;
    conf.ca_location = "/nonexistent/ca.pem";
    ck_assert_msg(
        kc_redis_new("rediss://127.0.0.1:1", NULL, 100, 100, &conf, errstr, sizeof(errstr)) == NULL,
        "kc_redis_new with a missing CA file must fail");
    ck_assert_msg(strstr(errstr, "ca.location") != NULL, "error should name the key: %s", errstr);
    /* ... but only for rediss://: other URLs ignore the TLS settings. */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
    kc_redis_destroy(kc_redis_new(url, NULL, 100, 100, &conf, errstr, sizeof(errstr)));
}
END_TEST

START_TEST(test_conf_ok)
{
    kc_redis_tls_conf_t conf = KC_REDIS_TLS_CONF_DEFAULT;
    kc_redis_tls_ctx_t *tctx;
    kc_redis_t *rd;

    tctx = kc_redis_tls_ctx_new(NULL, errstr, sizeof(errstr));
    ck_assert_msg(tctx != NULL, "defaults (system CA store): %s", errstr);
    kc_redis_tls_ctx_destroy(tctx);
    conf.ca_location = cert("cadir");
    conf.cert_location = cert("client.crt");
    conf.key_location = cert("client.key");
    tctx = kc_redis_tls_ctx_new(&conf, errstr, sizeof(errstr));
    ck_assert_msg(tctx != NULL, "CA directory and client certificate: %s", errstr);
    kc_redis_tls_ctx_destroy(tctx);
    kc_redis_tls_ctx_destroy(NULL);
    kc_redis_tls_destroy(NULL);

    rd = kc_redis_new("rediss://:pw@127.0.0.1:6390/4", NULL, 100, 100, &conf, errstr,
                      sizeof(errstr));
    ck_assert_msg(rd != NULL, "rediss client: %s", errstr);
    ck_assert_msg(strcmp(kc_redis_endpoint(rd), "tls:127.0.0.1:6390/4") == 0, "endpoint '%s'",
                  kc_redis_endpoint(rd));
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_IDLE, "kc_redis_new must not connect");
    kc_redis_destroy(rd);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* connect: failures before or during the handshake                           */
/* ------------------------------------------------------------------------- */

START_TEST(test_connect_refused_and_silent)
{
    kc_redis_tls_conf_t conf = conf_ca("ca.crt");
    kc_redis_tls_ctx_t *tctx = kc_redis_tls_ctx_new(&conf, errstr, sizeof(errstr));
    kc_redis_tls_t *tls = NULL;
    int fd = -1, port, lfd, rc;
    int64_t t0, ms;

    ck_assert_msg(tctx != NULL, "ctx: %s", errstr);
    t0 = kc_mono_us();
    rc = kc_redis_tls_new(tctx, "127.0.0.1", free_port(), 300, &tls, &fd, errstr, sizeof(errstr));
    ms = (kc_mono_us() - t0) / 1000;
    ck_assert_msg(rc == KC_ERR_IO && tls == NULL && fd == -1,
                  "closed port: want KC_ERR_IO and no relay, got %s (%s)", kc_strerror(rc), errstr);
    ck_assert_msg(strstr(errstr, "connect") && ms < 2000, "closed port: '%s' after %lld ms", errstr,
                  (long long)ms);

    lfd = silent_listener(&port);
    t0 = kc_mono_us();
    rc = kc_redis_tls_new(tctx, "127.0.0.1", port, 250, &tls, &fd, errstr, sizeof(errstr));
    ms = (kc_mono_us() - t0) / 1000;
    ck_assert_msg(rc == KC_ERR_TIMEOUT, "silent server: want KC_ERR_TIMEOUT, got %s (%s)",
                  kc_strerror(rc), errstr);
    ck_assert_msg(strstr(errstr, "handshake timed out") != NULL, "error: %s", errstr);
    ck_assert_msg(ms >= 200 && ms < 250 + 2000, "the handshake wait took %lld ms, timeout 250",
                  (long long)ms);
    ck_assert_msg(kc_redis_tls_new(tctx, "", port, 250, &tls, &fd, errstr, sizeof(errstr)) ==
                      KC_ERR_INVALID,
                  "an empty host must be refused");
    close(lfd);
    kc_redis_tls_ctx_destroy(tctx);
}
END_TEST

START_TEST(test_connect_plain_server)
{
    int port = free_port(), rc;
    pid_t pid = srv_start(port, true, NULL, NULL);
    kc_redis_tls_conf_t conf = conf_ca("ca.crt");
    kc_redis_t *rd = tls_client("127.0.0.1", port, &conf, 1000);

    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "TLS handshake") != NULL,
                  "TLS to a plain Redis port: want a handshake error, got %s (%s)", kc_strerror(rc),
                  errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "a failed handshake means down");
    kc_redis_destroy(rd);
    srv_stop(pid);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* server: a TLS redis-server                                                 */
/* ------------------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    int port = free_port();
    pid_t pid = srv_start(port, false, "no", "server");
    kc_redis_tls_conf_t conf = conf_ca("ca.crt");
    kc_redis_t *rd = tls_client("127.0.0.1", port, &conf, 2000);
    kc_key_t k = key_of("lease");
    kc_redis_stats_t st;
    size_t released = 0;
    bool got = false;

    assert_roundtrip(rd, "small", 3, 100);
    /* 1000 x 1 KiB: about 1 MB each way, many 16 KiB relay chunks. */
    assert_roundtrip(rd, "large", 1000, 1024);
    ck_assert_msg(
        kc_redis_lease_acquire(rd, &k, 1, 5000, "me", &got, errstr, sizeof(errstr)) == 0 && got,
        "lease over TLS: %s", errstr);
    ck_assert_msg(kc_redis_lease_release(rd, &k, 1, "me", &released, errstr, sizeof(errstr)) == 0 &&
                      released == 1,
                  "lease release (EVAL) over TLS: %s", errstr);
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.connects == 1 && st.connect_failures == 0, "connects %llu failures %llu",
                  (unsigned long long)st.connects, (unsigned long long)st.connect_failures);
    kc_redis_destroy(rd); /* with the relay running: must join it, no leak */

    /* By name: SNI and DNS-name verification; CA as a hashed directory. */
    conf = conf_ca("cadir");
    rd = tls_client("localhost", port, &conf, 2000);
    assert_roundtrip(rd, "by name", 2, 10);
    kc_redis_destroy(rd);
    srv_stop(pid);
}
END_TEST

START_TEST(test_verify_failures)
{
    int port = free_port(), wport = free_port(), rc;
    pid_t pid = srv_start(port, false, "no", "server");
    pid_t wpid = srv_start(wport, false, "no", "wrongname");
    kc_redis_tls_conf_t conf = conf_ca("other-ca.crt");
    kc_redis_t *rd = tls_client("127.0.0.1", port, &conf, 2000);

    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "certificate verification failed") != NULL,
                  "unknown CA: want a verification error, got %s (%s)", kc_strerror(rc), errstr);
    ck_assert_msg(strstr(kc_redis_last_error(rd), "certificate") != NULL, "last error: %s",
                  kc_redis_last_error(rd));
    kc_redis_destroy(rd);

    conf = conf_ca("ca.crt");
    rd = tls_client("127.0.0.1", wport, &conf, 2000);
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "mismatch") != NULL,
                  "certificate for another name: want a mismatch error, got %s (%s)",
                  kc_strerror(rc), errstr);
    kc_redis_destroy(rd);

    conf = conf_ca("other-ca.crt");
    conf.verify = false; /* tests only: anything goes */
    rd = tls_client("127.0.0.1", wport, &conf, 2000);
    assert_roundtrip(rd, "verify off", 2, 10);
    kc_redis_destroy(rd);
    srv_stop(wpid);
    srv_stop(pid);
}
END_TEST

START_TEST(test_mutual_tls)
{
    int port = free_port(), rc;
    pid_t pid = srv_start(port, false, "yes", "server");
    kc_redis_tls_conf_t conf = conf_ca("ca.crt");
    kc_redis_t *rd = tls_client("127.0.0.1", port, &conf, 2000);

    /* TLS 1.3: our handshake completes; the server's alert comes with the
     * first reply, through the relay. */
    rc = kc_redis_ping(rd, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "certificate required") != NULL,
                  "no client certificate: want 'certificate required', got %s (%s)",
                  kc_strerror(rc), errstr);
    ck_assert_msg(kc_redis_state(rd) == KC_REDIS_DOWN, "the connection must be dropped");
    kc_redis_destroy(rd);

    conf.cert_location = cert("client.crt");
    conf.key_location = cert("client.key");
    rd = tls_client("127.0.0.1", port, &conf, 2000);
    assert_roundtrip(rd, "mutual TLS", 5, 100);
    kc_redis_destroy(rd);
    srv_stop(pid);
}
END_TEST

START_TEST(test_server_stall_and_restart)
{
    int port = free_port(), rc;
    pid_t pid = srv_start(port, false, "no", "server");
    kc_redis_tls_conf_t conf = conf_ca("ca.crt");
    kc_redis_t *rd = tls_client("127.0.0.1", port, &conf, 300);
    kc_redis_stats_t st;
    int64_t ms, t0;

    kc_redis_backoff_set(rd, 50, 100);
    assert_roundtrip(rd, "before", 2, 10);

    /* A stalled server: hiredis' command timeout works on the socketpair. */
    kill(pid, SIGSTOP);
    ms = timed_ping(rd, &rc);
    kill(pid, SIGCONT);
    ck_assert_msg(rc == KC_ERR_IO && strstr(errstr, "timed out"), "stalled server: %s (%s)",
                  kc_strerror(rc), errstr);
    ck_assert_msg(ms >= 250 && ms < 300 + 2000, "the stalled call took %lld ms, timeout 300",
                  (long long)ms);

    /* A dead server: the relay sees EOF and closes hiredis' end at once. */
    usleep(150 * 1000);
    ck_assert_msg(kc_redis_ping(rd, errstr, sizeof(errstr)) == 0, "reconnect: %s", errstr);
    srv_stop(pid);
    ms = timed_ping(rd, &rc);
    ck_assert_msg(rc == KC_ERR_IO && ms < 2000, "dead server: %s after %lld ms (%s)",
                  kc_strerror(rc), (long long)ms, errstr);

    pid = srv_start(port, false, "no", "server");
    t0 = kc_mono_us();
    while ((rc = kc_redis_ping(rd, errstr, sizeof(errstr))) != 0 && kc_mono_us() - t0 < 3000 * MS) {
        usleep(10 * 1000);
    }
    ck_assert_msg(rc == 0, "no reconnection to the restarted server within 3 s: %s", errstr);
    assert_roundtrip(rd, "after", 2, 10);
    kc_redis_stats(rd, &st);
    ck_assert_msg(st.connects == 3 && st.reconnects == 2, "connects %llu reconnects %llu",
                  (unsigned long long)st.connects, (unsigned long long)st.reconnects);
    kc_redis_destroy(rd);
    srv_stop(pid);
}
END_TEST

/* ------------------------------------------------------------------------- */

static Suite *redis_tls_suite(void)
{
    Suite *s = suite_create("redis_tls");
    TCase *tc;

    tc = tcase_create("pure");
    tcase_add_test(tc, test_host_is_ip);
    suite_add_tcase(s, tc);

    tc = tcase_create("conf");
    tcase_add_test(tc, test_conf_errors);
    tcase_add_test(tc, test_conf_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_add_test(tc, test_connect_refused_and_silent);
    tcase_add_test(tc, test_connect_plain_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("server");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_verify_failures);
    tcase_add_test(tc, test_mutual_tls);
    tcase_add_test(tc, test_server_stall_and_restart);
    suite_add_tcase(s, tc);
    return s;
}

/* The certificates for every test, once; removed at the end. */
static void certs_make(void)
{
    char cmd[1024];

    snprintf(certs, sizeof(certs), "%s/kc-check-redis-tls.XXXXXX", getenv("TMPDIR") ?: "/tmp");
    if (!mkdtemp(certs)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
    snprintf(cmd, sizeof(cmd), "bash '%s/../integration/tls_certs.sh' '%s'", KC_TEST_DATA, certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "tls_certs.sh failed (is openssl installed?)\n");
        exit(EXIT_FAILURE);
    }
}

int main(void)
{
    SRunner *sr;
    char cmd[512];
    int failed;

    signal(SIGPIPE, SIG_IGN); /* as worker_main: see kc_redis.h */
    certs_make();
    sr = srunner_create(redis_tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", certs);
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
