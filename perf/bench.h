/**
 * @file bench.h
 * @brief kclassify-bench: shared types of the load generator, stack runner,
 *        reports and validation levels (perf/bench*.c).
 *
 * One run = one load definition (pattern + query mix) sent open-loop to the
 * requests topic while the replies are read back. Every request is recorded
 * (intended send time, actual send time, reply time, what the reply said);
 * all statistics are computed after the run from those records, so the send
 * loop does nothing but encode, produce and decode.
 */
#ifndef KC_BENCH_H
#define KC_BENCH_H

#include "kc_exit.h"
#include "kc_hist.h"
#include "kc_taxonomy.h"
#include "kc_types.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/** @brief Set by SIGINT/SIGTERM: runs stop sending and report what they have. */
extern volatile int bench_interrupted;

#define BENCH_EXIT_FAIL   KC_EXIT_FAILURE     /* requests lost; validate: FAIL */
#define BENCH_EXIT_USAGE  KC_EXIT_USAGE       /* bad option or argument */
#define BENCH_EXIT_STACK  KC_EXIT_UNAVAILABLE /* the stack did not start or answer */
#define BENCH_MAX_WORKERS 16
#define BENCH_MAX_PROPS   64

/* ---------------------------------------------------------------- load */

typedef enum {
    BENCH_CONSTANT,
    BENCH_RAMP,
    BENCH_BURST,
    BENCH_SPIKE,
    BENCH_WAVE,
    BENCH_RANDOM
} bench_pattern_t;

/** @brief What to send: schedule and query mix. Plain values, copied freely. */
typedef struct bench_load_s {
    const char *name; /**< run name: report sub-directory and label */
    bench_pattern_t pattern;
    double rate;       /**< base rate, requests/s */
    double peak;       /**< peak rate (ramp end, burst/spike/wave top, random max) */
    double duration_s; /**< length of the schedule */
    double period_s;   /**< burst / wave / random period */
    uint64_t seed;
    uint64_t count;           /**< stop after this many requests; 0 = by duration only */
    const char *queries_file; /**< one query per line, or CATEGORY<TAB>query with labels */
    bool labelled;            /**< queries_file is a labels TSV */
    uint64_t distinct;        /**< synthetic distinct queries; 0 = every request new */
    double zipf;              /**< zipf exponent over the distinct queries; 0 = uniform */
    double repeat;            /**< >= 0: fraction repeating an earlier query; < 0 = off */
    bool sequential;          /**< walk the query list in order instead of sampling */
    double prio[3];           /**< LOW, NORMAL, HIGH weights */
    int32_t deadline_ms;      /**< per-request deadline; 0 = worker default */
    uint64_t salt;            /**< makes synthetic queries unique to this run */
} bench_load_t;

/** @brief The query pool a load draws from. */
typedef struct bench_queries_s {
    char **text; /**< file queries (NULL for synthetic) */
    size_t *len;
    int8_t *label; /**< expected category index or -1 */
    size_t cnt;
    double *cdf; /**< zipf CDF over cnt or load->distinct entries */
    size_t cdf_cnt;
} bench_queries_t;

/** @brief Schedule + query picking state. */
typedef struct bench_sched_s {
    const bench_load_t *ld;
    const bench_queries_t *qs;
    uint64_t rng;
    double next_us; /**< intended time of the next request (us), relative to start */
    int64_t end_us;
    uint64_t issued;
    uint64_t used; /**< distinct synthetic queries issued so far (repeat mode) */
    double random_rate;
    int64_t random_until_us;
    bool done;
} bench_sched_t;

int bench_queries_load(const bench_load_t *ld, const kc_taxonomy_t *tx, bench_queries_t *qs,
                       char *errstr, size_t errstr_size);
void bench_queries_free(bench_queries_t *qs);
/** @brief Text of query `idx` into buf (synthetic) or a pointer into the pool. */
const char *bench_query_text(const bench_load_t *ld, const bench_queries_t *qs, uint64_t idx,
                             char *buf, size_t size, size_t *len);
void bench_sched_init(bench_sched_t *s, const bench_load_t *ld, const bench_queries_t *qs);
/** @brief Rate of the pattern at t seconds. */
double bench_rate_at(bench_sched_t *s, double t);
/** @brief Next request: intended time, query index and priority; false when done. */
bool bench_sched_next(bench_sched_t *s, int64_t *at_us, uint64_t *qidx, int *prio);
uint64_t bench_rng_next(uint64_t *state);
int bench_pattern_parse(const char *s, bench_pattern_t *out);
const char *bench_pattern_name(bench_pattern_t p);

/* ---------------------------------------------------------------- records */

enum {
    BENCH_F_SENT = 1,      /**< handed to librdkafka */
    BENCH_F_FAILED = 2,    /**< delivery failed: no reply expected */
    BENCH_F_REPLIED = 4,   /**< first reply seen */
    BENCH_F_COALESCED = 8, /**< reply says coalesced */
    BENCH_F_DEADLINE = 16, /**< reply says deadline_met */
    BENCH_F_REPEAT = 32    /**< the query was sent earlier in this run */
};

typedef struct bench_rec_s {
    int64_t intended_us; /**< schedule time, relative to run start (monotonic) */
    int64_t reply_us;    /**< reply receive time, relative; 0 = none */
    uint32_t qidx;       /**< query index */
    int32_t send_lag_us; /**< actual send - intended */
    int32_t w_queue_us;  /**< reply's queue_us: created (= intended) to consumed by the worker */
    int32_t w_total_us;  /**< reply's total_us: created to replied by the worker */
    uint8_t flags;
    uint8_t status; /**< kc_status_t */
    uint8_t source; /**< kc_source_t */
    uint8_t prio;
    int8_t category; /**< taxonomy index, -1 unknown */
    uint8_t dups;    /**< duplicate replies (saturating) */
} bench_rec_t;

/* ---------------------------------------------------------------- scrape */

/** @brief One snapshot of a worker's /metrics. */
typedef struct bench_wmetrics_s {
    bool ok;
    double cpu_s, rss_bytes, l1_entries, l1_bytes;
    double llm_calls, llm_queries, requests;
    double hits_l1, hits_lmdb, hits_redis;
} bench_wmetrics_t;

/** @brief 429s by kind, as the simulator's /stats splits them. */
enum {
    BENCH_429_CONCURRENCY, /**< beyond its --max-concurrency */
    BENCH_429_INJECTED,    /**< --fail-429 */
    BENCH_429_RPM,         /**< requests-per-minute bucket empty */
    BENCH_429_TPM,         /**< tokens-per-minute bucket short */
    BENCH_429_CNT
};

/** @brief The simulator's /stats. */
typedef struct bench_simstats_s {
    bool ok;
    bool has_429_kinds; /**< rejected_429_by_kind was present (a simulator that splits them) */
    char profile[16];   /**< "" when the simulator does not report one */
    double calls, ok_calls, queries, distinct_queries, max_query_repeats, rejected_429;
    double rejected_by_kind[BENCH_429_CNT];
    double prompt_tokens, cached_tokens, completion_tokens, truncated, max_inflight_seen;
    double max_decoding_seen;
    char cost[768]; /**< its "cost" object (compact JSON): the parameters in force; "" if none */
} bench_simstats_t;

/** @brief Background sampler of the workers' /metrics: peak RSS and L1 size. */
typedef struct bench_sampler_s {
    pthread_t thr;
    pthread_mutex_t lock;
    bool running, stop;
    char **urls;
    size_t cnt;
    double peak_rss[BENCH_MAX_WORKERS];
    double peak_l1[BENCH_MAX_WORKERS];
    uint64_t samples;
} bench_sampler_t;

int bench_http_get(const char *url, char **body, char *errstr, size_t errstr_size);
/** @brief Sum of every sample of metric `name` (any labels) matching label (or NULL). */
double bench_prom_value(const char *text, const char *name, const char *label);
int bench_worker_scrape(const char *url, bench_wmetrics_t *m);
int bench_sim_scrape(const char *base, bench_simstats_t *s);
int bench_sampler_start(bench_sampler_t *sp, char **urls, size_t cnt);
void bench_sampler_stop(bench_sampler_t *sp);
/** @brief CPU seconds (user+system) of a process from /proc; -1 when unknown. */
double bench_proc_cpu_s(pid_t pid);

typedef struct bench_target_s bench_target_t;

/* ---------------------------------------------------------------- stack */

#define BENCH_MAX_LLM_ARGS 16

typedef struct bench_stack_opts_s {
    int workers;
    int partitions;
    const char *llm_profile; /**< the simulator's --profile */
    /* < 0: not given, the profile's default applies */
    double llm_latency_ms;
    double llm_jitter;
    int llm_max_concurrency;
    const char *llm_args[BENCH_MAX_LLM_ARGS]; /**< passed to the simulator verbatim */
    int llm_arg_cnt;
    const char *llm_labels; /**< TSV for the simulator, or NULL */
    bool redis;
    bool lmdb;
    bool naive;
    bool real_kafka;  /**< --kafka real: Apache Kafka through scripts/kafka.sh */
    bool passthrough; /**< kclassify-passthrough instead of workers */
    int fetch_wait_ms;
    const char *props[BENCH_MAX_PROPS]; /**< -X key=value for the workers */
    int prop_cnt;
    const char *worker_conf; /**< -c FILE for the workers */
} bench_stack_opts_t;

typedef struct bench_proc_s {
    pid_t pid;
    char name[32];
    bool watch_only; /**< CPU accounted, not ours to stop (the Kafka broker's JVM) */
} bench_proc_t;

typedef struct bench_stack_s {
    char dir[512];
    char bindir[512];
    char bootstrap[256];
    char kafka_dir[600]; /**< --kafka real: the broker's directory, "" otherwise */
    char sim_base[128];
    char redis_url[128];
    char *metrics_urls[BENCH_MAX_WORKERS];
    int worker_cnt;
    bool passthrough; /**< the "workers" are kclassify-passthrough copies */
    bench_proc_t procs[BENCH_MAX_WORKERS + 4];
    int proc_cnt;
} bench_stack_t;

int bench_stack_start(bench_stack_t *st, const bench_stack_opts_t *o, const char *dir, char *errstr,
                      size_t errstr_size);
void bench_stack_stop(bench_stack_t *st);
/** @brief Sends a few probe requests until all come back (every worker joined). @returns 0 or -1.
 */
int bench_stack_probe(bench_target_t *tg, int partitions);
/** @brief Wait (at most 20 s) until no worker has LLM calls running or queued. */
void bench_wait_llm_idle(const bench_target_t *tg);
/** @brief The naive-system worker properties (also printed in reports). */
extern const char *const bench_naive_props[];

/* ---------------------------------------------------------------- run */

/** @brief Where and how to connect; shared by every run of an invocation. */
struct bench_target_s {
    const char *brokers;
    const char *topic_requests;
    const char *topic_replies;
    const char *sim_base; /**< http://host:port of the simulator, or NULL */
    char **metrics_urls;  /**< worker /metrics URLs */
    size_t metrics_cnt;
    const bench_stack_t *stack; /**< when the bench started the stack */
    int linger_ms;
    int fetch_wait_ms;
    int64_t tick_us;  /**< shortest sleep of the send loop */
    int64_t drain_ms; /**< how long to wait for replies after the last send */
    kc_taxonomy_t *tx;
    uint64_t key_seed;
};

/** @brief Everything measured in one run. */
typedef struct bench_result_s {
    bench_load_t load;
    bench_queries_t qs;
    bench_rec_t *recs;
    size_t rec_cnt, rec_cap;
    int64_t start_wall_us;
    int64_t sched_end_us; /**< when the last request was sent, relative */
    int64_t end_us;       /**< when the run stopped waiting, relative */
    uint64_t delivery_failed, foreign, bad_replies, duplicates;
    double query_bytes_sum;
    /* after the run */
    kc_hist_t *hist;
    bench_simstats_t sim0, sim1;
    bench_wmetrics_t w0[BENCH_MAX_WORKERS], w1[BENCH_MAX_WORKERS];
    double peak_rss[BENCH_MAX_WORKERS], peak_l1[BENCH_MAX_WORKERS];
    size_t worker_cnt;
    double bench_cpu_s;
    double proc_cpu0[BENCH_MAX_WORKERS + 4], proc_cpu1[BENCH_MAX_WORKERS + 4];
    double wall_s;
} bench_result_t;

/** @brief Derived figures (computed by bench_summarize). */
typedef struct bench_summary_s {
    uint64_t sent, answered, lost, failed, duplicates;
    uint64_t ok, degraded, error, by_source[KC_SRC__CNT], coalesced, deadline_met, repeats;
    uint64_t within_deadline;
    double offered_rps, achieved_rps, duration_s;
    double mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms;
    double hit_rate, success_rate, degraded_rate;
    double llm_calls, llm_queries, llm_distinct, llm_429, prompt_tokens, completion_tokens;
    double llm_429_by_kind[BENCH_429_CNT]; /**< NAN when the simulator does not split them */
    double cached_tokens, truncated;
    double llm_answered_share;   /**< replies with source LLM / answered */
    double llm_answered_rps;     /**< replies with source LLM per second of the run */
    double completion_per_query; /**< completion tokens / replies with source LLM */
    char llm_profile[16];        /**< as the simulator reported it; "" if unknown */
    char llm_cost[768];          /**< the simulator's cost parameters (JSON); "" if unknown */
    double worker_cpu_s, worker_peak_rss_mb, worker_l1_entries;
    double query_bytes_mean;
    double bench_cpu_s;
    double compliance; /**< share of sent requests answered within the target */
    double target_ms;
    char grade[4];
} bench_summary_t;

int bench_run(const bench_target_t *tg, const bench_load_t *ld, bench_result_t *res, char *errstr,
              size_t errstr_size);
void bench_result_free(bench_result_t *res);
void bench_summarize(bench_result_t *res, double target_ms, bench_summary_t *sm);
const char *bench_grade(double mean_ms, double compliance, double target_ms);
void bench_summary_print(FILE *fp, const char *name, const bench_summary_t *sm);

/* ---------------------------------------------------------------- reports */

typedef struct bench_report_opts_s {
    const char *dir;
    bool csv;   /**< CSV of every request */
    bool plots; /**< gnuplot PNG + SVG */
    const char *cmdline;
    const bench_stack_opts_t *stack; /**< NULL for an external target */
} bench_report_opts_t;

/** @brief Writes summary.json, requests.csv, timeseries.tsv, plots, index.html into dir. */
int bench_report_write(const bench_report_opts_t *ro, const bench_result_t *res,
                       const bench_summary_t *sm, const bench_target_t *tg, char *errstr,
                       size_t errstr_size);
/** @brief Writes DIR/index.html linking every run's report (validate, --naive). */
int bench_report_index(const char *dir, const char *title, char **names, bench_summary_t *sms,
                       size_t cnt, const char *extra_html);
int bench_mkdirs(const char *path);
/** @brief "nproc N, CPU, memory" of this machine into buf. */
void bench_machine(char *buf, size_t size);

/* ---------------------------------------------------------------- validate */

int bench_validate(const char *level, double target_ms, const bench_stack_opts_t *so,
                   bench_target_t *tg, const bench_report_opts_t *ro);

#endif
