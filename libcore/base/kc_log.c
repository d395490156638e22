#include "kc_log.h"

#include <stdarg.h>
#include <stdio.h>

static kc_log_cb *log_cb;
static void *log_opaque;
static kc_log_level_t log_max = KC_LOG_INFO;

void kc_log_set(kc_log_cb *cb, void *opaque, kc_log_level_t max_level)
{
    log_cb = cb;
    log_opaque = opaque;
    log_max = max_level;
}

int kc_log_enabled(kc_log_level_t level)
{
    return log_cb && level <= log_max;
}

void kc_log(kc_log_level_t level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!kc_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_cb(log_opaque, level, line);
}

const char *kc_log_level_name(kc_log_level_t level)
{
    switch (level) {
    case KC_LOG_ERROR:
        return "ERROR";
    case KC_LOG_WARN:
        return "WARN";
    case KC_LOG_INFO:
        return "INFO";
    default:
        return "DEBUG";
    }
}
