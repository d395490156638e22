/**
 * @file kc_lmdb.h
 * @brief L2 cache: classification answers on local disk, in LMDB.
 *
 * One directory (cache.lmdb.path) holds an LMDB environment with two named
 * databases:
 *   - "answers": 16-byte key (kc_key_t hi then lo, big-endian) -> kc_cache_rec
 *     encoded record;
 *   - "by_age":  8-byte created_at (big-endian, sign bit flipped so negative
 *     times sort first) + 16-byte key -> empty. Maintained in the same write
 *     transaction as "answers", it finds the oldest entries in O(log n) when
 *     the map is full.
 *
 * Durability: the environment is opened with MDB_NOSYNC. A commit is in the
 * OS page cache when it returns, so a crash of the process loses nothing; an
 * OS crash or power loss can lose the commits since the last kc_lmdb_sync()
 * (the worker calls it periodically and kc_lmdb_destroy() always does). For a
 * cache that is the right trade: an fsync per micro-batch would stall the
 * event loop for milliseconds, and a lost answer is only an extra LLM call.
 * LMDB keeps its ACI properties under MDB_NOSYNC only if the file system
 * preserves write order; after a host crash on a file system that does not,
 * delete the directory (it is a cache).
 *
 * Expiry: an expired record is a miss at once and is deleted later by
 * kc_lmdb_purge_step(), a few entries per call, so no call ever scans the
 * whole database.
 *
 * Map full: a write never fails because the map is full. A quarter of the
 * map (at most 64 MiB) is kept free for LMDB's copy-on-write; when the data
 * outgrows the rest, the entry count is capped at 90% of what it is and each
 * put transaction first evicts the oldest entries (by created_at) over the
 * cap, a bounded number at a time. If MDB_MAP_FULL happens anyway, the cap
 * tightens, the oldest entries are evicted and the put retried, and a batch
 * whose pages still do not fit is written in halves. (Why not simply "evict
 * on MDB_MAP_FULL": see kc_lmdb_put.c.)
 *
 * Several processes may open the same directory (a worker and
 * kclassify-cache); LMDB serializes writers. One kc_lmdb_t must be used by
 * one thread at a time (MDB_NOTLS: read transactions are not tied to a thread).
 */
#ifndef KC_LMDB_H
#define KC_LMDB_H

#include "kc_buf.h"
#include "kc_cache_rec.h"
#include "kc_normalize.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kc_lmdb_s kc_lmdb_t;

#define KC_LMDB_MAP_SIZE_MB_DEFAULT 1024
#define KC_LMDB_TTL_S_DEFAULT       3600

/**
 * @brief Open (creating if needed) the cache in directory path.
 * @param path directory; created with mode 0700 if missing (its parent must
 *        exist). The data and lock files are created with mode 0600.
 * @param map_size_mb maximum database size in MiB. An existing database
 *        larger than this keeps its size. 0 keeps the size an existing
 *        database has (KC_LMDB_MAP_SIZE_MB_DEFAULT for a new one): tools use
 *        it so they never resize a worker's map.
 * @returns the handle, or NULL with errstr set.
 */
kc_lmdb_t *kc_lmdb_new(const char *path, size_t map_size_mb, char *errstr, size_t errstr_size);

/** @brief Sync to disk, close and free. NULL-safe. */
void kc_lmdb_destroy(kc_lmdb_t *lm);

/** @brief Flush committed writes to disk (see Durability above). @returns 0 or KC_ERR_IO. */
int kc_lmdb_sync(kc_lmdb_t *lm, char *errstr, size_t errstr_size);

/**
 * @brief Look up n keys in one read transaction.
 * @param norms, norm_lens the normalized query of each key: a stored record
 *        whose norm differs is a miss (a hash collision never answers).
 * @param now_us wall-clock microseconds; a record with expires_at <= now_us
 *        is a miss.
 * @param recs receives, for each hit, the record; its strings point into arena.
 * @param rcs receives per key 0 (hit) or KC_ERR_NOTFOUND (absent, expired,
 *        norm mismatch, or an undecodable value).
 * @param arena reset, then filled with copies of the hits' values: recs stay
 *        valid until arena is next modified or freed (LMDB's own pointers die
 *        with the transaction).
 * @returns 0 when the lookups ran (whatever the hits), KC_ERR_FULL when no
 *          reader slot is free, KC_ERR_NOMEM, KC_ERR_IO. On error every rcs[i]
 *          is KC_ERR_NOTFOUND.
 */
int kc_lmdb_get_many(kc_lmdb_t *lm, const kc_key_t *keys, const char *const *norms,
                     const size_t *norm_lens, size_t n, int64_t now_us, kc_cache_rec_t *recs,
                     int *rcs, kc_buf_t *arena, char *errstr, size_t errstr_size);

/**
 * @brief Insert or replace n records in one write transaction (several only
 * when the map is too full for the batch's pages, see "Map full").
 * @remark The caller sets created_at and expires_at (created_at + ttl) in each
 *         record. When the map is full the oldest entries are evicted and the
 *         transaction retried, so a full map is not an error.
 * @returns 0, KC_ERR_INVALID (a record that cannot be encoded), KC_ERR_TOOBIG
 *          (the batch does not fit even in an empty map), KC_ERR_FULL (map
 *          full and nothing left to evict: a reader holds an old snapshot),
 *          KC_ERR_NOMEM, KC_ERR_IO. On error nothing of the batch is written.
 */
int kc_lmdb_put_many(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                     char *errstr, size_t errstr_size);

/**
 * @brief Like kc_lmdb_put_many() for restoring an export: a stored record
 * with a later created_at than the imported one is kept.
 * @param imported receives how many records were written (may be NULL).
 */
int kc_lmdb_import(kc_lmdb_t *lm, const kc_key_t *keys, const kc_cache_rec_t *recs, size_t n,
                   size_t *imported, char *errstr, size_t errstr_size);

/**
 * @brief Delete expired (and undecodable) entries, examining at most
 * max_entries entries from where the previous call stopped, wrapping around
 * at the end; a step never examines an entry twice.
 * @param purged receives the number deleted (may be NULL).
 * @returns 0, KC_ERR_INVALID (max_entries 0), KC_ERR_NOMEM, KC_ERR_IO.
 */
int kc_lmdb_purge_step(kc_lmdb_t *lm, int64_t now_us, size_t max_entries, size_t *purged,
                       char *errstr, size_t errstr_size);

/** @brief Delete every entry. @param deleted receives how many (may be NULL). */
int kc_lmdb_clear(kc_lmdb_t *lm, size_t *deleted, char *errstr, size_t errstr_size);

/**
 * @brief Called by kc_lmdb_foreach() for each record.
 * @param rec views valid only during the call.
 * @returns 0 to continue, anything else to stop (kc_lmdb_foreach returns it).
 */
typedef int(kc_lmdb_foreach_cb)(void *opaque, const kc_key_t *key, const kc_cache_rec_t *rec);

/**
 * @brief Call cb for every record, expired ones included, in key order.
 * @remark Runs in short read transactions of a few hundred entries so a slow
 *         consumer never pins an old snapshot (which would stop the writers'
 *         page reuse); the walk is therefore not one consistent snapshot.
 *         Undecodable values are skipped and counted in stats.corrupt.
 * @returns 0, cb's non-zero value, or an error code with errstr.
 */
int kc_lmdb_foreach(kc_lmdb_t *lm, kc_lmdb_foreach_cb *cb, void *opaque, char *errstr,
                    size_t errstr_size);

/** @brief Sizes from LMDB, counters since this handle was opened. */
typedef struct kc_lmdb_stats_s {
    uint64_t entries;    /**< records stored (expired ones not yet purged included) */
    uint64_t map_size;   /**< bytes */
    uint64_t used_bytes; /**< (last used page + 1) * page size: the file's high-water mark */
    uint32_t page_size;
    uint64_t hits, misses; /**< get_many outcomes */
    uint64_t expired;      /**< misses because the record had expired */
    uint64_t mismatched;   /**< misses because the stored norm differed */
    uint64_t corrupt;      /**< undecodable values seen */
    uint64_t puts;         /**< records written */
    uint64_t evicted;      /**< entries evicted because the map was full */
    uint64_t purged;       /**< expired entries deleted by purge steps */
    uint64_t map_full;     /**< times a write hit MDB_MAP_FULL */
} kc_lmdb_stats_t;

/** @returns 0 or an error code with errstr. */
int kc_lmdb_stats(kc_lmdb_t *lm, kc_lmdb_stats_t *st, char *errstr, size_t errstr_size);

/** @brief The big-endian 16-byte form of a key (the LMDB key). */
void kc_lmdb_key_encode(const kc_key_t *key, unsigned char out[16]);

#endif
