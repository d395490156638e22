/* kclassify-bench reports: summary.json, requests.csv, time series, gnuplot
 * plots (PNG + SVG) and an index.html that works offline. */
#include "bench.h"

#include "kc_err.h"
#include "kc_types.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCATTER_POINTS 20000 /* requests drawn in the latency plot at most */

/* ------------------------------------------------------------------ helpers */

int bench_mkdirs(const char *path)
{
    char tmp[1024];

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

void bench_machine(char *buf, size_t size)
{
    char line[256], cpu[128] = "unknown";
    long mem_kb = 0;
    FILE *fp = fopen("/proc/cpuinfo", "r");

    while (fp && fgets(line, sizeof(line), fp)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && c) {
            snprintf(cpu, sizeof(cpu), "%s", c + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    }
    if (fp) {
        fclose(fp);
    }
    if ((fp = fopen("/proc/meminfo", "r"))) {
        if (fscanf(fp, "MemTotal: %ld kB", &mem_kb) != 1) {
            mem_kb = 0;
        }
        fclose(fp);
    }
    snprintf(buf, size, "nproc %ld, %s, %.1f GiB memory", sysconf(_SC_NPROCESSORS_ONLN), cpu,
             (double)mem_kb / (1024.0 * 1024.0));
}

static void date_iso(int64_t wall_us, char *buf, size_t size)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return fopen(path, "w");
}

/* ------------------------------------------------------------------ summary.json */

static json_t *json_load_conf(const bench_load_t *ld)
{
    json_t *o = json_object();

    json_object_set_new(o, "pattern", json_string(bench_pattern_name(ld->pattern)));
    json_object_set_new(o, "rate", json_real(ld->rate));
    json_object_set_new(o, "peak", json_real(ld->peak));
    json_object_set_new(o, "duration_s", json_real(ld->duration_s));
    json_object_set_new(o, "period_s", json_real(ld->period_s));
    json_object_set_new(o, "seed", json_integer((json_int_t)ld->seed));
    json_object_set_new(o, "count", json_integer((json_int_t)ld->count));
    json_object_set_new(o, "queries_file",
                        ld->queries_file ? json_string(ld->queries_file) : json_null());
    json_object_set_new(o, "distinct", json_integer((json_int_t)ld->distinct));
    json_object_set_new(o, "zipf", json_real(ld->zipf));
    json_object_set_new(o, "repeat", ld->repeat >= 0 ? json_real(ld->repeat) : json_null());
    json_object_set_new(o, "priority_mix",
                        json_pack("[fff]", ld->prio[0], ld->prio[1], ld->prio[2]));
    json_object_set_new(o, "deadline_ms", json_integer(ld->deadline_ms));
    return o;
}

/* The simulator's settings as given; null = the profile's default (its
 * /stats, in results.llm and the simulator log, has the values in force). */
static void json_stack_llm(json_t *o, const bench_stack_opts_t *so)
{
    json_t *args = json_array();

    json_object_set_new(o, "llm_profile", json_string(so->llm_profile));
    json_object_set_new(o, "llm_latency_ms",
                        so->llm_latency_ms >= 0 ? json_real(so->llm_latency_ms) : json_null());
    json_object_set_new(o, "llm_jitter",
                        so->llm_jitter >= 0 ? json_real(so->llm_jitter) : json_null());
    json_object_set_new(o, "llm_max_concurrency",
                        so->llm_max_concurrency >= 0 ? json_integer(so->llm_max_concurrency)
                                                     : json_null());
    for (int i = 0; i < so->llm_arg_cnt; i++) {
        json_array_append_new(args, json_string(so->llm_args[i]));
    }
    json_object_set_new(o, "llm_args", args);
}

static json_t *json_stack_conf(const bench_stack_opts_t *so)
{
    json_t *o = json_object(), *props = json_array();

    if (!so) {
        json_decref(props);
        json_object_set_new(o, "external", json_true());
        return o;
    }
    json_object_set_new(o, "workers", json_integer(so->workers));
    json_object_set_new(o, "partitions", json_integer(so->partitions));
    json_stack_llm(o, so);
    json_object_set_new(o, "redis", json_boolean(so->redis && !so->naive));
    json_object_set_new(o, "lmdb", json_boolean(so->lmdb && !so->naive));
    json_object_set_new(o, "naive", json_boolean(so->naive));
    json_object_set_new(o, "fetch_wait_ms", json_integer(so->fetch_wait_ms));
    for (int i = 0; i < so->prop_cnt; i++) {
        json_array_append_new(props, json_string(so->props[i]));
    }
    for (int i = 0; so->naive && bench_naive_props[i]; i++) {
        json_array_append_new(props, json_string(bench_naive_props[i]));
    }
    json_object_set_new(o, "worker_props", props);
    return o;
}

/* A number, or null when it is not one (no simulator to ask, nothing to divide by). */
static json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_llm(const bench_summary_t *sm)
{
    static const char *const kinds[BENCH_429_CNT] = {"concurrency", "injected",
                                                     "rate_limit_requests", "rate_limit_tokens"};
    json_t *o = json_object(), *by_kind = json_object();

    json_object_set_new(o, "profile",
                        sm->llm_profile[0] ? json_string(sm->llm_profile) : json_null());
    /* The parameters in force, as the simulator reported them: the profile's
     * values with whatever the command line overrode. */
    json_t *cost = sm->llm_cost[0] ? json_loads(sm->llm_cost, 0, NULL) : NULL;
    json_object_set_new(o, "simulator", cost ? cost : json_null());
    json_object_set_new(o, "calls", json_num(sm->llm_calls));
    json_object_set_new(o, "queries", json_num(sm->llm_queries));
    json_object_set_new(o, "distinct_queries", json_num(sm->llm_distinct));
    json_object_set_new(o, "rejected_429", json_num(sm->llm_429));
    for (int k = 0; k < BENCH_429_CNT; k++) {
        json_object_set_new(by_kind, kinds[k], json_num(sm->llm_429_by_kind[k]));
    }
    json_object_set_new(o, "rejected_429_by_kind", by_kind);
    json_object_set_new(o, "prompt_tokens", json_num(sm->prompt_tokens));
    json_object_set_new(o, "cached_tokens", json_num(sm->cached_tokens));
    json_object_set_new(o, "completion_tokens", json_num(sm->completion_tokens));
    json_object_set_new(o, "completion_tokens_per_llm_answered",
                        json_num(sm->completion_per_query));
    json_object_set_new(o, "truncated", json_num(sm->truncated));
    json_object_set_new(o, "llm_answered", json_integer((json_int_t)sm->by_source[KC_SRC_LLM]));
    json_object_set_new(o, "llm_answered_share", json_num(sm->llm_answered_share));
    json_object_set_new(o, "llm_answered_per_s", json_num(sm->llm_answered_rps));
    return o;
}

static json_t *json_results(const bench_summary_t *sm)
{
    static const char *src[KC_SRC__CNT] = {"L1", "LMDB", "REDIS", "LLM", "FALLBACK", "NONE"};
    json_t *by = json_object();

    for (int i = 0; i < KC_SRC__CNT; i++) {
        json_object_set_new(by, src[i], json_integer((json_int_t)sm->by_source[i]));
    }
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:{s:f,s:f,s:f,s:f,s:f,s:f,s:f},"
        "s:I,s:I,s:I,s:f,s:f,s:o,s:f,s:I,s:I,s:I,s:I,"
        "s:o,s:f,s:f,s:f,s:f,s:f,s:f,s:s}",
        "sent", (json_int_t)sm->sent, "answered", (json_int_t)sm->answered, "lost",
        (json_int_t)sm->lost, "delivery_failed", (json_int_t)sm->failed, "duplicates",
        (json_int_t)sm->duplicates, "duration_s", sm->duration_s, "offered_rps", sm->offered_rps,
        "achieved_rps", sm->achieved_rps, "latency_ms", "mean", sm->mean_ms, "p50", sm->p50_ms,
        "p90", sm->p90_ms, "p95", sm->p95_ms, "p99", sm->p99_ms, "p99.9", sm->p999_ms, "max",
        sm->max_ms, "ok", (json_int_t)sm->ok, "degraded", (json_int_t)sm->degraded, "error",
        (json_int_t)sm->error, "success_rate", sm->success_rate, "degraded_rate", sm->degraded_rate,
        "by_source", by, "hit_rate", sm->hit_rate, "coalesced", (json_int_t)sm->coalesced,
        "deadline_met_reported", (json_int_t)sm->deadline_met, "within_deadline_measured",
        (json_int_t)sm->within_deadline, "repeats_sent", (json_int_t)sm->repeats, "llm",
        json_llm(sm), "worker_cpu_s", sm->worker_cpu_s, "worker_peak_rss_mib",
        sm->worker_peak_rss_mb, "worker_l1_entries", sm->worker_l1_entries, "query_bytes_mean",
        sm->query_bytes_mean, "bench_cpu_s", sm->bench_cpu_s, "compliance", sm->compliance, "grade",
        sm->grade);
}

static json_t *json_processes(const bench_result_t *res, const bench_target_t *tg)
{
    json_t *a = json_array();

    for (size_t i = 0; i < res->worker_cnt && i < BENCH_MAX_WORKERS; i++) {
        json_array_append_new(
            a, json_pack("{s:s,s:I,s:f,s:f,s:f}", "name", "worker", "index", (json_int_t)i, "cpu_s",
                         res->w1[i].cpu_s - res->w0[i].cpu_s, "peak_rss_mib",
                         fmax(res->peak_rss[i], res->w1[i].rss_bytes) / 1048576.0, "l1_entries",
                         fmax(res->peak_l1[i], res->w1[i].l1_entries)));
    }
    for (int i = 0; tg->stack && i < tg->stack->proc_cnt; i++) {
        if (res->proc_cpu0[i] >= 0 && res->proc_cpu1[i] >= 0) {
            json_array_append_new(a, json_pack("{s:s,s:f}", "name", tg->stack->procs[i].name,
                                               "cpu_s", res->proc_cpu1[i] - res->proc_cpu0[i]));
        }
    }
    json_array_append_new(
        a, json_pack("{s:s,s:f}", "name", "kclassify-bench", "cpu_s", res->bench_cpu_s));
    return a;
}

static int write_summary(const bench_report_opts_t *ro, const bench_result_t *res,
                         const bench_summary_t *sm, const bench_target_t *tg)
{
    char machine[256], date[64], path[1200];
    json_t *root;
    int rc;

    bench_machine(machine, sizeof(machine));
    date_iso(res->start_wall_us, date, sizeof(date));
    root = json_pack("{s:s,s:s,s:s,s:s?,s:o,s:o,s:o,s:o}", "name", res->load.name, "date", date,
                     "machine", machine, "command", ro->cmdline, "load", json_load_conf(&res->load),
                     "stack", json_stack_conf(ro->stack), "results", json_results(sm), "processes",
                     json_processes(res, tg));
    snprintf(path, sizeof(path), "%s/summary.json", ro->dir);
    rc = root ? json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : -1;
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ data files */

static int write_csv(const char *dir, const bench_result_t *res)
{
    FILE *fp = open_in(dir, "requests.csv");

    if (!fp) {
        return -1;
    }
    fputs("seq,intended_ms,send_lag_us,latency_us,worker_queue_us,worker_total_us,answered,"
          "status,source,coalesced,"
          "deadline_met,priority,query_index,repeat,category,duplicates\n",
          fp);
    for (size_t i = 0; i < res->rec_cnt; i++) {
        const bench_rec_t *r = &res->recs[i];
        bool ans = r->flags & BENCH_F_REPLIED;
        fprintf(fp, "%zu,%.3f,%d,%lld,%d,%d,%d,%s,%s,%d,%d,%s,%u,%d,%d,%u\n", i,
                (double)r->intended_us / 1000.0, r->send_lag_us,
                ans ? (long long)(r->reply_us - r->intended_us) : -1LL, ans ? r->w_queue_us : -1,
                ans ? r->w_total_us : -1, ans, ans ? kc_status_name(r->status) : "",
                ans ? kc_source_name(r->source) : "", (r->flags & BENCH_F_COALESCED) != 0,
                (r->flags & BENCH_F_DEADLINE) != 0, kc_priority_name(r->prio), r->qidx,
                (r->flags & BENCH_F_REPEAT) != 0, r->category, r->dups);
    }
    return fclose(fp);
}

typedef struct second_s {
    kc_hist_t *h;
    uint64_t offered, replies, hits, degraded;
} second_t;

static void series_fill(const bench_result_t *res, second_t *sec, size_t n)
{
    for (size_t i = 0; i < res->rec_cnt; i++) {
        const bench_rec_t *r = &res->recs[i];
        size_t s = (size_t)(r->intended_us / 1000000);
        if (s < n) {
            sec[s].offered++;
        }
        if (!(r->flags & BENCH_F_REPLIED)) {
            continue;
        }
        if (s < n && sec[s].h) {
            kc_hist_record(sec[s].h, r->reply_us - r->intended_us);
        }
        size_t rs = (size_t)(r->reply_us / 1000000);
        if (rs < n) {
            sec[rs].replies++;
            sec[rs].hits +=
                r->source == KC_SRC_L1 || r->source == KC_SRC_LMDB || r->source == KC_SRC_REDIS;
            sec[rs].degraded += r->status == KC_STATUS_DEGRADED;
        }
    }
}

/* timeseries.tsv: per second; latencies by intended second, the rest by reply second. */
static int write_series(const char *dir, const bench_result_t *res)
{
    size_t n = (size_t)(res->end_us / 1000000) + 1;
    second_t *sec = calloc(n, sizeof(*sec));
    FILE *fp = open_in(dir, "timeseries.tsv");

    if (!sec || !fp) {
        free(sec);
        return fp ? fclose(fp), -1 : -1;
    }
    for (size_t s = 0; s < n; s++) {
        sec[s].h = kc_hist_new();
    }
    series_fill(res, sec, n);
    fputs("# t_s\toffered_rps\tachieved_rps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\thit_pct\t"
          "degraded_pct\n",
          fp);
    for (size_t s = 0; s < n; s++) {
        bool lat = sec[s].h && kc_hist_count(sec[s].h) > 0;
        fprintf(fp, "%zu.5\t%llu\t%llu\t", s, (unsigned long long)sec[s].offered,
                (unsigned long long)sec[s].replies);
        if (lat) {
            fprintf(fp, "%.3f\t%.3f\t%.3f\t%.3f\t", kc_hist_percentile(sec[s].h, 50) / 1000.0,
                    kc_hist_percentile(sec[s].h, 90) / 1000.0,
                    kc_hist_percentile(sec[s].h, 99) / 1000.0, kc_hist_max(sec[s].h) / 1000.0);
        } else {
            fputs("?\t?\t?\t?\t", fp);
        }
        if (sec[s].replies) {
            fprintf(fp, "%.2f\t%.2f\n", 100.0 * (double)sec[s].hits / (double)sec[s].replies,
                    100.0 * (double)sec[s].degraded / (double)sec[s].replies);
        } else {
            fputs("?\t?\n", fp);
        }
        kc_hist_destroy(sec[s].h);
    }
    free(sec);
    return fclose(fp);
}

static int write_scatter(const char *dir, const bench_result_t *res)
{
    size_t step = res->rec_cnt / SCATTER_POINTS + 1;
    FILE *fp = open_in(dir, "scatter.tsv");

    if (!fp) {
        return -1;
    }
    for (size_t i = 0; i < res->rec_cnt; i += step) {
        const bench_rec_t *r = &res->recs[i];
        if (r->flags & BENCH_F_REPLIED) {
            fprintf(fp, "%.4f\t%.3f\n", (double)r->intended_us / 1e6,
                    (double)(r->reply_us - r->intended_us) / 1000.0);
        }
    }
    return fclose(fp);
}

/* HdrHistogram's percentile distribution: x = 1/(1-p), 5 points per decade. */
static int write_percentiles(const char *dir, const kc_hist_t *h)
{
    FILE *fp = open_in(dir, "percentiles.tsv");
    uint64_t n = h ? kc_hist_count(h) : 0;

    if (!fp) {
        return -1;
    }
    fputs("# percentile\tlatency_ms\tinv_tail\n", fp);
    for (int i = 0; n > 0 && i <= 30; i++) {
        double inv = pow(10, i / 5.0), p = 100.0 * (1 - 1 / inv);
        if (inv > (double)n * 2) {
            break; /* beyond what the sample resolves */
        }
        fprintf(fp, "%.5f\t%.3f\t%.3f\n", p, kc_hist_percentile(h, p) / 1000.0, inv);
    }
    if (n > 0) {
        fprintf(fp, "100\t%.3f\t%.3f\n", kc_hist_max(h) / 1000.0, (double)n * 2);
    }
    return fclose(fp);
}

/* ------------------------------------------------------------------ plots */

static const char plot_script[] =
    "set datafile separator \"\\t\"\n"
    "set datafile missing \"?\"\n"
    "set grid\n"
    "set key top left\n"
    "fmts = \"png svg\"\n"
    "do for [i=1:2] {\n"
    "  f = word(fmts, i)\n"
    "  if (f eq \"png\") { set terminal png size 960,540 } else { set terminal svg size 960,540 }\n"
    "  set output \"latency.\".f\n"
    "  set title \"Latency over time (send-to-reply from the intended send time)\"\n"
    "  set xlabel \"time (s)\"; set ylabel \"latency (ms)\"; set logscale y\n"
    "  plot \"scatter.tsv\" using 1:2 with points pt 7 ps 0.2 lc rgb \"#a0a0d0\" title "
    "\"requests (sample)\", \\\n"
    "       \"timeseries.tsv\" using 1:4 with lines lw 2 lc rgb \"#2060c0\" title \"p50\", \\\n"
    "       \"timeseries.tsv\" using 1:6 with lines lw 2 lc rgb \"#d03020\" title \"p99\"\n"
    "  unset logscale y\n"
    "  set output \"percentiles.\".f\n"
    "  set title \"Latency by percentile\"\n"
    "  set logscale x; set logscale y\n"
    "  set xlabel \"percentile\"; set ylabel \"latency (ms)\"\n"
    "  set xtics (\"0%%%%\" 1, \"90%%%%\" 10, \"99%%%%\" 100, \"99.9%%%%\" 1000, \"99.99%%%%\" "
    "10000, "
    "\"99.999%%%%\" 100000)\n"
    "  plot \"percentiles.tsv\" using 3:2 with linespoints lw 2 pt 7 title \"%s\"\n"
    "  unset logscale x; unset logscale y; set xtics autofreq\n"
    "  set output \"throughput.\".f\n"
    "  set title \"Throughput\"; set xlabel \"time (s)\"; set ylabel \"requests/s\"\n"
    "  plot \"timeseries.tsv\" using 1:2 with steps lw 2 title \"offered (by send time)\", \\\n"
    "       \"timeseries.tsv\" using 1:3 with steps lw 2 title \"achieved (replies by arrival)\"\n"
    "  set output \"hitrate.\".f\n"
    "  set title \"Cache hit rate and degraded replies\"; set ylabel \"%% of replies\"\n"
    "  set yrange [0:105]\n"
    "  plot \"timeseries.tsv\" using 1:8 with lines lw 2 title \"cache hits (L1/LMDB/Redis)\", \\\n"
    "       \"timeseries.tsv\" using 1:9 with lines lw 2 title \"degraded\"\n"
    "  set autoscale y\n"
    "}\n";

static int run_gnuplot(const char *dir)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        int fd;
        if (chdir(dir) != 0) {
            _exit(126);
        }
        fd = open("gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int write_plots(const char *dir, const char *name)
{
    FILE *fp = open_in(dir, "plots.gp");

    if (!fp) {
        return -1;
    }
    fprintf(fp, plot_script, name);
    fclose(fp);
    return run_gnuplot(dir);
}

/* ------------------------------------------------------------------ index.html */

static void html_row(FILE *fp, const char *k, const char *fmt, double v)
{
    fprintf(fp, "<tr><th>%s</th><td>", k);
    fprintf(fp, fmt, v);
    fputs("</td></tr>\n", fp);
}

static int write_html(const bench_report_opts_t *ro, const bench_result_t *res,
                      const bench_summary_t *sm, bool plots)
{
    static const char *imgs[] = {"latency", "percentiles", "throughput", "hitrate"};
    char machine[256], date[64];
    FILE *fp = open_in(ro->dir, "index.html");

    if (!fp) {
        return -1;
    }
    bench_machine(machine, sizeof(machine));
    date_iso(res->start_wall_us, date, sizeof(date));
    fprintf(fp,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>kclassify-bench: "
            "%s</title><style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
            "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 8px;"
            "text-align:left}code{background:#eee}</style></head><body>\n"
            "<h1>kclassify-bench: %s</h1>\n<p>%s &middot; %s</p>\n<p><code>%s</code></p>\n"
            "<table>\n",
            res->load.name, res->load.name, date, machine, ro->cmdline ? ro->cmdline : "");
    html_row(fp, "sent", "%.0f", (double)sm->sent);
    html_row(fp, "answered / lost / duplicates", "%.0f", (double)sm->answered);
    fprintf(fp, "<tr><th></th><td>lost %llu, duplicates %llu</td></tr>\n",
            (unsigned long long)sm->lost, (unsigned long long)sm->duplicates);
    html_row(fp, "offered req/s", "%.1f", sm->offered_rps);
    html_row(fp, "achieved req/s", "%.1f", sm->achieved_rps);
    html_row(fp, "latency mean ms", "%.2f", sm->mean_ms);
    html_row(fp, "p50 ms", "%.2f", sm->p50_ms);
    html_row(fp, "p90 ms", "%.2f", sm->p90_ms);
    html_row(fp, "p95 ms", "%.2f", sm->p95_ms);
    html_row(fp, "p99 ms", "%.2f", sm->p99_ms);
    html_row(fp, "p99.9 ms", "%.2f", sm->p999_ms);
    html_row(fp, "max ms", "%.2f", sm->max_ms);
    html_row(fp, "success %", "%.2f", 100 * sm->success_rate);
    html_row(fp, "degraded %", "%.2f", 100 * sm->degraded_rate);
    html_row(fp, "cache hit %", "%.1f", 100 * sm->hit_rate);
    fprintf(fp, "<tr><th>LLM profile</th><td>%s</td></tr>\n",
            sm->llm_profile[0] ? sm->llm_profile : "?");
    html_row(fp, "LLM calls", "%.0f", sm->llm_calls);
    html_row(fp, "LLM queries", "%.0f", sm->llm_queries);
    html_row(fp, "LLM-answered % of replies", "%.1f", 100 * sm->llm_answered_share);
    html_row(fp, "LLM-answered replies/s", "%.1f", sm->llm_answered_rps);
    html_row(fp, "completion tokens per LLM-answered reply", "%.1f", sm->completion_per_query);
    html_row(fp, "prompt tokens", "%.0f", sm->prompt_tokens);
    html_row(fp, "cached prompt tokens", "%.0f", sm->cached_tokens);
    html_row(fp, "LLM 429s", "%.0f", sm->llm_429);
    html_row(fp, "truncated answers", "%.0f", sm->truncated);
    html_row(fp, "worker CPU s", "%.2f", sm->worker_cpu_s);
    html_row(fp, "worker peak RSS MiB", "%.1f", sm->worker_peak_rss_mb);
    html_row(fp, "bench CPU s", "%.2f", sm->bench_cpu_s);
    fprintf(fp, "</table>\n");
    for (size_t i = 0; plots && i < sizeof(imgs) / sizeof(imgs[0]); i++) {
        fprintf(fp, "<h2>%s</h2><a href=\"%s.png\"><img src=\"%s.svg\" width=\"960\"></a>\n",
                imgs[i], imgs[i], imgs[i]);
    }
    if (!plots) {
        fputs("<p>No plots: gnuplot was not found or failed (see gnuplot.log).</p>\n", fp);
    }
    fprintf(fp,
            "<p>Data: <a href=\"summary.json\">summary.json</a> &middot; "
            "<a href=\"timeseries.tsv\">timeseries.tsv</a> &middot; "
            "<a href=\"percentiles.tsv\">percentiles.tsv</a>%s</p></body></html>\n",
            ro->csv ? " &middot; <a href=\"requests.csv\">requests.csv</a>" : "");
    return fclose(fp);
}

int bench_report_write(const bench_report_opts_t *ro, const bench_result_t *res,
                       const bench_summary_t *sm, const bench_target_t *tg, char *errstr,
                       size_t errstr_size)
{
    bool plots = false;

    if (bench_mkdirs(ro->dir) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "mkdir %s: %s", ro->dir, strerror(errno));
    }
    if (write_summary(ro, res, sm, tg) != 0 || (ro->csv && write_csv(ro->dir, res) != 0) ||
        write_series(ro->dir, res) != 0 || write_scatter(ro->dir, res) != 0 ||
        write_percentiles(ro->dir, res->hist) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "writing the report in %s: %s", ro->dir,
                         strerror(errno));
    }
    if (ro->plots) {
        plots = write_plots(ro->dir, res->load.name) == 0;
        if (!plots) {
            fprintf(stderr, "%% plots for %s failed: see %s/gnuplot.log\n", res->load.name,
                    ro->dir);
        }
    }
    if (write_html(ro, res, sm, plots) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "index.html: %s", strerror(errno));
    }
    return 0;
}

int bench_report_index(const char *dir, const char *title, char **names, bench_summary_t *sms,
                       size_t cnt, const char *extra_html)
{
    FILE *fp = open_in(dir, "index.html");

    if (!fp) {
        return -1;
    }
    fprintf(fp,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
            "collapse}th,td{border:1px solid #ccc;padding:2px 8px}</style></head><body>\n"
            "<h1>%s</h1>\n%s\n<table><tr><th>run</th><th>sent</th><th>lost</th><th>req/s</th>"
            "<th>mean ms</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>hit %%</th>"
            "<th>degraded %%</th><th>LLM calls</th><th>grade</th></tr>\n",
            title, title, extra_html ? extra_html : "");
    for (size_t i = 0; i < cnt; i++) {
        const bench_summary_t *s = &sms[i];
        fprintf(fp,
                "<tr><td><a href=\"%s/index.html\">%s</a></td><td>%llu</td><td>%llu</td>"
                "<td>%.0f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td>"
                "<td>%.1f</td><td>%.2f</td><td>%.0f</td><td>%s</td></tr>\n",
                names[i], names[i], (unsigned long long)s->sent, (unsigned long long)s->lost,
                s->achieved_rps, s->mean_ms, s->p50_ms, s->p95_ms, s->p99_ms, s->max_ms,
                100 * s->hit_rate, 100 * s->degraded_rate, s->llm_calls, s->grade);
    }
    fputs("</table></body></html>\n", fp);
    return fclose(fp);
}
