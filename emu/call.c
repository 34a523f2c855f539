/* Calls by the Windows x64 convention: the first four arguments in RCX, RDX,
 * R8, R9 or XMM0-3 by position, the rest on the stack above 32 bytes of
 * shadow space, RSP = 8 mod 16 at entry, and a return address in the
 * scratch sentinel page where the call ends. */
#include "internal.h"

#include "buf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const int int_regs[4] = {DX_REG_RCX, DX_REG_RDX, DX_REG_R8, DX_REG_R9};

static uint64_t heap_alloc(dx_exec *e, size_t size)
{
    uint64_t heap_end = e->scratch + DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE + DX_SCRATCH_HEAP_SIZE;
    uint64_t at = (e->heap_next + 15) & ~15ull;
    if (size > heap_end - at)
        return 0;
    e->heap_next = at + size;
    return at;
}

/* UTF-8 to UTF-16LE, for wstr: arguments. */
static size_t utf16_from_utf8(const char *s, uint16_t *out)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = *p++;
        int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
        if (more)
            cp &= 0x3fu >> more;
        while (more-- && (*p & 0xc0) == 0x80)
            cp = cp << 6 | (*p++ & 0x3f);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out[n++] = (uint16_t)(0xd800 | cp >> 10);
            out[n++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
        } else {
            out[n++] = (uint16_t)cp;
        }
    }
    out[n++] = 0;
    return n * 2;
}

/* The 64-bit value an argument passes: a number, a float's bits, or the
 * address of the bytes it put on the scratch heap. */
static int arg_value(dx_exec *e, const dx_arg *a, uint64_t *v, char *err, size_t errlen)
{
    switch (a->kind) {
    case DX_ARG_INT: *v = a->i; return 0;
    case DX_ARG_DOUBLE: memcpy(v, &a->d, 8); return 0;
    case DX_ARG_FLOAT: {
        float f = (float)a->d;
        *v = 0;
        memcpy(v, &f, 4);
        return 0;
    }
    default: break;
    }
    size_t size = a->kind == DX_ARG_BUF ? a->size : a->kind == DX_ARG_STR ? a->size + 1 : (a->size + 1) * 4;
    uint8_t *bytes = calloc(1, size ? size : 1);
    if (!bytes || !(*v = heap_alloc(e, size))) {
        free(bytes);
        snprintf(err, errlen, "arguments do not fit the %llu KiB scratch heap",
                 (unsigned long long)(DX_SCRATCH_HEAP_SIZE >> 10));
        return -1;
    }
    if (a->kind == DX_ARG_STR || (a->kind == DX_ARG_BUF && a->text))
        memcpy(bytes, a->text, a->size);
    else if (a->kind == DX_ARG_WSTR)
        size = utf16_from_utf8(a->text, (uint16_t *)bytes);
    uc_mem_write(e->uc, *v, bytes, size);
    free(bytes);
    return 0;
}

static bool is_float(const dx_arg *a) { return a->kind == DX_ARG_DOUBLE || a->kind == DX_ARG_FLOAT; }

static int build_frame(dx_exec *e, uint64_t fn, const dx_arg *args, size_t nargs, const dx_call_options *o,
                       char *err, size_t errlen)
{
    dx_regs *r = &e->regs[e->cur];
    uint64_t top = e->scratch + DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE;
    size_t nstack = nargs > 4 ? nargs - 4 : 0;
    uint64_t rsp = ((top - 64 - 8 * nstack - 32) & ~15ull) - 8;
    e->heap_next = top;
    uint64_t ret = e->scratch;
    uc_mem_write(e->uc, rsp, &ret, 8);
    for (size_t i = 0; i < nargs; i++) {
        uint64_t v;
        if (arg_value(e, &args[i], &v, err, errlen) != 0)
            return -1;
        if (i >= 4) {
            uc_mem_write(e->uc, rsp + 8 + 32 + 8 * (i - 4), &v, 8);
            continue;
        }
        if (is_float(&args[i])) {
            memset(r->xmm[i], 0, 16);
            memcpy(r->xmm[i], &v, 8);
            if (o && o->variadic)
                r->gpr[int_regs[i]] = v;
        } else {
            r->gpr[int_regs[i]] = v;
        }
    }
    r->gpr[DX_REG_RSP] = rsp;
    r->rip = fn;
    r->eflags = 0x202;
    if (o && o->variadic)
        r->gpr[DX_REG_RAX] = nargs; /* harmless for MSVC, what SysV varargs expect */
    return 0;
}

static void collect_buffers(dx_exec *e, const dx_arg *args, size_t nargs, dx_call_result *res)
{
    size_t nbufs = 0;
    for (size_t i = 0; i < nargs; i++)
        nbufs += args[i].kind == DX_ARG_BUF;
    if (!nbufs)
        return;
    res->bufs = calloc(nbufs, sizeof *res->bufs);
    res->buf_sizes = calloc(nbufs, sizeof *res->buf_sizes);
    if (!res->bufs || !res->buf_sizes)
        return;
    /* Buffers were laid out in argument order on the heap; walk it again. */
    uint64_t at = e->scratch + DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE;
    for (size_t i = 0; i < nargs; i++) {
        const dx_arg *a = &args[i];
        if (a->kind != DX_ARG_STR && a->kind != DX_ARG_WSTR && a->kind != DX_ARG_BUF)
            continue;
        at = (at + 15) & ~15ull;
        size_t size = a->kind == DX_ARG_BUF ? a->size : a->kind == DX_ARG_STR ? a->size + 1 : (a->size + 1) * 4;
        if (a->kind == DX_ARG_BUF && (res->bufs[res->nbufs] = malloc(size ? size : 1))) {
            dx_exec_read(e, at, res->bufs[res->nbufs], size);
            res->buf_sizes[res->nbufs++] = size;
        }
        at += size;
    }
}

/* A call runs on the scratch stack, and for its length the thread's TEB
 * says so (NT_TIB: ExceptionList, StackBase, StackLimit): code that walks
 * the stack (RtlDispatchException, C++ unwinding) takes every frame off
 * the TEB's stack for corrupt, and stops where StackBase is, above the
 * called function's frame. Wine's handlers registered in the TEB live on
 * the thread's own stack, which is not under the call: the list is empty.
 * The TEB's bytes go back after the call. */
#define TIB_BYTES 24

static bool enter_scratch_stack(dx_exec *e, uint8_t saved[TIB_BYTES])
{
    char err[DX_ERRLEN];
    const dx_regs *r = &e->regs[e->cur];
    uint64_t tib[3] = {~0ull, r->gpr[DX_REG_RSP] + 8, e->scratch + DX_SCRATCH_SENTINEL_SIZE};
    return r->gs_base && dx_exec_read(e, r->gs_base, saved, TIB_BYTES) == TIB_BYTES &&
           mem_write(e, r->gs_base, tib, TIB_BYTES, true, err, sizeof err) == 0;
}

static void leave_scratch_stack(dx_exec *e, uint64_t teb, const uint8_t saved[TIB_BYTES])
{
    char err[DX_ERRLEN];
    mem_write(e, teb, saved, TIB_BYTES, true, err, sizeof err);
}

int dx_exec_call(dx_exec *e, uint64_t fn, const dx_arg *args, size_t nargs, const dx_call_options *o,
                 dx_call_result *res)
{
    memset(res, 0, sizeof *res);
    char err[DX_ERRLEN];
    if (engine_ensure(e, err, sizeof err) != 0) {
        res->stop.kind = DX_STOP_ERROR;
        snprintf(res->stop.detail, sizeof res->stop.detail, "%s", err);
        return -1;
    }
    dx_regs saved = e->regs[e->cur];
    if (build_frame(e, fn, args, nargs, o, err, sizeof err) != 0) {
        e->regs[e->cur] = saved;
        res->stop.kind = DX_STOP_ERROR;
        snprintf(res->stop.detail, sizeof res->stop.detail, "%s", err);
        return -1;
    }
    e->in_call = true;
    uint8_t tib[TIB_BYTES];
    uint64_t teb = e->regs[e->cur].gs_base;
    bool scratch_tib = enter_scratch_stack(e, tib);
    res->stop.kind = DX_STOP_NONE;
    bool counting = e->counting;
    e->counting = false; /* a call is no part of the history: what it leaves is a change, marked below */
    run_limited(e, RUN_FAST, e->opt.max_insns, &res->stop);
    e->counting = counting;
    e->in_call = false;
    if (scratch_tib)
        leave_scratch_stack(e, teb, tib);
    res->rax = e->regs[e->cur].gpr[DX_REG_RAX];
    memcpy(res->xmm0, e->regs[e->cur].xmm[0], 16);
    collect_buffers(e, args, nargs, res);
    e->regs[e->cur] = saved;
    if (e->history)
        dx_exec_history_mark(e);
    return 0;
}

void dx_call_result_free(dx_call_result *res)
{
    for (size_t i = 0; i < res->nbufs; i++)
        free(res->bufs[i]);
    free(res->bufs);
    free(res->buf_sizes);
    res->bufs = NULL;
    res->buf_sizes = NULL;
    res->nbufs = 0;
}

static const char *access_name(dx_access a)
{
    return a == DX_ACCESS_WRITE ? "writing" : a == DX_ACCESS_EXECUTE ? "executing" : "reading";
}

void dx_stop_describe(const dx_exec *e, const dx_stop *s, dx_buf *out)
{
    if (s->unhandled)
        dx_buf_printf(out, "unhandled ");
    switch (s->kind) {
    case DX_STOP_RETURNED: dx_buf_printf(out, "returned"); return;
    case DX_STOP_STEP: dx_buf_printf(out, "stepped"); break;
    case DX_STOP_BREAKPOINT: dx_buf_printf(out, "breakpoint"); break;
    case DX_STOP_WATCHPOINT:
        dx_buf_printf(out, "watchpoint: %s 0x%" PRIx64, access_name(s->access), s->addr);
        break;
    case DX_STOP_ACCESS: dx_buf_printf(out, "access violation %s 0x%" PRIx64, access_name(s->access), s->addr); break;
    case DX_STOP_DIVIDE: dx_buf_printf(out, "integer divide error"); break;
    case DX_STOP_INVALID_OPCODE: dx_buf_printf(out, "invalid opcode"); break;
    case DX_STOP_INT3: dx_buf_printf(out, "int3 breakpoint instruction"); break;
    case DX_STOP_EXCEPTION: dx_buf_printf(out, "exception 0x%08x", s->code); break;
    case DX_STOP_SYSCALL: {
        char where[300];
        dx_dump_symbolize(e->dump, s->pc, where, sizeof where);
        if (s->detail[0]) /* the system call handler's word */
            dx_buf_printf(out, "%s, in %s", s->detail, where);
        else
            dx_buf_printf(out, "system call 0x%x reached in %s (no system call handler)", s->syscall_nr, where);
        break;
    }
    case DX_STOP_LIMIT:
        dx_buf_printf(out, "instruction limit reached (%" PRIu64 " instructions; raise it with --max-insns or "
                           "monitor set max-insns)",
                      s->insns);
        break;
    case DX_STOP_TIMEOUT: dx_buf_printf(out, "time limit reached after %" PRIu64 " instructions", s->insns); break;
    case DX_STOP_INTERRUPTED: dx_buf_printf(out, "interrupted"); break;
    case DX_STOP_MEMORY_LIMIT:
        dx_buf_printf(out, "session memory limit reached mapping 0x%" PRIx64 " (raise it with --max-session-mb)",
                      s->addr);
        break;
    case DX_STOP_STACK_OVERFLOW: dx_buf_printf(out, "stack overflow (scratch stack exhausted at 0x%" PRIx64 ")", s->addr); break;
    case DX_STOP_ERROR: dx_buf_printf(out, "%s", s->detail[0] ? s->detail : "emulator error"); break;
    case DX_STOP_NONE: dx_buf_printf(out, "not run"); return;
    case DX_STOP_NO_HISTORY: dx_buf_printf(out, "the start of the recorded history"); break;
    }
    dx_buf_printf(out, " at 0x%" PRIx64 ": %s", s->pc, s->insn[0] ? s->insn : "?");
}

static void describe_count(const dx_exec *e, const dx_stop *s, dx_buf *out)
{
    if (e->opt.max_insns || e->trace)
        dx_buf_printf(out, "Instructions: %" PRIu64 "\n", s->insns);
    else
        dx_buf_printf(out, "Instructions: not counted (no limit set)\n");
}

void dx_call_result_describe(const dx_exec *e, const dx_call_result *res, dx_buf *out)
{
    if (res->stop.kind != DX_STOP_RETURNED) {
        dx_buf_printf(out, "Stopped: ");
        dx_stop_describe(e, &res->stop, out);
        dx_buf_printf(out, "\n");
        describe_count(e, &res->stop, out);
        return;
    }
    double d;
    uint64_t bits;
    memcpy(&d, res->xmm0, 8);
    memcpy(&bits, res->xmm0, 8);
    dx_buf_printf(out, "Return value: 0x%" PRIx64 " (%" PRId64 ")\n", res->rax, (int64_t)res->rax);
    dx_buf_printf(out, "XMM0: %.17g (0x%016" PRIx64 ")\n", d, bits);
    describe_count(e, &res->stop, out);
    for (size_t i = 0; i < res->nbufs; i++) {
        size_t len;
        dx_buf_printf(out, "Buffer %zu (%zu bytes):\n", i + 1, res->buf_sizes[i]);
        dx_buf_hexdump(out, res->bufs[i], res->buf_sizes[i], "  ");
        if (dx_bytes_c_string(res->bufs[i], res->buf_sizes[i], &len)) {
            dx_buf_append(out, "  as a C string: ", 17);
            dx_buf_c_string(out, res->bufs[i], len);
            dx_buf_append(out, "\n", 1);
        }
    }
}
