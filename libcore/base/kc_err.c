#include "kc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kc_strerror(int err)
{
    switch (err) {
    case KC_OK:
        return "Success";
    case KC_ERR_NOTFOUND:
        return "Not found";
    case KC_ERR_INVALID:
        return "Invalid argument";
    case KC_ERR_NOMEM:
        return "Out of memory";
    case KC_ERR_DECODE:
        return "Decode error";
    case KC_ERR_ENCODE:
        return "Encode error";
    case KC_ERR_CONFIG:
        return "Configuration error";
    case KC_ERR_IO:
        return "I/O error";
    case KC_ERR_TOOBIG:
        return "Too large";
    case KC_ERR_FULL:
        return "Full";
    case KC_ERR_KAFKA:
        return "Kafka error";
    case KC_ERR_LLM:
        return "LLM error";
    case KC_ERR_TIMEOUT:
        return "Timed out";
    case KC_ERR_STATE:
        return "Invalid state";
    case KC_ERR_ORDER:
        return "Out of order";
    default:
        return err > 0 ? strerror(err) : "Unknown error";
    }
}

int kc_seterr(int err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    if (errstr && errstr_size > 0) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
