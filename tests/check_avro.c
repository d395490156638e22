/*
 * Unit tests for the Avro codec (libcore/wire/kc_avro.c): round trips, the exact
 * wire bytes, every malformed-input path, and interop with Python's avro.
 */
#include "kc_avro.h"
#include "kc_avro_check.h"
#include "kc_err.h"

#include <avro.h>
#include "kc_check.h"

#include <check.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "capital of France?" NUL " ünïcode ✓"; split so hex escapes end where meant. */
static const char fixture_query[] = "capital of France?\0 \xc3\xbc"
                                    "n\xc3\xaf"
                                    "c\xc3\xb6"
                                    "de \xe2\x9c\x93";
#define FIXTURE_QUERY_LEN (sizeof(fixture_query) - 1)
#define FIXTURE_TS        1700000000123456LL

static kc_kv_t fixture_ctx[] = {{"tenant", "acme"}, {"lang", "fr"}};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static kc_avro_t *codec_new(void)
{
    char errstr[256] = "";
    kc_avro_t *av =
        kc_avro_new(KC_AVRO_DEFAULT_REQUEST_ID, KC_AVRO_DEFAULT_RESULT_ID, errstr, sizeof(errstr));
    ck_assert_msg(av != NULL, "kc_avro_new: %s", errstr);
    return av;
}

/* The same values tests/data/avro/gen_fixtures.py writes. */
static kc_request_t fixture_request(void)
{
    kc_request_t req = {
        .request_id = "req-0001",
        .query = (char *)fixture_query,
        .query_len = FIXTURE_QUERY_LEN,
        .priority = KC_PRIO_HIGH,
        .deadline_ms = 250,
        .created_at = FIXTURE_TS,
        .reply_topic = "replies.custom",
        .cache_policy = KC_CACHE_REFRESH,
        .context = fixture_ctx,
        .context_cnt = 2,
    };
    return req;
}

static kc_result_t fixture_result(void)
{
    kc_result_t res = {
        .request_id = "req-0001",
        .query_hash = "0123456789abcdef0123456789abcdef",
        .category = "geography",
        .confidence = 0.875f,
        .reasoning = "capital city question",
        .status = KC_STATUS_DEGRADED,
        .error = NULL,
        .source = KC_SRC_LLM,
        .coalesced = true,
        .model = "llama-3-8b",
        .batch_size = 16,
        .worker_id = "worker-7",
        .created_at = FIXTURE_TS,
        .consumed_at = FIXTURE_TS + 1000,
        .replied_at = FIXTURE_TS + 250000,
        .queue_us = 1000,
        .cache_us = -5,
        .llm_us = 240000,
        .total_us = 251000,
        .deadline_met = false,
    };
    return res;
}

static void assert_str_eq(const char *what, const char *got, const char *want)
{
    if (!want) {
        ck_assert_msg(got == NULL, "%s: expected NULL, got \"%s\"", what, got ? got : "");
        return;
    }
    ck_assert_msg(got != NULL, "%s: expected \"%s\", got NULL", what, want);
    ck_assert_msg(strcmp(got, want) == 0, "%s: expected \"%s\", got \"%s\"", what, want, got);
}

static void assert_request_eq(const kc_request_t *got, const kc_request_t *want)
{
    size_t want_qlen = want->query ? want->query_len : 0;

    assert_str_eq("request_id", got->request_id, want->request_id ? want->request_id : "");
    ck_assert_msg(got->query != NULL, "decoded query must never be NULL");
    ck_assert_msg(got->query_len == want_qlen, "query_len: expected %zu, got %zu", want_qlen,
                  got->query_len);
    ck_assert_msg(want_qlen == 0 || memcmp(got->query, want->query, want_qlen) == 0,
                  "query bytes differ");
    ck_assert_msg(got->query[got->query_len] == '\0', "query must stay NUL-terminated");
    ck_assert_msg(got->priority == want->priority, "priority: expected %d, got %d", want->priority,
                  got->priority);
    ck_assert_msg(got->deadline_ms == want->deadline_ms, "deadline_ms: expected %d, got %d",
                  want->deadline_ms, got->deadline_ms);
    ck_assert_msg(got->created_at == want->created_at, "created_at differs");
    assert_str_eq("reply_topic", got->reply_topic, want->reply_topic);
    ck_assert_msg(got->cache_policy == want->cache_policy, "cache_policy: expected %d, got %d",
                  want->cache_policy, got->cache_policy);
    ck_assert_msg(got->context_cnt == want->context_cnt, "context_cnt: expected %zu, got %zu",
                  want->context_cnt, got->context_cnt);
    for (size_t i = 0; i < want->context_cnt; i++) {
        assert_str_eq("context key", got->context[i].key, want->context[i].key);
        assert_str_eq("context value", got->context[i].value, want->context[i].value);
    }
}

static void assert_result_eq(const kc_result_t *got, const kc_result_t *want)
{
    assert_str_eq("request_id", got->request_id, want->request_id ? want->request_id : "");
    assert_str_eq("query_hash", got->query_hash, want->query_hash ? want->query_hash : "");
    assert_str_eq("category", got->category, want->category ? want->category : "");
    ck_assert_msg(memcmp(&got->confidence, &want->confidence, sizeof(float)) == 0,
                  "confidence: expected %g, got %g", want->confidence, got->confidence);
    assert_str_eq("reasoning", got->reasoning, want->reasoning);
    ck_assert_msg(got->status == want->status, "status: expected %d, got %d", want->status,
                  got->status);
    assert_str_eq("error", got->error, want->error);
    ck_assert_msg(got->source == want->source, "source: expected %d, got %d", want->source,
                  got->source);
    ck_assert_msg(got->coalesced == want->coalesced, "coalesced differs");
    assert_str_eq("model", got->model, want->model);
    ck_assert_msg(got->batch_size == want->batch_size, "batch_size differs");
    assert_str_eq("worker_id", got->worker_id, want->worker_id ? want->worker_id : "");
    ck_assert_msg(got->created_at == want->created_at, "created_at differs");
    ck_assert_msg(got->consumed_at == want->consumed_at, "consumed_at differs");
    ck_assert_msg(got->replied_at == want->replied_at, "replied_at differs");
    ck_assert_msg(got->queue_us == want->queue_us, "queue_us differs");
    ck_assert_msg(got->cache_us == want->cache_us, "cache_us differs");
    ck_assert_msg(got->llm_us == want->llm_us, "llm_us differs");
    ck_assert_msg(got->total_us == want->total_us, "total_us differs");
    ck_assert_msg(got->deadline_met == want->deadline_met, "deadline_met differs");
}

static void request_roundtrip(kc_avro_t *av, const kc_request_t *req)
{
    char errstr[256] = "";
    kc_buf_t buf;
    kc_request_t out = {0};
    int rc;

    kc_buf_init(&buf);
    rc = kc_avro_request_encode(av, req, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "request encode: %s", errstr);
    rc = kc_avro_request_decode(av, buf.data, buf.len, &out, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "request decode: %s", errstr);
    assert_request_eq(&out, req);
    kc_request_clear(&out);
    kc_buf_free(&buf);
}

static void result_roundtrip(kc_avro_t *av, const kc_result_t *res)
{
    char errstr[256] = "";
    kc_buf_t buf;
    kc_result_t out = {0};
    int rc;

    kc_buf_init(&buf);
    rc = kc_avro_result_encode(av, res, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "result encode: %s", errstr);
    rc = kc_avro_result_decode(av, buf.data, buf.len, &out, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "result decode: %s", errstr);
    assert_result_eq(&out, res);
    kc_result_clear(&out);
    kc_buf_free(&buf);
}

/* Independent Avro primitives for hand-built (often hostile) bodies. */
static void put_raw_varint(kc_buf_t *b, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) {
            byte |= 0x80;
        }
        kc_buf_append(b, &byte, 1);
    } while (v);
}

static void put_long(kc_buf_t *b, int64_t v)
{
    put_raw_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_str(kc_buf_t *b, const char *s)
{
    put_long(b, (int64_t)strlen(s));
    kc_buf_append(b, s, strlen(s));
}

static void put_header(kc_buf_t *b, uint8_t magic, uint32_t id)
{
    uint8_t h[5] = {magic, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                    (uint8_t)id};
    kc_buf_append(b, h, sizeof(h));
}

/* A request with the given priority, union index and map bytes (NULL = empty). */
static void build_request(kc_buf_t *b, int64_t prio, int64_t union_idx, const void *map,
                          size_t map_len)
{
    put_header(b, 0, 1);
    put_str(b, "id");
    put_str(b, "q");
    put_long(b, prio);
    put_long(b, 0);
    put_long(b, 42);
    put_long(b, union_idx);
    if (union_idx == 1) {
        put_str(b, "topic");
    }
    put_long(b, 0);
    if (map) {
        kc_buf_append(b, map, map_len);
    } else {
        put_long(b, 0);
    }
}

/* Decode must fail with KC_ERR_DECODE, mention `needle` and leave req cleared. */
static void expect_request_error(kc_avro_t *av, const void *data, size_t len, const char *needle)
{
    char errstr[256] = "";
    kc_request_t req;
    kc_request_t zero = {0};
    int rc;

    memset(&req, 0xab, sizeof(req)); /* decode must zero it, not trust it */
    rc = kc_avro_request_decode(av, data, len, &req, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE, "expected KC_ERR_DECODE for %zu bytes, got %d (%s)", len, rc,
                  errstr);
    ck_assert_msg(errstr[0] != '\0', "errstr must explain the error");
    ck_assert_msg(!needle || strstr(errstr, needle), "errstr \"%s\" should mention \"%s\"", errstr,
                  needle);
    ck_assert_msg(memcmp(&req, &zero, sizeof(req)) == 0, "req must be left cleared on error");
}

static void expect_result_error(kc_avro_t *av, const void *data, size_t len, const char *needle)
{
    char errstr[256] = "";
    kc_result_t res;
    kc_result_t zero = {0};
    int rc;

    memset(&res, 0xab, sizeof(res));
    rc = kc_avro_result_decode(av, data, len, &res, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE, "expected KC_ERR_DECODE for %zu bytes, got %d (%s)", len, rc,
                  errstr);
    ck_assert_msg(!needle || strstr(errstr, needle), "errstr \"%s\" should mention \"%s\"", errstr,
                  needle);
    ck_assert_msg(memcmp(&res, &zero, sizeof(res)) == 0, "res must be left cleared on error");
}

static void load_fixture(const char *name, kc_buf_t *buf)
{
    char path[512], chunk[4096];
    size_t n;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/avro/%s", KC_TEST_DATA, name);
    fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open fixture %s", path);
    kc_buf_init(buf);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        kc_buf_append(buf, chunk, n);
    }
    fclose(fp);
    ck_assert_msg(buf->len > 5, "fixture %s is too short", path);
}

/* ------------------------------------------------------------------------
 * Codec lifecycle and framing ids
 * ------------------------------------------------------------------------ */

START_TEST(test_new_destroy)
{
    kc_avro_destroy(NULL); /* NULL-safe */
    kc_avro_t *av = codec_new();
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_embedded_schemas_parse)
{
    const char *jsons[] = {kc_avro_schema_request_json, kc_avro_schema_result_json,
                           kc_avro_schema_alert_json};
    const char *names[] = {"ClassificationRequest", "ClassificationResult", "SlaAlert"};

    for (int i = 0; i < 3; i++) {
        avro_schema_t schema;
        int rc = avro_schema_from_json_length(jsons[i], strlen(jsons[i]), &schema);
        ck_assert_msg(rc == 0, "embedded schema %s does not parse: %s", names[i], avro_strerror());
        ck_assert_msg(strcmp(avro_schema_name(schema), names[i]) == 0,
                      "embedded schema %d is %s, expected %s", i, avro_schema_name(schema),
                      names[i]);
        avro_schema_decref(schema);
    }
}
END_TEST

START_TEST(test_schema_ids_configurable)
{
    char errstr[256] = "";
    kc_avro_t *custom = kc_avro_new(0x01020304, 77, errstr, sizeof(errstr));
    kc_avro_t *dflt = codec_new();
    kc_request_t req = fixture_request(), out = {0};
    kc_result_t res = fixture_result(), rout = {0};
    kc_buf_t buf;
    int rc;

    ck_assert_msg(custom != NULL, "kc_avro_new(custom ids): %s", errstr);
    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_request_encode(custom, &req, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_msg(memcmp(buf.data, "\x00\x01\x02\x03\x04", 5) == 0,
                  "header must carry the configured request schema id 0x01020304");
    rc = kc_avro_request_decode(custom, buf.data, buf.len, &out, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "custom codec must decode its own ids: %s", errstr);
    kc_request_clear(&out);
    expect_request_error(dflt, buf.data, buf.len,
                         "unknown schema id 16909060 (expected 1 for ClassificationRequest)");

    kc_buf_reset(&buf);
    ck_assert_int_eq(kc_avro_result_encode(custom, &res, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_msg(memcmp(buf.data, "\x00\x00\x00\x00\x4d", 5) == 0, "result id 77 in header");
    rc = kc_avro_result_decode(custom, buf.data, buf.len, &rout, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "custom result decode: %s", errstr);
    kc_result_clear(&rout);
    expect_result_error(dflt, buf.data, buf.len,
                        "unknown schema id 77 (expected 2 for ClassificationResult)");

    kc_buf_free(&buf);
    kc_avro_destroy(custom);
    kc_avro_destroy(dflt);
}
END_TEST

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

START_TEST(test_request_roundtrip_full)
{
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();

    request_roundtrip(av, &req);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_exact_bytes)
{
    /* Hand-computed Avro: zigzag varints, length-prefixed strings. */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x00, 0x01,        /* header, id 1 */
                                   0x02, 'a',                           /* request_id "a" */
                                   0x04, 'b',  0x00,                    /* query "b\0" */
                                   0x02,                                /* NORMAL */
                                   0x7f,                                /* deadline_ms -64 */
                                   0x80, 0x01,                          /* created_at 64 */
                                   0x00,                                /* reply_topic null */
                                   0x04,                                /* BYPASS */
                                   0x02, 0x02, 'k',  0x02, 'v',  0x00}; /* {"k": "v"} */
    kc_kv_t kv = {"k", "v"};
    kc_request_t req = {.request_id = "a",
                        .query = "b",
                        .query_len = 2,
                        .priority = KC_PRIO_NORMAL,
                        .deadline_ms = -64,
                        .created_at = 64,
                        .cache_policy = KC_CACHE_BYPASS,
                        .context = &kv,
                        .context_cnt = 1};
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_msg(buf.len == sizeof(want), "encoded %zu bytes, expected %zu", buf.len,
                  sizeof(want));
    for (size_t i = 0; i < sizeof(want); i++) {
        ck_assert_msg((uint8_t)buf.data[i] == want[i], "byte %zu: 0x%02x, expected 0x%02x", i,
                      (uint8_t)buf.data[i], want[i]);
    }
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_nulls_and_empty_map)
{
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();

    req.reply_topic = NULL;
    req.context = NULL;
    req.context_cnt = 0;
    request_roundtrip(av, &req);

    /* NULL request_id / query encode as "" (and decode as "", never NULL). */
    req.request_id = NULL;
    req.query = NULL;
    req.query_len = 0;
    request_roundtrip(av, &req);

    /* An empty string is not null. */
    req.reply_topic = "";
    request_roundtrip(av, &req);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_every_enum_value)
{
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();

    for (int p = KC_PRIO_LOW; p <= KC_PRIO_HIGH; p++) {
        for (int c = KC_CACHE_USE; c <= KC_CACHE_BYPASS; c++) {
            req.priority = (kc_priority_t)p;
            req.cache_policy = (kc_cache_policy_t)c;
            request_roundtrip(av, &req);
        }
    }
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_map_reuse)
{
    /* The codec's reusable value must not leak map entries between records. */
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();
    kc_kv_t many[40];
    char keys[40][16];

    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-%02d", i);
        many[i].key = keys[i];
        many[i].value = i % 2 ? "" : "v\xc3\xa9";
    }
    req.context = many;
    req.context_cnt = 40;
    request_roundtrip(av, &req);
    req.context = fixture_ctx;
    req.context_cnt = 1;
    request_roundtrip(av, &req);
    req.context_cnt = 0;
    request_roundtrip(av, &req);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_query_strlen_default)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request(), out = {0};
    kc_buf_t buf;

    req.query = "plain C string";
    req.query_len = 0; /* caller only set a C string */
    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(kc_avro_request_decode(av, buf.data, buf.len, &out, errstr, sizeof(errstr)),
                     0);
    ck_assert_msg(out.query_len == 14 && strcmp(out.query, "plain C string") == 0,
                  "query_len 0 with a query must mean strlen(query), got %zu \"%s\"", out.query_len,
                  out.query);
    kc_request_clear(&out);
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_request_encode_rejects_bad_enum)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();
    kc_buf_t buf;
    int rc;

    kc_buf_init(&buf);
    req.priority = (kc_priority_t)3;
    rc = kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_ENCODE && strstr(errstr, "priority"),
                  "priority 3 must be KC_ERR_ENCODE, got %d (%s)", rc, errstr);
    req = fixture_request();
    req.cache_policy = (kc_cache_policy_t)-1;
    rc = kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_ENCODE && strstr(errstr, "cache_policy"),
                  "cache_policy -1 must be KC_ERR_ENCODE, got %d (%s)", rc, errstr);
    ck_assert_msg(buf.len == 0, "a failed encode must not append anything");
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_encode_appends)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t a = fixture_request(), b = fixture_request(), out = {0};
    kc_buf_t buf;
    size_t first;

    b.request_id = "second";
    kc_buf_init(&buf);
    kc_buf_puts(&buf, "prefix");
    ck_assert_int_eq(kc_avro_request_encode(av, &a, &buf, errstr, sizeof(errstr)), 0);
    first = buf.len;
    ck_assert_int_eq(kc_avro_request_encode(av, &b, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_msg(memcmp(buf.data, "prefix", 6) == 0, "encode must append, not overwrite");
    ck_assert_int_eq(
        kc_avro_request_decode(av, buf.data + 6, first - 6, &out, errstr, sizeof(errstr)), 0);
    assert_request_eq(&out, &a);
    kc_request_clear(&out);
    ck_assert_int_eq(
        kc_avro_request_decode(av, buf.data + first, buf.len - first, &out, errstr, sizeof(errstr)),
        0);
    assert_request_eq(&out, &b);
    kc_request_clear(&out);
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

START_TEST(test_result_roundtrip_full)
{
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();

    res.error = "upstream timeout \xe2\x8f\xb1";
    result_roundtrip(av, &res);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_nulls_vs_strings)
{
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();

    res.reasoning = NULL;
    res.error = NULL;
    res.model = NULL;
    result_roundtrip(av, &res);
    res.reasoning = "";
    res.error = "";
    res.model = "";
    result_roundtrip(av, &res);
    res.reasoning = "r";
    res.error = NULL;
    res.model = "m";
    result_roundtrip(av, &res);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_null_required_strings)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result(), out = {0};
    kc_buf_t buf;

    res.request_id = NULL;
    res.query_hash = NULL;
    res.category = NULL;
    res.worker_id = NULL;
    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(kc_avro_result_decode(av, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    ck_assert_msg(out.request_id && out.query_hash && out.category && out.worker_id &&
                      !out.request_id[0] && !out.query_hash[0] && !out.category[0] &&
                      !out.worker_id[0],
                  "NULL required strings must encode as \"\"");
    kc_result_clear(&out);
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_every_enum_value)
{
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();

    for (int s = KC_STATUS_OK; s <= KC_STATUS_ERROR; s++) {
        for (int src = KC_SRC_L1; src <= KC_SRC_NONE; src++) {
            res.status = (kc_status_t)s;
            res.source = (kc_source_t)src;
            res.coalesced = (s + src) % 2;
            res.deadline_met = !res.coalesced;
            result_roundtrip(av, &res);
        }
    }
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_extremes)
{
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();

    res.confidence = -0.0f;
    res.batch_size = INT32_MIN;
    res.created_at = INT64_MIN;
    res.consumed_at = INT64_MAX;
    res.replied_at = 0;
    res.queue_us = -1;
    res.total_us = INT64_MAX;
    result_roundtrip(av, &res);
    res.confidence = 1e-30f;
    res.batch_size = INT32_MAX;
    result_roundtrip(av, &res);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_encode_rejects_bad_enum)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();
    kc_buf_t buf;
    int rc;

    kc_buf_init(&buf);
    res.status = (kc_status_t)3;
    rc = kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_ENCODE && strstr(errstr, "status"), "status 3: got %d (%s)", rc,
                  errstr);
    res = fixture_result();
    res.source = (kc_source_t)6;
    rc = kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_ENCODE && strstr(errstr, "source"), "source 6: got %d (%s)", rc,
                  errstr);
    ck_assert_msg(buf.len == 0, "a failed encode must not append anything");
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

/* ------------------------------------------------------------------------
 * Malformed input
 * ------------------------------------------------------------------------ */

START_TEST(test_bad_framing)
{
    kc_avro_t *av = codec_new();
    static const uint8_t magic5[] = {0x05, 0, 0, 0, 1, 0x02, 'a'};
    static const uint8_t id7[] = {0x00, 0, 0, 0, 7, 0x02, 'a'};

    expect_request_error(av, NULL, 0, "record too short (0 bytes)");
    expect_request_error(av, "", 0, "record too short (0 bytes)");
    expect_request_error(av, "\x00\x00\x00", 3,
                         "record too short (3 bytes) for the 5-byte schema-registry header");
    expect_request_error(av, magic5, sizeof(magic5), "unknown magic byte 0x05 (expected 0x00)");
    expect_request_error(av, id7, sizeof(id7),
                         "unknown schema id 7 (expected 1 for ClassificationRequest)");
    expect_result_error(av, id7, sizeof(id7),
                        "unknown schema id 7 (expected 2 for ClassificationResult)");
    /* A valid header with an empty body is a truncated record. */
    expect_request_error(av, "\x00\x00\x00\x00\x01", 5, "truncated");
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_truncated_every_prefix)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();
    kc_result_t res = fixture_result();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr)), 0);
    for (size_t n = 0; n < buf.len; n++) {
        /* A heap copy of exactly n bytes, so ASan sees any over-read. */
        char *copy = malloc(n ? n : 1);
        memcpy(copy, buf.data, n);
        expect_request_error(av, copy, n, n < 5 ? "too short" : NULL);
        free(copy);
    }
    kc_buf_reset(&buf);
    ck_assert_int_eq(kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr)), 0);
    for (size_t n = 0; n < buf.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, buf.data, n);
        expect_result_error(av, copy, n, NULL);
        free(copy);
    }
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_hostile_lengths)
{
    kc_avro_t *av = codec_new();
    kc_buf_t b;

    kc_buf_init(&b);
    put_header(&b, 0, 1);
    put_long(&b, 1LL << 60); /* request_id claims an exabyte */
    kc_buf_puts(&b, "abc");
    expect_request_error(av, b.data, b.len, "length 1152921504606846976 exceeds");

    kc_buf_reset(&b);
    put_header(&b, 0, 1);
    put_long(&b, -1); /* avro-c would write before its buffer */
    kc_buf_puts(&b, "abc");
    expect_request_error(av, b.data, b.len, "negative string length -1");

    kc_buf_reset(&b);
    put_header(&b, 0, 1);
    put_long(&b, INT64_MIN);
    expect_request_error(av, b.data, b.len, "negative");

    kc_buf_reset(&b);
    put_header(&b, 0, 1);
    put_str(&b, "id");
    put_long(&b, 100); /* query claims more than the record holds */
    kc_buf_puts(&b, "short");
    expect_request_error(av, b.data, b.len, "field 'query'");
    kc_buf_free(&b);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_bad_varints)
{
    kc_avro_t *av = codec_new();
    kc_buf_t b;

    kc_buf_init(&b);
    put_header(&b, 0, 1);
    kc_buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    expect_request_error(av, b.data, b.len, "varint longer than 10 bytes");

    /* deadline_ms is an int: a 5-byte varint carrying more than 32 bits. */
    kc_buf_reset(&b);
    put_header(&b, 0, 1);
    put_str(&b, "id");
    put_str(&b, "q");
    put_long(&b, 1);
    kc_buf_append(&b, "\xff\xff\xff\xff\x7f", 5);
    expect_request_error(av, b.data, b.len, "overflows a 32-bit");
    kc_buf_free(&b);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_bad_enum_and_union)
{
    kc_avro_t *av = codec_new();
    kc_buf_t b;

    kc_buf_init(&b);
    build_request(&b, 1, 0, NULL, 0); /* sanity: the builder makes valid records */
    {
        char errstr[256] = "";
        kc_request_t req = {0};
        int rc = kc_avro_request_decode(av, b.data, b.len, &req, errstr, sizeof(errstr));
        ck_assert_msg(rc == 0, "hand-built request must decode: %s", errstr);
        ck_assert_msg(req.reply_topic == NULL && req.created_at == 42, "hand-built fields");
        kc_request_clear(&req);
    }
    kc_buf_reset(&b);
    build_request(&b, 3, 0, NULL, 0);
    expect_request_error(av, b.data, b.len, "enum index 3 out of range");
    kc_buf_reset(&b);
    build_request(&b, -1, 0, NULL, 0);
    expect_request_error(av, b.data, b.len, "enum index -1 out of range");
    kc_buf_reset(&b);
    build_request(&b, 1, 2, NULL, 0);
    expect_request_error(av, b.data, b.len, "union index 2 out of range");
    kc_buf_reset(&b);
    build_request(&b, 1, -1, NULL, 0);
    expect_request_error(av, b.data, b.len, "field 'reply_topic'");
    kc_buf_free(&b);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_bad_maps)
{
    static const uint8_t huge_count[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02, 'k', 0x02, 'v', 0};
    /* count -1 with byte size 4 ("k" -> "v" occupies 4 bytes): valid. */
    static const uint8_t sized_ok[] = {0x01, 0x08, 0x02, 'k', 0x02, 'v', 0x00};
    static const uint8_t sized_bad[] = {0x01, 0x04, 0x02, 'k', 0x02, 'v', 0x00};
    static const uint8_t neg_size[] = {0x01, 0x01, 0x02, 'k', 0x02, 'v', 0x00};
    static const uint8_t no_end[] = {0x02, 0x02, 'k', 0x02, 'v'};
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t req = {0};
    kc_buf_t b;
    int rc;

    kc_buf_init(&b);
    build_request(&b, 1, 0, huge_count, sizeof(huge_count));
    expect_request_error(av, b.data, b.len, "map block count");
    kc_buf_reset(&b);
    build_request(&b, 1, 0, sized_ok, sizeof(sized_ok));
    rc = kc_avro_request_decode(av, b.data, b.len, &req, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "a sized map block (negative count) is valid Avro: %s", errstr);
    ck_assert_msg(req.context_cnt == 1 && strcmp(req.context[0].key, "k") == 0 &&
                      strcmp(req.context[0].value, "v") == 0,
                  "sized map block content");
    kc_request_clear(&req);
    kc_buf_reset(&b);
    build_request(&b, 1, 0, sized_bad, sizeof(sized_bad));
    expect_request_error(av, b.data, b.len, "does not match");
    kc_buf_reset(&b);
    build_request(&b, 1, 0, neg_size, sizeof(neg_size));
    expect_request_error(av, b.data, b.len, "byte size -1");
    kc_buf_reset(&b);
    build_request(&b, 1, 0, no_end, sizeof(no_end));
    expect_request_error(av, b.data, b.len, "truncated");
    kc_buf_free(&b);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_trailing_bytes)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request();
    kc_result_t res = fixture_result();
    kc_buf_t buf;

    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_request_encode(av, &req, &buf, errstr, sizeof(errstr)), 0);
    kc_buf_append(&buf, "\x00\x01\x02", 3);
    expect_request_error(av, buf.data, buf.len, "3 trailing bytes after ClassificationRequest");
    kc_buf_reset(&buf);
    ck_assert_int_eq(kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr)), 0);
    kc_buf_append(&buf, "x", 1);
    expect_result_error(av, buf.data, buf.len, "1 trailing bytes after ClassificationResult");
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_result_bad_values)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_result_t res = fixture_result();
    kc_buf_t buf;
    size_t off;

    /* Locate the fields by encoding with known string lengths. */
    res.reasoning = NULL;
    res.model = NULL;
    kc_buf_init(&buf);
    ck_assert_int_eq(kc_avro_result_encode(av, &res, &buf, errstr, sizeof(errstr)), 0);
    /* header, 3 strings (1+len each), float, null reasoning */
    off = 5 + 1 + 8 + 1 + 32 + 1 + 9 + 4 + 1;
    ck_assert_msg(buf.data[off] == 0x02, "status DEGRADED expected at offset %zu", off);
    buf.data[off] = 0x06; /* status 3 */
    expect_result_error(av, buf.data, buf.len, "enum index 3 out of range");
    buf.data[off] = 0x02;
    ck_assert_msg(buf.data[off + 2] == 0x06, "source LLM expected at offset %zu", off + 2);
    buf.data[off + 2] = 0x0c; /* source 6 */
    expect_result_error(av, buf.data, buf.len, "field 'source'");
    buf.data[off + 2] = 0x06;
    ck_assert_msg(buf.data[off + 3] == 0x01, "coalesced true expected at offset %zu", off + 3);
    buf.data[off + 3] = 0x02; /* not a boolean */
    expect_result_error(av, buf.data, buf.len, "invalid boolean byte 0x02");
    kc_buf_free(&buf);
    kc_avro_destroy(av);
}
END_TEST

/* Random byte flips of valid records: decode may succeed or fail, never crash. */
START_TEST(test_random_mutations)
{
    char errstr[256];
    kc_avro_t *av = codec_new();
    kc_request_t req = fixture_request(), rout;
    kc_result_t res = fixture_result(), sout;
    kc_buf_t rbuf, sbuf;
    uint32_t seed = 12345;
    int ok = 0;

    kc_buf_init(&rbuf);
    kc_buf_init(&sbuf);
    ck_assert_int_eq(kc_avro_request_encode(av, &req, &rbuf, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(kc_avro_result_encode(av, &res, &sbuf, errstr, sizeof(errstr)), 0);
    for (int iter = 0; iter < 20000; iter++) {
        kc_buf_t *src = iter % 2 ? &sbuf : &rbuf;
        char *copy = malloc(src->len);
        memcpy(copy, src->data, src->len);
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[5 + (seed >> 8) % (src->len - 5)] = (char)(seed >> 20);
        }
        int rc = iter % 2 ? kc_avro_result_decode(av, copy, src->len, &sout, errstr, 256)
                          : kc_avro_request_decode(av, copy, src->len, &rout, errstr, 256);
        ck_assert_msg(rc == 0 || rc == KC_ERR_DECODE, "iteration %d: unexpected rc %d (%s)", iter,
                      rc, errstr);
        ok += rc == 0;
        if (iter % 2) {
            kc_result_clear(&sout);
        } else {
            kc_request_clear(&rout);
        }
        free(copy);
    }
    ck_assert_msg(ok > 0 && ok < 20000, "mutations should give a mix of outcomes (%d ok)", ok);
    kc_buf_free(&rbuf);
    kc_buf_free(&sbuf);
    kc_avro_destroy(av);
}
END_TEST

/* ------------------------------------------------------------------------
 * Interop with Python's avro (tests/data/avro/gen_fixtures.py)
 * ------------------------------------------------------------------------ */

START_TEST(test_interop_request)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_request_t want = fixture_request(), got = {0};
    kc_buf_t py, c;

    load_fixture("request_py.bin", &py);
    ck_assert_msg(kc_avro_request_decode(av, py.data, py.len, &got, errstr, sizeof(errstr)) == 0,
                  "decode Python-written request: %s", errstr);
    assert_request_eq(&got, &want);
    kc_request_clear(&got);

    kc_buf_init(&c);
    ck_assert_int_eq(kc_avro_request_encode(av, &want, &c, errstr, sizeof(errstr)), 0);
    ck_assert_msg(c.len == py.len && memcmp(c.data, py.data, c.len) == 0,
                  "C encoding (%zu bytes) must equal Python's (%zu bytes) byte for byte", c.len,
                  py.len);
    kc_buf_free(&c);
    kc_buf_free(&py);
    kc_avro_destroy(av);
}
END_TEST

START_TEST(test_interop_result)
{
    char errstr[256] = "";
    kc_avro_t *av = codec_new();
    kc_result_t want = fixture_result(), got = {0};
    kc_buf_t py, c;

    load_fixture("result_py.bin", &py);
    ck_assert_msg(kc_avro_result_decode(av, py.data, py.len, &got, errstr, sizeof(errstr)) == 0,
                  "decode Python-written result: %s", errstr);
    assert_result_eq(&got, &want);
    kc_result_clear(&got);

    kc_buf_init(&c);
    ck_assert_int_eq(kc_avro_result_encode(av, &want, &c, errstr, sizeof(errstr)), 0);
    ck_assert_msg(c.len == py.len && memcmp(c.data, py.data, c.len) == 0,
                  "C encoding (%zu bytes) must equal Python's (%zu bytes) byte for byte", c.len,
                  py.len);
    kc_buf_free(&c);
    kc_buf_free(&py);
    kc_avro_destroy(av);
}
END_TEST

/* ------------------------------------------------------------------------
 * kc_avro_check_body() on types the wire schemas do not use
 * ------------------------------------------------------------------------ */

static const char generic_schema[] =
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"double\"}},"
    "{\"name\":\"b\",\"type\":\"bytes\"},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
    "{\"name\":\"n\",\"type\":{\"type\":\"record\",\"name\":\"N\",\"fields\":["
    "{\"name\":\"x\",\"type\":\"boolean\"}]}},"
    "{\"name\":\"z\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}";

static int check_generic(const void *body, size_t len, char *errstr, size_t errstr_size)
{
    avro_schema_t schema;
    int rc;

    ck_assert_msg(avro_schema_from_json_length(generic_schema, strlen(generic_schema), &schema) ==
                      0,
                  "test schema: %s", avro_strerror());
    rc = kc_avro_check_body(schema, "T", body, len, errstr, errstr_size);
    avro_schema_decref(schema);
    return rc;
}

START_TEST(test_check_generic_types)
{
    /* a: [1.0, 2.0] as one sized block; b: "xy"; f: 3 bytes; n.x: true; z: [null] */
    static const uint8_t ok[] = {0x03, 0x20, 0,   0,   0,   0,    0,    0,    0xf0, 0x3f,
                                 0,    0,    0,   0,   0,   0,    0,    0x40, 0x00, 0x04,
                                 'x',  'y',  'A', 'B', 'C', 0x01, 0x02, 0x00};
    uint8_t bad[sizeof(ok)];
    char errstr[256] = "";
    int rc;

    rc = check_generic(ok, sizeof(ok), errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "valid generic body rejected: %s", errstr);
    for (size_t n = 0; n < sizeof(ok); n++) {
        ck_assert_msg(check_generic(ok, n, errstr, sizeof(errstr)) == KC_ERR_DECODE,
                      "prefix of %zu bytes must be rejected", n);
    }
    memcpy(bad, ok, sizeof(ok));
    bad[1] = 0x1e; /* block byte size 15 instead of 16 */
    rc = check_generic(bad, sizeof(bad), errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE && strstr(errstr, "array block byte size 15"),
                  "block size mismatch: %d %s", rc, errstr);
    memcpy(bad, ok, sizeof(ok));
    bad[25] = 0x05; /* n.x */
    rc = check_generic(bad, sizeof(bad), errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE && strstr(errstr, "field 'x'") &&
                      strstr(errstr, "invalid boolean byte 0x05"),
                  "nested boolean: %d %s", rc, errstr);
    memcpy(bad, ok, sizeof(ok));
    bad[26] = 0xc8; /* z: 100 nulls in 1 remaining byte */
    bad[27] = 0x01;
    rc = check_generic(bad, sizeof(bad), errstr, sizeof(errstr));
    ck_assert_msg(rc == KC_ERR_DECODE && strstr(errstr, "array block count 100"),
                  "zero-size items are bounded by the remaining bytes: %d %s", rc, errstr);
}
END_TEST

static Suite *avro_suite(void)
{
    Suite *s = suite_create("avro");
    TCase *tc;

    tc = tcase_create("codec");
    tcase_add_test(tc, test_new_destroy);
    tcase_add_test(tc, test_embedded_schemas_parse);
    tcase_add_test(tc, test_schema_ids_configurable);
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_add_test(tc, test_request_roundtrip_full);
    tcase_add_test(tc, test_request_exact_bytes);
    tcase_add_test(tc, test_request_nulls_and_empty_map);
    tcase_add_test(tc, test_request_every_enum_value);
    tcase_add_test(tc, test_request_map_reuse);
    tcase_add_test(tc, test_request_query_strlen_default);
    tcase_add_test(tc, test_request_encode_rejects_bad_enum);
    tcase_add_test(tc, test_encode_appends);
    suite_add_tcase(s, tc);

    tc = tcase_create("result");
    tcase_add_test(tc, test_result_roundtrip_full);
    tcase_add_test(tc, test_result_nulls_vs_strings);
    tcase_add_test(tc, test_result_null_required_strings);
    tcase_add_test(tc, test_result_every_enum_value);
    tcase_add_test(tc, test_result_extremes);
    tcase_add_test(tc, test_result_encode_rejects_bad_enum);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_bad_framing);
    tcase_add_test(tc, test_truncated_every_prefix);
    tcase_add_test(tc, test_hostile_lengths);
    tcase_add_test(tc, test_bad_varints);
    tcase_add_test(tc, test_bad_enum_and_union);
    tcase_add_test(tc, test_bad_maps);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_result_bad_values);
    tcase_add_test(tc, test_random_mutations);
    suite_add_tcase(s, tc);

    tc = tcase_create("body_check");
    tcase_add_test(tc, test_check_generic_types);
    suite_add_tcase(s, tc);

    tc = tcase_create("interop");
    tcase_add_test(tc, test_interop_request);
    tcase_add_test(tc, test_interop_result);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(avro_suite());
}
