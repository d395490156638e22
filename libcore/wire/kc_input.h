/**
 * @file kc_input.h
 * @brief Producer input lines -> kc_request_t. Pure: no I/O.
 *
 * A line is either a plain query (the whole line, line terminator removed) or,
 * when its first non-blank character is '{', a JSON object:
 *
 *     {"query": "...", "request_id": "...", "priority": "LOW|NORMAL|HIGH",
 *      "deadline_ms": 250, "cache_policy": "USE|REFRESH|BYPASS",
 *      "reply_topic": "...", "context": {"k": "v", ...}}
 *
 * Only `query` is required; unknown fields are rejected so typos do not pass
 * silently. Lines holding only whitespace carry no request.
 */
#ifndef KC_INPUT_H
#define KC_INPUT_H

#include "kc_types.h"

#include <stddef.h>

/**
 * @brief Parse one input line.
 * @param line the line, with or without its "\n" / "\r\n" terminator; need not
 *        be NUL-terminated. A plain line is taken byte for byte (it may even be
 *        invalid UTF-8: the worker answers such queries with status ERROR).
 * @param req zeroed on entry. On success it owns every string it points to
 *        (release with kc_request_clear()); request_id is NULL unless the JSON
 *        gave one, created_at is 0: the caller fills both. Absent fields get
 *        the schema defaults (NORMAL, deadline 0, USE, no reply topic, empty
 *        context).
 * @returns 0; KC_ERR_NOTFOUND for a blank line (skip it); KC_ERR_INVALID with
 *          errstr set for a malformed JSON line; KC_ERR_NOMEM. req is left
 *          cleared unless 0 is returned.
 */
int kc_input_parse_line(const char *line, size_t len, kc_request_t *req, char *errstr,
                        size_t errstr_size);

/** @brief true if name is a legal Kafka topic name (1..249 of [A-Za-z0-9._-], not "." or ".."). */
bool kc_input_topic_valid(const char *name);

/**
 * @brief true if topic is named by `allowed`: a comma-separated list of topic
 * names, where an entry ending in `*` matches every name that starts with
 * what comes before it (`*` alone: any name). Spaces around entries are
 * ignored. Pure.
 */
bool kc_input_topic_allowed(const char *allowed, const char *topic);

#endif
