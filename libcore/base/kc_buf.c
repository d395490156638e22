#include "kc_buf.h"
#include "kc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kc_buf_init(kc_buf_t *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->size = 0;
}

void kc_buf_free(kc_buf_t *buf)
{
    free(buf->data);
    kc_buf_init(buf);
}

void kc_buf_reset(kc_buf_t *buf)
{
    buf->len = 0;
    if (buf->data) {
        buf->data[0] = '\0';
    }
}

int kc_buf_reserve(kc_buf_t *buf, size_t extra)
{
    size_t need = buf->len + extra + 1;
    size_t size = buf->size ? buf->size : 256;
    char *p;

    if (need <= buf->size) {
        return 0;
    }
    while (size < need) {
        size *= 2;
    }
    p = realloc(buf->data, size);
    if (!p) {
        return KC_ERR_NOMEM;
    }
    buf->data = p;
    buf->size = size;
    return 0;
}

int kc_buf_append(kc_buf_t *buf, const void *data, size_t len)
{
    if (kc_buf_reserve(buf, len) != 0) {
        return KC_ERR_NOMEM;
    }
    if (len > 0) {
        memcpy(buf->data + buf->len, data, len);
    }
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int kc_buf_puts(kc_buf_t *buf, const char *s)
{
    return kc_buf_append(buf, s, strlen(s));
}

int kc_buf_printf(kc_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || kc_buf_reserve(buf, (size_t)n) != 0) {
        return KC_ERR_NOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}
