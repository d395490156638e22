/*
 * libFuzzer target: kc_avro_result_decode() over arbitrary bytes (clients and
 * kclassify-sla decode replies). Whatever decodes must survive a round trip.
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

static void result_compare_strings(const kc_result_t *a, const kc_result_t *b)
{
    FUZZ_CHECK(fuzz_streq(a->request_id, b->request_id), "request_id");
    FUZZ_CHECK(fuzz_streq(a->query_hash, b->query_hash), "query_hash");
    FUZZ_CHECK(fuzz_streq(a->category, b->category), "category");
    FUZZ_CHECK(fuzz_streq(a->reasoning, b->reasoning), "reasoning");
    FUZZ_CHECK(fuzz_streq(a->error, b->error), "error");
    FUZZ_CHECK(fuzz_streq(a->model, b->model), "model");
    FUZZ_CHECK(fuzz_streq(a->worker_id, b->worker_id), "worker_id");
}

static void result_compare(const kc_result_t *a, const kc_result_t *b)
{
    result_compare_strings(a, b);
    /* Bitwise: a NaN confidence must come back as the same NaN. */
    FUZZ_CHECK(memcmp(&a->confidence, &b->confidence, sizeof(float)) == 0, "confidence");
    FUZZ_CHECK(a->status == b->status && a->source == b->source, "status/source");
    FUZZ_CHECK(a->coalesced == b->coalesced && a->deadline_met == b->deadline_met, "bools");
    FUZZ_CHECK(a->batch_size == b->batch_size, "batch_size");
    FUZZ_CHECK(a->created_at == b->created_at && a->consumed_at == b->consumed_at &&
                   a->replied_at == b->replied_at,
               "timestamps");
    FUZZ_CHECK(a->queue_us == b->queue_us && a->cache_us == b->cache_us && a->llm_us == b->llm_us &&
                   a->total_us == b->total_us,
               "latencies");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_result_t res, again;
    kc_buf_t buf;

    if (kc_avro_result_decode(av, data, size, &res, errstr, sizeof(errstr)) != 0) {
        FUZZ_CHECK(res.request_id == NULL && res.category == NULL, "res not cleared on error");
        return 0;
    }
    FUZZ_CHECK(res.status >= KC_STATUS_OK && res.status <= KC_STATUS_ERROR, "status %d",
               res.status);
    FUZZ_CHECK(res.source >= KC_SRC_L1 && res.source <= KC_SRC_NONE, "source %d", res.source);
    kc_buf_init(&buf);
    int rc = kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr));
    FUZZ_CHECK(rc == 0, "re-encode of a decoded result: %s", errstr);
    rc = kc_avro_result_decode(av, buf.data, buf.len, &again, errstr, sizeof(errstr));
    FUZZ_CHECK(rc == 0, "decode of a re-encoded result: %s", errstr);
    result_compare(&res, &again);
    kc_result_clear(&again);
    kc_result_clear(&res);
    kc_buf_free(&buf);
    return 0;
}
