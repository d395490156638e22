#include "kc_uuid.h"
#include "kc_err.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Offsets of the hyphens in the 36-character text form. */
static bool is_hyphen_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

void kc_uuid_v4_format(const uint8_t bytes[16], char out[KC_UUID_STR_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    size_t o = 0;

    memcpy(b, bytes, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < 16; i++) {
        if (is_hyphen_pos(o)) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0F];
    }
    out[o] = '\0';
}

/* getrandom() may return short reads for large requests or be interrupted by a signal. */
static int read_random(void *vbuf, size_t len)
{
    uint8_t *buf = vbuf;
    size_t got = 0;

    while (got < len) {
        ssize_t r = getrandom(buf + got, len - got, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        got += (size_t)r;
    }
    return 0;
}

uint64_t kc_random_seed(void)
{
    uint64_t seed;
    struct timespec ts;

    if (read_random(&seed, sizeof(seed)) == 0) {
        return seed;
    }
    /* No kernel randomness (a seccomp filter?): still differs per process. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
}

int kc_uuid_v4(char out[KC_UUID_STR_SIZE], char *errstr, size_t errstr_size)
{
    uint8_t b[16];
    int err = read_random(b, sizeof(b));

    if (err) {
        out[0] = '\0';
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "getrandom: %s", strerror(err));
    }
    kc_uuid_v4_format(b, out);
    return 0;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool kc_uuid_v4_valid(const char *s)
{
    if (!s || strlen(s) != KC_UUID_STR_SIZE - 1) {
        return false;
    }
    for (size_t i = 0; i < KC_UUID_STR_SIZE - 1; i++) {
        if (is_hyphen_pos(i) ? s[i] != '-' : !is_lower_hex(s[i])) {
            return false;
        }
    }
    return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}
