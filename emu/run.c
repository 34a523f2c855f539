/* Running: the hooks that turn Unicorn events into dx_stops, breakpoints,
 * and the three ways a run can watch itself (run_mode in internal.h).
 *
 * Fast mode has no hook on the way: breakpoints are code hooks on their
 * own addresses and cost nothing elsewhere. Block mode adds a hook per
 * translated block, which pins faults to their instruction and hears
 * interrupts; instruction mode adds one per instruction, for stepping,
 * tracing and instruction limits. Unicorn bakes hooks into translated
 * blocks, so switching modes flushes the translation cache; consecutive
 * steps stay in one mode. Watchpoints are page protections (watch.c). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


void stop_set(dx_exec *e, dx_stop_kind kind, uint64_t pc)
{
    if (e->stopped || !e->stop)
        return;
    e->stopped = true;
    e->stop->kind = kind;
    e->stop->pc = pc;
    uc_emu_stop(e->uc);
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs with hooks watch their own deadline: Unicorn's timeout starts a
 * thread per run that polls every few microseconds, which costs more than
 * a short step. The clock is read every 1024 hook calls. */
static bool deadline_passed(dx_exec *e)
{
    return e->deadline && !(++e->deadline_ticks & 1023) && seconds_now() >= e->deadline;
}

/* Breakpoints are kept sorted: a run that steps checks every instruction. */
static size_t breakpoint_index(const dx_exec *e, uint64_t addr)
{
    size_t lo = 0, hi = e->nbps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->bps[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool is_breakpoint(const dx_exec *e, uint64_t addr)
{
    size_t i = breakpoint_index(e, addr);
    return i < e->nbps && e->bps[i].addr == addr;
}

/* The instruction at the run's start is executed even if a breakpoint sits
 * there: resuming from a breakpoint must move on. */
static bool breakpoint_hit(dx_exec *e, uint64_t addr)
{
    if (addr == e->step_target) {
        e->step_target = 0;
        return false;
    }
    return true;
}

/* A breakpoint reached: a live run stops; a replay passes it, noting it
 * when it looks back for the last one. */
static void reach_breakpoint(dx_exec *e, uint64_t addr)
{
    if (e->replay == REPLAY_NONE || e->replay == REPLAY_STOPS)
        stop_set(e, DX_STOP_BREAKPOINT, addr);
    else if (e->replay == REPLAY_SEARCH)
        history_note_hit(e, blocks_position_at(e, addr), DX_STOP_BREAKPOINT, addr, DX_ACCESS_EXECUTE);
}

static void on_breakpoint(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    (void)uc, (void)size;
    dx_exec *e = user;
    if (!e->step_hook && breakpoint_hit(e, addr))
        reach_breakpoint(e, addr);
}

static void on_sentinel(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    (void)uc, (void)size;
    dx_exec *e = user;
    if (e->in_call)
        stop_set(e, DX_STOP_RETURNED, addr);
}

static void on_instruction(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    (void)uc, (void)size;
    dx_exec *e = user;
    if (e->stopped)
        return;
    if (atomic_load_explicit(&e->interrupt, memory_order_relaxed)) {
        stop_set(e, DX_STOP_INTERRUPTED, addr);
        return;
    }
    if (e->in_call && addr == e->scratch)
        return; /* on_sentinel ends the call */
    if (is_breakpoint(e, addr) && breakpoint_hit(e, addr)) {
        reach_breakpoint(e, addr);
        if (e->stopped)
            return;
    }
    e->step_target = 0;
    if (e->limit && e->insns >= e->limit) {
        if (e->stepping_over)
            uc_emu_stop(uc); /* run() goes on from here */
        else
            stop_set(e, e->stop->kind == DX_STOP_STEP ? DX_STOP_STEP : DX_STOP_LIMIT, addr);
        return;
    }
    if (deadline_passed(e)) {
        stop_set(e, DX_STOP_TIMEOUT, addr);
        return;
    }
    e->stop->pc = addr; /* the instruction about to run: precise fault PCs */
    if (e->trace)
        trace_insn(e, addr);
    if (e->tenet)
        tenet_insn(e);
    e->insns++;
}

static dx_access access_of(uc_mem_type t)
{
    switch (t) {
    case UC_MEM_WRITE:
    case UC_MEM_WRITE_UNMAPPED:
    case UC_MEM_WRITE_PROT: return DX_ACCESS_WRITE;
    case UC_MEM_FETCH:
    case UC_MEM_FETCH_UNMAPPED:
    case UC_MEM_FETCH_PROT: return DX_ACCESS_EXECUTE;
    default: return DX_ACCESS_READ;
    }
}

static void fault(dx_exec *e, uc_mem_type type, uint64_t addr)
{
    if (e->stopped)
        return;
    dx_access access = access_of(type);
    uint64_t rip;
    if (access == DX_ACCESS_EXECUTE && uc_reg_read(e->uc, UC_X86_REG_RIP, &rip) == UC_ERR_OK &&
        ((rip ^ addr) & UC_ADDR_MASK) == 0)
        addr = rip; /* a jump to a wild pointer: RIP has all 64 bits */
    uint64_t pc = access == DX_ACCESS_EXECUTE ? addr : e->stop->pc;
    dx_stop_kind kind = DX_STOP_ACCESS;
    if (e->stop->kind == DX_STOP_MEMORY_LIMIT)
        kind = DX_STOP_MEMORY_LIMIT;
    else if (access == DX_ACCESS_WRITE && e->scratch && addr - e->scratch < DX_SCRATCH_SENTINEL_SIZE)
        kind = DX_STOP_STACK_OVERFLOW;
    e->stop->addr = addr;
    e->stop->access = access;
    stop_set(e, kind, pc);
}

static bool on_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
    (void)uc, (void)size, (void)value;
    dx_exec *e = user;
    if (mem_fault_in(e, addr, e->opt.unmapped_zero)) {
        /* An access that straddles into the next page needs that page too. */
        uint64_t last = addr + (uint64_t)(size > 0 ? size - 1 : 0);
        if ((last & ~(PAGE - 1)) == (addr & ~(PAGE - 1)) || mem_fault_in(e, last, e->opt.unmapped_zero))
            return true;
        addr = last;
    }
    fault(e, type, addr);
    return false;
}

static bool on_protected(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
    (void)value;
    dx_exec *e = user;
    if (!e->stopped && !e->stepping_over && watch_caused(e, addr, access_of(type))) {
        if (e->step_hook && e->insns)
            e->insns--; /* counted on entry, but it runs again in step_over_trap */
        e->trap.pending = true;
        e->trap.addr = addr;
        e->trap.size = size;
        e->trap.access = access_of(type);
        uc_emu_stop(uc);
        return false;
    }
    fault(e, type, addr);
    return false;
}

static void on_interrupt(uc_engine *uc, uint32_t intno, void *user)
{
    dx_exec *e = user;
    uint64_t rip;
    e->cpu_dirty = true;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    switch (intno) {
    case 0: stop_set(e, DX_STOP_DIVIDE, rip); break;
    case 3: stop_set(e, DX_STOP_INT3, rip - 1); break;
    case 6: stop_set(e, DX_STOP_INVALID_OPCODE, rip); break;
    default:
        snprintf(e->stop->detail, sizeof e->stop->detail, "processor exception %u", intno);
        stop_set(e, DX_STOP_ERROR, rip);
    }
}

static bool on_invalid(uc_engine *uc, void *user)
{
    dx_exec *e = user;
    uint64_t rip;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    stop_set(e, DX_STOP_INVALID_OPCODE, rip);
    return false;
}

static void on_syscall(uc_engine *uc, void *user)
{
    dx_exec *e = user;
    uint64_t rip, rax;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    uc_reg_read(uc, UC_X86_REG_RAX, &rax);
    e->stop->syscall_nr = (uint32_t)rax;
    stop_set(e, DX_STOP_SYSCALL, rip); /* RIP is still at the syscall instruction */
}


/* Every block: where it starts (for fault_locate), and interrupts that
 * arrived while the run was starting, when uc_emu_stop is not yet heard. */
/* The block hook stops the run before the block at addr. */
static __attribute__((noinline, cold)) void block_stop(dx_exec *e, uc_engine *uc, uint64_t addr)
{
    e->block_stopped_at = addr;
    e->blocks.stop_requested = e->counting;
    uc_emu_stop(uc);
}

static void on_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    dx_exec *e = user;
    e->block_start = addr;
    if (e->coverage)
        coverage_add(e->coverage, addr, size);
    if (deadline_passed(e)) {
        e->timed_out = true; /* reported, like an interrupt, where Unicorn stops */
        block_stop(e, uc, addr);
    }
    if (atomic_load_explicit(&e->interrupt, memory_order_relaxed))
        block_stop(e, uc, addr); /* run() reports it, at the block where Unicorn stops */
}

/* The same, counting: a run with history or an instruction limit. Each
 * block is counted before it runs; a stop inside it is settled after. */
static void on_block_counted(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    dx_exec *e = user;
    uint32_t n = blocks_count(e, addr, size);
    e->blocks.last_addr = addr;
    e->blocks.last_size = size;
    e->blocks.last_pos = e->pos;
    bool pause = e->pos + n > e->pause_at && !e->stopped; /* a checkpoint is due, or a replay nears its end */
    e->pos += n;
    if (pause) {
        e->paused = true;
        block_stop(e, uc, addr);
    }
    on_block(uc, addr, size, user);
}

/* A code hook on [begin, end], or 0 if Unicorn refused it. */
static uc_hook add_code_hook(dx_exec *e, void *cb, uint64_t begin, uint64_t end)
{
    uc_hook h = 0;
    return uc_hook_add(e->uc, &h, UC_HOOK_CODE, cb, e, begin, end) == UC_ERR_OK ? h : 0;
}

static stub *stub_at(dx_exec *e, uint64_t addr)
{
    for (size_t i = 0; i < e->nstubs; i++)
        if (e->stubs[i].addr == addr)
            return &e->stubs[i];
    return NULL;
}

/* A stubbed function: return its value to the caller at once. */
static void on_stub(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    (void)size;
    dx_exec *e = user;
    const stub *s = stub_at(e, addr);
    uint64_t rsp, ret, value;
    if (!s || e->stopped || uc_reg_read(uc, UC_X86_REG_RSP, &rsp) != UC_ERR_OK)
        return;
    value = s->value;
    if (s->fn) {
        uint64_t args[4] = {0};
        const int ids[4] = {UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_R8, UC_X86_REG_R9};
        for (int i = 0; i < 4; i++)
            uc_reg_read(uc, ids[i], &args[i]);
        if (!s->fn(s->user, e, args, &value))
            return;
    }
    if (uc_mem_read(uc, rsp, &ret, 8) != UC_ERR_OK) {
        e->stop->addr = rsp;
        e->stop->access = DX_ACCESS_READ;
        stop_set(e, DX_STOP_ACCESS, addr);
        return;
    }
    rsp += 8;
    uc_reg_write(uc, UC_X86_REG_RAX, &value);
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(uc, UC_X86_REG_RIP, &ret);
}

/* The hooks every engine has. A refused one is an engine that cannot
 * page memory in or see a fault: it is not used at all. */
int engine_hooks(dx_exec *e, char *err, size_t errlen)
{
    uc_hook h;
    uc_err rc = uc_hook_add(e->uc, &h, UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED,
                            on_unmapped, e, 1, 0);
    if (rc == UC_ERR_OK)
        rc = uc_hook_add(e->uc, &h, UC_HOOK_MEM_READ_PROT | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT,
                         on_protected, e, 1, 0);
    if (rc == UC_ERR_OK)
        rc = uc_hook_add(e->uc, &h, UC_HOOK_INTR, on_interrupt, e, 1, 0);
    if (rc == UC_ERR_OK)
        rc = uc_hook_add(e->uc, &h, UC_HOOK_INSN_INVALID, on_invalid, e, 1, 0);
    if (rc == UC_ERR_OK)
        rc = uc_hook_add(e->uc, &h, UC_HOOK_INSN, on_syscall, e, 1, 0, UC_X86_INS_SYSCALL);
    if (rc != UC_ERR_OK) {
        snprintf(err, errlen, "cannot hook the emulator: %s", uc_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < e->nbps; i++)
        e->bps[i].hook = 0; /* set_mode adds them for the first run */
    for (size_t i = 0; i < e->nstubs; i++) {
        if (!(e->stubs[i].hook = add_code_hook(e, on_stub, e->stubs[i].addr, e->stubs[i].addr))) {
            snprintf(err, errlen, "cannot hook the stub at 0x%llx", (unsigned long long)e->stubs[i].addr);
            return -1;
        }
    }
    e->sentinel_hook = 0;
    tenet_unhooked(e);
    if (tenet_hook(e) != 0) {
        snprintf(err, errlen, "cannot hook the emulator's memory accesses for the Tenet trace");
        return -1;
    }
    return 0;
}

static int add_stub(dx_exec *e, uint64_t addr, uint64_t value, dx_intercept_fn fn, void *user)
{
    stub *s = stub_at(e, addr);
    if (s) {
        s->value = value, s->fn = fn, s->user = user;
        return 0;
    }
    stub *grown = grow(e->stubs, e->nstubs, &e->capstubs, sizeof *grown);
    if (!grown)
        return -1;
    e->stubs = grown;
    uc_hook hook = 0;
    if (e->uc && !(hook = add_code_hook(e, on_stub, addr, addr)))
        return -1;
    e->stubs[e->nstubs++] = (stub){addr, value, hook, fn, user};
    if (e->uc)
        uc_ctl_remove_cache(e->uc, addr, addr + 1);
    return 0;
}

int dx_exec_stub(dx_exec *e, uint64_t addr, uint64_t value) { return add_stub(e, addr, value, NULL, NULL); }

int dx_exec_intercept(dx_exec *e, uint64_t addr, dx_intercept_fn fn, void *user)
{
    return add_stub(e, addr, 0, fn, user);
}

void dx_exec_stub_clear(dx_exec *e)
{
    while (e->nstubs)
        dx_exec_unstub(e, e->stubs[0].addr);
}

int dx_exec_unstub(dx_exec *e, uint64_t addr)
{
    stub *s = stub_at(e, addr);
    if (!s)
        return -1;
    if (e->uc && s->hook) {
        uc_hook_del(e->uc, s->hook);
        uc_ctl_remove_cache(e->uc, addr, addr + 1);
    }
    *s = e->stubs[--e->nstubs];
    return 0;
}

/* The sentinel hook goes on once the scratch page exists. */
static bool ensure_sentinel_hook(dx_exec *e)
{
    if (!e->sentinel_hook)
        e->sentinel_hook = add_code_hook(e, on_sentinel, e->scratch, e->scratch);
    return e->sentinel_hook != 0;
}

int dx_exec_break_add(dx_exec *e, uint64_t addr)
{
    if (is_breakpoint(e, addr))
        return 0;
    if (e->nbps == DX_MAX_BREAKPOINTS)
        return -1; /* each costs an engine hook: a client may not take all memory */
    breakpoint *grown = grow(e->bps, e->nbps, &e->capbps, sizeof *grown);
    if (!grown)
        return -1;
    e->bps = grown;
    uc_hook hook = 0;
    if (e->uc && !e->step_hook && !(hook = add_code_hook(e, on_breakpoint, addr, addr)))
        return -1; /* a breakpoint a fast run would not see is not set */
    size_t i = breakpoint_index(e, addr);
    memmove(&e->bps[i + 1], &e->bps[i], (e->nbps - i) * sizeof *e->bps);
    e->bps[i] = (breakpoint){addr, hook};
    e->nbps++;
    if (e->uc)
        uc_ctl_remove_cache(e->uc, addr, addr + 1);
    return 0;
}

int dx_exec_break_remove(dx_exec *e, uint64_t addr)
{
    size_t i = breakpoint_index(e, addr);
    if (i == e->nbps || e->bps[i].addr != addr)
        return -1;
    if (e->uc && e->bps[i].hook)
        uc_hook_del(e->uc, e->bps[i].hook);
    if (e->uc)
        uc_ctl_remove_cache(e->uc, addr, addr + 1);
    e->nbps--;
    memmove(&e->bps[i], &e->bps[i + 1], (e->nbps - i) * sizeof *e->bps);
    return 0;
}

void dx_exec_break_clear(dx_exec *e)
{
    while (e->nbps)
        dx_exec_break_remove(e, e->bps[e->nbps - 1].addr); /* from the end: nothing to move */
    e->nwatches = 0;
}

static run_mode current_mode(const dx_exec *e)
{
    return e->step_hook ? RUN_INSN : e->block_hook ? RUN_BLOCK : RUN_FAST;
}

/* A breakpoint has a hook of its own only where no instruction hook checks
 * every address anyway: Unicorn weighs each code hook at every instruction
 * that some hook covers, so 100 of them made stepping runs ten times slower. */
static bool breakpoint_hooks(dx_exec *e, bool on)
{
    for (size_t i = 0; i < e->nbps; i++) {
        breakpoint *b = &e->bps[i];
        if (on && !b->hook) {
            if (!(b->hook = add_code_hook(e, on_breakpoint, b->addr, b->addr)))
                return false;
        } else if (!on && b->hook) {
            uc_hook_del(e->uc, b->hook);
            b->hook = 0;
        }
    }
    return true;
}

/* Unicorn bakes hooks into translated blocks: a new mode drops them.
 * False if Unicorn refused a hook the mode needs; the engine is then in
 * no mode that its run could trust, and the run does not start. */
static bool set_mode(dx_exec *e, run_mode mode)
{
    bool blocks = mode == RUN_BLOCK || (mode == RUN_INSN && (e->coverage || e->counting));
    if (mode == current_mode(e) && !e->block_hook == !blocks && e->block_hook_counts == e->counting &&
        (mode == RUN_INSN || breakpoint_hooks(e, true)))
        return true;
    if (e->step_hook)
        uc_hook_del(e->uc, e->step_hook);
    if (e->block_hook)
        uc_hook_del(e->uc, e->block_hook);
    e->step_hook = e->block_hook = 0;
    bool ok = breakpoint_hooks(e, mode != RUN_INSN);
    if (ok && mode == RUN_INSN)
        ok = (e->step_hook = add_code_hook(e, on_instruction, 1, 0)) != 0;
    if (ok && blocks)
        ok = uc_hook_add(e->uc, &e->block_hook, UC_HOOK_BLOCK, e->counting ? (void *)on_block_counted : (void *)on_block,
                         e, 1, 0) == UC_ERR_OK;
    e->block_hook_counts = e->counting;
    if (!ok)
        e->step_hook = e->block_hook = 0;
    engine_drop_translations(e);
    return ok;
}

void engine_mode_changed(dx_exec *e)
{
    if (!e->uc)
        return;
    if (e->step_hook)
        uc_hook_del(e->uc, e->step_hook);
    if (e->block_hook)
        uc_hook_del(e->uc, e->block_hook);
    e->step_hook = e->block_hook = 0;
    engine_drop_translations(e);
}

/* Hooked runs see the flag themselves; a fast run hears only the stop.
 * A stop that lands as Unicorn starts is lost, so a caller whose run goes
 * on calls again (the server repeats it every 50 ms): never a wait here,
 * the caller may be serving other sessions. */
void dx_exec_interrupt(dx_exec *e)
{
    atomic_store(&e->interrupt, true);
    /* A counted run stops only from its block hook, which notes where
     * (block_stop): a stop from outside could land anywhere. */
    if (atomic_load(&e->running) && atomic_load(&e->outside_stop))
        uc_emu_stop(e->uc);
}

void dx_exec_interrupt_clear(dx_exec *e) { atomic_store(&e->interrupt, false); }

/* The `call [0x7ffe1000]` at or after pc, or 0. A fast run names the start
 * of a chained block, which in Wine's stubs is a few instructions, or a
 * jump, before it: its bytes are found, with no disassembly on the hot
 * path of every service. */
static uint64_t wine_syscall_site(dx_exec *e, uint64_t pc)
{
    static const uint8_t call[7] = {0xff, 0x14, 0x25, 0x00, 0x10, 0xfe, 0x7f};
    for (int jumps = 0; jumps < 4; jumps++) {
        uint8_t b[40];
        size_t n = dx_exec_read(e, pc, b, sizeof b);
        for (size_t k = 0; k + sizeof call <= n; k++)
            if (!memcmp(b + k, call, sizeof call))
                return pc + k;
        int32_t rel;
        if (n >= 2 && b[0] == 0xeb) {
            pc += 2 + (uint64_t)(int64_t)(int8_t)b[1];
        } else if (n >= 5 && b[0] == 0xe9) {
            memcpy(&rel, b + 1, 4);
            pc += 5 + (uint64_t)(int64_t)rel;
        } else {
            return 0;
        }
    }
    return 0;
}

/* Wine's stubs reach the kernel through `call [0x7ffe1000]`; that read
 * fault is a system call, and EAX holds its number. */
static void name_syscall(dx_exec *e, dx_stop *s)
{
    uint64_t site;
    if (s->kind != DX_STOP_ACCESS || s->access != DX_ACCESS_READ || s->addr != WINE_SYSCALL_POINTER ||
        !(site = wine_syscall_site(e, s->pc)))
        return;
    s->kind = DX_STOP_SYSCALL;
    s->pc = e->regs[e->cur].rip = site;
    s->syscall_nr = (uint32_t)e->regs[e->cur].gpr[DX_REG_RAX];
}

/* After a run that ended with uc_emu_start's own error and no hook's word. */
static void classify_error(dx_exec *e, uc_err rc, dx_stop *s)
{
    if (e->stopped || rc == UC_ERR_OK)
        return;
    snprintf(s->detail, sizeof s->detail, "emulator error: %s", uc_strerror(rc));
    s->kind = DX_STOP_ERROR;
    s->pc = e->regs[e->cur].rip;
    e->stopped = true;
}

/* Unicorn refused a hook the run needs: it does not run (or go on) blind. */
static void hook_refused(dx_exec *e, const char *what)
{
    snprintf(e->stop->detail, sizeof e->stop->detail, "the emulator refused the hook for %s", what);
    stop_set(e, DX_STOP_ERROR, e->regs[e->cur].rip);
}

/* A watched page trapped an access: run that one instruction with the
 * page open, then stop after it if it touched a watched range, or report
 * true to go on. RIP is stale after a fault; the block hook or the
 * instruction hook knows where the instruction is. */
static bool step_over_trap(dx_exec *e)
{
    dx_regs *r = &e->regs[e->cur];
    uint64_t pc = e->step_hook ? e->stop->pc
                               : fault_locate(e, e->block_hook ? e->block_start : r->rip, e->trap.addr,
                                              e->trap.access);
    r->rip = pc;
    blocks_settle(e);
    uint64_t trap_pos = e->pos;
    regs_to_uc(e);
    uint64_t limit = e->limit;
    if (!set_mode(e, RUN_INSN)) {
        hook_refused(e, "stepping");
        return false;
    }
    e->limit = e->insns + 1;
    e->step_target = pc; /* a breakpoint there was passed already */
    e->stepping_over = true;
    e->translated = true;
    uc_err rc = uc_emu_start(e->uc, pc, 0, 0, 0);
    e->stepping_over = false;
    e->limit = limit;
    regs_from_uc(e);
    classify_error(e, rc, e->stop);
    if (e->stopped)
        return false; /* the instruction faulted for another reason */
    const watch *w = watch_hit(e, e->trap.addr, (uint64_t)e->trap.size, e->trap.access);
    if (w && (e->replay == REPLAY_QUIET || e->replay == REPLAY_SEARCH)) {
        if (e->replay == REPLAY_SEARCH)
            history_note_hit(e, trap_pos, DX_STOP_WATCHPOINT, w->addr, e->trap.access);
        w = NULL;
    }
    if (!w)
        blocks_settle(e);
    if (w) {
        e->stop->addr = w->addr;
        e->stop->access = e->trap.access;
        e->stop->kind = DX_STOP_WATCHPOINT;
        e->stop->pc = r->rip;
        e->stopped = true;
        return false;
    }
    return true;
}

static void load_thread_into_clean_cpu(dx_exec *e);

/* A counted run paused before a block that passes pause_at: history takes
 * a checkpoint (true: go on), or a replay has come near its end. */
static bool run_paused(dx_exec *e)
{
    e->paused = false;
    blocks_settle(e);
    if (!history_paused(e)) {
        e->stop->kind = DX_STOP_LIMIT;
        e->stop->pc = e->regs[e->cur].rip;
        e->stopped = true;
        return false;
    }
    load_thread_into_clean_cpu(e);
    return true;
}

/* One stretch of emulation from RIP until a hook or Unicorn ends it,
 * stepping over the accesses that watched pages trap on the way. */
static uc_err run_stretch(dx_exec *e, run_mode m, double deadline)
{
    dx_regs *r = &e->regs[e->cur];
    uc_err rc;
    for (;;) {
        /* One time budget for the whole run, however often watches trap. */
        uint64_t timeout_us = 0;
        if (deadline && m == RUN_FAST) {
            double left = deadline - seconds_now();
            timeout_us = left > 1e-6 ? (uint64_t)(left * 1e6) : 1;
        }
        if (!set_mode(e, m)) {
            hook_refused(e, m == RUN_INSN ? "stepping" : m == RUN_BLOCK ? "blocks" : "a breakpoint");
            return UC_ERR_OK;
        }
        e->block_start = r->rip;
        e->trap.pending = false;
        if (e->replay != REPLAY_QUIET)
            watch_arm(e);
        atomic_store(&e->outside_stop, !e->counting);
        atomic_store(&e->running, true);
        e->translated = true;
        e->block_stopped_at = 0;
        rc = uc_emu_start(e->uc, r->rip, 0, timeout_us, 0);
        atomic_store(&e->running, false);
        watch_disarm(e);
        regs_from_uc(e);
        if (e->block_stopped_at && !e->stopped && !e->trap.pending)
            r->rip = e->block_stopped_at; /* see block_stopped_at */
        if (e->paused && !e->stopped && !e->trap.pending && !e->timed_out && rc == UC_ERR_OK) {
            if (!run_paused(e))
                return rc;
            continue;
        }
        if (!e->trap.pending || e->stopped || e->timed_out || !step_over_trap(e))
            return rc;
    }
}

/* What ended the stretch, with the stopping instruction exact. */
static void settle_stop(dx_exec *e, uc_err rc, dx_stop *stop)
{
    dx_regs *r = &e->regs[e->cur];
    classify_error(e, rc, stop);
    if (!e->stopped) {
        size_t timed_out = 0;
        uc_query(e->uc, UC_QUERY_TIMEOUT, &timed_out);
        stop->kind = timed_out || e->timed_out ? DX_STOP_TIMEOUT : DX_STOP_INTERRUPTED;
        stop->pc = r->rip;
    }
    stop->insns = e->insns;
    /* Wine's system call: the address is exact, the site found from the
     * block by its bytes (no disassembly on the hot path of a service). */
    bool wine_call = stop->kind == DX_STOP_ACCESS && stop->access == DX_ACCESS_READ && stop->addr == WINE_SYSCALL_POINTER;
    if (wine_call && !e->step_hook)
        stop->pc = r->rip;
    else if ((stop->kind == DX_STOP_ACCESS || stop->kind == DX_STOP_MEMORY_LIMIT ||
              stop->kind == DX_STOP_STACK_OVERFLOW) && stop->access != DX_ACCESS_EXECUTE) {
        /* With a block hook the block is known; without one, Unicorn's RIP
         * is the start of a recent block, usually the faulting one. */
        if (!e->step_hook)
            stop->pc = fault_locate(e, e->block_hook ? e->block_start : r->rip, stop->addr, stop->access);
        stop->addr = fault_address(e, stop->pc, stop->addr, stop->access);
    }
    /* A faulting or stopped instruction did not run: RIP points at it. An
     * int3 has run, as on a real CPU, so continuing moves past it. */
    if (stop->kind != DX_STOP_INT3)
        r->rip = stop->pc;
    name_syscall(e, stop);
    blocks_settle(e);
}

/* Stopping inside a processor exception leaves it latched in the CPU, and
 * the next one would escalate to a double fault: the thread's registers
 * go into a clean CPU. */
static void load_thread_into_clean_cpu(dx_exec *e)
{
    if (e->cpu_dirty && e->clean)
        uc_context_restore(e->uc, e->clean);
    e->cpu_dirty = false;
    regs_to_uc(e);
}

/* The run goes on after a handler of the layer above moved the thread. */
static void resume_after(dx_exec *e, dx_stop *stop, dx_stop_kind expected)
{
    memset(stop, 0, sizeof *stop);
    stop->kind = expected;
    stop->pc = e->regs[e->cur].rip;
    e->stopped = false;
    load_thread_into_clean_cpu(e);
}

/* A system call the installed handler serves: the run goes on after it,
 * in the same budget. False: the run ends here. */
static bool serve_syscall(dx_exec *e, dx_stop *stop, dx_stop_kind expected)
{
    if (stop->kind != DX_STOP_SYSCALL || !e->on_syscall || atomic_load(&e->interrupt))
        return false;
    dx_regs *r = &e->regs[e->cur];
    uint8_t op[2] = {0};
    dx_exec_read(e, stop->pc, op, 2);
    int len = op[0] == 0xff && op[1] == 0x14 ? 7 : op[0] == 0x0f && op[1] == 0x05 ? 2 : dx_exec_insn_length(e, stop->pc);
    dx_syscall call = {.number = stop->syscall_nr, .pc = stop->pc, .insns = e->counting ? e->pos : e->insns};
    if (len <= 0 || e->on_syscall(e->on_syscall_user, e, &call, stop) != DX_VERDICT_RESUME)
        return false;
    if (e->counting)
        e->pos++; /* the system call instruction is done */
    if (r->rip == stop->pc)
        r->rip += (uint64_t)len; /* the handler may have sent the thread elsewhere */
    resume_after(e, stop, expected);
    return true;
}

/* A fault first chance (a second chance is the guest's own verdict). */
static bool is_exception(const dx_stop *stop)
{
    if (stop->unhandled)
        return false;
    switch (stop->kind) {
    case DX_STOP_ACCESS: case DX_STOP_DIVIDE: case DX_STOP_INVALID_OPCODE: case DX_STOP_INT3: return true;
    default: return false;
    }
}

/* A fault the installed handler delivers to the guest: the run goes on
 * in the guest's dispatcher. False: the run ends here. */
static bool serve_exception(dx_exec *e, dx_stop *stop, dx_stop_kind expected)
{
    if (!is_exception(stop) || !e->on_exception || atomic_load(&e->interrupt))
        return false;
    dx_regs *r = &e->regs[e->cur];
    uint64_t rip = r->rip;
    r->rip = stop->pc; /* an int3 has run; Windows reports it at the int3 */
    if (e->on_exception(e->on_exception_user, e, stop) != DX_VERDICT_RESUME) {
        if (stop->kind == DX_STOP_INT3 && r->rip == stop->pc)
            r->rip = rip;
        return false;
    }
    resume_after(e, stop, expected);
    return true;
}

/* Run the current thread from its RIP until something stops it. */
void run(dx_exec *e, run_mode mode, uint64_t max_insns, dx_stop *stop)
{
    dx_stop_kind expected = stop->kind; /* DX_STOP_STEP for a step */
    memset(stop, 0, sizeof *stop);
    stop->kind = expected;
    e->stop = stop;
    e->stopped = false;
    e->insns = 0;
    e->limit = max_insns;
    dx_regs *r = &e->regs[e->cur];
    /* A call starts fresh at its function, and a thread the layer above
     * moved starts fresh where it went: a breakpoint there is hit. */
    e->step_target = !e->in_call && !e->moved && is_breakpoint(e, r->rip) ? r->rip : 0;
    e->moved = false;
    stop->pc = r->rip;
    bool interrupted = atomic_exchange(&e->interrupt, false);
    if (interrupted || !ensure_sentinel_hook(e)) {
        if (interrupted)
            stop->kind = DX_STOP_INTERRUPTED;
        else
            hook_refused(e, "the return address");
        e->stop = NULL;
        stop_fill_insn(e, stop);
        return;
    }
    /* Watchpoints need the faulting instruction exactly: at least a block
     * hook; so does counting for history. */
    bool live = e->replay == REPLAY_NONE && !e->in_call;
    if (live)
        history_before_run(e);
    run_mode m = max_insns > 0 || e->trace || e->tenet                                 ? RUN_INSN
                 : (e->nwatches || e->coverage || e->counting) && mode == RUN_FAST ? RUN_BLOCK
                                                                                    : mode;
    if (max_insns)
        e->pause_at = UINT64_MAX; /* steps and limits end where they are told */
    e->paused = false;
    load_thread_into_clean_cpu(e);
    double t0 = seconds_now();
    double deadline = e->opt.timeout > 0 ? t0 + e->opt.timeout : 0;
    e->deadline = m == RUN_FAST ? 0 : deadline;
    e->deadline_ticks = 0;
    e->timed_out = false;
    do
        settle_stop(e, run_stretch(e, m, deadline), stop);
    while (serve_syscall(e, stop, expected) || serve_exception(e, stop, expected));
    atomic_store(&e->interrupt, false);
    if (live)
        history_after_run(e);
    if (e->trace)
        trace_summary(e, stop->insns, seconds_now() - t0);
    tenet_run_end(e);
    e->stop = NULL;
    stop_fill_insn(e, stop);
}

/* A run with an instruction limit, counted by block to near the limit and
 * then instruction by instruction: a hook per instruction would cost
 * 40 times the run. Tracing needs that hook anyway. */
#define LIMIT_SLACK 1024 /* instructions run one by one before the limit: more than a block */

void run_limited(dx_exec *e, run_mode mode, uint64_t max_insns, dx_stop *stop)
{
    if (max_insns <= 2 * LIMIT_SLACK || e->trace || e->tenet) {
        run(e, mode, max_insns, stop);
        return;
    }
    dx_stop_kind expected = stop->kind;
    bool counting = e->counting;
    uint64_t pos = e->pos;
    e->counting = true;
    e->pos = 0;
    e->pause_at = max_insns - LIMIT_SLACK;
    run(e, mode, 0, stop);
    uint64_t done = e->pos;
    if (stop->kind == DX_STOP_LIMIT && done < max_insns) {
        stop->kind = expected; /* the pause before the limit: the rest one by one */
        run(e, RUN_INSN, max_insns - done, stop);
        done = e->pos;
    }
    /* As a hook per instruction counts: the one that faulted too. */
    switch (stop->kind) {
    case DX_STOP_ACCESS: case DX_STOP_DIVIDE: case DX_STOP_INVALID_OPCODE: case DX_STOP_STACK_OVERFLOW:
    case DX_STOP_MEMORY_LIMIT: case DX_STOP_SYSCALL: case DX_STOP_ERROR: done++; break;
    default: break;
    }
    stop->insns = done;
    e->counting = counting;
    e->pos = pos;
    e->pause_at = UINT64_MAX;
}

void dx_exec_on_syscall(dx_exec *e, dx_syscall_fn fn, void *user)
{
    e->on_syscall = fn;
    e->on_syscall_user = user;
}

void dx_exec_moved(dx_exec *e) { e->moved = true; }

void dx_exec_on_exception(dx_exec *e, dx_exception_fn fn, void *user)
{
    e->on_exception = fn;
    e->on_exception_user = user;
}

static int begin_run(dx_exec *e, dx_stop *stop)
{
    char err[DX_ERRLEN];
    if (engine_ensure(e, err, sizeof err) != 0) {
        memset(stop, 0, sizeof *stop);
        stop->kind = DX_STOP_ERROR;
        snprintf(stop->detail, sizeof stop->detail, "%s", err);
        return -1;
    }
    return 0;
}

int dx_exec_continue(dx_exec *e, dx_stop *stop)
{
    if (begin_run(e, stop) != 0)
        return -1;
    if (history_forward(e, stop))
        return 0; /* it stopped in recorded history */
    stop->kind = DX_STOP_NONE;
    run(e, RUN_BLOCK, 0, stop); /* a debugger's continue runs until stopped: no limit */
    return 0;
}

int dx_exec_step(dx_exec *e, dx_stop *stop)
{
    if (begin_run(e, stop) != 0)
        return -1;
    stop->kind = DX_STOP_STEP;
    run(e, RUN_INSN, 1, stop);
    return 0;
}
