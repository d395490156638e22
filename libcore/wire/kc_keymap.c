#include "kc_keymap.h"
#include "kc_err.h"
#include "kc_uuid.h"

#include <stdlib.h>

typedef struct slot_s {
    kc_key_t key;
    void *value; /* NULL = empty */
} slot_t;

struct kc_keymap_s {
    slot_t *slots;
    size_t mask;
    size_t cnt;
    uint64_t seed; /* per table, random: slots cannot be aimed at from outside */
};

/* The slot a key's probe run starts at. Keys are hashes of requester text
 * under a known seed, so their own bits could be searched for collisions;
 * a keyed hash of them cannot. */
static size_t home_of(const kc_keymap_t *km, const kc_key_t *key)
{
    return (size_t)kc_hash64(key, sizeof(*key), km->seed) & km->mask;
}

kc_keymap_t *kc_keymap_new(size_t initial)
{
    kc_keymap_t *km = calloc(1, sizeof(*km));
    size_t size = 16;

    if (!km) {
        return NULL;
    }
    while (size < initial * 2) {
        size *= 2;
    }
    km->slots = calloc(size, sizeof(slot_t));
    if (!km->slots) {
        free(km);
        return NULL;
    }
    km->mask = size - 1;
    km->seed = kc_random_seed();
    return km;
}

void kc_keymap_destroy(kc_keymap_t *km)
{
    if (km) {
        free(km->slots);
        free(km);
    }
}

static size_t find_slot(const kc_keymap_t *km, const kc_key_t *key)
{
    size_t i = home_of(km, key);

    while (km->slots[i].value && !kc_key_eq(&km->slots[i].key, key)) {
        i = (i + 1) & km->mask;
    }
    return i;
}

void *kc_keymap_get(const kc_keymap_t *km, const kc_key_t *key)
{
    return km->slots[find_slot(km, key)].value;
}

static int grow(kc_keymap_t *km)
{
    size_t old_size = km->mask + 1;
    slot_t *old = km->slots;

    km->slots = calloc(old_size * 2, sizeof(slot_t));
    if (!km->slots) {
        km->slots = old;
        return KC_ERR_NOMEM;
    }
    km->mask = old_size * 2 - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].value) {
            km->slots[find_slot(km, &old[i].key)] = old[i];
        }
    }
    free(old);
    return 0;
}

int kc_keymap_put(kc_keymap_t *km, const kc_key_t *key, void *value)
{
    size_t i;

    if ((km->cnt + 1) * 2 > km->mask + 1 && grow(km) != 0) {
        return KC_ERR_NOMEM;
    }
    i = find_slot(km, key);
    if (!km->slots[i].value) {
        km->cnt++;
    }
    km->slots[i].key = *key;
    km->slots[i].value = value;
    return 0;
}

void *kc_keymap_del(kc_keymap_t *km, const kc_key_t *key)
{
    size_t i = find_slot(km, key), j = i;
    void *value = km->slots[i].value;

    if (!value) {
        return NULL;
    }
    km->slots[i].value = NULL;
    km->cnt--;
    /* Backward-shift: move later members of the probe run into the hole so
     * lookups never stop early at it. */
    for (;;) {
        size_t home;
        j = (j + 1) & km->mask;
        if (!km->slots[j].value) {
            break;
        }
        home = home_of(km, &km->slots[j].key);
        if (((j - home) & km->mask) >= ((j - i) & km->mask)) {
            km->slots[i] = km->slots[j];
            km->slots[j].value = NULL;
            i = j;
        }
    }
    return value;
}

size_t kc_keymap_probe_max(const kc_keymap_t *km)
{
    size_t max = 0;

    for (size_t j = 0; j <= km->mask; j++) {
        if (km->slots[j].value) {
            size_t d = (j - home_of(km, &km->slots[j].key)) & km->mask;
            max = d > max ? d : max;
        }
    }
    return max;
}

size_t kc_keymap_count(const kc_keymap_t *km)
{
    return km->cnt;
}

void *kc_keymap_pop(kc_keymap_t *km)
{
    for (size_t i = 0; km->cnt > 0 && i <= km->mask; i++) {
        if (km->slots[i].value) {
            kc_key_t key = km->slots[i].key;
            return kc_keymap_del(km, &key);
        }
    }
    return NULL;
}
