/*
 * kclassify-llm-sim: random numbers, the normalized-query map, the labels file.
 * Part of a SIMULATOR for tests and benchmarks; see llm_sim.h.
 */
#include "llm_sim.h"

#include "kc_err.h"
#include "kc_normalize.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------- rng */

uint64_t llm_sim_rng_next(llm_sim_rng_t *rng)
{
    uint64_t z = (rng->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double llm_sim_rng_uniform(llm_sim_rng_t *rng)
{
    return (double)(llm_sim_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

bool llm_sim_rng_chance(llm_sim_rng_t *rng, double p)
{
    /* Always draw, so one rate being 0 does not shift the others' sequence. */
    double u = llm_sim_rng_uniform(rng);
    return p > 0 && u < p;
}

double llm_sim_rng_normal(llm_sim_rng_t *rng)
{
    double u1 = llm_sim_rng_uniform(rng);
    double u2 = llm_sim_rng_uniform(rng);
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ------------------------------------------------------------ string map */

void llm_sim_map_init(llm_sim_map_t *map)
{
    memset(map, 0, sizeof(*map));
}

void llm_sim_map_clear(llm_sim_map_t *map)
{
    for (size_t i = 0; i < map->size; i++) {
        free(map->slots[i].key);
    }
    free(map->slots);
    llm_sim_map_init(map);
}

static llm_sim_entry_t *map_find_slot(llm_sim_entry_t *slots, size_t size, uint64_t hash,
                                      const char *key, size_t len)
{
    size_t i = (size_t)hash & (size - 1);
    for (;;) {
        llm_sim_entry_t *e = &slots[i];
        if (!e->key || (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)) {
            return e;
        }
        i = (i + 1) & (size - 1);
    }
}

llm_sim_entry_t *llm_sim_map_get(const llm_sim_map_t *map, const char *key, size_t len)
{
    if (map->size == 0) {
        return NULL;
    }
    llm_sim_entry_t *e = map_find_slot(map->slots, map->size, kc_hash64(key, len, 0), key, len);
    return e->key ? e : NULL;
}

static int map_grow(llm_sim_map_t *map)
{
    size_t size = map->size ? map->size * 2 : 64;
    llm_sim_entry_t *slots = calloc(size, sizeof(*slots));
    if (!slots) {
        return KC_ERR_NOMEM;
    }
    for (size_t i = 0; i < map->size; i++) {
        llm_sim_entry_t *old = &map->slots[i];
        if (old->key) {
            *map_find_slot(slots, size, old->hash, old->key, old->key_len) = *old;
        }
    }
    free(map->slots);
    map->slots = slots;
    map->size = size;
    return 0;
}

llm_sim_entry_t *llm_sim_map_upsert(llm_sim_map_t *map, const char *key, size_t len)
{
    /* Keep the load under 70% so probes stay short. */
    if ((map->cnt + 1) * 10 > map->size * 7 && map_grow(map) != 0) {
        return NULL;
    }
    uint64_t hash = kc_hash64(key, len, 0);
    llm_sim_entry_t *e = map_find_slot(map->slots, map->size, hash, key, len);
    if (e->key) {
        return e;
    }
    e->key = malloc(len + 1);
    if (!e->key) {
        return NULL;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->key_len = len;
    e->hash = hash;
    e->value = 0;
    e->mark = 0;
    map->cnt++;
    return e;
}

/* ---------------------------------------------------------------- labels */

static void strip_eol(char *line)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
}

static int labels_add_line(char *line, const kc_taxonomy_t *tx, llm_sim_map_t *labels, char *errstr,
                           size_t errstr_size)
{
    char *tab = strchr(line, '\t');
    if (!tab) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "expected CATEGORY<TAB>query");
    }
    int cat = kc_taxonomy_find(tx, line, (size_t)(tab - line));
    if (cat < 0) {
        *tab = '\0';
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "unknown category \"%s\"", line);
    }
    const char *q = tab + 1;
    size_t qlen = strlen(q), norm_len = 0;
    char *norm = malloc(qlen + 1);
    if (!norm) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    int rc = kc_query_normalize(q, qlen, norm, &norm_len);
    if (rc == 0 && norm_len == 0) {
        rc = kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "empty query");
    } else if (rc != 0) {
        rc = kc_seterr(rc, errstr, errstr_size, "query is not valid UTF-8");
    } else {
        /* A later line for the same query wins, like a config override. */
        llm_sim_entry_t *e = llm_sim_map_upsert(labels, norm, norm_len);
        rc = e ? 0 : kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (e) {
            e->value = cat;
        }
    }
    free(norm);
    return rc;
}

int llm_sim_labels_load(const char *path, const kc_taxonomy_t *tx, llm_sim_map_t *labels,
                        char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    }
    char *line = NULL, detail[256];
    size_t cap = 0;
    int rc = 0, lineno = 0;
    while (rc == 0 && getline(&line, &cap, fp) != -1) {
        lineno++;
        strip_eol(line);
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        rc = labels_add_line(line, tx, labels, detail, sizeof(detail));
        if (rc != 0) {
            kc_seterr(rc, errstr, errstr_size, "%s:%d: %s", path, lineno, detail);
        }
    }
    if (rc == 0 && ferror(fp)) {
        rc = kc_seterr(KC_ERR_IO, errstr, errstr_size, "%s: read error", path);
    }
    free(line);
    fclose(fp);
    return rc;
}
