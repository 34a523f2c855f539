#include "buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(dx_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->oom = true;
        return false;
    }
    b->data = grown;
    b->cap = cap;
    return true;
}

char *dx_buf_extend(dx_buf *b, size_t n)
{
    if (!reserve(b, n))
        return NULL;
    char *at = b->data + b->len;
    b->len += n;
    b->data[b->len] = 0;
    return at;
}

void dx_buf_append(dx_buf *b, const void *data, size_t len)
{
    char *at = dx_buf_extend(b, len);
    if (at && len) /* an empty buffer's data may be NULL, which memcpy must not see */
        memcpy(at, data, len);
}

void dx_buf_printf(dx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at p (2-4 bytes), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    unsigned long cp, min;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f, min = 0x80;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0f, min = 0x800;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    return cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? n : 0;
}

void dx_buf_json_string(dx_buf *b, const char *s)
{
    dx_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        size_t n = *p >= 0x80 ? utf8_len(p) : 1;
        if (*p == '"' || *p == '\\')
            dx_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            dx_buf_printf(b, "\\u%04x", *p);
        else if (n)
            dx_buf_append(b, p, n);
        else
            dx_buf_append(b, "\\ufffd", 6); /* not UTF-8: JSON must be */
        p += n ? n : 1;
    }
    dx_buf_append(b, "\"", 1);
}

void dx_buf_reset(dx_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = 0;
}

void dx_buf_free(dx_buf *b)
{
    free(b->data);
    *b = (dx_buf){0};
}

const char *dx_buf_str(const dx_buf *b) { return b->data ? b->data : ""; }

void dx_buf_hexdump(dx_buf *b, const uint8_t *p, size_t n, const char *indent)
{
    for (size_t row = 0; row < n; row += 16) {
        size_t k = n - row < 16 ? n - row : 16;
        dx_buf_printf(b, "%s%08zx: ", indent, row);
        for (size_t i = 0; i < 16; i++) {
            if (i < k)
                dx_buf_printf(b, "%02x", p[row + i]);
            else
                dx_buf_append(b, "  ", 2);
            dx_buf_append(b, "  ", i == 7 ? 2 : 1);
        }
        dx_buf_append(b, " |", 2);
        for (size_t i = 0; i < k; i++)
            dx_buf_append(b, isprint(p[row + i]) ? (const char *)&p[row + i] : ".", 1);
        dx_buf_append(b, "|\n", 2);
    }
}

bool dx_bytes_c_string(const uint8_t *p, size_t n, size_t *len)
{
    size_t i = 0;
    while (i < n && p[i] && (isprint(p[i]) || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    *len = i;
    return i > 0 && i < n && !p[i];
}

void dx_buf_c_string(dx_buf *b, const uint8_t *p, size_t n)
{
    dx_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        const char *esc = p[i] == '\n' ? "\\n" : p[i] == '\t' ? "\\t" : p[i] == '\r' ? "\\r" : p[i] == '"' ? "\\\""
                        : p[i] == '\\' ? "\\\\" : NULL;
        if (esc)
            dx_buf_append(b, esc, 2);
        else if (isprint(p[i]))
            dx_buf_append(b, &p[i], 1);
        else
            dx_buf_printf(b, "\\x%02x", p[i]);
    }
    dx_buf_append(b, "\"", 1);
}
