/* What the system says of itself and of the current thread:
 * NtQuerySystemInformation (basic, processor), NtQueryInformationThread
 * (basic), and the thread and process settings a CRT or kernelbase makes
 * that change nothing the guest can see. */
#include "internal.h"

#include <string.h>

#define CURRENT_PROCESS 0xffffffffffffffffull
#define CURRENT_THREAD 0xfffffffffffffffeull

typedef struct system_basic {
    uint32_t reserved, timer_resolution, page_size, physical_pages, lowest_page, highest_page, granularity, pad;
    uint64_t min_address, max_address, affinity;
    uint8_t processors, pad2[7];
} system_basic;

_Static_assert(sizeof(system_basic) == 64, "SYSTEM_BASIC_INFORMATION is 64 bytes on x64");

typedef struct system_processor {
    uint16_t architecture, level, revision, maximum;
    uint32_t features;
} system_processor;

typedef struct thread_basic {
    uint32_t exit_status, pad;
    uint64_t teb, pid, tid, affinity;
    int32_t priority, base_priority;
} thread_basic;

_Static_assert(sizeof(thread_basic) == 48, "THREAD_BASIC_INFORMATION is 48 bytes on x64");

/* info (args[i]) of length args[i+1], *result_length at args[i+2]. */
static uint32_t answer(nt_call *c, int i, const void *value, uint32_t len)
{
    uint64_t info = c->args[i], want = c->args[i + 1], retlen = c->args[i + 2];
    if (want < len)
        return STATUS_INFO_LENGTH_MISMATCH;
    if (!nt_write(c, info, value, len) || (retlen && !nt_write(c, retlen, &len, 4)))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

static unsigned processors(const dx_nt *nt)
{
    const dx_sysinfo *si = dx_dump_sysinfo(nt->dump);
    return si && si->ncpus ? si->ncpus : 1;
}

/* NtQuerySystemInformation(class, info, length, *result_length) */
static uint32_t query_system_information(nt_call *c)
{
    const dx_sysinfo *si = dx_dump_sysinfo(c->nt->dump);
    unsigned n = processors(c->nt);
    switch (c->args[0]) {
    case 0: {
        system_basic b = {.timer_resolution = 156250, .page_size = 4096, .physical_pages = 0x3fffff,
                          .lowest_page = 1, .highest_page = 0x3fffff, .granularity = 0x10000,
                          .min_address = 0x10000, .max_address = 0x7ffffffeffff,
                          .affinity = n >= 64 ? ~0ull : (1ull << n) - 1, .processors = (uint8_t)n};
        return answer(c, 1, &b, sizeof b);
    }
    case 1: {
        system_processor p = {.architecture = si ? si->arch : 9, .level = si ? si->level : 6,
                              .revision = si ? si->revision : 0, .maximum = (uint16_t)n};
        return answer(c, 1, &p, sizeof p);
    }
    default: return STATUS_INVALID_INFO_CLASS;
    }
}

/* NtQueryInformationThread(thread, class, info, length, *result_length) */
static uint32_t query_information_thread(nt_call *c)
{
    if (c->args[0] != CURRENT_THREAD)
        return STATUS_INVALID_HANDLE;
    if (c->args[1] != 0)
        return STATUS_INVALID_INFO_CLASS;
    const dx_regs *r = c->regs;
    uint32_t pid = 0;
    dx_dump_pid(c->nt->dump, &pid);
    thread_basic b = {.exit_status = 0x103, .teb = r->gs_base, .pid = pid,
                      .tid = dx_exec_current_thread(c->nt->exec), .affinity = 1, .priority = 8, .base_priority = 8};
    return answer(c, 2, &b, sizeof b);
}

/* A setting this list names changes nothing the guest could tell; any
 * other is a named stop rather than a made-up success. */
static uint32_t set_information(nt_call *c, const char *what, uint64_t self, const uint8_t *benign, size_t n)
{
    if (c->args[0] != self)
        return STATUS_INVALID_HANDLE;
    for (size_t i = 0; i < n; i++)
        if (c->args[1] == benign[i])
            return STATUS_SUCCESS;
    snprintf(c->detail, c->detaillen, "system call %s (class 0x%llx) is not emulated", what,
             (unsigned long long)c->args[1]);
    c->stop = true;
    return STATUS_SUCCESS;
}

/* NtSetInformationThread(thread, class, info, length) */
static uint32_t set_information_thread(nt_call *c)
{
    /* priority, base priority, affinity, ideal processor, hide from
     * debugger, zero TLS cell, name, SEH chain setting of Wine */
    static const uint8_t benign[] = {2, 3, 4, 13, 17, 10, 38, 24};
    return set_information(c, "NtSetInformationThread", CURRENT_THREAD, benign, sizeof benign);
}

/* NtSetInformationProcess(process, class, info, length) */
static uint32_t set_information_process(nt_call *c)
{
    /* hard error mode, execute flags, priority class, affinity, handle
     * tracing, mitigation policy, working set */
    static const uint8_t benign[] = {12, 34, 18, 21, 32, 52, 5};
    return set_information(c, "NtSetInformationProcess", CURRENT_PROCESS, benign, sizeof benign);
}

const nt_service nt_system_services[] = {
    {"NtQuerySystemInformation", query_system_information, 4},
    {"NtQueryInformationThread", query_information_thread, 5},
    {"NtSetInformationThread", set_information_thread, 4},
    {"NtSetInformationProcess", set_information_process, 4},
};
const size_t nt_system_count = sizeof nt_system_services / sizeof nt_system_services[0];
