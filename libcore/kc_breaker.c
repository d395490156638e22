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
    b->probe_out = false;
    b->opened = 0;
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
    if (b->consecutive >= b->failures) {
        trip(b, now);
    }
}

const char *kc_breaker_state_name(kc_breaker_state_t s)
{
    return s == KC_BREAKER_CLOSED ? "closed" : s == KC_BREAKER_OPEN ? "open" : "half_open";
}

void kc_aimd_init(kc_aimd_t *a, int max)
{
    a->max = max > 0 ? max : 1;
    a->limit = a->max;
    a->successes = 0;
    a->decreases = a->increases = 0;
}

void kc_aimd_record(kc_aimd_t *a, bool congestion, bool success)
{
    if (congestion) {
        a->limit = a->limit / 2 > 1 ? a->limit / 2 : 1;
        a->successes = 0;
        a->decreases++;
    } else if (success && ++a->successes >= a->limit) {
        a->successes = 0;
        if (a->limit < a->max) {
            a->limit++;
            a->increases++;
        }
    }
}
