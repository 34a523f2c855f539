/* The system call table, keyed by service name: the numbers come from the
 * dump's own ntdll (each Nt* stub loads its number into EAX), so one table
 * serves every Windows build and Wine. Dispatch, argument fetching and the
 * trace live here; the services live in one file per subsystem. */
#include "internal.h"

#include "pe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NUMBER 0x2000 /* service numbers of every known build are below */

static const struct {
    const nt_service *list;
    const size_t *count;
} subsystems[] = {
    {nt_memory_services, &nt_memory_count},
    {nt_time_services, &nt_time_count},
    {nt_process_services, &nt_process_count},
    {nt_file_services, &nt_file_count},
    {nt_system_services, &nt_system_count},
    {nt_sync_services, &nt_sync_count},
    {nt_exception_services, &nt_exception_count},
};

#define NSUBSYSTEMS (sizeof subsystems / sizeof subsystems[0])

size_t dx_nt_service_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NSUBSYSTEMS; i++)
        n += *subsystems[i].count;
    return n;
}

static const nt_service *service_at(size_t i)
{
    for (size_t k = 0; k < NSUBSYSTEMS; i -= *subsystems[k].count, k++)
        if (i < *subsystems[k].count)
            return &subsystems[k].list[i];
    return NULL;
}

const char *dx_nt_service_name(size_t i)
{
    const nt_service *s = service_at(i);
    return s ? s->name : NULL;
}

/* The number ntdll's stub for name loads into EAX: `mov eax, imm32` (b8)
 * within its first bytes, after Windows' and Wine's `mov r10, rcx`. */
static bool stub_number(const dx_dump *d, const char *name, uint32_t *number)
{
    const dx_module *ntdll = dx_dump_find_module(d, "ntdll");
    uint64_t addr;
    uint8_t code[16];
    if (!ntdll || dx_pe_find_export(d, ntdll->base, name, &addr, NULL, 0) != 0 || !addr ||
        dx_dump_read(d, addr, code, sizeof code) != sizeof code)
        return false;
    for (int i = 0; i + 5 <= (int)sizeof code; i++) {
        if (code[i] == 0xb8) {
            memcpy(number, code + i + 1, 4);
            return *number < MAX_NUMBER;
        }
    }
    return false;
}

static int build_table(dx_nt *nt)
{
    nt->nnumbers = MAX_NUMBER;
    nt->by_number = calloc(MAX_NUMBER, sizeof *nt->by_number);
    nt->stub_status = calloc(MAX_NUMBER, sizeof *nt->stub_status);
    nt->stubbed = calloc(MAX_NUMBER, sizeof *nt->stubbed);
    if (!nt->by_number || !nt->stub_status || !nt->stubbed)
        return -1;
    for (size_t i = 0, n = dx_nt_service_count(); i < n; i++) {
        uint32_t number;
        if (stub_number(nt->dump, service_at(i)->name, &number))
            nt->by_number[number] = (uint16_t)(i + 1);
    }
    return 0;
}

bool nt_read(nt_call *c, uint64_t addr, void *buf, size_t len)
{
    return addr + len >= addr && addr + len <= 0x800000000000ull && dx_exec_read(c->nt->exec, addr, buf, len) == len;
}

bool nt_write(nt_call *c, uint64_t addr, const void *buf, size_t len)
{
    char err[DX_ERRLEN];
    if (addr + len < addr || addr + len > 0x800000000000ull || !dx_exec_writable(c->nt->exec, addr, len))
        return false;
    return dx_exec_write(c->nt->exec, addr, buf, len, err, sizeof err) == 0;
}

bool nt_read_u64(nt_call *c, uint64_t addr, uint64_t *v) { return nt_read(c, addr, v, 8); }
bool nt_write_u64(nt_call *c, uint64_t addr, uint64_t v) { return nt_write(c, addr, &v, 8); }

void nt_trace(nt_call *c, const char *fmt, ...)
{
    if (!c->nt->opt.trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    dx_buf_printf(&c->nt->line, "%s", text);
}

static const char *status_name(uint32_t st)
{
    switch (st) {
    case STATUS_SUCCESS: return "STATUS_SUCCESS";
    case STATUS_TIMEOUT: return "STATUS_TIMEOUT";
    case 0x40000024u: return "STATUS_NO_YIELD_PERFORMED";
    case STATUS_ACCESS_VIOLATION: return "STATUS_ACCESS_VIOLATION";
    case STATUS_INVALID_HANDLE: return "STATUS_INVALID_HANDLE";
    case STATUS_INVALID_PARAMETER: return "STATUS_INVALID_PARAMETER";
    case STATUS_NO_MEMORY: return "STATUS_NO_MEMORY";
    case STATUS_CONFLICTING_ADDRESSES: return "STATUS_CONFLICTING_ADDRESSES";
    case STATUS_ACCESS_DENIED: return "STATUS_ACCESS_DENIED";
    case STATUS_OBJECT_NAME_NOT_FOUND: return "STATUS_OBJECT_NAME_NOT_FOUND";
    case STATUS_INFO_LENGTH_MISMATCH: return "STATUS_INFO_LENGTH_MISMATCH";
    case STATUS_INVALID_INFO_CLASS: return "STATUS_INVALID_INFO_CLASS";
    case STATUS_INVALID_PAGE_PROTECTION: return "STATUS_INVALID_PAGE_PROTECTION";
    case STATUS_MEMORY_NOT_ALLOCATED: return "STATUS_MEMORY_NOT_ALLOCATED";
    case STATUS_NOT_COMMITTED: return "STATUS_NOT_COMMITTED";
    default: return NULL;
    }
}

/* The thread's view at the syscall: RSP is the stub's own (the return
 * address at [rsp], the fifth argument at [rsp+0x28]). */
static bool fetch_args(nt_call *c, unsigned n)
{
    const dx_regs *r = c->regs;
    uint64_t fixed[4] = {r->gpr[DX_REG_R10], r->gpr[DX_REG_RDX], r->gpr[DX_REG_R8], r->gpr[DX_REG_R9]};
    for (unsigned i = 0; i < n && i < 12; i++)
        if (i < 4)
            c->args[i] = fixed[i];
        else if (!nt_read_u64(c, r->gpr[DX_REG_RSP] + 0x28 + 8ull * (i - 4), &c->args[i]))
            return false;
    return true;
}

static void trace_call(nt_call *c, const nt_service *s, uint32_t status)
{
    dx_nt *nt = c->nt;
    if (!nt->opt.trace)
        return;
    if (c->stop) {
        fprintf(nt->opt.trace, "%s(...) stops: %s\n", s->name, c->detail);
        dx_buf_reset(&nt->line);
        return;
    }
    fprintf(nt->opt.trace, "%s(", s->name);
    for (unsigned i = 0; i < s->nargs; i++)
        fprintf(nt->opt.trace, "%s0x%" PRIx64, i ? ", " : "", c->args[i]);
    const char *name = status_name(status);
    fprintf(nt->opt.trace, ") = %s%s%s", name ? name : "", name ? "" : "0x", name ? "" : "");
    if (!name)
        fprintf(nt->opt.trace, "%08x", status);
    if (nt->line.len)
        fprintf(nt->opt.trace, "  %s", dx_buf_str(&nt->line));
    fprintf(nt->opt.trace, "\n");
    dx_buf_reset(&nt->line);
}

static void name_unknown(dx_nt *nt, const dx_syscall *call, char *detail, size_t len, const char *why)
{
    char where[300];
    dx_dump_symbolize(nt->dump, call->pc, where, sizeof where);
    char *plus = strchr(where, '+'), *bang = strchr(where, '!');
    if (plus)
        *plus = 0;
    snprintf(detail, len, "system call %.120s (0x%x) %s", bang ? bang + 1 : where, call->number, why);
}

static dx_verdict on_syscall(void *user, dx_exec *e, const dx_syscall *call, dx_stop *stop)
{
    dx_nt *nt = user;
    if (call->number < nt->nnumbers && nt->stubbed[call->number]) {
        dx_exec_regs(e, dx_exec_current_thread(e))->gpr[DX_REG_RAX] = nt->stub_status[call->number];
        if (nt->opt.trace)
            fprintf(nt->opt.trace, "service 0x%x = 0x%08x (stubbed)\n", call->number, nt->stub_status[call->number]);
        return DX_VERDICT_RESUME;
    }
    if (nt->opt.policy == DX_SYSCALLS_STOP) {
        name_unknown(nt, call, stop->detail, sizeof stop->detail, "reached (system calls are set to stop)");
        return DX_VERDICT_STOP;
    }
    unsigned idx = call->number < nt->nnumbers ? nt->by_number[call->number] : 0;
    if (!idx) {
        name_unknown(nt, call, stop->detail, sizeof stop->detail, "is not emulated");
        return DX_VERDICT_STOP;
    }
    const nt_service *s = service_at(idx - 1);
    nt_call c = {.nt = nt,
                 .regs = dx_exec_regs(e, dx_exec_current_thread(e)),
                 .detail = stop->detail,
                 .detaillen = sizeof stop->detail,
                 .stop_out = stop};
    nt_clock_tick(nt, call->insns);
    uint32_t status = fetch_args(&c, s->nargs) ? s->fn(&c) : STATUS_ACCESS_VIOLATION;
    trace_call(&c, s, status);
    if (c.stop)
        return DX_VERDICT_STOP;
    if (!c.regs_loaded)
        c.regs->gpr[DX_REG_RAX] = status;
    nt->services++;
    return DX_VERDICT_RESUME;
}

/* The PEB's standard handles: writes to them are the guest's console. */
static void find_console(dx_nt *nt)
{
    const dx_regs *r = dx_exec_regs(nt->exec, dx_exec_current_thread(nt->exec));
    nt_call c = {.nt = nt};
    uint64_t peb, params;
    if (r && nt_read_u64(&c, r->gs_base + 0x60, &peb) && nt_read_u64(&c, peb + 0x20, &params))
        nt_read(&c, params + 0x20, nt->console_handles, sizeof nt->console_handles);
}

int dx_nt_new(dx_exec *e, const dx_nt_options *o, dx_nt **out, char *err, size_t errlen)
{
    dx_nt *nt = calloc(1, sizeof *nt);
    if (!nt || (nt->exec = e, nt->dump = dx_exec_dump(e), build_table(nt)) != 0) {
        dx_nt_free(nt);
        if (err)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o)
        nt->opt = *o;
    nt_clock_init(nt);
    find_console(nt);
    if (nt_exceptions_init(nt) != 0) {
        dx_nt_free(nt);
        if (err)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    dx_exec_on_syscall(e, on_syscall, nt);
    nt_state_attach(nt);
    *out = nt;
    return 0;
}

void dx_nt_free(dx_nt *nt)
{
    if (!nt)
        return;
    if (nt->exec) {
        dx_exec_on_syscall(nt->exec, NULL, NULL);
        dx_exec_on_exception(nt->exec, NULL, NULL);
        dx_exec_on_state(nt->exec, NULL, NULL);
    }
    nt_allocs_free(nt);
    nt_objects_free(nt);
    free(nt->by_number);
    free(nt->stub_status);
    free(nt->stubbed);
    dx_buf_free(&nt->line);
    free(nt);
}

dx_nt_options *dx_nt_options_of(dx_nt *nt) { return &nt->opt; }

void dx_nt_reset(dx_nt *nt)
{
    nt_allocs_free(nt);
    nt_objects_free(nt);
    nt_clock_init(nt);
    nt->services = 0;
}

/* "NAME=VALUE" into its two halves; VALUE a number, negative allowed. */
static int split_spec(const char *spec, char *name, size_t namelen, uint64_t *value, char *err, size_t errlen)
{
    const char *eq = strrchr(spec, '=');
    char *end;
    if (!eq || eq == spec || (size_t)(eq - spec) >= namelen || !eq[1]) {
        snprintf(err, errlen, "'%s': expected NAME=VALUE", spec);
        return -1;
    }
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    errno = 0;
    *value = eq[1] == '-' ? (uint64_t)strtoll(eq + 1, &end, 0) : strtoull(eq + 1, &end, 0);
    if (*end || errno) {
        snprintf(err, errlen, "'%s': VALUE must be a number", spec);
        return -1;
    }
    return 0;
}

int dx_nt_stub(dx_nt *nt, const char *spec, char *err, size_t errlen)
{
    char name[256];
    uint64_t value, addr;
    if (split_spec(spec, name, sizeof name, &value, err, errlen) != 0 ||
        dx_dump_resolve(nt->dump, name, &addr, err, errlen) != 0)
        return -1;
    if (dx_exec_stub(nt->exec, addr, value) != 0) {
        snprintf(err, errlen, "cannot stub %s", name);
        return -1;
    }
    return 0;
}

int dx_nt_stub_syscall(dx_nt *nt, const char *spec, char *err, size_t errlen)
{
    char name[256];
    uint64_t status;
    uint32_t number;
    if (split_spec(spec, name, sizeof name, &status, err, errlen) != 0)
        return -1;
    if (!stub_number(nt->dump, name, &number)) {
        snprintf(err, errlen, "%s: no such system call stub in the dump's ntdll", name);
        return -1;
    }
    nt->stubbed[number] = true;
    nt->stub_status[number] = (uint32_t)status;
    return 0;
}

int dx_nt_unstub(dx_nt *nt, const char *name, char *err, size_t errlen)
{
    uint32_t number;
    uint64_t addr;
    if (stub_number(nt->dump, name, &number) && nt->stubbed[number]) {
        nt->stubbed[number] = false;
        return 0;
    }
    if (dx_dump_resolve(nt->dump, name, &addr, err, errlen) != 0)
        return -1;
    if (dx_exec_unstub(nt->exec, addr) != 0) {
        snprintf(err, errlen, "%s is not stubbed", name);
        return -1;
    }
    return 0;
}
