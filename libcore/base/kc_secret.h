/**
 * @file kc_secret.h
 * @brief Reading a secret (an API key) from a file that only its owner may read.
 */
#ifndef KC_SECRET_H
#define KC_SECRET_H

#include <stddef.h>

/**
 * @brief Read the first line of path into out (NUL-terminated, trailing
 * whitespace removed).
 * @returns 0; KC_ERR_IO if unreadable; KC_ERR_CONFIG if group or others may
 *          read or write it (mode must be 0600 or stricter) or it is empty;
 *          KC_ERR_TOOBIG if it does not fit. errstr never contains the secret.
 */
int kc_secret_read_file(const char *path, char *out, size_t out_size, char *errstr,
                        size_t errstr_size);

#endif
