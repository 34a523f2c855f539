/* Bare Unicorn over a module's image from the dump: the baseline. */
#ifndef DXB_RAW_H
#define DXB_RAW_H

#include "dump.h"

#include <stdbool.h>
#include <unicorn/unicorn.h>

typedef struct raw_uc {
    uc_engine *uc;
    uint64_t count; /* instructions, when opened counting */
} raw_uc;

/* Map the module's image (as the dump holds it), a stack and a return
 * page. counting adds one UC_HOOK_CODE that counts instructions. */
int raw_open(raw_uc *r, const dx_dump *d, const char *module, bool counting);
/* Windows x64 call with up to four integer arguments; 0 when it returned. */
int raw_call(raw_uc *r, uint64_t fn, const uint64_t *args, int nargs, uint64_t *rax);
void raw_close(raw_uc *r);

#endif
