/**
 * @file kc_uuid.h
 * @brief Random (version 4) UUIDs, the default request id.
 *
 * Text form: 8-4-4-4-12 lowercase hex digits, e.g.
 * "f47ac10b-58cc-4372-a567-0e02b2c3d479" (version nibble 4, variant 10xx).
 */
#ifndef KC_UUID_H
#define KC_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_UUID_STR_SIZE 37 /**< 36 characters + NUL */

/**
 * @brief Format 16 random bytes as a UUIDv4. Pure.
 * @remark The version and variant bits are forced, so 122 bits of the input
 *         are used.
 */
void kc_uuid_v4_format(const uint8_t bytes[16], char out[KC_UUID_STR_SIZE]);

/**
 * @brief A new UUIDv4 from the kernel's CSPRNG (getrandom(2)).
 * @returns 0, or KC_ERR_IO with errstr set if no randomness could be read.
 */
int kc_uuid_v4(char out[KC_UUID_STR_SIZE], char *errstr, size_t errstr_size);

/**
 * @brief 64 random bits from getrandom(2) (time and pid if it fails): the
 * seed of in-process hash tables, so that keys crafted to collide cannot be
 * computed from outside.
 */
uint64_t kc_random_seed(void);

/** @brief true if s is a lowercase, hyphenated UUID with version 4 and variant 10xx. */
bool kc_uuid_v4_valid(const char *s);

#endif
