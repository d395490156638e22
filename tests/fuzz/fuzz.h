/**
 * @file fuzz.h
 * @brief Shared bits of the libFuzzer targets in tests/fuzz/ (built by
 * scripts/fuzz.sh, never by the main build).
 *
 * A target checks more than "no crash": where a decoder has an inverse, what
 * decodes must survive a round trip unchanged, and FUZZ_CHECK aborts (so
 * libFuzzer saves the input as a crash) when such a property fails.
 */
#ifndef KC_FUZZ_H
#define KC_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/** NULL-aware string equality for optional fields. */
static inline int fuzz_streq(const char *a, const char *b)
{
    if (!a || !b) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

#endif
