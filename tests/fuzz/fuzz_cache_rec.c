/*
 * libFuzzer target: kc_cache_rec_decode() over arbitrary bytes (LMDB and
 * Redis hold these records; another version or a corrupt store can hand the
 * worker anything). The layout is canonical (fixed widths, flags for absent
 * strings, no trailing bytes), so whatever decodes must re-encode to exactly
 * the input bytes.
 */
#include "fuzz.h"
#include "kc_buf.h"
#include "kc_cache_rec.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[256];
    kc_cache_rec_t rec;
    kc_buf_t buf;

    memset(&rec, 0, sizeof(rec));
    if (kc_cache_rec_decode(data, size, &rec, errstr, sizeof(errstr)) != 0) {
        return 0;
    }
    FUZZ_CHECK(size >= KC_CACHE_REC_MIN_SIZE, "decoded %zu bytes, below the minimum", size);
    FUZZ_CHECK(rec.category && rec.category_len > 0, "empty category decoded");
    kc_buf_init(&buf);
    int rc = kc_cache_rec_encode(&rec, &buf);
    FUZZ_CHECK(rc == 0, "re-encode of a decoded record: rc %d", rc);
    FUZZ_CHECK(buf.len == size && memcmp(buf.data, data, size) == 0,
               "re-encoded record differs (%zu vs %zu bytes)", buf.len, size);
    kc_buf_free(&buf);
    return 0;
}
