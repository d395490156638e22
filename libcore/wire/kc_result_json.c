#include "kc_result_json.h"
#include "kc_err.h"
#include "kc_normalize.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kc_result_json_sanitize(const char *buf, size_t len, kc_buf_t *out)
{
    size_t i = 0;

    while (i < len) {
        size_t n = kc_utf8_seq_len(buf + i, len - i);
        int err = n ? kc_buf_append(out, buf + i, n) : kc_buf_append(out, "\xEF\xBF\xBD", 3);
        if (err) {
            return err;
        }
        i += n ? n : 1;
    }
    return kc_buf_reserve(out, 1); /* keeps out->data non-NULL and terminated for len 0 */
}

/* A JSON string for possibly invalid, NUL-containing bytes; NULL only on ENOMEM. */
static json_t *json_bytes(const char *s, size_t len)
{
    kc_buf_t clean;
    json_t *j;

    if (kc_utf8_valid(s, len)) {
        return json_stringn_nocheck(s, len);
    }
    kc_buf_init(&clean);
    if (kc_result_json_sanitize(s, len, &clean) != 0) {
        kc_buf_free(&clean);
        return NULL;
    }
    j = json_stringn_nocheck(clean.data, clean.len);
    kc_buf_free(&clean);
    return j;
}

static json_t *json_str_or_null(const char *s)
{
    return s ? json_bytes(s, strlen(s)) : json_null();
}

int kc_float_digits(float f)
{
    char tmp[32];

    for (int p = 1; p < 9; p++) {
        snprintf(tmp, sizeof(tmp), "%.*g", p, (double)f);
        if (strtof(tmp, NULL) == f) {
            return p;
        }
    }
    return 9;
}

static json_t *json_confidence(float f)
{
    return isfinite(f) ? json_real((double)f) : json_null();
}

/* json_object_set_new() steals v even on failure; a NULL v means ENOMEM upstream. */
static int put(json_t *obj, const char *key, json_t *v)
{
    if (!v) {
        return KC_ERR_NOMEM;
    }
    return json_object_set_new(obj, key, v) == 0 ? 0 : KC_ERR_NOMEM;
}

static int put_ids(json_t *o, const kc_result_t *res, const char *query, size_t query_len)
{
    int err = 0;

    err = err ? err : put(o, "request_id", json_str_or_null(res->request_id));
    err = err ? err : put(o, "query", query ? json_bytes(query, query_len) : json_null());
    err = err ? err : put(o, "query_hash", json_str_or_null(res->query_hash));
    err = err ? err : put(o, "category", json_str_or_null(res->category));
    err = err ? err : put(o, "confidence", json_confidence(res->confidence));
    err = err ? err : put(o, "reasoning", json_str_or_null(res->reasoning));
    err = err ? err : put(o, "status", json_string(kc_status_name(res->status)));
    err = err ? err : put(o, "error", json_str_or_null(res->error));
    err = err ? err : put(o, "source", json_string(kc_source_name(res->source)));
    err = err ? err : put(o, "coalesced", json_boolean(res->coalesced));
    err = err ? err : put(o, "model", json_str_or_null(res->model));
    err = err ? err : put(o, "batch_size", json_integer(res->batch_size));
    err = err ? err : put(o, "worker_id", json_str_or_null(res->worker_id));
    return err;
}

static int put_times(json_t *o, const kc_result_t *res)
{
    int err = 0;

    err = err ? err : put(o, "created_at", json_integer(res->created_at));
    err = err ? err : put(o, "consumed_at", json_integer(res->consumed_at));
    err = err ? err : put(o, "replied_at", json_integer(res->replied_at));
    err = err ? err : put(o, "queue_us", json_integer(res->queue_us));
    err = err ? err : put(o, "cache_us", json_integer(res->cache_us));
    err = err ? err : put(o, "llm_us", json_integer(res->llm_us));
    err = err ? err : put(o, "total_us", json_integer(res->total_us));
    err = err ? err : put(o, "deadline_met", json_boolean(res->deadline_met));
    return err;
}

int kc_result_json_write(const kc_result_t *res, const char *query, size_t query_len, kc_buf_t *out,
                         char *errstr, size_t errstr_size)
{
    json_t *o = json_object();
    int err;

    if (!o) {
        return KC_ERR_NOMEM;
    }
    err = put_ids(o, res, query, query_len);
    err = err ? err : put_times(o, res);
    if (err) {
        json_decref(o);
        return kc_seterr(err, errstr, errstr_size, "building result JSON: out of memory");
    }
    return kc_json_append(out, o, res->confidence, errstr, errstr_size);
}

int kc_json_append(kc_buf_t *out, json_t *o, float confidence, char *errstr, size_t errstr_size)
{
    /* confidence is the only real, so its precision can be the dump's. */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                   JSON_REAL_PRECISION(kc_float_digits(confidence)));
    int err;

    json_decref(o);
    if (!text) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "json_dumps failed");
    }
    err = kc_buf_puts(out, text);
    free(text);
    return err ? kc_seterr(err, errstr, errstr_size, "out of memory") : 0;
}
