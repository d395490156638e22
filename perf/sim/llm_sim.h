/**
 * @file llm_sim.h
 * @brief kclassify-llm-sim internals: a SIMULATED OpenAI-compatible
 * chat-completions server for tests and benchmarks. It never calls a model:
 * answers come from a labels file or the libcore fallback classifier.
 *
 * Files: llm_sim.c (options, profiles, daemon, signals), llm_sim_http.c
 * (routing, admission, the call's life), llm_sim_chat.c (request parsing,
 * labelling, fault injection, response building; no I/O), llm_sim_logprobs.c
 * (the logprobs array; no I/O), llm_sim_cost.c (token counting, prefix cache,
 * latency and decode model), llm_sim_limits.c (provider rate limits: token
 * buckets and x-ratelimit headers), llm_sim_stats.c (counters and /stats),
 * llm_sim_map.c (rng, string map, labels file).
 *
 * The life of a chat call (llm_sim_http.c):
 *
 *   auth (401) -> size (413) -> parse (400) -> logprobs policy (400)
 *     -> rate limits (429 requests|tokens) -> concurrency (429)
 *     -> faults (500, injected 429) -> label + build the answer
 *     -> sleep TTFT + prefill -> decode one step per token (shared with the
 *        other decoding calls) -> 200; the rate limits are then settled with
 *        the tokens actually used.
 */
#ifndef KC_LLM_SIM_H
#define KC_LLM_SIM_H

#include "kc_taxonomy.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- config */

/** What a request asking for logprobs gets. */
typedef enum {
    LLM_SIM_LOGPROBS_ON = 0, /**< choices[0].logprobs.content */
    LLM_SIM_LOGPROBS_IGNORE, /**< accepted, none returned (a server without support) */
    LLM_SIM_LOGPROBS_REJECT, /**< 400 unsupported_parameter */
    LLM_SIM_LOGPROBS_CNT
} llm_sim_logprobs_mode_t;

typedef struct llm_sim_conf_s {
    const char *profile; /**< name of the profile the defaults came from */
    int port;            /**< 0 = pick a free port */
    const char *bind;    /**< loopback address only */
    const char *port_file;
    double latency_ms;   /**< median of the lognormal latency */
    double jitter;       /**< lognormal sigma */
    double per_query_ms; /**< added per query in the call */
    /* Token cost (0 = off): TTFT x lognormal(jitter) + prefill x uncached
     * prompt tokens + one decode step per output token, slowed down by the
     * number of calls decoding at once beyond the knee. */
    double ttft_ms;
    double prefill_ms_per_token;
    double decode_ms_per_token;
    int knee;            /**< decoding calls a step takes no longer for; 0 = no saturation */
    int64_t rpm, tpm;    /**< provider rate limits per minute; 0 = off */
    int max_concurrency; /**< 0 = unlimited */
    double fail_500;     /**< per-call probabilities in [0,1] */
    double fail_429;     /**< injected rate limiting, whatever the concurrency */
    int retry_after_s;   /**< Retry-After of the concurrency and injected 429s */
    double hang;
    double hang_ms;
    double drip_ms; /**< > 0: a 200 body goes out in small chunks this far apart */
    double fenced;
    double shuffle;
    double missing;
    double invalid_category; /**< per result */
    double invalid_one;      /**< per call: exactly one result gets a bad category */
    double garbage;
    llm_sim_logprobs_mode_t logprobs;
    uint64_t seed;
    bool seed_set;
    const char *labels;
    const char *taxonomy;
    const char *api_key;
    bool verbose;
} llm_sim_conf_t;

/* ------------------------------------------------------------------- rng */

/** splitmix64: tiny, good enough, and reproducible per call. */
typedef struct llm_sim_rng_s {
    uint64_t s;
} llm_sim_rng_t;

uint64_t llm_sim_rng_next(llm_sim_rng_t *rng);
/** @brief Uniform in [0,1). */
double llm_sim_rng_uniform(llm_sim_rng_t *rng);
/** @brief true with probability p. */
bool llm_sim_rng_chance(llm_sim_rng_t *rng, double p);
/** @brief Standard normal (Box-Muller). */
double llm_sim_rng_normal(llm_sim_rng_t *rng);

/* ------------------------------------------------------------ string map */

typedef struct llm_sim_entry_s {
    uint64_t hash;
    char *key; /**< owned, NUL-terminated; NULL = empty slot */
    size_t key_len;
    int64_t value;
    uint64_t mark; /**< last call number that touched the entry */
} llm_sim_entry_t;

/** Open-addressing map from a normalized query to a value. Not thread-safe. */
typedef struct llm_sim_map_s {
    llm_sim_entry_t *slots;
    size_t size; /**< power of two, or 0 */
    size_t cnt;
} llm_sim_map_t;

void llm_sim_map_init(llm_sim_map_t *map);
void llm_sim_map_clear(llm_sim_map_t *map);
/** @brief The entry for key, or NULL. */
llm_sim_entry_t *llm_sim_map_get(const llm_sim_map_t *map, const char *key, size_t len);
/** @brief The entry for key, created with value 0 and mark 0 if absent. NULL on ENOMEM. */
llm_sim_entry_t *llm_sim_map_upsert(llm_sim_map_t *map, const char *key, size_t len);

/**
 * @brief Load a labels file: `CATEGORY<TAB>query` per line, '#' comments,
 * blank lines ignored. Queries are normalized; values are category indexes.
 * @returns 0 or a negative KC_ERR_* with file:line in errstr.
 */
int llm_sim_labels_load(const char *path, const kc_taxonomy_t *tx, llm_sim_map_t *labels,
                        char *errstr, size_t errstr_size);

/* ----------------------------------------------------------------- stats */

/** Kinds of 429, counted apart: only the rate limits say the budget is spent. */
typedef enum {
    LLM_SIM_429_CONCURRENCY = 0, /**< beyond --max-concurrency */
    LLM_SIM_429_INJECTED,        /**< --fail-429 */
    LLM_SIM_429_RATE_REQUESTS,   /**< --rpm bucket empty */
    LLM_SIM_429_RATE_TOKENS,     /**< --tpm bucket short */
    LLM_SIM_429_CNT
} llm_sim_429_t;

/** Counters: every plain field from `calls` to `per_query` is zeroed by /stats/reset. */
typedef struct llm_sim_stats_s {
    pthread_mutex_t lock; /**< guards everything below except the atomics */
    uint64_t calls, ok_calls, queries, rejected_429, errors_500, hangs, bad_requests;
    uint64_t rejected_by_kind[LLM_SIM_429_CNT]; /**< rejected_429 split by kind */
    uint64_t unauthorized, too_large;
    uint64_t enum_mismatch; /**< answers outside the request's category enum */
    uint64_t fenced, shuffled, missing, invalid_category, invalid_one, garbage; /**< injected */
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
    uint64_t truncated; /**< answers cut at max_tokens (finish_reason "length") */
    uint64_t logprobs_asked, logprobs_answered, logprobs_ignored, logprobs_rejected;
    double ttft_ms, prefill_ms, decode_ms; /**< slept in each phase, summed over calls */
    uint64_t decode_tokens;                /**< output tokens decoded (timed) */
    int64_t max_query_repeats;
    int max_inflight_seen, max_decoding_seen;
    llm_sim_map_t per_query; /**< normalized query -> calls answered with 200 */
    atomic_int inflight;
    atomic_int decoding; /**< calls in their decode phase now: the D of the cost model */
} llm_sim_stats_t;

/* ------------------------------------------------------------- chat call */

typedef struct llm_sim_query_s {
    const char *id;   /**< borrowed from the request JSON */
    const char *text; /**< borrowed from the request JSON */
    char *norm;       /**< owned */
    size_t norm_len;
    int category; /**< index into the taxonomy */
    double confidence;
    const char *reasoning; /**< static */
} llm_sim_query_t;

/** Result fields a request's schema lists (items.properties); others are not emitted. */
enum {
    LLM_SIM_FIELD_ID = 1,
    LLM_SIM_FIELD_CATEGORY = 2,
    LLM_SIM_FIELD_CONFIDENCE = 4,
    LLM_SIM_FIELD_REASONING = 8,
    LLM_SIM_FIELDS_FULL = 15 /**< a request without a schema gets every field */
};

/**
 * The prompt as the cost model counts it: about 4 bytes per token.
 * tokens = sum over messages of (ceil(content bytes / 4) + 4)
 *          + ceil(serialized response_format bytes / 4).
 * The prefix (what a provider's prefix cache keeps) is the first system
 * message plus response_format; prefix_tokens counts them the same way.
 */
typedef struct llm_sim_prompt_s {
    int64_t tokens;
    int64_t prefix_tokens;
    uint64_t prefix_hash; /**< 0 when there is no prefix */
} llm_sim_prompt_t;

typedef struct llm_sim_call_s {
    json_t *req;     /**< the parsed request, owns the borrowed strings */
    json_t *content; /**< the parsed user content */
    const char *model;
    json_t *category_enum; /**< borrowed from req; NULL if the request has no schema enum */
    unsigned fields;       /**< LLM_SIM_FIELD_* to emit per result */
    int64_t max_tokens;    /**< max_tokens / max_completion_tokens; 0 = none */
    bool logprobs;         /**< "logprobs": true */
    int top_logprobs;      /**< 0..20 */
    llm_sim_prompt_t prompt;
    llm_sim_query_t *queries;
    size_t n;
} llm_sim_call_t;

/** Faults drawn for one call, all decided before any sleeping. */
typedef struct llm_sim_faults_s {
    bool fail_500, hang, fenced, shuffle, missing, garbage, fail_429;
    bool invalid_one;   /**< one result's category was replaced (--invalid-one) */
    size_t invalid_cnt; /**< results whose category was replaced */
} llm_sim_faults_t;

/** Where a result's category value starts in the content: logprobs price that token. */
typedef struct llm_sim_mark_s {
    size_t offset;     /**< byte of the value's first character */
    double confidence; /**< of the query the result answers */
} llm_sim_mark_t;

/** The assistant message of a 200, as decoded. */
typedef struct llm_sim_answer_s {
    char *content; /**< owned, NUL-terminated; cut at max_tokens when truncated */
    size_t len;
    int64_t tokens;        /**< completion pieces of content (llm_sim_piece_end) */
    bool truncated;        /**< finish_reason "length" */
    llm_sim_mark_t *marks; /**< owned; one per result, in content order */
    size_t mark_cnt;
} llm_sim_answer_t;

/** Token counts reported in "usage". */
typedef struct llm_sim_usage_s {
    int64_t prompt, completion, cached;
} llm_sim_usage_t;

/* ------------------------------------------------------------- cost model */

#define LLM_SIM_PREFIX_CACHE 256 /**< prefixes remembered; the oldest is forgotten */

/** Hashes of the prompt prefixes seen: a provider's prefix cache, by identity only. */
typedef struct llm_sim_prefix_cache_s {
    pthread_mutex_t lock;
    uint64_t hash[LLM_SIM_PREFIX_CACHE];
    size_t cnt, next; /**< next: ring position of the oldest entry once full */
} llm_sim_prefix_cache_t;

/* ------------------------------------------------------------ rate limits */

/** A token bucket: capacity one minute's worth, refilled continuously. */
typedef struct llm_sim_bucket_s {
    bool on;
    double cap, level; /**< level may go below 0 when a call used more than estimated */
    double per_us;     /**< refill rate */
    int64_t at_us;     /**< monotonic time level was computed for */
} llm_sim_bucket_t;

typedef struct llm_sim_limits_s {
    pthread_mutex_t lock;
    llm_sim_bucket_t req, tok;
} llm_sim_limits_t;

typedef enum {
    LLM_SIM_LIMIT_OK = 0,
    LLM_SIM_LIMIT_REQUESTS, /**< no request left in the --rpm bucket */
    LLM_SIM_LIMIT_TOKENS    /**< not enough tokens in the --tpm bucket */
} llm_sim_limit_t;

#define LLM_SIM_HDR_MAX 8

/** Extra response headers (rate limits, Retry-After). */
typedef struct llm_sim_headers_s {
    size_t cnt;
    char name[LLM_SIM_HDR_MAX][40];
    char value[LLM_SIM_HDR_MAX][32];
} llm_sim_headers_t;

/* ------------------------------------------------------------- simulator */

/** The whole simulator; shared by all connection threads. */
typedef struct llm_sim_s {
    llm_sim_conf_t conf;
    kc_taxonomy_t *tx;
    llm_sim_map_t labels; /**< read-only after start */
    llm_sim_stats_t stats;
    llm_sim_prefix_cache_t prefixes;
    llm_sim_limits_t limits;
    atomic_ullong call_seq; /**< numbers calls, seeds their rng */
    atomic_bool stopping;   /**< set on SIGINT/SIGTERM: cut sleeps short */
} llm_sim_t;

/* ------------------------------------------------- chat (llm_sim_chat.c) */

/**
 * @brief Parse a chat-completions request body.
 * @returns 0, or KC_ERR_DECODE / KC_ERR_INVALID with a client-facing errstr
 *          (*param names the offending parameter, or NULL).
 * @remark release with llm_sim_call_clear() whatever the return code.
 */
int llm_sim_call_parse(const char *body, size_t len, llm_sim_call_t *call, const char **param,
                       char *errstr, size_t errstr_size);
void llm_sim_call_clear(llm_sim_call_t *call);

/** @brief Label every query: the labels map first, then the fallback classifier. */
void llm_sim_call_label(const llm_sim_t *sim, llm_sim_call_t *call);

/**
 * @brief How many labelled queries got a category that the request's
 * response_format enum does not list (0 when the request has no enum).
 * A non-zero count means the simulator and the client disagree on the taxonomy.
 */
size_t llm_sim_call_enum_mismatches(const llm_sim_call_t *call, const kc_taxonomy_t *tx);

/** @brief The category names a model chooses among: the request's enum, else the taxonomy's. */
json_t *llm_sim_call_category_names(const llm_sim_call_t *call, const kc_taxonomy_t *tx);

/** @brief Draw the call's faults from the configured rates. */
void llm_sim_faults_draw(const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults);

/**
 * @brief The assistant message for a labelled call: the fields the request's
 * schema lists, with the drawn content faults applied (faults->invalid_cnt and
 * invalid_one are filled in), counted in tokens and cut at call->max_tokens.
 * @returns 0 or KC_ERR_NOMEM.
 * @remark release with llm_sim_answer_clear() whatever the return code.
 */
int llm_sim_answer_build(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                         const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults,
                         llm_sim_answer_t *ans);
void llm_sim_answer_clear(llm_sim_answer_t *ans);

/**
 * @brief The full chat.completion body.
 * @param logprobs choices[0].logprobs, stolen; NULL = "logprobs": null.
 * @returns the body, or NULL on ENOMEM.
 */
char *llm_sim_completion_build(uint64_t call_no, const char *model, const llm_sim_answer_t *ans,
                               const llm_sim_usage_t *usage, json_t *logprobs);

/**
 * @brief An OpenAI-style error body {"error":{message,type,param,code}}.
 * @param param, code may be NULL (JSON null). @returns NULL on ENOMEM.
 */
char *llm_sim_error_build(const char *message, const char *type, const char *param,
                          const char *code);

/* ------------------------------------------ logprobs (llm_sim_logprobs.c) */

/**
 * @brief choices[0].logprobs {"content":[...]} for an answer: one entry per
 * completion piece, in the same tokenization as usage. The piece holding the
 * first byte of a category value gets ln(confidence); its alternatives are
 * the same piece with the other names substituted from the value's start,
 * sharing the remaining mass. Other pieces get -0.0001 and one dummy
 * alternative at -12.
 * @param names the category names to draw alternatives from (JSON strings).
 * @param top_k alternatives per entry (0..20), the chosen token first.
 * @returns a new object, or NULL on ENOMEM.
 */
json_t *llm_sim_logprobs_build(const llm_sim_answer_t *ans, json_t *names, int top_k);

/* -------------------------------------------- cost model (llm_sim_cost.c) */

/**
 * @brief End of the completion piece starting at start: start + 4 bytes,
 * extended so that a UTF-8 character is never split, at most len.
 * Completion tokens are these pieces, about 4 bytes each.
 */
size_t llm_sim_piece_end(const char *s, size_t len, size_t start);

/** @brief Number of completion pieces of s. */
int64_t llm_sim_piece_count(const char *s, size_t len);

/** @brief Tokens of a prompt text: ceil(bytes / 4). */
int64_t llm_sim_text_tokens(size_t bytes);

/** @brief Count the prompt of a parsed request (see llm_sim_prompt_t). @returns 0 or KC_ERR_NOMEM.
 */
int llm_sim_prompt_measure(json_t *req, llm_sim_prompt_t *prompt);

void llm_sim_prefix_cache_init(llm_sim_prefix_cache_t *pc);
void llm_sim_prefix_cache_destroy(llm_sim_prefix_cache_t *pc);
/** @brief true if hash was seen before; remembers it either way. Thread-safe. */
bool llm_sim_prefix_cache_seen(llm_sim_prefix_cache_t *pc, uint64_t hash);

/** @brief Whether any token-cost option is set (else only --latency-ms/--per-query-ms apply). */
bool llm_sim_cost_tokens_on(const llm_sim_conf_t *conf);

/**
 * @brief Time to the first output token: per_query_ms x n + (latency_ms +
 * ttft_ms) x exp(jitter x z) + prefill_ms_per_token x uncached prompt tokens.
 * @param z a standard normal draw. @param prefill_ms out: the prefill share.
 */
double llm_sim_cost_first_token_ms(const llm_sim_conf_t *conf, double z, size_t n,
                                   int64_t uncached_tokens, double *prefill_ms);

/** @brief One decode step with `decoding` calls decoding: decode_ms_per_token x max(1, D / knee).
 */
double llm_sim_cost_step_ms(const llm_sim_conf_t *conf, int decoding);

/** @brief Sleep ms, in short slices, returning early once sim->stopping is set. */
void llm_sim_sleep_ms(llm_sim_t *sim, double ms);

/**
 * @brief The decode phase of a call: joins the decoding calls, sleeps
 * `tokens` steps in slices (re-reading how many calls decode, as continuous
 * batching would), leaves. @returns the milliseconds slept.
 */
double llm_sim_decode(llm_sim_t *sim, int64_t tokens);

/* ---------------------------------------- rate limits (llm_sim_limits.c) */

/** @brief Buckets start full; rpm or tpm 0 leaves that bucket off. */
void llm_sim_limits_init(llm_sim_limits_t *lim, int64_t rpm, int64_t tpm, int64_t now_us);
void llm_sim_limits_destroy(llm_sim_limits_t *lim);
static inline bool llm_sim_limits_on(const llm_sim_limits_t *lim)
{
    return lim->req.on || lim->tok.on;
}

/**
 * @brief Take 1 request and `tokens` tokens, or nothing.
 * @param retry_after_s out, when refused: whole seconds until the short
 *        bucket holds enough (at least 1).
 */
llm_sim_limit_t llm_sim_limits_admit(llm_sim_limits_t *lim, double tokens, int64_t now_us,
                                     int *retry_after_s);

/** @brief Replace an admitted call's token estimate by what it used (refund or charge). */
void llm_sim_limits_settle(llm_sim_limits_t *lim, double estimate, double actual);

/** @brief Append OpenAI's x-ratelimit-* headers for the buckets that are on. */
void llm_sim_limits_headers(llm_sim_limits_t *lim, int64_t now_us, llm_sim_headers_t *hdrs);

/** @brief {"requests":{limit,remaining,reset},...} for /stats, or NULL when off. */
json_t *llm_sim_limits_json(llm_sim_limits_t *lim, int64_t now_us);

/** @brief A duration as OpenAI's reset headers write it: "20ms", "1.5s", "6m0s", "1m30.5s". */
void llm_sim_duration_format(double seconds, char *buf, size_t size);

/** @brief Add a header; silently dropped beyond LLM_SIM_HDR_MAX. */
void llm_sim_headers_add(llm_sim_headers_t *hdrs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------- stats (llm_sim_stats.c) */

void llm_sim_stats_init(llm_sim_stats_t *stats);
void llm_sim_stats_destroy(llm_sim_stats_t *stats);
/** @brief Bump one counter under the lock. */
void llm_sim_stats_bump(llm_sim_stats_t *stats, uint64_t *counter);
/** @brief A 429 of this kind. */
void llm_sim_stats_429(llm_sim_stats_t *stats, llm_sim_429_t kind);
/** @brief Clear the counters (the prefix cache and rate-limit buckets are server state: kept). */
void llm_sim_stats_reset(llm_sim_stats_t *stats);

/** What one answered call cost, for the counters. */
typedef struct llm_sim_spent_s {
    llm_sim_usage_t usage;
    double ttft_ms, prefill_ms, decode_ms;
    bool truncated, logprobs_answered;
} llm_sim_spent_t;

/** @brief A 200 (or, with faults->hang, a hang answered late). */
void llm_sim_stats_record_answer(llm_sim_stats_t *stats, uint64_t call_no,
                                 const llm_sim_call_t *call, const llm_sim_faults_t *faults,
                                 const llm_sim_spent_t *spent);
/** @brief A call entered its decode phase with `decoding` calls decoding. */
void llm_sim_stats_decoding(llm_sim_stats_t *stats, int decoding);

/** @brief The /stats body (with per_query when asked). NULL on ENOMEM. */
char *llm_sim_stats_json(llm_sim_t *sim, bool with_queries);

/* ------------------------------------------------ http (llm_sim_http.c) */

struct MHD_Daemon;

/** @brief Start the daemon on conf.bind:conf.port. NULL with errstr set on failure. */
struct MHD_Daemon *llm_sim_http_start(llm_sim_t *sim, char *errstr, size_t errstr_size);

/** @brief The port the daemon listens on, or 0. */
int llm_sim_http_port(struct MHD_Daemon *daemon);

/* ------------------------------------------------------ options (llm_sim.c) */

/** @brief Name of a logprobs mode ("on", "ignore", "reject"). */
const char *llm_sim_logprobs_mode_name(llm_sim_logprobs_mode_t mode);

#endif
