/*
 * kclassify - the stderr log sink of the programs in consumer/ (libcore never
 * prints: it hands lines to kc_log_set()'s callback, installed here).
 *
 * One schema for every program:
 *   text  "% 2026-12-03T15:30:58.123Z INFO message"
 *   json  {"ts":"2026-12-03T15:30:58.123Z","level":"INFO","program":"kclassify-worker","msg":"..."}
 * A message may carry requester- or LLM-supplied strings: control characters
 * (newlines included) are escaped in both forms, and invalid UTF-8 bytes too,
 * so a line stays one line and one valid JSON object.
 */
#ifndef PROG_LOG_H
#define PROG_LOG_H

#include "kc_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * @brief Format one log line (with its newline) into out. Pure.
 * @returns the length written (truncated to fit, an over-long message ends in
 *          "..." and stays valid JSON).
 */
size_t prog_log_format(char *out, size_t size, bool json, const char *program, int64_t now_us,
                       kc_log_level_t level, const char *msg);

/**
 * @brief Install the stderr sink: level_name error|warn|info|debug (level_override
 *        wins when non-zero, for -v/-q), format text|json.
 * @returns 0, or -1 with a message on stderr for an unknown level or format.
 */
int prog_log_setup(const char *program, const char *level_name, const char *format,
                   kc_log_level_t level_override);

#endif
