/* Exceptions as the kernel delivers them. A fault, or NtRaiseException
 * (RaiseException, a C++ throw), becomes a CONTEXT and an EXCEPTION_RECORD
 * on the thread's stack and a jump to the dump's own
 * ntdll!KiUserExceptionDispatcher. Everything from there is guest code:
 * the vectored handlers, RtlDispatchException's walk over .pdata, the
 * language handlers, RtlUnwindEx. It ends in NtContinue (handled), or in
 * NtRaiseException with FirstChance FALSE (nobody took it), which ends
 * the run naming the original exception at its original instruction. */
#include "internal.h"

#include "pe.h"
#include "winnt_layout.h"

#include <inttypes.h>
#include <string.h>

#define STATUS_BREAKPOINT 0x80000003u
#define STATUS_SINGLE_STEP 0x80000004u
#define STATUS_ILLEGAL_INSTRUCTION 0xc000001du
#define STATUS_INTEGER_DIVIDE_BY_ZERO 0xc0000094u
#define STATUS_STACK_OVERFLOW 0xc00000fdu
#define DBG_PRINTEXCEPTION_C 0x40010006u
#define DBG_PRINTEXCEPTION_WIDE_C 0x4001000au

/* What KiUserExceptionDispatcher finds at RSP, Windows' and Wine's alike
 * (the dump's disassembly: the record at rsp+0x4f0, the context at rsp). */
#define FRAME_CONTEXT_EX CTX_SIZE
#define FRAME_RECORD 0x4f0
#define FRAME_MACHINE 0x590 /* rip, cs, eflags, rsp, ss: what the kernel's iretq would pop */
#define FRAME_SIZE 0x5c0

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

bool dx_nt_exception_of(const dx_stop *s, dx_exception *x)
{
    static const uint32_t access_codes[] = {0, 1, 8}; /* read, write, execute */
    memset(x, 0, sizeof *x);
    x->address = s->pc;
    switch (s->kind) {
    case DX_STOP_ACCESS:
        x->code = STATUS_ACCESS_VIOLATION;
        x->nparams = 2;
        x->params[0] = access_codes[s->access];
        x->params[1] = s->addr;
        return true;
    case DX_STOP_STACK_OVERFLOW: x->code = STATUS_STACK_OVERFLOW; return true;
    case DX_STOP_DIVIDE: x->code = STATUS_INTEGER_DIVIDE_BY_ZERO; return true;
    case DX_STOP_INVALID_OPCODE: x->code = STATUS_ILLEGAL_INSTRUCTION; return true;
    case DX_STOP_INT3: case DX_STOP_BREAKPOINT: x->code = STATUS_BREAKPOINT, x->nparams = 1; return true;
    case DX_STOP_STEP: case DX_STOP_WATCHPOINT: x->code = STATUS_SINGLE_STEP; return true;
    case DX_STOP_EXCEPTION:
        x->code = s->code;
        x->flags = s->flags;
        x->nparams = s->nparams;
        memcpy(x->params, s->params, sizeof x->params);
        return true;
    default: return false;
    }
}

/* The stop that names an exception where it was raised: one the guest
 * did not handle (the caller clears `unhandled` for a debugger's
 * first-chance stop). */
static void stop_of_exception(const dx_exception *x, uint64_t pc, dx_stop *s)
{
    uint64_t insns = s->insns;
    memset(s, 0, sizeof *s);
    s->insns = insns;
    s->pc = pc;
    s->unhandled = true;
    if (x->code == STATUS_ACCESS_VIOLATION && x->nparams >= 2) {
        s->kind = DX_STOP_ACCESS;
        s->access = x->params[0] == 1 ? DX_ACCESS_WRITE : x->params[0] == 8 ? DX_ACCESS_EXECUTE : DX_ACCESS_READ;
        s->addr = x->params[1];
        return;
    }
    switch (x->code) {
    case STATUS_INTEGER_DIVIDE_BY_ZERO: s->kind = DX_STOP_DIVIDE; return;
    case STATUS_ILLEGAL_INSTRUCTION: s->kind = DX_STOP_INVALID_OPCODE; return;
    case STATUS_BREAKPOINT: s->kind = DX_STOP_INT3; return;
    default:
        s->kind = DX_STOP_EXCEPTION;
        s->code = x->code;
        s->flags = x->flags;
        s->nparams = x->nparams;
        memcpy(s->params, x->params, sizeof s->params);
    }
}

/* The frame on the thread's stack, and the thread at the dispatcher. */
static int deliver(dx_nt *nt, dx_regs *r, const dx_exception *x, char *err, size_t errlen)
{
    if (!nt->dispatcher) {
        snprintf(err, errlen, "the dump's ntdll has no KiUserExceptionDispatcher that reads a known frame layout");
        return -1;
    }
    uint8_t frame[FRAME_SIZE] = {0};
    dx_context ctx;
    dx_regs_to_context(r, &ctx);
    ctx.cs = dx_exec_code_selector(nt->exec);
    dx_context_encode(&ctx, frame);
    /* CONTEXT_EX: All, Legacy and XState chunks; no XSAVE area follows. */
    put32(frame + FRAME_CONTEXT_EX, (uint32_t)-CTX_SIZE);
    put32(frame + FRAME_CONTEXT_EX + 4, CTX_SIZE + 0x18);
    put32(frame + FRAME_CONTEXT_EX + 8, (uint32_t)-CTX_SIZE);
    put32(frame + FRAME_CONTEXT_EX + 12, CTX_SIZE);
    put32(frame + FRAME_CONTEXT_EX + 16, 0x18);
    dx_exception_record_encode(x, frame + FRAME_RECORD);
    const uint64_t machine[5] = {r->rip, ctx.cs, r->eflags, r->gpr[DX_REG_RSP], r->seg[1]};
    memcpy(frame + FRAME_MACHINE, machine, sizeof machine);
    uint64_t sp = (r->gpr[DX_REG_RSP] - FRAME_SIZE) & ~0x3full;
    nt_call c = {.nt = nt};
    if (sp > r->gpr[DX_REG_RSP] || !nt_write(&c, sp, frame, sizeof frame)) {
        snprintf(err, errlen, "the thread's stack at 0x%" PRIx64 " cannot take the exception frame", sp);
        return -1;
    }
    r->gpr[DX_REG_RSP] = sp;
    r->rip = nt->dispatcher;
    r->eflags &= ~0x500u; /* the kernel clears TF and DF for the dispatcher */
    nt->exceptions++;
    if (nt->opt.trace)
        fprintf(nt->opt.trace, "exception 0x%08x at 0x%" PRIx64 " delivered to KiUserExceptionDispatcher\n", x->code,
                x->address);
    return 0;
}

int dx_nt_raise(dx_nt *nt, const dx_exception *x, char *err, size_t errlen)
{
    char why[DX_ERRLEN];
    dx_regs *r = dx_exec_regs(nt->exec, dx_exec_current_thread(nt->exec));
    if (deliver(nt, r, x, why, sizeof why) == 0) {
        dx_exec_moved(nt->exec);
        return 0;
    }
    if (err)
        snprintf(err, errlen, "%s", why);
    return -1;
}

/* A fault, first chance: to the guest's handlers, or a stop. */
static dx_verdict on_exception(void *user, dx_exec *e, dx_stop *stop)
{
    dx_nt *nt = user;
    dx_exception x;
    char why[DX_ERRLEN];
    if (nt->opt.exceptions != DX_EXCEPTIONS_DISPATCH || !nt->dispatcher || !dx_nt_exception_of(stop, &x))
        return DX_VERDICT_STOP; /* no dispatcher: the fault as it happened */
    if (deliver(nt, dx_exec_regs(e, dx_exec_current_thread(e)), &x, why, sizeof why) != 0) {
        stop->unhandled = true; /* as Windows would end the process */
        return DX_VERDICT_STOP;
    }
    return DX_VERDICT_RESUME;
}

static bool on_raise(void *user, dx_exec *e, const uint64_t args[4], uint64_t *ret);

/* The dispatcher finds the record at rsp+FRAME_RECORD: its first
 * instructions name the offset (Wine's `lea rcx, [rsp+0x4f0]`, Windows'
 * `add rcx, 0x4f0`), which must be the one this file writes. */
static bool dispatcher_reads_our_frame(dx_nt *nt)
{
    uint8_t code[0x60];
    size_t n = dx_exec_read(nt->exec, nt->dispatcher, code, sizeof code);
    const uint8_t imm[4] = {FRAME_RECORD & 0xff, FRAME_RECORD >> 8, 0, 0};
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(code + i, imm, 4))
            return true;
    return false;
}

/* An export's address, or 0. */
static uint64_t export_of(dx_nt *nt, const char *module, const char *name)
{
    const dx_module *m = dx_dump_find_module(nt->dump, module);
    uint64_t addr;
    return m && dx_pe_find_export(nt->dump, m->base, name, &addr, NULL, 0) == 0 ? addr : 0;
}

int nt_exceptions_init(dx_nt *nt)
{
    nt->dispatcher = export_of(nt, "ntdll", "KiUserExceptionDispatcher");
    if (nt->dispatcher && !dispatcher_reads_our_frame(nt))
        nt->dispatcher = 0; /* a layout we do not know: exceptions stop, named, rather than mislead it */
    /* With a debugger attached, UnhandledExceptionFilter declines
     * (EXCEPTION_CONTINUE_SEARCH), so the exception comes back second
     * chance, where the run stops, rather than ending the process. */
    uint64_t filter = export_of(nt, "kernelbase", "UnhandledExceptionFilter");
    if (!filter)
        filter = export_of(nt, "kernel32", "UnhandledExceptionFilter");
    if (filter && dx_exec_stub(nt->exec, filter, 0) != 0)
        return -1;
    uint64_t raise = export_of(nt, "ntdll", "RtlRaiseException");
    if (raise && dx_exec_intercept(nt->exec, raise, on_raise, nt) != 0)
        return -1;
    dx_exec_on_exception(nt->exec, on_exception, nt);
    return 0;
}

/* The CONTEXT at addr into the thread, as NtContinue loads it. */
static bool load_context(nt_call *c, uint64_t addr)
{
    uint8_t raw[CTX_SIZE];
    if (!nt_read(c, addr, raw, sizeof raw))
        return false;
    dx_context ctx;
    dx_context_decode(raw, sizeof raw, &ctx);
    dx_regs_load_context(c->regs, &ctx);
    c->regs_loaded = true;
    return true;
}

/* NtContinue(context, alertable); NtContinueEx(context, argument) alike. */
static uint32_t nt_continue(nt_call *c)
{
    nt_trace(c, "rip -> context");
    return load_context(c, c->args[0]) ? STATUS_SUCCESS : STATUS_ACCESS_VIOLATION;
}

static bool read_record(nt_call *c, uint64_t addr, dx_exception *x)
{
    uint8_t raw[EXR_SIZE];
    if (!nt_read(c, addr, raw, sizeof raw))
        return false;
    memset(x, 0, sizeof *x);
    dx_exception_record_decode(raw, x);
    return true;
}

/* OutputDebugString: a debugger takes the string and continues the
 * exception. params: length with the NUL, address. False: not one. */
static bool take_debug_string(dx_nt *nt, const dx_exception *x)
{
    if (x->code != DBG_PRINTEXCEPTION_C && x->code != DBG_PRINTEXCEPTION_WIDE_C)
        return false;
    if (x->nparams < 2 || !nt->opt.console)
        return true;
    bool wide = x->code == DBG_PRINTEXCEPTION_WIDE_C;
    uint64_t len = x->params[0] > 4096 ? 4096 : x->params[0];
    char text[4097];
    size_t n = 0;
    nt_call c = {.nt = nt};
    for (uint64_t i = 0; i < len; i++) {
        uint16_t ch = 0;
        if (!nt_read(&c, x->params[1] + i * (wide ? 2 : 1), &ch, wide ? 2 : 1) || !ch)
            break;
        text[n++] = ch < 0x80 ? (char)ch : '?';
    }
    nt->opt.console(nt->opt.user, DX_NT_DEBUG_STRING, text, n);
    return true;
}

/* ntdll!RtlRaiseException(record): Wine dispatches there without the
 * kernel when no debugger is attached; a debug string is a debugger's,
 * so it is taken at the door (Windows sends it through NtRaiseException). */
static bool on_raise(void *user, dx_exec *e, const uint64_t args[4], uint64_t *ret)
{
    (void)e;
    dx_nt *nt = user;
    nt_call c = {.nt = nt};
    dx_exception x;
    *ret = 0;
    return read_record(&c, args[0], &x) && take_debug_string(nt, &x);
}

/* NtRaiseException(record, context, first_chance) */
static uint32_t raise_exception(nt_call *c)
{
    dx_exception x;
    dx_regs saved = *c->regs;
    if (!read_record(c, c->args[0], &x) || !load_context(c, c->args[1])) {
        *c->regs = saved;
        c->regs_loaded = false;
        return STATUS_ACCESS_VIOLATION;
    }
    nt_trace(c, "code 0x%08x at 0x%" PRIx64 "%s", x.code, x.address, (c->args[2] & 0xff) ? "" : ", second chance");
    if (take_debug_string(c->nt, &x))
        return STATUS_SUCCESS; /* the context goes on: RaiseException returns */
    dx_nt *nt = c->nt;
    if ((c->args[2] & 0xff) && nt->opt.exceptions == DX_EXCEPTIONS_DISPATCH &&
        deliver(nt, c->regs, &x, c->detail, c->detaillen) == 0)
        return STATUS_SUCCESS;
    /* Second chance, a debugger's first-chance stop, or no way to deliver:
     * the run ends where the exception was raised. */
    stop_of_exception(&x, c->regs->rip, c->stop_out);
    c->stop_out->unhandled = !(c->args[2] & 0xff) || nt->opt.exceptions == DX_EXCEPTIONS_DISPATCH;
    c->stop = true;
    return STATUS_SUCCESS;
}

const nt_service nt_exception_services[] = {
    {"NtContinue", nt_continue, 2},
    {"NtContinueEx", nt_continue, 2},
    {"NtRaiseException", raise_exception, 3},
};
const size_t nt_exception_count = sizeof nt_exception_services / sizeof nt_exception_services[0];
