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
/* The value of a constant of these headers by its name ("DX_STOP_LIMIT"). */
bool dx_abi_value(const char *name, long long *value);
/* "0.1.0" */
const char *dx_version(void);

#endif
