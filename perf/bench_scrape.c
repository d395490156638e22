/* kclassify-bench: reading the simulator's /stats and the workers' /metrics,
 * and a sampler thread that keeps the peak RSS while a run goes on. */
#define _GNU_SOURCE /* memrchr, memmem */
#include "bench.h"

#include "kc_buf.h"
#include "kc_err.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAMPLE_EVERY_US 200000
#define HTTP_TIMEOUT_MS 2000

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    return kc_buf_append(opaque, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

int bench_http_get(const char *url, char **body, char *errstr, size_t errstr_size)
{
    CURL *c = curl_easy_init();
    kc_buf_t buf;
    CURLcode cc;
    long code = 0;

    *body = NULL;
    if (!c) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "curl_easy_init failed");
    }
    kc_buf_init(&buf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK || code != 200 || kc_buf_append(&buf, "", 0) != 0) {
        kc_buf_free(&buf);
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "GET %s: %s (HTTP %ld)", url,
                         curl_easy_strerror(cc), code);
    }
    *body = buf.data; /* ownership to the caller */
    return 0;
}

/* Prometheus text: `name{labels} value` or `name value`; # lines skipped. */
double bench_prom_value(const char *text, const char *name, const char *label)
{
    size_t nlen = strlen(name);
    double sum = 0;

    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (line[0] != '#' && len > nlen && strncmp(line, name, nlen) == 0 &&
            (line[nlen] == ' ' || line[nlen] == '{')) {
            const char *sp = memrchr(line, ' ', len);
            const char *lab_end = line[nlen] == '{' ? memchr(line, '}', len) : NULL;
            bool match = !label || (lab_end && memmem(line, (size_t)(lab_end - line), label,
                                                      strlen(label)) != NULL);
            if (sp && match) {
                sum += strtod(sp + 1, NULL);
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return sum;
}

int bench_worker_scrape(const char *url, bench_wmetrics_t *m)
{
    char *t;
    char e[256];

    memset(m, 0, sizeof(*m));
    if (bench_http_get(url, &t, e, sizeof(e)) != 0) {
        return KC_ERR_IO;
    }
    m->ok = true;
    m->cpu_s = bench_prom_value(t, "process_cpu_seconds_total", NULL);
    m->rss_bytes = bench_prom_value(t, "process_resident_memory_bytes", NULL);
    m->l1_entries = bench_prom_value(t, "kclassify_l1_entries", NULL);
    m->l1_bytes = bench_prom_value(t, "kclassify_l1_bytes", NULL);
    m->llm_calls = bench_prom_value(t, "kclassify_llm_calls_total", NULL);
    m->llm_queries = bench_prom_value(t, "kclassify_llm_queries_total", NULL);
    m->requests = bench_prom_value(t, "kclassify_requests_total", NULL);
    m->hits_l1 = bench_prom_value(t, "kclassify_cache_hits_total", "\"l1\"");
    m->hits_lmdb = bench_prom_value(t, "kclassify_cache_hits_total", "\"lmdb\"");
    m->hits_redis = bench_prom_value(t, "kclassify_cache_hits_total", "\"redis\"");
    free(t);
    return 0;
}

static double jnum(json_t *root, const char *key)
{
    return json_number_value(json_object_get(root, key));
}

/* Fields of the token-pricing simulator; absent (0, "") from an older one. */
static void sim_scrape_new(json_t *root, bench_simstats_t *s)
{
    static const char *const kinds[BENCH_429_CNT] = {"concurrency", "injected",
                                                     "rate_limit_requests", "rate_limit_tokens"};
    json_t *by_kind = json_object_get(root, "rejected_429_by_kind");
    const char *profile = json_string_value(json_object_get(root, "profile"));

    snprintf(s->profile, sizeof(s->profile), "%s", profile ? profile : "");
    s->has_429_kinds = json_is_object(by_kind);
    for (int k = 0; k < BENCH_429_CNT; k++) {
        s->rejected_by_kind[k] = jnum(by_kind, kinds[k]);
    }
    s->cached_tokens = jnum(root, "cached_tokens");
    s->truncated = jnum(root, "truncated");
    s->max_decoding_seen = jnum(root, "max_decoding_seen");
    char *cost = json_dumps(json_object_get(root, "cost"), JSON_COMPACT);
    if (cost && strlen(cost) < sizeof(s->cost)) {
        memcpy(s->cost, cost, strlen(cost) + 1);
    }
    free(cost);
}

int bench_sim_scrape(const char *base, bench_simstats_t *s)
{
    char url[256], e[256], *t;
    json_t *root;

    memset(s, 0, sizeof(*s));
    snprintf(url, sizeof(url), "%s/stats", base);
    if (bench_http_get(url, &t, e, sizeof(e)) != 0) {
        return KC_ERR_IO;
    }
    root = json_loads(t, 0, NULL);
    free(t);
    if (!root) {
        return KC_ERR_DECODE;
    }
    s->ok = true;
    sim_scrape_new(root, s);
    s->calls = jnum(root, "calls");
    s->ok_calls = jnum(root, "ok_calls");
    s->queries = jnum(root, "queries");
    s->distinct_queries = jnum(root, "distinct_queries");
    s->max_query_repeats = jnum(root, "max_query_repeats");
    s->rejected_429 = jnum(root, "rejected_429");
    s->prompt_tokens = jnum(root, "prompt_tokens");
    s->completion_tokens = jnum(root, "completion_tokens");
    s->max_inflight_seen = jnum(root, "max_inflight_seen");
    json_decref(root);
    return 0;
}

/* ------------------------------------------------------------------ sampler */

static void *sampler_main(void *arg)
{
    bench_sampler_t *sp = arg;
    bench_wmetrics_t m;

    for (;;) {
        pthread_mutex_lock(&sp->lock);
        bool stop = sp->stop;
        pthread_mutex_unlock(&sp->lock);
        if (stop) {
            break;
        }
        for (size_t i = 0; i < sp->cnt; i++) {
            if (bench_worker_scrape(sp->urls[i], &m) != 0) {
                continue;
            }
            pthread_mutex_lock(&sp->lock);
            sp->peak_rss[i] = m.rss_bytes > sp->peak_rss[i] ? m.rss_bytes : sp->peak_rss[i];
            sp->peak_l1[i] = m.l1_entries > sp->peak_l1[i] ? m.l1_entries : sp->peak_l1[i];
            sp->samples++;
            pthread_mutex_unlock(&sp->lock);
        }
        usleep(SAMPLE_EVERY_US);
    }
    return NULL;
}

int bench_sampler_start(bench_sampler_t *sp, char **urls, size_t cnt)
{
    memset(sp, 0, sizeof(*sp));
    pthread_mutex_init(&sp->lock, NULL);
    sp->urls = urls;
    sp->cnt = cnt < BENCH_MAX_WORKERS ? cnt : BENCH_MAX_WORKERS;
    if (sp->cnt == 0) {
        return 0;
    }
    if (pthread_create(&sp->thr, NULL, sampler_main, sp) != 0) {
        return KC_ERR_NOMEM;
    }
    sp->running = true;
    return 0;
}

void bench_sampler_stop(bench_sampler_t *sp)
{
    if (sp->running) {
        pthread_mutex_lock(&sp->lock);
        sp->stop = true;
        pthread_mutex_unlock(&sp->lock);
        pthread_join(sp->thr, NULL);
        sp->running = false;
    }
    pthread_mutex_destroy(&sp->lock);
}

/* utime and stime are fields 14 and 15 of /proc/PID/stat, after the ")" of comm. */
double bench_proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut, st;
    FILE *fp;
    size_t n;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(fp = fopen(path, "r"))) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
