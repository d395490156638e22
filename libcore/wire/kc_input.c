#include "kc_input.h"
#include "kc_err.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void set_defaults(kc_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->priority = KC_PRIO_NORMAL;
    req->cache_policy = KC_CACHE_USE;
}

/* Copy bytes that may contain NULs into a NUL-terminated heap string. */
static char *dup_bytes(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

bool kc_input_topic_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

bool kc_input_topic_allowed(const char *allowed, const char *topic)
{
    size_t tlen = strlen(topic);

    while (allowed && *allowed) {
        const char *end = strchr(allowed, ',');
        size_t len = end ? (size_t)(end - allowed) : strlen(allowed);
        const char *e = allowed;

        while (len > 0 && *e == ' ') {
            e++;
            len--;
        }
        while (len > 0 && e[len - 1] == ' ') {
            len--;
        }
        if (len > 0 && e[len - 1] == '*') {
            if (tlen >= len - 1 && strncmp(topic, e, len - 1) == 0) {
                return true;
            }
        } else if (len > 0 && len == tlen && strncmp(topic, e, len) == 0) {
            return true;
        }
        allowed = end ? end + 1 : NULL;
    }
    return false;
}

/* ---------------------------------------------------------------------------
 * JSON fields: one handler per field, each validating its own type.
 * ------------------------------------------------------------------------- */

typedef int (*field_fn)(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size);

static int want_string(const char *field, json_t *v, char *errstr, size_t errstr_size)
{
    if (!json_is_string(v)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "'%s' must be a string", field);
    }
    if (json_string_length(v) == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "'%s' must not be empty", field);
    }
    return 0;
}

static int field_query(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    int err = want_string("query", v, errstr, errstr_size);

    if (err) {
        return err;
    }
    req->query_len = json_string_length(v);
    req->query = dup_bytes(json_string_value(v), req->query_len);
    return req->query ? 0 : KC_ERR_NOMEM;
}

static int field_request_id(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    int err = want_string("request_id", v, errstr, errstr_size);

    if (err) {
        return err;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "'request_id' contains a NUL");
    }
    req->request_id = strdup(json_string_value(v));
    return req->request_id ? 0 : KC_ERR_NOMEM;
}

static int field_priority(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    if (!json_is_string(v) || kc_priority_parse(json_string_value(v), &req->priority) != 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "'priority' must be \"LOW\", \"NORMAL\" or \"HIGH\"");
    }
    return 0;
}

static int field_cache_policy(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    if (!json_is_string(v) || kc_cache_policy_parse(json_string_value(v), &req->cache_policy)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "'cache_policy' must be \"USE\", \"REFRESH\" or \"BYPASS\"");
    }
    return 0;
}

static int field_deadline_ms(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    json_int_t ms;

    if (!json_is_integer(v)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "'deadline_ms' must be an integer");
    }
    ms = json_integer_value(v);
    if (ms < 0 || ms > INT32_MAX) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "'deadline_ms' %lld is out of range 0..%d", (long long)ms, INT32_MAX);
    }
    req->deadline_ms = (int32_t)ms;
    return 0;
}

static int field_reply_topic(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    if (json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v) || !kc_input_topic_valid(json_string_value(v))) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "'reply_topic' must be a valid topic name or null");
    }
    req->reply_topic = strdup(json_string_value(v));
    return req->reply_topic ? 0 : KC_ERR_NOMEM;
}

static int context_add(kc_request_t *req, const char *key, json_t *v)
{
    kc_kv_t *kv = &req->context[req->context_cnt];

    kv->key = strdup(key);
    kv->value = strdup(json_string_value(v));
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return KC_ERR_NOMEM;
    }
    req->context_cnt++;
    return 0;
}

static int field_context(json_t *v, kc_request_t *req, char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *val;
    int err;

    if (!json_is_object(v)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "'context' must be an object");
    }
    if (json_object_size(v) == 0) {
        return 0;
    }
    req->context = calloc(json_object_size(v), sizeof(*req->context));
    if (!req->context) {
        return KC_ERR_NOMEM;
    }
    json_object_foreach(v, key, val)
    {
        /* Avro map values are strings; NULs would be cut by the C strings. */
        if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val)) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                             "'context.%s' must be a string without NUL", key);
        }
        if ((err = context_add(req, key, val)) != 0) {
            return err;
        }
    }
    return 0;
}

static const struct {
    const char *name;
    field_fn fn;
} fields[] = {
    {"query", field_query},
    {"request_id", field_request_id},
    {"priority", field_priority},
    {"deadline_ms", field_deadline_ms},
    {"cache_policy", field_cache_policy},
    {"reply_topic", field_reply_topic},
    {"context", field_context},
};

static int apply_field(const char *key, json_t *v, kc_request_t *req, char *errstr,
                       size_t errstr_size)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].name, key) == 0) {
            return fields[i].fn(v, req, errstr, errstr_size);
        }
    }
    return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "unknown field '%s'", key);
}

static int parse_json(const char *line, size_t len, kc_request_t *req, char *errstr,
                      size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    const char *key;
    json_t *v;
    int err = 0;

    if (!root) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "invalid JSON at column %d: %s",
                         jerr.column, jerr.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "JSON line is not an object");
    }
    json_object_foreach(root, key, v)
    {
        if ((err = apply_field(key, v, req, errstr, errstr_size)) != 0) {
            break;
        }
    }
    if (!err && !req->query) {
        err = kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "missing required field 'query'");
    }
    json_decref(root);
    return err;
}

int kc_input_parse_line(const char *line, size_t len, kc_request_t *req, char *errstr,
                        size_t errstr_size)
{
    size_t start = 0;
    int err;

    set_defaults(req);
    if (len > 0 && line[len - 1] == '\n') {
        len--;
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
    }
    while (start < len && is_blank(line[start])) {
        start++;
    }
    if (start == len) {
        return KC_ERR_NOTFOUND;
    }
    if (line[start] != '{') {
        req->query = dup_bytes(line, len);
        req->query_len = len;
        return req->query ? 0 : KC_ERR_NOMEM;
    }
    err = parse_json(line + start, len - start, req, errstr, errstr_size);
    if (err) {
        kc_request_clear(req);
    }
    return err;
}
