/*
 * Table-driven configuration: properties text and -X assignments are
 * applied to a component's config struct through its kc_conf_prop_t table.
 *
 * STR fields are owned by the struct: a set frees the previous value, so the
 * struct must start zeroed (or from kc_conf_defaults()) and end with
 * kc_conf_free().
 */
#include "kc_conf.h"
#include "kc_err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KC_CONF_KAFKA_PREFIX     "kafka."
#define KC_CONF_KAFKA_PREFIX_LEN (sizeof(KC_CONF_KAFKA_PREFIX) - 1)

/* ------------------------------------------------------------------------- */
/* kafka.* pass-through list                                                  */
/* ------------------------------------------------------------------------- */

#define KV_NONE SIZE_MAX

static size_t kv_index(const kc_conf_kv_list_t *kv, const char *key)
{
    for (size_t i = 0; i < kv->cnt; i++) {
        if (strcmp(kv->keys[i], key) == 0) {
            return i;
        }
    }
    return KV_NONE;
}

static int kv_append(kc_conf_kv_list_t *kv, const char *key, const char *value)
{
    char *k = strdup(key);
    char *v = strdup(value);
    char **keys = NULL, **values = NULL;

    if (k && v) {
        keys = realloc(kv->keys, (kv->cnt + 1) * sizeof(*keys));
        if (keys) {
            kv->keys = keys;
            values = realloc(kv->values, (kv->cnt + 1) * sizeof(*values));
        }
    }
    if (!values) {
        /* keys may have grown already; that is harmless, cnt is unchanged. */
        free(k);
        free(v);
        return KC_ERR_NOMEM;
    }
    kv->values = values;
    kv->keys[kv->cnt] = k;
    kv->values[kv->cnt] = v;
    kv->cnt++;
    return 0;
}

int kc_conf_kv_set(kc_conf_kv_list_t *kv, const char *key, const char *value)
{
    size_t i = kv_index(kv, key);
    char *v;

    if (i == KV_NONE) {
        return kv_append(kv, key, value);
    }
    if (!(v = strdup(value))) {
        return KC_ERR_NOMEM;
    }
    free(kv->values[i]);
    kv->values[i] = v;
    return 0;
}

const char *kc_conf_kv_get(const kc_conf_kv_list_t *kv, const char *key)
{
    size_t i = kv_index(kv, key);
    return i == KV_NONE ? NULL : kv->values[i];
}

void kc_conf_kv_free(kc_conf_kv_list_t *kv)
{
    if (!kv) {
        return;
    }
    for (size_t i = 0; i < kv->cnt; i++) {
        free(kv->keys[i]);
        free(kv->values[i]);
    }
    free(kv->keys);
    free(kv->values);
    kv->keys = NULL;
    kv->values = NULL;
    kv->cnt = 0;
}

/* ------------------------------------------------------------------------- */
/* Typed values                                                               */
/* ------------------------------------------------------------------------- */

/* Strict: the whole string must be a base-10 integer, no blanks, no suffix. */
static int parse_int(const kc_conf_prop_t *prop, const char *value, int64_t *out, char *errstr,
                     size_t errstr_size)
{
    const char *p = value;
    char *end;
    long long v;

    if (*p == '+' || *p == '-') {
        p++;
    }
    if (*p < '0' || *p > '9') {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s: expected an integer, got '%s'",
                         prop->name, value);
    }
    errno = 0;
    v = strtoll(value, &end, 10);
    if (*end != '\0') {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s: expected an integer, got '%s'",
                         prop->name, value);
    }
    if (errno == ERANGE) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "%s: %s is out of the 64-bit integer range", prop->name, value);
    }
    if (v < prop->min) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s: %s is below the minimum %" PRId64,
                         prop->name, value, prop->min);
    }
    if (v > prop->max) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s: %s is above the maximum %" PRId64,
                         prop->name, value, prop->max);
    }
    *out = v;
    return 0;
}

static int parse_bool(const kc_conf_prop_t *prop, const char *value, int *out, char *errstr,
                      size_t errstr_size)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                     "%s: expected true/false/1/0/yes/no/on/off, got '%s'", prop->name, value);
}

/* value NULL means "unset": NULL string, zero number. */
static int prop_apply(const kc_conf_prop_t *prop, void *obj, const char *value, char *errstr,
                      size_t errstr_size)
{
    char *field = (char *)obj + prop->offset;
    int64_t i64 = 0;
    int b = 0;
    char *s = NULL;
    int err;

    switch (prop->type) {
    case KC_CONF_STR:
        if (value && !(s = strdup(value))) {
            return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", prop->name);
        }
        free(*(char **)field);
        *(char **)field = s;
        return 0;
    case KC_CONF_INT:
        if (value && (err = parse_int(prop, value, &i64, errstr, errstr_size))) {
            return err;
        }
        memcpy(field, &i64, sizeof(i64));
        return 0;
    case KC_CONF_BOOL:
        if (value && (err = parse_bool(prop, value, &b, errstr, errstr_size))) {
            return err;
        }
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "%s: unknown property type %d",
                     prop->name, (int)prop->type);
}

/* ------------------------------------------------------------------------- */
/* Public setters                                                             */
/* ------------------------------------------------------------------------- */

const kc_conf_prop_t *kc_conf_find(const kc_conf_prop_t *props, const char *name)
{
    for (; props->name; props++) {
        if (strcmp(props->name, name) == 0) {
            return props;
        }
    }
    return NULL;
}

int kc_conf_defaults(const kc_conf_prop_t *props, void *obj, char *errstr, size_t errstr_size)
{
    for (; props->name; props++) {
        char tmp[256];
        int err = prop_apply(props, obj, props->defval, tmp, sizeof(tmp));
        if (err) {
            /* A bad default is a bug in the table: say so. */
            return kc_seterr(err, errstr, errstr_size, "default of %s", tmp);
        }
    }
    return 0;
}

int kc_conf_set(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv, const char *key,
                const char *value, char *errstr, size_t errstr_size)
{
    const kc_conf_prop_t *prop;

    if (kv && strncmp(key, KC_CONF_KAFKA_PREFIX, KC_CONF_KAFKA_PREFIX_LEN) == 0) {
        if (key[KC_CONF_KAFKA_PREFIX_LEN] == '\0') {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "'%s' needs a librdkafka property name after the prefix", key);
        }
        if (kc_conf_kv_set(kv, key + KC_CONF_KAFKA_PREFIX_LEN, value)) {
            return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", key);
        }
        return 0;
    }
    if (!(prop = kc_conf_find(props, key))) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "unknown configuration key '%s'", key);
    }
    return prop_apply(prop, obj, value, errstr, errstr_size);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trim s[0..len) in place and NUL-terminate; returns the new start. */
static char *trim(char *s, size_t len)
{
    while (len > 0 && is_blank(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_blank(s[len - 1])) {
        len--;
    }
    s[len] = '\0';
    return s;
}

/*
 * Split a writable "key = value" line at its first '=' (values may contain
 * '='). Returns 0, or KC_ERR_CONFIG with no errstr: callers add context.
 */
static int split_assignment(char *line, char **key, char **value)
{
    char *eq = strchr(line, '=');

    if (!eq) {
        return KC_ERR_CONFIG;
    }
    *key = trim(line, (size_t)(eq - line));
    *value = trim(eq + 1, strlen(eq + 1));
    return **key ? 0 : KC_ERR_CONFIG;
}

int kc_conf_set_assignment(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                           const char *assignment, char *errstr, size_t errstr_size)
{
    char *copy = strdup(assignment);
    char *key, *value;
    int err;

    if (!copy) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (split_assignment(copy, &key, &value)) {
        err = kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "expected key=value, got '%s'",
                        assignment);
    } else {
        err = kc_conf_set(props, obj, kv, key, value, errstr, errstr_size);
    }
    free(copy);
    return err;
}

/* ------------------------------------------------------------------------- */
/* Properties text                                                            */
/* ------------------------------------------------------------------------- */

/* One line, writable and NUL-terminated, without its '\n'. */
static int parse_line(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                      const char *name, int lineno, char *line, size_t len, char *errstr,
                      size_t errstr_size)
{
    char *s, *key, *value;
    char detail[512];
    int err;

    if (memchr(line, '\0', len)) {
        /* A NUL inside a line would silently cut the value short. */
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s:%d: NUL byte in line", name,
                         lineno);
    }
    s = trim(line, len);
    if (*s == '\0' || *s == '#') {
        return 0;
    }
    if (split_assignment(s, &key, &value)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s:%d: expected key=value", name,
                         lineno);
    }
    if ((err = kc_conf_set(props, obj, kv, key, value, detail, sizeof(detail)))) {
        return kc_seterr(err, errstr, errstr_size, "%s:%d: %s", name, lineno, detail);
    }
    return 0;
}

int kc_conf_parse_buf(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                      const char *name, const char *text, size_t len, char *errstr,
                      size_t errstr_size)
{
    char *copy = malloc(len + 1);
    char *p, *end;
    int lineno = 0;
    int err = 0;

    if (!copy) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", name);
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    p = copy;
    end = copy + len;
    /* Editors on some platforms start files with a UTF-8 byte order mark. */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    while (p < end && !err) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t linelen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        /* trim() also drops the '\r' of CRLF line endings. */
        err = parse_line(props, obj, kv, name, lineno, p, linelen, errstr, errstr_size);
        p += linelen + 1;
    }
    free(copy);
    return err;
}

/* Reads the whole file into a NUL-terminated heap buffer. errno on failure. */
static int read_file(const char *path, char **out, size_t *out_len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL, *nbuf;
    size_t len = 0, size = 0, n;
    int err = 0;

    if (!fp) {
        return errno;
    }
    do {
        if (size - len < 4096) {
            size = size ? size * 2 : 8192;
            if (!(nbuf = realloc(buf, size))) {
                err = ENOMEM;
                break;
            }
            buf = nbuf;
        }
        n = fread(buf + len, 1, size - len - 1, fp);
        len += n;
    } while (n > 0);
    if (!err && ferror(fp)) {
        err = errno ? errno : EIO;
    }
    fclose(fp);
    if (err) {
        free(buf);
        return err;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int kc_conf_parse_file(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                       const char *path, char *errstr, size_t errstr_size)
{
    char *text = NULL;
    size_t len = 0;
    int err;

    errno = 0;
    if ((err = read_file(path, &text, &len))) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "cannot read %s: %s", path, strerror(err));
    }
    err = kc_conf_parse_buf(props, obj, kv, path, text, len, errstr, errstr_size);
    free(text);
    return err;
}

void kc_conf_free(const kc_conf_prop_t *props, void *obj)
{
    if (!obj) {
        return;
    }
    for (; props->name; props++) {
        if (props->type == KC_CONF_STR) {
            char **field = (char **)((char *)obj + props->offset);
            free(*field);
            *field = NULL;
        }
    }
}
