/*
 * SlaAlert Avro codec (avro-c generic value, Schema Registry framing) and the
 * one-line log form of an alert.
 */
#include "kc_alert.h"
#include "kc_avro.h"
#include "kc_avro_check.h"
#include "kc_err.h"

#include <avro.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN 5

/* Field order of schemas/SlaAlert.avsc; kc_alert_codec_new() checks it. */
enum {
    F_ALERT_ID,
    F_RULE,
    F_STATE,
    F_WINDOW_S,
    F_OBSERVED,
    F_THRESHOLD,
    F_AT,
    F_SUMMARY,
    F_P50,
    F_P95,
    F_P99,
    F_MAX,
    F_COUNT,
    F__CNT
};

static const struct {
    const char *name;
    avro_type_t type;
} layout[F__CNT] = {
    {"alert_id", AVRO_STRING}, {"rule", AVRO_STRING},     {"state", AVRO_ENUM},
    {"window_s", AVRO_INT32},  {"observed", AVRO_DOUBLE}, {"threshold", AVRO_DOUBLE},
    {"at", AVRO_INT64},        {"summary", AVRO_STRING},  {"p50_us", AVRO_INT64},
    {"p95_us", AVRO_INT64},    {"p99_us", AVRO_INT64},    {"max_us", AVRO_INT64},
    {"count", AVRO_INT64},
};

struct kc_alert_codec_s {
    int32_t id;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    int has_value;
    avro_reader_t reader;
    avro_writer_t writer;
};

const char *kc_alert_state_name(kc_alert_state_t s)
{
    return s == KC_ALERT_FIRING ? "FIRING" : s == KC_ALERT_RESOLVED ? "RESOLVED" : "?";
}

/* ------------------------------------------------------------------------
 * Codec lifecycle
 * ------------------------------------------------------------------------ */

static int layout_check(avro_schema_t schema, char *errstr, size_t errstr_size)
{
    if (!is_avro_record(schema) || avro_schema_record_size(schema) != F__CNT) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "SlaAlert schema: expected a record of %d fields", F__CNT);
    }
    for (int i = 0; i < F__CNT; i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(schema, i);
        const char *name = avro_schema_record_field_name(schema, i);
        if (strcmp(name, layout[i].name) != 0 || avro_typeof(f) != layout[i].type) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "SlaAlert schema: field %d is '%s', expected '%s' of another type", i,
                             name, layout[i].name);
        }
    }
    return 0;
}

kc_alert_codec_t *kc_alert_codec_new(int32_t schema_id, char *errstr, size_t errstr_size)
{
    static const char empty[1];
    const char *json = kc_avro_schema_alert_json;
    kc_alert_codec_t *ac = calloc(1, sizeof(*ac));

    if (!ac) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot allocate the alert codec");
        return NULL;
    }
    ac->id = schema_id;
    if (avro_schema_from_json_length(json, strlen(json), &ac->schema) != 0) {
        ac->schema = NULL;
        kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "cannot parse schema SlaAlert: %s",
                  avro_strerror());
        goto error;
    }
    if (layout_check(ac->schema, errstr, errstr_size) != 0) {
        goto error;
    }
    if (!(ac->iface = avro_generic_class_from_schema(ac->schema)) ||
        avro_generic_value_new(ac->iface, &ac->value) != 0) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create SlaAlert value: %s",
                  avro_strerror());
        goto error;
    }
    ac->has_value = 1;
    ac->reader = avro_reader_memory(empty, 0);
    ac->writer = avro_writer_memory(empty, 0);
    if (!ac->reader || !ac->writer) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot create avro-c memory I/O");
        goto error;
    }
    return ac;
error:
    kc_alert_codec_destroy(ac);
    return NULL;
}

void kc_alert_codec_destroy(kc_alert_codec_t *ac)
{
    if (!ac) {
        return;
    }
    if (ac->reader) {
        avro_reader_free(ac->reader);
    }
    if (ac->writer) {
        avro_writer_free(ac->writer);
    }
    if (ac->has_value) {
        avro_value_decref(&ac->value);
    }
    if (ac->iface) {
        avro_value_iface_decref(ac->iface);
    }
    if (ac->schema) {
        avro_schema_decref(ac->schema);
    }
    free(ac);
}

/* ------------------------------------------------------------------------
 * Encode
 * ------------------------------------------------------------------------ */

static int field(kc_alert_codec_t *ac, int i, avro_value_t *f)
{
    return avro_value_get_by_index(&ac->value, (size_t)i, f, NULL);
}

static int put_str(kc_alert_codec_t *ac, int i, const char *s)
{
    avro_value_t f;
    return field(ac, i, &f) || avro_value_set_string(&f, s);
}

static int put_long(kc_alert_codec_t *ac, int i, int64_t v)
{
    avro_value_t f;
    return field(ac, i, &f) || avro_value_set_long(&f, v);
}

static int put_double(kc_alert_codec_t *ac, int i, double v)
{
    avro_value_t f;
    return field(ac, i, &f) || avro_value_set_double(&f, v);
}

static int fill_value(kc_alert_codec_t *ac, const kc_alert_t *a)
{
    avro_value_t f;

    return avro_value_reset(&ac->value) || put_str(ac, F_ALERT_ID, a->alert_id) ||
           put_str(ac, F_RULE, a->rule) || field(ac, F_STATE, &f) ||
           avro_value_set_enum(&f, a->state == KC_ALERT_RESOLVED ? 1 : 0) ||
           field(ac, F_WINDOW_S, &f) || avro_value_set_int(&f, a->window_s) ||
           put_double(ac, F_OBSERVED, a->observed) || put_double(ac, F_THRESHOLD, a->threshold) ||
           put_long(ac, F_AT, a->at) || put_str(ac, F_SUMMARY, a->summary) ||
           put_long(ac, F_P50, a->p50_us) || put_long(ac, F_P95, a->p95_us) ||
           put_long(ac, F_P99, a->p99_us) || put_long(ac, F_MAX, a->max_us) ||
           put_long(ac, F_COUNT, a->count);
}

int kc_alert_encode(kc_alert_codec_t *ac, const kc_alert_t *a, kc_buf_t *out, char *errstr,
                    size_t errstr_size)
{
    size_t size;
    uint8_t *p;

    if (fill_value(ac, a) != 0 || avro_value_sizeof(&ac->value, &size) != 0) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot encode SlaAlert: %s",
                         avro_strerror());
    }
    if (kc_buf_reserve(out, HDR_LEN + size) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "no memory for a %zu-byte SlaAlert",
                         HDR_LEN + size);
    }
    p = (uint8_t *)out->data + out->len;
    p[0] = 0x00;
    p[1] = (uint8_t)((uint32_t)ac->id >> 24);
    p[2] = (uint8_t)((uint32_t)ac->id >> 16);
    p[3] = (uint8_t)((uint32_t)ac->id >> 8);
    p[4] = (uint8_t)(uint32_t)ac->id;
    avro_writer_memory_set_dest(ac->writer, (const char *)p + HDR_LEN, (int64_t)size);
    if (avro_value_write(ac->writer, &ac->value) != 0) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "cannot write SlaAlert: %s",
                         avro_strerror());
    }
    out->len += HDR_LEN + size;
    out->data[out->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------ */

static int get_str(kc_alert_codec_t *ac, int i, char *dst, size_t dst_size, char *errstr,
                   size_t errstr_size)
{
    avro_value_t f;
    const char *s;
    size_t sz;

    if (field(ac, i, &f) || avro_value_get_string(&f, &s, &sz)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "SlaAlert: cannot read '%s'",
                         layout[i].name);
    }
    if (sz > dst_size) { /* sz counts the NUL */
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "SlaAlert '%s' is %zu bytes, more than the %zu allowed", layout[i].name,
                         sz - 1, dst_size - 1);
    }
    memcpy(dst, s, sz);
    dst[dst_size - 1] = '\0';
    return 0;
}

static int get_long(kc_alert_codec_t *ac, int i, int64_t *v)
{
    avro_value_t f;
    return field(ac, i, &f) || avro_value_get_long(&f, v);
}

static int get_scalars(kc_alert_codec_t *ac, kc_alert_t *a)
{
    avro_value_t f;
    int state;

    if (field(ac, F_STATE, &f) || avro_value_get_enum(&f, &state) || field(ac, F_WINDOW_S, &f) ||
        avro_value_get_int(&f, &a->window_s) || field(ac, F_OBSERVED, &f) ||
        avro_value_get_double(&f, &a->observed) || field(ac, F_THRESHOLD, &f) ||
        avro_value_get_double(&f, &a->threshold)) {
        return -1;
    }
    a->state = state == 1 ? KC_ALERT_RESOLVED : KC_ALERT_FIRING;
    return get_long(ac, F_AT, &a->at) || get_long(ac, F_P50, &a->p50_us) ||
           get_long(ac, F_P95, &a->p95_us) || get_long(ac, F_P99, &a->p99_us) ||
           get_long(ac, F_MAX, &a->max_us) || get_long(ac, F_COUNT, &a->count);
}

static int frame_check(kc_alert_codec_t *ac, const uint8_t *p, size_t len, char *errstr,
                       size_t errstr_size)
{
    uint32_t id;

    if (!p || len < HDR_LEN) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "record too short (%zu bytes) for the 5-byte schema-registry header", len);
    }
    if (p[0] != 0x00) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "unknown magic byte 0x%02x (expected 0x00)", p[0]);
    }
    id = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
    if ((int32_t)id != ac->id) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "unknown schema id %" PRId32 " (expected %" PRId32 " for SlaAlert)",
                         (int32_t)id, ac->id);
    }
    return 0;
}

int kc_alert_decode(kc_alert_codec_t *ac, const void *data, size_t len, kc_alert_t *a, char *errstr,
                    size_t errstr_size)
{
    const uint8_t *p = data;
    int rc;

    memset(a, 0, sizeof(*a));
    if ((rc = frame_check(ac, p, len, errstr, errstr_size)) != 0 ||
        (rc = kc_avro_check_body(ac->schema, "SlaAlert", p + HDR_LEN, len - HDR_LEN, errstr,
                                 errstr_size)) != 0) {
        return rc;
    }
    avro_reader_memory_set_source(ac->reader, (const char *)p + HDR_LEN, (int64_t)(len - HDR_LEN));
    if (avro_value_read(ac->reader, &ac->value) != 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "avro-c cannot read SlaAlert: %s",
                         avro_strerror());
    }
    if ((rc = get_str(ac, F_ALERT_ID, a->alert_id, sizeof(a->alert_id), errstr, errstr_size)) ||
        (rc = get_str(ac, F_RULE, a->rule, sizeof(a->rule), errstr, errstr_size)) ||
        (rc = get_str(ac, F_SUMMARY, a->summary, sizeof(a->summary), errstr, errstr_size))) {
        memset(a, 0, sizeof(*a));
        return rc;
    }
    if (get_scalars(ac, a) != 0) {
        memset(a, 0, sizeof(*a));
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "SlaAlert: cannot read fields: %s",
                         avro_strerror());
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Log line
 * ------------------------------------------------------------------------ */

int kc_alert_format_line(const kc_alert_t *a, kc_buf_t *out)
{
    int rc = kc_buf_printf(
        out,
        "ALERT %s %s id=%s observed=%.3f threshold=%.3f window=%" PRId32 "s count=%" PRId64
        " p50_us=%" PRId64 " p95_us=%" PRId64 " p99_us=%" PRId64 " max_us=%" PRId64 " summary=\"",
        kc_alert_state_name(a->state), a->rule, a->alert_id, a->observed, a->threshold, a->window_s,
        a->count, a->p50_us, a->p95_us, a->p99_us, a->max_us);
    /* Keep it one line whatever the summary holds. */
    for (const char *s = a->summary; !rc && *s; s++) {
        char c = *s == '\n' || *s == '\r' ? ' ' : *s == '"' ? '\'' : *s;
        rc = kc_buf_append(out, &c, 1);
    }
    return rc ? rc : kc_buf_puts(out, "\"");
}
