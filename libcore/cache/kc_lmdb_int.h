/**
 * @file kc_lmdb_int.h
 * @brief kc_lmdb internals shared by kc_lmdb.c and kc_lmdb_put.c. Not a public API.
 */
#ifndef KC_LMDB_INT_H
#define KC_LMDB_INT_H

#include "kc_lmdb.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

/* Internal helpers return LMDB's codes (0, MDB_* in -30799..-30780, or a
 * positive errno) or a negative KC_ERR_* (-1..-13, no overlap); kc_lmdb_err()
 * turns them into a KC_ERR_* with a message at the API boundary. */

#define KC_LMDB_AGE_KEY_SIZE 24

struct kc_lmdb_s {
    MDB_env *env;
    MDB_dbi answers;
    MDB_dbi by_age;
    char *path;
    kc_buf_t enc;     /* encoded record being written */
    kc_buf_t scratch; /* keys collected for deletion */
    unsigned char purge_pos[16];
    bool have_purge_pos;
    uint64_t soft_pages;    /* most pages the two trees may use */
    uint64_t reserve_pages; /* map pages - soft_pages */
    size_t chunk_max;       /* most entries one transaction evicts */
    size_t cap;             /* entry cap once the trees outgrew soft_pages; 0 = none */
    uint64_t cap_pages;     /* tree pages when the cap was last tightened */
    kc_lmdb_stats_t st;     /* counters only; sizes are read on demand */
};

/* kc_lmdb.c */
/* by_age key: created_at with the sign bit flipped (so unsigned big-endian
 * order is signed order), then the 16-byte key. */
void kc_lmdb_age_key(int64_t created_at, const unsigned char key16[16], unsigned char out[24]);
/* An LMDB code or KC_ERR_* as a KC_ERR_* with "path: what: reason". */
int kc_lmdb_err(const kc_lmdb_t *lm, int rc, const char *what, char *errstr, size_t errstr_size);
int kc_lmdb_txn_begin(kc_lmdb_t *lm, unsigned flags, MDB_txn **txn);

/* kc_lmdb_put.c */
/* Recompute the page reserve from the map size (after open or a resize). */
void kc_lmdb_limits_update(kc_lmdb_t *lm);

#endif
