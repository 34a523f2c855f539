/* Processes, threads and handles: NtQueryInformationProcess for the
 * classes CRTs and kernelbase ask for, NtClose, and the guest's exit. */
#include "internal.h"

#include <string.h>

#define CURRENT_PROCESS 0xffffffffffffffffull
#define CURRENT_THREAD 0xfffffffffffffffeull
#define STATUS_PORT_NOT_SET 0xc0000353u

enum {
    PROCESS_BASIC_INFORMATION = 0,
    PROCESS_DEBUG_PORT = 7,
    PROCESS_DEBUG_OBJECT_HANDLE = 30,
    PROCESS_DEBUG_FLAGS = 31,
    PROCESS_COOKIE = 36,
};

typedef struct basic_information {
    uint32_t exit_status, pad;
    uint64_t peb, affinity;
    uint32_t base_priority, pad2;
    uint64_t pid, parent_pid;
} basic_information;

_Static_assert(sizeof(basic_information) == 48, "PROCESS_BASIC_INFORMATION is 48 bytes on x64");

/* Write len bytes of value to info if the guest's buffer is that size. */
static uint32_t answer(nt_call *c, const void *value, uint32_t len)
{
    uint64_t info = c->args[2], want = c->args[3], retlen = c->args[4];
    if (want != len)
        return STATUS_INFO_LENGTH_MISMATCH;
    if (!nt_write(c, info, value, len) || (retlen && !nt_write(c, retlen, &len, 4)))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

/* NtQueryInformationProcess(process, class, info, length, *result_length) */
static uint32_t query_information_process(nt_call *c)
{
    if (c->args[0] != CURRENT_PROCESS)
        return STATUS_INVALID_HANDLE;
    const dx_regs *r = c->regs;
    switch (c->args[1]) {
    case PROCESS_BASIC_INFORMATION: {
        basic_information bi = {.exit_status = 0x103 /* STILL_ACTIVE */, .affinity = 1, .base_priority = 8};
        uint32_t pid = 0;
        dx_dump_pid(c->nt->dump, &pid);
        bi.pid = pid;
        if (!nt_read_u64(c, r->gs_base + 0x60, &bi.peb))
            return STATUS_ACCESS_VIOLATION;
        return answer(c, &bi, sizeof bi);
    }
    case PROCESS_DEBUG_PORT: {
        uint64_t none = 0; /* no debugger the guest could find */
        return answer(c, &none, 8);
    }
    case PROCESS_DEBUG_OBJECT_HANDLE: return STATUS_PORT_NOT_SET;
    case PROCESS_DEBUG_FLAGS: {
        uint32_t no_debug_inherit = 1;
        return answer(c, &no_debug_inherit, 4);
    }
    case PROCESS_COOKIE: {
        uint32_t cookie = (uint32_t)(c->nt->clock_start * 2654435761u) | 1; /* fixed per dump: replayable */
        return answer(c, &cookie, 4);
    }
    default: return STATUS_INVALID_INFO_CLASS;
    }
}

static bool known_handle(dx_nt *nt, uint64_t h)
{
    for (size_t i = 0; i < 3; i++)
        if (nt->console_handles[i] && h == nt->console_handles[i])
            return true;
    size_t n = dx_dump_handle_count(nt->dump);
    for (size_t i = 0; i < n; i++)
        if (dx_dump_handle(nt->dump, i)->handle == h)
            return true;
    /* Without a handle stream the dump cannot tell: any plausible handle. */
    return !n && h && !(h & 3) && h < 0x1000000;
}

/* NtClose(handle) */
static uint32_t close_handle(nt_call *c)
{
    return nt_object_close(c->nt, c->args[0]) || known_handle(c->nt, c->args[0]) ? STATUS_SUCCESS
                                                                                  : STATUS_INVALID_HANDLE;
}

static uint32_t exit_with(nt_call *c, const char *who, uint64_t handle, uint64_t self, uint32_t code)
{
    if (handle && handle != self)
        return STATUS_ACCESS_DENIED; /* other processes and threads are not the guest's to end */
    snprintf(c->detail, c->detaillen, "the guest %s exited with code %u (0x%x)", who, code, code);
    c->stop = true;
    return STATUS_SUCCESS;
}

/* NtTerminateProcess(process, status) and NtTerminateThread(thread, status) */
static uint32_t terminate_process(nt_call *c)
{
    return exit_with(c, "process", c->args[0], CURRENT_PROCESS, (uint32_t)c->args[1]);
}

static uint32_t terminate_thread(nt_call *c)
{
    return exit_with(c, "thread", c->args[0], CURRENT_THREAD, (uint32_t)c->args[1]);
}

const nt_service nt_process_services[] = {
    {"NtQueryInformationProcess", query_information_process, 5},
    {"NtClose", close_handle, 1},
    {"NtTerminateProcess", terminate_process, 2},
    {"NtTerminateThread", terminate_thread, 2},
};
const size_t nt_process_count = sizeof nt_process_services / sizeof nt_process_services[0];
