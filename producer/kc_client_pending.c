/**
 * The client's pending table: request_id -> FIFO of waiters, and a min-heap
 * of deadlines. Pure data structure; the client serialises access to it.
 */
#include "kc_client_parts.h"
#include "kc_err.h"
#include "kc_heap.h"
#include "kc_keymap.h"
#include "kc_normalize.h"

#include <stdlib.h>
#include <string.h>

struct kc_pending_s {
    kc_keymap_t *km; /* XXH3-128 of the id -> first waiter; the id is compared too */
    kc_heap_t deadlines;
    size_t cnt;
};

static kc_key_t id_key(const char *id)
{
    return kc_key_compute(id, strlen(id), 0);
}

static bool deadline_before(const void *a, const void *b)
{
    return ((const kc_waiter_t *)a)->deadline_us < ((const kc_waiter_t *)b)->deadline_us;
}

static void deadline_set_pos(void *elem, size_t pos)
{
    ((kc_waiter_t *)elem)->heap_pos = pos;
}

kc_pending_t *kc_pending_new(void)
{
    kc_pending_t *pt = calloc(1, sizeof(*pt));

    if (!pt) {
        return NULL;
    }
    if (!(pt->km = kc_keymap_new(1024))) {
        free(pt);
        return NULL;
    }
    kc_heap_init(&pt->deadlines, deadline_before, deadline_set_pos);
    return pt;
}

void kc_pending_destroy(kc_pending_t *pt)
{
    if (pt) {
        kc_keymap_destroy(pt->km);
        kc_heap_free(&pt->deadlines);
        free(pt);
    }
}

kc_waiter_t *kc_waiter_new(const char *id)
{
    size_t len = strlen(id);
    kc_waiter_t *w = calloc(1, sizeof(*w) + len + 1);

    if (w) {
        memcpy(w->id, id, len + 1);
        w->heap_pos = KC_HEAP_NONE;
    }
    return w;
}

static kc_waiter_t *first_of(const kc_pending_t *pt, const char *id, kc_key_t *key)
{
    kc_waiter_t *w;

    *key = id_key(id);
    w = kc_keymap_get(pt->km, key);
    return w && strcmp(w->id, id) == 0 ? w : NULL;
}

int kc_pending_add(kc_pending_t *pt, kc_waiter_t *w)
{
    kc_key_t key;
    kc_waiter_t *first = first_of(pt, w->id, &key);

    if (!first && kc_keymap_get(pt->km, &key)) {
        return KC_ERR_STATE; /* two ids with one 128-bit hash: not expected to happen */
    }
    if (w->deadline_us && kc_heap_push(&pt->deadlines, w) != 0) {
        return KC_ERR_NOMEM;
    }
    w->next = NULL;
    if (first) {
        first->tail->next = w;
        first->tail = w;
    } else if (kc_keymap_put(pt->km, &key, w) != 0) {
        if (w->deadline_us) {
            kc_heap_remove(&pt->deadlines, w->heap_pos);
        }
        return KC_ERR_NOMEM;
    } else {
        w->tail = w;
    }
    w->in_table = true;
    pt->cnt++;
    return 0;
}

/* Unlinks w from its id's FIFO; the map then points at the new first waiter. */
static void unlink_waiter(kc_pending_t *pt, kc_waiter_t *w)
{
    kc_key_t key;
    kc_waiter_t *first = first_of(pt, w->id, &key), *prev = NULL;

    for (kc_waiter_t *it = first; it && it != w; it = it->next) {
        prev = it;
    }
    if (!prev) {
        if (w->next) {
            w->next->tail = w->tail;
            kc_keymap_put(pt->km, &key, w->next); /* replaces: cannot fail */
        } else {
            kc_keymap_del(pt->km, &key);
        }
    } else {
        prev->next = w->next;
        if (first->tail == w) {
            first->tail = prev;
        }
    }
    w->next = NULL;
}

void kc_pending_remove(kc_pending_t *pt, kc_waiter_t *w)
{
    if (!w->in_table) {
        return;
    }
    unlink_waiter(pt, w);
    if (w->heap_pos != KC_HEAP_NONE) {
        kc_heap_remove(&pt->deadlines, w->heap_pos);
        w->heap_pos = KC_HEAP_NONE;
    }
    w->in_table = false;
    pt->cnt--;
}

kc_waiter_t *kc_pending_take(kc_pending_t *pt, const char *id)
{
    kc_key_t key;
    kc_waiter_t *w = first_of(pt, id, &key);

    if (w) {
        kc_pending_remove(pt, w);
    }
    return w;
}

kc_waiter_t *kc_pending_expire(kc_pending_t *pt, int64_t now_us)
{
    kc_waiter_t *w = kc_heap_peek(&pt->deadlines);

    if (!w || w->deadline_us > now_us) {
        return NULL;
    }
    kc_pending_remove(pt, w);
    return w;
}

int64_t kc_pending_next_deadline(const kc_pending_t *pt)
{
    const kc_waiter_t *w = kc_heap_peek(&pt->deadlines);

    return w ? w->deadline_us : 0;
}

kc_waiter_t *kc_pending_pop_any(kc_pending_t *pt)
{
    kc_waiter_t *w = kc_keymap_pop(pt->km);

    if (!w) {
        return NULL;
    }
    /* kc_keymap_pop() removed the id: put the rest of its FIFO back first */
    if (w->next) {
        kc_key_t key = id_key(w->id);
        w->next->tail = w->tail;
        if (kc_keymap_put(pt->km, &key, w->next) != 0) {
            /* cannot grow while shrinking, but stay safe: keep w mapped */
            kc_keymap_put(pt->km, &key, w);
            w = w->next;
        }
    }
    w->next = NULL;
    if (w->heap_pos != KC_HEAP_NONE) {
        kc_heap_remove(&pt->deadlines, w->heap_pos);
        w->heap_pos = KC_HEAP_NONE;
    }
    w->in_table = false;
    pt->cnt--;
    return w;
}

size_t kc_pending_count(const kc_pending_t *pt)
{
    return pt->cnt;
}

bool kc_pending_has(const kc_pending_t *pt, const char *id)
{
    kc_key_t key;

    return first_of(pt, id, &key) != NULL;
}
