/* The cache record codec: a pure, strict binary format (layout in kc_cache_rec.h). */
#include "kc_cache_rec.h"
#include "kc_err.h"

#include <stdbool.h>
#include <string.h>

#define FLAG_REASONING 0x01
#define FLAG_MODEL     0x02
#define FLAGS_KNOWN    (FLAG_REASONING | FLAG_MODEL)

/* ---------------------------------------------------------------- encoder */

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static int put_str(kc_buf_t *out, const char *s, size_t len)
{
    unsigned char hdr[4];

    put_be32(hdr, (uint32_t)len);
    if (kc_buf_append(out, hdr, sizeof(hdr)) != 0 || kc_buf_append(out, s, len) != 0) {
        return KC_ERR_NOMEM;
    }
    return 0;
}

static bool str_ok(const char *s, size_t len)
{
    return (s != NULL || len == 0) && (uint64_t)len <= UINT32_MAX;
}

int kc_cache_rec_encode(const kc_cache_rec_t *rec, kc_buf_t *out)
{
    unsigned char hdr[22];
    uint32_t conf_bits;
    size_t start = out->len;
    int err;

    if (!rec->category || rec->category_len == 0 || !str_ok(rec->norm, rec->norm_len) ||
        !str_ok(rec->category, rec->category_len) || !str_ok(rec->reasoning, rec->reasoning_len) ||
        !str_ok(rec->model, rec->model_len)) {
        return KC_ERR_INVALID;
    }
    memcpy(&conf_bits, &rec->confidence, sizeof(conf_bits));
    hdr[0] = KC_CACHE_REC_VERSION;
    hdr[1] = (rec->reasoning ? FLAG_REASONING : 0) | (rec->model ? FLAG_MODEL : 0);
    put_be32(hdr + 2, conf_bits);
    put_be64(hdr + 6, (uint64_t)rec->created_at);
    put_be64(hdr + 14, (uint64_t)rec->expires_at);
    err = kc_buf_append(out, hdr, sizeof(hdr));
    err = err ? err : put_str(out, rec->norm, rec->norm_len);
    err = err ? err : put_str(out, rec->category, rec->category_len);
    err = err ? err : put_str(out, rec->reasoning, rec->reasoning_len);
    err = err ? err : put_str(out, rec->model, rec->model_len);
    if (err) {
        /* Leave out as it was: a half-written record must never be stored. */
        out->len = start;
        if (out->data) {
            out->data[start] = '\0';
        }
    }
    return err;
}

/* ---------------------------------------------------------------- decoder */

typedef struct reader_s {
    const unsigned char *p;
    size_t left;
    size_t off; /* for messages */
} reader_t;

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static int get_str(reader_t *r, const char *what, const char **s, size_t *len, char *errstr,
                   size_t errstr_size)
{
    uint32_t n;

    if (r->left < 4) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record truncated: %s length at offset %zu needs 4 bytes, %zu left",
                         what, r->off, r->left);
    }
    n = (uint32_t)get_be(r->p, 4);
    r->p += 4;
    r->left -= 4;
    r->off += 4;
    if (n > r->left) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record truncated: %s at offset %zu is %u bytes, only %zu left",
                         what, r->off, n, r->left);
    }
    *s = (const char *)r->p;
    *len = n;
    r->p += n;
    r->left -= n;
    r->off += n;
    return 0;
}

static int decode_header(reader_t *r, kc_cache_rec_t *rec, unsigned *flags, char *errstr,
                         size_t errstr_size)
{
    uint32_t conf_bits;

    if (r->left < 1) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "cache record is empty");
    }
    if (r->p[0] != KC_CACHE_REC_VERSION) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record has unknown version %u (this build reads %d)", r->p[0],
                         KC_CACHE_REC_VERSION);
    }
    if (r->left < 22) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record truncated: header needs 22 bytes, got %zu", r->left);
    }
    *flags = r->p[1];
    if (*flags & ~FLAGS_KNOWN) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record has unknown flag bits 0x%02x", *flags & ~FLAGS_KNOWN);
    }
    conf_bits = (uint32_t)get_be(r->p + 2, 4);
    memcpy(&rec->confidence, &conf_bits, sizeof(conf_bits));
    rec->created_at = (int64_t)get_be(r->p + 6, 8);
    rec->expires_at = (int64_t)get_be(r->p + 14, 8);
    r->p += 22;
    r->left -= 22;
    r->off += 22;
    return 0;
}

/* An absent string must have length 0, and becomes NULL. */
static int optional(const char **s, size_t len, bool present, const char *what, char *errstr,
                    size_t errstr_size)
{
    if (!present) {
        if (len != 0) {
            return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                             "cache record: %s is flagged absent but has %zu bytes", what, len);
        }
        *s = NULL;
    }
    return 0;
}

int kc_cache_rec_decode(const void *data, size_t len, kc_cache_rec_t *rec, char *errstr,
                        size_t errstr_size)
{
    reader_t r = {data, len, 0};
    kc_cache_rec_t tmp;
    unsigned flags = 0;
    int err;

    memset(&tmp, 0, sizeof(tmp));
    if (!data && len > 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "cache record: NULL data");
    }
    err = decode_header(&r, &tmp, &flags, errstr, errstr_size);
    err = err ? err : get_str(&r, "norm", &tmp.norm, &tmp.norm_len, errstr, errstr_size);
    err =
        err ? err : get_str(&r, "category", &tmp.category, &tmp.category_len, errstr, errstr_size);
    err = err ? err
              : get_str(&r, "reasoning", &tmp.reasoning, &tmp.reasoning_len, errstr, errstr_size);
    err = err ? err : get_str(&r, "model", &tmp.model, &tmp.model_len, errstr, errstr_size);
    if (err) {
        return err;
    }
    if (r.left != 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "cache record has %zu trailing bytes after offset %zu", r.left, r.off);
    }
    if (tmp.category_len == 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "cache record has an empty category");
    }
    err = optional(&tmp.reasoning, tmp.reasoning_len, flags & FLAG_REASONING, "reasoning", errstr,
                   errstr_size);
    err =
        err ? err
            : optional(&tmp.model, tmp.model_len, flags & FLAG_MODEL, "model", errstr, errstr_size);
    if (err) {
        return err;
    }
    *rec = tmp;
    return 0;
}
