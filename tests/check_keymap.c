/* Unit tests for the in-flight key map. */
#include "kc_keymap.h"

#include "kc_check.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static kc_key_t key_of(uint64_t i)
{
    /* lo values that collide in small tables exercise probing and deletion. */
    kc_key_t k = {i * 0x9E3779B97F4A7C15ULL, i << 8};
    return k;
}

START_TEST(test_put_get_del)
{
    kc_keymap_t *km = kc_keymap_new(4);
    kc_key_t a = key_of(1), b = key_of(2);
    int va = 1, vb = 2;

    ck_assert_ptr_nonnull(km);
    ck_assert_ptr_null(kc_keymap_get(km, &a));
    ck_assert_int_eq(kc_keymap_put(km, &a, &va), 0);
    ck_assert_int_eq(kc_keymap_put(km, &b, &vb), 0);
    ck_assert_ptr_eq(kc_keymap_get(km, &a), &va);
    ck_assert_ptr_eq(kc_keymap_get(km, &b), &vb);
    ck_assert_ptr_eq(kc_keymap_put(km, &a, &vb) == 0 ? kc_keymap_get(km, &a) : NULL, &vb);
    ck_assert_uint_eq(kc_keymap_count(km), 2);
    ck_assert_ptr_eq(kc_keymap_del(km, &a), &vb);
    ck_assert_ptr_null(kc_keymap_get(km, &a));
    ck_assert_ptr_null(kc_keymap_del(km, &a));
    ck_assert_uint_eq(kc_keymap_count(km), 1);
    kc_keymap_destroy(km);
}
END_TEST

/* Same hi, lo differing only above the table mask (one probe run before the
 * table was keyed by a random seed; still a dense table): deletions in the
 * middle of runs must keep the rest reachable. */
START_TEST(test_collisions_and_backshift)
{
    kc_keymap_t *km = kc_keymap_new(8);
    static int vals[64];

    for (uint64_t i = 0; i < 64; i++) {
        kc_key_t k = {7, i << 32};
        ck_assert_int_eq(kc_keymap_put(km, &k, &vals[i]), 0);
    }
    for (uint64_t i = 0; i < 64; i += 3) {
        kc_key_t k = {7, i << 32};
        ck_assert_ptr_eq(kc_keymap_del(km, &k), &vals[i]);
    }
    for (uint64_t i = 0; i < 64; i++) {
        kc_key_t k = {7, i << 32};
        void *want = (i % 3 == 0) ? NULL : &vals[i];
        ck_assert_msg(kc_keymap_get(km, &k) == want, "key %llu: wrong lookup after deletes",
                      (unsigned long long)i);
    }
    kc_keymap_destroy(km);
}
END_TEST

/* Hash flooding: keys a requester could search for (all with lo = 0, or
 * alike in their low bits) spread over the table like any others, because
 * slots come from a keyed hash with a random per-table seed. */
START_TEST(test_flooding_keys_spread)
{
    kc_keymap_t *a = kc_keymap_new(16), *b = kc_keymap_new(16);
    static int v;

    for (uint64_t i = 0; i < 4096; i++) {
        kc_key_t k0 = {i, 0}, k1 = {0, i << 40};
        ck_assert_int_eq(kc_keymap_put(a, &k0, &v), 0);
        ck_assert_int_eq(kc_keymap_put(b, &k1, &v), 0);
    }
    /* Unkeyed, every key would sit in one run of 4096. */
    ck_assert_uint_lt(kc_keymap_probe_max(a), 64);
    ck_assert_uint_lt(kc_keymap_probe_max(b), 64);
    kc_keymap_destroy(a);
    kc_keymap_destroy(b);
}
END_TEST

/* Random operations checked against a plain array model. */
START_TEST(test_random_against_model)
{
    enum { N = 2000 };
    static int present[N];
    kc_keymap_t *km = kc_keymap_new(1);
    size_t cnt = 0;

    srand(42);
    for (int op = 0; op < 200000; op++) {
        int i = rand() % N;
        kc_key_t k = key_of((uint64_t)i);
        if (rand() % 2) {
            ck_assert_int_eq(kc_keymap_put(km, &k, &present[i]), 0);
            cnt += present[i] ? 0 : 1;
            present[i] = 1;
        } else {
            void *got = kc_keymap_del(km, &k);
            ck_assert_msg((got != NULL) == (present[i] != 0), "op %d key %d: del mismatch", op, i);
            cnt -= present[i] ? 1 : 0;
            present[i] = 0;
        }
        ck_assert_uint_eq(kc_keymap_count(km), cnt);
    }
    for (int i = 0; i < N; i++) {
        kc_key_t k = key_of((uint64_t)i);
        ck_assert_msg((kc_keymap_get(km, &k) != NULL) == (present[i] != 0), "key %d", i);
    }
    kc_keymap_destroy(km);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keymap");
    TCase *tc = tcase_create("map");

    tcase_add_test(tc, test_put_get_del);
    tcase_add_test(tc, test_collisions_and_backshift);
    tcase_add_test(tc, test_flooding_keys_spread);
    tcase_add_test(tc, test_random_against_model);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
