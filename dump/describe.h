/* What a dump holds, as text for people and as JSON for programs. The CLI
 * listing and the server's monitor commands both print through these. */
#ifndef DX_DESCRIBE_H
#define DX_DESCRIBE_H

#include "buf.h"
#include "dump.h"

void dx_describe_system(const dx_dump *d, dx_buf *out);
void dx_describe_modules(const dx_dump *d, dx_buf *out);
void dx_describe_threads(const dx_dump *d, dx_buf *out);
void dx_describe_exception(const dx_dump *d, dx_buf *out);
void dx_describe_memory(const dx_dump *d, dx_buf *out);
/* Everything above, in that order. */
void dx_describe_all(const dx_dump *d, dx_buf *out);
void dx_describe_json(const dx_dump *d, dx_buf *out);

/* "Access violation writing 0xdeadbeef" and the like, for an exception. */
void dx_describe_exception_reason(const dx_exception *x, dx_buf *out);
/* True if the module's first executable section was captured. */
bool dx_module_has_code(const dx_dump *d, const dx_module *m);

#endif
