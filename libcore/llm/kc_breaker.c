#include "kc_breaker.h"

void kc_breaker_init(kc_breaker_t *b, int failures, int64_t open_us, int64_t open_max_us)
{
    b->state = KC_BREAKER_CLOSED;
    b->failures = failures > 0 ? failures : 1;
    b->open_base_us = open_us;
    b->open_max_us = open_max_us > open_us ? open_max_us : open_us;
    b->open_us = open_us;
    b->open_until = 0;
    b->consecutive = 0;
    b->recent = 0;
    b->recent_cnt = 0;
    b->probe_out = false;
    b->opened = 0;
}

static int popcount32(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1) {
        n++;
    }
    return n;
}

/* Most of the recent calls failed, not just the last few by chance. */
static bool mostly_failing(const kc_breaker_t *b)
{
    return popcount32(b->recent) * 5 >= b->recent_cnt * 4;
}

static void trip(kc_breaker_t *b, int64_t now)
{
    b->state = KC_BREAKER_OPEN;
    b->open_until = now + b->open_us;
    b->probe_out = false;
    b->opened++;
}

bool kc_breaker_allow(kc_breaker_t *b, int64_t now)
{
    switch (b->state) {
    case KC_BREAKER_CLOSED:
        return true;
    case KC_BREAKER_OPEN:
        if (now < b->open_until) {
            return false;
        }
        b->state = KC_BREAKER_HALF_OPEN;
        b->probe_out = true;
        return true;
    default:
        if (b->probe_out) {
            return false;
        }
        b->probe_out = true;
        return true;
    }
}

void kc_breaker_record(kc_breaker_t *b, bool success, int64_t now)
{
    if (b->state == KC_BREAKER_HALF_OPEN) {
        if (success) {
            b->state = KC_BREAKER_CLOSED;
            b->consecutive = 0;
            b->recent = 0;
            b->recent_cnt = 0;
            b->open_us = b->open_base_us;
        } else {
            /* The endpoint is still sick: wait longer before the next probe. */
            b->open_us = b->open_us * 2 < b->open_max_us ? b->open_us * 2 : b->open_max_us;
            trip(b, now);
        }
        b->probe_out = false;
        return;
    }
    if (b->state == KC_BREAKER_OPEN) {
        return; /* a call started before the trip: its outcome changes nothing */
    }
    b->consecutive = success ? 0 : b->consecutive + 1;
    b->recent = ((b->recent << 1) | !success) & ((1u << KC_BREAKER_WINDOW) - 1);
    b->recent_cnt += b->recent_cnt < KC_BREAKER_WINDOW;
    if (b->consecutive >= b->failures && (mostly_failing(b) || b->consecutive >= 2 * b->failures)) {
        trip(b, now);
    }
}

const char *kc_breaker_state_name(kc_breaker_state_t s)
{
    return s == KC_BREAKER_CLOSED ? "closed" : s == KC_BREAKER_OPEN ? "open" : "half_open";
}
