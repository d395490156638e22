/**
 * @file kc_taxonomy.h
 * @brief The category taxonomy: names, descriptions, fallback cues, prompt.
 *
 * The default (embedded) taxonomy routes clinical-metabolomics questions:
 * KNOWLEDGE_GRAPH, REAL_TIME, GENERAL. A taxonomy file (JSON, see
 * docs/taxonomy.md) replaces it. The system prompt is generated from the
 * taxonomy and is byte-identical for a given taxonomy.
 */
#ifndef KC_TAXONOMY_H
#define KC_TAXONOMY_H

#include <stddef.h>
#include <stdint.h>

#define KC_TAXONOMY_MIN_CATEGORIES 2
#define KC_TAXONOMY_MAX_CATEGORIES 64
#define KC_TAXONOMY_NAME_MAX       64        /**< longest category name, bytes */
#define KC_TAXONOMY_CUE_MAX        64        /**< longest cue, bytes */
#define KC_TAXONOMY_FILE_MAX       (1 << 20) /**< largest taxonomy file accepted */

typedef struct kc_category_s {
    char *name;        /**< e.g. "REAL_TIME"; [A-Z0-9_]+ */
    char *description; /**< one or two sentences, goes into the prompt */
    char **cues;       /**< fallback cues: lowercase words/phrases (a trailing "*" matches a
                          word prefix), or "@year>=N"; see docs/taxonomy.md */
    size_t cue_cnt;
} kc_category_t;

typedef struct kc_taxonomy_s {
    char *name;
    kc_category_t *categories;
    size_t category_cnt;
    size_t default_category; /**< fallback when no cue matches */
    char *system_prompt;     /**< generated, NUL-terminated; without the answer format,
                                  which the LLM layer appends (kc_llm_proto.h) */
    uint64_t version;        /**< hash of names, descriptions and prompt */
    char *instructions;      /**< optional extra prompt text, may be NULL */
} kc_taxonomy_t;

/**
 * @brief The embedded clinical-metabolomics taxonomy. NULL on ENOMEM.
 * @remark It goes through the same validation as a parsed file.
 */
kc_taxonomy_t *kc_taxonomy_new_default(void);

/**
 * @brief Parse a taxonomy from JSON text. Pure.
 * @returns NULL with errstr set on invalid input (no categories, duplicate
 *          or malformed names, unknown default, ...).
 */
kc_taxonomy_t *kc_taxonomy_parse(const char *json, size_t len, char *errstr, size_t errstr_size);

/**
 * @brief Read and parse a taxonomy file (at most KC_TAXONOMY_FILE_MAX bytes).
 * @returns NULL with errstr naming the path on I/O or validation errors.
 */
kc_taxonomy_t *kc_taxonomy_load(const char *path, char *errstr, size_t errstr_size);

/** @brief Free the taxonomy and everything it owns. NULL-safe. */
void kc_taxonomy_destroy(kc_taxonomy_t *tx);

/** @brief Index of the category with this exact name, or -1. */
int kc_taxonomy_find(const kc_taxonomy_t *tx, const char *name, size_t len);

/**
 * @brief Cache-key seed: the taxonomy version combined with the model name,
 * so changing either never serves stale answers.
 */
uint64_t kc_taxonomy_key_seed(const kc_taxonomy_t *tx, const char *model);

#endif
