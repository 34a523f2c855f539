/* UTF-16LE to UTF-8 for the names a minidump stores. */
#include "internal.h"

#include <stdlib.h>

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

char *utf16_to_utf8(const uint8_t *p, size_t nunits)
{
    char *out = malloc(nunits * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < nunits; i++) {
        uint32_t cp = rd16(p + 2 * i);
        if (cp == 0)
            break;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < nunits) {
            uint32_t lo = rd16(p + 2 * i + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i++;
            } else {
                cp = 0xfffd;
            }
        } else if (cp >= 0xd800 && cp < 0xe000) {
            cp = 0xfffd;
        }
        o += put_utf8(o, cp);
    }
    *o = 0;
    return out;
}
