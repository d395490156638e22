/* Offset metadata of exactly-once mode: the answered records above a
 * committed offset, as run-length ranges (kc_offmeta.h). */
#include "kc_offmeta.h"
#include "kc_err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long kc_offmeta_encode(int64_t base, const int64_t *done, size_t n, char *buf, size_t size)
{
    size_t len = strlen(KC_OFFMETA_PREFIX);
    int64_t prev_end = base; /* one past the previous range */

    if (size <= len) {
        return -1;
    }
    memcpy(buf, KC_OFFMETA_PREFIX, len + 1);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int w;
        if (done[i] < prev_end) {
            return -1; /* unsorted, duplicate or below base */
        }
        while (j < n && done[j] == done[j - 1] + 1) {
            j++;
        }
        w = snprintf(buf + len, size - len, "%s%lld+%zu", i ? "," : "",
                     (long long)(done[i] - prev_end), j - i);
        if (w < 0 || (size_t)w >= size - len) {
            return -1;
        }
        len += (size_t)w;
        prev_end = done[j - 1] + 1;
        i = j;
    }
    return (long)len;
}

/* A decimal number at *p (no sign), advancing *p; false if none or too big. */
static bool number(const char **p, const char *end, int64_t *v)
{
    const char *s = *p;
    int64_t x = 0;

    if (s == end || *s < '0' || *s > '9') {
        return false;
    }
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (x > (INT64_MAX - 9) / 10) {
            return false;
        }
        x = x * 10 + (*s - '0');
    }
    *p = s;
    *v = x;
    return true;
}

static int push(int64_t **arr, size_t *cnt, size_t *cap, int64_t off)
{
    if (*cnt == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        int64_t *p = realloc(*arr, ncap * sizeof(*p));
        if (!p) {
            return KC_ERR_NOMEM;
        }
        *arr = p;
        *cap = ncap;
    }
    (*arr)[(*cnt)++] = off;
    return 0;
}

long kc_offmeta_encode_fit(int64_t base, const int64_t *done, size_t n, char *buf, size_t size,
                           size_t *used)
{
    long len = kc_offmeta_encode(base, done, n, buf, size);
    size_t lo = 0, hi = n;

    *used = n;
    if (len >= 0 || n == 0) {
        return len;
    }
    /* A shorter prefix never encodes longer: search the longest that fits. */
    while (lo + 1 < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kc_offmeta_encode(base, done, mid, buf, size) >= 0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    *used = lo;
    return kc_offmeta_encode(base, done, lo, buf, size);
}

long kc_offmeta_decode(int64_t base, const char *meta, size_t len, size_t max_offsets,
                       int64_t **out)
{
    size_t plen = strlen(KC_OFFMETA_PREFIX), cnt = 0, cap = 0;
    const char *p = meta + plen, *end = meta + len;
    int64_t prev_end = base, *arr = NULL;
    int rc = KC_ERR_INVALID;

    *out = NULL;
    if (!meta || len < plen || memcmp(meta, KC_OFFMETA_PREFIX, plen) != 0 || base < 0) {
        return 0;
    }
    while (p < end) {
        int64_t gap, n;
        if ((cnt > 0 && *p++ != ',') || !number(&p, end, &gap) || p == end || *p++ != '+' ||
            !number(&p, end, &n) || n < 1 || gap > INT64_MAX - prev_end ||
            n > INT64_MAX - prev_end - gap || (size_t)n > max_offsets - cnt) {
            goto fail;
        }
        for (int64_t k = 0; k < n; k++) {
            if ((rc = push(&arr, &cnt, &cap, prev_end + gap + k)) != 0) {
                goto fail;
            }
        }
        prev_end += gap + n;
        rc = KC_ERR_INVALID;
    }
    *out = arr;
    return (long)cnt;
fail:
    free(arr);
    return rc;
}
