/**
 * @file kc_avro_check.h
 * @brief Structural validation of an Avro binary body against a schema.
 *
 * Used by kc_avro.c before it hands bytes to avro-c, which trusts length
 * prefixes and enum indexes. Pure: no allocation, no I/O.
 */
#ifndef KC_AVRO_CHECK_H
#define KC_AVRO_CHECK_H

#include <avro.h>

#include <stddef.h>

/**
 * @brief Check that body holds exactly one well-formed datum of schema.
 *
 * Checks varints (int at most 5 bytes and 32 bits, long at most 10 bytes),
 * string/bytes lengths (not negative, within the remaining bytes), enum and
 * union indexes (in range), booleans (0 or 1), map/array blocks (counts
 * bounded by the remaining bytes, byte sizes of negative-count blocks
 * matching their items), and that no bytes follow the datum.
 *
 * @param schema   the writer's schema (records, enums, unions, maps, ...)
 * @param rec_name name used in messages ("ClassificationRequest")
 * @returns 0, or KC_ERR_DECODE with errstr naming the field and body offset,
 *          e.g. "ClassificationRequest field 'query' at body offset 3:
 *          truncated string: length 20 exceeds the 4 remaining bytes".
 * @remark Arrays of zero-byte items (null) with more items than remaining
 *         bytes are rejected: the bound is what keeps decoding linear.
 */
int kc_avro_check_body(avro_schema_t schema, const char *rec_name, const void *body, size_t len,
                       char *errstr, size_t errstr_size);

#endif
