#include "kc_worker_conf.h"

#include "kc_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define OFF(f) offsetof(kc_worker_conf_t, f)

const kc_conf_prop_t kc_worker_conf_props[] = {
    {"topic.requests", KC_CONF_STR, "kclassify.requests", 0, 0, OFF(topic_requests),
     "Topic the worker consumes ClassificationRequest records from"},
    {"topic.replies", KC_CONF_STR, "kclassify.replies", 0, 0, OFF(topic_replies),
     "Default topic for ClassificationResult records (a request's reply_topic overrides)"},
    {"topic.replies.allowed", KC_CONF_STR, "kclassify.replies.*", 0, 0, OFF(topic_replies_allowed),
     "Reply topics a request may name (reply_topic or kafka_replyTopic), besides topic.replies: "
     "comma-separated names, a trailing * matches any suffix; another name gets an ERROR reply "
     "on topic.replies; * = any valid name"},
    {"topic.dlt", KC_CONF_STR, "kclassify.requests.DLT", 0, 0, OFF(topic_dlt),
     "Dead-letter topic: records that cannot be decoded, and requests whose reply cannot be "
     "written (topic refused, reply too large), with the reason in headers"},
    {"schema.id.request", KC_CONF_INT, "1", 0, 2147483647, OFF(schema_id_request),
     "Schema-registry id framing ClassificationRequest values"},
    {"schema.id.result", KC_CONF_INT, "2", 0, 2147483647, OFF(schema_id_result),
     "Schema-registry id framing ClassificationResult values"},
    {"llm.url", KC_CONF_STR, "http://127.0.0.1:8080/v1", 0, 0, OFF(llm_url),
     "OpenAI-compatible base URL (POST {llm.url}/chat/completions); empty = LLM disabled, "
     "fallback classifier only"},
    {"llm.model", KC_CONF_STR, "gpt-4o-mini", 0, 0, OFF(llm_model), "Model name sent to the LLM"},
    {"llm.timeout.ms", KC_CONF_INT, "30000", 10, 600000, OFF(llm_timeout_ms),
     "Ceiling of any LLM call's timeout; each call's own timeout comes from its queries' "
     "deadlines and the latency model (docs/llm.md)"},
    {"llm.batch.max", KC_CONF_INT, "16", 1, 1024, OFF(llm_batch_max),
     "Distinct queries per LLM call at most; calls are sized below it so that their predicted "
     "p90 latency fits their queries' deadlines"},
    {"llm.batch.linger.ms", KC_CONF_INT, "0", 0, 10000, OFF(llm_batch_linger_ms),
     "How long queued misses may wait for a fuller LLM call when a slot is free (fewer, larger "
     "calls for some latency); 0 = a call starts as soon as a slot is free"},
    {"coalesce.inflight", KC_CONF_BOOL, "true", 0, 0, OFF(coalesce_inflight),
     "Attach a request to a lookup already running for the same query (false only to measure "
     "a naive system)"},
    {"llm.inflight.max", KC_CONF_INT, "64", 1, 1024, OFF(llm_inflight_max),
     "Concurrent LLM calls at most: the upper bound of the latency-based concurrency limit"},
    {"llm.inflight.min", KC_CONF_INT, "4", 1, 1024, OFF(llm_inflight_min),
     "The concurrency limit never goes below this (so the LLM keeps being asked); at most "
     "llm.inflight.max"},
    {"llm.rpm", KC_CONF_INT, "0", 0, 100000000, OFF(llm_rpm),
     "Provider requests-per-minute budget of this worker (calls are paced to stay inside it); "
     "0 = unknown: only the x-ratelimit-* headers and Retry-After pace"},
    {"llm.tpm", KC_CONF_INT, "0", 0, 10000000000LL, OFF(llm_tpm),
     "Provider tokens-per-minute budget of this worker (prompt + max completion tokens per "
     "call); 0 = unknown"},
    {"llm.hedge.max.pct", KC_CONF_INT, "5", 0, 100, OFF(llm_hedge_max_pct),
     "A call still running past its predicted p99 is sent again (first valid answer wins) "
     "while its queries have time; at most this many extra calls per 100 calls; 0 = off"},
    {"llm.reasoning", KC_CONF_STR, "none", 0, 0, OFF(llm_reasoning),
     "none: answers carry only the category; short: also a one-sentence reasoning (about 30 "
     "more output tokens per query, and latency with them)"},
    {"llm.confidence", KC_CONF_STR, "auto", 0, 0, OFF(llm_confidence),
     "auto: the category's probability from token logprobs (stops asking if the server "
     "refuses or ignores them); field: a confidence number the model writes; none: not "
     "asked (0.5 = unknown)"},
    {"llm.prior.ttft.ms", KC_CONF_INT, "300", 0, 600000, OFF(llm_prior_ttft_ms),
     "First guess of the LLM's time to first token, until calls are measured"},
    {"llm.prior.decode.us.per.token", KC_CONF_INT, "30000", 0, 10000000,
     OFF(llm_prior_decode_us_per_token),
     "First guess of the LLM's time per output token (microseconds); on the slow side on "
     "purpose: calls start small and grow as the model learns"},
    {"llm.prior.prefill.us.per.token", KC_CONF_INT, "20", 0, 10000000,
     OFF(llm_prior_prefill_us_per_token),
     "First guess of the LLM's time per uncached input token (microseconds)"},
    {"llm.response.max.bytes", KC_CONF_INT, "4194304", 1024, 1073741824,
     OFF(llm_response_max_bytes), "Largest LLM response body accepted"},
    {"llm.item.attempts", KC_CONF_INT, "4", 1, 10, OFF(llm_item_attempts),
     "Answers a query may get that are missing or invalid before the fallback answers it (each "
     "is retried in a later call, only while its requests have time left)"},
    {"llm.retries", KC_CONF_INT, "4", 0, 100, OFF(llm_retries),
     "Retries of a query whose call failed with 429, 5xx, a timeout or a transport error "
     "(exponential backoff with full jitter, Retry-After honoured), only while its requests "
     "have time left"},
    {"llm.retry.backoff.ms", KC_CONF_INT, "100", 1, 600000, OFF(llm_retry_backoff_ms),
     "First retry backoff (doubles per retry)"},
    {"llm.retry.backoff.max.ms", KC_CONF_INT, "2000", 1, 600000, OFF(llm_retry_backoff_max_ms),
     "Largest retry backoff"},
    {"llm.breaker.failures", KC_CONF_INT, "5", 1, 1000, OFF(llm_breaker_failures),
     "Consecutive failed LLM calls that open the circuit breaker (then the fallback answers at "
     "once)"},
    {"llm.breaker.open.ms", KC_CONF_INT, "5000", 1, 3600000, OFF(llm_breaker_open_ms),
     "Time the breaker stays open before a half-open probe (doubles while probes fail)"},
    {"llm.breaker.open.max.ms", KC_CONF_INT, "60000", 1, 3600000, OFF(llm_breaker_open_max_ms),
     "Cap of the breaker's open time"},
    {"llm.api.key.file", KC_CONF_STR, "", 0, 0, OFF(llm_api_key_file),
     "File holding the LLM bearer token (must not be readable by group or others); "
     "KCLASSIFY_LLM_API_KEY / OPENAI_API_KEY are used when empty"},
    {"llm.allow.insecure", KC_CONF_BOOL, "false", 0, 0, OFF(llm_allow_insecure),
     "Send the API key over plain http:// to a host that is not loopback (refused otherwise: "
     "the key would travel unencrypted)"},
    {"cache.l1.entries", KC_CONF_INT, "100000", 1, 100000000, OFF(cache_l1_entries),
     "In-process LRU cache capacity (entries)"},
    {"cache.l1.ttl.s", KC_CONF_INT, "300", 0, 31536000, OFF(cache_l1_ttl_s),
     "In-process cache entry lifetime; 0 = L1 off"},
    {"cache.l1.max.mb", KC_CONF_INT, "256", 0, 1048576, OFF(cache_l1_max_mb),
     "In-process cache bound in MiB of entry data; 0 = bounded by entries only"},
    {"cache.fallback.ttl.s", KC_CONF_INT, "30", 0, 86400, OFF(cache_fallback_ttl_s),
     "Lifetime of a fallback (degraded) answer in L1; it is served only while the LLM breaker "
     "is not closed, so a recovered LLM replaces it at once; fallback answers never go to LMDB "
     "or Redis; 0 = not cached"},
    {"cache.lmdb.path", KC_CONF_STR, "", 0, 0, OFF(cache_lmdb_path),
     "Directory of the LMDB cache (L2, created 0700, files 0600); empty = off"},
    {"cache.lmdb.size.mb", KC_CONF_INT, "1024", 1, 1048576, OFF(cache_lmdb_size_mb),
     "LMDB map size in MiB; when full, the oldest entries are evicted"},
    {"cache.lmdb.ttl.s", KC_CONF_INT, "3600", 1, 315360000, OFF(cache_lmdb_ttl_s),
     "Lifetime of an LMDB entry"},
    {"cache.redis.url", KC_CONF_STR, "", 0, 0, OFF(cache_redis_url),
     "Shared cache (L3): redis://[[user]:password@]host:port/db, rediss://... (TLS, "
     "cache.redis.tls.*) or unix:///path; empty = off"},
    {"cache.redis.ttl.s", KC_CONF_INT, "86400", 1, 315360000, OFF(cache_redis_ttl_s),
     "Lifetime of a Redis entry"},
    {"cache.redis.prefix", KC_CONF_STR, "kclassify:", 0, 0, OFF(cache_redis_prefix),
     "Prefix of every Redis key"},
    {"cache.redis.timeout.ms", KC_CONF_INT, "50", 1, 60000, OFF(cache_redis_timeout_ms),
     "Connect and command timeout for Redis; when Redis is down the worker goes on without it "
     "and reconnects with backoff"},
    {"cache.redis.tls.ca.location", KC_CONF_STR, "", 0, 0, OFF(cache_redis_tls_ca_location),
     "rediss:// only: CA certificates (PEM file, or a directory hashed by openssl rehash) that "
     "sign the Redis server's certificate; empty = the system CA store"},
    {"cache.redis.tls.cert.location", KC_CONF_STR, "", 0, 0, OFF(cache_redis_tls_cert_location),
     "rediss:// only: client certificate chain (PEM) for mutual TLS; empty = none"},
    {"cache.redis.tls.key.location", KC_CONF_STR, "", 0, 0, OFF(cache_redis_tls_key_location),
     "rediss:// only: private key (PEM, unencrypted) of cache.redis.tls.cert.location; set both "
     "or neither"},
    {"cache.redis.tls.verify", KC_CONF_BOOL, "true", 0, 0, OFF(cache_redis_tls_verify),
     "rediss:// only: verify the server certificate and that it names the URL's host; false "
     "only for tests (logged as a warning)"},
    {"coalesce.redis.lease.ms", KC_CONF_INT, "3000", 0, 600000, OFF(coalesce_redis_lease_ms),
     "Fleet-wide coalescing: on a miss, take a Redis lease (SET NX PX) before asking the LLM; "
     "other workers wait for the holder's answer; 0 = off"},
    {"coalesce.redis.poll.ms", KC_CONF_INT, "20", 1, 10000, OFF(coalesce_redis_poll_ms),
     "How often a worker waiting on another's lease looks for the answer in Redis"},
    {"cache.warm.file", KC_CONF_STR, "", 0, 0, OFF(cache_warm_file),
     "Queries (one per line) resolved through the normal path at start-up, before consuming"},
    {"cache.warm.rate", KC_CONF_INT, "200", 1, 1000000, OFF(cache_warm_rate),
     "Warm-up queries started per second at most"},
    {"batch.isolation", KC_CONF_STR, "none", 0, 0, OFF(batch_isolation),
     "none: an LLM call may hold the queries of any requesters; tenant: only queries whose "
     "requests carry the same context[\"tenant\"] share a call (identical queries still "
     "coalesce and share the caches)"},
    {"batch.max.messages", KC_CONF_INT, "256", 1, 100000, OFF(batch_max_messages),
     "Requests per micro-batch at most"},
    {"batch.linger.ms", KC_CONF_INT, "2", 0, 1000, OFF(batch_linger_ms),
     "How long a micro-batch waits to fill up"},
    {"sla.deadline.ms", KC_CONF_INT, "2000", 1, 3600000, OFF(sla_deadline_ms),
     "Deadline of a request whose deadline_ms is 0 (from created_at)"},
    {"sla.deadline.max.ms", KC_CONF_INT, "60000", 1, 3600000, OFF(sla_deadline_max_ms),
     "A request's deadline_ms above this is cut to it (a requester cannot hold a partition's "
     "commit for days)"},
    {"sla.deadline.margin.ms", KC_CONF_INT, "100", 0, 60000, OFF(sla_deadline_margin_ms),
     "A request still waiting this long before its deadline is answered by the fallback "
     "classifier (a late LLM answer still fills the cache)"},
    {"llm.queue.max", KC_CONF_INT, "10000", 1, 10000000, OFF(llm_queue_max),
     "Distinct queries queued for the LLM at most (live, cache-filling and backing off); "
     "beyond it the oldest cache-filling lookups are dropped, and a new query nobody's lookup "
     "can make room for is answered by the fallback at once"},
    {"query.max.bytes", KC_CONF_INT, "4096", 1, 1048576, OFF(query_max_bytes),
     "Longest query accepted; longer ones get an ERROR reply"},
    {"taxonomy.file", KC_CONF_STR, "", 0, 0, OFF(taxonomy_file),
     "Taxonomy JSON file (docs/taxonomy.md); empty = embedded clinical-metabolomics taxonomy"},
    {"metrics.port", KC_CONF_INT, "0", 0, 65535, OFF(metrics_port),
     "Port of GET /metrics (Prometheus) and GET /health (JSON); 0 = off"},
    {"metrics.bind", KC_CONF_STR, "127.0.0.1", 0, 0, OFF(metrics_bind),
     "Address the metrics endpoint listens on"},
    {"log.format", KC_CONF_STR, "text", 0, 0, OFF(log_format),
     "Log line format on stderr: text or json"},
    {"log.level", KC_CONF_STR, "info", 0, 0, OFF(log_level),
     "Log level: error, warn, info or debug (-v / -q override)"},
    {"worker.id", KC_CONF_STR, "", 0, 0, OFF(worker_id),
     "Worker id in replies; empty = <hostname>-<pid>"},
    {"processing.guarantee", KC_CONF_STR, "at_least_once", 0, 0, OFF(processing_guarantee),
     "at_least_once: a reply may be written twice when a worker dies (its offset was not "
     "committed yet); exactly_once: replies and consumed offsets are committed in one Kafka "
     "transaction per transaction.interval.ms, so read_committed consumers see one reply per "
     "request (needs a stable worker.id; docs/operations.md says what it costs)"},
    {"transaction.interval.ms", KC_CONF_INT, "100", 1, 60000, OFF(transaction_interval_ms),
     "exactly_once: how often the open transaction is committed (replies become visible to "
     "read_committed consumers then); it is added to sla.deadline.margin.ms, so the fallback "
     "answers that much earlier"},
    {"worker.shutdown.timeout.ms", KC_CONF_INT, "10000", 0, 600000, OFF(worker_shutdown_timeout_ms),
     "On SIGTERM/SIGINT, time to finish in-flight work"},
    {NULL, 0, NULL, 0, 0, 0, NULL}};

int kc_worker_conf_init(kc_worker_conf_t *conf, char *errstr, size_t errstr_size)
{
    memset(conf, 0, sizeof(*conf));
    return kc_conf_defaults(kc_worker_conf_props, conf, errstr, errstr_size);
}

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++) {
        if (strcmp(v, *allowed) == 0) {
            return true;
        }
    }
    return false;
}

int kc_worker_conf_check(const kc_worker_conf_t *conf, char *errstr, size_t errstr_size)
{
    static const char *const reasoning[] = {"none", "short", NULL};
    static const char *const confidence[] = {"auto", "field", "none", NULL};
    static const char *const isolation[] = {"none", "tenant", NULL};
    static const char *const guarantee[] = {"at_least_once", "exactly_once", NULL};

    if (!one_of(conf->llm_reasoning, reasoning)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "llm.reasoning=%s: must be none or short", conf->llm_reasoning);
    }
    if (!one_of(conf->llm_confidence, confidence)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "llm.confidence=%s: must be auto, field or none", conf->llm_confidence);
    }
    if (!one_of(conf->processing_guarantee, guarantee)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "processing.guarantee=%s: must be at_least_once or exactly_once",
                         conf->processing_guarantee);
    }
    if (strcmp(conf->processing_guarantee, "exactly_once") == 0 && !*conf->worker_id) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "processing.guarantee=exactly_once needs worker.id: it names the "
                         "transactional.id, which must stay the same across restarts so a new "
                         "process fences the old one's open transaction");
    }
    if (!one_of(conf->batch_isolation, isolation)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "batch.isolation=%s: must be none or tenant", conf->batch_isolation);
    }
    return 0;
}

void kc_worker_conf_free(kc_worker_conf_t *conf)
{
    if (!conf) {
        return;
    }
    kc_conf_free(kc_worker_conf_props, conf);
    kc_conf_kv_free(&conf->kafka);
}
