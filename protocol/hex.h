/* Hex and binary-escape helpers for the GDB Remote Serial Protocol.
 *
 * Where escaping happens: rsp_codec_send() escapes every outgoing payload,
 * so handlers hand it raw bytes (a qXfer chunk included) and never call
 * rsp_escape_binary() themselves; it is exported for the codec and tests. */
#ifndef RSP_HEX_H
#define RSP_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* 0..15 for a hex digit (either case), -1 for anything else. */
int rsp_hex_value(int c);
/* Two lowercase digits per byte. */
void rsp_hex_encode(dx_buf *b, const void *data, size_t len);
/* Decodes exactly hexlen digits into out. Returns the byte count, or -1 for
 * an odd length, a non-hex digit, or a result longer than outmax. */
int rsp_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outmax);
/* Parses hex digits at *p and advances past them. Fails, leaving *p alone,
 * when there is no digit or the value does not fit in 64 bits (leading
 * zeros are fine: lldb pads thread ids). */
bool rsp_parse_hex_u64(const char **p, uint64_t *v);
/* Appends data with '$', '#', '}' and '*' sent as '}' followed by c ^ 0x20. */
void rsp_escape_binary(dx_buf *b, const void *data, size_t len);

#endif
