/* Unit tests for kc_hist: HDR-style log-linear histogram. */
#include "kc_err.h"
#include "kc_hist.h"

#include "kc_check.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank as the histogram defines it: round(p/100*n), at least 1. */
static int64_t exact_percentile(const int64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.5);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return sorted[rank - 1];
}

typedef enum { DIST_UNIFORM, DIST_EXP, DIST_LOGNORMAL, DIST_BIMODAL, DIST_WIDE } dist_t;

static int64_t draw(dist_t d)
{
    double u = rnd_unit();
    switch (d) {
    case DIST_UNIFORM:
        return (int64_t)(u * 2000000); /* 0 .. 2 s */
    case DIST_EXP:
        return (int64_t)(-log(1 - u) * 150000); /* mean 150 ms */
    case DIST_LOGNORMAL: {
        double z = sqrt(-2 * log(1 - u)) * cos(2 * M_PI * rnd_unit());
        return (int64_t)exp(11.5 + 0.8 * z); /* median ~100 ms */
    }
    case DIST_BIMODAL:
        return u < 0.9 ? (int64_t)(200 + rnd_unit() * 800)         /* cache hits: 0.2-1 ms */
                       : (int64_t)(900000 + rnd_unit() * 1500000); /* LLM: 0.9-2.4 s */
    default:
        return (int64_t)exp(rnd_unit() * log((double)KC_HIST_MAX_US)); /* 1 us .. 1 h */
    }
}

/* Every percentile must be >= the exact value at that rank and above it by at
 * most 1/1024 of it (3 significant digits), and in the same bucket. */
static void check_distribution(dist_t d, size_t n, uint64_t seed)
{
    static const double pcts[] = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    int64_t *vals = malloc(n * sizeof(*vals));
    kc_hist_t *h = kc_hist_new();
    double sum = 0;

    rng_state = seed;
    ck_assert(vals && h);
    for (size_t i = 0; i < n; i++) {
        vals[i] = draw(d);
        sum += (double)vals[i];
        ck_assert_int_eq(kc_hist_record(h, vals[i]), 0);
    }
    qsort(vals, n, sizeof(*vals), cmp_i64);
    ck_assert_uint_eq(kc_hist_count(h), n);
    ck_assert_int_eq(kc_hist_min(h), vals[0]);
    ck_assert_int_eq(kc_hist_max(h), vals[n - 1]);
    ck_assert_msg(fabs(kc_hist_sum(h) - sum) < 1e-6 * sum, "sum %f != %f", kc_hist_sum(h), sum);
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        int64_t exact = exact_percentile(vals, n, pcts[i]);
        int64_t got = kc_hist_percentile(h, pcts[i]);
        ck_assert_msg(got >= exact && (double)(got - exact) <= (double)exact / 1024.0 + 1e-9,
                      "dist %d seed %" PRIu64 " p%.2f: histogram %" PRId64 ", exact %" PRId64
                      " (error above 1/1024)",
                      (int)d, seed, pcts[i], got, exact);
        ck_assert_msg(kc_hist_lowest_equiv(got) == kc_hist_lowest_equiv(exact),
                      "p%.2f: %" PRId64 " and %" PRId64 " in different buckets", pcts[i], got,
                      exact);
    }
    kc_hist_destroy(h);
    free(vals);
}

START_TEST(test_percentiles_random)
{
    for (dist_t d = DIST_UNIFORM; d <= DIST_WIDE; d++) {
        for (uint64_t seed = 1; seed <= 4; seed++) {
            check_distribution(d, 20000, seed * 7919 + (uint64_t)d);
        }
    }
    check_distribution(DIST_LOGNORMAL, 1, 99); /* a single value */
    check_distribution(DIST_BIMODAL, 7, 98);   /* fewer values than percentiles */
}
END_TEST

START_TEST(test_exact_below_2048)
{
    kc_hist_t *h = kc_hist_new();

    for (int64_t v = 0; v < 2048; v++) {
        ck_assert_int_eq(kc_hist_lowest_equiv(v), v);
        ck_assert_int_eq(kc_hist_highest_equiv(v), v);
        kc_hist_record(h, v);
    }
    /* 2048 values 0..2047: the p50 rank is 1024, i.e. value 1023 */
    ck_assert_int_eq(kc_hist_percentile(h, 50), 1023);
    ck_assert_int_eq(kc_hist_count_le(h, 99), 100);
    kc_hist_destroy(h);
}
END_TEST

START_TEST(test_bucket_width)
{
    /* Every bucket's width is at most 1/1024 of its lowest value beyond 2048. */
    for (int64_t v = 2048; v < KC_HIST_MAX_US; v = v * 3 / 2 + 17) {
        int64_t lo = kc_hist_lowest_equiv(v), hi = kc_hist_highest_equiv(v);
        ck_assert_msg(lo <= v && v <= hi,
                      "%" PRId64 " outside its bucket [%" PRId64 ", %" PRId64 "]", v, lo, hi);
        ck_assert_msg((double)(hi - lo + 1) <= (double)lo / 1024.0 + 1,
                      "bucket of %" PRId64 " is %" PRId64 " wide", v, hi - lo + 1);
    }
}
END_TEST

START_TEST(test_clamp_and_empty)
{
    kc_hist_t *h = kc_hist_new();

    ck_assert_int_eq(kc_hist_percentile(h, 50), 0);
    ck_assert_int_eq(kc_hist_max(h), 0);
    ck_assert_double_eq(kc_hist_mean(h), 0);
    kc_hist_record(h, -5);
    kc_hist_record(h, KC_HIST_MAX_US * 10);
    ck_assert_uint_eq(kc_hist_clamped(h), 2);
    ck_assert_int_eq(kc_hist_min(h), 0);
    ck_assert_int_eq(kc_hist_max(h), KC_HIST_MAX_US);
    ck_assert_int_eq(kc_hist_percentile(h, 100), KC_HIST_MAX_US);
    kc_hist_reset(h);
    ck_assert_uint_eq(kc_hist_count(h), 0);
    ck_assert_uint_eq(kc_hist_clamped(h), 0);
    kc_hist_destroy(h);
    kc_hist_destroy(NULL);
}
END_TEST

START_TEST(test_merge_equals_union)
{
    kc_hist_t *a = kc_hist_new(), *b = kc_hist_new(), *all = kc_hist_new(), *m = kc_hist_new();

    rng_state = 4242;
    for (int i = 0; i < 5000; i++) {
        int64_t v = draw(DIST_LOGNORMAL);
        kc_hist_record(i % 3 ? a : b, v);
        kc_hist_record(all, v);
    }
    ck_assert_int_eq(kc_hist_merge(m, a), 0);
    ck_assert_int_eq(kc_hist_merge(m, b), 0);
    ck_assert_uint_eq(kc_hist_count(m), kc_hist_count(all));
    ck_assert_int_eq(kc_hist_min(m), kc_hist_min(all));
    ck_assert_int_eq(kc_hist_max(m), kc_hist_max(all));
    for (double p = 0; p <= 100; p += 0.5) {
        ck_assert_msg(kc_hist_percentile(m, p) == kc_hist_percentile(all, p),
                      "merged p%.1f differs from the union's", p);
    }
    for (int64_t le = 1000; le < 10000000; le *= 3) {
        ck_assert_uint_eq(kc_hist_count_le(m, le), kc_hist_count_le(all, le));
    }
    kc_hist_destroy(a);
    kc_hist_destroy(b);
    kc_hist_destroy(all);
    kc_hist_destroy(m);
}
END_TEST

START_TEST(test_count_le)
{
    kc_hist_t *h = kc_hist_new();

    kc_hist_record_n(h, 1000, 5);    /* 1 ms */
    kc_hist_record_n(h, 250000, 3);  /* 250 ms */
    kc_hist_record_n(h, 1600000, 2); /* 1.6 s */
    ck_assert_uint_eq(kc_hist_count_le(h, 999), 0);
    ck_assert_uint_eq(kc_hist_count_le(h, 1000), 5);
    ck_assert_uint_eq(kc_hist_count_le(h, 249000), 5);
    ck_assert_uint_eq(kc_hist_count_le(h, 250000), 8);
    ck_assert_uint_eq(kc_hist_count_le(h, 1500000), 8);
    ck_assert_uint_eq(kc_hist_count_le(h, 2000000), 10);
    ck_assert_uint_eq(kc_hist_count_le(h, -1), 0);
    ck_assert_double_eq_tol(kc_hist_mean(h), (5 * 1000.0 + 3 * 250000 + 2 * 1600000) / 10, 1e-6);
    kc_hist_destroy(h);
}
END_TEST

START_TEST(test_memory_is_lazy)
{
    kc_hist_t *h = kc_hist_new();
    size_t empty = kc_hist_memsize(h);

    for (int i = 0; i < 100000; i++) {
        kc_hist_record(h, 150000 + i % 1000); /* a narrow band */
    }
    ck_assert_msg(kc_hist_memsize(h) < empty + 8192, "a narrow band of values allocated %zu bytes",
                  kc_hist_memsize(h) - empty);
    kc_hist_destroy(h);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc;

    tc = tcase_create("percentiles");
    tcase_add_test(tc, test_percentiles_random);
    tcase_add_test(tc, test_exact_below_2048);
    tcase_add_test(tc, test_bucket_width);
    tcase_add_test(tc, test_clamp_and_empty);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("merge");
    tcase_add_test(tc, test_merge_equals_union);
    suite_add_tcase(s, tc);

    tc = tcase_create("buckets");
    tcase_add_test(tc, test_count_le);
    tcase_add_test(tc, test_memory_is_lazy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(hist_suite());
}
