/* JSON form of a cache entry, for kclassify-cache export and import. */
#include "kc_cache_json.h"
#include "kc_result_json.h"
#include "kc_err.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ write */

/* json_object_set_new() steals v even on failure. */
static int put(json_t *o, const char *name, json_t *v)
{
    return v && json_object_set_new(o, name, v) == 0 ? 0 : KC_ERR_NOMEM;
}

/* NULL s is JSON null. json_stringn() refuses invalid UTF-8: that and a NUL
 * are encode errors, since import could not give the same bytes back. */
static int put_str(json_t *o, const char *name, const char *s, size_t len, char *errstr,
                   size_t errstr_size)
{
    json_t *v;

    if (!s) {
        return put(o, name, json_null());
    }
    if (memchr(s, '\0', len) || !(v = json_stringn(s, len))) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size,
                         "%s is not valid UTF-8 or contains a NUL byte", name);
    }
    return put(o, name, v);
}

static int build(json_t *o, const kc_key_t *key, const kc_cache_rec_t *rec, char *errstr,
                 size_t errstr_size)
{
    char hex[KC_KEY_HEX_SIZE];
    int err;

    kc_key_hex(key, hex);
    err = put(o, "key", json_string(hex));
    err = err ? err : put_str(o, "norm", rec->norm, rec->norm_len, errstr, errstr_size);
    err = err ? err : put_str(o, "category", rec->category, rec->category_len, errstr, errstr_size);
    err = err ? err : put(o, "confidence", json_real((double)rec->confidence));
    err = err ? err
              : put_str(o, "reasoning", rec->reasoning, rec->reasoning_len, errstr, errstr_size);
    err = err ? err : put_str(o, "model", rec->model, rec->model_len, errstr, errstr_size);
    err = err ? err : put(o, "created_at", json_integer(rec->created_at));
    err = err ? err : put(o, "expires_at", json_integer(rec->expires_at));
    if (err == KC_ERR_NOMEM) {
        kc_seterr(err, errstr, errstr_size, "building cache JSON: out of memory");
    }
    return err;
}

int kc_cache_json_write(const kc_key_t *key, const kc_cache_rec_t *rec, kc_buf_t *out, char *errstr,
                        size_t errstr_size)
{
    json_t *o;
    int err;

    if (!isfinite(rec->confidence)) {
        return kc_seterr(KC_ERR_ENCODE, errstr, errstr_size, "confidence is not a finite number");
    }
    if (!(o = json_object())) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if ((err = build(o, key, rec, errstr, errstr_size)) != 0) {
        json_decref(o);
        return err;
    }
    return kc_json_append(out, o, rec->confidence, errstr, errstr_size);
}

/* ------------------------------------------------------------------ parse */

int kc_cache_key_parse(const char *hex, size_t len, kc_key_t *key)
{
    uint64_t half[2] = {0, 0};

    if (len != 32) {
        return KC_ERR_DECODE;
    }
    for (size_t i = 0; i < 32; i++) {
        int c = (unsigned char)hex[i], d;

        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;
        } else {
            return KC_ERR_DECODE;
        }
        half[i / 16] = (half[i / 16] << 4) | (uint64_t)d;
    }
    key->hi = half[0];
    key->lo = half[1];
    return 0;
}

static const char *const known_keys[] = {"key",       "norm",  "category",   "confidence",
                                         "reasoning", "model", "created_at", "expires_at"};

static int check_keys(json_t *o, char *errstr, size_t errstr_size)
{
    const char *name;
    json_t *v;
    size_t n = sizeof(known_keys) / sizeof(known_keys[0]);

    json_object_foreach(o, name, v)
    {
        size_t i = 0;
        while (i < n && strcmp(name, known_keys[i]) != 0) {
            i++;
        }
        if (i == n) {
            return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "unknown key \"%s\"", name);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(o, known_keys[i])) {
            return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "missing \"%s\"", known_keys[i]);
        }
    }
    return 0;
}

/* Copy a string member into store; *off receives its offset, or SIZE_MAX for null. */
static int get_str(json_t *o, const char *name, bool nullable, kc_buf_t *store, size_t *off,
                   size_t *len, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(o, name);

    if (!v) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "missing \"%s\"", name);
    }
    if (nullable && json_is_null(v)) {
        *off = SIZE_MAX;
        *len = 0;
        return 0;
    }
    if (!json_is_string(v)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "\"%s\" must be a string%s", name,
                         nullable ? " or null" : "");
    }
    *off = store->len;
    *len = json_string_length(v);
    if (kc_buf_append(store, json_string_value(v), *len) != 0 || kc_buf_append(store, "", 1) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    return 0;
}

static int get_int(json_t *o, const char *name, int64_t *out, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_integer(v)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "\"%s\" must be an integer%s", name,
                         v ? "" : " (missing)");
    }
    *out = json_integer_value(v);
    return 0;
}

static int get_fields(json_t *o, kc_key_t *key, kc_cache_rec_t *rec, size_t offs[4],
                      kc_buf_t *store, char *errstr, size_t errstr_size)
{
    json_t *k = json_object_get(o, "key"), *c = json_object_get(o, "confidence");
    double conf;
    int err;

    if (!json_is_string(k) ||
        kc_cache_key_parse(json_string_value(k), json_string_length(k), key) != 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "\"key\" must be a string of 32 hex digits");
    }
    conf = json_number_value(c);
    if (!json_is_number(c) || !(conf >= 0.0 && conf <= 1.0)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "\"confidence\" must be a number from 0 to 1");
    }
    rec->confidence = (float)conf;
    err = get_str(o, "norm", false, store, &offs[0], &rec->norm_len, errstr, errstr_size);
    err = err ? err
              : get_str(o, "category", false, store, &offs[1], &rec->category_len, errstr,
                        errstr_size);
    err = err ? err
              : get_str(o, "reasoning", true, store, &offs[2], &rec->reasoning_len, errstr,
                        errstr_size);
    err = err ? err
              : get_str(o, "model", true, store, &offs[3], &rec->model_len, errstr, errstr_size);
    err = err ? err : get_int(o, "created_at", &rec->created_at, errstr, errstr_size);
    err = err ? err : get_int(o, "expires_at", &rec->expires_at, errstr, errstr_size);
    return err;
}

static const char *at(const kc_buf_t *store, size_t off)
{
    return off == SIZE_MAX ? NULL : store->data + off;
}

static int validate(const kc_cache_rec_t *rec, char *errstr, size_t errstr_size)
{
    if (rec->norm_len == 0 || memchr(rec->norm, '\0', rec->norm_len)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "\"norm\" must be a non-empty string without NUL");
    }
    if (rec->category_len == 0) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "\"category\" must not be empty");
    }
    if (rec->expires_at < rec->created_at) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "\"expires_at\" (%lld) is before \"created_at\" (%lld)",
                         (long long)rec->expires_at, (long long)rec->created_at);
    }
    return 0;
}

int kc_cache_json_parse(const char *text, size_t len, kc_key_t *key, kc_cache_rec_t *rec,
                        kc_buf_t *store, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    kc_cache_rec_t tmp;
    size_t offs[4];
    int err;

    memset(&tmp, 0, sizeof(tmp));
    kc_buf_reset(store);
    if (!o) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "invalid JSON at column %d: %s",
                         jerr.column, jerr.text);
    }
    if (!json_is_object(o)) {
        json_decref(o);
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "not a JSON object");
    }
    err = check_keys(o, errstr, errstr_size);
    err = err ? err : get_fields(o, key, &tmp, offs, store, errstr, errstr_size);
    json_decref(o);
    if (err) {
        return err;
    }
    /* Pointers only now: store may have moved while it grew. */
    tmp.norm = at(store, offs[0]);
    tmp.category = at(store, offs[1]);
    tmp.reasoning = at(store, offs[2]);
    tmp.model = at(store, offs[3]);
    if ((err = validate(&tmp, errstr, errstr_size)) != 0) {
        return err;
    }
    *rec = tmp;
    return 0;
}
