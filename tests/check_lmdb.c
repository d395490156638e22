/* Unit tests for libcore/cache/kc_lmdb.c: the L2 cache on real LMDB files in a temp dir. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "kc_buf.h"
#include "kc_cache_rec.h"
#include "kc_err.h"
#include "kc_lmdb.h"
#include "kc_normalize.h"

#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC  1000000LL
#define T0   1700000000000000LL /* wall-clock base for records */
#define SEED 42

static char root[64];  /* mkdtemp dir of this run, removed by main() */
static char base[128]; /* one per test, inside root */
static char path[192]; /* cache dir inside base, created by kc_lmdb_new */
static char errstr[512];
static int test_seq;

/* Each test (a forked child) gets its own dir; a failed test skips its
 * teardown, so main() removes the whole root at the end. */
static void setup(void)
{
    snprintf(base, sizeof(base), "%s/t%d.%d", root, (int)getpid(), test_seq++);
    ck_assert_msg(mkdir(base, 0700) == 0, "mkdir %s failed", base);
    snprintf(path, sizeof(path), "%s/cache", base);
}

static void rm_file(const char *dir, const char *name)
{
    char p[320];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unlink(p);
}

static void teardown(void)
{
    rm_file(path, "data.mdb");
    rm_file(path, "lock.mdb");
    rmdir(path);
    rm_file(base, "afile");
    rmdir(base);
}

static kc_lmdb_t *open_ok(size_t mb)
{
    kc_lmdb_t *lm = kc_lmdb_new(path, mb, errstr, sizeof(errstr));
    ck_assert_msg(lm != NULL, "open %s: %s", path, errstr);
    return lm;
}

/* Records are built from a query text; the key is computed as the worker does. */
static kc_key_t key_of(const char *norm)
{
    return kc_key_compute(norm, strlen(norm), SEED);
}

static kc_cache_rec_t rec_of(const char *norm, const char *category, int64_t created,
                             int64_t expires)
{
    kc_cache_rec_t rec = {0};
    rec.norm = norm;
    rec.norm_len = strlen(norm);
    rec.category = category;
    rec.category_len = strlen(category);
    rec.confidence = 0.75f;
    rec.reasoning = "because";
    rec.reasoning_len = 7;
    rec.model = "test-model";
    rec.model_len = 10;
    rec.created_at = created;
    rec.expires_at = expires;
    return rec;
}

static void put1(kc_lmdb_t *lm, const char *norm, const char *category, int64_t created,
                 int64_t expires)
{
    kc_key_t key = key_of(norm);
    kc_cache_rec_t rec = rec_of(norm, category, created, expires);
    int rc = kc_lmdb_put_many(lm, &key, &rec, 1, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "put '%s': %s", norm, errstr);
}

/* @returns the rc of the single lookup; on hit *rec views into arena. */
static int get1(kc_lmdb_t *lm, const char *norm, int64_t now, kc_cache_rec_t *rec, kc_buf_t *arena)
{
    kc_key_t key = key_of(norm);
    size_t len = strlen(norm);
    int rcs[1];
    int rc =
        kc_lmdb_get_many(lm, &key, &norm, &len, 1, now, rec, rcs, arena, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "get_many: %s", errstr);
    return rcs[0];
}

static void assert_hit(kc_lmdb_t *lm, const char *norm, const char *category, int64_t now)
{
    kc_cache_rec_t rec;
    kc_buf_t arena;

    kc_buf_init(&arena);
    ck_assert_msg(get1(lm, norm, now, &rec, &arena) == 0, "'%s' should hit at T0%+lld s", norm,
                  (long long)((now - T0) / SEC));
    ck_assert_msg(rec.category_len == strlen(category) &&
                      memcmp(rec.category, category, rec.category_len) == 0,
                  "'%s': category '%.*s', expected '%s'", norm, (int)rec.category_len, rec.category,
                  category);
    kc_buf_free(&arena);
}

static void assert_miss(kc_lmdb_t *lm, const char *norm, int64_t now)
{
    kc_cache_rec_t rec;
    kc_buf_t arena;

    kc_buf_init(&arena);
    ck_assert_msg(get1(lm, norm, now, &rec, &arena) == KC_ERR_NOTFOUND, "'%s' should miss", norm);
    kc_buf_free(&arena);
}

static uint64_t entries(kc_lmdb_t *lm)
{
    kc_lmdb_stats_t st;
    ck_assert_msg(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)) == 0, "stats: %s", errstr);
    return st.entries;
}

/* ------------------------------------------------------------------- open */

START_TEST(test_open_modes)
{
    struct stat sb;
    char p[320];
    kc_lmdb_t *lm;
    mode_t old = umask(022);

    lm = open_ok(1);
    umask(old);
    ck_assert_msg(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "cache dir not created");
    ck_assert_msg((sb.st_mode & 0777) == 0700, "cache dir mode %o, expected 700",
                  sb.st_mode & 0777);
    snprintf(p, sizeof(p), "%s/data.mdb", path);
    ck_assert_msg(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600,
                  "data.mdb mode %o, expected 600", sb.st_mode & 0777);
    snprintf(p, sizeof(p), "%s/lock.mdb", path);
    ck_assert_msg(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600,
                  "lock.mdb mode %o, expected 600", sb.st_mode & 0777);
    kc_lmdb_destroy(lm);
    kc_lmdb_destroy(NULL);
}
END_TEST

START_TEST(test_open_errors)
{
    char p[320];
    FILE *fp;

    ck_assert_msg(kc_lmdb_new(path, SIZE_MAX, errstr, sizeof(errstr)) == NULL,
                  "map size SIZE_MAX MB accepted");
    ck_assert_msg(kc_lmdb_new("", 1, errstr, sizeof(errstr)) == NULL, "empty path accepted");
    snprintf(p, sizeof(p), "%s/no/such/parent", base);
    ck_assert_msg(kc_lmdb_new(p, 1, errstr, sizeof(errstr)) == NULL, "missing parent accepted");
    ck_assert_msg(strstr(errstr, p) != NULL, "error '%s' should name the path", errstr);
    snprintf(p, sizeof(p), "%s/afile", base);
    fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    ck_assert_msg(kc_lmdb_new(p, 1, errstr, sizeof(errstr)) == NULL, "a plain file accepted");
    ck_assert_msg(strstr(errstr, "not a directory") != NULL, "error: %s", errstr);
}
END_TEST

/* ---------------------------------------------------------------- get/put */

START_TEST(test_put_get_many)
{
    enum { N = 200 };
    kc_lmdb_t *lm = open_ok(16);
    static char norms[N + 10][32];
    const char *np[N + 10];
    size_t lens[N + 10];
    kc_key_t keys[N + 10];
    kc_cache_rec_t recs[N + 10];
    int rcs[N + 10];
    kc_buf_t arena;

    for (int i = 0; i < N + 10; i++) {
        snprintf(norms[i], sizeof(norms[i]), "query number %d", i);
        np[i] = norms[i];
        lens[i] = strlen(norms[i]);
        keys[i] = key_of(norms[i]);
        recs[i] = rec_of(norms[i], i % 2 ? "ODD" : "EVEN", T0 + i, T0 + 3600 * SEC);
    }
    ck_assert_msg(kc_lmdb_put_many(lm, keys, recs, N, errstr, sizeof(errstr)) == 0, "put: %s",
                  errstr);
    memset(recs, 0, sizeof(recs));
    kc_buf_init(&arena);
    ck_assert_msg(kc_lmdb_get_many(lm, keys, np, lens, N + 10, T0, recs, rcs, &arena, errstr,
                                   sizeof(errstr)) == 0,
                  "get_many: %s", errstr);
    for (int i = 0; i < N + 10; i++) {
        if (i >= N) {
            ck_assert_msg(rcs[i] == KC_ERR_NOTFOUND, "%s was never put but hit", norms[i]);
            continue;
        }
        ck_assert_msg(rcs[i] == 0, "%s: rc %d", norms[i], rcs[i]);
        /* The records live in the arena, after the LMDB transaction ended. */
        ck_assert_msg(recs[i].norm >= arena.data && recs[i].norm < arena.data + arena.len,
                      "record %d does not point into the caller's arena", i);
        ck_assert_msg(recs[i].norm_len == lens[i] && memcmp(recs[i].norm, norms[i], lens[i]) == 0,
                      "record %d has norm '%.*s'", i, (int)recs[i].norm_len, recs[i].norm);
        ck_assert_msg(memcmp(recs[i].category, i % 2 ? "ODD" : "EVEN", recs[i].category_len) == 0,
                      "record %d has the wrong category", i);
        ck_assert_msg(recs[i].created_at == T0 + i && recs[i].confidence == 0.75f,
                      "record %d fields changed", i);
    }
    ck_assert_int_eq(entries(lm), N);
    kc_buf_free(&arena);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_replace)
{
    kc_lmdb_t *lm = open_ok(4);

    put1(lm, "q", "FIRST", T0, T0 + 10 * SEC);
    put1(lm, "q", "SECOND", T0 + 1, T0 + 10 * SEC);
    assert_hit(lm, "q", "SECOND", T0);
    ck_assert_msg(entries(lm) == 1, "a replaced key must not add an entry");
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_norm_mismatch)
{
    kc_lmdb_t *lm = open_ok(4);
    kc_key_t key = key_of("real query");
    kc_cache_rec_t rec = rec_of("another query", "X", T0, T0 + 10 * SEC), out;
    const char *norm = "real query";
    size_t len = strlen(norm);
    kc_lmdb_stats_t st;
    kc_buf_t arena;
    int rcs[1];

    /* Stored under "real query"'s key but holding another norm: a collision. */
    ck_assert_int_eq(kc_lmdb_put_many(lm, &key, &rec, 1, errstr, sizeof(errstr)), 0);
    kc_buf_init(&arena);
    ck_assert_int_eq(
        kc_lmdb_get_many(lm, &key, &norm, &len, 1, T0, &out, rcs, &arena, errstr, sizeof(errstr)),
        0);
    ck_assert_msg(rcs[0] == KC_ERR_NOTFOUND, "a different stored norm must be a miss");
    kc_lmdb_stats(lm, &st, errstr, sizeof(errstr));
    ck_assert_msg(st.mismatched == 1 && st.misses == 1 && st.hits == 0,
                  "mismatched %llu misses %llu hits %llu", (unsigned long long)st.mismatched,
                  (unsigned long long)st.misses, (unsigned long long)st.hits);
    /* A prefix is not a match either. */
    len = 4;
    ck_assert_int_eq(
        kc_lmdb_get_many(lm, &key, &norm, &len, 1, T0, &out, rcs, &arena, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(rcs[0], KC_ERR_NOTFOUND);
    kc_buf_free(&arena);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_ttl_expiry)
{
    kc_lmdb_t *lm = open_ok(4);
    kc_lmdb_stats_t st;

    put1(lm, "short", "A", T0, T0 + 10 * SEC);
    put1(lm, "long", "B", T0, T0 + 3600 * SEC);
    assert_hit(lm, "short", "A", T0 + 10 * SEC - 1);
    assert_miss(lm, "short", T0 + 10 * SEC); /* expires_at itself is expired */
    assert_hit(lm, "long", "B", T0 + 10 * SEC);
    kc_lmdb_stats(lm, &st, errstr, sizeof(errstr));
    ck_assert_msg(st.expired == 1, "expired counter %llu", (unsigned long long)st.expired);
    ck_assert_msg(st.entries == 2, "an expired entry stays until purged (entries %llu)",
                  (unsigned long long)st.entries);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_invalid_record)
{
    kc_lmdb_t *lm = open_ok(4);
    kc_key_t keys[2] = {key_of("ok"), key_of("bad")};
    kc_cache_rec_t recs[2] = {rec_of("ok", "A", T0, T0 + SEC), rec_of("bad", "", T0, T0 + SEC)};

    ck_assert_msg(kc_lmdb_put_many(lm, keys, recs, 2, errstr, sizeof(errstr)) == KC_ERR_INVALID,
                  "a record with an empty category must be refused");
    ck_assert_msg(entries(lm) == 0, "a refused batch must write nothing");
    kc_lmdb_destroy(lm);
}
END_TEST

/* ------------------------------------------------------------------ purge */

START_TEST(test_purge_incremental)
{
    enum { N = 100 };
    kc_lmdb_t *lm = open_ok(8);
    char norm[32];
    size_t purged, total = 0;
    int steps = 0;

    for (int i = 0; i < N; i++) {
        snprintf(norm, sizeof(norm), "q%d", i);
        put1(lm, norm, "A", T0, i % 2 ? T0 + 5 * SEC : T0 + 3600 * SEC);
    }
    ck_assert_msg(kc_lmdb_purge_step(lm, T0, 0, &purged, errstr, sizeof(errstr)) == KC_ERR_INVALID,
                  "budget 0 must be refused");
    /* Before expiry nothing goes. */
    ck_assert_int_eq(kc_lmdb_purge_step(lm, T0, 1000, &purged, errstr, sizeof(errstr)), 0);
    ck_assert_msg(purged == 0, "purged %zu live entries", purged);
    /* After: 10 entries a step, each step bounded by its budget. */
    while (total < N / 2) {
        ck_assert_msg(kc_lmdb_purge_step(lm, T0 + 6 * SEC, 10, &purged, errstr, sizeof(errstr)) ==
                          0,
                      "purge: %s", errstr);
        ck_assert_msg(purged <= 10, "a step of budget 10 purged %zu", purged);
        total += purged;
        ck_assert_msg(++steps <= 10, "10 steps of 10 should cover %d entries (purged %zu)", N,
                      total);
        ck_assert_int_eq(entries(lm), N - total);
    }
    ck_assert_msg(steps >= 5, "incremental: %d steps, expected at least 5", steps);
    ck_assert_int_eq(kc_lmdb_purge_step(lm, T0 + 6 * SEC, 1000, &purged, errstr, sizeof(errstr)),
                     0);
    ck_assert_msg(purged == 0, "a second pass purged %zu", purged);
    for (int i = 0; i < N; i++) {
        snprintf(norm, sizeof(norm), "q%d", i);
        if (i % 2) {
            assert_miss(lm, norm, T0);
        } else {
            assert_hit(lm, norm, "A", T0 + 6 * SEC);
        }
    }
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_purge_wraps)
{
    kc_lmdb_t *lm = open_ok(4);
    size_t purged;
    char norm[32];

    ck_assert_int_eq(kc_lmdb_purge_step(lm, T0, 10, &purged, errstr, sizeof(errstr)), 0);
    ck_assert_msg(purged == 0, "purge of an empty cache");
    for (int i = 0; i < 20; i++) {
        snprintf(norm, sizeof(norm), "w%d", i);
        put1(lm, norm, "A", T0, T0 + (i + 1) * SEC);
    }
    /* Budget 7 per step on 20 entries: the cursor wraps around, and what
     * expires later is found on a later lap. */
    for (int t = 1; t <= 20; t++) {
        for (int s = 0; s < 3; s++) {
            ck_assert_int_eq(
                kc_lmdb_purge_step(lm, T0 + t * SEC, 7, &purged, errstr, sizeof(errstr)), 0);
        }
        ck_assert_msg(entries(lm) == (uint64_t)(20 - t), "at T0+%ds: %llu entries, expected %d", t,
                      (unsigned long long)entries(lm), 20 - t);
    }
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_clear)
{
    kc_lmdb_t *lm = open_ok(4);
    size_t deleted;

    put1(lm, "a", "A", T0, T0 + SEC);
    put1(lm, "b", "A", T0, T0 + SEC);
    ck_assert_int_eq(kc_lmdb_clear(lm, &deleted, errstr, sizeof(errstr)), 0);
    ck_assert_msg(deleted == 2, "clear deleted %zu", deleted);
    ck_assert_int_eq(entries(lm), 0);
    assert_miss(lm, "a", T0);
    put1(lm, "a", "A", T0, T0 + SEC); /* still usable */
    assert_hit(lm, "a", "A", T0);
    kc_lmdb_destroy(lm);
}
END_TEST

/* --------------------------------------------------------------- map full */

static void fill(kc_lmdb_t *lm, int from, int to, size_t batch, int64_t *seq, const char *pad)
{
    static char norms[64][64];
    kc_key_t keys[64];
    kc_cache_rec_t recs[64];

    for (int i = from; i < to;) {
        size_t n = 0;
        for (; n < batch && i < to; n++, i++) {
            snprintf(norms[n], sizeof(norms[n]), "fill query %d", i);
            keys[n] = key_of(norms[n]);
            recs[n] = rec_of(norms[n], "FILL", T0 + (*seq)++, T0 + 3600 * SEC);
            recs[n].reasoning = pad;
            recs[n].reasoning_len = strlen(pad);
        }
        int rc = kc_lmdb_put_many(lm, keys, recs, n, errstr, sizeof(errstr));
        ck_assert_msg(rc == 0, "put of batch ending at %d failed: %s", i, errstr);
    }
}

static bool present(kc_lmdb_t *lm, int i)
{
    char norm[64];
    kc_cache_rec_t rec;
    kc_buf_t arena;
    int rc;

    snprintf(norm, sizeof(norm), "fill query %d", i);
    kc_buf_init(&arena);
    rc = get1(lm, norm, T0, &rec, &arena);
    kc_buf_free(&arena);
    return rc == 0;
}

START_TEST(test_evict_on_map_full)
{
    enum { N = 40000 };
    kc_lmdb_t *lm = open_ok(1);
    char pad[201];
    int64_t seq = 0;
    kc_lmdb_stats_t st;
    int newest_missing = 0, oldest_present = 0;

    memset(pad, 'r', 200);
    pad[200] = '\0';
    /* ~250 bytes a record: 40000 records are ~10 MB, ten times the map.
     * Batches of 1 and of 32, as the worker's micro-batches vary. */
    fill(lm, 0, N / 2, 1, &seq, pad);
    fill(lm, N / 2, N, 32, &seq, pad);
    ck_assert_msg(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)) == 0, "stats: %s", errstr);
    ck_assert_msg(st.map_full > 0 && st.evicted > 0, "the map never filled (map_full %llu)",
                  (unsigned long long)st.map_full);
    ck_assert_msg(st.puts == N, "puts %llu, expected %d", (unsigned long long)st.puts, N);
    ck_assert_msg(st.used_bytes <= st.map_size, "used %llu > map %llu",
                  (unsigned long long)st.used_bytes, (unsigned long long)st.map_size);
    ck_assert_msg(st.entries > 100 && st.entries + st.evicted == N,
                  "entries %llu + evicted %llu != %d puts", (unsigned long long)st.entries,
                  (unsigned long long)st.evicted, N);
    for (int i = N - 100; i < N; i++) {
        newest_missing += !present(lm, i);
    }
    for (int i = 0; i < 1000; i++) {
        oldest_present += present(lm, i);
    }
    ck_assert_msg(newest_missing == 0, "%d of the newest 100 entries are gone", newest_missing);
    ck_assert_msg(oldest_present == 0, "%d of the oldest 1000 entries survived", oldest_present);
    /* Eviction goes strictly by age: what is present is a suffix. */
    for (int i = N - (int)st.entries; i < N; i++) {
        ck_assert_msg(present(lm, i), "entry %d is gone but younger than the oldest kept", i);
    }
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_too_big)
{
    kc_lmdb_t *lm = open_ok(1);
    size_t big = 2u << 20;
    char *reasoning = malloc(big);
    kc_key_t key = key_of("huge");
    kc_cache_rec_t rec = rec_of("huge", "A", T0, T0 + SEC);
    int rc;

    memset(reasoning, 'x', big);
    rec.reasoning = reasoning;
    rec.reasoning_len = big;
    put1(lm, "small", "A", T0, T0 + SEC);
    rc = kc_lmdb_put_many(lm, &key, &rec, 1, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_TOOBIG, "a 2 MB record in a 1 MB map: rc %d (%s)", rc, errstr);
    put1(lm, "small again", "A", T0, T0 + SEC); /* the cache still works */
    assert_hit(lm, "small again", "A", T0);
    free(reasoning);
    kc_lmdb_destroy(lm);
}
END_TEST

/* ------------------------------------------------------ persistence, iter */

START_TEST(test_reopen)
{
    kc_lmdb_t *lm = open_ok(4);
    char norm[32];

    for (int i = 0; i < 50; i++) {
        snprintf(norm, sizeof(norm), "persist %d", i);
        put1(lm, norm, "P", T0 + i, T0 + 3600 * SEC);
    }
    ck_assert_int_eq(kc_lmdb_sync(lm, errstr, sizeof(errstr)), 0);
    put1(lm, "after sync", "S", T0, T0 + 3600 * SEC);
    kc_lmdb_destroy(lm); /* close syncs the rest */
    lm = open_ok(4);
    ck_assert_int_eq(entries(lm), 51);
    for (int i = 0; i < 50; i++) {
        snprintf(norm, sizeof(norm), "persist %d", i);
        assert_hit(lm, norm, "P", T0);
    }
    assert_hit(lm, "after sync", "S", T0);
    kc_lmdb_destroy(lm);
}
END_TEST

typedef struct walk_s {
    int count;
    int stop_at;
    kc_key_t last;
    bool ordered;
} walk_t;

static int walk_cb(void *opaque, const kc_key_t *key, const kc_cache_rec_t *rec)
{
    walk_t *w = opaque;
    kc_key_t want = kc_key_compute(rec->norm, rec->norm_len, SEED);

    ck_assert_msg(kc_key_eq(key, &want), "foreach gave a key that is not the record's");
    if (w->count > 0 &&
        (key->hi < w->last.hi || (key->hi == w->last.hi && key->lo <= w->last.lo))) {
        w->ordered = false;
    }
    w->last = *key;
    w->count++;
    return w->count == w->stop_at ? 77 : 0;
}

START_TEST(test_size_zero_keeps_size)
{
    kc_lmdb_t *lm = open_ok(3);
    kc_lmdb_stats_t st;

    put1(lm, "k", "A", T0, T0 + SEC);
    kc_lmdb_destroy(lm);
    lm = open_ok(0); /* a tool: keep the worker's size */
    put1(lm, "k2", "A", T0, T0 + SEC);
    ck_assert_int_eq(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)), 0);
    ck_assert_msg(st.map_size == 3u << 20, "size 0 changed the map to %llu bytes",
                  (unsigned long long)st.map_size);
    kc_lmdb_destroy(lm);
    lm = open_ok(3);
    ck_assert_int_eq(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)), 0);
    ck_assert_msg(st.map_size == 3u << 20, "map is %llu bytes after the tool wrote",
                  (unsigned long long)st.map_size);
    kc_lmdb_destroy(lm);
    teardown();
    setup();
    lm = open_ok(0); /* new database: the default */
    ck_assert_int_eq(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)), 0);
    ck_assert_msg(st.map_size == (uint64_t)KC_LMDB_MAP_SIZE_MB_DEFAULT << 20,
                  "a new database with size 0 has %llu bytes", (unsigned long long)st.map_size);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_foreach)
{
    kc_lmdb_t *lm = open_ok(8);
    walk_t w = {0, -1, {0, 0}, true};
    char norm[32];

    ck_assert_int_eq(kc_lmdb_foreach(lm, walk_cb, &w, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(w.count, 0);
    for (int i = 0; i < 1000; i++) { /* several read chunks */
        snprintf(norm, sizeof(norm), "walk %d", i);
        put1(lm, norm, "W", T0, i < 10 ? T0 : T0 + SEC); /* expired ones are walked too */
    }
    ck_assert_int_eq(kc_lmdb_foreach(lm, walk_cb, &w, errstr, sizeof(errstr)), 0);
    ck_assert_msg(w.count == 1000, "foreach visited %d of 1000", w.count);
    ck_assert_msg(w.ordered, "foreach must visit each key once, in key order");
    w = (walk_t){0, 300, {0, 0}, true};
    ck_assert_msg(kc_lmdb_foreach(lm, walk_cb, &w, errstr, sizeof(errstr)) == 77,
                  "the callback's stop value must be returned");
    ck_assert_int_eq(w.count, 300);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_import_keeps_newer)
{
    kc_lmdb_t *lm = open_ok(4);
    kc_key_t keys[2] = {key_of("x"), key_of("y")};
    kc_cache_rec_t recs[2] = {rec_of("x", "OLD", T0, T0 + 10 * SEC),
                              rec_of("y", "NEW", T0, T0 + 10 * SEC)};
    size_t imported;

    put1(lm, "x", "CURRENT", T0 + 5, T0 + 10 * SEC);
    put1(lm, "y", "STALE", T0 - 5, T0 + 10 * SEC);
    ck_assert_int_eq(kc_lmdb_import(lm, keys, recs, 2, &imported, errstr, sizeof(errstr)), 0);
    ck_assert_msg(imported == 1, "imported %zu, expected 1", imported);
    assert_hit(lm, "x", "CURRENT", T0);
    assert_hit(lm, "y", "NEW", T0);
    kc_lmdb_destroy(lm);
}
END_TEST

START_TEST(test_stats)
{
    kc_lmdb_t *lm = open_ok(2);
    kc_lmdb_stats_t st;

    put1(lm, "s1", "A", T0, T0 + 10 * SEC);
    put1(lm, "s2", "A", T0, T0 + SEC);
    assert_hit(lm, "s1", "A", T0 + 2 * SEC);
    assert_miss(lm, "s2", T0 + 2 * SEC);
    assert_miss(lm, "nope", T0);
    ck_assert_int_eq(kc_lmdb_stats(lm, &st, errstr, sizeof(errstr)), 0);
    ck_assert_msg(
        st.entries == 2 && st.hits == 1 && st.misses == 2 && st.expired == 1 && st.puts == 2,
        "entries %llu hits %llu misses %llu expired %llu puts %llu", (unsigned long long)st.entries,
        (unsigned long long)st.hits, (unsigned long long)st.misses, (unsigned long long)st.expired,
        (unsigned long long)st.puts);
    ck_assert_msg(st.map_size == 2u << 20, "map size %llu", (unsigned long long)st.map_size);
    ck_assert_msg(st.page_size >= 512 && st.used_bytes >= 4 * (uint64_t)st.page_size &&
                      st.used_bytes < st.map_size,
                  "page %u used %llu", st.page_size, (unsigned long long)st.used_bytes);
    kc_lmdb_destroy(lm);
}
END_TEST

static Suite *lmdb_suite(void)
{
    Suite *s = suite_create("lmdb");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_modes);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("get_put");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_put_get_many);
    tcase_add_test(tc, test_replace);
    tcase_add_test(tc, test_norm_mismatch);
    tcase_add_test(tc, test_ttl_expiry);
    tcase_add_test(tc, test_invalid_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("purge");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_purge_incremental);
    tcase_add_test(tc, test_purge_wraps);
    tcase_add_test(tc, test_clear);
    suite_add_tcase(s, tc);

    tc = tcase_create("map_full");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_evict_on_map_full);
    tcase_add_test(tc, test_too_big);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("persist_iter_stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_size_zero_keeps_size);
    tcase_add_test(tc, test_foreach);
    tcase_add_test(tc, test_import_keeps_newer);
    tcase_add_test(tc, test_stats);
    suite_add_tcase(s, tc);
    return s;
}

static int rm_entry(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(fpath);
}

int main(void)
{
    SRunner *sr;
    int failed;

    strcpy(root, "/tmp/kc-check-lmdb.XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    sr = srunner_create(lmdb_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
