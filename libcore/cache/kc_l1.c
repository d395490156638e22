/*
 * L1 cache: chained hash table + intrusive LRU list, both O(1).
 *
 * Each entry is ONE allocation: a fixed header followed by its strings
 * (norm_query, category, reasoning, model, each NUL-terminated). On x86-64
 * the header is 80 bytes, so an entry costs
 *     80 + norm_len + category_len + reasoning_len + model_len + 4
 * bytes plus malloc overhead (~16), plus 8 bytes of bucket array per
 * max_entries slot rounded up to a power of two: ~150 bytes for a typical
 * short query and category without reasoning.
 *
 * The bucket array is sized once for max_entries (load factor <= 1), so
 * there is never a rehash. The bucket is a hash of the key under a random
 * per-cache seed: keys are hashes of requester text under a known seed, so
 * their own bits could be searched for collisions (hash flooding).
 *
 * get() does no allocation: it returns a view into the entry.
 */
#include "kc_l1.h"
#include "kc_err.h"
#include "kc_uuid.h"

#include <stdlib.h>
#include <string.h>

#define L1_NO_STR UINT32_MAX /* offset of an absent (NULL) string */

typedef struct l1_entry_s {
    struct l1_entry_s *hnext;       /* bucket chain */
    struct l1_entry_s *prev, *next; /* LRU list, head = most recent */
    kc_key_t key;
    int64_t expires_at; /* monotonic us */
    int64_t created_at; /* wall-clock us, from the answer */
    float confidence;
    int degraded;
    uint32_t size; /* bytes allocated for the entry, counted against max_bytes */
    uint32_t norm_len;
    uint32_t cat_off, rsn_off, mdl_off; /* into data[]; norm_query is at 0 */
    char data[];
} l1_entry_t;

struct kc_l1_s {
    l1_entry_t **buckets;
    size_t mask;   /* bucket count - 1 */
    uint64_t seed; /* of bucket_of() */
    l1_entry_t *head, *tail;
    size_t cnt, max;
    size_t bytes, max_bytes; /* max_bytes 0 = bounded by entries only */
    kc_l1_stats_t st;
};

/* ------------------------------------------------------------------------- */
/* LRU list and hash chains                                                   */
/* ------------------------------------------------------------------------- */

static void lru_unlink(kc_l1_t *l1, l1_entry_t *e)
{
    if (e->prev) {
        e->prev->next = e->next;
    } else {
        l1->head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    } else {
        l1->tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void lru_push_front(kc_l1_t *l1, l1_entry_t *e)
{
    e->prev = NULL;
    e->next = l1->head;
    if (l1->head) {
        l1->head->prev = e;
    } else {
        l1->tail = e;
    }
    l1->head = e;
}

static l1_entry_t **bucket_of(const kc_l1_t *l1, const kc_key_t *key)
{
    return &l1->buckets[kc_hash64(key, sizeof(*key), l1->seed) & l1->mask];
}

/* The link that points at the entry with this key, or NULL. */
static l1_entry_t **chain_find(const kc_l1_t *l1, const kc_key_t *key)
{
    l1_entry_t **pp = bucket_of(l1, key);

    for (; *pp; pp = &(*pp)->hnext) {
        if (kc_key_eq(&(*pp)->key, key)) {
            return pp;
        }
    }
    return NULL;
}

/* Unlink the entry *pp from both structures and free it. */
static void entry_remove(kc_l1_t *l1, l1_entry_t **pp)
{
    l1_entry_t *e = *pp;

    *pp = e->hnext;
    lru_unlink(l1, e);
    l1->cnt--;
    l1->bytes -= e->size;
    free(e);
}

/* ------------------------------------------------------------------------- */
/* Lifecycle                                                                  */
/* ------------------------------------------------------------------------- */

kc_l1_t *kc_l1_new(size_t max_entries)
{
    kc_l1_t *l1;
    size_t nb = 1;

    if (max_entries == 0 || max_entries > SIZE_MAX / 2 / sizeof(l1_entry_t *)) {
        return NULL;
    }
    while (nb < max_entries) {
        nb <<= 1;
    }
    if (!(l1 = calloc(1, sizeof(*l1)))) {
        return NULL;
    }
    if (!(l1->buckets = calloc(nb, sizeof(*l1->buckets)))) {
        free(l1);
        return NULL;
    }
    l1->mask = nb - 1;
    l1->seed = kc_random_seed();
    l1->max = max_entries;
    return l1;
}

void kc_l1_destroy(kc_l1_t *l1)
{
    l1_entry_t *e, *next;

    if (!l1) {
        return;
    }
    for (e = l1->head; e; e = next) {
        next = e->next;
        free(e);
    }
    free(l1->buckets);
    free(l1);
}

/* ------------------------------------------------------------------------- */
/* Lookup                                                                     */
/* ------------------------------------------------------------------------- */

static const char *entry_str(const l1_entry_t *e, uint32_t off)
{
    return off == L1_NO_STR ? NULL : e->data + off;
}

int kc_l1_get(kc_l1_t *l1, const kc_key_t *key, const char *norm, size_t norm_len, int64_t now_us,
              kc_answer_t *out)
{
    l1_entry_t **pp = chain_find(l1, key);
    l1_entry_t *e;

    if (!pp) {
        l1->st.misses++;
        return KC_ERR_NOTFOUND;
    }
    e = *pp;
    if (now_us >= e->expires_at) {
        entry_remove(l1, pp);
        l1->st.expired++;
        l1->st.misses++;
        return KC_ERR_NOTFOUND;
    }
    /* Same key, different query: a hash collision is a miss, never a wrong answer. */
    if (norm_len != e->norm_len || (norm_len > 0 && memcmp(norm, e->data, norm_len) != 0)) {
        l1->st.misses++;
        return KC_ERR_NOTFOUND;
    }
    if (l1->head != e) {
        lru_unlink(l1, e);
        lru_push_front(l1, e);
    }
    l1->st.hits++;
    out->norm_query = e->data;
    out->norm_len = e->norm_len;
    out->category = e->data + e->cat_off;
    out->reasoning = entry_str(e, e->rsn_off);
    out->model = entry_str(e, e->mdl_off);
    out->confidence = e->confidence;
    out->degraded = e->degraded;
    out->created_at = e->created_at;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Insert                                                                     */
/* ------------------------------------------------------------------------- */

/* Copy s (len bytes) + NUL to data at *off; return its offset. */
static uint32_t pack_str(char *data, size_t *off, const char *s, size_t len)
{
    uint32_t at = (uint32_t)*off;

    if (len > 0) {
        memcpy(data + at, s, len);
    }
    data[at + len] = '\0';
    *off += len + 1;
    return at;
}

static l1_entry_t *entry_new(const kc_key_t *key, const kc_answer_t *ans, int64_t expires_at)
{
    size_t cat_len = strlen(ans->category);
    size_t rsn_len = ans->reasoning ? strlen(ans->reasoning) : 0;
    size_t mdl_len = ans->model ? strlen(ans->model) : 0;
    size_t total = ans->norm_len + cat_len + rsn_len + mdl_len + 4;
    size_t off = 0;
    l1_entry_t *e;

    /* Offsets are 32-bit to keep the header small; nothing real is 4 GB. */
    if (ans->norm_len > UINT32_MAX || total >= L1_NO_STR || !(e = malloc(sizeof(*e) + total))) {
        return NULL;
    }
    e->hnext = e->prev = e->next = NULL;
    e->size = (uint32_t)(sizeof(*e) + total);
    e->key = *key;
    e->expires_at = expires_at;
    e->created_at = ans->created_at;
    e->confidence = ans->confidence;
    e->degraded = ans->degraded;
    e->norm_len = (uint32_t)ans->norm_len;
    pack_str(e->data, &off, ans->norm_query, ans->norm_len);
    e->cat_off = pack_str(e->data, &off, ans->category, cat_len);
    e->rsn_off = ans->reasoning ? pack_str(e->data, &off, ans->reasoning, rsn_len) : L1_NO_STR;
    e->mdl_off = ans->model ? pack_str(e->data, &off, ans->model, mdl_len) : L1_NO_STR;
    return e;
}

static int64_t expiry(int64_t now_us, int64_t ttl_us)
{
    /* A huge TTL ("forever") must not wrap into the past. */
    if (ttl_us > 0 && now_us > INT64_MAX - ttl_us) {
        return INT64_MAX;
    }
    return now_us + ttl_us;
}

int kc_l1_put(kc_l1_t *l1, const kc_key_t *key, const kc_answer_t *ans, int64_t now_us,
              int64_t ttl_us)
{
    l1_entry_t **pp, **bucket;
    l1_entry_t *e;

    if (!ans->category || (!ans->norm_query && ans->norm_len > 0)) {
        return KC_ERR_INVALID;
    }
    /* Allocate first so a failure leaves the cache untouched. */
    if (!(e = entry_new(key, ans, expiry(now_us, ttl_us)))) {
        return KC_ERR_NOMEM;
    }
    if ((pp = chain_find(l1, key))) {
        entry_remove(l1, pp);
    }
    while (l1->tail &&
           (l1->cnt >= l1->max || (l1->max_bytes && l1->bytes + e->size > l1->max_bytes))) {
        entry_remove(l1, chain_find(l1, &l1->tail->key));
        l1->st.evicted++;
    }
    bucket = bucket_of(l1, key);
    e->hnext = *bucket;
    *bucket = e;
    lru_push_front(l1, e);
    l1->cnt++;
    l1->bytes += e->size;
    l1->st.inserts++;
    return 0;
}

int kc_l1_del(kc_l1_t *l1, const kc_key_t *key)
{
    l1_entry_t **pp = chain_find(l1, key);

    if (!pp) {
        return KC_ERR_NOTFOUND;
    }
    entry_remove(l1, pp);
    return 0;
}

void kc_l1_set_max_bytes(kc_l1_t *l1, size_t max_bytes)
{
    l1->max_bytes = max_bytes;
}

size_t kc_l1_bytes(const kc_l1_t *l1)
{
    return l1->bytes;
}

size_t kc_l1_count(const kc_l1_t *l1)
{
    return l1->cnt;
}

void kc_l1_stats(const kc_l1_t *l1, kc_l1_stats_t *st)
{
    *st = l1->st;
}

size_t kc_l1_chain_max(const kc_l1_t *l1)
{
    size_t max = 0;

    for (size_t i = 0; i <= l1->mask; i++) {
        size_t n = 0;
        for (const l1_entry_t *e = l1->buckets[i]; e; e = e->hnext) {
            n++;
        }
        max = n > max ? n : max;
    }
    return max;
}
