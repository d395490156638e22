/**
 * @file kc_llm_proto.c
 * @brief Chat-completions request building and defensive response parsing.
 *
 * The response parser trusts nothing the server sends: every level is type
 * checked, sizes are capped before parsing, and each result is attributed by
 * its id alone, never by its position. Everything is linear in the input.
 */
#define _GNU_SOURCE /* memmem */
#include "kc_llm_proto.h"
#include "kc_err.h"
#include "kc_normalize.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Request
 * ------------------------------------------------------------------------ */

static int dump_to_buf(const char *data, size_t size, void *opaque)
{
    return kc_buf_append(opaque, data, size) == 0 ? 0 : -1;
}

/* The strict json_schema: one result object per query, category an enum of
 * the taxonomy's names, so a compliant server cannot invent a category.
 * "o" in json_pack steals the reference, also when packing fails. */
static json_t *response_format_build(const kc_taxonomy_t *tx)
{
    json_t *names = json_array();
    json_t *item, *schema;

    for (size_t i = 0; names && i < tx->category_cnt; i++) {
        if (json_array_append_new(names, json_string(tx->categories[i].name)) != 0) {
            json_decref(names);
            return NULL;
        }
    }
    if (!names) {
        return NULL;
    }
    item = json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:o}, s:{s:s}, s:{s:s}}, s:[ssss], s:b}", "type",
                     "object", "properties", "id", "type", "string", "category", "type", "string",
                     "enum", names, "confidence", "type", "number", "reasoning", "type", "string",
                     "required", "id", "category", "confidence", "reasoning",
                     "additionalProperties", 0);
    schema =
        json_pack("{s:s, s:{s:{s:s, s:o}}, s:[s], s:b}", "type", "object", "properties", "results",
                  "type", "array", "items", item, "required", "results", "additionalProperties", 0);
    return json_pack("{s:s, s:{s:s, s:b, s:o}}", "type", "json_schema", "json_schema", "name",
                     "classifications", "strict", 1, "schema", schema);
}

/* {"queries":[{"id":"q0","text":"..."},...]} serialized: the user message. */
static char *user_content_build(const char *const *texts, const size_t *lens, size_t n)
{
    json_t *queries = json_array();
    json_t *root = json_pack("{s:o}", "queries", queries);
    char *out = NULL;

    if (!root) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "q%zu", i);
        /* "s%" takes an explicit length: texts need not be NUL-terminated
         * and embedded NULs become \u0000. */
        if (json_array_append_new(
                queries, json_pack("{s:s, s:s%}", "id", id, "text", texts[i], lens[i])) != 0) {
            goto done;
        }
    }
    out = json_dumps(root, JSON_COMPACT);
done:
    json_decref(root);
    return out;
}

int kc_llm_request_build(const kc_taxonomy_t *tx, const char *model, const char *const *texts,
                         const size_t *lens, size_t n, kc_buf_t *out, char *errstr,
                         size_t errstr_size)
{
    json_t *body;
    char *user;
    int rc;

    if (n == 0 || !model || !texts || !lens) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         n == 0 ? "no queries to send" : "model, texts and lens are required");
    }
    for (size_t i = 0; i < n; i++) {
        if (!texts[i] && lens[i] > 0) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "query %zu: NULL text", i);
        }
        if (!kc_utf8_valid(texts[i] ? texts[i] : "", lens[i])) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "query %zu: not valid UTF-8", i);
        }
    }
    if (!(user = user_content_build(texts, lens, n))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory building queries");
    }
    body = json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}], s:o}", "model", model, "temperature",
                     0, "messages", "role", "system", "content", tx->system_prompt, "role", "user",
                     "content", user, "response_format", response_format_build(tx));
    free(user);
    if (!body) {
        /* model is the only caller string not yet checked. */
        return kc_seterr(kc_utf8_valid(model, strlen(model)) ? KC_ERR_NOMEM : KC_ERR_INVALID,
                         errstr, errstr_size, "cannot build the request body");
    }
    kc_buf_reset(out);
    rc = json_dump_callback(body, dump_to_buf, out, JSON_COMPACT);
    json_decref(body);
    if (rc != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory serializing");
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Response: envelope
 * ------------------------------------------------------------------------ */

static int64_t token_count(json_t *usage, const char *key)
{
    json_t *v = json_object_get(usage, key);
    double d;

    if (json_is_integer(v)) {
        return json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
    }
    d = json_is_real(v) ? json_real_value(v) : 0.0;
    return (d > 0 && d < 9.0e15) ? (int64_t)d : 0;
}

static int meta_read(json_t *root, kc_llm_response_t *resp)
{
    json_t *model = json_object_get(root, "model");
    json_t *usage = json_object_get(root, "usage");

    if (json_is_string(model)) {
        resp->model = strdup(json_string_value(model));
        if (!resp->model) {
            return KC_ERR_NOMEM;
        }
    }
    if (json_is_object(usage)) {
        resp->prompt_tokens = token_count(usage, "prompt_tokens");
        resp->completion_tokens = token_count(usage, "completion_tokens");
    }
    return 0;
}

/* choices[0].message.content, or a DECODE error saying which level failed. */
static int content_get(json_t *root, json_t **content, char *errstr, size_t errstr_size)
{
    json_t *choices = json_object_get(root, "choices");
    json_t *err = json_object_get(root, "error");
    json_t *msg, *refusal;

    if (!json_is_array(choices) || json_array_size(choices) == 0) {
        if (json_is_object(err) && json_is_string(json_object_get(err, "message"))) {
            return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "server error: %.200s",
                             json_string_value(json_object_get(err, "message")));
        }
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "response has no choices");
    }
    msg = json_object_get(json_array_get(choices, 0), "message");
    if (!json_is_object(msg)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "choices[0].message is missing");
    }
    *content = json_object_get(msg, "content");
    if (json_is_string(*content)) {
        return 0;
    }
    refusal = json_object_get(msg, "refusal");
    if (json_is_string(refusal)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "model refused: %.200s",
                         json_string_value(refusal));
    }
    return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "choices[0].message.content is %s",
                     *content ? (json_is_null(*content) ? "null" : "not a string") : "missing");
}

/* ------------------------------------------------------------------------
 * Response: content extraction
 * ------------------------------------------------------------------------ */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The text between the first ``` fence (minus its language tag) and the next
 * one, or all of it when there is no fence. */
static void fence_strip(const char **s, size_t *len)
{
    const char *p = *s, *end = *s + *len;
    const char *fence = memmem(p, *len, "```", 3);
    const char *close;

    if (!fence) {
        return;
    }
    p = fence + 3;
    while (p < end && *p != '\n' && *p != '{' && *p != '[' && !is_ws(*p)) {
        p++; /* language tag such as "json" */
    }
    close = memmem(p, (size_t)(end - p), "```", 3);
    *s = p;
    *len = (size_t)((close ? close : end) - p);
}

/* Narrow to the outermost {...} so chatter around the JSON is ignored. */
static void object_span(const char **s, size_t *len)
{
    const char *open = memchr(*s, '{', *len);
    const char *close = *s + *len;

    if (!open) {
        return;
    }
    while (close > open && close[-1] != '}') {
        close--;
    }
    if (close > open) {
        *len = (size_t)(close - open);
        *s = open;
    }
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_ws(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_ws((*s)[*len - 1])) {
        (*len)--;
    }
}

/* Content that already starts with '{' is taken as is (a "```" inside a
 * reasoning string must not be mistaken for a fence); anything else is
 * unwrapped from fences and surrounding prose. */
static void content_extract(const char **s, size_t *len)
{
    trim(s, len);
    if (*len > 0 && **s == '{') {
        return;
    }
    fence_strip(s, len);
    trim(s, len);
    if (*len > 0 && **s != '{') {
        object_span(s, len);
    }
}

/* ------------------------------------------------------------------------
 * Response: result items
 * ------------------------------------------------------------------------ */

/* "qN" with N < n, N written without sign or leading zeros; else -1. */
static long id_parse(json_t *v, size_t n)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t num = 0;

    if (!s || len < 2 || len > 20 || s[0] != 'q' || (s[1] == '0' && len > 2)) {
        return -1;
    }
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        num = num * 10 + (size_t)(s[i] - '0');
    }
    return num < n ? (long)num : -1;
}

/* Exact name, else the name after trimming whitespace and ASCII-uppercasing. */
static int category_resolve(const kc_taxonomy_t *tx, json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    char up[KC_TAXONOMY_NAME_MAX];
    int idx;

    if (!s) {
        return -1;
    }
    if ((idx = kc_taxonomy_find(tx, s, len)) >= 0) {
        return idx;
    }
    while (len > 0 && is_ws(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_ws(s[len - 1])) {
        len--;
    }
    if (len == 0 || len > sizeof(up)) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        up[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    return kc_taxonomy_find(tx, up, len);
}

static float confidence_read(json_t *v)
{
    double d;

    if (!json_is_number(v)) {
        return 0.5f;
    }
    d = json_number_value(v);
    if (isnan(d)) {
        return 0.5f;
    }
    return d < 0.0 ? 0.0f : d > 1.0 ? 1.0f : (float)d;
}

/* Copy at most KC_LLM_REASONING_MAX bytes, cut on a UTF-8 boundary and at
 * an embedded NUL. */
static int reasoning_dup(json_t *v, char **out)
{
    const char *s = json_string_value(v);
    size_t len;

    if (!s) {
        return 0;
    }
    len = strnlen(s, json_string_length(v));
    if (len > KC_LLM_REASONING_MAX) {
        len = KC_LLM_REASONING_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    *out = strndup(s, len);
    return *out ? 0 : KC_ERR_NOMEM;
}

static int item_apply(const kc_taxonomy_t *tx, json_t *obj, kc_llm_response_t *resp)
{
    long id = id_parse(json_object_get(obj, "id"), resp->n);
    kc_llm_item_t *it;
    int cat;

    if (id < 0) {
        return 0; /* cannot be attributed to any query */
    }
    it = &resp->items[id];
    if (it->state == KC_LLM_ITEM_OK) {
        return 0; /* first valid result for an id wins */
    }
    cat = category_resolve(tx, json_object_get(obj, "category"));
    if (cat < 0) {
        it->state = KC_LLM_ITEM_INVALID;
        return 0;
    }
    it->state = KC_LLM_ITEM_OK;
    it->category = cat;
    it->confidence = confidence_read(json_object_get(obj, "confidence"));
    return reasoning_dup(json_object_get(obj, "reasoning"), &it->reasoning);
}

static int content_parse(const kc_taxonomy_t *tx, const char *s, size_t len, bool truncated,
                         kc_llm_response_t *resp, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root, *results;
    int rc = 0;

    if (len > KC_LLM_CONTENT_MAX) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "content of %zu bytes exceeds the %d byte limit", len, KC_LLM_CONTENT_MAX);
    }
    content_extract(&s, &len);
    /* EOF check off: prose after a complete object is ignored. */
    root = json_loadb(s, len, JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!root) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "content is not JSON%s: %s",
                         truncated ? " (finish_reason \"length\": truncated)" : "", jerr.text);
    }
    results = json_object_get(root, "results");
    if (!json_is_array(results)) {
        json_decref(root);
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "content has no \"results\" array");
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(results); i++) {
        json_t *obj = json_array_get(results, i);
        if (json_is_object(obj)) {
            rc = item_apply(tx, obj, resp);
        }
    }
    json_decref(root);
    return rc ? kc_seterr(rc, errstr, errstr_size, "out of memory") : 0;
}

/* ------------------------------------------------------------------------
 * Response: entry points
 * ------------------------------------------------------------------------ */

static bool finish_truncated(json_t *root)
{
    json_t *fr =
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "finish_reason");
    return json_is_string(fr) && strcmp(json_string_value(fr), "length") == 0;
}

static int body_parse(const kc_taxonomy_t *tx, const char *body, size_t len,
                      kc_llm_response_t *resp, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root, *content = NULL;
    int rc;

    if (len > KC_LLM_BODY_MAX) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size,
                         "body of %zu bytes exceeds the %d byte limit", len, KC_LLM_BODY_MAX);
    }
    root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "body is not JSON: %s", jerr.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "body is not a JSON object");
    }
    if ((rc = meta_read(root, resp)) != 0) {
        rc = kc_seterr(rc, errstr, errstr_size, "out of memory");
    } else if ((rc = content_get(root, &content, errstr, errstr_size)) == 0) {
        rc = content_parse(tx, json_string_value(content), json_string_length(content),
                           finish_truncated(root), resp, errstr, errstr_size);
    }
    json_decref(root);
    return rc;
}

int kc_llm_response_parse(const kc_taxonomy_t *tx, const char *body, size_t len, size_t n,
                          kc_llm_response_t *resp, char *errstr, size_t errstr_size)
{
    int rc;

    memset(resp, 0, sizeof(*resp));
    if (n == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "no queries were sent");
    }
    resp->items = calloc(n, sizeof(*resp->items));
    if (!resp->items) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    resp->n = n;
    rc = body_parse(tx, body, len, resp, errstr, errstr_size);
    for (size_t i = 0; i < n; i++) {
        kc_llm_item_t *it = &resp->items[i];
        resp->ok_cnt += it->state == KC_LLM_ITEM_OK;
        resp->invalid_cnt += it->state == KC_LLM_ITEM_INVALID;
        resp->missing_cnt += it->state == KC_LLM_ITEM_MISSING;
    }
    return rc;
}

void kc_llm_response_clear(kc_llm_response_t *resp)
{
    if (!resp) {
        return;
    }
    for (size_t i = 0; resp->items && i < resp->n; i++) {
        free(resp->items[i].reasoning);
    }
    free(resp->items);
    free(resp->model);
    memset(resp, 0, sizeof(*resp));
}
