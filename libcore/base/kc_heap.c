#include "kc_heap.h"
#include "kc_err.h"

#include <stdlib.h>

void kc_heap_init(kc_heap_t *h, kc_heap_before_fn *before, kc_heap_set_pos_fn *set_pos)
{
    h->elems = NULL;
    h->cnt = 0;
    h->size = 0;
    h->before = before;
    h->set_pos = set_pos;
}

void kc_heap_free(kc_heap_t *h)
{
    free(h->elems);
    h->elems = NULL;
    h->cnt = h->size = 0;
}

static void place(kc_heap_t *h, size_t pos, void *elem)
{
    h->elems[pos] = elem;
    h->set_pos(elem, pos);
}

static size_t sift_up(kc_heap_t *h, size_t pos)
{
    void *elem = h->elems[pos];

    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!h->before(elem, h->elems[parent])) {
            break;
        }
        place(h, pos, h->elems[parent]);
        pos = parent;
    }
    place(h, pos, elem);
    return pos;
}

static void sift_down(kc_heap_t *h, size_t pos)
{
    void *elem = h->elems[pos];

    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= h->cnt) {
            break;
        }
        if (child + 1 < h->cnt && h->before(h->elems[child + 1], h->elems[child])) {
            child++;
        }
        if (!h->before(h->elems[child], elem)) {
            break;
        }
        place(h, pos, h->elems[child]);
        pos = child;
    }
    place(h, pos, elem);
}

int kc_heap_push(kc_heap_t *h, void *elem)
{
    if (h->cnt == h->size) {
        size_t size = h->size ? h->size * 2 : 64;
        void **p = realloc(h->elems, size * sizeof(*p));
        if (!p) {
            return KC_ERR_NOMEM;
        }
        h->elems = p;
        h->size = size;
    }
    h->elems[h->cnt++] = elem;
    sift_up(h, h->cnt - 1);
    return 0;
}

void *kc_heap_peek(const kc_heap_t *h)
{
    return h->cnt ? h->elems[0] : NULL;
}

void kc_heap_remove(kc_heap_t *h, size_t pos)
{
    void *elem = h->elems[pos];

    h->cnt--;
    if (pos != h->cnt) {
        h->elems[pos] = h->elems[h->cnt];
        kc_heap_update(h, pos);
    }
    h->set_pos(elem, KC_HEAP_NONE);
}

void *kc_heap_pop(kc_heap_t *h)
{
    void *elem = kc_heap_peek(h);

    if (elem) {
        kc_heap_remove(h, 0);
    }
    return elem;
}

void kc_heap_update(kc_heap_t *h, size_t pos)
{
    if (sift_up(h, pos) == pos) {
        sift_down(h, pos);
    }
}
