/**
 * @file kc_time.h
 * @brief Clocks: wall time for wire timestamps, monotonic time for timers.
 */
#ifndef KC_TIME_H
#define KC_TIME_H

#include <stdint.h>
#include <time.h>

/** @brief Wall-clock time in microseconds since the Unix epoch. */
static inline int64_t kc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/** @brief Monotonic time in microseconds, for timers and durations. */
static inline int64_t kc_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
