/* The executor behind protocol/'s target interface. */
#include "target.h"

#include "describe.h"
#include "hex.h"
#include "pe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { SIGINT_ = 2, SIGILL_ = 4, SIGTRAP_ = 5, SIGFPE_ = 8, SIGSEGV_ = 11 };

static int exception_signal(uint32_t code)
{
    switch (code) {
    case 0xc0000005: case 0xc00000fd: case 0xc0000006: return SIGSEGV_;
    case 0x80000003: case 0x80000004: case 0x406d1388: return SIGTRAP_;
    case 0xc0000094: case 0xc0000095: case 0xc000008c: case 0xc000008d: case 0xc000008e:
    case 0xc000008f: case 0xc0000090: case 0xc0000091: case 0xc0000092: case 0xc0000093: return SIGFPE_;
    case 0xc000001d: case 0xc0000096: case 0xc0000025: return SIGILL_;
    case 0x40010005: return SIGINT_;
    default: return 143; /* GDB_SIGNAL_UNKNOWN */
    }
}

/* Why the dump's process stopped: its exception, else a plain trap. */
static void stop_from_dump(const dx_dump *d, rsp_stop *out)
{
    memset(out, 0, sizeof *out);
    const dx_exception *x = dx_dump_exception(d);
    const dx_thread *t = dx_dump_default_thread(d);
    out->signal = x ? exception_signal(x->code) : SIGTRAP_;
    out->frozen = !x;
    out->tid = x ? x->tid : t ? t->tid : 1;
    if (x) {
        dx_buf why = {0};
        dx_describe_exception_reason(x, &why);
        snprintf(out->description, sizeof out->description, "%s", dx_buf_str(&why));
        dx_buf_free(&why);
    }
}

void dx_stop_to_rsp(const dx_target *t, const dx_stop *s, rsp_stop *out)
{
    memset(out, 0, sizeof *out);
    out->tid = dx_exec_current_thread(t->exec);
    out->kind = RSP_STOP_SIGNAL;
    switch (s->kind) {
    case DX_STOP_BREAKPOINT: out->signal = SIGTRAP_, out->kind = RSP_STOP_SWBREAK; break;
    case DX_STOP_WATCHPOINT:
        out->signal = SIGTRAP_;
        out->kind = s->access == DX_ACCESS_WRITE ? RSP_STOP_WATCH : RSP_STOP_RWATCH;
        out->watch_addr = s->addr;
        break;
    case DX_STOP_STEP: case DX_STOP_INT3: case DX_STOP_LIMIT: case DX_STOP_TIMEOUT: case DX_STOP_SYSCALL:
    case DX_STOP_RETURNED: case DX_STOP_NONE: case DX_STOP_NO_HISTORY: out->signal = SIGTRAP_; break;
    case DX_STOP_ACCESS: case DX_STOP_STACK_OVERFLOW: case DX_STOP_MEMORY_LIMIT: out->signal = SIGSEGV_; break;
    case DX_STOP_DIVIDE: out->signal = SIGFPE_; break;
    case DX_STOP_INVALID_OPCODE: case DX_STOP_ERROR: out->signal = SIGILL_; break;
    case DX_STOP_INTERRUPTED: out->signal = SIGINT_; break;
    case DX_STOP_EXCEPTION: out->signal = exception_signal(s->code); break;
    }
    out->no_history = s->kind == DX_STOP_NO_HISTORY;
    if (s->kind != DX_STOP_STEP && s->kind != DX_STOP_BREAKPOINT && s->kind != DX_STOP_INTERRUPTED &&
        !out->no_history) {
        dx_buf why = {0};
        dx_stop_describe(t->exec, s, &why);
        snprintf(out->description, sizeof out->description, "%s", dx_buf_str(&why));
        dx_buf_free(&why);
    }
}

/* A stop the guest's handlers could take, were the exception passed on. */
static bool is_guest_exception(const dx_stop *s)
{
    switch (s->kind) {
    case DX_STOP_ACCESS: case DX_STOP_DIVIDE: case DX_STOP_INVALID_OPCODE: case DX_STOP_INT3: case DX_STOP_EXCEPTION:
        return !s->unhandled;
    default: return false;
    }
}

static void set_last_from_dump(dx_target *t)
{
    stop_from_dump(t->dump, &t->last);
    const dx_exception *x = dx_dump_exception(t->dump);
    t->deliverable = false;
    if (x) {
        t->record = *x;
        t->has_record = t->deliverable = true;
    }
}

static void on_console(void *user, int fd, const char *text, size_t len)
{
    dx_target *t = user;
    dx_buf_append(&t->job.console, text, len);
    if (fd == DX_NT_DEBUG_STRING && (!len || text[len - 1] != '\n'))
        dx_buf_append(&t->job.console, "\n", 1); /* a debugger shows each debug string on its own line */
}

static dx_nt_options nt_options(dx_target *t)
{
    return (dx_nt_options){.policy = t->config.syscalls, .exceptions = t->config.exceptions,
                           .trace = t->config.trace_syscalls ? stderr : NULL, .console = on_console, .user = t};
}

/* The session's Windows over its executor: settings and stubs as configured. */
static int attach_nt(dx_target *t, char *err, size_t errlen)
{
    char why[DX_ERRLEN];
    dx_nt_options nto = nt_options(t);
    dx_exec_stub_clear(t->exec); /* a reused engine's; nt/ sets its own */
    if (dx_nt_new(t->exec, &nto, &t->nt, why, sizeof why) != 0)
        goto fail;
    for (size_t i = 0; i < t->config.nstubs; i++)
        if (dx_nt_stub(t->nt, t->config.stubs[i], why, sizeof why) != 0)
            goto fail;
    for (size_t i = 0; i < t->config.nstub_syscalls; i++)
        if (dx_nt_stub_syscall(t->nt, t->config.stub_syscalls[i], why, sizeof why) != 0)
            goto fail;
    return 0;
fail:
    if (err)
        snprintf(err, errlen, "%s", why);
    return -1;
}

static int start_history(dx_target *t, char *err, size_t errlen)
{
    if (!(t->config.history_mb > 0))
        return 0;
    return dx_exec_history_start(t->exec, (uint64_t)(t->config.history_mb * 1048576.0), err, errlen);
}

int dx_target_init(dx_target *t, const dx_dump *d, const dx_exec_options *o, const dx_target_config *c, char *err,
                   size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->dump = d;
    if (c)
        t->config = *c;
    if (dx_exec_new(d, o, &t->exec, err, errlen) != 0 || attach_nt(t, err, errlen) != 0 ||
        start_history(t, err, errlen) != 0)
        return -1;
    set_last_from_dump(t);
    return 0;
}

int dx_target_coverage_end(dx_target *t, dx_buf *out)
{
    if (!t->coverage_file)
        return 0;
    size_t n = dx_exec_coverage_count(t->exec);
    int rc = dx_exec_coverage_write(t->exec, t->coverage_file);
    rc |= fclose(t->coverage_file);
    t->coverage_file = NULL;
    dx_exec_coverage_stop(t->exec);
    if (out && rc == 0)
        dx_buf_printf(out, "Coverage: %zu blocks run, drcov log in %s\n", n, t->coverage_name);
    else if (out)
        dx_buf_printf(out, "%s: cannot write the coverage\n", t->coverage_name);
    return rc ? -1 : 0;
}

/* Coverage and a Tenet trace end with the session, written out, and never
 * pass to the next session on a kept engine. */
static void end_recordings(dx_target *t)
{
    if (t->exec) {
        dx_target_coverage_end(t, NULL);
        dx_exec_tenet(t->exec, NULL);
    }
    if (t->coverage_file)
        fclose(t->coverage_file);
    if (t->tenet_file)
        fclose(t->tenet_file);
    t->coverage_file = t->tenet_file = NULL;
}

void dx_target_free(dx_target *t)
{
    end_recordings(t);
    dx_symbols_close_all(t);
    dx_nt_free(t->nt);
    dx_exec_free(t->exec);
    dx_buf_free(&t->job.console);
    dx_args_free(t->job.call_args, t->job.call_nargs);
    dx_call_result_free(&t->job.call_result);
    if (t->trace_file && t->trace_file != stderr)
        fclose(t->trace_file);
    if (t->syscall_log)
        fclose(t->syscall_log);
    free(t->syscall_text);
}

FILE *dx_target_syscall_log(dx_target *t)
{
    if (!t->syscall_log)
        t->syscall_log = open_memstream(&t->syscall_text, &t->syscall_len);
    return t->syscall_log;
}

/* The run's system call lines join its console output. */
static void take_syscall_log(dx_target *t)
{
    if (!t->syscall_log || fflush(t->syscall_log) != 0 || !t->syscall_len)
        return;
    dx_buf_append(&t->job.console, t->syscall_text, t->syscall_len);
    rewind(t->syscall_log);
    t->syscall_len = 0;
}

int dx_target_reset(dx_target *t, const dx_exec_options *o)
{
    dx_target was = *t; /* its settings carry over */
    dx_exec *e = t->exec;
    dx_exec_trace(e, NULL);
    end_recordings(t);
    t->exec = NULL;
    dx_target_free(t); /* its nt/ too: a new one brings no stubs of this session's */
    memset(t, 0, sizeof *t);
    t->dump = was.dump;
    t->config = was.config;
    t->exec = e;
    if (attach_nt(t, NULL, 0) != 0 || start_history(t, NULL, 0) != 0)
        return -1;
    dx_exec_break_clear(e);
    dx_exec_interrupt_clear(e);
    *dx_exec_options_of(e) = *o;
    if (dx_target_back_to_dump(t, NULL, 0) != 0)
        return -1;
    const dx_thread *def = dx_dump_default_thread(t->dump);
    if (def)
        dx_exec_select_thread(e, def->tid);
    return 0;
}

int dx_target_back_to_dump(dx_target *t, char *err, size_t errlen)
{
    if (dx_exec_reset(t->exec, err, errlen) != 0)
        return -1;
    dx_nt_reset(t->nt);
    t->has_record = false;
    set_last_from_dump(t);
    return 0;
}

static size_t threads(void *ctx, uint32_t *tids, size_t max)
{
    dx_target *t = ctx;
    return dx_exec_threads(t->exec, tids, max);
}

static const char *thread_name(void *ctx, uint32_t tid)
{
    dx_target *t = ctx;
    const dx_thread *th = dx_dump_find_thread(t->dump, tid);
    const dx_exception *x = dx_dump_exception(t->dump);
    if (th && th->name)
        return th->name;
    if (x && x->tid == tid)
        return "exception";
    return th == dx_dump_thread(t->dump, 0) ? "main" : NULL;
}

static uint32_t pid(void *ctx)
{
    dx_target *t = ctx;
    uint32_t p;
    return dx_dump_pid(t->dump, &p) ? p : 1;
}

static int reg_read(void *ctx, uint32_t tid, int regno, uint8_t *buf)
{
    dx_target *t = ctx;
    dx_regs *r = dx_exec_regs(t->exec, tid);
    return r && regno >= 0 && regno < DX_REG_COUNT ? (int)dx_regs_get(r, regno, buf) : -1;
}

static int reg_write(void *ctx, uint32_t tid, int regno, const uint8_t *buf, size_t len)
{
    dx_target *t = ctx;
    dx_regs *r = dx_exec_regs(t->exec, tid);
    if (!r || len != dx_reg_size(regno))
        return -1;
    uint8_t was[64];
    dx_regs_get(r, regno, was);
    dx_regs_set(r, regno, buf);
    if (memcmp(was, buf, len))
        dx_exec_history_mark(t->exec); /* a client writing back what it read changes nothing */
    return 0;
}

static size_t mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    dx_target *t = ctx;
    return dx_exec_read(t->exec, addr, buf, len);
}

static int mem_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
    dx_target *t = ctx;
    char err[DX_ERRLEN];
    int rc = dx_exec_write(t->exec, addr, buf, len, err, sizeof err);
    dx_exec_history_mark(t->exec);
    return rc;
}

static void last_stop(void *ctx, uint32_t tid, rsp_stop *out)
{
    dx_target *t = ctx;
    *out = t->last;
    if (tid && tid != t->last.tid) {
        memset(out, 0, sizeof *out);
        out->signal = 0; /* other threads: frozen, no reason of their own */
        out->tid = tid;
    }
}

/* Another thread runs from here on: the history cannot make that choice. */
static int select_thread(dx_target *t, uint32_t tid)
{
    uint32_t was = dx_exec_current_thread(t->exec);
    if (!tid || tid == was)
        return 0;
    if (dx_exec_select_thread(t->exec, tid) != 0)
        return -1;
    dx_exec_history_mark(t->exec);
    return 0;
}

static int reverse(dx_target *t, uint32_t tid, dx_job_kind kind)
{
    if (!dx_exec_history_on(t->exec) || select_thread(t, tid) != 0)
        return -1;
    t->job.kind = kind;
    return RSP_ASYNC;
}

static int reverse_step(void *ctx, uint32_t tid) { return reverse(ctx, tid, DX_JOB_REVERSE_STEP); }
static int reverse_continue(void *ctx, uint32_t tid) { return reverse(ctx, tid, DX_JOB_REVERSE_CONTINUE); }
static const rsp_reverse_ops reverse_ops = {reverse_step, reverse_continue};

/* Resuming a thread stopped by an exception, first chance, as a Windows
 * debugger does: passing its signal on (gdb's default for SIGSEGV, a C
 * packet) delivers the exception to the guest's own handlers; resuming
 * without it runs the faulting instruction again. */
static int resume(void *ctx, uint32_t tid, bool step, int signal)
{
    dx_target *t = ctx;
    if (select_thread(t, tid) != 0)
        return -1;
    uint32_t cur = dx_exec_current_thread(t->exec);
    if (signal && signal == t->last.signal && t->deliverable && t->last.tid == cur) {
        char err[DX_ERRLEN];
        if (t->record.code == 0x80000003)
            dx_exec_regs(t->exec, cur)->rip = t->record.address; /* Windows reports an int3 at itself */
        if (dx_nt_raise(t->nt, &t->record, err, sizeof err) != 0)
            return -1;
        dx_exec_history_mark(t->exec); /* the debugger's choice: no run makes it again */
        t->deliverable = false;
    }
    t->job.kind = step ? DX_JOB_STEP : DX_JOB_CONTINUE;
    return RSP_ASYNC;
}

static void interrupt(void *ctx)
{
    dx_target *t = ctx;
    t->interrupt_wanted = true;
    dx_exec_interrupt(t->exec);
}

static int breakpoint(void *ctx, bool insert, int type, uint64_t addr, uint64_t len)
{
    dx_target *t = ctx;
    if (type <= 1)
        return insert ? dx_exec_break_add(t->exec, addr) : (dx_exec_break_remove(t->exec, addr), 0);
    dx_watch_kind kind = type == 2 ? DX_WATCH_WRITE : type == 3 ? DX_WATCH_READ : DX_WATCH_ACCESS;
    return insert ? dx_exec_watch_add(t->exec, addr, len, kind) : (dx_exec_watch_remove(t->exec, addr, len, kind), 0);
}

static int monitor(void *ctx, const char *cmd, dx_buf *out)
{
    return dx_monitor(ctx, cmd, out);
}

/* First section's address: gdb places a DLL by its .text, not its base. */
static uint64_t first_section(const dx_dump *d, const dx_module *m)
{
    dx_pe_section s[1];
    return dx_pe_sections(d, m->base, s, 1) > 0 ? m->base + s[0].rva : m->base + 0x1000;
}

static void xml_attr(dx_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            dx_buf_printf(out, "&amp;");
        else if (*s == '<')
            dx_buf_printf(out, "&lt;");
        else if (*s == '"')
            dx_buf_printf(out, "&quot;");
        else
            dx_buf_append(out, s, 1);
    }
}

static int libraries_xml(void *ctx, rsp_client client, dx_buf *out)
{
    dx_target *t = ctx;
    dx_buf_printf(out, "<library-list>\n");
    for (size_t i = 0; i < dx_dump_module_count(t->dump); i++) {
        const dx_module *m = dx_dump_module(t->dump, i);
        bool lldb = client == RSP_CLIENT_LLDB;
        if (i == 0 && !lldb)
            continue; /* gdb relocates the main image itself */
        char host[4096];
        bool local = dx_symbols_host_path(t, m->path, host, sizeof host);
        if (t->config.libraries_with_symbols_only && !local)
            continue;
        dx_buf name = {0};
        if (local)
            dx_buf_printf(&name, "%s", host);
        else if (client == RSP_CLIENT_GDB)
            dx_symbols_module_name(t, m, &name);
        else
            dx_buf_printf(&name, "%s", m->path);
        dx_buf_printf(out, "<library name=\"");
        xml_attr(out, dx_buf_str(&name));
        dx_buf_free(&name);
        if (lldb)
            dx_buf_printf(out, "\"><section address=\"0x%" PRIx64 "\"/></library>\n", m->base);
        else
            dx_buf_printf(out, "\"><segment address=\"0x%" PRIx64 "\"/></library>\n", first_section(t->dump, m));
    }
    dx_buf_printf(out, "</library-list>\n");
    return 0;
}

static uint64_t tib_address(void *ctx, uint32_t tid)
{
    dx_target *t = ctx;
    dx_regs *r = dx_exec_regs(t->exec, tid);
    return r ? r->gs_base : 0;
}

/* EXCEPTION_RECORD64 of the last stop, as gdb's $_siginfo reads it. */
static int siginfo(void *ctx, dx_buf *out)
{
    dx_target *t = ctx;
    const dx_exception *x = &t->record;
    uint8_t rec[152] = {0};
    if (!t->has_record)
        return -1;
    memcpy(rec, &x->code, 4);
    memcpy(rec + 4, &x->flags, 4);
    memcpy(rec + 8, &x->record, 8);
    memcpy(rec + 16, &x->address, 8);
    memcpy(rec + 24, &x->nparams, 4);
    memcpy(rec + 32, x->params, 8 * 15);
    dx_buf_append(out, rec, sizeof rec);
    return 0;
}

/* lldb's view of memory: the captured range holding addr, or the gap. */
/* Within a module, a region is its PE section (or the headers, or a gap
 * between sections), cut to what the dump captured: [*lo, *hi). */
static void section_bounds(const dx_dump *d, const dx_module *m, uint64_t addr, uint64_t *lo, uint64_t *hi)
{
    dx_pe_section sec[96];
    int n = dx_pe_sections(d, m->base, sec, 96);
    uint64_t rva = addr - m->base, start = 0, end = m->size;
    for (int i = 0; i < n && i < 96; i++) {
        uint64_t s = sec[i].rva, e = s + ((sec[i].size + 0xfff) & ~0xfffull);
        if (rva >= s && rva < e)
            start = s, end = e;
        else if (s > rva && s < end)
            end = s;
        else if (e <= rva && e > start)
            start = e;
    }
    if (m->base + start > *lo)
        *lo = m->base + start;
    if (m->base + end < *hi)
        *hi = m->base + end;
}

/* lldb's `memory region`: the captured range, or the module section in it,
 * with the protection the session's page has now (MemoryInfoList, else
 * the section's, as the emulator maps it). */
static int memory_region(void *ctx, uint64_t addr, dx_buf *out)
{
    dx_target *t = ctx;
    const dx_range *r = dx_dump_range_at(t->dump, addr);
    if (!r) {
        const dx_range *next = dx_dump_range_after(t->dump, addr);
        uint64_t end = next ? next->base : 0;
        dx_buf_printf(out, "start:%" PRIx64 ";size:%" PRIx64 ";", addr, end ? end - addr : -addr);
        return 0;
    }
    const dx_module *m = dx_dump_module_at(t->dump, addr);
    uint64_t lo = r->base, hi = r->base + r->size;
    if (m && !dx_dump_region_at(t->dump, addr))
        section_bounds(t->dump, m, addr, &lo, &hi);
    uint32_t prot = dx_exec_prot(t->exec, addr);
    dx_buf_printf(out, "start:%" PRIx64 ";size:%" PRIx64 ";permissions:%s%s%s;", lo, hi - lo,
                  prot & DX_PROT_READ ? "r" : "", prot & DX_PROT_WRITE ? "w" : "", prot & DX_PROT_EXEC ? "x" : "");
    if (m) {
        dx_buf_printf(out, "name:");
        rsp_hex_encode(out, m->path, strlen(m->path));
        dx_buf_printf(out, ";");
    }
    return 0;
}

const rsp_target_ops dx_target_ops = {
    .threads = threads,
    .thread_name = thread_name,
    .pid = pid,
    .reg_read = reg_read,
    .reg_write = reg_write,
    .mem_read = mem_read,
    .mem_write = mem_write,
    .last_stop = last_stop,
    .resume = resume,
    .interrupt = interrupt,
    .breakpoint = breakpoint,
    .monitor = monitor,
    .libraries_xml = libraries_xml,
    .tib_address = tib_address,
    .siginfo = siginfo,
    .memory_region = memory_region,
    .exec_file = dx_symbols_exec_file,
    .file_open = dx_symbols_open,
    .file_pread = dx_symbols_pread,
    .file_close = dx_symbols_close,
    .file_load_address = dx_symbols_load_address,
    .reverse = &reverse_ops,
};

void dx_target_run_job(dx_target *t)
{
    /* A debugger's own runs stop at an exception first chance, as under a
     * Windows debugger; a monitor call runs as the configuration says. */
    dx_nt_options_of(t->nt)->exceptions = t->job.kind == DX_JOB_CALL ? t->config.exceptions : DX_EXCEPTIONS_STOP;
    switch (t->job.kind) {
    case DX_JOB_STEP: dx_exec_step(t->exec, &t->job.stop); break;
    case DX_JOB_CONTINUE: dx_exec_continue(t->exec, &t->job.stop); break;
    case DX_JOB_REVERSE_STEP: dx_exec_reverse_step(t->exec, &t->job.stop); break;
    case DX_JOB_REVERSE_CONTINUE: dx_exec_reverse_continue(t->exec, &t->job.stop); break;
    case DX_JOB_CALL:
        dx_call_result_free(&t->job.call_result);
        dx_exec_call(t->exec, t->job.call_fn, t->job.call_args, t->job.call_nargs, NULL, &t->job.call_result);
        break;
    case DX_JOB_NONE: break;
    }
}

void dx_target_finish_job(dx_target *t, rsp_session *s, dx_buf *out)
{
    dx_job_kind job = t->job.kind;
    t->job.kind = DX_JOB_NONE;
    take_syscall_log(t);
    if (job == DX_JOB_CALL) {
        /* Release this call first: reporting it replays packets deferred
         * during the run, and one of them may be the next monitor call. */
        dx_buf text = {0};
        dx_buf_append(&text, t->job.console.data, t->job.console.len);
        if (t->job.console.len && t->job.console.data[t->job.console.len - 1] != '\n')
            dx_buf_printf(&text, "\n");
        dx_buf_reset(&t->job.console);
        dx_call_result_describe(t->exec, &t->job.call_result, &text);
        dx_call_result_free(&t->job.call_result);
        dx_args_free(t->job.call_args, t->job.call_nargs);
        t->job.call_args = NULL;
        t->job.call_nargs = 0;
        rsp_session_monitor_done(s, dx_buf_str(&text), true, out);
        dx_buf_free(&text);
    } else if (job != DX_JOB_NONE) {
        if (t->job.console.len) {
            rsp_session_console(s, dx_buf_str(&t->job.console), out);
            dx_buf_reset(&t->job.console);
        }
        dx_stop_to_rsp(t, &t->job.stop, &t->last);
        t->has_record = dx_nt_exception_of(&t->job.stop, &t->record);
        t->deliverable = is_guest_exception(&t->job.stop);
        rsp_session_stopped(s, &t->last, out);
    }
}
