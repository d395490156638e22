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
#include "kc_llm_logprob.h"
#include "kc_normalize.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Answer format: system prompt, schema, token estimate
 * ------------------------------------------------------------------------ */

static const kc_llm_answer_opts_t answer_defaults = {false, KC_LLM_CONFIDENCE_NONE};

static bool want_confidence(const kc_llm_answer_opts_t *ao)
{
    return ao->confidence == KC_LLM_CONFIDENCE_FIELD;
}

int kc_llm_system_prompt_build(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao,
                               kc_buf_t *out)
{
    int rc = 0;

    if (!tx || !tx->system_prompt || !out) {
        return KC_ERR_INVALID;
    }
    ao = ao ? ao : &answer_defaults;
    kc_buf_reset(out);
    rc |= kc_buf_puts(out, tx->system_prompt);
    rc |= kc_buf_puts(out, "\nAnswer only with a JSON object, without any other text: "
                           "{\"results\":[{\"id\":\"q0\",\"category\":\"<CATEGORY>\"");
    rc |= want_confidence(ao) ? kc_buf_puts(out, ",\"confidence\":0.0") : 0;
    rc |= ao->reasoning ? kc_buf_puts(out, ",\"reasoning\":\"...\"") : 0;
    rc |= kc_buf_puts(out, "},...]} with exactly one result per query id, using the ids as "
                           "given. category is one of the category names above, spelled "
                           "exactly.");
    rc |= want_confidence(ao) ? kc_buf_puts(out, " confidence is a number between 0 and 1.") : 0;
    rc |= ao->reasoning ? kc_buf_puts(out, " reasoning is one short sentence.") : 0;
    rc |= kc_buf_puts(out, "\n");
    return rc ? KC_ERR_NOMEM : 0;
}

/* Bytes of the ids "q0".."q{n-1}" together. */
static uint64_t id_digits_total(uint64_t n)
{
    uint64_t total = 0, lo = 0, hi = 10;

    for (unsigned d = 1; lo < n; d++, lo = hi, hi *= 10) {
        total += d * ((n < hi ? n : hi) - lo);
        if (hi > UINT64_MAX / 10) {
            break;
        }
    }
    return total;
}

#define EST_BYTES_PER_TOKEN 4
#define EST_CONF_TOKENS     6  /* "confidence":0.93, */
#define EST_REASON_TOKENS   30 /* "reasoning":"<one short sentence>", */

int64_t kc_llm_answer_tokens_estimate(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao,
                                      size_t n)
{
    size_t longest = 0;
    uint64_t bytes, tokens;

    if (!tx || n == 0) {
        return 0;
    }
    if (n > ((uint64_t)1 << 32)) {
        return INT64_MAX; /* no answer that large exists; avoid overflow */
    }
    ao = ao ? ao : &answer_defaults;
    for (size_t i = 0; i < tx->category_cnt; i++) {
        size_t len = strlen(tx->categories[i].name);
        longest = len > longest ? len : longest;
    }
    /* {"results":[ ... ]}, each item {"id":"qN","category":"<longest>"}, */
    bytes = strlen("{\"results\":[") + strlen("]}");
    bytes += (uint64_t)n * (strlen("{\"id\":\"q\",\"category\":\"\"},") + longest);
    bytes += id_digits_total(n);
    tokens = (bytes + EST_BYTES_PER_TOKEN - 1) / EST_BYTES_PER_TOKEN;
    tokens += want_confidence(ao) ? (uint64_t)n * EST_CONF_TOKENS : 0;
    tokens += ao->reasoning ? (uint64_t)n * EST_REASON_TOKENS : 0;
    return (int64_t)tokens;
}

/* ------------------------------------------------------------------------
 * Request
 * ------------------------------------------------------------------------ */

static int dump_to_buf(const char *data, size_t size, void *opaque)
{
    return kc_buf_append(opaque, data, size) == 0 ? 0 : -1;
}

/* {"id":{..},"category":{..,"enum":[names]}[,"confidence":{..}][,"reasoning":{..}]} */
static json_t *item_properties_build(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao)
{
    json_t *names = json_array();
    json_t *props;

    for (size_t i = 0; names && i < tx->category_cnt; i++) {
        if (json_array_append_new(names, json_string(tx->categories[i].name)) != 0) {
            json_decref(names);
            return NULL;
        }
    }
    /* "o" in json_pack steals the reference, also when packing fails. */
    props = json_pack("{s:{s:s}, s:{s:s, s:o}}", "id", "type", "string", "category", "type",
                      "string", "enum", names);
    if (props && want_confidence(ao) &&
        json_object_set_new(props, "confidence", json_pack("{s:s}", "type", "number")) != 0) {
        json_decref(props);
        return NULL;
    }
    if (props && ao->reasoning &&
        json_object_set_new(props, "reasoning", json_pack("{s:s}", "type", "string")) != 0) {
        json_decref(props);
        return NULL;
    }
    return props;
}

/* The strict json_schema: one result object per query with only the fields
 * asked for, all required (strict mode wants every property required), and
 * category an enum of the taxonomy's names, so a compliant server cannot
 * invent a category. */
static json_t *response_format_build(const kc_taxonomy_t *tx, const kc_llm_answer_opts_t *ao)
{
    json_t *props = item_properties_build(tx, ao);
    json_t *required = json_array();
    json_t *item, *schema;
    const char *key;
    json_t *v;

    if (props && required) {
        json_object_foreach(props, key, v)
        {
            if (json_array_append_new(required, json_string(key)) != 0) {
                break;
            }
        }
    }
    if (!props || !required || json_array_size(required) != json_object_size(props)) {
        json_decref(props);
        json_decref(required);
        return NULL;
    }
    item = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required",
                     required, "additionalProperties", 0);
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

static int request_args_check(const char *model, const char *system, const char *const *texts,
                              const size_t *lens, size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0 || !model || !system || !texts || !lens) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         n == 0 ? "no queries to send"
                                : "model, system prompt, texts and lens are required");
    }
    if (!kc_utf8_valid(model, strlen(model))) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "model: not valid UTF-8");
    }
    if (!kc_utf8_valid(system, strlen(system))) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "system prompt: not valid UTF-8");
    }
    for (size_t i = 0; i < n; i++) {
        if (!texts[i] && lens[i] > 0) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "query %zu: NULL text", i);
        }
        if (!kc_utf8_valid(texts[i] ? texts[i] : "", lens[i])) {
            return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "query %zu: not valid UTF-8", i);
        }
    }
    return 0;
}

/* The per-call keys, after the cacheable prefix. */
static int call_opts_add(json_t *body, const kc_llm_call_opts_t *co)
{
    int rc = 0;

    if (!co) {
        return 0;
    }
    if (co->max_tokens > 0) {
        rc |= json_object_set_new(body, "max_tokens", json_integer((json_int_t)co->max_tokens));
    }
    if (co->logprobs) {
        rc |= json_object_set_new(body, "logprobs", json_true());
        if (co->top_logprobs > 0) {
            rc |= json_object_set_new(body, "top_logprobs", json_integer(co->top_logprobs));
        }
    }
    return rc;
}

int kc_llm_request_build(const kc_taxonomy_t *tx, const char *model, const char *system,
                         const kc_llm_answer_opts_t *ao, const kc_llm_call_opts_t *co,
                         const char *const *texts, const size_t *lens, size_t n, kc_buf_t *out,
                         char *errstr, size_t errstr_size)
{
    json_t *body;
    char *user;
    int rc = request_args_check(model, system, texts, lens, n, errstr, errstr_size);

    if (rc != 0) {
        return rc;
    }
    if (!(user = user_content_build(texts, lens, n))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory building queries");
    }
    /* Key order is insertion order: the parts that repeat between calls
     * (model, system prompt) come first, per-call ones last. */
    body =
        json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}], s:o}", "model", model, "temperature", 0,
                  "messages", "role", "system", "content", system, "role", "user", "content", user,
                  "response_format", response_format_build(tx, ao ? ao : &answer_defaults));
    free(user);
    if (!body || call_opts_add(body, co) != 0) {
        json_decref(body);
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot build the request body");
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

/* Length of the UTF-8 sequence led by c (jansson strings are valid UTF-8). */
static size_t utf8_seq_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* C0 controls, DEL and C1 controls (U+0080..U+009F). */
static bool utf8_is_control(const unsigned char *p, size_t seq)
{
    return (seq == 1 && (p[0] < 0x20 || p[0] == 0x7F)) || (seq == 2 && p[0] == 0xC2 && p[1] < 0xA0);
}

/* The server's model name, for logs and metrics: control characters
 * dropped, at most KC_LLM_MODEL_MAX bytes cut on a character boundary, NULL
 * when nothing printable is left. */
static int model_dup(json_t *v, char **out)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v), o = 0;
    char buf[KC_LLM_MODEL_MAX + 1];

    for (size_t i = 0; s && i < len;) {
        size_t seq = utf8_seq_len(s[i]);
        if (seq > len - i) {
            break;
        }
        if (!utf8_is_control(s + i, seq)) {
            if (o + seq > KC_LLM_MODEL_MAX) {
                break;
            }
            memcpy(buf + o, s + i, seq);
            o += seq;
        }
        i += seq;
    }
    if (o == 0) {
        return 0;
    }
    buf[o] = '\0';
    *out = strdup(buf);
    return *out ? 0 : KC_ERR_NOMEM;
}

static int meta_read(json_t *root, kc_llm_response_t *resp)
{
    json_t *usage = json_object_get(root, "usage");
    json_t *fr =
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "finish_reason");

    resp->truncated = json_is_string(fr) && strcmp(json_string_value(fr), "length") == 0;
    if (json_is_object(usage)) {
        resp->prompt_tokens = token_count(usage, "prompt_tokens");
        resp->completion_tokens = token_count(usage, "completion_tokens");
        resp->cached_tokens =
            token_count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens");
    }
    return model_dup(json_object_get(root, "model"), &resp->model);
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
 * unwrapped from fences and surrounding prose. The result always points
 * into the content, so offsets within it are offsets in the content. */
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

/* A number: FIELD, clamped; anything else: NONE with the unknown value. */
static void confidence_read(json_t *v, kc_llm_item_t *it)
{
    double d = json_is_number(v) ? json_number_value(v) : NAN;

    if (isnan(d)) {
        it->confidence = KC_LLM_CONFIDENCE_UNKNOWN;
        it->conf_src = KC_LLM_CONF_SRC_NONE;
        return;
    }
    it->confidence = d < 0.0 ? 0.0f : d > 1.0 ? 1.0f : (float)d;
    it->conf_src = KC_LLM_CONF_SRC_FIELD;
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

/* Apply results[idx]; src[id] remembers which element made an item OK, for
 * the logprobs (NULL when they are not read). */
static int item_apply(const kc_taxonomy_t *tx, json_t *obj, size_t idx, kc_llm_response_t *resp,
                      size_t *src)
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
    confidence_read(json_object_get(obj, "confidence"), it);
    if (src) {
        src[id] = idx;
    }
    return reasoning_dup(json_object_get(obj, "reasoning"), &it->reasoning);
}

/* ------------------------------------------------------------------------
 * Response: logprobs
 * ------------------------------------------------------------------------ */

/* choices[0].logprobs.content when it is a non-empty array; ABSENT when it
 * (or logprobs) is missing, null or empty; UNUSABLE when malformed. */
static kc_llm_logprobs_state_t logprobs_find(json_t *root, json_t **toks)
{
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *lp = json_object_get(choice, "logprobs");

    *toks = NULL;
    if (!lp || json_is_null(lp)) {
        return KC_LLM_LOGPROBS_ABSENT;
    }
    if (!json_is_object(lp)) {
        return KC_LLM_LOGPROBS_UNUSABLE;
    }
    *toks = json_object_get(lp, "content");
    if (!*toks || json_is_null(*toks) || (json_is_array(*toks) && json_array_size(*toks) == 0)) {
        *toks = NULL;
        return KC_LLM_LOGPROBS_ABSENT;
    }
    if (!json_is_array(*toks)) {
        *toks = NULL;
        return KC_LLM_LOGPROBS_UNUSABLE;
    }
    /* Present; USED, PARTIAL or UNUSABLE once matched with the content. */
    return KC_LLM_LOGPROBS_UNUSABLE;
}

/* "bytes" counts when it is an array of integers 0..255. */
static bool token_bytes_valid(json_t *bytes)
{
    size_t i;
    json_t *b;

    if (!json_is_array(bytes)) {
        return false;
    }
    json_array_foreach(bytes, i, b)
    {
        if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255) {
            return false;
        }
    }
    return true;
}

/* One token's bytes: its "bytes" when valid (they carry the exact bytes of
 * a token that splits a UTF-8 character), else its "token" text. */
static int token_feed(kc_llm_logprob_t *lp, json_t *tok)
{
    json_t *bytes = json_object_get(tok, "bytes");
    json_t *text = json_object_get(tok, "token");
    unsigned char chunk[256];
    size_t i, k = 0;
    json_t *b;
    int rc = 0;

    if (!token_bytes_valid(bytes)) {
        return json_is_string(text)
                   ? kc_llm_logprob_feed(lp, json_string_value(text), json_string_length(text))
                   : KC_ERR_DECODE;
    }
    json_array_foreach(bytes, i, b)
    {
        chunk[k++] = (unsigned char)json_integer_value(b);
        if (k == sizeof(chunk)) {
            if ((rc = kc_llm_logprob_feed(lp, chunk, k)) != 0) {
                return rc;
            }
            k = 0;
        }
    }
    return kc_llm_logprob_feed(lp, chunk, k);
}

static int tokens_feed(kc_llm_logprob_t *lp, json_t *toks)
{
    size_t i;
    json_t *tok;
    int rc;

    json_array_foreach(toks, i, tok)
    {
        json_t *v = json_object_get(tok, "logprob");
        if (!json_is_object(tok)) {
            return KC_ERR_DECODE;
        }
        if ((rc = token_feed(lp, tok)) != 0) {
            return rc;
        }
        rc = kc_llm_logprob_token_end(lp, json_is_number(v) ? json_number_value(v) : NAN);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Overwrite each OK item's confidence with its category's probability. */
static kc_llm_logprobs_state_t logprobs_map(const kc_llm_logprob_t *lp, kc_llm_response_t *resp,
                                            const size_t *src)
{
    size_t unmapped = 0;

    for (size_t id = 0; id < resp->n; id++) {
        kc_llm_item_t *it = &resp->items[id];
        float p;
        if (it->state != KC_LLM_ITEM_OK) {
            continue;
        }
        if (kc_llm_logprob_get(lp, src[id], &p) != 0) {
            unmapped++;
            continue;
        }
        it->confidence = p;
        it->conf_src = KC_LLM_CONF_SRC_LOGPROBS;
    }
    return unmapped ? KC_LLM_LOGPROBS_PARTIAL : KC_LLM_LOGPROBS_USED;
}

/* The tokens must spell the content (a prefix of it at least); the results
 * the scanner found must be the ones jansson parsed. Items keep their
 * field confidence whenever the answer is not USED for them. */
static int logprobs_apply(const kc_taxonomy_t *tx, json_t *toks, json_t *content, const char *js,
                          size_t jlen, size_t result_cnt, kc_llm_response_t *resp,
                          const size_t *src)
{
    const char *c = json_string_value(content);
    kc_llm_logprob_t *lp;
    int rc = kc_llm_logprob_new(&lp, tx, c, json_string_length(content), (size_t)(js - c), jlen);

    if (rc == KC_ERR_NOMEM) {
        return rc;
    }
    if (rc == 0 && kc_llm_logprob_result_cnt(lp) == result_cnt &&
        (rc = tokens_feed(lp, toks)) == 0) {
        resp->logprobs = logprobs_map(lp, resp, src);
    }
    kc_llm_logprob_destroy(lp);
    return rc == KC_ERR_NOMEM ? rc : 0;
}

/* ------------------------------------------------------------------------
 * Response: content
 * ------------------------------------------------------------------------ */

/* Parse the content; toks (choices[0].logprobs.content) when the caller
 * asked for logprobs and the server sent them. */
static int content_parse(const kc_taxonomy_t *tx, json_t *content, json_t *toks,
                         kc_llm_response_t *resp, char *errstr, size_t errstr_size)
{
    const char *s = json_string_value(content);
    size_t len = json_string_length(content);
    size_t *src = NULL;
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
                         resp->truncated ? " (finish_reason \"length\": truncated)" : "",
                         jerr.text);
    }
    results = json_object_get(root, "results");
    if (!json_is_array(results)) {
        json_decref(root);
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "content has no \"results\" array");
    }
    if (toks && !(src = calloc(resp->n, sizeof(*src)))) {
        rc = KC_ERR_NOMEM;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(results); i++) {
        json_t *obj = json_array_get(results, i);
        if (json_is_object(obj)) {
            rc = item_apply(tx, obj, i, resp, src);
        }
    }
    if (rc == 0 && toks) {
        rc = logprobs_apply(tx, toks, content, s, len, json_array_size(results), resp, src);
    }
    free(src);
    json_decref(root);
    return rc ? kc_seterr(rc, errstr, errstr_size, "out of memory") : 0;
}

/* ------------------------------------------------------------------------
 * Response: entry points
 * ------------------------------------------------------------------------ */

static int body_parse(const kc_taxonomy_t *tx, const char *body, size_t len, unsigned flags,
                      kc_llm_response_t *resp, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root, *content = NULL, *toks = NULL;
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
    if (flags & KC_LLM_PARSE_LOGPROBS) {
        resp->logprobs = logprobs_find(root, &toks);
    }
    if ((rc = meta_read(root, resp)) != 0) {
        rc = kc_seterr(rc, errstr, errstr_size, "out of memory");
    } else if ((rc = content_get(root, &content, errstr, errstr_size)) == 0) {
        rc = content_parse(tx, content, toks, resp, errstr, errstr_size);
    }
    json_decref(root);
    return rc;
}

int kc_llm_response_parse(const kc_taxonomy_t *tx, const char *body, size_t len, size_t n,
                          unsigned flags, kc_llm_response_t *resp, char *errstr, size_t errstr_size)
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
    if (flags & KC_LLM_PARSE_LOGPROBS) {
        resp->logprobs = KC_LLM_LOGPROBS_ABSENT;
    }
    rc = body_parse(tx, body, len, flags, resp, errstr, errstr_size);
    for (size_t i = 0; i < n; i++) {
        kc_llm_item_t *it = &resp->items[i];
        if (it->state != KC_LLM_ITEM_OK) {
            it->confidence = KC_LLM_CONFIDENCE_UNKNOWN;
        }
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

/* needle (len bytes) occurs in hay (hay_len bytes)? */
static bool contains(const char *hay, size_t hay_len, const char *needle, size_t len)
{
    for (size_t i = 0; len <= hay_len && i + len <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, len) == 0) {
            return true;
        }
    }
    return false;
}

#define QUOTE_WINDOW 24
#define QUOTE_MIN    8

bool kc_llm_reasoning_quotes(const char *reasoning, const char *const *norms, const size_t *lens,
                             size_t n, size_t self)
{
    size_t rlen = strlen(reasoning), hlen = 0;
    char *hay = malloc(rlen + 1);
    bool found = false;

    if (!hay || kc_query_normalize(reasoning, rlen, hay, &hlen) != 0) {
        free(hay);
        return true; /* cannot tell: do not pass it on */
    }
    for (size_t j = 0; j < n && !found; j++) {
        size_t len = lens[j];
        if (j == self || len < QUOTE_MIN) {
            continue;
        }
        if (len <= QUOTE_WINDOW) {
            found = contains(hay, hlen, norms[j], len);
            continue;
        }
        /* Windows every half window: a copied span of 1.5 windows holds one. */
        for (size_t at = 0; !found; at += QUOTE_WINDOW / 2) {
            if (at + QUOTE_WINDOW > len) {
                at = len - QUOTE_WINDOW;
            }
            found = contains(hay, hlen, norms[j] + at, QUOTE_WINDOW);
            if (at + QUOTE_WINDOW >= len) {
                break;
            }
        }
    }
    free(hay);
    return found;
}
