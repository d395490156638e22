/*
 * Offset watermark: a growable ring buffer of {offset, done} in tracking
 * (increasing) order. Offsets need not be contiguous (compaction and
 * transaction markers leave gaps), so done() binary-searches the ring
 * instead of indexing by offset - base. committable() pops the done prefix.
 */
#include "kc_wm.h"
#include "kc_err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WM_INITIAL_CAP 64 /* power of two */

typedef struct wm_slot_s {
    int64_t offset;
    bool done;
} wm_slot_t;

struct kc_wm_s {
    wm_slot_t *slots;
    size_t cap;  /* power of two */
    size_t head; /* ring index of the oldest pending offset */
    size_t cnt;
    int64_t last_tracked; /* -1: none since creation/reset */
};

static wm_slot_t *slot_at(const kc_wm_t *wm, size_t i)
{
    return &wm->slots[(wm->head + i) & (wm->cap - 1)];
}

kc_wm_t *kc_wm_new(void)
{
    kc_wm_t *wm = calloc(1, sizeof(*wm));

    if (!wm) {
        return NULL;
    }
    if (!(wm->slots = malloc(WM_INITIAL_CAP * sizeof(*wm->slots)))) {
        free(wm);
        return NULL;
    }
    wm->cap = WM_INITIAL_CAP;
    wm->last_tracked = -1;
    return wm;
}

void kc_wm_destroy(kc_wm_t *wm)
{
    if (!wm) {
        return;
    }
    free(wm->slots);
    free(wm);
}

/* Double the ring, unwrapping it so head is 0 again. */
static int wm_grow(kc_wm_t *wm)
{
    size_t ncap = wm->cap * 2;
    wm_slot_t *ns;
    size_t first;

    if (ncap > SIZE_MAX / sizeof(*ns) || !(ns = malloc(ncap * sizeof(*ns)))) {
        return KC_ERR_NOMEM;
    }
    first = wm->cap - wm->head; /* slots from head to the physical end */
    if (first > wm->cnt) {
        first = wm->cnt;
    }
    memcpy(ns, wm->slots + wm->head, first * sizeof(*ns));
    memcpy(ns + first, wm->slots, (wm->cnt - first) * sizeof(*ns));
    free(wm->slots);
    wm->slots = ns;
    wm->cap = ncap;
    wm->head = 0;
    return 0;
}

/* First logical index whose offset is >= offset (cnt if none). */
static size_t lower_bound(const kc_wm_t *wm, int64_t offset)
{
    size_t lo = 0, hi = wm->cnt;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slot_at(wm, mid)->offset < offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int kc_wm_track(kc_wm_t *wm, int64_t offset)
{
    size_t at;

    /* -1 is the "nothing to commit" sentinel and INT64_MAX + 1 overflows. */
    if (offset < 0 || offset == INT64_MAX) {
        return KC_ERR_INVALID;
    }
    at = wm->cnt > 0 && offset > slot_at(wm, wm->cnt - 1)->offset ? wm->cnt
                                                                  : lower_bound(wm, offset);
    if (at < wm->cnt && slot_at(wm, at)->offset == offset) {
        return KC_ERR_STATE; /* delivered twice: one slot answers for both */
    }
    if (wm->cnt == wm->cap && wm_grow(wm)) {
        return KC_ERR_NOMEM;
    }
    /* Out of order (the fetch position went back): shift the tail up one so
     * the offset waits in order; the committable offset must not pass it. */
    for (size_t i = wm->cnt; i > at; i--) {
        *slot_at(wm, i) = *slot_at(wm, i - 1);
    }
    slot_at(wm, at)->offset = offset;
    slot_at(wm, at)->done = false;
    wm->cnt++;
    if (offset <= wm->last_tracked) {
        return KC_WM_OUT_OF_ORDER;
    }
    wm->last_tracked = offset;
    return 0;
}

int kc_wm_done(kc_wm_t *wm, int64_t offset)
{
    size_t lo = lower_bound(wm, offset);

    if (lo == wm->cnt || slot_at(wm, lo)->offset != offset) {
        return KC_ERR_NOTFOUND;
    }
    /* A duplicate reply for a pending offset is harmless: stay idempotent. */
    slot_at(wm, lo)->done = true;
    return 0;
}

int64_t kc_wm_committable(kc_wm_t *wm)
{
    int64_t last = -1;

    while (wm->cnt > 0 && slot_at(wm, 0)->done) {
        last = slot_at(wm, 0)->offset;
        wm->head = (wm->head + 1) & (wm->cap - 1);
        wm->cnt--;
    }
    return last < 0 ? -1 : last + 1;
}

int64_t kc_wm_first_pending(const kc_wm_t *wm)
{
    return wm->cnt > 0 ? slot_at(wm, 0)->offset : -1;
}

size_t kc_wm_done_list(const kc_wm_t *wm, int64_t *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < wm->cnt; i++) {
        if (slot_at(wm, i)->done) {
            if (n < max) {
                out[n] = slot_at(wm, i)->offset;
            }
            n++;
        }
    }
    return n;
}

size_t kc_wm_pending(const kc_wm_t *wm)
{
    return wm->cnt;
}

void kc_wm_reset(kc_wm_t *wm)
{
    /* The partition may come back at an earlier offset: forget the order too. */
    wm->head = 0;
    wm->cnt = 0;
    wm->last_tracked = -1;
}
