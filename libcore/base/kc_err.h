/**
 * @file kc_err.h
 * @brief Error codes shared by every libcore module.
 *
 * libcore functions return 0 on success or a negative KC_ERR_* code, and
 * write details into a caller-supplied `errstr` buffer. Expected outcomes
 * (a cache miss) are codes too, not failures.
 */
#ifndef KC_ERR_H
#define KC_ERR_H

#include <stddef.h>

#define KC_OK           0
#define KC_ERR_NOTFOUND -1  /**< expected: key not present (cache miss) */
#define KC_ERR_INVALID  -2  /**< invalid argument or input */
#define KC_ERR_NOMEM    -3  /**< allocation failed */
#define KC_ERR_DECODE   -4  /**< input could not be decoded */
#define KC_ERR_ENCODE   -5  /**< value could not be encoded */
#define KC_ERR_CONFIG   -6  /**< bad configuration */
#define KC_ERR_IO       -7  /**< file or socket error */
#define KC_ERR_TOOBIG   -8  /**< input larger than the allowed maximum */
#define KC_ERR_FULL     -9  /**< queue or table full: retry later */
#define KC_ERR_KAFKA    -10 /**< Kafka client error */
#define KC_ERR_LLM      -11 /**< LLM call failed */
#define KC_ERR_TIMEOUT  -12 /**< operation timed out */
#define KC_ERR_STATE    -13 /**< call not valid in this state */
#define KC_ERR_ORDER    -14 /**< accepted, but out of the expected order (a warning) */

/**
 * @brief Human-readable name of a KC_ERR_* code (or of a positive errno).
 * @returns a static string, never NULL.
 */
const char *kc_strerror(int err);

/**
 * @brief printf into errstr when errstr is non-NULL and errstr_size > 0.
 * @returns err, so callers can `return kc_seterr(...)`.
 */
int kc_seterr(int err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
