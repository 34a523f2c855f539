/* Private to nt/. */
#ifndef DX_NT_INTERNAL_H
#define DX_NT_INTERNAL_H

#include "buf.h"
#include "nt.h"
#include "regs.h"

#include <stdbool.h>
#include <stdint.h>

/* NTSTATUS values the services return. */
#define STATUS_SUCCESS 0x00000000u
#define STATUS_TIMEOUT 0x00000102u
#define STATUS_ACCESS_VIOLATION 0xc0000005u
#define STATUS_INVALID_HANDLE 0xc0000008u
#define STATUS_INVALID_PARAMETER 0xc000000du
#define STATUS_NO_MEMORY 0xc0000017u
#define STATUS_CONFLICTING_ADDRESSES 0xc0000018u
#define STATUS_UNABLE_TO_FREE_VM 0xc000001au
#define STATUS_ACCESS_DENIED 0xc0000022u
#define STATUS_OBJECT_NAME_NOT_FOUND 0xc0000034u
#define STATUS_INFO_LENGTH_MISMATCH 0xc0000004u
#define STATUS_INVALID_INFO_CLASS 0xc0000003u
#define STATUS_INVALID_PAGE_PROTECTION 0xc0000045u
#define STATUS_MEMORY_NOT_ALLOCATED 0xc00000a0u
#define STATUS_NOT_COMMITTED 0xc000002du
#define STATUS_INVALID_PARAMETER_2 0xc00000f0u

#define NT_PAGE 0x1000ull
#define NT_GRANULARITY 0x10000ull /* allocation granularity */

/* An object of the guest's own (sync.c): an event. */
typedef struct nt_object {
    bool used, auto_reset, signaled;
} nt_object;

/* The guest's own allocations (its VAD list): one per NtAllocateVirtualMemory
 * reservation, with each page's state and protection. */
typedef struct nt_alloc {
    uint64_t base, size;
    uint32_t alloc_protect;
    uint32_t *protect; /* per page; 0 = reserved, not committed */
} nt_alloc;

struct dx_nt {
    dx_exec *exec;
    const dx_dump *dump;
    dx_nt_options opt;
    /* Service number -> index in the service table + 1; 0 = not ours. */
    uint16_t *by_number;
    uint32_t nnumbers;
    /* --stub-syscall: a fixed status per service number. */
    uint32_t *stub_status;
    bool *stubbed;
    nt_alloc *allocs; /* in no order */
    size_t nallocs, capallocs;
    uint64_t alloc_hint; /* where the next bottom-up search starts */
    /* The virtual clock, in 100 ns units since 1601 (the dump's time at 0). */
    uint64_t clock_start, clock_now;
    uint64_t run_insns; /* the instruction count at the last service of this run */
    uint64_t services; /* served since the dump */
    uint64_t console_handles[3]; /* the PEB's StandardInput, Output, Error */
    uint64_t dispatcher; /* ntdll!KiUserExceptionDispatcher, 0 if the dump has none */
    uint64_t exceptions; /* delivered since the dump */
    nt_object *objects; /* by handle: OBJECT_HANDLES + 4 * index */
    size_t nobjects;
    dx_buf line; /* the trace line being built */
};

/* One call of a service: arguments as the kernel sees them. */
typedef struct nt_call {
    dx_nt *nt;
    dx_regs *regs;
    uint64_t args[12];
    char *detail; /* for a stop: why */
    size_t detaillen;
    bool stop;    /* the service ended the run (detail says why) */
    dx_stop *stop_out; /* the run's stop, for a service that rewrites all of it */
    bool regs_loaded;  /* the service loaded every register (NtContinue): RAX is not its status */
} nt_call;

typedef uint32_t (*nt_service_fn)(nt_call *c);

typedef struct nt_service {
    const char *name;
    nt_service_fn fn;
    unsigned nargs;
} nt_service;

/* Guest memory, as the kernel probes it: false on an address the guest
 * cannot reach (the service then returns STATUS_ACCESS_VIOLATION). */
bool nt_read(nt_call *c, uint64_t addr, void *buf, size_t len);
bool nt_write(nt_call *c, uint64_t addr, const void *buf, size_t len);
bool nt_read_u64(nt_call *c, uint64_t addr, uint64_t *v);
bool nt_write_u64(nt_call *c, uint64_t addr, uint64_t v);
void nt_trace(nt_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The services, one file per subsystem. */
extern const nt_service nt_memory_services[], nt_time_services[], nt_process_services[], nt_file_services[],
    nt_system_services[], nt_sync_services[], nt_exception_services[];
extern const size_t nt_memory_count, nt_time_count, nt_process_count, nt_file_count, nt_system_count,
    nt_sync_count, nt_exception_count;

/* state.c: the executor's snapshots keep nt/'s state too */
void nt_state_attach(dx_nt *nt);
/* time.c */
void nt_clock_init(dx_nt *nt);
void nt_clock_tick(dx_nt *nt, uint64_t insns);
/* An interval in NT's form goes by: relative (100 ns units) if negative,
 * an absolute time if not. */
void nt_clock_pass(dx_nt *nt, int64_t interval);
/* sync.c */
bool nt_object_close(dx_nt *nt, uint64_t handle);
void nt_objects_free(dx_nt *nt);
/* memory.c */
void nt_allocs_free(dx_nt *nt);
/* exception.c: find the dump's dispatcher, take the executor's faults */
int nt_exceptions_init(dx_nt *nt);

#endif
