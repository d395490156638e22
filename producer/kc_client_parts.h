/*
 * kclassify - the client library's building blocks: the pending table and the
 * ordering buffer. Internal (not installed): kc_client*.c, kclassify-produce
 * and the unit tests use them.
 */
#ifndef KC_CLIENT_PARTS_H
#define KC_CLIENT_PARTS_H

#include "kc_client.h"

/** @brief One request waiting for its reply (owned by the client). */
typedef struct kc_waiter_s {
    struct kc_waiter_s *next; /**< next waiter with the same id (FIFO) */
    struct kc_waiter_s *tail; /**< in the first waiter of an id: the last one */
    size_t heap_pos;          /**< position in the deadline heap, KC_HEAP_NONE if absent */
    int64_t deadline_us;      /**< monotonic; 0 = none */
    int64_t sent_us;          /**< monotonic time of the send */
    kc_client_reply_cb_t *cb;
    void *opaque;
    bool in_table; /**< still waiting (in the pending table) */
    bool done;     /**< callback called (or being called) */
    bool dr_seen;  /**< delivery report served: nothing refers to it any more */
    char id[];
} kc_waiter_t;

/**
 * @brief The pending table: request_id -> FIFO of waiters, plus a deadline
 *        heap. Pure and not thread-safe: the client holds its mutex around it.
 */
typedef struct kc_pending_s kc_pending_t;

kc_pending_t *kc_pending_new(void);
/** @brief Free the table (not the waiters still in it: kc_pending_pop_any() them first). */
void kc_pending_destroy(kc_pending_t *pt);
/** @brief A new waiter for id (zeroed but for id and heap_pos). @returns NULL on ENOMEM. */
kc_waiter_t *kc_waiter_new(const char *id);
/** @brief Append w to the FIFO of its id; into the deadline heap if it has one. */
int kc_pending_add(kc_pending_t *pt, kc_waiter_t *w);
/** @brief The oldest waiter for id, removed; NULL if none. */
kc_waiter_t *kc_pending_take(kc_pending_t *pt, const char *id);
/** @brief Remove a waiter that is in the table. */
void kc_pending_remove(kc_pending_t *pt, kc_waiter_t *w);
/** @brief One waiter whose deadline is <= now_us, removed; NULL if none. */
kc_waiter_t *kc_pending_expire(kc_pending_t *pt, int64_t now_us);
/** @brief The earliest deadline (monotonic us), or 0 when none. */
int64_t kc_pending_next_deadline(const kc_pending_t *pt);
/** @brief Any waiter, removed (teardown); NULL when empty. */
kc_waiter_t *kc_pending_pop_any(kc_pending_t *pt);
/** @brief Waiters in the table. */
size_t kc_pending_count(const kc_pending_t *pt);
/** @brief true if id has a waiter. */
bool kc_pending_has(const kc_pending_t *pt, const char *id);

/**
 * @brief An ordering buffer: items complete in any order and come out in the
 *        order their sequence numbers were reserved. Holds at most `capacity`
 *        reserved-but-not-popped items, which is what bounds memory. Pure.
 */
typedef struct kc_order_s kc_order_t;

kc_order_t *kc_order_new(size_t capacity);
/** @brief Free the buffer, passing every item still held to free_fn (if not NULL). */
void kc_order_destroy(kc_order_t *ob, void (*free_fn)(void *item));
/** @brief Reserve the next sequence number. @returns 0 or KC_ERR_FULL. */
int kc_order_reserve(kc_order_t *ob, uint64_t *seq);
/** @brief Complete seq with item (may be NULL). @returns 0, or KC_ERR_INVALID
 *         for a seq not reserved or already completed. */
int kc_order_fill(kc_order_t *ob, uint64_t seq, void *item);
/** @brief Pop the next item in order if it is complete. @returns true and *item. */
bool kc_order_pop(kc_order_t *ob, void **item);
/** @brief Reserved and not yet popped. */
size_t kc_order_held(const kc_order_t *ob);

#endif
