/**
 * @file kc_keymap.h
 * @brief A hash map from kc_key_t to a pointer: the worker's in-flight table.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), grows at 50% load. Not thread-safe.
 */
#ifndef KC_KEYMAP_H
#define KC_KEYMAP_H

#include "kc_normalize.h"

#include <stddef.h>

typedef struct kc_keymap_s kc_keymap_t;

kc_keymap_t *kc_keymap_new(size_t initial);
void kc_keymap_destroy(kc_keymap_t *km);

/** @returns the value or NULL. */
void *kc_keymap_get(const kc_keymap_t *km, const kc_key_t *key);

/** @brief Insert or replace. @returns 0 or KC_ERR_NOMEM. */
int kc_keymap_put(kc_keymap_t *km, const kc_key_t *key, void *value);

/** @brief Remove. @returns the removed value or NULL. */
void *kc_keymap_del(kc_keymap_t *km, const kc_key_t *key);

size_t kc_keymap_count(const kc_keymap_t *km);

/** @brief Longest distance of a member from its home slot (probe length - 1). */
size_t kc_keymap_probe_max(const kc_keymap_t *km);

/** @brief Remove and return any one value, or NULL when empty (for teardown). */
void *kc_keymap_pop(kc_keymap_t *km);

#endif
