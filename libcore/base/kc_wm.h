/**
 * @file kc_wm.h
 * @brief Per-partition offset watermark: which offset may be committed.
 *
 * Offsets are tracked in offset order (consumption order, normally increasing);
 * replies complete out of order. The committable offset is one past the highest offset below which
 * every tracked offset is done, so a crash re-delivers only unanswered work.
 */
#ifndef KC_WM_H
#define KC_WM_H

#include "kc_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kc_wm_s kc_wm_t;

kc_wm_t *kc_wm_new(void);
void kc_wm_destroy(kc_wm_t *wm);

/** kc_wm_track(): tracked, but below an offset tracked before (the fetch
 *  position went back); the committable offset will not pass it. A warning,
 *  negative like every libcore code (kc_strerror(): "Out of order"). */
#define KC_WM_OUT_OF_ORDER KC_ERR_ORDER

/**
 * @brief Start tracking an offset. Offsets normally increase; a lower one is
 * inserted in order.
 * @returns 0, KC_WM_OUT_OF_ORDER, KC_ERR_STATE if the offset is already
 * pending (delivered twice: one slot answers for both), KC_ERR_INVALID for a
 * negative offset or INT64_MAX, KC_ERR_NOMEM.
 */
int kc_wm_track(kc_wm_t *wm, int64_t offset);

/**
 * @brief Mark a tracked offset done.
 * @returns 0, KC_ERR_NOTFOUND if the offset is not tracked (or already released).
 */
int kc_wm_done(kc_wm_t *wm, int64_t offset);

/**
 * @brief The offset to commit (last contiguous done + 1), or -1 if nothing new.
 * Releases the done prefix. Each committable offset is returned once.
 */
int64_t kc_wm_committable(kc_wm_t *wm);

/** @brief The lowest tracked offset not yet released (-1 if none): call
 *  kc_wm_committable() first to release the done prefix. */
int64_t kc_wm_first_pending(const kc_wm_t *wm);

/**
 * @brief The done offsets still held (above a pending one), in order.
 * @returns how many there are; the first max of them are written to out.
 */
size_t kc_wm_done_list(const kc_wm_t *wm, int64_t *out, size_t max);

/** @brief Offsets tracked and not yet released. */
size_t kc_wm_pending(const kc_wm_t *wm);

/** @brief Forget everything (partition revoked). */
void kc_wm_reset(kc_wm_t *wm);

#endif
