/* L2 cache on LMDB: batched gets and puts, incremental purge, eviction by age. */
#include "kc_err.h"
#include "kc_lmdb_int.h"

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FOREACH_CHUNK 256 /* entries per read transaction in foreach */

/* A key collected by a scan, deleted after the cursor is closed. */
typedef struct doomed_s {
    unsigned char key[16];
    int64_t created_at;
    bool has_age; /* false for an undecodable value: its age key is unknown */
} doomed_t;

/* ------------------------------------------------------------------ helpers */

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

void kc_lmdb_key_encode(const kc_key_t *key, unsigned char out[16])
{
    put_be64(out, key->hi);
    put_be64(out + 8, key->lo);
}

static kc_key_t key_decode(const unsigned char *p)
{
    kc_key_t key = {0, 0};

    for (int i = 0; i < 8; i++) {
        key.hi = (key.hi << 8) | p[i];
        key.lo = (key.lo << 8) | p[8 + i];
    }
    return key;
}

/* Flipping the sign bit makes unsigned big-endian order match signed order. */
void kc_lmdb_age_key(int64_t created_at, const unsigned char key16[16], unsigned char out[24])
{
    put_be64(out, (uint64_t)created_at ^ (UINT64_C(1) << 63));
    memcpy(out + 8, key16, 16);
}

int kc_lmdb_err(const kc_lmdb_t *lm, int rc, const char *what, char *errstr, size_t errstr_size)
{
    int err;

    if (rc >= KC_ERR_STATE && rc < 0) {
        return kc_seterr(rc, errstr, errstr_size, "%s: %s: %s", lm->path, what, kc_strerror(rc));
    }
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
        err = KC_ERR_FULL;
        break;
    case ENOMEM:
        err = KC_ERR_NOMEM;
        break;
    default:
        err = KC_ERR_IO;
    }
    return kc_seterr(err, errstr, errstr_size, "%s: %s: %s", lm->path, what, mdb_strerror(rc));
}

/* Begin a transaction, riding out two conditions other processes cause: a map
 * grown by another process, and reader slots left by crashed processes. */
int kc_lmdb_txn_begin(kc_lmdb_t *lm, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(lm->env, NULL, flags, txn);
    int dead = 0;

    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(lm->env, 0);
        rc = rc ? rc : mdb_txn_begin(lm->env, NULL, flags, txn);
        kc_lmdb_limits_update(lm);
    }
    if (rc == MDB_READERS_FULL && mdb_reader_check(lm->env, &dead) == 0 && dead > 0) {
        rc = mdb_txn_begin(lm->env, NULL, flags, txn);
    }
    return rc;
}

static int entry_count(kc_lmdb_t *lm, MDB_txn *txn, size_t *entries)
{
    MDB_stat ms;
    int rc = mdb_stat(txn, lm->answers, &ms);

    *entries = rc ? 0 : ms.ms_entries;
    return rc;
}

/* -------------------------------------------------------------- open/close */

static int ensure_dir(const char *path, char *errstr, size_t errstr_size)
{
    struct stat sb;

    if (mkdir(path, 0700) == 0) {
        return 0;
    }
    if (errno != EEXIST) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot create cache directory %s: %s",
                         path, strerror(errno));
    }
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cache path %s is not a directory", path);
    }
    return 0;
}

static int open_dbs(kc_lmdb_t *lm)
{
    MDB_txn *txn;
    int rc = kc_lmdb_txn_begin(lm, 0, &txn);

    if (rc) {
        return rc;
    }
    rc = mdb_dbi_open(txn, "answers", MDB_CREATE, &lm->answers);
    rc = rc ? rc : mdb_dbi_open(txn, "by_age", MDB_CREATE, &lm->by_age);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Size 0: keep an existing database's size, which LMDB reads from its meta
 * page when no size is set. */
static size_t map_size_for(const char *path, size_t map_size_mb)
{
    char data[4096];
    struct stat sb;

    if (map_size_mb > 0) {
        return map_size_mb;
    }
    snprintf(data, sizeof(data), "%s/data.mdb", path);
    return stat(data, &sb) == 0 ? 0 : KC_LMDB_MAP_SIZE_MB_DEFAULT;
}

static int env_open(kc_lmdb_t *lm, size_t map_size_mb)
{
    int rc = mdb_env_create(&lm->env);

    map_size_mb = map_size_for(lm->path, map_size_mb);
    rc = rc ? rc : mdb_env_set_maxdbs(lm->env, 2);
    if (rc == 0 && map_size_mb > 0) {
        rc = mdb_env_set_mapsize(lm->env, map_size_mb << 20);
    }
    /* NOSYNC: see "Durability" in kc_lmdb.h. NOTLS: read transactions are
     * not bound to the thread that began them. */
    rc = rc ? rc : mdb_env_open(lm->env, lm->path, MDB_NOSYNC | MDB_NOTLS, 0600);
    rc = rc ? rc : mdb_reader_check(lm->env, NULL);
    rc = rc ? rc : open_dbs(lm);
    if (rc == 0) {
        kc_lmdb_limits_update(lm);
    }
    return rc;
}

kc_lmdb_t *kc_lmdb_new(const char *path, size_t map_size_mb, char *errstr, size_t errstr_size)
{
    kc_lmdb_t *lm;
    int rc;

    if (!path || !*path || map_size_mb > (SIZE_MAX >> 20)) {
        kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                  "LMDB cache needs a directory and a sane map size");
        return NULL;
    }
    if (ensure_dir(path, errstr, errstr_size) != 0) {
        return NULL;
    }
    if (!(lm = calloc(1, sizeof(*lm))) || !(lm->path = strdup(path))) {
        free(lm);
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory opening %s", path);
        return NULL;
    }
    kc_buf_init(&lm->enc);
    kc_buf_init(&lm->scratch);
    if ((rc = env_open(lm, map_size_mb)) != 0) {
        kc_lmdb_err(lm, rc, "opening the LMDB environment", errstr, errstr_size);
        kc_lmdb_destroy(lm);
        return NULL;
    }
    return lm;
}

void kc_lmdb_destroy(kc_lmdb_t *lm)
{
    if (!lm) {
        return;
    }
    if (lm->env) {
        mdb_env_sync(lm->env, 1);
        mdb_env_close(lm->env);
    }
    kc_buf_free(&lm->enc);
    kc_buf_free(&lm->scratch);
    free(lm->path);
    free(lm);
}

int kc_lmdb_sync(kc_lmdb_t *lm, char *errstr, size_t errstr_size)
{
    int rc = mdb_env_sync(lm->env, 1);

    return rc ? kc_lmdb_err(lm, rc, "sync", errstr, errstr_size) : 0;
}

/* ---------------------------------------------------------------- get many */

typedef struct span_s {
    size_t off, len;
} span_t;

/* @returns true if v holds a usable answer for this query at now_us. */
static bool lookup_valid(kc_lmdb_t *lm, const MDB_val *v, const char *norm, size_t norm_len,
                         int64_t now_us)
{
    kc_cache_rec_t rec;

    if (kc_cache_rec_decode(v->mv_data, v->mv_size, &rec, NULL, 0) != 0) {
        lm->st.corrupt++;
        return false;
    }
    if (rec.expires_at <= now_us) {
        lm->st.expired++;
        return false;
    }
    if (rec.norm_len != norm_len || memcmp(rec.norm, norm, norm_len) != 0) {
        lm->st.mismatched++;
        return false;
    }
    return true;
}

/* Copy every hit into arena inside the transaction; spans[i].len 0 = miss. */
static int get_copy(kc_lmdb_t *lm, MDB_txn *txn, const kc_key_t *keys, const char *const *norms,
                    const size_t *norm_lens, size_t n, int64_t now_us, span_t *spans,
                    kc_buf_t *arena)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char k[16];
        MDB_val mk = {16, k}, mv;
        int rc;

        kc_lmdb_key_encode(&keys[i], k);
        spans[i].len = 0;
        rc = mdb_get(txn, lm->answers, &mk, &mv);
        if (rc == MDB_NOTFOUND ||
            (rc == 0 && !lookup_valid(lm, &mv, norms[i], norm_lens[i], now_us))) {
            continue;
        }
        if (rc) {
            return rc;
        }
        spans[i].off = arena->len;
        spans[i].len = mv.mv_size;
        if (kc_buf_append(arena, mv.mv_data, mv.mv_size) != 0) {
            return KC_ERR_NOMEM;
        }
    }
    return 0;
}

int kc_lmdb_get_many(kc_lmdb_t *lm, const kc_key_t *keys, const char *const *norms,
                     const size_t *norm_lens, size_t n, int64_t now_us, kc_cache_rec_t *recs,
                     int *rcs, kc_buf_t *arena, char *errstr, size_t errstr_size)
{
    MDB_txn *txn;
    span_t *spans;
    int rc;

    kc_buf_reset(arena);
    for (size_t i = 0; i < n; i++) {
        rcs[i] = KC_ERR_NOTFOUND;
    }
    if (n == 0) {
        return 0;
    }
    kc_buf_reset(&lm->scratch);
    if (kc_buf_reserve(&lm->scratch, n * sizeof(span_t)) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    spans = (span_t *)(void *)lm->scratch.data;
    if ((rc = kc_lmdb_txn_begin(lm, MDB_RDONLY, &txn)) != 0) {
        lm->st.misses += n;
        return kc_lmdb_err(lm, rc, "beginning a read transaction", errstr, errstr_size);
    }
    rc = get_copy(lm, txn, keys, norms, norm_lens, n, now_us, spans, arena);
    mdb_txn_abort(txn);
    if (rc) {
        lm->st.misses += n;
        kc_buf_reset(arena);
        return kc_lmdb_err(lm, rc, "get", errstr, errstr_size);
    }
    /* Decode only now: the arena no longer moves. */
    for (size_t i = 0; i < n; i++) {
        if (spans[i].len > 0 &&
            kc_cache_rec_decode(arena->data + spans[i].off, spans[i].len, &recs[i], NULL, 0) == 0) {
            rcs[i] = 0;
            lm->st.hits++;
        } else {
            lm->st.misses++;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------- purge */

static int doom(kc_lmdb_t *lm, const MDB_val *k, const MDB_val *v, int64_t now_us, bool *add)
{
    kc_cache_rec_t rec;
    doomed_t d;

    *add = false;
    memset(&d, 0, sizeof(d));
    memcpy(d.key, k->mv_data, 16);
    if (kc_cache_rec_decode(v->mv_data, v->mv_size, &rec, NULL, 0) != 0) {
        lm->st.corrupt++;
    } else if (rec.expires_at <= now_us) {
        d.created_at = rec.created_at;
        d.has_age = true;
    } else {
        return 0;
    }
    *add = true;
    return kc_buf_append(&lm->scratch, &d, sizeof(d));
}

/* Walk from the remembered position, wrapping once, collecting doomed keys. */
static int purge_scan(kc_lmdb_t *lm, MDB_cursor *cur, int64_t now_us, size_t max, size_t *cnt)
{
    unsigned char start[16];
    MDB_val k = {16, lm->purge_pos}, v;
    bool wrapped = false, add;
    int rc = mdb_cursor_get(cur, &k, &v, lm->have_purge_pos ? MDB_SET_RANGE : MDB_FIRST);

    if (rc == MDB_NOTFOUND && lm->have_purge_pos) {
        /* Past the last key: start over. Not a wrap relative to `start`. */
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    if (rc) {
        lm->have_purge_pos = false;
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    memcpy(start, k.mv_data, 16);
    for (size_t seen = 0; rc == 0 && seen < max; seen++) {
        if (k.mv_size == 16 && (rc = doom(lm, &k, &v, now_us, &add)) == 0 && add) {
            (*cnt)++;
        }
        rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (rc == MDB_NOTFOUND && !wrapped) {
            wrapped = true;
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
        if (rc == 0 && wrapped && memcmp(k.mv_data, start, 16) >= 0) {
            break; /* full cycle: every entry examined once */
        }
    }
    if (rc == 0) {
        memcpy(lm->purge_pos, k.mv_data, 16);
        lm->have_purge_pos = true;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int purge_delete(kc_lmdb_t *lm, MDB_txn *txn, size_t cnt)
{
    const doomed_t *ds = (const doomed_t *)(void *)lm->scratch.data;

    for (size_t i = 0; i < cnt; i++) {
        unsigned char ak[KC_LMDB_AGE_KEY_SIZE];
        MDB_val mk = {16, (void *)ds[i].key}, ma = {KC_LMDB_AGE_KEY_SIZE, ak};
        int rc = mdb_del(txn, lm->answers, &mk, NULL);

        if (rc == 0 && ds[i].has_age) {
            kc_lmdb_age_key(ds[i].created_at, ds[i].key, ak);
            rc = mdb_del(txn, lm->by_age, &ma, NULL);
        }
        if (rc && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    return 0;
}

int kc_lmdb_purge_step(kc_lmdb_t *lm, int64_t now_us, size_t max_entries, size_t *purged,
                       char *errstr, size_t errstr_size)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    size_t cnt = 0;
    int rc;

    if (purged) {
        *purged = 0;
    }
    if (max_entries == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "purge step of 0 entries");
    }
    if ((rc = kc_lmdb_txn_begin(lm, 0, &txn)) != 0) {
        return kc_lmdb_err(lm, rc, "beginning a purge transaction", errstr, errstr_size);
    }
    kc_buf_reset(&lm->scratch);
    rc = mdb_cursor_open(txn, lm->answers, &cur);
    rc = rc ? rc : purge_scan(lm, cur, now_us, max_entries, &cnt);
    mdb_cursor_close(cur);
    rc = rc ? rc : purge_delete(lm, txn, cnt);
    if (rc) {
        mdb_txn_abort(txn);
        return kc_lmdb_err(lm, rc, "purge", errstr, errstr_size);
    }
    /* A full map cannot block a purge for long: the next step retries. */
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return kc_lmdb_err(lm, rc, "committing a purge", errstr, errstr_size);
    }
    lm->st.purged += cnt;
    if (purged) {
        *purged = cnt;
    }
    return 0;
}

int kc_lmdb_clear(kc_lmdb_t *lm, size_t *deleted, char *errstr, size_t errstr_size)
{
    MDB_txn *txn;
    size_t entries = 0;
    int rc = kc_lmdb_txn_begin(lm, 0, &txn);

    if (rc) {
        return kc_lmdb_err(lm, rc, "beginning a clear transaction", errstr, errstr_size);
    }
    rc = entry_count(lm, txn, &entries);
    rc = rc ? rc : mdb_drop(txn, lm->answers, 0);
    rc = rc ? rc : mdb_drop(txn, lm->by_age, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return kc_lmdb_err(lm, rc, "clear", errstr, errstr_size);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return kc_lmdb_err(lm, rc, "committing a clear", errstr, errstr_size);
    }
    lm->have_purge_pos = false;
    if (deleted) {
        *deleted = entries;
    }
    return 0;
}

/* ----------------------------------------------------------------- foreach */

/* One chunk after pos (or from the start). *done is set at the end. */
static int foreach_chunk(kc_lmdb_t *lm, MDB_cursor *cur, unsigned char pos[16], bool *have_pos,
                         kc_lmdb_foreach_cb *cb, void *opaque, bool *done)
{
    MDB_val k = {16, pos}, v;
    int rc = mdb_cursor_get(cur, &k, &v, *have_pos ? MDB_SET_RANGE : MDB_FIRST);

    if (rc == 0 && *have_pos && k.mv_size == 16 && memcmp(k.mv_data, pos, 16) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* pos was the last one visited */
    }
    for (size_t i = 0; rc == 0 && i < FOREACH_CHUNK; i++) {
        kc_cache_rec_t rec;
        kc_key_t key;
        int stop;

        if (k.mv_size != 16 || kc_cache_rec_decode(v.mv_data, v.mv_size, &rec, NULL, 0) != 0) {
            lm->st.corrupt++;
        } else {
            key = key_decode(k.mv_data);
            if ((stop = cb(opaque, &key, &rec)) != 0) {
                *done = true;
                return stop;
            }
        }
        if (k.mv_size == 16) {
            memcpy(pos, k.mv_data, 16);
            *have_pos = true;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    *done = rc == MDB_NOTFOUND;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int kc_lmdb_foreach(kc_lmdb_t *lm, kc_lmdb_foreach_cb *cb, void *opaque, char *errstr,
                    size_t errstr_size)
{
    unsigned char pos[16];
    bool have_pos = false, done = false;
    int rc = 0;

    while (!done && rc == 0) {
        MDB_txn *txn;
        MDB_cursor *cur;

        if ((rc = kc_lmdb_txn_begin(lm, MDB_RDONLY, &txn)) != 0) {
            return kc_lmdb_err(lm, rc, "beginning a read transaction", errstr, errstr_size);
        }
        if ((rc = mdb_cursor_open(txn, lm->answers, &cur)) == 0) {
            rc = foreach_chunk(lm, cur, pos, &have_pos, cb, opaque, &done);
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
        if (rc && done) {
            return rc; /* the callback's value */
        }
    }
    return rc ? kc_lmdb_err(lm, rc, "iterating", errstr, errstr_size) : 0;
}

/* ------------------------------------------------------------------- stats */

int kc_lmdb_stats(kc_lmdb_t *lm, kc_lmdb_stats_t *st, char *errstr, size_t errstr_size)
{
    MDB_envinfo info;
    MDB_stat es;
    MDB_txn *txn;
    size_t entries = 0;
    int rc;

    *st = lm->st;
    if ((rc = kc_lmdb_txn_begin(lm, MDB_RDONLY, &txn)) != 0) {
        return kc_lmdb_err(lm, rc, "beginning a read transaction", errstr, errstr_size);
    }
    rc = entry_count(lm, txn, &entries);
    mdb_txn_abort(txn);
    rc = rc ? rc : mdb_env_info(lm->env, &info);
    rc = rc ? rc : mdb_env_stat(lm->env, &es);
    if (rc) {
        return kc_lmdb_err(lm, rc, "stats", errstr, errstr_size);
    }
    st->entries = entries;
    st->map_size = info.me_mapsize;
    st->page_size = es.ms_psize;
    st->used_bytes = ((uint64_t)info.me_last_pgno + 1) * es.ms_psize;
    return 0;
}
