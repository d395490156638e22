/**
 * @file kc_buf.h
 * @brief A growable byte buffer, used by the encoders.
 */
#ifndef KC_BUF_H
#define KC_BUF_H

#include <stddef.h>

typedef struct kc_buf_s {
    char *data;  /**< owned; always NUL-terminated after an append */
    size_t len;  /**< bytes used, excluding the terminating NUL */
    size_t size; /**< bytes allocated */
} kc_buf_t;

/** @brief Initialise an empty buffer (no allocation). */
void kc_buf_init(kc_buf_t *buf);
/** @brief Free the buffer's memory; the buffer is empty and reusable afterwards. */
void kc_buf_free(kc_buf_t *buf);
/** @brief Forget the contents but keep the allocation. */
void kc_buf_reset(kc_buf_t *buf);
/** @brief Make room for at least `extra` more bytes. @returns 0 or KC_ERR_NOMEM. */
int kc_buf_reserve(kc_buf_t *buf, size_t extra);
/** @brief Append `len` bytes. @returns 0 or KC_ERR_NOMEM. */
int kc_buf_append(kc_buf_t *buf, const void *data, size_t len);
/** @brief Append a NUL-terminated string. @returns 0 or KC_ERR_NOMEM. */
int kc_buf_puts(kc_buf_t *buf, const char *s);
/** @brief Append printf-formatted text. @returns 0 or KC_ERR_NOMEM. */
int kc_buf_printf(kc_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
