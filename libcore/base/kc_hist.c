/*
 * HDR-style log-linear histogram. Index math follows HdrHistogram_c with
 * lowest value 1 (unit magnitude 0), 3 significant digits (2048 sub-buckets)
 * and highest value 1 h in microseconds (22 buckets).
 */
#include "kc_hist.h"
#include "kc_err.h"

#include <stdlib.h>
#include <string.h>

#define SUB_BUCKET_COUNT 2048 /* 2^ceil(log2(2 * 10^3)) */
#define SUB_HALF_COUNT   1024
#define SUB_HALF_MAG     10
#define SUB_MASK         (SUB_BUCKET_COUNT - 1)
#define BUCKET_COUNT     22 /* 2048 << 21 > 3.6e9 */
#define COUNTS_LEN       ((BUCKET_COUNT + 1) * SUB_HALF_COUNT)
#define KC_HIST_BLOCK    256
#define NBLOCKS          (COUNTS_LEN / KC_HIST_BLOCK)

struct kc_hist_s {
    uint64_t *blocks[NBLOCKS]; /* NULL until a value lands in the block */
    uint64_t count;
    uint64_t clamped;
    double sum;
    int64_t min, max;
};

/* ------------------------------------------------------------------------
 * Index math
 * ------------------------------------------------------------------------ */

static int bucket_index(int64_t v)
{
    /* Position of the highest set bit, with everything below 2048 in bucket 0. */
    int pow2ceiling = 64 - __builtin_clzll((uint64_t)v | SUB_MASK);
    return pow2ceiling - (SUB_HALF_MAG + 1);
}

static size_t counts_index(int64_t v)
{
    int b = bucket_index(v);
    int64_t sub = v >> b;
    return (size_t)(((int64_t)(b + 1) << SUB_HALF_MAG) + (sub - SUB_HALF_COUNT));
}

/* Lowest value of the slot at idx, and the slot's width. */
static void index_range(size_t idx, int64_t *lowest, int64_t *width)
{
    int b = (int)(idx >> SUB_HALF_MAG) - 1;
    int64_t sub = (int64_t)(idx & (SUB_HALF_COUNT - 1)) + SUB_HALF_COUNT;

    if (b < 0) {
        sub -= SUB_HALF_COUNT;
        b = 0;
    }
    *lowest = sub << b;
    *width = (int64_t)1 << b;
}

static int64_t clamp_value(int64_t v, int *clamped)
{
    *clamped = v < 0 || v > KC_HIST_MAX_US;
    return v < 0 ? 0 : v > KC_HIST_MAX_US ? KC_HIST_MAX_US : v;
}

int64_t kc_hist_lowest_equiv(int64_t value_us)
{
    int clamped;
    int64_t lo, w;
    index_range(counts_index(clamp_value(value_us, &clamped)), &lo, &w);
    return lo;
}

int64_t kc_hist_highest_equiv(int64_t value_us)
{
    int clamped;
    int64_t lo, w;
    index_range(counts_index(clamp_value(value_us, &clamped)), &lo, &w);
    return lo + w - 1;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

kc_hist_t *kc_hist_new(void)
{
    return calloc(1, sizeof(kc_hist_t));
}

void kc_hist_destroy(kc_hist_t *h)
{
    if (!h) {
        return;
    }
    for (size_t i = 0; i < NBLOCKS; i++) {
        free(h->blocks[i]);
    }
    free(h);
}

void kc_hist_reset(kc_hist_t *h)
{
    for (size_t i = 0; i < NBLOCKS; i++) {
        if (h->blocks[i]) {
            memset(h->blocks[i], 0, KC_HIST_BLOCK * sizeof(uint64_t));
        }
    }
    h->count = h->clamped = 0;
    h->sum = 0;
    h->min = h->max = 0;
}

size_t kc_hist_memsize(const kc_hist_t *h)
{
    size_t n = sizeof(*h);
    for (size_t i = 0; i < NBLOCKS; i++) {
        n += h->blocks[i] ? KC_HIST_BLOCK * sizeof(uint64_t) : 0;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Recording and merging
 * ------------------------------------------------------------------------ */

static uint64_t *slot(kc_hist_t *h, size_t idx)
{
    uint64_t **blk = &h->blocks[idx / KC_HIST_BLOCK];
    if (!*blk && !(*blk = calloc(KC_HIST_BLOCK, sizeof(uint64_t)))) {
        return NULL;
    }
    return &(*blk)[idx % KC_HIST_BLOCK];
}

/* min/max/sum/count of n values equal to v (already clamped). */
static void account(kc_hist_t *h, int64_t lo, int64_t hi, double sum, uint64_t n)
{
    if (h->count == 0 || lo < h->min) {
        h->min = lo;
    }
    if (h->count == 0 || hi > h->max) {
        h->max = hi;
    }
    h->count += n;
    h->sum += sum;
}

int kc_hist_record_n(kc_hist_t *h, int64_t value_us, uint64_t count)
{
    int clamped;
    int64_t v = clamp_value(value_us, &clamped);
    uint64_t *c;

    if (count == 0) {
        return 0;
    }
    if (!(c = slot(h, counts_index(v)))) {
        return KC_ERR_NOMEM;
    }
    *c += count;
    account(h, v, v, (double)v * (double)count, count);
    if (clamped) {
        h->clamped += count;
    }
    return 0;
}

int kc_hist_record(kc_hist_t *h, int64_t value_us)
{
    return kc_hist_record_n(h, value_us, 1);
}

int kc_hist_merge(kc_hist_t *dst, const kc_hist_t *src)
{
    if (src->count == 0) {
        return 0;
    }
    for (size_t b = 0; b < NBLOCKS; b++) {
        if (!src->blocks[b]) {
            continue;
        }
        if (!dst->blocks[b] && !(dst->blocks[b] = calloc(KC_HIST_BLOCK, sizeof(uint64_t)))) {
            return KC_ERR_NOMEM;
        }
        for (size_t i = 0; i < KC_HIST_BLOCK; i++) {
            dst->blocks[b][i] += src->blocks[b][i];
        }
    }
    account(dst, src->min, src->max, src->sum, src->count);
    dst->clamped += src->clamped;
    return 0;
}

/* ------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------ */

uint64_t kc_hist_count(const kc_hist_t *h)
{
    return h->count;
}

double kc_hist_sum(const kc_hist_t *h)
{
    return h->sum;
}

int64_t kc_hist_min(const kc_hist_t *h)
{
    return h->min;
}

int64_t kc_hist_max(const kc_hist_t *h)
{
    return h->max;
}

uint64_t kc_hist_clamped(const kc_hist_t *h)
{
    return h->clamped;
}

double kc_hist_mean(const kc_hist_t *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

/* Index of the slot holding the value of the given 1-based rank. */
static size_t index_of_rank(const kc_hist_t *h, uint64_t rank)
{
    uint64_t seen = 0;

    for (size_t b = 0; b < NBLOCKS; b++) {
        if (!h->blocks[b]) {
            continue;
        }
        for (size_t i = 0; i < KC_HIST_BLOCK; i++) {
            seen += h->blocks[b][i];
            if (seen >= rank) {
                return b * KC_HIST_BLOCK + i;
            }
        }
    }
    return COUNTS_LEN - 1; /* not reached while counts and h->count agree */
}

int64_t kc_hist_percentile(const kc_hist_t *h, double pct)
{
    uint64_t rank;
    int64_t lo, w, v;

    if (h->count == 0) {
        return 0;
    }
    pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    rank = (uint64_t)(pct / 100.0 * (double)h->count + 0.5);
    rank = rank < 1 ? 1 : rank > h->count ? h->count : rank;
    index_range(index_of_rank(h, rank), &lo, &w);
    v = lo + w - 1;
    return v > h->max ? h->max : v < h->min ? h->min : v;
}

uint64_t kc_hist_count_le(const kc_hist_t *h, int64_t value_us)
{
    int clamped;
    size_t last = counts_index(clamp_value(value_us, &clamped));
    uint64_t n = 0;

    if (value_us < 0) {
        return 0;
    }
    for (size_t b = 0; b <= last / KC_HIST_BLOCK; b++) {
        if (!h->blocks[b]) {
            continue;
        }
        size_t end = b == last / KC_HIST_BLOCK ? last % KC_HIST_BLOCK + 1 : KC_HIST_BLOCK;
        for (size_t i = 0; i < end; i++) {
            n += h->blocks[b][i];
        }
    }
    return n;
}
