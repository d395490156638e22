/**
 * @file kc_offmeta.h
 * @brief The metadata the worker commits with an offset in exactly-once mode:
 * which records above the committed offset were answered already.
 *
 * Replies complete out of order, but a committed offset only says "every
 * record below me is done". In a transaction, the replies of records above
 * it are committed too; the metadata names them, so the next owner of the
 * partition skips them instead of answering them twice.
 *
 * Text form (it must fit the broker's offset.metadata.max.bytes, 4096 by
 * default): "kc1;" then ranges "GAP+LEN" separated by ',', GAP counted from
 * the end of the previous range (the committed offset for the first), e.g.
 * offset 100 with {105,106,107,110}: "kc1;5+3,2+1". Pure code, no I/O.
 */
#ifndef KC_OFFMETA_H
#define KC_OFFMETA_H

#include <stddef.h>
#include <stdint.h>

/** The prefix of our metadata; a committed offset without it carries none. */
#define KC_OFFMETA_PREFIX "kc1;"

/**
 * @brief Encode the done offsets (sorted, unique, all >= base) into buf.
 * @returns the length written (without the NUL), or -1 if it does not fit in
 * size bytes (NUL included) or the offsets are not sorted above base.
 */
long kc_offmeta_encode(int64_t base, const int64_t *done, size_t n, char *buf, size_t size);

/**
 * @brief Encode as many of the done offsets as fit, lowest first.
 * @param used  receives how many of the n offsets the text lists.
 * @returns the length written, or -1 if not even the prefix fits or the
 * offsets are not sorted above base.
 */
long kc_offmeta_encode_fit(int64_t base, const int64_t *done, size_t n, char *buf, size_t size,
                           size_t *used);

/**
 * @brief Decode metadata committed with offset base.
 * @param out  receives a malloc'ed sorted array (NULL when there is none).
 * @returns the number of offsets (0 for empty or foreign metadata: not
 * ours), KC_ERR_INVALID for metadata of ours that is malformed, KC_ERR_NOMEM.
 * At most max_offsets offsets are accepted (KC_ERR_INVALID beyond).
 */
long kc_offmeta_decode(int64_t base, const char *meta, size_t len, size_t max_offsets,
                       int64_t **out);

#endif
