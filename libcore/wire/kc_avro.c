/*
 * Avro codec for ClassificationRequest / ClassificationResult in the
 * Schema Registry framing, built on avro-c generic values (one reusable
 * value per record type, one memory reader and writer per codec).
 *
 * Decoding is two passes over the body: kc_avro_check_body() walks the bytes
 * against the schema first, because avro-c trusts length prefixes and enum
 * indexes. Only a body it accepted, byte for byte, reaches avro_value_read().
 */
#include "kc_avro.h"
#include "kc_avro_check.h"
#include "kc_err.h"

#include <avro.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KC_AVRO_HDR_LEN 5

/* ------------------------------------------------------------------------
 * Field layout: the C code addresses fields by index, so kc_avro_new()
 * checks that the compiled-in schemas have exactly this shape.
 * ------------------------------------------------------------------------ */

enum {
    REQ_REQUEST_ID,
    REQ_QUERY,
    REQ_PRIORITY,
    REQ_DEADLINE_MS,
    REQ_CREATED_AT,
    REQ_REPLY_TOPIC,
    REQ_CACHE_POLICY,
    REQ_CONTEXT,
    REQ__CNT
};

enum {
    RES_REQUEST_ID,
    RES_QUERY_HASH,
    RES_CATEGORY,
    RES_CONFIDENCE,
    RES_REASONING,
    RES_STATUS,
    RES_ERROR,
    RES_SOURCE,
    RES_COALESCED,
    RES_MODEL,
    RES_BATCH_SIZE,
    RES_WORKER_ID,
    RES_CREATED_AT,
    RES_CONSUMED_AT,
    RES_REPLIED_AT,
    RES_QUEUE_US,
    RES_CACHE_US,
    RES_LLM_US,
    RES_TOTAL_US,
    RES_DEADLINE_MET,
    RES__CNT
};

/* Which C enum an Avro enum field mirrors, so symbol names can be compared. */
typedef enum { SYM_NONE, SYM_PRIORITY, SYM_POLICY, SYM_STATUS, SYM_SOURCE } kc_avro_sym_t;

typedef struct kc_avro_field_s {
    const char *name;
    avro_type_t type; /* AVRO_UNION means ["null", "string"] */
    kc_avro_sym_t sym;
} kc_avro_field_t;

static const kc_avro_field_t req_layout[REQ__CNT] = {
    {"request_id", AVRO_STRING, SYM_NONE},   {"query", AVRO_STRING, SYM_NONE},
    {"priority", AVRO_ENUM, SYM_PRIORITY},   {"deadline_ms", AVRO_INT32, SYM_NONE},
    {"created_at", AVRO_INT64, SYM_NONE},    {"reply_topic", AVRO_UNION, SYM_NONE},
    {"cache_policy", AVRO_ENUM, SYM_POLICY}, {"context", AVRO_MAP, SYM_NONE},
};

static const kc_avro_field_t res_layout[RES__CNT] = {
    {"request_id", AVRO_STRING, SYM_NONE}, {"query_hash", AVRO_STRING, SYM_NONE},
    {"category", AVRO_STRING, SYM_NONE},   {"confidence", AVRO_FLOAT, SYM_NONE},
    {"reasoning", AVRO_UNION, SYM_NONE},   {"status", AVRO_ENUM, SYM_STATUS},
    {"error", AVRO_UNION, SYM_NONE},       {"source", AVRO_ENUM, SYM_SOURCE},
    {"coalesced", AVRO_BOOLEAN, SYM_NONE}, {"model", AVRO_UNION, SYM_NONE},
    {"batch_size", AVRO_INT32, SYM_NONE},  {"worker_id", AVRO_STRING, SYM_NONE},
    {"created_at", AVRO_INT64, SYM_NONE},  {"consumed_at", AVRO_INT64, SYM_NONE},
    {"replied_at", AVRO_INT64, SYM_NONE},  {"queue_us", AVRO_INT64, SYM_NONE},
    {"cache_us", AVRO_INT64, SYM_NONE},    {"llm_us", AVRO_INT64, SYM_NONE},
    {"total_us", AVRO_INT64, SYM_NONE},    {"deadline_met", AVRO_BOOLEAN, SYM_NONE},
};

/* One record type: its schema, framing id and a reusable generic value. */
typedef struct kc_avro_rec_s {
    const char *name;
    int32_t id;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    bool has_value;
} kc_avro_rec_t;

struct kc_avro_s {
    kc_avro_rec_t req;
    kc_avro_rec_t res;
    avro_reader_t reader;
    avro_writer_t writer;
};

/* ------------------------------------------------------------------------
 * Framing and the avro-c read/write around the reusable generic values.
 * ------------------------------------------------------------------------ */

static int frame_check(const kc_avro_rec_t *rec, const uint8_t *p, size_t len, char *errstr,
                       size_t errstr_size)
{
    if (len < KC_AVRO_HDR_LEN) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "record too short (%zu bytes) for the 5-byte schema-registry header", len);
    }
    if (p[0] != 0x00) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "unknown magic byte 0x%02x (expected 0x00)", p[0]);
    }
    int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                           (uint32_t)p[4]);
    if (id != rec->id) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "unknown schema id %" PRId32 " (expected %" PRId32 " for %s)", id, rec->id,
                         rec->name);
    }
    return 0;
}

/* Frame check, validation, then avro_value_read() into rec->value. */
static int rec_read(kc_avro_t *av, kc_avro_rec_t *rec, const void *data, size_t len, char *errstr,
                    size_t errstr_size)
{
    const uint8_t *p = data;
    int rc;

    if (!p && len > 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "NULL data with length %zu", len);
    }
    if ((rc = frame_check(rec, p, len, errstr, errstr_size)) != 0) {
        return rc;
    }
    rc = kc_avro_check_body(rec->schema, rec->name, p + KC_AVRO_HDR_LEN, len - KC_AVRO_HDR_LEN,
                            errstr, errstr_size);
    if (rc != 0) {
        return rc;
    }
    avro_reader_memory_set_source(av->reader, (const char *)p + KC_AVRO_HDR_LEN,
                                  (int64_t)(len - KC_AVRO_HDR_LEN));
    if (avro_value_read(av->reader, &rec->value) != 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "avro-c cannot read %s: %s", rec->name,
                         avro_strerror());
    }
    return 0;
}

/* Append header + the Avro body of rec->value to out. */
static int rec_write(kc_avro_t *av, kc_avro_rec_t *rec, kc_buf_t *out, char *errstr,
                     size_t errstr_size)
{
    size_t size;
    uint8_t *p;

    if (avro_value_sizeof(&rec->value, &size) != 0) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot size %s: %s", rec->name,
                         avro_strerror());
    }
    if (kc_buf_reserve(out, KC_AVRO_HDR_LEN + size) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "no memory for a %zu-byte %s",
                         KC_AVRO_HDR_LEN + size, rec->name);
    }
    p = (uint8_t *)out->data + out->len;
    p[0] = 0x00;
    p[1] = (uint8_t)((uint32_t)rec->id >> 24);
    p[2] = (uint8_t)((uint32_t)rec->id >> 16);
    p[3] = (uint8_t)((uint32_t)rec->id >> 8);
    p[4] = (uint8_t)(uint32_t)rec->id;
    avro_writer_memory_set_dest(av->writer, (const char *)p + KC_AVRO_HDR_LEN, (int64_t)size);
    if (avro_value_write(av->writer, &rec->value) != 0) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot write %s: %s", rec->name,
                         avro_strerror());
    }
    out->len += KC_AVRO_HDR_LEN + size;
    out->data[out->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------
 * Setters (C struct -> generic value). They return avro-c error codes.
 * ------------------------------------------------------------------------ */

/*
 * Strings are lent to avro-c without a copy: the wrapped buffer has no free
 * function and is only read by the sizeof/write that follows. The size
 * avro-c expects includes a terminating NUL it never reads.
 */
static int put_strn(avro_value_t *v, const char *s, size_t len)
{
    avro_wrapped_buffer_t wb;

    if (!s) {
        s = "";
        len = 0;
    }
    avro_wrapped_buffer_new(&wb, s, len + 1);
    return avro_value_give_string_len(v, &wb);
}

static int put_field_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || put_strn(&f, s, s ? strlen(s) : 0);
}

static int put_field_opt_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f, branch;

    if (avro_value_get_by_index(rec, idx, &f, NULL) ||
        avro_value_set_branch(&f, s ? 1 : 0, &branch)) {
        return EINVAL;
    }
    return s ? put_strn(&branch, s, strlen(s)) : avro_value_set_null(&branch);
}

static int put_field_enum(avro_value_t *rec, int idx, int val)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_set_enum(&f, val);
}

static int put_field_int(avro_value_t *rec, int idx, int32_t val)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_set_int(&f, val);
}

static int put_field_long(avro_value_t *rec, int idx, int64_t val)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_set_long(&f, val);
}

static int put_field_bool(avro_value_t *rec, int idx, bool val)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_set_boolean(&f, val);
}

static int put_field_float(avro_value_t *rec, int idx, float val)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_set_float(&f, val);
}

static int put_field_query(avro_value_t *rec, const kc_request_t *req)
{
    avro_value_t f;
    /* query_len 0 with a non-empty C string is a caller that set only the
     * string; an empty query needs no length either way. */
    size_t len = req->query && req->query_len == 0 ? strlen(req->query) : req->query_len;

    return avro_value_get_by_index(rec, REQ_QUERY, &f, NULL) || put_strn(&f, req->query, len);
}

static int put_field_context(avro_value_t *rec, const kc_request_t *req)
{
    avro_value_t map, elem;

    if (avro_value_get_by_index(rec, REQ_CONTEXT, &map, NULL)) {
        return EINVAL;
    }
    for (size_t i = 0; i < req->context_cnt; i++) {
        const kc_kv_t *kv = &req->context[i];
        if (avro_value_add(&map, kv->key ? kv->key : "", &elem, NULL, NULL) ||
            put_strn(&elem, kv->value, kv->value ? strlen(kv->value) : 0)) {
            return EINVAL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Getters (generic value -> C struct). Strings are copied into malloc()ed
 * NUL-terminated buffers the caller frees through kc_*_clear().
 * ------------------------------------------------------------------------ */

static int get_strn(avro_value_t *v, char **out, size_t *lenp)
{
    const char *s;
    size_t size;

    if (avro_value_get_string(v, &s, &size) != 0) {
        return KC_ERR_DECODE;
    }
    /* avro-c counts the terminating NUL in size. */
    size_t len = size > 0 ? size - 1 : 0;
    if (!(*out = malloc(len + 1))) {
        return KC_ERR_NOMEM;
    }
    if (len > 0) {
        memcpy(*out, s, len);
    }
    (*out)[len] = '\0';
    if (lenp) {
        *lenp = len;
    }
    return 0;
}

static int get_field_str(avro_value_t *rec, int idx, char **out)
{
    avro_value_t f;

    if (avro_value_get_by_index(rec, idx, &f, NULL) != 0) {
        return KC_ERR_DECODE;
    }
    return get_strn(&f, out, NULL);
}

static int get_field_opt_str(avro_value_t *rec, int idx, char **out)
{
    avro_value_t f, branch;
    int disc;

    if (avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_discriminant(&f, &disc) ||
        avro_value_get_current_branch(&f, &branch)) {
        return KC_ERR_DECODE;
    }
    *out = NULL;
    return disc == 0 ? 0 : get_strn(&branch, out, NULL);
}

static int get_field_enum(avro_value_t *rec, int idx, int *out)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_enum(&f, out)
               ? KC_ERR_DECODE
               : 0;
}

static int get_field_int(avro_value_t *rec, int idx, int32_t *out)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_int(&f, out)
               ? KC_ERR_DECODE
               : 0;
}

static int get_field_long(avro_value_t *rec, int idx, int64_t *out)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_long(&f, out)
               ? KC_ERR_DECODE
               : 0;
}

static int get_field_bool(avro_value_t *rec, int idx, bool *out)
{
    avro_value_t f;
    int b;

    if (avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_boolean(&f, &b)) {
        return KC_ERR_DECODE;
    }
    *out = b != 0;
    return 0;
}

static int get_field_float(avro_value_t *rec, int idx, float *out)
{
    avro_value_t f;

    return avro_value_get_by_index(rec, idx, &f, NULL) || avro_value_get_float(&f, out)
               ? KC_ERR_DECODE
               : 0;
}

static int get_field_context(avro_value_t *rec, kc_request_t *req)
{
    avro_value_t map, elem;
    size_t cnt;
    int rc;

    if (avro_value_get_by_index(rec, REQ_CONTEXT, &map, NULL) || avro_value_get_size(&map, &cnt)) {
        return KC_ERR_DECODE;
    }
    if (cnt == 0) {
        return 0;
    }
    if (!(req->context = calloc(cnt, sizeof(*req->context)))) {
        return KC_ERR_NOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        const char *key;
        if (avro_value_get_by_index(&map, i, &elem, &key) != 0) {
            return KC_ERR_DECODE;
        }
        if (!(req->context[i].key = strdup(key))) {
            return KC_ERR_NOMEM;
        }
        req->context_cnt = i + 1; /* so kc_request_clear() frees a partial entry */
        if ((rc = get_strn(&elem, &req->context[i].value, NULL)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

int kc_avro_request_encode(kc_avro_t *av, const kc_request_t *req, kc_buf_t *out, char *errstr,
                           size_t errstr_size)
{
    avro_value_t *v;

    if (!av || !req || !out || (req->context_cnt > 0 && !req->context)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "invalid arguments to %s", __func__);
    }
    if ((unsigned)req->priority > KC_PRIO_HIGH) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "priority %d is not a Priority",
                         (int)req->priority);
    }
    if ((unsigned)req->cache_policy > KC_CACHE_BYPASS) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cache_policy %d is not a CachePolicy",
                         (int)req->cache_policy);
    }
    v = &av->req.value;
    /* Reset empties the context map left over from the previous record. */
    if (avro_value_reset(v) || put_field_str(v, REQ_REQUEST_ID, req->request_id) ||
        put_field_query(v, req) || put_field_enum(v, REQ_PRIORITY, (int)req->priority) ||
        put_field_int(v, REQ_DEADLINE_MS, req->deadline_ms) ||
        put_field_long(v, REQ_CREATED_AT, req->created_at) ||
        put_field_opt_str(v, REQ_REPLY_TOPIC, req->reply_topic) ||
        put_field_enum(v, REQ_CACHE_POLICY, (int)req->cache_policy) || put_field_context(v, req)) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot fill %s: %s", av->req.name,
                         avro_strerror());
    }
    return rec_write(av, &av->req, out, errstr, errstr_size);
}

static int req_extract(avro_value_t *v, kc_request_t *req)
{
    int prio = 0, policy = 0;
    int rc;

    if ((rc = get_field_str(v, REQ_REQUEST_ID, &req->request_id)) ||
        (rc = get_field_enum(v, REQ_PRIORITY, &prio)) ||
        (rc = get_field_int(v, REQ_DEADLINE_MS, &req->deadline_ms)) ||
        (rc = get_field_long(v, REQ_CREATED_AT, &req->created_at)) ||
        (rc = get_field_opt_str(v, REQ_REPLY_TOPIC, &req->reply_topic)) ||
        (rc = get_field_enum(v, REQ_CACHE_POLICY, &policy)) || (rc = get_field_context(v, req))) {
        return rc;
    }
    avro_value_t f;
    if (avro_value_get_by_index(v, REQ_QUERY, &f, NULL) != 0) {
        return KC_ERR_DECODE;
    }
    req->priority = (kc_priority_t)prio;
    req->cache_policy = (kc_cache_policy_t)policy;
    return get_strn(&f, &req->query, &req->query_len);
}

int kc_avro_request_decode(kc_avro_t *av, const void *data, size_t len, kc_request_t *req,
                           char *errstr, size_t errstr_size)
{
    int rc;

    if (!av || !req) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "invalid arguments to %s", __func__);
    }
    memset(req, 0, sizeof(*req));
    if ((rc = rec_read(av, &av->req, data, len, errstr, errstr_size)) != 0) {
        return rc;
    }
    if ((rc = req_extract(&av->req.value, req)) != 0) {
        kc_request_clear(req);
        return kc_seterr(rc, errstr, errstr_size, "cannot extract %s: %s", av->req.name,
                         rc == KC_ERR_NOMEM ? "out of memory" : avro_strerror());
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

static int res_fill(avro_value_t *v, const kc_result_t *res)
{
    return put_field_str(v, RES_REQUEST_ID, res->request_id) ||
           put_field_str(v, RES_QUERY_HASH, res->query_hash) ||
           put_field_str(v, RES_CATEGORY, res->category) ||
           put_field_float(v, RES_CONFIDENCE, res->confidence) ||
           put_field_opt_str(v, RES_REASONING, res->reasoning) ||
           put_field_enum(v, RES_STATUS, (int)res->status) ||
           put_field_opt_str(v, RES_ERROR, res->error) ||
           put_field_enum(v, RES_SOURCE, (int)res->source) ||
           put_field_bool(v, RES_COALESCED, res->coalesced) ||
           put_field_opt_str(v, RES_MODEL, res->model) ||
           put_field_int(v, RES_BATCH_SIZE, res->batch_size) ||
           put_field_str(v, RES_WORKER_ID, res->worker_id) ||
           put_field_long(v, RES_CREATED_AT, res->created_at) ||
           put_field_long(v, RES_CONSUMED_AT, res->consumed_at) ||
           put_field_long(v, RES_REPLIED_AT, res->replied_at) ||
           put_field_long(v, RES_QUEUE_US, res->queue_us) ||
           put_field_long(v, RES_CACHE_US, res->cache_us) ||
           put_field_long(v, RES_LLM_US, res->llm_us) ||
           put_field_long(v, RES_TOTAL_US, res->total_us) ||
           put_field_bool(v, RES_DEADLINE_MET, res->deadline_met);
}

int kc_avro_result_encode(kc_avro_t *av, const kc_result_t *res, kc_buf_t *out, char *errstr,
                          size_t errstr_size)
{
    if (!av || !res || !out) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "invalid arguments to %s", __func__);
    }
    if ((unsigned)res->status > KC_STATUS_ERROR) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "status %d is not a Status",
                         (int)res->status);
    }
    if ((unsigned)res->source > KC_SRC_NONE) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "source %d is not a Source",
                         (int)res->source);
    }
    if (res_fill(&av->res.value, res) != 0) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot fill %s: %s", av->res.name,
                         avro_strerror());
    }
    return rec_write(av, &av->res, out, errstr, errstr_size);
}

static int res_extract_strings(avro_value_t *v, kc_result_t *res)
{
    int rc;

    if ((rc = get_field_str(v, RES_REQUEST_ID, &res->request_id)) ||
        (rc = get_field_str(v, RES_QUERY_HASH, &res->query_hash)) ||
        (rc = get_field_str(v, RES_CATEGORY, &res->category)) ||
        (rc = get_field_opt_str(v, RES_REASONING, &res->reasoning)) ||
        (rc = get_field_opt_str(v, RES_ERROR, &res->error)) ||
        (rc = get_field_opt_str(v, RES_MODEL, &res->model)) ||
        (rc = get_field_str(v, RES_WORKER_ID, &res->worker_id))) {
        return rc;
    }
    return 0;
}

static int res_extract(avro_value_t *v, kc_result_t *res)
{
    int status = 0, source = 0;
    int rc;

    if ((rc = res_extract_strings(v, res)) || (rc = get_field_enum(v, RES_STATUS, &status)) ||
        (rc = get_field_enum(v, RES_SOURCE, &source)) ||
        (rc = get_field_float(v, RES_CONFIDENCE, &res->confidence)) ||
        (rc = get_field_bool(v, RES_COALESCED, &res->coalesced)) ||
        (rc = get_field_int(v, RES_BATCH_SIZE, &res->batch_size)) ||
        (rc = get_field_long(v, RES_CREATED_AT, &res->created_at)) ||
        (rc = get_field_long(v, RES_CONSUMED_AT, &res->consumed_at)) ||
        (rc = get_field_long(v, RES_REPLIED_AT, &res->replied_at)) ||
        (rc = get_field_long(v, RES_QUEUE_US, &res->queue_us)) ||
        (rc = get_field_long(v, RES_CACHE_US, &res->cache_us)) ||
        (rc = get_field_long(v, RES_LLM_US, &res->llm_us)) ||
        (rc = get_field_long(v, RES_TOTAL_US, &res->total_us)) ||
        (rc = get_field_bool(v, RES_DEADLINE_MET, &res->deadline_met))) {
        return rc;
    }
    res->status = (kc_status_t)status;
    res->source = (kc_source_t)source;
    return 0;
}

int kc_avro_result_decode(kc_avro_t *av, const void *data, size_t len, kc_result_t *res,
                          char *errstr, size_t errstr_size)
{
    int rc;

    if (!av || !res) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "invalid arguments to %s", __func__);
    }
    memset(res, 0, sizeof(*res));
    if ((rc = rec_read(av, &av->res, data, len, errstr, errstr_size)) != 0) {
        return rc;
    }
    if ((rc = res_extract(&av->res.value, res)) != 0) {
        kc_result_clear(res);
        return kc_seterr(rc, errstr, errstr_size, "cannot extract %s: %s", av->res.name,
                         rc == KC_ERR_NOMEM ? "out of memory" : avro_strerror());
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Codec lifecycle and schema checks
 * ------------------------------------------------------------------------ */

static const char *sym_name(kc_avro_sym_t sym, int i)
{
    switch (sym) {
    case SYM_PRIORITY:
        return kc_priority_name((kc_priority_t)i);
    case SYM_POLICY:
        return kc_cache_policy_name((kc_cache_policy_t)i);
    case SYM_STATUS:
        return kc_status_name((kc_status_t)i);
    case SYM_SOURCE:
        return kc_source_name((kc_source_t)i);
    default:
        return "?";
    }
}

/* Does an enum's symbol list equal the C enum's names, in order? */
static bool enum_matches(avro_schema_t schema, kc_avro_sym_t sym)
{
    int cnt = avro_schema_enum_number_of_symbols(schema);

    for (int i = 0; i < cnt; i++) {
        if (strcmp(avro_schema_enum_get(schema, i), sym_name(sym, i)) != 0) {
            return false;
        }
    }
    return strcmp(sym_name(sym, cnt), "?") == 0;
}

static bool field_matches(avro_schema_t fs, const kc_avro_field_t *want)
{
    avro_type_t type = avro_typeof(fs);

    if (type != want->type) {
        return false;
    }
    switch (type) {
    case AVRO_UNION:
        return avro_schema_union_size(fs) == 2 && is_avro_null(avro_schema_union_branch(fs, 0)) &&
               is_avro_string(avro_schema_union_branch(fs, 1));
    case AVRO_ENUM:
        return enum_matches(fs, want->sym);
    case AVRO_MAP:
        return is_avro_string(avro_schema_map_values(fs));
    default:
        return true;
    }
}

/* The C code addresses fields by index: insist the schema has our layout. */
static int layout_check(avro_schema_t schema, const char *name, const kc_avro_field_t *layout,
                        size_t cnt, char *errstr, size_t errstr_size)
{
    if (!is_avro_record(schema) || avro_schema_record_size(schema) != cnt) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "schema %s is not a record of %zu fields", name, cnt);
    }
    for (size_t i = 0; i < cnt; i++) {
        const char *fname = avro_schema_record_field_name(schema, (int)i);
        avro_schema_t fs = avro_schema_record_field_get_by_index(schema, (int)i);
        if (!fname || strcmp(fname, layout[i].name) != 0 || !field_matches(fs, &layout[i])) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "schema %s field %zu ('%s') does not match the C layout ('%s')", name,
                             i, fname ? fname : "?", layout[i].name);
        }
    }
    return 0;
}

static int rec_init(kc_avro_rec_t *rec, const char *name, int32_t id, const char *json,
                    const kc_avro_field_t *layout, size_t cnt, char *errstr, size_t errstr_size)
{
    int rc;

    rec->name = name;
    rec->id = id;
    if (avro_schema_from_json_length(json, strlen(json), &rec->schema) != 0) {
        rec->schema = NULL;
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "cannot parse schema %s: %s", name,
                         avro_strerror());
    }
    if ((rc = layout_check(rec->schema, name, layout, cnt, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (!(rec->iface = avro_generic_class_from_schema(rec->schema)) ||
        avro_generic_value_new(rec->iface, &rec->value) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create %s value: %s", name,
                         avro_strerror());
    }
    rec->has_value = true;
    return 0;
}

static void rec_done(kc_avro_rec_t *rec)
{
    if (rec->has_value) {
        avro_value_decref(&rec->value);
    }
    if (rec->iface) {
        avro_value_iface_decref(rec->iface);
    }
    if (rec->schema) {
        avro_schema_decref(rec->schema);
    }
}

kc_avro_t *kc_avro_new(int32_t request_id, int32_t result_id, char *errstr, size_t errstr_size)
{
    /* The memory reader and writer are re-pointed on each call. */
    static const char empty[1];
    kc_avro_t *av = calloc(1, sizeof(*av));

    if (!av) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot allocate the Avro codec");
        return NULL;
    }
    if (rec_init(&av->req, "ClassificationRequest", request_id, kc_avro_schema_request_json,
                 req_layout, REQ__CNT, errstr, errstr_size) != 0 ||
        rec_init(&av->res, "ClassificationResult", result_id, kc_avro_schema_result_json,
                 res_layout, RES__CNT, errstr, errstr_size) != 0) {
        kc_avro_destroy(av);
        return NULL;
    }
    av->reader = avro_reader_memory(empty, 0);
    av->writer = avro_writer_memory(empty, 0);
    if (!av->reader || !av->writer) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create avro-c memory I/O");
        kc_avro_destroy(av);
        return NULL;
    }
    return av;
}

void kc_avro_destroy(kc_avro_t *av)
{
    if (!av) {
        return;
    }
    if (av->reader) {
        avro_reader_free(av->reader);
    }
    if (av->writer) {
        avro_writer_free(av->writer);
    }
    rec_done(&av->req);
    rec_done(&av->res);
    free(av);
}
