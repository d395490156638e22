/**
 * @file kc_log.h
 * @brief Logging hook: libcore never prints; it hands log lines to a callback
 * that the program's main() installs.
 */
#ifndef KC_LOG_H
#define KC_LOG_H

typedef enum {
    KC_LOG_ERROR = 3,
    KC_LOG_WARN = 4,
    KC_LOG_INFO = 6,
    KC_LOG_DEBUG = 7
} kc_log_level_t;

typedef void(kc_log_cb)(void *opaque, kc_log_level_t level, const char *msg);

/** @brief Install the process-wide log callback (NULL = discard) and level. */
void kc_log_set(kc_log_cb *cb, void *opaque, kc_log_level_t max_level);

/** @brief true if a line at this level would be delivered. */
int kc_log_enabled(kc_log_level_t level);

/** @brief Format and deliver one log line. */
void kc_log(kc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief Name of a level ("ERROR", ...). */
const char *kc_log_level_name(kc_log_level_t level);

#endif
