/* Time: a virtual clock that starts at the dump's own time (the captured
 * KUSER_SHARED_DATA, else the dump header's timestamp) and advances only
 * with what the guest does: 1 ns per counted instruction, 1 us per
 * service, and whatever it sleeps. The same call twice sees the same
 * times, which replay relies on. KUSER_SHARED_DATA, which GetTickCount
 * and friends read without a system call, is kept in step. */
#include "internal.h"

#include <string.h>

#define KUSER 0x7ffe0000ull
#define KUSER_INTERRUPT_TIME 0x008
#define KUSER_SYSTEM_TIME 0x014
#define KUSER_TICK_COUNT 0x320
#define KUSER_TICK_COUNT_LOW 0x000
#define KUSER_TICK_MULTIPLIER 0x004
#define FILETIME_UNIX_EPOCH 116444736000000000ull /* 1970-01-01 in 100 ns units since 1601 */
#define QPC_FREQUENCY 10000000ull
#define STATUS_NO_YIELD_PERFORMED 0x40000024u

static uint64_t ksystem_time(const dx_dump *d, uint64_t at)
{
    uint32_t v[3]; /* Low, High1, High2 */
    return dx_dump_read(d, at, v, sizeof v) == sizeof v && v[1] == v[2] ? (uint64_t)v[1] << 32 | v[0] : 0;
}

void nt_clock_init(dx_nt *nt)
{
    uint64_t t = ksystem_time(nt->dump, KUSER + KUSER_SYSTEM_TIME);
    nt->clock_start = t ? t : FILETIME_UNIX_EPOCH + (uint64_t)dx_dump_timestamp(nt->dump) * 10000000ull;
    nt->clock_now = nt->clock_start;
    nt->run_insns = 0;
}

/* 100 ns units since the dump. */
static uint64_t elapsed(const dx_nt *nt) { return nt->clock_now - nt->clock_start; }

static void write_ksystem_time(dx_nt *nt, uint64_t at, uint64_t v)
{
    uint32_t w[3] = {(uint32_t)v, (uint32_t)(v >> 32), (uint32_t)(v >> 32)};
    char err[DX_ERRLEN];
    dx_exec_write(nt->exec, at, w, sizeof w, err, sizeof err);
}

/* The shared page as the kernel would have updated it by now. */
static void update_kuser(dx_nt *nt)
{
    if (!dx_dump_range_at(nt->dump, KUSER))
        return;
    uint64_t interrupt0 = ksystem_time(nt->dump, KUSER + KUSER_INTERRUPT_TIME);
    uint64_t tick0 = ksystem_time(nt->dump, KUSER + KUSER_TICK_COUNT);
    uint32_t multiplier = 0;
    dx_dump_read(nt->dump, KUSER + KUSER_TICK_MULTIPLIER, &multiplier, 4);
    write_ksystem_time(nt, KUSER + KUSER_SYSTEM_TIME, nt->clock_now);
    write_ksystem_time(nt, KUSER + KUSER_INTERRUPT_TIME, interrupt0 + elapsed(nt));
    /* TickCount counts 15.625 ms ticks on Windows; Wine writes milliseconds
     * there with a multiplier of 1 << 24: advance in the dump's own unit. */
    uint64_t ms = elapsed(nt) / 10000;
    uint64_t ticks = multiplier == 1u << 24 ? ms : ms * 1000 / 15625;
    write_ksystem_time(nt, KUSER + KUSER_TICK_COUNT, tick0 + ticks);
    uint32_t low = (uint32_t)(tick0 + ticks);
    char err[DX_ERRLEN];
    dx_exec_write(nt->exec, KUSER + KUSER_TICK_COUNT_LOW, &low, 4, err, sizeof err);
}

void nt_clock_tick(dx_nt *nt, uint64_t insns)
{
    uint64_t ran = insns >= nt->run_insns ? insns - nt->run_insns : insns; /* a new run counts from 0 */
    nt->run_insns = insns;
    nt->clock_now += ran / 100 + 10;
    update_kuser(nt);
}

/* NtQuerySystemTime(*time) */
static uint32_t query_system_time(nt_call *c)
{
    return nt_write_u64(c, c->args[0], c->nt->clock_now) ? STATUS_SUCCESS : STATUS_ACCESS_VIOLATION;
}

/* NtQueryPerformanceCounter(*counter, *frequency): 10 MHz from the
 * dump's interrupt time on. */
static uint32_t query_performance_counter(nt_call *c)
{
    uint64_t counter = ksystem_time(c->nt->dump, KUSER + KUSER_INTERRUPT_TIME) + elapsed(c->nt);
    if (!nt_write_u64(c, c->args[0], counter) || (c->args[1] && !nt_write_u64(c, c->args[1], QPC_FREQUENCY)))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

void nt_clock_pass(dx_nt *nt, int64_t interval)
{
    if (interval < 0)
        nt->clock_now += (uint64_t)-interval;
    else if ((uint64_t)interval > nt->clock_now)
        nt->clock_now = (uint64_t)interval;
    update_kuser(nt);
}

/* NtDelayExecution(alertable, *interval): returns at once, the clock
 * moving on by the interval. */
static uint32_t delay_execution(nt_call *c)
{
    int64_t interval;
    if (!nt_read(c, c->args[1], &interval, 8))
        return STATUS_ACCESS_VIOLATION;
    nt_clock_pass(c->nt, interval);
    return STATUS_SUCCESS;
}

/* NtYieldExecution(): every other thread of the dump is frozen. */
static uint32_t yield_execution(nt_call *c)
{
    (void)c;
    return STATUS_NO_YIELD_PERFORMED;
}

const nt_service nt_time_services[] = {
    {"NtQuerySystemTime", query_system_time, 1},
    {"NtQueryPerformanceCounter", query_performance_counter, 2},
    {"NtDelayExecution", delay_execution, 2},
    {"NtYieldExecution", yield_execution, 0},
};
const size_t nt_time_count = sizeof nt_time_services / sizeof nt_time_services[0];
