/*
 * libFuzzer target: kc_avro_request_decode() over arbitrary bytes. Whatever
 * decodes must encode again and decode to the same request (the wire format
 * is the contract between producers and workers).
 */
#include "fuzz.h"
#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_types.h"

#include <stddef.h>
#include <stdint.h>

static kc_avro_t *av;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char errstr[256];
    (void)argc, (void)argv;
    av = kc_avro_new(KC_AVRO_DEFAULT_REQUEST_ID, KC_AVRO_DEFAULT_RESULT_ID, errstr, sizeof(errstr));
    FUZZ_CHECK(av != NULL, "kc_avro_new: %s", errstr);
    return 0;
}

static void request_compare(const kc_request_t *a, const kc_request_t *b)
{
    FUZZ_CHECK(fuzz_streq(a->request_id, b->request_id), "request_id");
    FUZZ_CHECK(a->query_len == b->query_len && memcmp(a->query, b->query, a->query_len) == 0,
               "query (%zu vs %zu bytes)", a->query_len, b->query_len);
    FUZZ_CHECK(a->priority == b->priority, "priority %d vs %d", a->priority, b->priority);
    FUZZ_CHECK(a->deadline_ms == b->deadline_ms, "deadline_ms");
    FUZZ_CHECK(a->created_at == b->created_at, "created_at");
    FUZZ_CHECK(fuzz_streq(a->reply_topic, b->reply_topic), "reply_topic");
    FUZZ_CHECK(a->cache_policy == b->cache_policy, "cache_policy");
    FUZZ_CHECK(a->context_cnt == b->context_cnt, "context_cnt %zu vs %zu", a->context_cnt,
               b->context_cnt);
    for (size_t i = 0; i < a->context_cnt; i++) {
        FUZZ_CHECK(fuzz_streq(a->context[i].key, b->context[i].key), "context key %zu", i);
        FUZZ_CHECK(fuzz_streq(a->context[i].value, b->context[i].value), "context value %zu", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_request_t req, again;
    kc_buf_t buf;

    if (kc_avro_request_decode(av, data, size, &req, errstr, sizeof(errstr)) != 0) {
        FUZZ_CHECK(req.request_id == NULL && req.query == NULL, "req not cleared on error");
        return 0;
    }
    FUZZ_CHECK(req.priority >= KC_PRIO_LOW && req.priority <= KC_PRIO_HIGH, "priority %d",
               req.priority);
    kc_buf_init(&buf);
    int rc = kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr));
    FUZZ_CHECK(rc == 0, "re-encode of a decoded request: %s", errstr);
    rc = kc_avro_request_decode(av, buf.data, buf.len, &again, errstr, sizeof(errstr));
    FUZZ_CHECK(rc == 0, "decode of a re-encoded request: %s", errstr);
    request_compare(&req, &again);
    kc_request_clear(&again);
    kc_request_clear(&req);
    kc_buf_free(&buf);
    return 0;
}
