/**
 * @file kc_heap.h
 * @brief A binary min-heap of pointers with O(log n) removal of any element.
 *
 * Each element stores its own heap position (via the set_pos callback), so
 * the worker can remove a request from the deadline heap when it is answered
 * early, or re-prioritise a queued lookup. Not thread-safe.
 */
#ifndef KC_HEAP_H
#define KC_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/** @returns true if a must come out before b. */
typedef bool(kc_heap_before_fn)(const void *a, const void *b);
/** @brief Store pos (or KC_HEAP_NONE when removed) in the element. */
typedef void(kc_heap_set_pos_fn)(void *elem, size_t pos);

#define KC_HEAP_NONE ((size_t)-1)

typedef struct kc_heap_s {
    void **elems;
    size_t cnt;
    size_t size;
    kc_heap_before_fn *before;
    kc_heap_set_pos_fn *set_pos;
} kc_heap_t;

void kc_heap_init(kc_heap_t *h, kc_heap_before_fn *before, kc_heap_set_pos_fn *set_pos);
void kc_heap_free(kc_heap_t *h);

/** @returns 0 or KC_ERR_NOMEM. */
int kc_heap_push(kc_heap_t *h, void *elem);

/** @returns the first element without removing it, or NULL. */
void *kc_heap_peek(const kc_heap_t *h);

/** @returns the first element, removed, or NULL. */
void *kc_heap_pop(kc_heap_t *h);

/** @brief Remove the element at pos (as stored by set_pos). */
void kc_heap_remove(kc_heap_t *h, size_t pos);

/** @brief Restore order after the element at pos changed its key. */
void kc_heap_update(kc_heap_t *h, size_t pos);

#endif
