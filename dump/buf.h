/* A growable text buffer: the one way every layer builds output text. */
#ifndef DX_BUF_H
#define DX_BUF_H

#include <stdbool.h>
#include <stddef.h>

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
void dx_buf_reset(dx_buf *b);
void dx_buf_free(dx_buf *b);
const char *dx_buf_str(const dx_buf *b);

#endif
