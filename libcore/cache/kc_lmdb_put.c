/* L2 cache on LMDB, writes: batched puts and eviction of the oldest entries. */
#include "kc_err.h"
#include "kc_lmdb_int.h"

#include <string.h>

#define RESERVE_MAX_PAGES 16384 /* free pages kept for copy-on-write (64 MiB of 4 KiB) */

/* ---------------------------------------------------------------- eviction */

/*
 * Why a reserve, and not only "evict on MDB_MAP_FULL": keys are hashes, so the
 * oldest entries are spread over every leaf, and LMDB merges a leaf only when
 * it falls under 25% full: deleting 10% of the entries frees almost no pages.
 * And a page freed by a commit is reusable only two commits later. Once the
 * trees fill the map, even a one-entry eviction transaction finds no page to
 * copy-on-write into, and the cache is stuck. So the trees may use at most
 * soft_pages; the rest is kept free for copy-on-write. When the trees outgrow
 * soft_pages, the entry count is capped at 90% of what it is, and every put
 * transaction first evicts the oldest entries over the cap (at most
 * chunk_max at a time, so no transaction stalls the loop). Holes left by
 * evictions are refilled by new inserts, so at a constant count the trees
 * stop growing. MDB_MAP_FULL is still handled: the cap tightens, a chunk is
 * evicted, the put retried, and a batch too big for the free pages is split.
 */

void kc_lmdb_limits_update(kc_lmdb_t *lm)
{
    MDB_envinfo info;
    MDB_stat es;
    uint64_t pages, reserve;

    if (mdb_env_info(lm->env, &info) != 0 || mdb_env_stat(lm->env, &es) != 0) {
        return;
    }
    pages = info.me_mapsize / es.ms_psize;
    reserve = pages / 4;
    reserve = reserve < 256 ? (pages / 2 < 256 ? pages / 2 : 256) : reserve;
    reserve = reserve > RESERVE_MAX_PAGES ? RESERVE_MAX_PAGES : reserve;
    lm->soft_pages = pages - reserve;
    lm->reserve_pages = reserve;
    lm->chunk_max = reserve / 8 > 0 ? reserve / 8 : 1;
}

static int tree_size(kc_lmdb_t *lm, MDB_txn *txn, size_t *entries, uint64_t *pages)
{
    MDB_stat a, b;
    int rc = mdb_stat(txn, lm->answers, &a);

    rc = rc ? rc : mdb_stat(txn, lm->by_age, &b);
    if (rc == 0) {
        *entries = a.ms_entries;
        *pages = a.ms_branch_pages + a.ms_leaf_pages + a.ms_overflow_pages + b.ms_branch_pages +
                 b.ms_leaf_pages + b.ms_overflow_pages;
    }
    return rc;
}

static void cap_tighten(kc_lmdb_t *lm, size_t entries, uint64_t pages)
{
    size_t cap = entries - entries / 10;

    cap = cap > 0 ? cap : 1;
    if (lm->cap == 0 || cap < lm->cap) {
        lm->cap = cap;
    }
    lm->cap_pages = pages;
}

/* Tighten the cap when the trees grew past soft_pages (again, noticeably:
 * they do not shrink after evictions, see above), and say how many of the
 * oldest entries this transaction evicts. */
static size_t evict_due(kc_lmdb_t *lm, size_t entries, uint64_t pages, size_t n)
{
    size_t excess;

    if (pages > lm->soft_pages && (lm->cap == 0 || pages > lm->cap_pages + lm->reserve_pages / 8)) {
        cap_tighten(lm, entries, pages);
    }
    if (lm->cap == 0 || entries + n <= lm->cap) {
        return 0;
    }
    excess = entries + n - lm->cap;
    return excess < lm->chunk_max ? excess : lm->chunk_max;
}

/* Collect up to max by_age keys from the oldest. */
static int evict_collect(kc_lmdb_t *lm, MDB_txn *txn, size_t max, size_t *cnt)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, lm->by_age, &cur);

    *cnt = 0;
    kc_buf_reset(&lm->scratch);
    if (rc) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *cnt < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != KC_LMDB_AGE_KEY_SIZE) {
            continue;
        }
        if (kc_buf_append(&lm->scratch, k.mv_data, KC_LMDB_AGE_KEY_SIZE) != 0) {
            rc = KC_ERR_NOMEM;
            break;
        }
        (*cnt)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Delete an age key and its answer. An answer whose created_at differs (the
 * age key is an orphan left by an undecodable value) is left alone. */
static int evict_one(kc_lmdb_t *lm, MDB_txn *txn, unsigned char *ak, size_t *evicted)
{
    MDB_val ma = {KC_LMDB_AGE_KEY_SIZE, ak}, mk = {16, ak + 8}, mv;
    unsigned char cur_age[KC_LMDB_AGE_KEY_SIZE];
    kc_cache_rec_t rec;
    int rc = mdb_get(txn, lm->answers, &mk, &mv);

    if (rc == 0 && kc_cache_rec_decode(mv.mv_data, mv.mv_size, &rec, NULL, 0) == 0) {
        kc_lmdb_age_key(rec.created_at, ak + 8, cur_age);
        if (memcmp(cur_age, ak, KC_LMDB_AGE_KEY_SIZE) == 0) {
            if ((rc = mdb_del(txn, lm->answers, &mk, NULL)) != 0) {
                return rc;
            }
            (*evicted)++;
        }
    } else if (rc && rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = mdb_del(txn, lm->by_age, &ma, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Evict up to max of the oldest entries inside txn. */
static int evict_in(kc_lmdb_t *lm, MDB_txn *txn, size_t max, size_t *examined, size_t *evicted)
{
    int rc = evict_collect(lm, txn, max, examined);

    *evicted = 0;
    for (size_t i = 0; rc == 0 && i < *examined; i++) {
        rc = evict_one(lm, txn, (unsigned char *)lm->scratch.data + i * KC_LMDB_AGE_KEY_SIZE,
                       evicted);
    }
    return rc;
}

/* After MDB_MAP_FULL: tighten the cap and evict one chunk in its own
 * transaction, smaller when that transaction itself runs out of pages.
 * *examined 0 means there was nothing left to evict. */
static int evict_after_full(kc_lmdb_t *lm, size_t *examined)
{
    MDB_txn *txn = NULL;
    size_t want = lm->chunk_max, entries = 0, evicted = 0;
    uint64_t pages = 0;
    int rc;

    *examined = 0;
    do {
        if ((rc = kc_lmdb_txn_begin(lm, 0, &txn)) != 0) {
            return rc;
        }
        rc = tree_size(lm, txn, &entries, &pages);
        if (rc == 0) {
            cap_tighten(lm, entries, pages);
            rc = evict_in(lm, txn, want, examined, &evicted);
        }
        if (rc) {
            mdb_txn_abort(txn);
        } else {
            rc = mdb_txn_commit(txn);
        }
        want /= 2;
    } while (rc == MDB_MAP_FULL && want > 0);
    if (rc == 0) {
        lm->st.evicted += evicted;
    }
    return rc;
}

/* ---------------------------------------------------------------- put many */

static int put_one(kc_lmdb_t *lm, MDB_txn *txn, const kc_key_t *key, const kc_cache_rec_t *rec,
                   bool keep_newer, size_t *written)
{
    static char nothing[1];
    unsigned char k[16], ak[KC_LMDB_AGE_KEY_SIZE];
    MDB_val mk = {16, k}, mv, ma = {KC_LMDB_AGE_KEY_SIZE, ak}, empty = {0, nothing};
    kc_cache_rec_t old;
    int rc;

    kc_lmdb_key_encode(key, k);
    kc_buf_reset(&lm->enc);
    if ((rc = kc_cache_rec_encode(rec, &lm->enc)) != 0) {
        return rc;
    }
    rc = mdb_get(txn, lm->answers, &mk, &mv);
    if (rc == 0 && kc_cache_rec_decode(mv.mv_data, mv.mv_size, &old, NULL, 0) == 0) {
        if (keep_newer && old.created_at > rec->created_at) {
            return 0;
        }
        kc_lmdb_age_key(old.created_at, k, ak);
        rc = mdb_del(txn, lm->by_age, &ma, NULL);
    }
    if (rc && rc != MDB_NOTFOUND) {
        return rc;
    }
    mv.mv_size = lm->enc.len;
    mv.mv_data = lm->enc.data;
    kc_lmdb_age_key(rec->created_at, k, ak);
    rc = mdb_put(txn, lm->answers, &mk, &mv, 0);
    rc = rc ? rc : mdb_put(txn, lm->by_age, &ma, &empty, 0);
    if (rc == 0) {
        (*written)++;
    }
    return rc;
}

/* One write transaction: evict what the cap requires, then put the batch. */
static int put_txn(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                   bool keep_newer, size_t *written)
{
    MDB_txn *txn = NULL;
    size_t entries = 0, examined = 0, evicted = 0;
    uint64_t pages = 0;
    int rc = kc_lmdb_txn_begin(lm, 0, &txn);

    *written = 0;
    if (rc) {
        return rc;
    }
    rc = tree_size(lm, txn, &entries, &pages);
    rc = rc ? rc : evict_in(lm, txn, evict_due(lm, entries, pages, n), &examined, &evicted);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = put_one(lm, txn, &keys[i], &recs[i], keep_newer, written);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) == 0) { /* commit may itself hit MAP_FULL */
        lm->st.evicted += evicted;
    }
    return rc;
}

static int put_common(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                      bool keep_newer, size_t *written);

/* A batch whose copy-on-write pages do not fit goes in two halves. */
static int put_split(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                     bool keep_newer, size_t *written)
{
    size_t half = n / 2, w1 = 0, w2 = 0;
    int rc = put_common(lm, keys, recs, half, keep_newer, &w1);

    rc = rc ? rc : put_common(lm, keys + half, recs + half, n - half, keep_newer, &w2);
    *written = w1 + w2;
    return rc;
}

/* @returns an LMDB code or KC_ERR_*; KC_ERR_TOOBIG when even an empty map
 * cannot take one record. */
static int put_common(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                      bool keep_newer, size_t *written)
{
    size_t examined;
    int rc, tries = 0;

    while ((rc = put_txn(lm, keys, recs, n, keep_newer, written)) == MDB_MAP_FULL) {
        lm->st.map_full++;
        if (n > 1 && ++tries >= 3) {
            return put_split(lm, keys, recs, n, keep_newer, written);
        }
        if ((rc = evict_after_full(lm, &examined)) != 0) {
            return rc;
        }
        if (examined == 0) {
            return n > 1 ? put_split(lm, keys, recs, n, keep_newer, written) : KC_ERR_TOOBIG;
        }
    }
    return rc;
}

static int put_api(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                   bool keep_newer, size_t *written, char *errstr, size_t errstr_size)
{
    int rc;

    *written = 0;
    if (n == 0) {
        return 0;
    }
    rc = put_common(lm, keys, recs, n, keep_newer, written);
    lm->st.puts += *written;
    switch (rc) {
    case 0:
        return 0;
    case KC_ERR_INVALID:
        return kc_seterr(rc, errstr, errstr_size,
                         "%s: a record cannot be encoded (empty category?)", lm->path);
    case KC_ERR_TOOBIG:
        return kc_seterr(rc, errstr, errstr_size,
                         "%s: a record does not fit in the map even when empty", lm->path);
    case MDB_MAP_FULL:
        return kc_seterr(KC_ERR_FULL, errstr, errstr_size,
                         "%s: map full and no page free for eviction (a reader holds an old "
                         "snapshot?)",
                         lm->path);
    default:
        return kc_lmdb_err(lm, rc, "put", errstr, errstr_size);
    }
}

int kc_lmdb_put_many(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                     char *errstr, size_t errstr_size)
{
    size_t written;

    return put_api(lm, keys, recs, n, false, &written, errstr, errstr_size);
}

int kc_lmdb_import(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                   size_t *imported, char *errstr, size_t errstr_size)
{
    size_t written;
    int rc = put_api(lm, keys, recs, n, true, &written, errstr, errstr_size);

    if (imported) {
        *imported = written;
    }
    return rc;
}
