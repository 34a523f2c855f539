/* The Windows the guest sees across the kernel boundary: system calls
 * served by name (one file per NT subsystem), a deterministic virtual
 * clock, guest console output. A dx_nt sits on one executor and installs
 * itself as its system call handler; callers (the command line, the
 * server, library users) create one per executor. emu/ never includes
 * this layer. */
#ifndef DX_NT_H
#define DX_NT_H

#include "exec.h"

#include <stdio.h>

typedef enum dx_syscall_policy {
    DX_SYSCALLS_EMULATE, /* serve the services nt/ knows; any other stops, named */
    DX_SYSCALLS_STOP,    /* every system call stops the run */
} dx_syscall_policy;

typedef enum dx_exception_policy {
    DX_EXCEPTIONS_DISPATCH, /* faults and RaiseException reach the guest's own handlers */
    DX_EXCEPTIONS_STOP,     /* a fault stops the run where it happened (first chance) */
} dx_exception_policy;

typedef struct dx_nt_options {
    dx_syscall_policy policy;
    dx_exception_policy exceptions;
    FILE *trace; /* one strace-like line per service, or NULL */
    /* Guest console output (stdout 1, stderr 2), as it is written; and
     * OutputDebugString's text (fd DX_NT_DEBUG_STRING), as a debugger
     * receives it. */
    void (*console)(void *user, int fd, const char *text, size_t len);
    void *user;
} dx_nt_options;

#define DX_NT_DEBUG_STRING (-1)

typedef struct dx_nt dx_nt;

int dx_nt_new(dx_exec *e, const dx_nt_options *o, dx_nt **out, char *err, size_t errlen);
void dx_nt_free(dx_nt *nt); /* the executor's system calls stop again */
dx_nt_options *dx_nt_options_of(dx_nt *nt); /* live */
/* After dx_exec_reset: the guest's allocations are gone, the clock is
 * back at the dump's time. */
void dx_nt_reset(dx_nt *nt);

/* Deliver an exception to the current thread as the kernel does, first
 * chance, with the thread's registers now as its context: the thread
 * goes on in the dump's KiUserExceptionDispatcher (a debugger passing the
 * signal of a fault on). -1 (err says why) if the dump has no dispatcher
 * or the thread's stack cannot take the frame. */
int dx_nt_raise(dx_nt *nt, const dx_exception *record, char *err, size_t errlen);
/* The exception behind a fault stop, as Windows would raise it; false
 * for a stop that is no exception. */
bool dx_nt_exception_of(const dx_stop *stop, dx_exception *record);

/* Stubs, one syntax for the command line and the monitor:
 * "FUNCTION=VALUE" (any syntax calls accept: kernel32!GetTickCount=1234)
 * makes the function return VALUE at once; "NtXxx=STATUS" for a service
 * makes every call of it return STATUS. unstub takes either name back. */
int dx_nt_stub(dx_nt *nt, const char *spec, char *err, size_t errlen);
int dx_nt_stub_syscall(dx_nt *nt, const char *spec, char *err, size_t errlen);
int dx_nt_unstub(dx_nt *nt, const char *name, char *err, size_t errlen);

/* Services emulated, for the README and `monitor syscalls`. */
size_t dx_nt_service_count(void);
const char *dx_nt_service_name(size_t i);

#endif
