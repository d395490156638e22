/**
 * @file kc_avro.h
 * @brief Avro codec for the wire records, in the Schema Registry framing.
 *
 * Framing: byte 0 = 0x00 (magic), bytes 1-4 = big-endian schema id, then the
 * Avro binary body. Schemas are the files in schemas/, compiled in.
 * Built on avro-c. A codec is not thread-safe: one per thread.
 */
#ifndef KC_AVRO_H
#define KC_AVRO_H

#include "kc_buf.h"
#include "kc_types.h"

#include <stdint.h>

typedef struct kc_avro_s kc_avro_t;

#define KC_AVRO_DEFAULT_REQUEST_ID 1
#define KC_AVRO_DEFAULT_RESULT_ID  2
#define KC_AVRO_DEFAULT_ALERT_ID   3

/** @brief The compiled-in schema texts (JSON), NUL-terminated. */
extern const char *kc_avro_schema_request_json;
extern const char *kc_avro_schema_result_json;
extern const char *kc_avro_schema_alert_json;

/**
 * @brief Create a codec using the given schema ids for framing.
 * @returns the codec, or NULL with errstr set.
 */
kc_avro_t *kc_avro_new(int32_t request_id, int32_t result_id, char *errstr, size_t errstr_size);

/** @brief Destroy a codec. NULL-safe. */
void kc_avro_destroy(kc_avro_t *av);

/**
 * @brief Encode a request (framing included), appended to out.
 * @returns 0, or KC_ERR_ENCODE / KC_ERR_NOMEM with errstr set.
 */
int kc_avro_request_encode(kc_avro_t *av, const kc_request_t *req, kc_buf_t *out, char *errstr,
                           size_t errstr_size);

/**
 * @brief Decode a framed request.
 * @param req zeroed on entry; on success owns its strings (kc_request_clear()).
 * @returns 0, or KC_ERR_DECODE with a clear errstr ("unknown magic byte 0x05",
 *          "unknown schema id 7 (expected 1)", "truncated ..."); req is left
 *          cleared on error.
 */
int kc_avro_request_decode(kc_avro_t *av, const void *data, size_t len, kc_request_t *req,
                           char *errstr, size_t errstr_size);

/** @brief Encode a result (framing included), appended to out. */
int kc_avro_result_encode(kc_avro_t *av, const kc_result_t *res, kc_buf_t *out, char *errstr,
                          size_t errstr_size);

/** @brief Decode a framed result; same contract as kc_avro_request_decode(). */
int kc_avro_result_decode(kc_avro_t *av, const void *data, size_t len, kc_result_t *res,
                          char *errstr, size_t errstr_size);

#endif
