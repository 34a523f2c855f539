#include "hex.h"

#include <limits.h>

static const char digits[] = "0123456789abcdef";

int rsp_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void rsp_hex_encode(dx_buf *b, const void *data, size_t len)
{
    const uint8_t *p = data;
    char *out = dx_buf_extend(b, 2 * len);
    for (size_t i = 0; out && i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

int rsp_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outmax)
{
    size_t n = hexlen / 2;
    if (hexlen % 2 || n > outmax || n > INT_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = rsp_hex_value((unsigned char)hex[2 * i]);
        int lo = rsp_hex_value((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)n;
}

bool rsp_parse_hex_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t acc = 0;
    int d;
    while ((d = rsp_hex_value((unsigned char)*s)) >= 0) {
        if (acc >> 60)
            return false;
        acc = acc << 4 | (uint64_t)d;
        s++;
    }
    if (s == *p)
        return false;
    *v = acc;
    *p = s;
    return true;
}

static bool needs_escape(uint8_t c)
{
    return c == '$' || c == '#' || c == '}' || c == '*';
}

void rsp_escape_binary(dx_buf *b, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (!needs_escape(p[i]))
            continue;
        uint8_t esc[2] = {'}', p[i] ^ 0x20};
        if (i > start)
            dx_buf_append(b, p + start, i - start);
        dx_buf_append(b, esc, 2);
        start = i + 1;
    }
    if (len > start)
        dx_buf_append(b, p + start, len - start);
}
