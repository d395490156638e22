/*
 * Unit tests of poison records on fake seams (kc_fake_worker.h): requests
 * whose reply cannot be addressed or written never hold their partition's
 * commits. Unusable reply topics and request ids get an ERROR reply on
 * topic.replies; replies Kafka refuses for good send the request to the DLT;
 * a DLT that refuses too completes the offset as lost; failures that may pass
 * are produced again; a fatal producer error stops the worker.
 */
#include "kc_fake_worker.h"

#include "kc_check.h"

#include <check.h>

static fk_t f;

static void teardown(void)
{
    fk_stop(&f);
}

/* The error of the reply in produced record i. */
static void expect_error_reply(size_t i, const char *topic, const char *has)
{
    kc_result_t res;

    ck_assert_str_eq(f.msgs[i].topic, topic);
    fk_result(&f, i, &res);
    ck_assert_int_eq(res.status, KC_STATUS_ERROR);
    ck_assert_msg(res.error && strstr(res.error, has), "error %s lacks %s",
                  res.error ? res.error : "-", has);
    kc_result_clear(&res);
}

static const char *header(size_t i, const char *name)
{
    static char buf[512];
    const void *v;
    size_t n;

    if (!f.msgs[i].hdrs || rd_kafka_header_get_last(f.msgs[i].hdrs, name, &v, &n) != 0) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)n, (const char *)v);
    return buf;
}

/* A 600-character reply topic and one outside the allow-list: ERROR replies
 * on topic.replies; an allowed one is used. */
START_TEST(test_reply_topics)
{
    static char longname[601];
    fk_req_t rs[4] = {
        {"bad-name", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, longname, NULL},
        {"not-allowed", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE,
         "kclassify.alerts", NULL},
        {"allowed", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE,
         "kclassify.replies.svc1", NULL},
        {"default", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE,
         "kclassify.replies", NULL},
    };

    memset(longname, 'x', 600);
    fk_start(&f, NULL);
    fk_feed(&f, rs, 4, 0);
    ck_assert_uint_eq(f.msg_cnt, 2);
    expect_error_reply(0, "kclassify.replies", "not a valid Kafka topic name (600 bytes)");
    expect_error_reply(1, "kclassify.replies", "kclassify.alerts is not in topic.replies.allowed");
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    ck_assert_uint_eq(f.msg_cnt, 4);
    ck_assert_str_eq(f.msgs[2].key, "allowed");
    ck_assert_str_eq(f.msgs[2].topic, "kclassify.replies.svc1");
    ck_assert_str_eq(f.msgs[3].topic, "kclassify.replies");
    fk_deliver_all(&f, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 4);
}
END_TEST

/* The kafka_replyTopic header is held to the same rules. */
START_TEST(test_reply_topic_header)
{
    fk_req_t r = {"h", "What is the TCA cycle?", 0, 0, KC_PRIO_NORMAL, KC_CACHE_USE, NULL, NULL};
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    kc_buf_t v;
    kc_wmsg_t rec;

    fk_start(&f, (const char *const[]){"topic.replies.allowed=svc.*", NULL});
    rd_kafka_header_add(hdrs, "kafka_replyTopic", -1, "kclassify.requests", -1);
    fk_encode(&f, &r, &v);
    rec = (kc_wmsg_t){"kclassify.requests", 0, 0, "h", 1, v.data, v.len, hdrs};
    kc_worker_feed(f.w, &rec, 1);
    expect_error_reply(0, "kclassify.replies",
                       "kclassify.requests is not in topic.replies.allowed");
    kc_buf_free(&v);
    rd_kafka_headers_destroy(hdrs);
}
END_TEST

START_TEST(test_request_ids)
{
    size_t big = 350 * 1024;
    char *id = malloc(big + 1);
    kc_result_t res;

    memset(id, 'i', big);
    id[big] = '\0';
    fk_start(&f, NULL);
    fk_ask(&f, id, "What is the TCA cycle?", 0);
    fk_ask(&f, "tab\there\x01", "What is the TCA cycle?", 1);
    fk_ask(&f, "bad\xff utf8", "What is the TCA cycle?", 2);
    ck_assert_uint_eq(f.msg_cnt, 3);
    expect_error_reply(0, "kclassify.replies", "request_id is 358400 bytes, longer than 256");
    ck_assert_uint_eq(strlen(f.msgs[0].key), 256); /* key, header and value carry the cut id */
    ck_assert_str_eq(header(0, "kafka_correlationId"), f.msgs[0].key);
    fk_result(&f, 0, &res);
    ck_assert_str_eq(res.request_id, f.msgs[0].key);
    kc_result_clear(&res);
    expect_error_reply(1, "kclassify.replies", "control character");
    ck_assert_str_eq(f.msgs[1].key, "tab?here?");
    ck_assert_str_eq(f.msgs[2].key, "bad? utf8");
    fk_deliver_all(&f, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 3);
    free(id);
}
END_TEST

/* A reply Kafka refuses at once (too large for message.max.bytes): the
 * request goes to the DLT with the reason, and its offset completes. */
START_TEST(test_reply_refused_to_dlt)
{
    kc_request_t req;
    char errstr[256];

    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    f.produce_err = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    f.fail_topic = "kclassify.replies";
    fk_answer_all(&f, 0, "GENERAL");
    ck_assert_uint_eq(f.msg_cnt, 1);
    ck_assert_str_eq(f.msgs[0].topic, "kclassify.requests.DLT");
    ck_assert_str_eq(f.msgs[0].key, "a");
    ck_assert_ptr_nonnull(strstr(header(0, "kclassify.error"), "cannot produce its reply"));
    ck_assert_str_eq(header(0, "kclassify.source.offset"), "0");
    /* the value is the request, decodable */
    ck_assert_int_eq(
        kc_avro_request_decode(f.av, f.msgs[0].value, f.msgs[0].len, &req, errstr, sizeof(errstr)),
        0);
    ck_assert_str_eq(req.query, "What is the TCA cycle?");
    kc_request_clear(&req);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), -1);
    fk_deliver(&f, 0, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
    ck_assert_uint_eq(f.w->stats.dlt, 1);
}
END_TEST

/* A delivery that fails for good (topic not authorised): DLT. */
START_TEST(test_delivery_refused_to_dlt)
{
    fk_req_t r = {"a",          "What is the TCA cycle?",   0,   0, KC_PRIO_NORMAL,
                  KC_CACHE_USE, "kclassify.replies.locked", NULL};

    fk_start(&f, NULL);
    fk_feed(&f, &r, 1, 0);
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    ck_assert_str_eq(f.msgs[0].topic, "kclassify.replies.locked");
    fk_deliver(&f, 0, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ck_assert_uint_eq(f.msg_cnt, 2);
    ck_assert_str_eq(f.msgs[1].topic, "kclassify.requests.DLT");
    ck_assert_ptr_nonnull(strstr(header(1, "kclassify.error"), "Topic authorization failed"));
    fk_deliver(&f, 1, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
}
END_TEST

/* A failure that may pass is produced again, as often as it takes; the
 * offset waits for the delivery. */
START_TEST(test_delivery_transient_retried)
{
    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    for (size_t i = 0; i < 8; i++) {
        fk_deliver(&f, i, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
        ck_assert_uint_eq(f.msg_cnt, i + 2);
        ck_assert_str_eq(f.msgs[i + 1].topic, "kclassify.replies");
        ck_assert_str_eq(header(i + 1, "kafka_correlationId"), "a");
        ck_assert_int_eq(kc_worker_committable(f.w, 0), -1);
    }
    fk_deliver(&f, 8, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
    ck_assert_uint_eq(f.w->stats.dlt, 0);
}
END_TEST

/* Undecodable, and the DLT refuses it for good: lost, loudly, and the
 * partition goes on. */
START_TEST(test_dlt_refused_lost)
{
    kc_wmsg_t rec = {"kclassify.requests", 0, 0, "k", 1, "\x00junk", 5, NULL};

    fk_start(&f, NULL);
    kc_worker_feed(f.w, &rec, 1);
    fk_ask(&f, "good", "What is the TCA cycle?", 1);
    ck_assert_str_eq(f.msgs[0].topic, "kclassify.requests.DLT");
    fk_deliver(&f, 0, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ck_assert_uint_eq(f.w->stats.lost, 1);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    fk_deliver_all(&f, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 2);
}
END_TEST

/* A dead letter the broker keeps refusing as too large goes without its
 * value (after the retries a refused batch-mate gets). */
START_TEST(test_dlt_too_large_without_value)
{
    kc_wmsg_t rec = {"kclassify.requests", 0, 0, "k", 1, "\x00junk", 5, NULL};
    size_t i;

    fk_start(&f, NULL);
    kc_worker_feed(f.w, &rec, 1);
    for (i = 0; i < 5; i++) {
        fk_deliver(&f, i, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    }
    ck_assert_uint_eq(f.msg_cnt, 6);
    ck_assert_uint_eq(f.msgs[4].len, 5); /* retried whole four times */
    ck_assert_uint_eq(f.msgs[5].len, 0);
    ck_assert_ptr_nonnull(strstr(header(5, "kclassify.error"), "value of 5 bytes dropped"));
    fk_deliver(&f, 5, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
}
END_TEST

/* The broker refuses a whole batch for one invalid record: every reply in
 * it is produced again, alone, and delivered (the mock's INVALID_RECORD
 * injection in ft_broker_down); a reply refused KC_RECORD_ATTEMPTS times goes
 * to the DLT. */
START_TEST(test_record_refusal_retried_then_dlt)
{
    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    fk_answer_all(&f, 0, "GENERAL");
    fk_deliver(&f, 0, RD_KAFKA_RESP_ERR_INVALID_RECORD);
    ck_assert_str_eq(f.msgs[1].topic, "kclassify.replies"); /* again */
    fk_deliver(&f, 1, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 1);
    ck_assert_uint_eq(f.w->stats.dlt, 0);

    fk_ask(&f, "b", "What is glycolysis?", 1);
    fk_advance(&f, 1);
    fk_answer_all(&f, 1, "GENERAL");
    for (size_t i = 2; i < 6; i++) {
        fk_deliver(&f, i, RD_KAFKA_RESP_ERR_INVALID_RECORD);
        ck_assert_str_eq(f.msgs[i + 1].topic, "kclassify.replies");
    }
    fk_deliver(&f, 6, RD_KAFKA_RESP_ERR_INVALID_RECORD); /* the fifth refusal */
    ck_assert_str_eq(f.msgs[7].topic, "kclassify.requests.DLT");
    fk_deliver(&f, 7, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), 2);
}
END_TEST

/* A fatal producer error stops the worker; the request stays uncommitted
 * for the next process. */
START_TEST(test_fatal_stops)
{
    fk_start(&f, NULL);
    fk_ask(&f, "a", "What is the TCA cycle?", 0);
    fk_advance(&f, 1);
    f.produce_err = RD_KAFKA_RESP_ERR__FATAL;
    fk_answer_all(&f, 0, "GENERAL");
    ck_assert(f.w->fatal);
    ck_assert(f.w->stop);
    ck_assert_uint_eq(f.msg_cnt, 0);
    ck_assert_int_eq(kc_worker_committable(f.w, 0), -1);
    ck_assert_uint_eq(f.w->outstanding, 0);
}
END_TEST

static Suite *worker_poison_suite(void)
{
    Suite *s = suite_create("worker_poison");
    TCase *tc = tcase_create("poison");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_reply_topics);
    tcase_add_test(tc, test_reply_topic_header);
    tcase_add_test(tc, test_request_ids);
    tcase_add_test(tc, test_reply_refused_to_dlt);
    tcase_add_test(tc, test_delivery_refused_to_dlt);
    tcase_add_test(tc, test_delivery_transient_retried);
    tcase_add_test(tc, test_dlt_refused_lost);
    tcase_add_test(tc, test_dlt_too_large_without_value);
    tcase_add_test(tc, test_record_refusal_retried_then_dlt);
    tcase_add_test(tc, test_fatal_stops);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(worker_poison_suite());
}
