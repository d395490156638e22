/*
 * kclassify-llm-sim: the chat-completions contract as a SIMULATOR sees it.
 * Request parsing, labelling, fault injection and response building; no I/O.
 * The wire shape mirrors libcore/kc_llm_proto.h, which is the real client.
 */
#include "llm_sim.h"

#include "kc_err.h"
#include "kc_fallback.h"
#include "kc_normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_DEFAULT_MODEL "llm-sim"
#define SIM_BAD_CATEGORY  "NOT_A_CATEGORY"

/* --------------------------------------------------------------- parsing */

void llm_sim_call_clear(llm_sim_call_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        free(call->queries[i].norm);
    }
    free(call->queries);
    json_decref(call->content);
    json_decref(call->req);
    memset(call, 0, sizeof(*call));
}

/* The last user message carries the queries; earlier ones would be history. */
static const char *find_user_content(json_t *messages)
{
    for (size_t i = json_array_size(messages); i-- > 0;) {
        json_t *msg = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role && strcmp(role, "user") == 0) {
            return json_string_value(json_object_get(msg, "content"));
        }
    }
    return NULL;
}

static int parse_query(json_t *jq, size_t i, llm_sim_query_t *q, char *errstr, size_t errstr_size)
{
    json_t *id = json_object_get(jq, "id"), *text = json_object_get(jq, "text");
    if (!json_is_string(id) || !json_is_string(text)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "queries[%zu] needs string \"id\" and \"text\"", i);
    }
    q->id = json_string_value(id);
    q->text = json_string_value(text);
    size_t len = json_string_length(text);
    q->norm = malloc(len + 1);
    if (!q->norm) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (kc_query_normalize(q->text, len, q->norm, &q->norm_len) != 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "queries[%zu] is not valid UTF-8", i);
    }
    return 0;
}

static int parse_queries(llm_sim_call_t *call, const char *content, char *errstr,
                         size_t errstr_size)
{
    call->content = json_loads(content, 0, NULL);
    json_t *queries = json_object_get(call->content, "queries");
    if (!json_is_array(queries) || json_array_size(queries) == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "user message content must be JSON {\"queries\":[{\"id\",\"text\"},...]}");
    }
    size_t n = json_array_size(queries);
    call->queries = calloc(n, sizeof(*call->queries));
    if (!call->queries) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        call->n = i + 1; /* so clear() frees what was allocated so far */
        int rc = parse_query(json_array_get(queries, i), i, &call->queries[i], errstr, errstr_size);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* response_format.json_schema.schema.properties.results.items.properties.category.enum */
static json_t *find_category_enum(json_t *req)
{
    json_t *schema = json_object_get(
        json_object_get(json_object_get(req, "response_format"), "json_schema"), "schema");
    json_t *results = json_object_get(json_object_get(schema, "properties"), "results");
    json_t *item_props = json_object_get(json_object_get(results, "items"), "properties");
    json_t *cat_enum = json_object_get(json_object_get(item_props, "category"), "enum");
    return json_is_array(cat_enum) ? cat_enum : NULL;
}

int llm_sim_call_parse(const char *body, size_t len, llm_sim_call_t *call, char *errstr,
                       size_t errstr_size)
{
    json_error_t jerr;
    memset(call, 0, sizeof(*call));
    call->req = json_loadb(body, len, 0, &jerr);
    if (!call->req) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "request body is not JSON: %s",
                         jerr.text);
    }
    if (!json_is_object(call->req)) {
        return kc_seterr(KC_ERR_DECODE, errstr, errstr_size, "request body must be an object");
    }
    const char *model = json_string_value(json_object_get(call->req, "model"));
    call->model = model ? model : SIM_DEFAULT_MODEL;
    call->category_enum = find_category_enum(call->req);
    json_t *messages = json_object_get(call->req, "messages");
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "\"messages\" must be a non-empty array");
    }
    const char *content = find_user_content(messages);
    if (!content) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "no user message with string content");
    }
    return parse_queries(call, content, errstr, errstr_size);
}

/* ------------------------------------------------------------- labelling */

void llm_sim_call_label(const llm_sim_t *sim, llm_sim_call_t *call)
{
    for (size_t i = 0; i < call->n; i++) {
        llm_sim_query_t *q = &call->queries[i];
        /* Confidence derives from the query, so repeated calls agree exactly. */
        double frac = (double)(kc_hash64(q->norm, q->norm_len, 1) % 1000) / 1000.0;
        llm_sim_entry_t *e = llm_sim_map_get(&sim->labels, q->norm, q->norm_len);
        if (e) {
            q->category = (int)e->value;
            q->confidence = 0.90 + 0.09 * frac;
            q->reasoning = "labels file";
            continue;
        }
        kc_fallback_result_t fb;
        kc_fallback_classify(sim->tx, q->norm, q->norm_len, &fb);
        q->category = fb.category;
        /* Fallback confidence is < 0.7 by contract; an LLM answer must not
         * look like a fallback, so stretch it onto [0.70, 0.99]. */
        q->confidence = 0.70 + (fb.confidence - 0.30) * (0.29 / 0.39);
        if (q->confidence < 0.70) {
            q->confidence = 0.70;
        }
        q->reasoning = fb.reasoning ? fb.reasoning : "fallback classifier";
    }
}

static bool enum_has(json_t *cat_enum, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(cat_enum, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) {
            return true;
        }
    }
    return false;
}

size_t llm_sim_call_enum_mismatches(const llm_sim_call_t *call, const kc_taxonomy_t *tx)
{
    size_t cnt = 0;
    for (size_t i = 0; call->category_enum && i < call->n; i++) {
        cnt += !enum_has(call->category_enum, tx->categories[call->queries[i].category].name);
    }
    return cnt;
}

/* ---------------------------------------------------------------- faults */

void llm_sim_faults_draw(const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults)
{
    memset(faults, 0, sizeof(*faults));
    faults->fail_500 = llm_sim_rng_chance(rng, conf->fail_500);
    faults->hang = llm_sim_rng_chance(rng, conf->hang);
    faults->garbage = llm_sim_rng_chance(rng, conf->garbage);
    faults->fenced = llm_sim_rng_chance(rng, conf->fenced);
    faults->shuffle = llm_sim_rng_chance(rng, conf->shuffle);
    faults->missing = llm_sim_rng_chance(rng, conf->missing);
    /* Drawn last, so adding it left the other faults' sequences unchanged. */
    faults->fail_429 = llm_sim_rng_chance(rng, conf->fail_429);
}

/* ------------------------------------------------------------- responses */

static json_t *result_build(const llm_sim_query_t *q, const kc_taxonomy_t *tx, bool invalid)
{
    const char *name = invalid ? SIM_BAD_CATEGORY : tx->categories[q->category].name;
    json_t *reasoning = json_sprintf("simulated answer (%s)", q->reasoning);
    return json_pack("{s:s, s:s, s:f, s:o*}", "id", q->id, "category", name, "confidence",
                     round(q->confidence * 1000.0) / 1000.0, "reasoning", reasoning);
}

/* Result order: identity, shuffled, then one dropped, as the faults say. */
static size_t result_order(size_t *order, size_t n, const llm_sim_faults_t *faults,
                           llm_sim_rng_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (size_t i = n; faults->shuffle && i > 1; i--) {
        size_t j = (size_t)(llm_sim_rng_next(rng) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    if (faults->missing && n > 0) {
        size_t drop = (size_t)(llm_sim_rng_next(rng) % n);
        memmove(&order[drop], &order[drop + 1], (n - drop - 1) * sizeof(*order));
        n--;
    }
    return n;
}

static char *results_json(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                          const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults)
{
    size_t *order = malloc(call->n * sizeof(*order));
    json_t *results = json_array();
    char *out = NULL;
    if (!order || !results) {
        goto done;
    }
    size_t cnt = result_order(order, call->n, faults, rng);
    for (size_t i = 0; i < cnt; i++) {
        bool invalid = llm_sim_rng_chance(rng, conf->invalid_category);
        faults->invalid_cnt += invalid;
        if (json_array_append_new(results, result_build(&call->queries[order[i]], tx, invalid))) {
            goto done;
        }
    }
    json_t *root = json_pack("{s:O}", "results", results);
    /* Six significant digits: confidences read like 0.912, not 0.91200000000000003. */
    out = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(root);
done:
    json_decref(results);
    free(order);
    return out;
}

char *llm_sim_content_build(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                            const llm_sim_conf_t *conf, llm_sim_rng_t *rng,
                            llm_sim_faults_t *faults)
{
    if (faults->garbage) {
        return strdup("I'm sorry, but I can't classify these queries right now. "
                      "Please try again later.");
    }
    char *json = results_json(call, tx, conf, rng, faults);
    if (!json || !faults->fenced) {
        return json;
    }
    size_t len = strlen(json) + sizeof("```json\n\n```");
    char *fenced = malloc(len);
    if (fenced) {
        snprintf(fenced, len, "```json\n%s\n```", json);
    }
    free(json);
    return fenced;
}

char *llm_sim_completion_build(uint64_t call_no, const char *model, const char *content,
                               int64_t prompt_tokens, int64_t completion_tokens)
{
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-sim-%llu", (unsigned long long)call_no);
    json_t *root =
        json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:I, s:I, s:I}}", "id", id,
                  "object", "chat.completion", "created", (json_int_t)time(NULL), "model", model,
                  "choices", "index", 0, "message", "role", "assistant", "content", content,
                  "finish_reason", "stop", "usage", "prompt_tokens", (json_int_t)prompt_tokens,
                  "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
                  (json_int_t)(prompt_tokens + completion_tokens));
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

char *llm_sim_error_build(const char *message, const char *type, const char *code)
{
    json_t *root = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type", type,
                             "param", "code", code);
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}
