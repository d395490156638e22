/**
 * @file llm_sim.h
 * @brief kclassify-llm-sim internals: a SIMULATED OpenAI-compatible
 * chat-completions server for tests and benchmarks. It never calls a model:
 * answers come from a labels file or the libcore fallback classifier.
 *
 * Files: llm_sim.c (options, daemon, signals), llm_sim_http.c (routing,
 * concurrency, latency, stats endpoints), llm_sim_chat.c (request parsing,
 * labelling, fault injection, response building; no I/O), llm_sim_map.c
 * (string map, labels file, stats table).
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

typedef struct llm_sim_conf_s {
    int port;         /**< 0 = pick a free port */
    const char *bind; /**< loopback address only */
    const char *port_file;
    double latency_ms;   /**< median of the lognormal latency */
    double jitter;       /**< lognormal sigma */
    double per_query_ms; /**< added per query in the call */
    int max_concurrency; /**< 0 = unlimited */
    double fail_500;     /**< per-call probabilities in [0,1] */
    double fail_429;     /**< injected rate limiting, whatever the concurrency */
    int retry_after_s;   /**< Retry-After of every 429 */
    double hang;
    double hang_ms;
    double drip_ms; /**< > 0: a 200 body goes out in small chunks this far apart */
    double fenced;
    double shuffle;
    double missing;
    double invalid_category; /**< per result */
    double garbage;
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

typedef struct llm_sim_stats_s {
    pthread_mutex_t lock; /**< guards everything below except the atomics */
    uint64_t calls, ok_calls, queries, rejected_429, errors_500, hangs, bad_requests;
    uint64_t unauthorized, too_large;
    uint64_t enum_mismatch; /**< answers outside the request's category enum */
    uint64_t fenced, shuffled, missing, invalid_category, garbage; /**< injected on 200s */
    uint64_t prompt_tokens, completion_tokens;
    int64_t max_query_repeats;
    int max_inflight_seen;
    llm_sim_map_t per_query; /**< normalized query -> calls answered with 200 */
    atomic_int inflight;
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

typedef struct llm_sim_call_s {
    json_t *req;     /**< the parsed request, owns the borrowed strings */
    json_t *content; /**< the parsed user content */
    const char *model;
    json_t *category_enum; /**< borrowed from req; NULL if the request has no schema enum */
    llm_sim_query_t *queries;
    size_t n;
} llm_sim_call_t;

/** Faults drawn for one call, all decided before any sleeping. */
typedef struct llm_sim_faults_s {
    bool fail_500, hang, fenced, shuffle, missing, garbage, fail_429;
    size_t invalid_cnt; /**< results whose category was replaced */
} llm_sim_faults_t;

/** The whole simulator; shared by all connection threads. */
typedef struct llm_sim_s {
    llm_sim_conf_t conf;
    kc_taxonomy_t *tx;
    llm_sim_map_t labels; /**< read-only after start */
    llm_sim_stats_t stats;
    atomic_ullong call_seq; /**< numbers calls, seeds their rng */
    atomic_bool stopping;   /**< set on SIGINT/SIGTERM: cut sleeps short */
} llm_sim_t;

/**
 * @brief Parse a chat-completions request body.
 * @returns 0, or KC_ERR_DECODE / KC_ERR_INVALID with a client-facing errstr.
 * @remark release with llm_sim_call_clear() whatever the return code.
 */
int llm_sim_call_parse(const char *body, size_t len, llm_sim_call_t *call, char *errstr,
                       size_t errstr_size);
void llm_sim_call_clear(llm_sim_call_t *call);

/** @brief Label every query: the labels map first, then the fallback classifier. */
void llm_sim_call_label(const llm_sim_t *sim, llm_sim_call_t *call);

/**
 * @brief How many labelled queries got a category that the request's
 * response_format enum does not list (0 when the request has no enum).
 * A non-zero count means the simulator and the client disagree on the taxonomy.
 */
size_t llm_sim_call_enum_mismatches(const llm_sim_call_t *call, const kc_taxonomy_t *tx);

/** @brief Draw the call's faults from the configured rates. */
void llm_sim_faults_draw(const llm_sim_conf_t *conf, llm_sim_rng_t *rng, llm_sim_faults_t *faults);

/**
 * @brief The assistant message content for a labelled call, with the drawn
 * content faults applied (faults->invalid_cnt is filled in). NULL on ENOMEM.
 */
char *llm_sim_content_build(const llm_sim_call_t *call, const kc_taxonomy_t *tx,
                            const llm_sim_conf_t *conf, llm_sim_rng_t *rng,
                            llm_sim_faults_t *faults);

/** @brief The full chat.completion body. NULL on ENOMEM. */
char *llm_sim_completion_build(uint64_t call_no, const char *model, const char *content,
                               int64_t prompt_tokens, int64_t completion_tokens);

/** @brief An OpenAI-style error body {"error":{message,type,param,code}}. NULL on ENOMEM. */
char *llm_sim_error_build(const char *message, const char *type, const char *code);

/* ------------------------------------------------------------------ http */

struct MHD_Daemon;

/** @brief Start the daemon on conf.bind:conf.port. NULL with errstr set on failure. */
struct MHD_Daemon *llm_sim_http_start(llm_sim_t *sim, char *errstr, size_t errstr_size);

/** @brief The port the daemon listens on, or 0. */
int llm_sim_http_port(struct MHD_Daemon *daemon);

void llm_sim_stats_init(llm_sim_stats_t *stats);
void llm_sim_stats_destroy(llm_sim_stats_t *stats);

#endif
