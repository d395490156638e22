/* Unit tests for the client library's pure parts: the pending table (ids,
 * FIFO per id, deadlines), the ordering buffer behind --ordered, the bounded
 * recent-id set, and configuration errors caught before any connection. */
#include "kc_client.h"
#include "kc_client_int.h"
#include "kc_err.h"

#include "kc_check.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kc_waiter_t *waiter(const char *id, int64_t deadline)
{
    kc_waiter_t *w = kc_waiter_new(id);

    ck_assert_ptr_nonnull(w);
    w->deadline_us = deadline;
    return w;
}

/* ------------------------------------------------------------ pending table */

START_TEST(test_pending_add_take)
{
    kc_pending_t *pt = kc_pending_new();
    kc_waiter_t *a = waiter("a", 0), *b = waiter("b", 0);

    ck_assert_int_eq(kc_pending_add(pt, a), 0);
    ck_assert_int_eq(kc_pending_add(pt, b), 0);
    ck_assert_uint_eq(kc_pending_count(pt), 2);
    ck_assert(kc_pending_has(pt, "a") && kc_pending_has(pt, "b") && !kc_pending_has(pt, "c"));
    ck_assert_ptr_null(kc_pending_take(pt, "c"));
    ck_assert_ptr_eq(kc_pending_take(pt, "b"), b);
    ck_assert_msg(!b->in_table, "a taken waiter must say it left the table");
    ck_assert_ptr_null(kc_pending_take(pt, "b"));
    ck_assert_ptr_eq(kc_pending_take(pt, "a"), a);
    ck_assert_uint_eq(kc_pending_count(pt), 0);
    free(a);
    free(b);
    kc_pending_destroy(pt);
}
END_TEST

/* An id sent twice (a repeated input line) is answered first-sent first. */
START_TEST(test_pending_same_id_fifo)
{
    kc_pending_t *pt = kc_pending_new();
    kc_waiter_t *w[4];

    for (int i = 0; i < 4; i++) {
        w[i] = waiter("dup", 0);
        ck_assert_int_eq(kc_pending_add(pt, w[i]), 0);
    }
    kc_pending_remove(pt, w[2]); /* from the middle */
    ck_assert_ptr_eq(kc_pending_take(pt, "dup"), w[0]);
    kc_pending_remove(pt, w[3]); /* the tail */
    ck_assert_ptr_eq(kc_pending_take(pt, "dup"), w[1]);
    ck_assert_ptr_null(kc_pending_take(pt, "dup"));
    ck_assert(!kc_pending_has(pt, "dup"));
    /* the FIFO works again after being emptied */
    ck_assert_int_eq(kc_pending_add(pt, w[3]), 0);
    ck_assert_ptr_eq(kc_pending_take(pt, "dup"), w[3]);
    for (int i = 0; i < 4; i++) {
        free(w[i]);
    }
    kc_pending_destroy(pt);
}
END_TEST

START_TEST(test_pending_deadlines)
{
    kc_pending_t *pt = kc_pending_new();
    kc_waiter_t *late = waiter("late", 300), *none = waiter("none", 0);
    kc_waiter_t *early = waiter("early", 100), *mid = waiter("mid", 200);

    ck_assert_int_eq(kc_pending_add(pt, late), 0);
    ck_assert_int_eq(kc_pending_add(pt, none), 0);
    ck_assert_int_eq(kc_pending_add(pt, early), 0);
    ck_assert_int_eq(kc_pending_add(pt, mid), 0);
    ck_assert_int_eq(kc_pending_next_deadline(pt), 100);
    ck_assert_ptr_null(kc_pending_expire(pt, 99));
    ck_assert_ptr_eq(kc_pending_expire(pt, 250), early);
    /* answered before its deadline: it must leave the heap too */
    ck_assert_ptr_eq(kc_pending_take(pt, "mid"), mid);
    ck_assert_int_eq(kc_pending_next_deadline(pt), 300);
    ck_assert_ptr_null(kc_pending_expire(pt, 250));
    ck_assert_ptr_eq(kc_pending_expire(pt, 1000), late);
    ck_assert_ptr_null(kc_pending_expire(pt, INT64_MAX)); /* no deadline never expires */
    ck_assert_int_eq(kc_pending_next_deadline(pt), 0);
    ck_assert_ptr_eq(kc_pending_pop_any(pt), none);
    ck_assert_ptr_null(kc_pending_pop_any(pt));
    free(late);
    free(none);
    free(early);
    free(mid);
    kc_pending_destroy(pt);
}
END_TEST

/* Many ids, some repeated: pop_any drains every waiter exactly once. */
START_TEST(test_pending_pop_any_many)
{
    enum { N = 3000 };
    kc_pending_t *pt = kc_pending_new();
    static kc_waiter_t *w[N];
    static bool seen[N];
    kc_waiter_t *got;
    size_t n = 0;
    char id[32];

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "id-%d", i % 1000);
        w[i] = waiter(id, i % 2 ? 1000 + i : 0);
        ck_assert_int_eq(kc_pending_add(pt, w[i]), 0);
    }
    ck_assert_uint_eq(kc_pending_count(pt), N);
    while ((got = kc_pending_pop_any(pt))) {
        int i;
        for (i = 0; i < N && w[i] != got; i++) {
        }
        ck_assert_msg(i < N && !seen[i], "pop_any returned an unknown or repeated waiter");
        seen[i] = true;
        n++;
    }
    ck_assert_uint_eq(n, N);
    ck_assert_int_eq(kc_pending_next_deadline(pt), 0);
    for (int i = 0; i < N; i++) {
        free(w[i]);
    }
    kc_pending_destroy(pt);
}
END_TEST

/* ---------------------------------------------------------- ordering buffer */

START_TEST(test_order_out_of_order)
{
    kc_order_t *ob = kc_order_new(4);
    uint64_t s[4];
    void *item;
    static int v[4];

    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(kc_order_reserve(ob, &s[i]), 0);
        ck_assert_uint_eq(s[i], (uint64_t)i);
    }
    ck_assert_int_eq(kc_order_reserve(ob, &s[0]), KC_ERR_FULL);
    ck_assert_int_eq(kc_order_fill(ob, 2, &v[2]), 0);
    ck_assert_int_eq(kc_order_fill(ob, 3, NULL), 0); /* a failed request: no item */
    ck_assert_msg(!kc_order_pop(ob, &item), "seq 0 is not done: nothing may come out");
    ck_assert_int_eq(kc_order_fill(ob, 0, &v[0]), 0);
    ck_assert(kc_order_pop(ob, &item) && item == &v[0]);
    ck_assert(!kc_order_pop(ob, &item));
    ck_assert_uint_eq(kc_order_held(ob), 3);
    ck_assert_int_eq(kc_order_reserve(ob, &s[0]), 0); /* one slot free again */
    ck_assert_uint_eq(s[0], 4);
    ck_assert_int_eq(kc_order_fill(ob, 1, &v[1]), 0);
    ck_assert(kc_order_pop(ob, &item) && item == &v[1]);
    ck_assert(kc_order_pop(ob, &item) && item == &v[2]);
    ck_assert(kc_order_pop(ob, &item) && item == NULL);
    ck_assert(!kc_order_pop(ob, &item));
    kc_order_destroy(ob, NULL);
}
END_TEST

START_TEST(test_order_invalid_fill)
{
    kc_order_t *ob = kc_order_new(2);
    uint64_t s;
    void *item;

    ck_assert_ptr_null(kc_order_new(0));
    ck_assert_int_eq(kc_order_fill(ob, 0, NULL), KC_ERR_INVALID); /* not reserved */
    ck_assert_int_eq(kc_order_reserve(ob, &s), 0);
    ck_assert_int_eq(kc_order_fill(ob, s, NULL), 0);
    ck_assert_int_eq(kc_order_fill(ob, s, NULL), KC_ERR_INVALID); /* twice */
    ck_assert(kc_order_pop(ob, &item));
    ck_assert_int_eq(kc_order_fill(ob, s, NULL), KC_ERR_INVALID); /* already popped */
    kc_order_destroy(ob, NULL);
}
END_TEST

/* A long run through a small ring, completed in a scrambled order: output is
 * in sequence and the ring never holds more than its capacity. */
START_TEST(test_order_long_run)
{
    enum { CAP = 16, N = 10000 };
    kc_order_t *ob = kc_order_new(CAP);
    uint64_t next_out = 0, reserved[CAP], seq;
    size_t cnt = 0;
    void *item;
    unsigned r = 12345;

    for (uint64_t sent = 0; next_out < N;) {
        while (sent < N && kc_order_reserve(ob, &seq) == 0) {
            ck_assert_uint_eq(seq, sent++);
            reserved[cnt++] = seq;
        }
        ck_assert_uint_le(kc_order_held(ob), CAP);
        r = r * 1103515245 + 12345;
        size_t pick = cnt ? (r >> 8) % cnt : 0;
        if (cnt) {
            uint64_t *p = malloc(sizeof(*p));
            *p = reserved[pick];
            ck_assert_int_eq(kc_order_fill(ob, reserved[pick], p), 0);
            reserved[pick] = reserved[--cnt];
        }
        while (kc_order_pop(ob, &item)) {
            ck_assert_uint_eq(*(uint64_t *)item, next_out++);
            free(item);
        }
    }
    kc_order_destroy(ob, free);
}
END_TEST

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

START_TEST(test_order_destroy_frees_held)
{
    kc_order_t *ob = kc_order_new(8);
    uint64_t s;

    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(kc_order_reserve(ob, &s), 0);
    }
    kc_order_fill(ob, 1, malloc(8));
    kc_order_fill(ob, 3, malloc(8));
    kc_order_fill(ob, 4, NULL);
    freed = 0;
    kc_order_destroy(ob, count_free);
    ck_assert_int_eq(freed, 2);
}
END_TEST

/* ---------------------------------------------------------------- recent ids */

START_TEST(test_recent_bounded)
{
    kc_recent_t rc = {0};
    char id[32];

    ck_assert_int_eq(kc_recent_init(&rc, 4), 0);
    kc_recent_add(&rc, "x");
    kc_recent_add(&rc, "x"); /* twice in the ring */
    ck_assert(kc_recent_has(&rc, "x"));
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "y%d", i);
        kc_recent_add(&rc, id);
    }
    ck_assert_msg(kc_recent_has(&rc, "x"), "x's second entry is still in the ring");
    kc_recent_add(&rc, "z");
    ck_assert_msg(!kc_recent_has(&rc, "x"), "both entries of x fell out of a ring of 4");
    ck_assert(kc_recent_has(&rc, "z") && kc_recent_has(&rc, "y0"));
    kc_recent_free(&rc);
}
END_TEST

/* -------------------------------------------------- configuration (offline) */

START_TEST(test_new_config_errors)
{
    char errstr[512] = "";
    const char *no_brokers[] = {"topic.replies", "r", NULL};
    const char *unknown[] = {"kafka.bootstrap.servers", "127.0.0.1:1", "no.such.key", "1", NULL};
    const char *bad_topic[] = {"kafka.bootstrap.servers", "127.0.0.1:1", "topic.replies", "a b",
                               NULL};
    const char *bad_kafka[] = {"kafka.bootstrap.servers", "127.0.0.1:1", "kafka.no.such", "1",
                               NULL};

    ck_assert_ptr_null(kc_client_new_kv(no_brokers, NULL, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "bootstrap.servers"), "errstr: %s", errstr);
    ck_assert_ptr_null(kc_client_new_kv(unknown, NULL, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "no.such.key"), "errstr: %s", errstr);
    ck_assert_ptr_null(kc_client_new_kv(bad_topic, NULL, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "invalid topic name"), "errstr: %s", errstr);
    /* send-only: rejected when the producer is configured, before any connection */
    kc_client_opts_t opts = {.send_only = true};
    ck_assert_ptr_null(kc_client_new_kv(bad_kafka, &opts, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "kafka.no.such"), "errstr: %s", errstr);
    kc_client_destroy(NULL);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("pending");

    tcase_add_test(tc, test_pending_add_take);
    tcase_add_test(tc, test_pending_same_id_fifo);
    tcase_add_test(tc, test_pending_deadlines);
    tcase_add_test(tc, test_pending_pop_any_many);
    suite_add_tcase(s, tc);
    tc = tcase_create("order");
    tcase_add_test(tc, test_order_out_of_order);
    tcase_add_test(tc, test_order_invalid_fill);
    tcase_add_test(tc, test_order_long_run);
    tcase_add_test(tc, test_order_destroy_frees_held);
    suite_add_tcase(s, tc);
    tc = tcase_create("recent");
    tcase_add_test(tc, test_recent_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_new_config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(client_suite());
}
