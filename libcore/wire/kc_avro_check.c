/*
 * A pure walk over Avro binary bytes against an avro-c schema. It exists
 * because avro-c's decoder trusts the input: a negative string length makes
 * it write before its buffer, 2^60 makes it allocate 2^60 bytes, an enum
 * index is stored unchecked, and its error paths leak. Everything avro-c
 * would trust is bounded here first.
 */
#include "kc_avro_check.h"
#include "kc_err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KC_AVRO_MAX_DEPTH 32

typedef struct kc_avro_cur_s {
    const uint8_t *start;
    const uint8_t *pos;
    const uint8_t *end;
    const uint8_t *mark;  /* start of the item being read, for messages */
    const char *rec_name; /* top-level record, for messages */
    const char *field;    /* innermost field being read, for messages */
    char *errstr;
    size_t errstr_size;
} kc_avro_cur_t;

static int cur_fail(kc_avro_cur_t *cur, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cur_fail(kc_avro_cur_t *cur, const char *fmt, ...)
{
    char detail[192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return kc_seterr(KC_ERR_DECODE, cur->errstr, cur->errstr_size,
                     "%s field '%s' at body offset %zu: %s", cur->rec_name,
                     cur->field ? cur->field : "?", (size_t)(cur->mark - cur->start), detail);
}

static size_t cur_left(const kc_avro_cur_t *cur)
{
    return (size_t)(cur->end - cur->pos);
}

/*
 * A varint of at most max_bytes whose value fits in `bits` bits: the Avro
 * spec caps int at 5 bytes and long at 10. avro-c enforces the byte count
 * but silently drops the excess bits of an overflowing last byte.
 */
static int cur_varint(kc_avro_cur_t *cur, int max_bytes, int bits, uint64_t *raw)
{
    uint64_t v = 0;
    int last_bits = bits - 7 * (max_bytes - 1);

    cur->mark = cur->pos;

    for (int i = 0; i < max_bytes; i++) {
        if (cur->pos >= cur->end) {
            return cur_fail(cur, "truncated varint");
        }
        uint8_t b = *cur->pos++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == max_bytes - 1 && (b >> last_bits) != 0) {
                return cur_fail(cur, "varint overflows a %d-bit value", bits);
            }
            *raw = v;
            return 0;
        }
    }
    return cur_fail(cur, "varint longer than %d bytes", max_bytes);
}

static int64_t zigzag_decode(uint64_t raw)
{
    return (int64_t)((raw >> 1) ^ (~(raw & 1) + 1));
}

static int cur_long(kc_avro_cur_t *cur, int64_t *out)
{
    uint64_t raw = 0;
    int rc = cur_varint(cur, 10, 64, &raw);

    if (rc == 0) {
        *out = zigzag_decode(raw);
    }
    return rc;
}

static int cur_skip(kc_avro_cur_t *cur, size_t n, const char *what)
{
    cur->mark = cur->pos;
    if (n > cur_left(cur)) {
        return cur_fail(cur, "truncated %s: needs %zu bytes, %zu remain", what, n, cur_left(cur));
    }
    cur->pos += n;
    return 0;
}

/* A length-prefixed string or bytes value. */
static int cur_skip_sized(kc_avro_cur_t *cur, const char *what)
{
    int64_t len;
    int rc = cur_long(cur, &len);

    if (rc != 0) {
        return rc;
    }
    if (len < 0) {
        return cur_fail(cur, "negative %s length %" PRId64, what, len);
    }
    if ((uint64_t)len > cur_left(cur)) {
        return cur_fail(cur, "truncated %s: length %" PRId64 " exceeds the %zu remaining bytes",
                        what, len, cur_left(cur));
    }
    cur->pos += len;
    return 0;
}

/* An index into a list of cnt choices (enum symbol, union branch). */
static int cur_index(kc_avro_cur_t *cur, int64_t cnt, const char *what, int64_t *out)
{
    int rc = cur_long(cur, out);

    if (rc == 0 && (*out < 0 || *out >= cnt)) {
        return cur_fail(cur, "%s index %" PRId64 " out of range (%" PRId64 " choices)", what, *out,
                        cnt);
    }
    return rc;
}

static int walk_value(kc_avro_cur_t *cur, avro_schema_t schema, int depth);

/*
 * Map and array blocks. A block count is bounded by the remaining bytes
 * (every map entry carries at least a key length byte), which also bounds
 * what avro-c will allocate. A negative count is followed by the block's
 * byte size, which must match what its items occupy.
 */
static int walk_blocks(kc_avro_cur_t *cur, avro_schema_t items, bool is_map, int depth)
{
    const char *what = is_map ? "map" : "array";

    for (;;) {
        int64_t count, size = -1;
        int rc = cur_long(cur, &count);

        if (rc != 0 || count == 0) {
            return rc;
        }
        if (count < 0) {
            if (count == INT64_MIN) {
                return cur_fail(cur, "invalid %s block count %" PRId64, what, count);
            }
            count = -count;
            if ((rc = cur_long(cur, &size)) != 0) {
                return rc;
            }
            if (size < 0 || (uint64_t)size > cur_left(cur)) {
                return cur_fail(cur, "%s block byte size %" PRId64 " invalid (%zu bytes remain)",
                                what, size, cur_left(cur));
            }
        }
        if ((uint64_t)count > cur_left(cur)) {
            return cur_fail(cur, "%s block count %" PRId64 " exceeds the %zu remaining bytes", what,
                            count, cur_left(cur));
        }
        const uint8_t *block = cur->pos;
        for (int64_t i = 0; i < count; i++) {
            if (is_map && (rc = cur_skip_sized(cur, "map key")) != 0) {
                return rc;
            }
            if ((rc = walk_value(cur, items, depth + 1)) != 0) {
                return rc;
            }
        }
        if (size >= 0 && cur->pos - block != size) {
            return cur_fail(cur, "%s block byte size %" PRId64 " does not match its %td bytes",
                            what, size, cur->pos - block);
        }
    }
}

static int walk_record(kc_avro_cur_t *cur, avro_schema_t schema, int depth)
{
    const char *outer = cur->field;
    size_t cnt = avro_schema_record_size(schema);

    for (size_t i = 0; i < cnt; i++) {
        cur->field = avro_schema_record_field_name(schema, (int)i);
        int rc = walk_value(cur, avro_schema_record_field_get_by_index(schema, (int)i), depth + 1);
        if (rc != 0) {
            return rc;
        }
    }
    cur->field = outer;
    return 0;
}

static int walk_boolean(kc_avro_cur_t *cur)
{
    cur->mark = cur->pos;
    if (cur->pos >= cur->end) {
        return cur_fail(cur, "truncated boolean");
    }
    if (*cur->pos > 1) {
        return cur_fail(cur, "invalid boolean byte 0x%02x", *cur->pos);
    }
    cur->pos++;
    return 0;
}

static int walk_value(kc_avro_cur_t *cur, avro_schema_t schema, int depth)
{
    uint64_t raw = 0;
    int64_t idx;
    int rc;

    if (depth > KC_AVRO_MAX_DEPTH) {
        return cur_fail(cur, "schema nested deeper than %d levels", KC_AVRO_MAX_DEPTH);
    }
    switch (avro_typeof(schema)) {
    case AVRO_STRING:
        return cur_skip_sized(cur, "string");
    case AVRO_BYTES:
        return cur_skip_sized(cur, "bytes");
    case AVRO_INT32:
        return cur_varint(cur, 5, 32, &raw);
    case AVRO_INT64:
        return cur_varint(cur, 10, 64, &raw);
    case AVRO_FLOAT:
        return cur_skip(cur, 4, "float");
    case AVRO_DOUBLE:
        return cur_skip(cur, 8, "double");
    case AVRO_BOOLEAN:
        return walk_boolean(cur);
    case AVRO_NULL:
        return 0;
    case AVRO_FIXED:
        return cur_skip(cur, (size_t)avro_schema_fixed_size(schema), "fixed");
    case AVRO_ENUM:
        return cur_index(cur, avro_schema_enum_number_of_symbols(schema), "enum", &idx);
    case AVRO_UNION:
        rc = cur_index(cur, (int64_t)avro_schema_union_size(schema), "union", &idx);
        return rc ? rc : walk_value(cur, avro_schema_union_branch(schema, (int)idx), depth + 1);
    case AVRO_RECORD:
        return walk_record(cur, schema, depth);
    case AVRO_MAP:
        return walk_blocks(cur, avro_schema_map_values(schema), true, depth);
    case AVRO_ARRAY:
        return walk_blocks(cur, avro_schema_array_items(schema), false, depth);
    case AVRO_LINK:
        return walk_value(cur, avro_schema_link_target(schema), depth + 1);
    default:
        return cur_fail(cur, "unsupported schema type %d", (int)avro_typeof(schema));
    }
}

int kc_avro_check_body(avro_schema_t schema, const char *rec_name, const void *body, size_t len,
                       char *errstr, size_t errstr_size)
{
    const uint8_t *p = body;
    kc_avro_cur_t cur = {.start = p,
                         .pos = p,
                         .end = p + len,
                         .mark = p,
                         .rec_name = rec_name,
                         .errstr = errstr,
                         .errstr_size = errstr_size};
    int rc = walk_value(&cur, schema, 0);

    if (rc == 0 && cur.pos != cur.end) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "%zu trailing bytes after %s",
                         cur_left(&cur), rec_name);
    }
    return rc;
}
