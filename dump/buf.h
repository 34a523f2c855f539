/* A growable text buffer: the one way every layer builds output text. */
#ifndef DX_BUF_H
#define DX_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dx_buf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len, cap;
    bool oom; /* an append failed; the contents are truncated */
} dx_buf;

void dx_buf_printf(dx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dx_buf_append(dx_buf *b, const void *data, size_t len);
/* Grow by n bytes and return where they start, for the caller to fill;
 * NULL if memory ran out. */
char *dx_buf_extend(dx_buf *b, size_t n);
/* A JSON string literal, quotes included. */
void dx_buf_json_string(dx_buf *b, const char *s);
/* Bytes as xxd shows them: "00000000: 03 0a ... 6c  |....;BIPW^el|",
 * sixteen to a line, each line after indent. */
void dx_buf_hexdump(dx_buf *b, const uint8_t *p, size_t n, const char *indent);
/* Whether the bytes start with a C string (printable text, then a NUL
 * inside the n bytes); *len is the text's length. */
bool dx_bytes_c_string(const uint8_t *p, size_t n, size_t *len);
/* n bytes as a C string literal, quotes included: "v=1\tx\n". */
void dx_buf_c_string(dx_buf *b, const uint8_t *p, size_t n);
void dx_buf_reset(dx_buf *b);
void dx_buf_free(dx_buf *b);
const char *dx_buf_str(const dx_buf *b);

#endif
