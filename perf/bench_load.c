/* kclassify-bench: load patterns (when to send) and the query mix (what to send). */
#include "bench.h"

#include "kc_err.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ rng */

/* splitmix64: tiny, seedable, good enough for arrival gaps and query picks. */
uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *state)
{
    return (double)(bench_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------ patterns */

static const char *const pattern_names[] = {"constant", "ramp", "burst", "spike", "wave", "random"};

int bench_pattern_parse(const char *s, bench_pattern_t *out)
{
    for (size_t i = 0; i < sizeof(pattern_names) / sizeof(pattern_names[0]); i++) {
        if (strcmp(s, pattern_names[i]) == 0) {
            *out = (bench_pattern_t)i;
            return 0;
        }
    }
    return KC_ERR_INVALID;
}

const char *bench_pattern_name(bench_pattern_t p)
{
    return pattern_names[p];
}

/* Bursts and the spike last a tenth of their period (the spike: of the run). */
double bench_rate_at(bench_sched_t *s, double t)
{
    const bench_load_t *ld = s->ld;
    double period = ld->period_s > 0 ? ld->period_s : 10.0;

    switch (ld->pattern) {
    case BENCH_RAMP:
        return ld->duration_s > 0 ? ld->rate + (ld->peak - ld->rate) * t / ld->duration_s
                                  : ld->rate;
    case BENCH_BURST:
        return fmod(t, period) < period / 10 ? ld->peak : ld->rate;
    case BENCH_SPIKE:
        return t >= ld->duration_s * 0.4 && t < ld->duration_s * 0.5 ? ld->peak : ld->rate;
    case BENCH_WAVE:
        return ld->rate + (ld->peak - ld->rate) * (1 - cos(2 * M_PI * t / period)) / 2;
    case BENCH_RANDOM:
        /* a new random level every period; arrivals within it are Poisson */
        if ((int64_t)(t * 1e6) >= s->random_until_us) {
            s->random_rate = ld->rate + (ld->peak - ld->rate) * rng_unit(&s->rng);
            s->random_until_us = (int64_t)((floor(t / period) + 1) * period * 1e6);
        }
        return s->random_rate;
    case BENCH_CONSTANT:
    default:
        return ld->rate;
    }
}

/* ------------------------------------------------------------------ queries */

/* Synthetic queries look like the real traffic (clinical metabolomics) and are
 * unique per (salt, index), so a fresh run never hits an old cache entry. */
static const char *const synth_topics[] = {"branched-chain amino acids",
                                           "TMAO",
                                           "acylcarnitines",
                                           "ceramides",
                                           "bile acids",
                                           "lactate",
                                           "ketone bodies",
                                           "kynurenine",
                                           "short-chain fatty acids",
                                           "phosphatidylcholine"};
static const char *const synth_forms[] = {
    "Which pathways link %s to insulin resistance, case %llx-%llu?",
    "What is known about %s in chronic kidney disease, case %llx-%llu?",
    "Latest 2025 trial results on %s biomarkers, case %llx-%llu?",
    "Define %s and explain how it is measured, case %llx-%llu?"};

const char *bench_query_text(const bench_load_t *ld, const bench_queries_t *qs, uint64_t idx,
                             char *buf, size_t size, size_t *len)
{
    int n;

    if (qs->text) {
        *len = qs->len[idx % qs->cnt];
        return qs->text[idx % qs->cnt];
    }
    n = snprintf(buf, size, synth_forms[idx % 4], synth_topics[(idx / 4) % 10],
                 (unsigned long long)ld->salt, (unsigned long long)idx);
    *len = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
    return buf;
}

static int zipf_build(bench_queries_t *qs, size_t n, double s)
{
    double sum = 0;

    if (!(qs->cdf = malloc(n * sizeof(*qs->cdf)))) {
        return KC_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        qs->cdf[i] = sum;
    }
    for (size_t i = 0; i < n; i++) {
        qs->cdf[i] /= sum;
    }
    qs->cdf_cnt = n;
    return 0;
}

static size_t zipf_pick(const bench_queries_t *qs, double u)
{
    size_t lo = 0, hi = qs->cdf_cnt - 1;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (qs->cdf[mid] < u) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int queries_add(bench_queries_t *qs, const char *q, size_t len, int label)
{
    if ((qs->cnt & (qs->cnt - 1)) == 0) { /* grow at powers of two */
        size_t cap = qs->cnt ? qs->cnt * 2 : 64;
        char **t = realloc(qs->text, cap * sizeof(*t));
        if (t) {
            qs->text = t;
        }
        size_t *l = realloc(qs->len, cap * sizeof(*l));
        if (l) {
            qs->len = l;
        }
        int8_t *b = realloc(qs->label, cap * sizeof(*b));
        if (b) {
            qs->label = b;
        }
        if (!t || !l || !b) {
            return KC_ERR_NOMEM;
        }
    }
    if (!(qs->text[qs->cnt] = strndup(q, len))) {
        return KC_ERR_NOMEM;
    }
    qs->len[qs->cnt] = len;
    qs->label[qs->cnt] = (int8_t)label;
    qs->cnt++;
    return 0;
}

/* One line: a plain query, or CATEGORY<TAB>query in a labels file. */
static int queries_line(bench_queries_t *qs, char *line, bool labelled, const kc_taxonomy_t *tx,
                        char *errstr, size_t errstr_size)
{
    size_t len = strcspn(line, "\r\n");
    int label = -1;
    char *tab;

    line[len] = '\0';
    if (len == 0 || line[0] == '#') {
        return 0;
    }
    if (labelled) {
        if (!(tab = strchr(line, '\t'))) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "expected CATEGORY<TAB>query");
        }
        if ((label = kc_taxonomy_find(tx, line, (size_t)(tab - line))) < 0) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "unknown category '%.*s'",
                             (int)(tab - line), line);
        }
        len -= (size_t)(tab + 1 - line);
        line = tab + 1;
    }
    return queries_add(qs, line, len, label);
}

static int queries_read(const bench_load_t *ld, const kc_taxonomy_t *tx, bench_queries_t *qs,
                        char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(ld->queries_file, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    unsigned lineno = 0;

    if (!fp) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "%s: %s", ld->queries_file,
                         strerror(errno));
    }
    while (rc == 0 && getline(&line, &cap, fp) != -1) {
        char detail[256];
        lineno++;
        if ((rc = queries_line(qs, line, ld->labelled, tx, detail, sizeof(detail))) != 0) {
            kc_seterr(rc, errstr, errstr_size, "%s:%u: %s", ld->queries_file, lineno, detail);
        }
    }
    free(line);
    fclose(fp);
    if (rc == 0 && qs->cnt == 0) {
        rc = kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "%s: no queries", ld->queries_file);
    }
    return rc;
}

int bench_queries_load(const bench_load_t *ld, const kc_taxonomy_t *tx, bench_queries_t *qs,
                       char *errstr, size_t errstr_size)
{
    int rc = 0;
    size_t n;

    memset(qs, 0, sizeof(*qs));
    if (ld->queries_file && (rc = queries_read(ld, tx, qs, errstr, errstr_size)) != 0) {
        bench_queries_free(qs);
        return rc;
    }
    n = qs->text ? qs->cnt : ld->distinct;
    if (n > 0 && !ld->sequential && ld->repeat < 0 && (rc = zipf_build(qs, n, ld->zipf)) != 0) {
        kc_seterr(rc, errstr, errstr_size, "out of memory for %zu queries", n);
        bench_queries_free(qs);
    }
    return rc;
}

void bench_queries_free(bench_queries_t *qs)
{
    for (size_t i = 0; qs->text && i < qs->cnt; i++) {
        free(qs->text[i]);
    }
    free(qs->text);
    free(qs->len);
    free(qs->label);
    free(qs->cdf);
    memset(qs, 0, sizeof(*qs));
}

/* ------------------------------------------------------------------ schedule */

void bench_sched_init(bench_sched_t *s, const bench_load_t *ld, const bench_queries_t *qs)
{
    memset(s, 0, sizeof(*s));
    s->ld = ld;
    s->qs = qs;
    s->rng = ld->seed;
    s->end_us = (int64_t)(ld->duration_s * 1e6);
}

static uint64_t pick_query(bench_sched_t *s)
{
    const bench_load_t *ld = s->ld;
    uint64_t pool = s->qs->text ? s->qs->cnt : ld->distinct;

    if (ld->repeat >= 0) {
        /* a share `repeat` re-sends a query already sent (uniformly), the rest are new */
        bool exhausted = pool && s->used >= pool;
        if (s->used > 0 && (exhausted || rng_unit(&s->rng) < ld->repeat)) {
            return bench_rng_next(&s->rng) % s->used;
        }
        return s->used++;
    }
    if (pool == 0) {
        return s->issued; /* every request a new query */
    }
    if (ld->sequential || !s->qs->cdf) {
        return s->issued % pool;
    }
    return zipf_pick(s->qs, rng_unit(&s->rng));
}

static int pick_prio(bench_sched_t *s)
{
    const double *w = s->ld->prio;
    double sum = w[0] + w[1] + w[2], u;

    if (sum <= 0) {
        return 1;
    }
    u = rng_unit(&s->rng) * sum;
    return u < w[0] ? 0 : u < w[0] + w[1] ? 1 : 2;
}

bool bench_sched_next(bench_sched_t *s, int64_t *at_us, uint64_t *qidx, int *prio)
{
    const bench_load_t *ld = s->ld;
    double rate, gap;

    if (s->done || (ld->count && s->issued >= ld->count) || s->next_us >= (double)s->end_us) {
        s->done = true;
        return false;
    }
    *at_us = (int64_t)s->next_us;
    *qidx = pick_query(s);
    *prio = pick_prio(s);
    s->issued++;
    rate = bench_rate_at(s, s->next_us / 1e6);
    if (rate <= 0) {
        gap = 1000; /* idle: look again in 1 ms */
    } else if (ld->pattern == BENCH_RANDOM) {
        gap = -log(1 - rng_unit(&s->rng)) * 1e6 / rate;
    } else {
        gap = 1e6 / rate;
    }
    s->next_us += gap; /* a double: sub-microsecond gaps add up exactly */
    return true;
}
