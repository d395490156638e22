/*
 * Unit tests of the worker's request flow on fake seams (kc_fake_worker.h):
 * coalescing, replies and commits, deadlines, the dead-letter path, the
 * queue bound, the lookup lifecycle and its ENOMEM path. No Kafka, no HTTP.
 */
#include "kc_fake_worker.h"

#include "kc_check.h"

#include <check.h>

/* kc_heap_push() fails once when this reaches 1 (counted down per call);
 * 0 = never. The suite links with -Wl,--wrap=kc_heap_push. */
static int heap_fail_in;
int __real_kc_heap_push(kc_heap_t *h, void *e);
int __wrap_kc_heap_push(kc_heap_t *h, void *e)
{
    if (heap_fail_in > 0 && --heap_fail_in == 0) {
        return KC_ERR_NOMEM;
    }
    return __real_kc_heap_push(h, e);
}

static fk_t f;

static void teardown(void)
{
    heap_fail_in = 0;
    fk_stop(&f);
}

START_TEST(test_coalesce_one_call)
{
    fk_req_t rs[3] = {
        {"a", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL, NULL},
        {"b", "  what is the tca CYCLE? ", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL, NULL},
        {"c", "What is glycolysis?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL, NULL},
    };
    kc_result_t res;

    fk_start(&f, NULL);
    fk_feed(&f, rs, 3, 0);
    ck_assert_ptr_eq(fk_lookup(&f, rs[0].query), fk_lookup(&f, rs[1].query));
    ck_assert_int_eq(fk_lookup(&f, rs[0].query)->waiter_cnt, 2);
    fk_ask(&f, "d", "WHAT IS THE TCA CYCLE?", 3); /* a later micro-batch joins too */
    ck_assert_int_eq(fk_lookup(&f, rs[0].query)->waiter_cnt, 3);
    fk_advance(&f, 1);
    /* Two distinct queries, asked once each, in one call or two. */
    size_t asked = 0, calls;
    for (size_t i = 0; i < f.call_cnt; i++) {
        asked += fk_call(&f, i)->n;
    }
    ck_assert_uint_eq(asked, 2);
    ck_assert_uint_eq(f.msg_cnt, 0);
    calls = f.call_cnt;
    for (size_t i = 0; i < calls; i++) {
        fk_answer_all(&f, i, "GENERAL");
    }
    fk_expect(&f, "a", KC_STATUS_OK, KC_SRC_LLM);
    fk_expect(&f, "b", KC_STATUS_OK, KC_SRC_LLM);
    fk_expect(&f, "c", KC_STATUS_OK, KC_SRC_LLM);
    fk_expect(&f, "d", KC_STATUS_OK, KC_SRC_LLM);
    fk_result(&f, (size_t)fk_reply_of(&f, "b"), &res);
    ck_assert(res.coalesced);
    ck_assert_str_eq(res.category, "GENERAL");
    ck_assert_str_eq(res.model, "fake-model");
    kc_result_clear(&res);
    fk_result(&f, (size_t)fk_reply_of(&f, "a"), &res);
    ck_assert(!res.coalesced);
    ck_assert_uint_eq(strlen(res.query_hash), 32);
    kc_result_clear(&res);
    ck_assert_ptr_null(fk_lookup(&f, rs[0].query)); /* answered: out of the table */
    /* Now L1 answers, without a call. */
    fk_ask(&f, "e", "what is the tca cycle?", 4);
    fk_expect(&f, "e", KC_STATUS_OK, KC_SRC_L1);
    fk_advance(&f, 1);
    ck_assert_uint_eq(f.call_cnt, calls);
}
END_TEST

START_TEST(test_commit_after_delivery)
{
    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 10);
    fk_ask(&f, "b", "What is the TCA cycle?", 11);
    fk_ask(&f, "c", "Latest 2025 FDA approvals?", 12);
    /* Nothing is committable before the replies are delivered. */
    ck_assert_int_eq(kc_worker_committable(f.w, 0), -1);
    fk_advance(&f, 1);
    for (size_t i = 0; i < f.call_cnt; i++) {
        fk_answer_all(&f, i, "REAL_TIME");
    }
    ck_assert_uint_eq(f.msg_cnt, 3);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), -1);
    fk_deliver_all(&f, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 13); /* the next offset to read */
    ck_assert_uint_eq(f.w->outstanding, 0);
}
END_TEST

START_TEST(test_deadline_fallback_then_late_answer)
{
    kc_result_t res;
    int64_t t;

    fk_start(&f, (const char *const[]){"sla.deadline.ms=2000", "sla.deadline.margin.ms=100", NULL});
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    ck_assert_uint_eq(f.call_cnt, 1);
    ck_assert_int_eq(fk_lookup(&f, "What is the TCA cycle?")->state, KC_LK_IN_CALL);
    /* The next timer is at most the fallback's time (deadline - margin). */
    t = kc_worker_next_timer_ms(f.w, 100000);
    ck_assert_int_le(t, 1900);
    fk_advance(&f, 1897);
    ck_assert_uint_eq(f.msg_cnt, 0);
    fk_advance(&f, 2);
    fk_expect(&f, "a", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
    fk_result(&f, 0, &res);
    ck_assert(res.deadline_met);
    ck_assert_str_eq(res.error, "deadline reached before the LLM answered");
    kc_result_clear(&res);
    /* The call goes on for the cache; its answer sends no second reply. */
    ck_assert_ptr_nonnull(fk_lookup(&f, "What is the TCA cycle?"));
    fk_answer_all(&f, 0, "KNOWLEDGE_GRAPH");
    ck_assert_uint_eq(f.msg_cnt, 1);
    fk_ask(&f, "b", "What is the TCA cycle?", 1);
    fk_expect(&f, "b", KC_STATUS_OK, KC_SRC_L1);
    fk_result(&f, 1, &res);
    ck_assert_str_eq(res.category, "KNOWLEDGE_GRAPH");
    kc_result_clear(&res);
}
END_TEST

/* exactly_once: a reply is visible at the next commit, so the fallback
 * answers transaction.interval.ms earlier than the margin alone says. */
START_TEST(test_deadline_margin_exactly_once)
{
    fk_start(&f, (const char *const[]){"sla.deadline.ms=2000", "sla.deadline.margin.ms=100",
                                       "processing.guarantee=exactly_once", "worker.id=t",
                                       "transaction.interval.ms=300", NULL});
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    ck_assert_int_le(kc_worker_next_timer_ms(f.w, 100000), 1600);
    fk_advance(&f, 1597);
    ck_assert_uint_eq(f.msg_cnt, 0);
    fk_advance(&f, 2);
    fk_expect(&f, "a", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
}
END_TEST

START_TEST(test_backlog_consumed_late)
{
    fk_req_t r = {"old", "What is the TCA cycle?", 2000, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL,
                  NULL};

    fk_start(&f, NULL);
    r.created_at = f.now - 5 * 1000000; /* waited 5 s in Kafka */
    fk_feed(&f, &r, 1, 0);
    fk_advance(&f, 0);
    fk_expect(&f, "old", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
}
END_TEST

START_TEST(test_invalid_and_undecodable)
{
    kc_wmsg_t rec = {"kclassify.requests", 0, 7, "k", 1, "\x00garbage", 8, NULL};
    kc_result_t res;

    fk_start(&f, (const char *const[]){"query.max.bytes=16", NULL});
    fk_ask(&f, "long", "a query longer than sixteen bytes", 5);
    fk_expect(&f, "long", KC_STATUS_ERROR, KC_SRC_NONE);
    fk_result(&f, 0, &res);
    ck_assert_ptr_nonnull(strstr(res.error, "query.max.bytes=16"));
    kc_result_clear(&res);
    fk_ask(&f, "empty", "   ", 6);
    fk_expect(&f, "empty", KC_STATUS_ERROR, KC_SRC_NONE);
    kc_worker_feed(f.w, &rec, 1);
    ck_assert_uint_eq(f.msg_cnt, 3);
    ck_assert_str_eq(f.msgs[2].topic, "kclassify.requests.DLT");
    ck_assert_uint_eq(f.msgs[2].len, 8);
    {
        const void *v;
        size_t sz;
        ck_assert_int_eq(
            rd_kafka_header_get_last(f.msgs[2].hdrs, "kclassify.source.offset", &v, &sz), 0);
        ck_assert_int_eq(sz, 1);
        ck_assert_int_eq(*(const char *)v, '7');
    }
    fk_deliver_all(&f, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 8);
    ck_assert_uint_eq(f.w->stats.dlt, 1);
}
END_TEST

START_TEST(test_queue_bound)
{
    /* One call at a time, a queue of two: the fourth distinct query finds
     * the queue full of queries someone waits for and gets the fallback. */
    fk_start(&f, (const char *const[]){"llm.inflight.max=1", "llm.inflight.min=1",
                                       "llm.batch.max=1", "llm.queue.max=2", NULL});
    fk_ask(&f, "a", "q one", 0);
    fk_advance(&f, 1);
    ck_assert_uint_eq(f.call_cnt, 1);
    fk_ask(&f, "b", "q two", 1);
    fk_ask(&f, "c", "q three", 2);
    ck_assert_uint_eq(kc_worker_llmq_len(f.w), 2);
    fk_ask(&f, "d", "q four", 3);
    fk_expect(&f, "d", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
    ck_assert_uint_eq(f.w->lq.queue_full, 1);
    ck_assert_ptr_null(fk_lookup(&f, "q four"));
    /* Once "b" and "c" were answered by their deadlines they only fill the
     * cache, and a fresh query takes the place of the oldest of them. */
    fk_advance(&f, 1950);
    fk_expect(&f, "b", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
    ck_assert_int_eq(fk_lookup(&f, "q two")->state, KC_LK_FILL);
    fk_ask(&f, "e", "q five", 4);
    /* one of the two (same deadline) dropped */
    ck_assert((fk_lookup(&f, "q two") == NULL) != (fk_lookup(&f, "q three") == NULL));
    ck_assert_int_eq(fk_lookup(&f, "q five")->state, KC_LK_LIVE);
    ck_assert_int_eq(fk_reply_of(&f, "e"), -1);
}
END_TEST

START_TEST(test_enomem_queueing)
{
    fk_start(&f, NULL);
    /* The request's own deadline entry succeeds, the live queue's fails. */
    heap_fail_in = 2;
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    ck_assert_int_eq(heap_fail_in, 0);
    fk_expect(&f, "a", KC_STATUS_DEGRADED, KC_SRC_FALLBACK);
    /* No orphan: the key is free, the next request starts a lookup of its
     * own and the LLM is asked. */
    ck_assert_ptr_null(fk_lookup(&f, "What is the TCA cycle?"));
    fk_ask(&f, "b", "What is the TCA cycle?", 1);
    ck_assert_int_eq(fk_lookup(&f, "What is the TCA cycle?")->waiter_cnt, 1);
    fk_advance(&f, 1);
    ck_assert_uint_eq(f.call_cnt, 1);
    fk_answer_all(&f, 0, "GENERAL");
    fk_expect(&f, "b", KC_STATUS_OK, KC_SRC_LLM);
}
END_TEST

START_TEST(test_enomem_attach)
{
    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    heap_fail_in = 1; /* the coalesced request's deadline entry */
    fk_ask(&f, "b", "What is the TCA cycle?", 1);
    fk_expect(&f, "b", KC_STATUS_ERROR, KC_SRC_NONE);
    ck_assert_int_eq(fk_lookup(&f, "What is the TCA cycle?")->waiter_cnt, 1);
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    fk_expect(&f, "a", KC_STATUS_OK, KC_SRC_LLM);
}
END_TEST

START_TEST(test_lifecycle_states)
{
    kc_lookup_t *lk;

    fk_start(&f, (const char *const[]){"llm.retry.backoff.ms=100", NULL});
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    lk = fk_lookup(&f, "What is the TCA cycle?");
    ck_assert_int_eq(lk->state, KC_LK_LIVE);
    fk_advance(&f, 1);
    ck_assert_int_eq(lk->state, KC_LK_IN_CALL);
    ck_assert_int_eq(lk->calls, 1);
    fk_fail(&f, 0, 503);
    ck_assert_int_eq(lk->state, KC_LK_BACKOFF);
    ck_assert_int_eq(lk->retries, 1);
    /* The retry timer is armed within the backoff cap. */
    ck_assert_int_le(kc_worker_next_timer_ms(f.w, 100000), 101);
    fk_advance(&f, 101);
    ck_assert_uint_eq(f.call_cnt, 2);
    ck_assert_int_eq(lk->state, KC_LK_IN_CALL);
    fk_answer_all(&f, 1, "GENERAL");
    fk_expect(&f, "a", KC_STATUS_OK, KC_SRC_LLM);
}
END_TEST

START_TEST(test_priority_first)
{
    fk_req_t rs[2] = {
        {"low", "q low", 0, 0, KC_PRIO_LOW, KC_CACHE_USE, NULL, NULL},
        {"high", "q high", 0, 0, KC_PRIO_HIGH, KC_CACHE_USE, NULL, NULL},
    };

    fk_start(&f, (const char *const[]){"llm.inflight.max=1", "llm.inflight.min=1",
                                       "llm.batch.max=1", NULL});
    fk_feed(&f, rs, 2, 0);
    fk_advance(&f, 1);
    ck_assert_uint_eq(f.call_cnt, 1);
    ck_assert_str_eq(fk_call(&f, 0)->texts[0], "q high");
}
END_TEST

static Suite *worker_flow_suite(void)
{
    Suite *s = suite_create("worker_flow");
    TCase *tc = tcase_create("flow");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_coalesce_one_call);
    tcase_add_test(tc, test_commit_after_delivery);
    tcase_add_test(tc, test_deadline_fallback_then_late_answer);
    tcase_add_test(tc, test_deadline_margin_exactly_once);
    tcase_add_test(tc, test_backlog_consumed_late);
    tcase_add_test(tc, test_invalid_and_undecodable);
    tcase_add_test(tc, test_queue_bound);
    tcase_add_test(tc, test_enomem_queueing);
    tcase_add_test(tc, test_enomem_attach);
    tcase_add_test(tc, test_lifecycle_states);
    tcase_add_test(tc, test_priority_first);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(worker_flow_suite());
}
