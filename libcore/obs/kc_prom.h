/**
 * @file kc_prom.h
 * @brief Prometheus text exposition format (version 0.0.4) renderer.
 *
 * Pure functions that append to a kc_buf_t: a metric family header
 * (`# HELP` / `# TYPE`) followed by its samples. Samples of one family must be
 * rendered right after its header (the format requires a family's lines to be
 * contiguous). Labels are a NULL-terminated list of name, value pairs:
 *
 * @code
 * kc_prom_family(&buf, "kclassify_replies_total", "Replies produced.", KC_PROM_COUNTER);
 * kc_prom_sample(&buf, "kclassify_replies_total",
 *                (const char *[]){"status", "OK", "source", "L1", NULL}, 42);
 * kc_prom_gauge(&buf, "kclassify_llm_concurrency", "Adaptive LLM concurrency.", NULL, 6);
 * kc_prom_hist(&buf, "kclassify_request_duration_seconds", "Request latency.", NULL,
 *              h, kc_prom_latency_buckets, KC_PROM_LATENCY_BUCKETS_CNT);
 * kc_prom_process(&buf, errstr, sizeof(errstr));
 * @endcode
 *
 * Names are checked (`[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics, `[a-zA-Z_][a-zA-Z0-9_]*`
 * for labels, no `__` label prefix); label values are escaped (`\\`, `\"`, `\n`),
 * HELP text too (`\\`, `\n`). Naming rules the caller keeps: prefix `kclassify_`,
 * base units (seconds, bytes), `_total` on counters only, no query text or
 * hashes in label values.
 */
#ifndef KC_PROM_H
#define KC_PROM_H

#include "kc_buf.h"
#include "kc_hist.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { KC_PROM_COUNTER, KC_PROM_GAUGE, KC_PROM_HISTOGRAM, KC_PROM_UNTYPED } kc_prom_type_t;

/** @brief Default latency buckets in seconds: 5 ms .. 10 s, including 1.5 s and 2 s. */
extern const double kc_prom_latency_buckets[];
#define KC_PROM_LATENCY_BUCKETS_CNT 14

/** @brief "counter", "gauge", "histogram", "untyped". */
const char *kc_prom_type_name(kc_prom_type_t t);

/** @returns 1 if name is a valid metric name, else 0. */
int kc_prom_valid_metric_name(const char *name);

/** @returns 1 if name is a valid (non-reserved) label name, else 0. */
int kc_prom_valid_label_name(const char *name);

/**
 * @brief Append `# HELP name help` and `# TYPE name type`.
 * @returns 0, KC_ERR_INVALID (bad name), KC_ERR_NOMEM.
 */
int kc_prom_family(kc_buf_t *out, const char *name, const char *help, kc_prom_type_t type);

/**
 * @brief Append one sample line `name{labels} value`.
 * @param labels NULL, or a NULL-terminated list of name, value, name, value...
 * @param value printed as an integer when it is one, else with 17 digits;
 *        NaN, +Inf, -Inf as Prometheus spells them.
 * @returns 0, KC_ERR_INVALID (bad metric or label name, odd label list), KC_ERR_NOMEM.
 */
int kc_prom_sample(kc_buf_t *out, const char *name, const char *const *labels, double value);

/** @brief Family header + one sample (for a counter; name should end in _total). */
int kc_prom_counter(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                    double value);

/** @brief Family header + one sample (gauge). */
int kc_prom_gauge(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                  double value);

/**
 * @brief Histogram samples (no header) from cumulative bucket counts:
 * `name_bucket{labels,le="..."}` for each bound and `+Inf`, `name_sum`, `name_count`.
 * @param le upper bounds, strictly increasing; cum[i] = observations <= le[i].
 * @returns 0, KC_ERR_INVALID (bounds not increasing, counts decreasing, a label `le`), NOMEM.
 */
int kc_prom_hist_samples(kc_buf_t *out, const char *name, const char *const *labels,
                         const double *le, const uint64_t *cum, size_t n, double sum,
                         uint64_t count);

/**
 * @brief Histogram samples (no header) from a kc_hist_t of microseconds,
 * exposed in seconds. NULL h renders an empty histogram.
 */
int kc_prom_hist_samples_us(kc_buf_t *out, const char *name, const char *const *labels,
                            const kc_hist_t *h, const double *le_s, size_t n);

/** @brief Family header + kc_prom_hist_samples_us() (one labelled series). */
int kc_prom_hist(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                 const kc_hist_t *h, const double *le_s, size_t n);

/* ------------------------------------------------------------------------
 * Process metrics
 * ------------------------------------------------------------------------ */

typedef struct kc_prom_proc_s {
    double cpu_seconds; /**< user + system */
    double resident_bytes;
    double virtual_bytes;
    double start_time_seconds; /**< since the Unix epoch */
    double open_fds;           /**< -1 = unknown */
    double max_fds;            /**< -1 = unknown */
} kc_prom_proc_t;

/**
 * @brief Parse the text of /proc/<pid>/stat (pure).
 * @param boot_time_s `btime` from /proc/stat; ticks_per_s sysconf(_SC_CLK_TCK);
 *        page_size sysconf(_SC_PAGESIZE).
 * @returns 0 or KC_ERR_DECODE.
 */
int kc_prom_proc_parse_stat(const char *stat_text, double boot_time_s, long ticks_per_s,
                            long page_size, kc_prom_proc_t *out, char *errstr, size_t errstr_size);

/** @brief Find `btime N` in the text of /proc/stat (pure). @returns 0 or KC_ERR_DECODE. */
int kc_prom_proc_parse_btime(const char *proc_stat_text, double *boot_time_s);

/**
 * @brief Read /proc/self/stat, /proc/stat, /proc/self/fd and /proc/self/limits.
 * @returns 0, KC_ERR_IO or KC_ERR_DECODE.
 */
int kc_prom_proc_read(kc_prom_proc_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Append the standard process metrics: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds (the last two
 * only when known).
 */
int kc_prom_process_render(kc_buf_t *out, const kc_prom_proc_t *p);

/** @brief kc_prom_proc_read() + kc_prom_process_render(). @returns 0 or an error. */
int kc_prom_process(kc_buf_t *out, char *errstr, size_t errstr_size);

#endif
