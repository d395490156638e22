/* Unit tests for the indexed binary heap. */
#include "kc_heap.h"

#include "kc_check.h"

#include <check.h>
#include <stdlib.h>

typedef struct item_s {
    int key;
    size_t pos;
} item_t;

static bool before(const void *a, const void *b)
{
    return ((const item_t *)a)->key < ((const item_t *)b)->key;
}

static void set_pos(void *e, size_t pos)
{
    ((item_t *)e)->pos = pos;
}

START_TEST(test_order)
{
    kc_heap_t h;
    item_t items[100];

    kc_heap_init(&h, before, set_pos);
    srand(7);
    for (int i = 0; i < 100; i++) {
        items[i].key = rand() % 50;
        ck_assert_int_eq(kc_heap_push(&h, &items[i]), 0);
    }
    for (int i = 0, last = -1; i < 100; i++) {
        item_t *it = kc_heap_pop(&h);
        ck_assert_ptr_nonnull(it);
        ck_assert_msg(it->key >= last, "pop %d: key %d after %d", i, it->key, last);
        ck_assert_uint_eq(it->pos, KC_HEAP_NONE);
        last = it->key;
    }
    ck_assert_ptr_null(kc_heap_pop(&h));
    kc_heap_free(&h);
}
END_TEST

/* Remove and re-key arbitrary elements, then check the heap still pops in
 * order and holds exactly the survivors. */
START_TEST(test_remove_update)
{
    enum { N = 500 };
    kc_heap_t h;
    static item_t items[N];
    int alive = 0;

    kc_heap_init(&h, before, set_pos);
    for (int i = 0; i < N; i++) {
        items[i].key = (i * 7919) % 1000;
        kc_heap_push(&h, &items[i]);
    }
    for (int i = 0; i < N; i += 3) {
        kc_heap_remove(&h, items[i].pos);
    }
    for (int i = 1; i < N; i += 3) {
        items[i].key = 1000 - items[i].key;
        kc_heap_update(&h, items[i].pos);
    }
    for (int i = 0; i < N; i++) {
        alive += (i % 3 != 0);
    }
    ck_assert_uint_eq(h.cnt, (size_t)alive);
    for (int last = -1; h.cnt > 0;) {
        item_t *it = kc_heap_pop(&h);
        ck_assert_msg(it->key >= last, "key %d after %d", it->key, last);
        ck_assert_msg((it - items) % 3 != 0, "removed item %d came back", (int)(it - items));
        last = it->key;
    }
    kc_heap_free(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("heap");

    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_remove_update);
    suite_add_tcase(s, tc);
    return kc_check_run(s);
}
