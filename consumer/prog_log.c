/* The programs' stderr log sink (see prog_log.h). */
#include "prog_log.h"

#include "kc_normalize.h"
#include "kc_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 8192

typedef struct {
    char *out;
    size_t size, len; /* size keeps room for the closing part */
    bool full;
} sink_t;

static void put(sink_t *s, const char *p, size_t n)
{
    if (s->full || s->len + n > s->size) {
        s->full = true;
        return;
    }
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

/* msg escaped: JSON string escapes, or \xNN in text; bad UTF-8 as \ufffd / \xNN. */
static void put_msg(sink_t *s, const char *msg, bool json)
{
    const unsigned char *p = (const unsigned char *)msg;
    size_t n = strlen(msg);
    char esc[8];

    while (n > 0 && !s->full) {
        size_t k = kc_utf8_seq_len((const char *)p, n);
        if (k == 1 && *p >= 0x20 && *p != 0x7F && (!json || (*p != '"' && *p != '\\'))) {
            put(s, (const char *)p, 1);
        } else if (k > 1) {
            put(s, (const char *)p, k);
        } else if (json && k == 1 && (*p == '"' || *p == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(s, esc, 2);
        } else if (json) {
            snprintf(esc, sizeof(esc), k ? "\\u%04x" : "\\ufffd", *p);
            put(s, esc, 6);
        } else {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            put(s, esc, 4);
        }
        k = k ? k : 1;
        p += k;
        n -= k;
    }
}

size_t prog_log_format(char *out, size_t size, bool json, const char *program, int64_t now_us,
                       kc_log_level_t level, const char *msg)
{
    const char *tail = json ? "\"}\n" : "\n", *more = "...";
    size_t reserve = strlen(tail) + strlen(more);
    char ts[40], head[160];
    time_t sec = (time_t)(now_us / 1000000);
    struct tm tm;
    sink_t s = {out, size > reserve + 1 ? size - reserve - 1 : 0, 0, false};

    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime_r(&sec, &tm));
    if (json) {
        snprintf(head, sizeof(head),
                 "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"program\":\"%s\",\"msg\":\"", ts,
                 (int)(now_us / 1000 % 1000), kc_log_level_name(level), program);
    } else { /* one program per stderr: text lines do not repeat its name */
        snprintf(head, sizeof(head), "%% %s.%03dZ %s ", ts, (int)(now_us / 1000 % 1000),
                 kc_log_level_name(level));
    }
    if (size == 0) {
        return 0;
    }
    put(&s, head, strlen(head));
    put_msg(&s, msg, json);
    s.size += reserve; /* the room kept for the closing part */
    if (s.full) {
        s.full = false;
        put(&s, more, strlen(more));
    }
    put(&s, tail, strlen(tail));
    out[s.len] = '\0';
    return s.len;
}

static const char *log_program;
static bool log_json;

static void sink(void *opaque, kc_log_level_t level, const char *msg)
{
    char line[LINE_MAX_BYTES];
    size_t n = prog_log_format(line, sizeof(line), log_json, log_program, kc_now_us(), level, msg);

    (void)opaque;
    fwrite(line, 1, n, stderr);
}

int prog_log_setup(const char *program, const char *level_name, const char *format,
                   kc_log_level_t level_override)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const kc_log_level_t levels[] = {KC_LOG_ERROR, KC_LOG_WARN, KC_LOG_INFO, KC_LOG_DEBUG};
    int level = -1;

    for (int i = 0; i < 4; i++) {
        if (strcmp(level_name, names[i]) == 0) {
            level = (int)levels[i];
        }
    }
    if (level < 0 || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)) {
        fprintf(stderr, "%% log.level must be error|warn|info|debug and log.format text|json\n");
        return -1;
    }
    log_program = program;
    log_json = strcmp(format, "json") == 0;
    kc_log_set(sink, NULL, level_override ? level_override : (kc_log_level_t)level);
    return 0;
}
