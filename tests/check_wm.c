/* Unit tests for libcore/base/kc_wm.c: the per-partition commit watermark. */
#include "kc_err.h"
#include "kc_wm.h"

#include "kc_check.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static kc_wm_t *wm;

static void setup(void)
{
    wm = kc_wm_new();
    ck_assert_ptr_nonnull(wm);
}

static void teardown(void)
{
    kc_wm_destroy(wm);
    wm = NULL;
}

static void track(int64_t off)
{
    int rc = kc_wm_track(wm, off);
    ck_assert_msg(rc == 0, "track(%lld): %s", (long long)off, kc_strerror(rc));
}

static void done(int64_t off)
{
    int rc = kc_wm_done(wm, off);
    ck_assert_msg(rc == 0, "done(%lld): %s", (long long)off, kc_strerror(rc));
}

static void expect_commit(int64_t want)
{
    int64_t got = kc_wm_committable(wm);
    ck_assert_msg(got == want, "committable: got %lld, expected %lld", (long long)got,
                  (long long)want);
}

/* ------------------------------------------------------------------------- */

/* What exactly_once commits: the first pending offset and the done ones above. */
START_TEST(test_done_list)
{
    int64_t out[8];

    ck_assert_int_eq(kc_wm_first_pending(wm), -1);
    ck_assert_int_eq(kc_wm_done_list(wm, out, 8), 0);
    for (int64_t o = 10; o < 16; o++) {
        track(o);
    }
    done(10);
    done(12);
    done(13);
    done(15);
    expect_commit(11);
    ck_assert_int_eq(kc_wm_first_pending(wm), 11);
    ck_assert_int_eq(kc_wm_done_list(wm, out, 8), 3);
    ck_assert(out[0] == 12 && out[1] == 13 && out[2] == 15);
    /* A short array gets the first ones; the count is still all of them. */
    out[1] = -7;
    ck_assert_int_eq(kc_wm_done_list(wm, out, 1), 3);
    ck_assert(out[0] == 12 && out[1] == -7);
    done(11);
    done(14);
    expect_commit(16);
    ck_assert_int_eq(kc_wm_first_pending(wm), -1);
    ck_assert_int_eq(kc_wm_done_list(wm, out, 8), 0);
}
END_TEST

START_TEST(test_empty)
{
    expect_commit(-1);
    ck_assert_int_eq(kc_wm_pending(wm), 0);
    ck_assert_msg(kc_wm_done(wm, 0) == KC_ERR_NOTFOUND, "done on empty watermark");
    kc_wm_destroy(NULL);
}
END_TEST

START_TEST(test_in_order)
{
    for (int64_t o = 0; o < 10; o++) {
        track(o);
    }
    ck_assert_int_eq(kc_wm_pending(wm), 10);
    expect_commit(-1);
    for (int64_t o = 0; o < 10; o++) {
        done(o);
        expect_commit(o + 1);
        expect_commit(-1); /* each committable offset is returned once */
        ck_assert_int_eq(kc_wm_pending(wm), (size_t)(9 - o));
    }
}
END_TEST

START_TEST(test_batch_commit)
{
    for (int64_t o = 100; o < 110; o++) {
        track(o);
    }
    for (int64_t o = 100; o < 105; o++) {
        done(o);
    }
    expect_commit(105);
    expect_commit(-1);
    ck_assert_int_eq(kc_wm_pending(wm), 5);
}
END_TEST

START_TEST(test_out_of_order)
{
    track(10);
    track(11);
    track(12);
    done(12);
    expect_commit(-1);
    done(10);
    expect_commit(11);
    expect_commit(-1);
    done(11);
    expect_commit(13);
    ck_assert_int_eq(kc_wm_pending(wm), 0);
    expect_commit(-1);
}
END_TEST

START_TEST(test_reverse_order)
{
    for (int64_t o = 0; o < 1000; o++) {
        track(o);
    }
    for (int64_t o = 999; o > 0; o--) {
        done(o);
        ck_assert_msg(kc_wm_committable(wm) == -1, "nothing committable while 0 is pending");
    }
    done(0);
    expect_commit(1000);
    ck_assert_int_eq(kc_wm_pending(wm), 0);
}
END_TEST

START_TEST(test_gaps)
{
    /* Compacted topics and transaction markers leave holes in the offsets. */
    track(5);
    track(7);
    track(10);
    ck_assert_msg(kc_wm_done(wm, 6) == KC_ERR_NOTFOUND, "6 was never tracked");
    ck_assert_msg(kc_wm_done(wm, 8) == KC_ERR_NOTFOUND, "8 was never tracked");
    ck_assert_msg(kc_wm_done(wm, 4) == KC_ERR_NOTFOUND, "4 is below every tracked offset");
    ck_assert_msg(kc_wm_done(wm, 11) == KC_ERR_NOTFOUND, "11 is above every tracked offset");
    done(7);
    done(10);
    expect_commit(-1);
    done(5);
    expect_commit(11);
}
END_TEST

START_TEST(test_unknown_and_released)
{
    track(0);
    track(1);
    done(0);
    expect_commit(1);
    ck_assert_msg(kc_wm_done(wm, 0) == KC_ERR_NOTFOUND, "done of a released offset");
    ck_assert_msg(kc_wm_done(wm, 2) == KC_ERR_NOTFOUND, "done of a future offset");
    ck_assert_msg(kc_wm_done(wm, -1) == KC_ERR_NOTFOUND, "done of a negative offset");
    expect_commit(-1);
}
END_TEST

START_TEST(test_double_done)
{
    track(3);
    track(4);
    done(4);
    ck_assert_msg(kc_wm_done(wm, 4) == 0, "a duplicate done of a pending offset is idempotent");
    expect_commit(-1);
    done(3);
    done(3);
    expect_commit(5);
    expect_commit(-1);
}
END_TEST

START_TEST(test_track_invalid)
{
    track(10);
    ck_assert_msg(kc_wm_track(wm, 10) == KC_ERR_STATE, "an offset delivered twice");
    ck_assert_int_eq(kc_wm_pending(wm), 1);
    ck_assert_msg(kc_wm_track(wm, -1) == KC_ERR_INVALID, "negative offset");
    ck_assert_msg(kc_wm_track(wm, INT64_MAX) == KC_ERR_INVALID, "INT64_MAX cannot be committed");
    done(10);
    expect_commit(11);
    track(11);
    ck_assert_int_eq(kc_wm_pending(wm), 1);
}
END_TEST

/* The fetch position went back (e.g. a partition re-fetched from its committed
 * offset): the lower offsets wait in order and hold the commit back. */
START_TEST(test_track_out_of_order)
{
    track(20);
    track(21);
    ck_assert_int_eq(kc_wm_track(wm, 15), KC_WM_OUT_OF_ORDER);
    ck_assert_int_eq(kc_wm_track(wm, 17), KC_WM_OUT_OF_ORDER);
    ck_assert_int_eq(kc_wm_track(wm, 16), KC_WM_OUT_OF_ORDER);
    ck_assert_int_eq(kc_wm_pending(wm), 5);
    done(20);
    done(21);
    expect_commit(-1);
    done(15);
    expect_commit(16);
    done(17);
    expect_commit(-1);
    done(16);
    expect_commit(22);
    /* A released offset delivered again is tracked again (the commit rewinds,
     * which only means redelivery after a crash). */
    ck_assert_int_eq(kc_wm_track(wm, 21), KC_WM_OUT_OF_ORDER);
    track(22);
    done(22);
    expect_commit(-1);
    done(21);
    expect_commit(23);
}
END_TEST

/* Out-of-order inserts across the ring's wrap and a grow. */
START_TEST(test_track_out_of_order_wrapped)
{
    for (int64_t o = 0; o < 60; o++) {
        track(o * 2);
        done(o * 2);
    }
    expect_commit(119);
    for (int64_t o = 200; o < 300; o += 2) {
        track(o);
    }
    for (int64_t o = 201; o < 298; o += 2) {
        ck_assert_int_eq(kc_wm_track(wm, o), KC_WM_OUT_OF_ORDER);
    }
    ck_assert_int_eq(kc_wm_pending(wm), 99);
    for (int64_t o = 298; o > 200; o--) {
        done(o);
    }
    expect_commit(-1);
    done(200);
    expect_commit(299);
}
END_TEST

START_TEST(test_reset)
{
    for (int64_t o = 50; o < 60; o++) {
        track(o);
    }
    done(50);
    done(51);
    kc_wm_reset(wm);
    ck_assert_int_eq(kc_wm_pending(wm), 0);
    expect_commit(-1);
    ck_assert_msg(kc_wm_done(wm, 52) == KC_ERR_NOTFOUND, "reset forgets tracked offsets");
    /* After reassignment the partition may resume at an earlier offset. */
    track(20);
    track(21);
    done(20);
    expect_commit(21);
}
END_TEST

START_TEST(test_grow_while_wrapped)
{
    /* Slide a window so the ring's head wraps, then grow it while wrapped. */
    int64_t next = 0, oldest = 0;
    for (int round = 0; round < 10; round++) {
        while (next - oldest < 40) {
            track(next++);
        }
        for (int i = 0; i < 30; i++) {
            done(oldest++);
        }
        expect_commit(oldest);
    }
    while (next - oldest < 5000) {
        track(next++);
    }
    ck_assert_int_eq(kc_wm_pending(wm), 5000);
    for (int64_t o = next - 1; o >= oldest; o--) {
        done(o);
    }
    expect_commit(next);
    ck_assert_int_eq(kc_wm_pending(wm), 0);
}
END_TEST

/* ------------------------------------------------------------------------- */

/* Reference model: a plain array of every tracked offset, scanned linearly. */
typedef struct ref_s {
    int64_t *off;
    bool *done;
    size_t start, cnt; /* [start, cnt) is pending */
} ref_t;

static int64_t ref_committable(ref_t *r)
{
    int64_t last = -1;
    while (r->start < r->cnt && r->done[r->start]) {
        last = r->off[r->start++];
    }
    return last < 0 ? -1 : last + 1;
}

static bool ref_has(const ref_t *r, int64_t o, size_t *idx)
{
    for (size_t i = r->start; i < r->cnt; i++) {
        if (r->off[i] == o) {
            *idx = i;
            return true;
        }
    }
    return false;
}

/*
 * Replies arrive roughly in order: often the oldest unanswered offset, else
 * among the oldest pending offsets,
 * sometimes anywhere, sometimes for an offset that is not tracked at all.
 */
static void random_done(ref_t *r, unsigned *seed, int64_t next, int op)
{
    size_t pending = r->cnt - r->start;
    int pick = rand_r(seed) % 10;
    int64_t o;
    size_t idx;

    if (pending > 0 && pick < 4) {
        size_t i = r->start;
        while (i < r->cnt - 1 && r->done[i]) {
            i++;
        }
        o = r->off[i]; /* the oldest unanswered request */
    } else if (pending > 0 && pick < 7) {
        size_t window = pending < 64 ? pending : 64;
        o = r->off[r->start + (size_t)rand_r(seed) % window];
    } else if (pending > 0 && pick < 9) {
        o = r->off[r->start + (size_t)rand_r(seed) % pending];
    } else {
        o = next - (int64_t)(rand_r(seed) % 50) + 2; /* gap, released, future or tracked */
    }
    bool known = ref_has(r, o, &idx);
    int rc = kc_wm_done(wm, o);
    ck_assert_msg(rc == (known ? 0 : KC_ERR_NOTFOUND), "op %d: done(%lld) = %d, model %s", op,
                  (long long)o, rc, known ? "tracked" : "unknown");
    if (known) {
        r->done[idx] = true;
    }
}

START_TEST(test_randomized)
{
    enum { OPS = 200000 };
    ref_t r = {calloc(OPS, sizeof(int64_t)), calloc(OPS, sizeof(bool)), 0, 0};
    int64_t next = 0;
    unsigned seed = 12345;
    size_t max_pending = 0;

    for (int op = 0; op < OPS; op++) {
        /* Alternate bursts (pending grows, the ring must grow) and drains. */
        bool burst = (op / 5000) % 2 == 0;
        int what = rand_r(&seed) % 100;
        if (what < (burst ? 55 : 25)) {
            next += 1 + (rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 5 : 0); /* sometimes a gap */
            track(next);
            r.off[r.cnt++] = next;
        } else if (what < 90) {
            random_done(&r, &seed, next, op);
        } else {
            int64_t want = ref_committable(&r);
            int64_t got = kc_wm_committable(wm);
            ck_assert_msg(got == want, "op %d: committable %lld, model %lld", op, (long long)got,
                          (long long)want);
        }
        ck_assert_msg(kc_wm_pending(wm) == r.cnt - r.start, "op %d: pending %zu, model %zu", op,
                      kc_wm_pending(wm), r.cnt - r.start);
        if (r.cnt - r.start > max_pending) {
            max_pending = r.cnt - r.start;
        }
    }
    /* The run must have made the ring grow past its initial size, and wrap. */
    ck_assert_msg(max_pending > 256, "max pending only %zu", max_pending);
    ck_assert_msg(r.start > 10 * max_pending, "too little released: %zu (max pending %zu)", r.start,
                  max_pending);
    free(r.off);
    free(r.done);
}
END_TEST

/* ------------------------------------------------------------------------- */

static TCase *add_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *wm_suite(void)
{
    Suite *s = suite_create("wm");
    TCase *tc;

    tc = add_tcase(s, "order");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_in_order);
    tcase_add_test(tc, test_batch_commit);
    tcase_add_test(tc, test_out_of_order);
    tcase_add_test(tc, test_reverse_order);
    tcase_add_test(tc, test_gaps);
    tcase_add_test(tc, test_done_list);

    tc = add_tcase(s, "errors");
    tcase_add_test(tc, test_unknown_and_released);
    tcase_add_test(tc, test_double_done);
    tcase_add_test(tc, test_track_invalid);
    tcase_add_test(tc, test_track_out_of_order);
    tcase_add_test(tc, test_track_out_of_order_wrapped);

    tc = add_tcase(s, "lifecycle");
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_grow_while_wrapped);

    tc = add_tcase(s, "randomized");
    tcase_add_test(tc, test_randomized);
    tcase_set_timeout(tc, 60);

    return s;
}

int main(void)
{
    return kc_check_run(wm_suite());
}
