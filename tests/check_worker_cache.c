/*
 * Unit tests of the worker's cache levels below L1 on fake seams
 * (kc_fake_worker.h), with real LMDB files in a temp dir and the shared
 * redis-server named by KC_TEST_REDIS_URL (scripts/test.sh starts one; the
 * Redis cases FAIL when it is unset): an answer kept across a restart in
 * LMDB, and the fleet-wide lease, where a second worker waits for the
 * first one's answer instead of asking the LLM itself.
 */
#define _GNU_SOURCE
#include "kc_fake_worker.h"

#include "kc_check.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static fk_t a, b;
static bool a_on, b_on;
static char dir[64];
static char prop_lmdb[300], prop_prefix[100];

static const char *redis_url(void)
{
    const char *url = getenv("KC_TEST_REDIS_URL");
    if (!url || !*url) {
        ck_abort_msg("KC_TEST_REDIS_URL is not set: this test needs a redis-server "
                     "(scripts/test.sh starts one)");
    }
    return url;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kc_check_worker_cache.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(prop_lmdb, sizeof(prop_lmdb), "cache.lmdb.path=%s/lmdb", dir);
    /* a key space of this test run's own on the shared server */
    snprintf(prop_prefix, sizeof(prop_prefix),
             "cache.redis.prefix=kc_check_worker:%d:%lld:", (int)getpid(), (long long)time(NULL));
}

static void teardown(void)
{
    char cmd[400];

    if (a_on) {
        fk_stop(&a);
    }
    if (b_on) {
        fk_stop(&b);
    }
    a_on = b_on = false;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Workers A and B on the shared Redis with this test's key prefix and
 * `extra` (a property or NULL); A is asked `query` and calls the LLM. */
static void pair_start(const char *extra, const char *query)
{
    static char url[300];
    const char *pa[] = {url, prop_prefix, "worker.id=A", "coalesce.redis.poll.ms=20", extra, NULL};
    const char *pb[] = {url, prop_prefix, "worker.id=B", "coalesce.redis.poll.ms=20", extra, NULL};

    snprintf(url, sizeof(url), "cache.redis.url=%s", redis_url());
    fk_start(&a, pa);
    a_on = true;
    fk_start(&b, pb);
    b_on = true;
    fk_ask(&a, "ra", query, 0);
    fk_advance(&a, 1);
    ck_assert_uint_eq(a.call_cnt, 1);
    ck_assert(fk_lookup(&a, query)->leased);
}

/* An LLM answer goes to LMDB; a restarted worker answers from there. */
START_TEST(test_lmdb_across_restart)
{
    const char *props[] = {prop_lmdb, NULL};

    fk_start(&a, props);
    a_on = true;
    fk_ask(&a, "r1", "What is the TCA cycle?", 0);
    ck_assert_int_eq(fk_lookup(&a, "What is the TCA cycle?")->state, KC_LK_LIVE);
    fk_advance(&a, 1);
    ck_assert_uint_eq(a.call_cnt, 1);
    fk_answer_all(&a, 0, "KNOWLEDGE_GRAPH");
    fk_advance(&a, 1); /* the loop pass writes LMDB */
    fk_expect(&a, "r1", KC_STATUS_OK, KC_SRC_LLM);
    fk_stop(&a);
    a_on = false;

    fk_start(&b, props);
    b_on = true;
    fk_ask(&b, "r2", "what is the tca cycle", 0);
    fk_expect(&b, "r2", KC_STATUS_OK, KC_SRC_LMDB);
    ck_assert_uint_eq(b.call_cnt, 0);
}
END_TEST

/* Two workers, one Redis: the second waits on the first one's lease and is
 * answered from Redis once the first one's LLM answer is written. */
START_TEST(test_lease_wait_then_redis)
{
    kc_lookup_t *lk;

    pair_start(NULL, "Latest 2025 FDA approvals?");

    fk_ask(&b, "rb", "latest 2025 fda approvals?", 0);
    lk = fk_lookup(&b, "Latest 2025 FDA approvals?");
    ck_assert_ptr_nonnull(lk);
    ck_assert_int_eq(lk->state, KC_LK_LEASE_WAIT);
    ck_assert_uint_eq(b.w->stats.lease_waits, 1);
    /* its poll timer is armed */
    ck_assert_int_le(kc_worker_next_timer_ms(b.w, 100000), 20);
    fk_advance(&b, 21);
    ck_assert_uint_eq(b.call_cnt, 0);
    ck_assert_uint_eq(b.msg_cnt, 0);

    fk_answer_all(&a, 0, "REAL_TIME");
    fk_advance(&a, 1); /* writes Redis, releases the lease */
    fk_expect(&a, "ra", KC_STATUS_OK, KC_SRC_LLM);
    fk_advance(&b, 21);
    fk_expect(&b, "rb", KC_STATUS_OK, KC_SRC_REDIS);
    ck_assert_uint_eq(b.call_cnt, 0);
    ck_assert_ptr_null(fk_lookup(&b, "Latest 2025 FDA approvals?"));
}
END_TEST

/* A holder that never answers (it died): its lease expires and the waiter
 * takes it over and asks the LLM itself. */
START_TEST(test_lease_expired_takeover)
{
    pair_start("coalesce.redis.lease.ms=300", "What is metabolomics?");
    fk_ask(&b, "rb", "What is metabolomics?", 0);
    ck_assert_int_eq(fk_lookup(&b, "What is metabolomics?")->state, KC_LK_LEASE_WAIT);
    /* Redis expires the lease on its own clock: wait for it for real. */
    usleep(350 * 1000);
    /* the pass that polls also sends the call (not after the next wait) */
    fk_advance(&b, 350);
    ck_assert_uint_eq(b.call_cnt, 1);
    ck_assert(fk_lookup(&b, "What is metabolomics?")->leased);
    fk_answer_all(&b, 0, "GENERAL");
    fk_expect(&b, "rb", KC_STATUS_OK, KC_SRC_LLM);
}
END_TEST

static Suite *worker_cache_suite(void)
{
    Suite *s = suite_create("worker_cache");
    TCase *tc = tcase_create("levels");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lmdb_across_restart);
    tcase_add_test(tc, test_lease_wait_then_redis);
    tcase_add_test(tc, test_lease_expired_takeover);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(worker_cache_suite());
}
