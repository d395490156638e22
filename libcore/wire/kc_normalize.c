#include "kc_normalize.h"
#include "kc_err.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

size_t kc_utf8_seq_len(const char *s, size_t avail)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    /* Reject overlong forms, surrogates and values beyond U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

bool kc_utf8_valid(const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = kc_utf8_seq_len(buf + i, len - i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int kc_query_normalize(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    bool pending_space = false;

    if (!kc_utf8_valid(in, len)) {
        *out_len = 0;
        out[0] = '\0';
        return KC_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_space(c)) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space) {
            out[o++] = ' ';
            pending_space = false;
        }
        out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    while (o > 0 &&
           (out[o - 1] == '?' || out[o - 1] == '.' || out[o - 1] == '!' || out[o - 1] == ' ')) {
        o--;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

kc_key_t kc_key_compute(const char *norm, size_t len, uint64_t taxonomy_version)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(norm, len, taxonomy_version);
    kc_key_t key = {h.high64, h.low64};
    return key;
}

void kc_key_hex(const kc_key_t *key, char out[KC_KEY_HEX_SIZE])
{
    snprintf(out, KC_KEY_HEX_SIZE, "%016llx%016llx", (unsigned long long)key->hi,
             (unsigned long long)key->lo);
}

uint64_t kc_hash64(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}
