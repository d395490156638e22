/**
 * @file kc_conf.h
 * @brief Declarative, table-driven configuration.
 *
 * Each component has one table of kc_conf_prop_t (key, type, default,
 * description, offset into its config struct). Properties files are
 * `key=value` lines, `#` comments and blank lines ignored, whitespace around
 * key and value trimmed. Keys starting with `kafka.` are collected verbatim
 * (prefix removed) for librdkafka. Unknown keys are an error naming file:line.
 */
#ifndef KC_CONF_H
#define KC_CONF_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    KC_CONF_STR, /**< char * (owned, strdup'd; "" allowed) */
    KC_CONF_INT, /**< int64_t, range-checked against min/max */
    KC_CONF_BOOL /**< int: true/false/1/0/yes/no/on/off */
} kc_conf_type_t;

typedef struct kc_conf_prop_s {
    const char *name;
    kc_conf_type_t type;
    const char *defval; /**< textual default, parsed like a file value */
    int64_t min, max;   /**< KC_CONF_INT only */
    size_t offset;      /**< offsetof(struct, field) */
    const char *desc;
} kc_conf_prop_t;

/** @brief Ordered list of `kafka.*` pass-through pairs (prefix stripped). */
typedef struct kc_conf_kv_list_s {
    char **keys;
    char **values;
    size_t cnt;
} kc_conf_kv_list_t;

/** @brief Set key on the list, replacing an existing value. @returns 0/KC_ERR_NOMEM. */
int kc_conf_kv_set(kc_conf_kv_list_t *kv, const char *key, const char *value);
/** @returns the value or NULL. */
const char *kc_conf_kv_get(const kc_conf_kv_list_t *kv, const char *key);
void kc_conf_kv_free(kc_conf_kv_list_t *kv);

/** @brief Apply every default of the table to obj. @returns 0 or an error. */
int kc_conf_defaults(const kc_conf_prop_t *props, void *obj, char *errstr, size_t errstr_size);

/**
 * @brief Set one property (`kafka.*` goes to kv, prefix stripped).
 * @returns 0, KC_ERR_CONFIG ("unknown configuration key 'x'",
 *          "llm.batch.max: 0 is below the minimum 1", "...: expected an integer").
 */
int kc_conf_set(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv, const char *key,
                const char *value, char *errstr, size_t errstr_size);

/** @brief Parse a `key=value` assignment (as given to -X). */
int kc_conf_set_assignment(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                           const char *assignment, char *errstr, size_t errstr_size);

/**
 * @brief Parse properties text. name is used in messages ("worker.conf:12: ...").
 * Pure: no I/O.
 */
int kc_conf_parse_buf(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                      const char *name, const char *text, size_t len, char *errstr,
                      size_t errstr_size);

/** @brief Read and parse a properties file. */
int kc_conf_parse_file(const kc_conf_prop_t *props, void *obj, kc_conf_kv_list_t *kv,
                       const char *path, char *errstr, size_t errstr_size);

/** @brief Free every KC_CONF_STR field of obj. */
void kc_conf_free(const kc_conf_prop_t *props, void *obj);

/** @brief Find a property by name, or NULL. The table ends with a {NULL} entry. */
const kc_conf_prop_t *kc_conf_find(const kc_conf_prop_t *props, const char *name);

#endif
