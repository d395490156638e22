/**
 * Ordering buffer for kclassify-produce --ordered: a ring of `capacity`
 * slots indexed by sequence number. A sequence number is reserved when a
 * request is sent and filled when its reply (or failure) arrives; items leave
 * in reservation order. Reservation fails when the oldest unpopped item is
 * `capacity` behind, so a slow request bounds how far the input runs ahead.
 */
#include "kc_client_parts.h"
#include "kc_err.h"

#include <stdlib.h>

typedef struct slot_s {
    void *item;
    bool filled;
} slot_t;

struct kc_order_s {
    slot_t *slots;
    size_t capacity;
    uint64_t base; /* oldest reserved, not yet popped */
    uint64_t next; /* next to reserve */
};

kc_order_t *kc_order_new(size_t capacity)
{
    kc_order_t *ob;

    if (capacity == 0 || !(ob = calloc(1, sizeof(*ob)))) {
        return NULL;
    }
    if (!(ob->slots = calloc(capacity, sizeof(slot_t)))) {
        free(ob);
        return NULL;
    }
    ob->capacity = capacity;
    return ob;
}

void kc_order_destroy(kc_order_t *ob, void (*free_fn)(void *item))
{
    if (!ob) {
        return;
    }
    for (uint64_t s = ob->base; free_fn && s < ob->next; s++) {
        slot_t *sl = &ob->slots[s % ob->capacity];
        if (sl->filled && sl->item) {
            free_fn(sl->item);
        }
    }
    free(ob->slots);
    free(ob);
}

int kc_order_reserve(kc_order_t *ob, uint64_t *seq)
{
    if (ob->next - ob->base >= ob->capacity) {
        return KC_ERR_FULL;
    }
    *seq = ob->next++;
    return 0;
}

int kc_order_fill(kc_order_t *ob, uint64_t seq, void *item)
{
    slot_t *sl;

    if (seq < ob->base || seq >= ob->next) {
        return KC_ERR_INVALID;
    }
    sl = &ob->slots[seq % ob->capacity];
    if (sl->filled) {
        return KC_ERR_INVALID;
    }
    sl->item = item;
    sl->filled = true;
    return 0;
}

bool kc_order_pop(kc_order_t *ob, void **item)
{
    slot_t *sl;

    if (ob->base == ob->next) {
        return false;
    }
    sl = &ob->slots[ob->base % ob->capacity];
    if (!sl->filled) {
        return false;
    }
    *item = sl->item;
    sl->item = NULL;
    sl->filled = false;
    ob->base++;
    return true;
}

size_t kc_order_held(const kc_order_t *ob)
{
    return (size_t)(ob->next - ob->base);
}
