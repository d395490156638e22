/*
 * Prometheus text format renderer and the standard process metrics.
 * Format reference: prometheus.io/docs/instrumenting/exposition_formats
 * (text format 0.0.4).
 */
#include "kc_prom.h"
#include "kc_err.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const double kc_prom_latency_buckets[KC_PROM_LATENCY_BUCKETS_CNT] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 5, 7.5, 10};

const char *kc_prom_type_name(kc_prom_type_t t)
{
    switch (t) {
    case KC_PROM_COUNTER:
        return "counter";
    case KC_PROM_GAUGE:
        return "gauge";
    case KC_PROM_HISTOGRAM:
        return "histogram";
    default:
        return "untyped";
    }
}

/* ------------------------------------------------------------------------
 * Names, escaping, values
 * ------------------------------------------------------------------------ */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s || isdigit((unsigned char)*s)) {
        return 0;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && !(allow_colon && *s == ':')) {
            return 0;
        }
        if (!isascii((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

int kc_prom_valid_metric_name(const char *name)
{
    return valid_name(name, 1);
}

int kc_prom_valid_label_name(const char *name)
{
    return valid_name(name, 0) && strncmp(name, "__", 2) != 0;
}

/* Escape backslash and newline, and the double quote when quoted. */
static int put_escaped(kc_buf_t *out, const char *s, int quoted)
{
    int rc = 0;

    for (; !rc && *s; s++) {
        if (*s == '\\') {
            rc = kc_buf_puts(out, "\\\\");
        } else if (*s == '\n') {
            rc = kc_buf_puts(out, "\\n");
        } else if (quoted && *s == '"') {
            rc = kc_buf_puts(out, "\\\"");
        } else {
            rc = kc_buf_append(out, s, 1);
        }
    }
    return rc;
}

/* Shortest of %.15g..%.17g that reads back as v (0.005, not 0.0050000000000000001). */
static void fmt_double(char *buf, size_t size, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return;
        }
    }
}

static int put_value(kc_buf_t *out, double v)
{
    char num[40];

    if (isnan(v)) {
        return kc_buf_puts(out, "NaN");
    }
    if (isinf(v)) {
        return kc_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        return kc_buf_printf(out, "%.0f", v);
    }
    fmt_double(num, sizeof(num), v);
    return kc_buf_puts(out, num);
}

/* `{a="x",b="y"` plus an optional extra pair, then `}`; nothing when empty. */
static int put_labels(kc_buf_t *out, const char *const *labels, const char *extra_name,
                      const char *extra_value)
{
    int rc = 0, first = 1;

    if ((!labels || !labels[0]) && !extra_name) {
        return 0;
    }
    rc = kc_buf_puts(out, "{");
    for (size_t i = 0; !rc && labels && labels[i]; i += 2) {
        if (!labels[i + 1] || !kc_prom_valid_label_name(labels[i]) ||
            (extra_name && strcmp(labels[i], extra_name) == 0)) {
            return KC_ERR_INVALID;
        }
        rc = kc_buf_printf(out, "%s%s=\"", first ? "" : ",", labels[i]);
        rc = rc ? rc : put_escaped(out, labels[i + 1], 1);
        rc = rc ? rc : kc_buf_puts(out, "\"");
        first = 0;
    }
    if (!rc && extra_name) {
        rc = kc_buf_printf(out, "%s%s=\"%s\"", first ? "" : ",", extra_name, extra_value);
    }
    return rc ? rc : kc_buf_puts(out, "}");
}

/* ------------------------------------------------------------------------
 * Families and samples
 * ------------------------------------------------------------------------ */

int kc_prom_family(kc_buf_t *out, const char *name, const char *help, kc_prom_type_t type)
{
    int rc;

    if (!kc_prom_valid_metric_name(name)) {
        return KC_ERR_INVALID;
    }
    rc = kc_buf_printf(out, "# HELP %s ", name);
    rc = rc ? rc : put_escaped(out, help ? help : "", 0);
    return rc ? rc : kc_buf_printf(out, "\n# TYPE %s %s\n", name, kc_prom_type_name(type));
}

static int sample_ex(kc_buf_t *out, const char *name, const char *suffix, const char *const *labels,
                     const char *extra_name, const char *extra_value, double value)
{
    size_t mark = out->len;
    int rc;

    if (!kc_prom_valid_metric_name(name)) {
        return KC_ERR_INVALID;
    }
    rc = kc_buf_printf(out, "%s%s", name, suffix);
    rc = rc ? rc : put_labels(out, labels, extra_name, extra_value);
    rc = rc ? rc : kc_buf_puts(out, " ");
    rc = rc ? rc : put_value(out, value);
    rc = rc ? rc : kc_buf_puts(out, "\n");
    if (rc) {
        out->len = mark; /* never leave half a line */
        if (out->data) {
            out->data[mark] = '\0';
        }
    }
    return rc;
}

int kc_prom_sample(kc_buf_t *out, const char *name, const char *const *labels, double value)
{
    return sample_ex(out, name, "", labels, NULL, NULL, value);
}

int kc_prom_counter(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                    double value)
{
    int rc = kc_prom_family(out, name, help, KC_PROM_COUNTER);
    return rc ? rc : kc_prom_sample(out, name, labels, value);
}

int kc_prom_gauge(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                  double value)
{
    int rc = kc_prom_family(out, name, help, KC_PROM_GAUGE);
    return rc ? rc : kc_prom_sample(out, name, labels, value);
}

int kc_prom_hist_samples(kc_buf_t *out, const char *name, const char *const *labels,
                         const double *le, const uint64_t *cum, size_t n, double sum,
                         uint64_t count)
{
    char bound[64];
    int rc = 0;

    for (size_t i = 1; i < n; i++) {
        if (!(le[i] > le[i - 1]) || cum[i] < cum[i - 1]) {
            return KC_ERR_INVALID;
        }
    }
    if (n > 0 && cum[n - 1] > count) {
        return KC_ERR_INVALID;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        fmt_double(bound, sizeof(bound), le[i]);
        rc = sample_ex(out, name, "_bucket", labels, "le", bound, (double)cum[i]);
    }
    rc = rc ? rc : sample_ex(out, name, "_bucket", labels, "le", "+Inf", (double)count);
    rc = rc ? rc : sample_ex(out, name, "_sum", labels, NULL, NULL, sum);
    return rc ? rc : sample_ex(out, name, "_count", labels, NULL, NULL, (double)count);
}

int kc_prom_hist_samples_us(kc_buf_t *out, const char *name, const char *const *labels,
                            const kc_hist_t *h, const double *le_s, size_t n)
{
    uint64_t cum[64];

    if (n > sizeof(cum) / sizeof(cum[0])) {
        return KC_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        cum[i] = h ? kc_hist_count_le(h, (int64_t)llround(le_s[i] * 1e6)) : 0;
    }
    return kc_prom_hist_samples(out, name, labels, le_s, cum, n, h ? kc_hist_sum(h) / 1e6 : 0,
                                h ? kc_hist_count(h) : 0);
}

int kc_prom_hist(kc_buf_t *out, const char *name, const char *help, const char *const *labels,
                 const kc_hist_t *h, const double *le_s, size_t n)
{
    int rc = kc_prom_family(out, name, help, KC_PROM_HISTOGRAM);
    return rc ? rc : kc_prom_hist_samples_us(out, name, labels, h, le_s, n);
}

/* ------------------------------------------------------------------------
 * Process metrics
 * ------------------------------------------------------------------------ */

int kc_prom_proc_parse_stat(const char *stat_text, double boot_time_s, long ticks_per_s,
                            long page_size, kc_prom_proc_t *out, char *errstr, size_t errstr_size)
{
    /* Fields after "pid (comm) ": field 3 is token 0; the command name may hold
     * spaces and parentheses, so parsing starts after the last ')'. */
    const char *p = strrchr(stat_text, ')');
    unsigned long long v[22];
    char *end;

    if (!p || ticks_per_s <= 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "/proc stat: no ')' after comm");
    }
    p += 2; /* ") " */
    while (*p && *p != ' ') {
        p++; /* state letter (token 0) */
    }
    for (int i = 1; i < 22; i++) {
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (end == p || errno) {
            return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "/proc stat: field %d unreadable",
                             i + 3);
        }
        p = end;
    }
    memset(out, 0, sizeof(*out));
    out->cpu_seconds = (double)(v[11] + v[12]) / (double)ticks_per_s;
    out->start_time_seconds = boot_time_s + (double)v[19] / (double)ticks_per_s;
    out->virtual_bytes = (double)v[20];
    out->resident_bytes = (double)v[21] * (double)page_size;
    out->open_fds = out->max_fds = -1;
    return 0;
}

int kc_prom_proc_parse_btime(const char *proc_stat_text, double *boot_time_s)
{
    const char *p = proc_stat_text;

    while (p && *p) {
        if (strncmp(p, "btime ", 6) == 0) {
            *boot_time_s = strtod(p + 6, NULL);
            return *boot_time_s > 0 ? 0 : KC_ERR_DECODE;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return KC_ERR_DECODE;
}

static int read_text(const char *path, char *buf, size_t size, char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    size_t n;

    if (!fp) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    }
    n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return 0;
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    double n = 0;

    if (!d) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

/* /proc/stat's "intr" line before btime can be many KiB: read it line by line. */
static int read_btime(double *btime, char *errstr, size_t errstr_size)
{
    FILE *fp = fopen("/proc/stat", "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = KC_ERR_DECODE;

    if (!fp) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "/proc/stat: %s", strerror(errno));
    }
    while (rc != 0 && getline(&line, &cap, fp) > 0) {
        if (strncmp(line, "btime ", 6) == 0) {
            rc = kc_prom_proc_parse_btime(line, btime);
        }
    }
    free(line);
    fclose(fp);
    return rc ? kc_seterr(rc, errstr, errstr_size, "/proc/stat: no btime line") : 0;
}

int kc_prom_proc_read(kc_prom_proc_t *out, char *errstr, size_t errstr_size)
{
    char stat[4096];
    double btime = 0.0;
    struct rlimit rl;
    int rc;

    if ((rc = read_text("/proc/self/stat", stat, sizeof(stat), errstr, errstr_size)) != 0 ||
        (rc = read_btime(&btime, errstr, errstr_size)) != 0) {
        return rc;
    }
    rc = kc_prom_proc_parse_stat(stat, btime, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), out,
                                 errstr, errstr_size);
    if (rc == 0) {
        out->open_fds = count_fds();
        out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                           ? (double)rl.rlim_cur
                           : -1;
    }
    return rc;
}

int kc_prom_process_render(kc_buf_t *out, const kc_prom_proc_t *p)
{
    int rc =
        kc_prom_counter(out, "process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.", NULL, p->cpu_seconds);
    rc = rc ? rc
            : kc_prom_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
                            NULL, p->resident_bytes);
    rc = rc ? rc
            : kc_prom_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            NULL, p->virtual_bytes);
    rc = rc ? rc
            : kc_prom_gauge(out, "process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.", NULL,
                            p->start_time_seconds);
    if (!rc && p->open_fds >= 0) {
        rc = kc_prom_gauge(out, "process_open_fds", "Number of open file descriptors.", NULL,
                           p->open_fds);
    }
    if (!rc && p->max_fds >= 0) {
        rc = kc_prom_gauge(out, "process_max_fds", "Maximum number of open file descriptors.", NULL,
                           p->max_fds);
    }
    return rc;
}

int kc_prom_process(kc_buf_t *out, char *errstr, size_t errstr_size)
{
    kc_prom_proc_t p;
    int rc = kc_prom_proc_read(&p, errstr, errstr_size);

    if (rc) {
        return rc;
    }
    if ((rc = kc_prom_process_render(out, &p)) != 0) {
        return kc_seterr(rc, errstr, errstr_size, "rendering process metrics: %s", kc_strerror(rc));
    }
    return 0;
}
