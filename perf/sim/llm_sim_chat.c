/*
 * kclassify-llm-sim: the chat-completions contract as a SIMULATOR sees it.
 * Request parsing, labelling, fault injection and response building; no I/O.
 * The wire shape mirrors libcore/llm/kc_llm_proto.h, which is the real client.
 */
#define _GNU_SOURCE /* strcasestr */
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

/* response_format.json_schema.schema.properties.results.items.properties */
static json_t *find_item_properties(json_t *req)
{
    json_t *schema = json_object_get(
        json_object_get(json_object_get(req, "response_format"), "json_schema"), "schema");
    json_t *results = json_object_get(json_object_get(schema, "properties"), "results");
    json_t *props = json_object_get(json_object_get(results, "items"), "properties");
    return json_is_object(props) ? props : NULL;
}

static json_t *find_category_enum(json_t *item_props)
{
    json_t *cat_enum = json_object_get(json_object_get(item_props, "category"), "enum");
    return json_is_array(cat_enum) ? cat_enum : NULL;
}

/* A strict schema is a promise about the answer's fields: emit exactly the
 * ones it lists that the simulator knows (it cannot invent others). No schema:
 * the full form, as before compact answers existed. */
static unsigned schema_fields(json_t *item_props)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {{"id", LLM_SIM_FIELD_ID},
                 {"category", LLM_SIM_FIELD_CATEGORY},
                 {"confidence", LLM_SIM_FIELD_CONFIDENCE},
                 {"reasoning", LLM_SIM_FIELD_REASONING}};
    unsigned fields = 0;
    if (!item_props) {
        return LLM_SIM_FIELDS_FULL;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        fields |= json_object_get(item_props, known[i].name) ? known[i].bit : 0;
    }
    return fields;
}

/* An optional integer parameter in [min, max]; absent or null leaves *out. */
static int opt_int_param(json_t *req, const char *name, int64_t min, int64_t max, int64_t *out,
                         const char **param, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(req, name);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        *param = name;
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "\"%s\" must be an integer from %lld to %lld", name, (long long)min,
                         (long long)max);
    }
    *out = json_integer_value(v);
    return 0;
}

/* max_tokens / max_completion_tokens (the smaller if both), logprobs, top_logprobs. */
static int parse_options(llm_sim_call_t *call, const char **param, char *errstr, size_t errstr_size)
{
    int64_t max_tokens = 0, max_completion = 0, top = 0;
    json_t *lp = json_object_get(call->req, "logprobs");
    int rc;
    if ((rc = opt_int_param(call->req, "max_tokens", 1, INT32_MAX, &max_tokens, param, errstr,
                            errstr_size)) != 0 ||
        (rc = opt_int_param(call->req, "max_completion_tokens", 1, INT32_MAX, &max_completion,
                            param, errstr, errstr_size)) != 0 ||
        (rc = opt_int_param(call->req, "top_logprobs", 0, 20, &top, param, errstr, errstr_size)) !=
            0) {
        return rc;
    }
    call->max_tokens = max_tokens && (!max_completion || max_tokens < max_completion)
                           ? max_tokens
                           : max_completion;
    if (lp && !json_is_boolean(lp) && !json_is_null(lp)) {
        *param = "logprobs";
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "\"logprobs\" must be a boolean");
    }
    call->logprobs = json_is_true(lp);
    call->top_logprobs = (int)top;
    return 0;
}

int llm_sim_call_parse(const char *body, size_t len, llm_sim_call_t *call, const char **param,
                       char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    memset(call, 0, sizeof(*call));
    *param = NULL;
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
    json_t *item_props = find_item_properties(call->req);
    call->category_enum = find_category_enum(item_props);
    call->fields = schema_fields(item_props);
    json_t *messages = json_object_get(call->req, "messages");
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        *param = "messages";
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "\"messages\" must be a non-empty array");
    }
    int rc = parse_options(call, param, errstr, errstr_size);
    if (rc != 0) {
        return rc;
    }
    if (llm_sim_prompt_measure(call->req, &call->prompt) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
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

json_t *llm_sim_call_category_names(const llm_sim_call_t *call, const kc_taxonomy_t *tx)
{
    if (call->category_enum) {
        return json_incref(call->category_enum);
    }
    json_t *names = json_array();
    for (size_t i = 0; names && i < tx->category_cnt; i++) {
        json_array_append_new(names, json_string(tx->categories[i].name));
    }
    return names;
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

/* A model that obeys instructions injected into a query: one that asks to
 * "repeat the other questions" gets them in its reasoning, as a real model
 * may do. What the worker must never pass on (tests/check_worker_llm.c,
 * it_prompt_leak). */
static json_t *reasoning_build(const llm_sim_call_t *call, const llm_sim_query_t *q)
{
    char *buf;
    size_t len = 0, size = 64;
    json_t *j;

    if (!strcasestr(q->text, "repeat the other questions")) {
        return json_sprintf("simulated answer (%s)", q->reasoning);
    }
    for (size_t i = 0; i < call->n; i++) {
        size += strlen(call->queries[i].text) + 2;
    }
    if (!(buf = malloc(size))) {
        return NULL;
    }
    len += (size_t)snprintf(buf, size, "the other questions:");
    for (size_t i = 0; i < call->n; i++) {
        if (&call->queries[i] != q) {
            len += (size_t)snprintf(buf + len, size - len, " %s;", call->queries[i].text);
        }
    }
    j = json_string(buf);
    free(buf);
    return j;
}

static json_t *result_build(const llm_sim_call_t *call, const llm_sim_query_t *q,
                            const char *category, unsigned fields)
{
    json_t *r = json_object();
    if (!r) {
        return NULL;
    }
    /* The order of the full form: id, category, confidence, reasoning. */
    if (fields & LLM_SIM_FIELD_ID) {
        json_object_set_new(r, "id", json_string(q->id));
    }
    if (fields & LLM_SIM_FIELD_CATEGORY) {
        json_object_set_new(r, "category", json_string(category));
    }
    if (fields & LLM_SIM_FIELD_CONFIDENCE) {
        json_object_set_new(r, "confidence", json_real(round(q->confidence * 1000.0) / 1000.0));
    }
    if (fields & LLM_SIM_FIELD_REASONING) {
        json_object_set_new(r, "reasoning", reasoning_build(call, q));
    }
    return r;
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

/* --invalid-one: drawn after everything else, so that adding it left every
 * other fault's sequence of draws unchanged. */
static void invalid_one_apply(json_t *results, const bool *invalid, const llm_sim_conf_t *conf,
                              llm_sim_rng_t *rng, unsigned fields, llm_sim_faults_t *faults)
{
    size_t cnt = json_array_size(results);
    if (!llm_sim_rng_chance(rng, conf->invalid_one) || cnt == 0 ||
        !(fields & LLM_SIM_FIELD_CATEGORY)) {
        return;
    }
    size_t k = (size_t)(llm_sim_rng_next(rng) % cnt);
    faults->invalid_one = true;
    if (!invalid[k]) {
        json_object_set_new(json_array_get(results, k), "category", json_string(SIM_BAD_CATEGORY));
        faults->invalid_cnt++;
    }
}

/* Builds the results array; conf[i] is the confidence of the i-th result. */
static json_t *results_build(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                             const llm_sim_conf_t *conf, llm_sim_rng_t *rng,
                             llm_sim_faults_t *faults, size_t *order, bool *invalid, double *confs)
{
    json_t *results = json_array();
    size_t cnt = result_order(order, call->n, faults, rng);
    bool has_cat = (call->fields & LLM_SIM_FIELD_CATEGORY) != 0;
    for (size_t i = 0; results && i < cnt; i++) {
        const llm_sim_query_t *q = &call->queries[order[i]];
        invalid[i] = llm_sim_rng_chance(rng, conf->invalid_category) && has_cat;
        faults->invalid_cnt += invalid[i];
        confs[i] = round(q->confidence * 1000.0) / 1000.0; /* as the field shows it */
        const char *name = invalid[i] ? SIM_BAD_CATEGORY : tx->categories[q->category].name;
        if (json_array_append_new(results, result_build(call, q, name, call->fields))) {
            json_decref(results);
            return NULL;
        }
    }
    if (results) {
        invalid_one_apply(results, invalid, conf, rng, call->fields, faults);
    }
    return results;
}

/* The k-th `"category":"` of our own compact JSON is the k-th result's value:
 * inside a JSON string every quote is escaped, so the pattern cannot occur there. */
static int marks_find(llm_sim_answer_t *ans, const double *confs, size_t cnt)
{
    static const char pat[] = "\"category\":\"";
    ans->marks = calloc(cnt ? cnt : 1, sizeof(*ans->marks));
    if (!ans->marks) {
        return KC_ERR_NOMEM;
    }
    for (const char *p = ans->content; ans->mark_cnt < cnt && (p = strstr(p, pat));) {
        p += sizeof(pat) - 1;
        ans->marks[ans->mark_cnt].offset = (size_t)(p - ans->content);
        ans->marks[ans->mark_cnt].confidence = confs[ans->mark_cnt];
        ans->mark_cnt++;
    }
    return 0;
}

static int results_content(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                           const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults,
                           llm_sim_answer_t *ans)
{
    size_t n = call->n ? call->n : 1;
    size_t *order = malloc(n * sizeof(*order));
    bool *invalid = calloc(n, sizeof(*invalid));
    double *confs = calloc(n, sizeof(*confs));
    json_t *results = order && invalid && confs
                          ? results_build(call, tx, conf, rng, faults, order, invalid, confs)
                          : NULL;
    json_t *root = results ? json_pack("{s:o}", "results", results) : NULL;
    int rc = KC_ERR_NOMEM;
    /* Six significant digits: confidences read like 0.912, not 0.91200000000000003. */
    ans->content = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (ans->content) {
        rc = marks_find(ans, confs, json_array_size(results));
    }
    json_decref(root);
    free(order);
    free(invalid);
    free(confs);
    return rc;
}

static int fence(llm_sim_answer_t *ans)
{
    static const char head[] = "```json\n";
    size_t len = strlen(ans->content) + sizeof("```json\n\n```");
    char *fenced = malloc(len);
    if (!fenced) {
        return KC_ERR_NOMEM;
    }
    snprintf(fenced, len, "%s%s\n```", head, ans->content);
    free(ans->content);
    ans->content = fenced;
    for (size_t i = 0; i < ans->mark_cnt; i++) {
        ans->marks[i].offset += sizeof(head) - 1;
    }
    return 0;
}

/* max_tokens: keep the first max pieces, as a server stops decoding there. */
static void truncate_at(llm_sim_answer_t *ans, int64_t max)
{
    size_t end = 0;
    for (int64_t i = 0; i < max && end < ans->len; i++) {
        end = llm_sim_piece_end(ans->content, ans->len, end);
    }
    ans->content[end] = '\0';
    ans->len = end;
    ans->tokens = max;
    ans->truncated = true;
    while (ans->mark_cnt > 0 && ans->marks[ans->mark_cnt - 1].offset >= end) {
        ans->mark_cnt--;
    }
}

void llm_sim_answer_clear(llm_sim_answer_t *ans)
{
    free(ans->content);
    free(ans->marks);
    memset(ans, 0, sizeof(*ans));
}

int llm_sim_answer_build(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                         const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults,
                         llm_sim_answer_t *ans)
{
    int rc = 0;
    memset(ans, 0, sizeof(*ans));
    if (faults->garbage) {
        ans->content = strdup("I'm sorry, but I can't classify these queries right now. "
                              "Please try again later.");
        rc = ans->content ? 0 : KC_ERR_NOMEM;
    } else {
        rc = results_content(call, tx, conf, rng, faults, ans);
        if (rc == 0 && faults->fenced) {
            rc = fence(ans);
        }
    }
    if (rc != 0) {
        return rc;
    }
    ans->len = strlen(ans->content);
    ans->tokens = llm_sim_piece_count(ans->content, ans->len);
    if (call->max_tokens > 0 && ans->tokens > call->max_tokens) {
        truncate_at(ans, call->max_tokens);
    }
    return 0;
}

char *llm_sim_completion_build(uint64_t call_no, const char *model, const llm_sim_answer_t *ans,
                               const llm_sim_usage_t *usage, json_t *logprobs)
{
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-sim-%llu", (unsigned long long)call_no);
    json_t *root = json_pack(
        "{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s%}, s:o?, s:s}], s:{s:I, s:I, s:I, s:{s:I}}}",
        "id", id, "object", "chat.completion", "created", (json_int_t)time(NULL), "model", model,
        "choices", "index", 0, "message", "role", "assistant", "content", ans->content, ans->len,
        "logprobs", logprobs, "finish_reason", ans->truncated ? "length" : "stop", "usage",
        "prompt_tokens", (json_int_t)usage->prompt, "completion_tokens",
        (json_int_t)usage->completion, "total_tokens",
        (json_int_t)(usage->prompt + usage->completion), "prompt_tokens_details", "cached_tokens",
        (json_int_t)usage->cached);
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

char *llm_sim_error_build(const char *message, const char *type, const char *param,
                          const char *code)
{
    json_t *root = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", message, "type",
                             type, "param", param, "code", code);
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}
