#include "kc_producer_conf.h"

#include <stddef.h>
#include <stdint.h>

#define OFF(f) offsetof(kc_producer_conf_t, f)

/* The key-seed entries repeat the worker's defaults: a request key only equals
 * the reply's query_hash when both sides hash with the same taxonomy and model. */
const kc_conf_prop_t kc_producer_conf_props[] = {
    {"topic.requests", KC_CONF_STR, "kclassify.requests", 0, 0, OFF(topic_requests),
     "Topic requests are produced to (-t overrides)"},
    {"topic.replies", KC_CONF_STR, "kclassify.replies", 0, 0, OFF(topic_replies),
     "Topic --wait reads results from (with --wait, sent as reply_topic unless a line names one)"},
    {"schema.id.request", KC_CONF_INT, "1", 0, INT32_MAX, OFF(schema_id_request),
     "Schema Registry id written into each request's framing"},
    {"schema.id.result", KC_CONF_INT, "2", 0, INT32_MAX, OFF(schema_id_result),
     "Schema Registry id expected in each result's framing"},
    {"llm.model", KC_CONF_STR, "gpt-4o-mini", 0, 0, OFF(llm_model),
     "Model name the worker uses; part of the cache-key seed (message key)"},
    {"taxonomy.file", KC_CONF_STR, "", 0, 0, OFF(taxonomy_file),
     "Taxonomy JSON the worker uses (empty = embedded default); part of the key seed"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
