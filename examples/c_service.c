/**
 * c_service: a C service classifying queries through the kcclient library.
 *
 * It shows the whole client lifecycle the way a real service would use it:
 * one kc_client_t shared by several request threads (each calls the blocking
 * kc_client_classify()), plus a burst of kc_client_classify_async() calls
 * whose callbacks run on the client's thread. Every result is checked (a
 * category, status OK or DEGRADED) and printed as a table row.
 *
 *   c_service -b BROKERS [-X key=value]... [--threads N] [--timeout-ms N] [QUERY...]
 *
 * Without QUERY arguments, queries are read from stdin, one per line. Exit
 * status: 0 when every query got a result, 1 otherwise, 2 on bad usage.
 * Built by CMake as build/bin/c_service; link your own service against
 * libkcclient.a and libkccore.a (pkg-config --libs kclassify).
 */
#include "kc_client.h"
#include "kc_err.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROPS 64

typedef struct service_s {
    kc_client_t *cl;
    char **queries;
    size_t cnt;
    int timeout_ms;
    atomic_size_t next; /* the request threads take queries from here */
    atomic_size_t ok, failed;
    pthread_mutex_t out_lock;
    pthread_mutex_t async_lock;
    pthread_cond_t async_cond;
    size_t async_left;
} service_t;

static void print_row(service_t *sv, const char *how, const char *query, int err,
                      const char *errmsg, const kc_result_t *res, int64_t rtt_us)
{
    pthread_mutex_lock(&sv->out_lock);
    if (err == 0) {
        printf("%-5s %-16s %-8s %-8s %7.1f ms  %s\n", how, res->category,
               kc_status_name(res->status), kc_source_name(res->source), (double)rtt_us / 1000,
               query);
    } else {
        printf("%-5s %-16s %-8s %-8s %7s     %s (%s)\n", how, "-", "FAILED", "-", "-", query,
               errmsg);
    }
    fflush(stdout);
    pthread_mutex_unlock(&sv->out_lock);
}

static bool result_ok(const kc_result_t *res)
{
    return res->category && res->category[0] && res->status != KC_STATUS_ERROR;
}

/* ------------------------------------------------------------- sync threads */

static void *request_thread(void *arg)
{
    service_t *sv = arg;
    size_t i;

    while ((i = atomic_fetch_add(&sv->next, 1)) < sv->cnt) {
        kc_request_t req = {.query = sv->queries[i], .query_len = strlen(sv->queries[i])};
        kc_result_t res = {0};
        char errstr[512];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = kc_client_classify(sv->cl, &req, sv->timeout_ms, &res, errstr, sizeof(errstr));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        bool ok = rc == 0 && result_ok(&res);
        print_row(sv, "sync", sv->queries[i], rc, errstr, &res, us);
        atomic_fetch_add(ok ? &sv->ok : &sv->failed, 1);
        kc_result_clear(&res);
    }
    return NULL;
}

/* ---------------------------------------------------------------- async */

typedef struct async_req_s {
    service_t *sv;
    const char *query;
} async_req_t;

/* Runs on the client's thread: keep it short, never block. */
static void on_result(int err, const char *errmsg, kc_result_t *res, int64_t rtt_us, void *opaque)
{
    async_req_t *ar = opaque;
    service_t *sv = ar->sv;

    print_row(sv, "async", ar->query, err, errmsg, res, rtt_us);
    atomic_fetch_add(err == 0 && result_ok(res) ? &sv->ok : &sv->failed, 1);
    free(ar);
    pthread_mutex_lock(&sv->async_lock);
    if (--sv->async_left == 0) {
        pthread_cond_signal(&sv->async_cond);
    }
    pthread_mutex_unlock(&sv->async_lock);
}

static void run_async(service_t *sv)
{
    char errstr[512];

    sv->async_left = sv->cnt;
    for (size_t i = 0; i < sv->cnt; i++) {
        async_req_t *ar = malloc(sizeof(*ar));
        kc_request_t req = {
            .query = sv->queries[i], .query_len = strlen(sv->queries[i]), .priority = KC_PRIO_HIGH};
        if (ar) {
            *ar = (async_req_t){sv, sv->queries[i]};
        }
        if (!ar || kc_client_classify_async(sv->cl, &req, sv->timeout_ms, on_result, ar, errstr,
                                            sizeof(errstr)) != 0) {
            fprintf(stderr, "%% async send failed: %s\n", ar ? errstr : "out of memory");
            free(ar);
            atomic_fetch_add(&sv->failed, 1);
            pthread_mutex_lock(&sv->async_lock);
            sv->async_left--;
            pthread_mutex_unlock(&sv->async_lock);
        }
    }
    pthread_mutex_lock(&sv->async_lock);
    while (sv->async_left > 0) { /* every accepted request gets its callback */
        pthread_cond_wait(&sv->async_cond, &sv->async_lock);
    }
    pthread_mutex_unlock(&sv->async_lock);
}

/* ---------------------------------------------------------------- main */

static int read_queries(service_t *sv)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, stdin)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        char **q = realloc(sv->queries, (sv->cnt + 1) * sizeof(*q));
        if (!q || !(q[sv->cnt] = strdup(line))) {
            free(line);
            return -1;
        }
        sv->queries = q;
        sv->cnt++;
    }
    free(line);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "Usage: c_service -b BROKERS [-X key=value]... [--threads N] "
                    "[--timeout-ms N] [QUERY...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"threads", required_argument, NULL, 'n'},
                                             {"timeout-ms", required_argument, NULL, 'T'},
                                             {NULL, 0, NULL, 0}};
    const char *props[MAX_PROPS * 2 + 1];
    size_t np = 0;
    service_t sv = {.timeout_ms = 30000};
    int threads = 4, c;
    char errstr[512];

    while ((c = getopt_long(argc, argv, "b:X:", longopts, NULL)) != -1) {
        char *eq;
        if (np >= MAX_PROPS * 2 - 2) {
            return usage();
        } else if (c == 'b') {
            props[np++] = "kafka.bootstrap.servers";
            props[np++] = optarg;
        } else if (c == 'X' && (eq = strchr(optarg, '='))) {
            *eq = '\0';
            props[np++] = optarg;
            props[np++] = eq + 1;
        } else if (c == 'n' && (threads = atoi(optarg)) >= 1 && threads <= 64) {
        } else if (c == 'T' && (sv.timeout_ms = atoi(optarg)) > 0) {
        } else {
            return usage();
        }
    }
    props[np] = NULL;
    if (optind < argc) {
        sv.queries = argv + optind;
        sv.cnt = (size_t)(argc - optind);
    } else if (read_queries(&sv) != 0) {
        fprintf(stderr, "%% out of memory\n");
        return 1;
    }

    /* One client for the whole service: one producer, one reply consumer. */
    if (!(sv.cl = kc_client_new_kv(props, NULL, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%% kc_client_new: %s\n", errstr);
        return 2;
    }
    pthread_mutex_init(&sv.out_lock, NULL);
    pthread_mutex_init(&sv.async_lock, NULL);
    pthread_cond_init(&sv.async_cond, NULL);

    pthread_t tid[64];
    for (int i = 0; i < threads; i++) {
        pthread_create(&tid[i], NULL, request_thread, &sv);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    run_async(&sv);

    kc_client_stats_t st;
    kc_client_stats(sv.cl, &st);
    kc_client_destroy(sv.cl);
    printf("%zu of %zu requests answered (%zu sync on %d threads, %zu async), %llu sent, "
           "%llu timed out\n",
           (size_t)sv.ok, sv.cnt * 2, sv.cnt, threads, sv.cnt, (unsigned long long)st.sent,
           (unsigned long long)st.timed_out);
    if (optind >= argc) {
        for (size_t i = 0; i < sv.cnt; i++) {
            free(sv.queries[i]);
        }
        free(sv.queries);
    }
    return sv.failed == 0 && sv.ok == sv.cnt * 2 ? 0 : 1;
}
