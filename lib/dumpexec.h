/* DumpExec's C API in one header: open a dump (dump.h, pe.h), run its
 * code in an executor (exec.h, regs.h), give the guest its Windows
 * (nt.h). Link with libdumpexec (pkg-config dumpexec). */
#ifndef DUMPEXEC_H
#define DUMPEXEC_H

#include "buf.h"
#include "describe.h"
#include "dump.h"
#include "exec.h"
#include "nt.h"
#include "pe.h"
#include "regs.h"

/* For foreign-function callers that declare these structures again (the
 * Python package): sizeof a structure by its name ("dx_stop"), 0 for one
 * not described; offsetof one of its fields, (size_t)-1 for one not
 * described. Each is answered from the headers the library was built with. */
size_t dx_abi_size(const char *type);
size_t dx_abi_offset(const char *type, const char *field);
size_t dx_abi_field_size(const char *type, const char *field);
/* The value of a constant of these headers by its name ("DX_STOP_LIMIT"). */
bool dx_abi_value(const char *name, long long *value);
/* dx_exec_call with everything it takes in one block, which a foreign
 * caller keeps and refills call after call (the function, the argument
 * values), so that each call crosses into the library with one pointer:
 * converting arguments is most of what a call through ctypes costs. */
typedef struct dx_abi_call_block {
    dx_exec *exec;
    const dx_call_options *options;
    dx_call_result *result;
    uint64_t fn;
    uint64_t nargs;
    dx_arg args[]; /* nargs of them */
} dx_abi_call_block;
int dx_abi_call(dx_abi_call_block *b);

/* "0.1.0" */
const char *dx_version(void);

#endif
