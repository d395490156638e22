/* Unit tests for libcore/wire/kc_kafka.c: kafka.* scoping to one client type. */
#include "kc_conf.h"
#include "kc_kafka.h"

#include "kc_check.h"

#include <check.h>
#include <string.h>

static kc_conf_kv_list_t kv;

static void teardown(void)
{
    kc_conf_kv_free(&kv);
}

/* The value conf has for key, or "" when unset. */
static const char *get(rd_kafka_conf_t *conf, const char *key)
{
    static char buf[256];
    size_t size = sizeof(buf);

    if (rd_kafka_conf_get(conf, key, buf, &size) != RD_KAFKA_CONF_OK) {
        return "";
    }
    return buf;
}

START_TEST(test_key_for)
{
    ck_assert_str_eq(kc_kafka_key_for(KC_KAFKA_CONSUMER, "bootstrap.servers"), "bootstrap.servers");
    ck_assert_str_eq(kc_kafka_key_for(KC_KAFKA_PRODUCER, "bootstrap.servers"), "bootstrap.servers");
    /* one type's property stays with that type */
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_PRODUCER, "group.id"));
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_PRODUCER, "fetch.wait.max.ms"));
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_CONSUMER, "acks"));
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_CONSUMER, "linger.ms"));
    /* scoped keys lose their scope for their client, and go nowhere else */
    ck_assert_str_eq(kc_kafka_key_for(KC_KAFKA_CONSUMER, "consumer.sasl.username"),
                     "sasl.username");
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_PRODUCER, "consumer.sasl.username"));
    ck_assert_str_eq(kc_kafka_key_for(KC_KAFKA_PRODUCER, "producer.client.id"), "client.id");
    ck_assert_ptr_null(kc_kafka_key_for(KC_KAFKA_CONSUMER, "producer.client.id"));
}
END_TEST

START_TEST(test_scoped_wins)
{
    static const char *const defaults[] = {"client.id", "ours", NULL};
    char errstr[256];
    rd_kafka_conf_t *c, *p;

    /* the scoped key comes first in the file and still wins */
    ck_assert_int_eq(kc_conf_kv_set(&kv, "consumer.client.id", "reader"), 0);
    ck_assert_int_eq(kc_conf_kv_set(&kv, "client.id", "both"), 0);
    ck_assert_int_eq(kc_conf_kv_set(&kv, "group.id", "g1"), 0);
    ck_assert_int_eq(kc_conf_kv_set(&kv, "linger.ms", "7"), 0);
    c = kc_kafka_conf_new(KC_KAFKA_CONSUMER, defaults, &kv, errstr, sizeof(errstr));
    p = kc_kafka_conf_new(KC_KAFKA_PRODUCER, defaults, &kv, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(get(c, "client.id"), "reader");
    ck_assert_str_eq(get(p, "client.id"), "both");
    ck_assert_str_eq(get(c, "group.id"), "g1");
    ck_assert_str_eq(get(p, "group.id"), ""); /* not given to the producer */
    ck_assert_str_eq(get(p, "linger.ms"), "7");
    rd_kafka_conf_destroy(c);
    rd_kafka_conf_destroy(p);
}
END_TEST

START_TEST(test_error_names_key)
{
    char errstr[256] = "";

    ck_assert_int_eq(kc_conf_kv_set(&kv, "producer.no.such.property", "1"), 0);
    ck_assert_ptr_null(kc_kafka_conf_new(KC_KAFKA_PRODUCER, NULL, &kv, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "kafka.producer.no.such.property: ") == errstr, "%s", errstr);
    /* the consumer never sees it */
    rd_kafka_conf_t *c = kc_kafka_conf_new(KC_KAFKA_CONSUMER, NULL, &kv, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(c);
    rd_kafka_conf_destroy(c);
}
END_TEST

START_TEST(test_err_class)
{
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), KC_KAFKA_ERR_TRANSIENT);
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS),
                     KC_KAFKA_ERR_TRANSIENT);
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR_INVALID_RECORD), KC_KAFKA_ERR_RECORD);
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), KC_KAFKA_ERR_RECORD);
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                     KC_KAFKA_ERR_TOPIC);
    ck_assert_int_eq(kc_kafka_err_class(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), KC_KAFKA_ERR_TOPIC);
}
END_TEST

static Suite *kafka_suite(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("scope");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_key_for);
    tcase_add_test(tc, test_scoped_wins);
    tcase_add_test(tc, test_error_names_key);
    tcase_add_test(tc, test_err_class);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(kafka_suite());
}
