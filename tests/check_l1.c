/* Unit tests for libcore/cache/kc_l1.c: the in-process LRU + TTL cache. */
#include "kc_err.h"
#include "kc_l1.h"
#include "kc_normalize.h"

#include "kc_check.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000LL

static kc_key_t key_of(const char *norm)
{
    return kc_key_compute(norm, strlen(norm), 42);
}

static int put(kc_l1_t *l1, const char *norm, const char *category, int64_t now, int64_t ttl)
{
    kc_key_t key = key_of(norm);
    kc_answer_t ans = {.category = category,
                       .confidence = 0.75f,
                       .reasoning = NULL,
                       .model = "test-model",
                       .norm_query = norm,
                       .norm_len = strlen(norm),
                       .created_at = 1700000000000000LL};
    return kc_l1_put(l1, &key, &ans, now, ttl);
}

static int get(kc_l1_t *l1, const char *norm, int64_t now, kc_answer_t *out)
{
    kc_key_t key = key_of(norm);
    return kc_l1_get(l1, &key, norm, strlen(norm), now, out);
}

static void assert_hit(kc_l1_t *l1, const char *norm, const char *category, int64_t now)
{
    kc_answer_t out;
    int rc = get(l1, norm, now, &out);
    ck_assert_msg(rc == 0, "'%s' should hit at t=%lld, got %s", norm, (long long)now,
                  kc_strerror(rc));
    ck_assert_msg(strcmp(out.category, category) == 0, "'%s': category '%s', expected '%s'", norm,
                  out.category, category);
}

static void assert_miss(kc_l1_t *l1, const char *norm, int64_t now)
{
    kc_answer_t out;
    int rc = get(l1, norm, now, &out);
    ck_assert_msg(rc == KC_ERR_NOTFOUND, "'%s' should miss at t=%lld, got %d", norm, (long long)now,
                  rc);
}

/* ------------------------------------------------------------------------- */

START_TEST(test_new_destroy)
{
    ck_assert_msg(kc_l1_new(0) == NULL, "max_entries 0 must be refused");
    kc_l1_destroy(NULL);
    kc_l1_t *l1 = kc_l1_new(1);
    ck_assert_ptr_nonnull(l1);
    ck_assert_int_eq(kc_l1_count(l1), 0);
    kc_l1_destroy(l1);
    /* Destroy with entries in it: leak check under ASan/valgrind. */
    l1 = kc_l1_new(10);
    ck_assert_int_eq(put(l1, "a", "x", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "b", "x", 0, SEC), 0);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_hit_miss)
{
    kc_l1_t *l1 = kc_l1_new(16);
    kc_answer_t out;
    char norm[] = "what is kafka";
    char cat[] = "tech";
    char reasoning[] = "mentions a streaming platform";
    char model[] = "llama-3";
    kc_key_t key = key_of(norm);
    kc_answer_t ans = {cat, 0.9f, reasoning, model, norm, strlen(norm), 123456789, 0};

    assert_miss(l1, norm, 0);
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, 10 * SEC), 0);
    /* The cache must own copies: scribble over the caller's strings. */
    memset(cat, 'X', strlen(cat));
    memset(reasoning, 'X', strlen(reasoning));
    memset(model, 'X', strlen(model));

    int rc = kc_l1_get(l1, &key, "what is kafka", 13, SEC, &out);
    ck_assert_msg(rc == 0, "get after put: %s", kc_strerror(rc));
    ck_assert_str_eq(out.category, "tech");
    ck_assert_str_eq(out.reasoning, "mentions a streaming platform");
    ck_assert_str_eq(out.model, "llama-3");
    ck_assert_msg(out.norm_len == 13 && memcmp(out.norm_query, "what is kafka", 14) == 0,
                  "norm_query should be the stored copy, NUL-terminated");
    ck_assert_msg(out.confidence == 0.9f, "confidence %f", out.confidence);
    ck_assert_msg(out.created_at == 123456789, "created_at %lld", (long long)out.created_at);
    ck_assert_int_eq(kc_l1_count(l1), 1);
    assert_miss(l1, "what is redis", SEC);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_null_optional_strings)
{
    kc_l1_t *l1 = kc_l1_new(4);
    kc_key_t key = key_of("q");
    kc_answer_t ans = {"cat", 0.5f, NULL, NULL, "q", 1, 0, 0};
    kc_answer_t out;
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    ck_assert_int_eq(kc_l1_get(l1, &key, "q", 1, 0, &out), 0);
    ck_assert_msg(out.reasoning == NULL && out.model == NULL,
                  "absent reasoning/model must come back NULL, not \"\"");
    /* Empty strings stay empty strings. */
    ans.reasoning = "";
    ans.model = "";
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    ck_assert_int_eq(kc_l1_get(l1, &key, "q", 1, 0, &out), 0);
    ck_assert_msg(out.reasoning && out.reasoning[0] == '\0' && out.model && out.model[0] == '\0',
                  "\"\" must come back as \"\"");
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_invalid_put)
{
    kc_l1_t *l1 = kc_l1_new(4);
    kc_key_t key = key_of("q");
    kc_answer_t ans = {NULL, 0.5f, NULL, NULL, "q", 1, 0, 0};
    ck_assert_msg(kc_l1_put(l1, &key, &ans, 0, SEC) == KC_ERR_INVALID, "NULL category");
    ans.category = "c";
    ans.norm_query = NULL;
    ck_assert_msg(kc_l1_put(l1, &key, &ans, 0, SEC) == KC_ERR_INVALID, "NULL norm with length");
    ck_assert_int_eq(kc_l1_count(l1), 0);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_empty_and_binary_norm)
{
    kc_l1_t *l1 = kc_l1_new(4);
    kc_answer_t out;
    /* The normalized query may legitimately contain NUL (U+0000). */
    const char bin[] = "a\0b";
    const char bin2[] = "a\0c";
    kc_key_t key = kc_key_compute(bin, 3, 1);
    kc_answer_t ans = {"c", 1.0f, NULL, NULL, bin, 3, 0, 0};
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    ck_assert_msg(kc_l1_get(l1, &key, bin, 3, 0, &out) == 0 && out.norm_len == 3 &&
                      memcmp(out.norm_query, bin, 3) == 0,
                  "binary norm should round-trip");
    ck_assert_msg(kc_l1_get(l1, &key, bin2, 3, 0, &out) == KC_ERR_NOTFOUND,
                  "comparison must cover bytes after an embedded NUL");

    kc_key_t ekey = kc_key_compute("", 0, 1);
    kc_answer_t eans = {"empty", 1.0f, NULL, NULL, NULL, 0, 0, 0};
    ck_assert_int_eq(kc_l1_put(l1, &ekey, &eans, 0, SEC), 0);
    ck_assert_int_eq(kc_l1_get(l1, &ekey, "", 0, 0, &out), 0);
    ck_assert_msg(out.norm_len == 0 && out.norm_query[0] == '\0', "empty norm");
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_ttl_expiry)
{
    kc_l1_t *l1 = kc_l1_new(8);
    kc_l1_stats_t st;
    ck_assert_int_eq(put(l1, "q", "c", 1000, 500), 0);
    assert_hit(l1, "q", "c", 1000);
    assert_hit(l1, "q", "c", 1499);
    assert_miss(l1, "q", 1500); /* expires_at = now + ttl is already expired */
    ck_assert_msg(kc_l1_count(l1) == 0, "expired entry should be removed on get");
    assert_miss(l1, "q", 1000); /* gone, even if the clock looked earlier */
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.expired == 1, "expired %llu", (unsigned long long)st.expired);
    ck_assert_msg(st.hits == 2 && st.misses == 2, "hits %llu misses %llu",
                  (unsigned long long)st.hits, (unsigned long long)st.misses);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_ttl_per_entry)
{
    kc_l1_t *l1 = kc_l1_new(8);
    ck_assert_int_eq(put(l1, "short", "c", 0, 10), 0);
    ck_assert_int_eq(put(l1, "long", "c", 0, 1000), 0);
    assert_miss(l1, "short", 20);
    assert_hit(l1, "long", "c", 20);
    /* A refresh by put restarts the TTL. */
    ck_assert_int_eq(put(l1, "long", "c2", 900, 1000), 0);
    assert_hit(l1, "long", "c2", 1500);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_ttl_huge_no_wrap)
{
    kc_l1_t *l1 = kc_l1_new(2);
    int64_t now = 5 * SEC;
    ck_assert_int_eq(put(l1, "forever", "c", now, INT64_MAX), 0);
    assert_hit(l1, "forever", "c", INT64_MAX - 1);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_ttl_zero)
{
    kc_l1_t *l1 = kc_l1_new(2);
    ck_assert_int_eq(put(l1, "q", "c", 100, 0), 0);
    assert_miss(l1, "q", 100);
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_lru_eviction_order)
{
    kc_l1_t *l1 = kc_l1_new(3);
    kc_l1_stats_t st;
    ck_assert_int_eq(put(l1, "a", "A", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "b", "B", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "c", "C", 0, SEC), 0);
    assert_hit(l1, "a", "A", 1); /* order now (MRU..LRU): a c b */
    ck_assert_int_eq(put(l1, "d", "D", 2, SEC), 0);
    ck_assert_msg(kc_l1_count(l1) == 3, "count must stay at max_entries");
    assert_miss(l1, "b", 3); /* b was least recently used */
    /* order: d a c */
    ck_assert_int_eq(put(l1, "e", "E", 4, SEC), 0);
    assert_miss(l1, "c", 5);
    /* order: e d a; a miss does not touch the order */
    assert_hit(l1, "d", "D", 6); /* d e a */
    ck_assert_int_eq(put(l1, "f", "F", 7, SEC), 0);
    assert_miss(l1, "a", 8);
    assert_hit(l1, "d", "D", 9);
    assert_hit(l1, "e", "E", 9);
    assert_hit(l1, "f", "F", 9);
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.evicted == 3, "evicted %llu", (unsigned long long)st.evicted);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_lru_single_slot)
{
    kc_l1_t *l1 = kc_l1_new(1);
    ck_assert_int_eq(put(l1, "a", "A", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "b", "B", 0, SEC), 0);
    assert_miss(l1, "a", 1);
    assert_hit(l1, "b", "B", 1);
    ck_assert_int_eq(kc_l1_count(l1), 1);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_replace)
{
    kc_l1_t *l1 = kc_l1_new(3);
    kc_l1_stats_t st;
    ck_assert_int_eq(put(l1, "a", "old", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "b", "B", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "c", "C", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "a", "new", 1, SEC), 0); /* replace makes a MRU: a c b */
    ck_assert_msg(kc_l1_count(l1) == 3, "replace must not add an entry");
    assert_hit(l1, "a", "new", 2);
    ck_assert_int_eq(put(l1, "d", "D", 3, SEC), 0);
    assert_miss(l1, "b", 4);
    assert_hit(l1, "a", "new", 4);
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.evicted == 1, "replacing must not count as an eviction (evicted %llu)",
                  (unsigned long long)st.evicted);
    ck_assert_msg(st.inserts == 5, "inserts %llu", (unsigned long long)st.inserts);
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_collision_same_key)
{
    kc_l1_t *l1 = kc_l1_new(4);
    kc_answer_t out;
    kc_key_t key = {0x1111, 0x2222};
    kc_answer_t ans = {"right", 1.0f, NULL, NULL, "query one", 9, 0, 0};
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    ck_assert_msg(kc_l1_get(l1, &key, "query two", 9, 0, &out) == KC_ERR_NOTFOUND,
                  "same key, different norm (same length) must miss");
    ck_assert_msg(kc_l1_get(l1, &key, "query", 5, 0, &out) == KC_ERR_NOTFOUND,
                  "same key, norm that is a prefix must miss");
    ck_assert_msg(kc_l1_get(l1, &key, "query one!", 10, 0, &out) == KC_ERR_NOTFOUND,
                  "same key, longer norm must miss");
    ck_assert_msg(kc_l1_get(l1, &key, "query one", 9, 0, &out) == 0 &&
                      strcmp(out.category, "right") == 0,
                  "the stored query must still hit after collisions");
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_collision_same_bucket)
{
    /* Keys sharing the low 64 bits (one bucket before buckets were keyed by a
     * random seed; a one-entry-per-bucket table still chains) stay apart. */
    kc_l1_t *l1 = kc_l1_new(8);
    kc_answer_t out;
    char norm[8][8];
    for (int i = 0; i < 8; i++) {
        snprintf(norm[i], sizeof(norm[i]), "q%d", i);
        kc_key_t key = {(uint64_t)i, 0xABCDEF};
        kc_answer_t ans = {norm[i], 1.0f, NULL, NULL, norm[i], strlen(norm[i]), 0, 0};
        ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    }
    ck_assert_int_eq(kc_l1_count(l1), 8);
    kc_key_t k3 = {3, 0xABCDEF};
    ck_assert_int_eq(kc_l1_del(l1, &k3), 0);
    for (int i = 0; i < 8; i++) {
        kc_key_t key = {(uint64_t)i, 0xABCDEF};
        int rc = kc_l1_get(l1, &key, norm[i], strlen(norm[i]), 0, &out);
        if (i == 3) {
            ck_assert_msg(rc == KC_ERR_NOTFOUND, "deleted chain member still found");
        } else {
            ck_assert_msg(rc == 0 && strcmp(out.category, norm[i]) == 0,
                          "chain member %d lost or mixed up (rc %d)", i, rc);
        }
    }
    kc_l1_destroy(l1);
}
END_TEST

/* Hash flooding: keys alike in their low bits spread over the buckets. */
START_TEST(test_flooding_keys_spread)
{
    kc_l1_t *l1 = kc_l1_new(4096);
    kc_answer_t ans = {"c", 1.0f, NULL, NULL, "q", 1, 0, 0};

    for (uint64_t i = 0; i < 4096; i++) {
        kc_key_t key = {i, 0};
        ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, SEC), 0);
    }
    ck_assert_int_eq(kc_l1_count(l1), 4096);
    ck_assert_uint_lt(kc_l1_chain_max(l1), 32); /* unkeyed: one chain of 4096 */
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

START_TEST(test_del)
{
    kc_l1_t *l1 = kc_l1_new(3);
    kc_key_t ka = key_of("a");
    ck_assert_int_eq(put(l1, "a", "A", 0, SEC), 0);
    ck_assert_int_eq(put(l1, "b", "B", 0, SEC), 0);
    ck_assert_int_eq(kc_l1_del(l1, &ka), 0);
    ck_assert_msg(kc_l1_del(l1, &ka) == KC_ERR_NOTFOUND, "second del should be NOTFOUND");
    ck_assert_int_eq(kc_l1_count(l1), 1);
    assert_miss(l1, "a", 1);
    assert_hit(l1, "b", "B", 1);
    /* The freed slot is reusable without an eviction. */
    ck_assert_int_eq(put(l1, "c", "C", 2, SEC), 0);
    ck_assert_int_eq(put(l1, "d", "D", 2, SEC), 0);
    kc_l1_stats_t st;
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.evicted == 0, "evicted %llu", (unsigned long long)st.evicted);
    /* Delete head, tail and the last entry: LRU list must stay consistent. */
    kc_key_t kd = key_of("d"), kb = key_of("b"), kc = key_of("c");
    ck_assert_int_eq(kc_l1_del(l1, &kd), 0);
    ck_assert_int_eq(kc_l1_del(l1, &kb), 0);
    ck_assert_int_eq(kc_l1_del(l1, &kc), 0);
    ck_assert_int_eq(kc_l1_count(l1), 0);
    ck_assert_int_eq(put(l1, "e", "E", 3, SEC), 0);
    assert_hit(l1, "e", "E", 3);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_stats)
{
    kc_l1_t *l1 = kc_l1_new(2);
    kc_l1_stats_t st;
    kc_answer_t out;
    kc_key_t key = key_of("a");
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.hits == 0 && st.misses == 0 && st.expired == 0 && st.evicted == 0 &&
                      st.inserts == 0,
                  "fresh cache counters must be zero");
    put(l1, "a", "A", 0, 100);             /* insert 1 */
    put(l1, "b", "B", 0, 100);             /* insert 2 */
    put(l1, "c", "C", 0, 100);             /* insert 3, evicts a */
    get(l1, "a", 1, &out);                 /* miss */
    get(l1, "b", 1, &out);                 /* hit */
    get(l1, "c", 1, &out);                 /* hit */
    get(l1, "c", 200, &out);               /* expired + miss */
    kc_l1_get(l1, &key, "zz", 2, 1, &out); /* miss */
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.inserts == 3, "inserts %llu", (unsigned long long)st.inserts);
    ck_assert_msg(st.evicted == 1, "evicted %llu", (unsigned long long)st.evicted);
    ck_assert_msg(st.hits == 2, "hits %llu", (unsigned long long)st.hits);
    ck_assert_msg(st.misses == 3, "misses %llu (expired gets count as misses)",
                  (unsigned long long)st.misses);
    ck_assert_msg(st.expired == 1, "expired %llu", (unsigned long long)st.expired);
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

#define BIG 100000

START_TEST(test_fill_lookup_100k)
{
    kc_l1_t *l1 = kc_l1_new(BIG);
    kc_l1_stats_t st;
    kc_answer_t out;
    char norm[32], cat[32];

    for (int i = 0; i < BIG; i++) {
        snprintf(norm, sizeof(norm), "query number %d", i);
        snprintf(cat, sizeof(cat), "cat%d", i % 97);
        ck_assert_int_eq(put(l1, norm, cat, 0, 3600 * SEC), 0);
    }
    ck_assert_int_eq(kc_l1_count(l1), BIG);
    for (int i = 0; i < BIG; i++) {
        snprintf(norm, sizeof(norm), "query number %d", i);
        snprintf(cat, sizeof(cat), "cat%d", i % 97);
        int rc = get(l1, norm, 1, &out);
        ck_assert_msg(rc == 0, "entry %d missing (%s)", i, kc_strerror(rc));
        ck_assert_msg(strcmp(out.category, cat) == 0, "entry %d: '%s' != '%s'", i, out.category,
                      cat);
    }
    /* Lookups touched 0..BIG-1 in order, so 0 is now least recently used. */
    ck_assert_int_eq(put(l1, "one more", "x", 2, SEC), 0);
    assert_miss(l1, "query number 0", 3);
    assert_hit(l1, "query number 1", "cat1", 3);
    kc_l1_stats(l1, &st);
    ck_assert_msg(st.hits == BIG + 1 && st.evicted == 1, "hits %llu evicted %llu",
                  (unsigned long long)st.hits, (unsigned long long)st.evicted);
    kc_l1_destroy(l1);
}
END_TEST

START_TEST(test_overfill_keeps_newest)
{
    kc_l1_t *l1 = kc_l1_new(BIG / 2);
    kc_answer_t out;
    char norm[32];
    for (int i = 0; i < BIG; i++) {
        snprintf(norm, sizeof(norm), "q%d", i);
        ck_assert_int_eq(put(l1, norm, "c", 0, SEC), 0);
    }
    ck_assert_int_eq(kc_l1_count(l1), BIG / 2);
    int hits = 0;
    for (int i = 0; i < BIG; i++) {
        snprintf(norm, sizeof(norm), "q%d", i);
        int rc = get(l1, norm, 1, &out);
        ck_assert_msg((rc == 0) == (i >= BIG / 2), "entry %d: rc %d", i, rc);
        hits += rc == 0;
    }
    ck_assert_int_eq(hits, BIG / 2);
    kc_l1_destroy(l1);
}
END_TEST

/* ------------------------------------------------------------------------- */

/* A fallback answer keeps its mark, so a hit on it is not passed off as OK. */
START_TEST(test_degraded_flag)
{
    kc_l1_t *l1 = kc_l1_new(10);
    kc_key_t key = key_of("q");
    kc_answer_t ans = {"GENERAL", 0.4f, NULL, NULL, "q", 1, 0, 1}, out;

    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, 10 * SEC), 0);
    ck_assert_int_eq(kc_l1_get(l1, &key, "q", 1, 1, &out), 0);
    ck_assert_msg(out.degraded == 1, "the degraded mark was lost");
    ans.degraded = 0;
    ck_assert_int_eq(kc_l1_put(l1, &key, &ans, 0, 10 * SEC), 0);
    ck_assert_int_eq(kc_l1_get(l1, &key, "q", 1, 1, &out), 0);
    ck_assert_int_eq(out.degraded, 0);
    kc_l1_destroy(l1);
}
END_TEST

/* A byte bound evicts least recently used entries until the new one fits. */
START_TEST(test_byte_bound)
{
    kc_l1_t *l1 = kc_l1_new(1000);
    char norm[64];
    size_t one;

    ck_assert_int_eq(put(l1, "query 0", "GENERAL", 0, 100 * SEC), 0);
    one = kc_l1_bytes(l1);
    ck_assert_msg(one > strlen("query 0"), "an entry must count its header, got %zu", one);
    kc_l1_set_max_bytes(l1, one * 3);
    for (int i = 1; i < 10; i++) {
        snprintf(norm, sizeof(norm), "query %d", i);
        ck_assert_int_eq(put(l1, norm, "GENERAL", 0, 100 * SEC), 0);
        ck_assert_msg(kc_l1_bytes(l1) <= one * 3, "bytes %zu above the bound %zu", kc_l1_bytes(l1),
                      one * 3);
    }
    ck_assert_uint_eq(kc_l1_count(l1), 3);
    assert_hit(l1, "query 9", "GENERAL", 1);
    assert_hit(l1, "query 7", "GENERAL", 1);
    assert_miss(l1, "query 6", 1);
    kc_l1_destroy(l1);
}
END_TEST

static Suite *l1_suite(void)
{
    Suite *s = suite_create("l1");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_add_test(tc, test_new_destroy);
    tcase_add_test(tc, test_hit_miss);
    tcase_add_test(tc, test_null_optional_strings);
    tcase_add_test(tc, test_invalid_put);
    tcase_add_test(tc, test_empty_and_binary_norm);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl");
    tcase_add_test(tc, test_ttl_expiry);
    tcase_add_test(tc, test_ttl_per_entry);
    tcase_add_test(tc, test_ttl_huge_no_wrap);
    tcase_add_test(tc, test_ttl_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("lru");
    tcase_add_test(tc, test_lru_eviction_order);
    tcase_add_test(tc, test_lru_single_slot);
    tcase_add_test(tc, test_replace);
    tcase_add_test(tc, test_byte_bound);
    tcase_add_test(tc, test_degraded_flag);
    suite_add_tcase(s, tc);

    tc = tcase_create("collision");
    tcase_add_test(tc, test_collision_same_key);
    tcase_add_test(tc, test_collision_same_bucket);
    tcase_add_test(tc, test_flooding_keys_spread);
    suite_add_tcase(s, tc);

    tc = tcase_create("del_stats");
    tcase_add_test(tc, test_del);
    tcase_add_test(tc, test_stats);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_test(tc, test_fill_lookup_100k);
    tcase_add_test(tc, test_overfill_keeps_newest);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return kc_check_run(l1_suite());
}
