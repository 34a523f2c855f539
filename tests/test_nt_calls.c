/* Calls across the kernel boundary, through nt/: every fixture function
 * marked needs_nt against the result Windows (Wine) gave it natively, in
 * both run modes; the guest's console; files refused; the status Windows
 * returns for bad pointers, sizes, handles and classes; protections,
 * isolation and reset of the guest's allocations; the virtual clock. */
#include "buf.h"
#include "exec.h"
#include "manifest.h"
#include "nt.h"
#include "pe.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static dx_dump *g_dump;
static mj *g_m;

static int group_setup(void **state)
{
    (void)state;
    return fixture_open("testprog_full", &g_dump, &g_m);
}

static int group_teardown(void **state)
{
    (void)state;
    fixture_close(g_dump, g_m);
    return 0;
}

typedef struct session {
    dx_exec *e;
    dx_nt *nt;
    dx_buf console;
} session;

static void on_console(void *user, int fd, const char *text, size_t len)
{
    dx_buf *out = &((session *)user)->console;
    if (fd == DX_NT_DEBUG_STRING)
        dx_buf_printf(out, "[debug] ");
    dx_buf_append(out, text, len);
}

static void open_session(session *s, uint64_t max_insns, uint64_t max_mb)
{
    memset(s, 0, sizeof *s);
    dx_exec_options o = {.max_insns = max_insns, .timeout = 30, .max_session_mb = max_mb};
    char err[DX_ERRLEN];
    assert_int_equal(dx_exec_new(g_dump, &o, &s->e, err, sizeof err), 0);
    dx_nt_options no = {.console = on_console, .user = s};
    assert_int_equal(dx_nt_new(s->e, &no, &s->nt, err, sizeof err), 0);
}

static void close_session(session *s)
{
    dx_nt_free(s->nt);
    dx_exec_free(s->e);
    dx_buf_free(&s->console);
}

static uint64_t addr_of(const char *expr)
{
    uint64_t a;
    char err[DX_ERRLEN];
    if (dx_dump_resolve(g_dump, expr, &a, err, sizeof err) != 0)
        fail_msg("%s: %s", expr, err);
    return a;
}

/* A call that must return; its RAX. */
static uint64_t call_ok(session *s, const char *fn, const dx_arg *args, size_t nargs)
{
    dx_call_result r;
    dx_exec_call(s->e, addr_of(fn), args, nargs, NULL, &r);
    if (r.stop.kind != DX_STOP_RETURNED) {
        dx_buf why = {0};
        dx_call_result_describe(s->e, &r, &why);
        fail_msg("%s did not return: %s", fn, dx_buf_str(&why));
    }
    uint64_t rax = r.rax;
    dx_call_result_free(&r);
    return rax;
}

static dx_arg int_arg(uint64_t v) { return (dx_arg){.kind = DX_ARG_INT, .i = v}; }

static void check_case(const char *name, const mj *c, uint64_t max_insns)
{
    session s;
    open_session(&s, max_insns, 0);
    dx_arg args[8];
    int nargs = tp_case_args(c, args, 8);
    assert_true(nargs >= 0);
    char fn[128];
    snprintf(fn, sizeof fn, "testprog!%s", name);
    uint64_t rax = call_ok(&s, fn, args, (size_t)nargs);
    const char *text = mj_str(mj_get(c, "returns_string"));
    const char *printed = mj_str(mj_get(c, "arg0_string"));
    if (text) { /* the address of a string the guest made */
        char got[256] = "";
        dx_exec_read(s.e, rax, got, sizeof got - 1);
        if (strcmp(got, text))
            fail_msg("%s: the string at 0x%" PRIx64 " is '%s', natively '%s'", name, rax, got, text);
    } else if (!strcmp(name, "create_file")) {
        assert_int_equal(rax, 5); /* ERROR_ACCESS_DENIED, where Windows created the file */
        assert_int_equal(access(printed, F_OK), -1);
    } else {
        uint64_t want;
        int width;
        bool is_float;
        assert_true(tp_value(mj_get(c, "result"), &want, &width, &is_float));
        uint64_t mask = width == 64 ? ~0ull : (1ull << width) - 1;
        if ((rax & mask) != (want & mask))
            fail_msg("%s (max_insns %" PRIu64 "): 0x%" PRIx64 ", natively 0x%" PRIx64, name, max_insns, rax & mask,
                     want & mask);
    }
    /* What reached the console: the string, with msvcrt's text mode turning
     * "\n" into "\r\n". */
    if (!strcmp(name, "write_stdout") || !strcmp(name, "crt_printf")) {
        char want[128];
        snprintf(want, sizeof want, "%.*s%s", (int)strlen(printed) - 1, printed,
                 !strcmp(name, "crt_printf") ? "\r\n" : "\n");
        if (strcmp(dx_buf_str(&s.console), want))
            fail_msg("%s: the console shows '%s', the guest wrote '%s'", name, dx_buf_str(&s.console), want);
    }
    if (!strcmp(name, "debug_print")) {
        char want[128];
        snprintf(want, sizeof want, "[debug] %s", printed);
        if (strcmp(dx_buf_str(&s.console), want))
            fail_msg("debug_print: the debugger saw '%s', the guest wrote '%s'", dx_buf_str(&s.console), want);
    }
    close_session(&s);
}

static void test_native_results(void **state)
{
    (void)state;
    static const uint64_t modes[2] = {50000000, 0};
    const mj *fns = mj_get(g_m, "functions");
    int checked = 0;
    for (size_t fi = 0; fi < mj_len(fns); fi++) {
        const mj *cases = mj_get(mj_at(fns, fi), "cases");
        for (size_t ci = 0; ci < mj_len(cases); ci++) {
            const mj *c = mj_at(cases, ci);
            if (!mj_get(c, "needs_nt") || mj_get(c, "expect_exception"))
                continue;
            for (int m = 0; m < 2; m++)
                check_case(mj_key_at(fns, fi), c, modes[m]);
            checked++;
        }
    }
    assert_true(checked >= 14);
}

#define STATUS_ACCESS_VIOLATION 0xc0000005u
#define STATUS_INVALID_HANDLE 0xc0000008u
#define STATUS_INVALID_PARAMETER 0xc000000du
#define STATUS_NO_MEMORY 0xc0000017u
#define STATUS_MEMORY_NOT_ALLOCATED 0xc00000a0u
#define STATUS_INVALID_INFO_CLASS 0xc0000003u
#define STATUS_INVALID_PAGE_PROTECTION 0xc0000045u

/* ntdll!NtAllocateVirtualMemory(-1, base_ptr, 0, size_ptr, type, protect) */
static uint32_t nt_allocate(session *s, uint64_t base_ptr, uint64_t size_ptr, uint32_t type, uint32_t protect)
{
    dx_arg a[6] = {int_arg(~0ull), int_arg(base_ptr), int_arg(0), int_arg(size_ptr), int_arg(type), int_arg(protect)};
    return (uint32_t)call_ok(s, "ntdll!NtAllocateVirtualMemory", a, 6);
}

/* Guest-chosen pointers, sizes, handles and classes get the status Windows returns. */
static void test_bad_arguments(void **state)
{
    (void)state;
    session s;
    open_session(&s, 0, 64);
    uint64_t code = addr_of("testprog!add2"); /* read-only: the kernel cannot write there */
    uint64_t scratch = addr_of("testprog!g_buf");
    uint64_t zero = 0, size = 0x10000;
    char err[DX_ERRLEN];
    assert_int_equal(dx_exec_write(s.e, scratch, &zero, 8, err, sizeof err), 0);
    assert_int_equal(dx_exec_write(s.e, scratch + 8, &size, 8, err, sizeof err), 0);
    assert_int_equal(nt_allocate(&s, 0xdeadbeef0000, scratch + 8, 0x3000, 4), STATUS_ACCESS_VIOLATION);
    assert_int_equal(nt_allocate(&s, code, scratch + 8, 0x3000, 4), STATUS_ACCESS_VIOLATION);
    assert_int_equal(nt_allocate(&s, 0xffff800000000000ull, scratch + 8, 0x3000, 4), STATUS_ACCESS_VIOLATION);
    assert_int_equal(nt_allocate(&s, scratch, scratch + 8, 0x3000, 0x1234), STATUS_INVALID_PAGE_PROTECTION);
    assert_int_equal(nt_allocate(&s, scratch, scratch + 8, 0, 4), STATUS_INVALID_PARAMETER);
    uint64_t huge = 1ull << 40;
    assert_int_equal(dx_exec_write(s.e, scratch + 8, &huge, 8, err, sizeof err), 0);
    assert_int_equal(nt_allocate(&s, scratch, scratch + 8, 0x3000, 4), STATUS_NO_MEMORY); /* over the session limit */
    /* A handle nobody has, an address nobody allocated, a class that does not exist. */
    dx_arg close_bad = int_arg(0x7777777);
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtClose", &close_bad, 1), STATUS_INVALID_HANDLE);
    dx_arg free_args[4] = {int_arg(~0ull), int_arg(scratch), int_arg(scratch + 8), int_arg(0x8000)};
    uint64_t nowhere = 0x5550000;
    assert_int_equal(dx_exec_write(s.e, scratch, &nowhere, 8, err, sizeof err), 0);
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtFreeVirtualMemory", free_args, 4), STATUS_MEMORY_NOT_ALLOCATED);
    dx_arg query[6] = {int_arg(~0ull), int_arg(code), int_arg(99), int_arg(scratch), int_arg(48), int_arg(0)};
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtQueryVirtualMemory", query, 6), STATUS_INVALID_INFO_CLASS);
    dx_arg wild[6] = {int_arg(~0ull), int_arg(code), int_arg(0), int_arg(0x10), int_arg(48), int_arg(0)};
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtQueryVirtualMemory", wild, 6), STATUS_ACCESS_VIOLATION);
    dx_arg other_process[6] = {int_arg(0x1234), int_arg(code), int_arg(0), int_arg(scratch), int_arg(48), int_arg(0)};
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtQueryVirtualMemory", other_process, 6), STATUS_INVALID_HANDLE);
    close_session(&s);
}

/* A page the guest made read-only faults when written; allocations are
 * the session's own and gone after a reset. */
static void test_allocations_protected_isolated_reset(void **state)
{
    (void)state;
    session a, b;
    open_session(&a, 0, 0);
    open_session(&b, 0, 0);
    dx_arg alloc[4] = {int_arg(0), int_arg(0x10000), int_arg(0x3000), int_arg(4)};
    uint64_t p = call_ok(&a, "kernel32!VirtualAlloc", alloc, 4);
    assert_true(p && !(p & 0xffff));
    uint64_t v = 0x1122334455667788, got = 0;
    char err[DX_ERRLEN];
    assert_int_equal(dx_exec_write(a.e, p, &v, 8, err, sizeof err), 0);
    assert_int_equal(dx_exec_read(b.e, p, &got, 8), 0); /* not in the other session */
    uint64_t q = call_ok(&b, "kernel32!VirtualAlloc", alloc, 4);
    assert_int_equal(q, p); /* the same address, its own memory */
    assert_int_equal(dx_exec_read(b.e, q, &got, 8), 8);
    assert_int_equal(got, 0);
    /* PAGE_READONLY, then a store: an access violation at the store. */
    dx_arg protect[4] = {int_arg(p), int_arg(0x1000), int_arg(2), int_arg(addr_of("testprog!g_buf"))};
    assert_int_equal(call_ok(&a, "kernel32!VirtualProtect", protect, 4), 1);
    dx_arg fill[2] = {int_arg(p), int_arg(16)};
    dx_call_result r;
    dx_exec_call(a.e, addr_of("testprog!fill_buf"), fill, 2, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_ACCESS);
    assert_int_equal(r.stop.access, DX_ACCESS_WRITE);
    assert_int_equal(r.stop.addr, p);
    dx_call_result_free(&r);
    /* After a reset the allocation is gone, and the same one comes back zeroed. */
    assert_int_equal(dx_exec_reset(a.e, err, sizeof err), 0);
    dx_nt_reset(a.nt);
    assert_int_equal(dx_exec_read(a.e, p, &got, 8), 0);
    assert_int_equal(call_ok(&a, "kernel32!VirtualAlloc", alloc, 4), p);
    assert_int_equal(dx_exec_read(a.e, p, &got, 8), 8);
    assert_int_equal(got, 0);
    close_session(&a);
    close_session(&b);
}

/* The clock starts at the dump's time and gives the same answers each time. */
static void test_virtual_clock(void **state)
{
    (void)state;
    uint64_t first[2];
    for (int i = 0; i < 2; i++) {
        session s;
        open_session(&s, 100000, 0);
        dx_arg ft = {.kind = DX_ARG_BUF, .size = 8};
        dx_call_result r;
        dx_exec_call(s.e, addr_of("kernel32!GetSystemTimeAsFileTime"), &ft, 1, NULL, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        memcpy(&first[i], r.bufs[0], 8);
        dx_call_result_free(&r);
        /* Sleep moves it on by what was asked. */
        dx_arg ms = int_arg(1500);
        call_ok(&s, "kernel32!Sleep", &ms, 1);
        uint64_t later;
        dx_exec_call(s.e, addr_of("kernel32!GetSystemTimeAsFileTime"), &ft, 1, NULL, &r);
        memcpy(&later, r.bufs[0], 8);
        dx_call_result_free(&r);
        assert_true(later - first[i] >= 15000000ull && later - first[i] < 16000000ull);
        close_session(&s);
    }
    assert_int_equal(first[0], first[1]);
    /* The dump was written in the manifest's year, and so is the clock. */
    uint64_t year = 0;
    const mj *c = mj_at(mj_get(mj_get(mj_get(g_m, "functions"), "system_year"), "cases"), 0);
    int width;
    bool f;
    assert_true(tp_value(mj_get(c, "result"), &year, &width, &f));
    assert_true(year >= 2024);
}

/* Events and waits inside the session; a wait nothing could end stops. */
static void test_events_and_waits(void **state)
{
    (void)state;
    session s;
    open_session(&s, 0, 0);
    dx_arg create[4] = {int_arg(0), int_arg(0), int_arg(1), int_arg(0)}; /* auto-reset, signaled */
    uint64_t h = call_ok(&s, "kernel32!CreateEventA", create, 4);
    assert_true(h != 0);
    dx_arg wait0[2] = {int_arg(h), int_arg(0)};
    assert_int_equal(call_ok(&s, "kernel32!WaitForSingleObject", wait0, 2), 0);   /* WAIT_OBJECT_0 */
    assert_int_equal(call_ok(&s, "kernel32!WaitForSingleObject", wait0, 2), 258); /* WAIT_TIMEOUT: auto-reset */
    dx_arg set = int_arg(h);
    assert_int_equal(call_ok(&s, "kernel32!SetEvent", &set, 1), 1);
    assert_int_equal(call_ok(&s, "kernel32!WaitForSingleObject", wait0, 2), 0);
    dx_arg forever[2] = {int_arg(h), int_arg(0xffffffff)};
    dx_call_result r;
    dx_exec_call(s.e, addr_of("kernel32!WaitForSingleObject"), forever, 2, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_SYSCALL);
    assert_non_null(strstr(r.stop.detail, "would wait forever"));
    dx_call_result_free(&r);
    assert_int_equal(call_ok(&s, "kernel32!CloseHandle", &set, 1), 1);
    assert_int_equal(call_ok(&s, "kernel32!CloseHandle", &set, 1), 0); /* closed already */
    close_session(&s);
}

/* What the system and the console say of themselves. */
static void test_system_and_console(void **state)
{
    (void)state;
    session s;
    open_session(&s, 0, 0);
    dx_arg info = {.kind = DX_ARG_BUF, .size = 48};
    dx_call_result r;
    dx_exec_call(s.e, addr_of("kernel32!GetSystemInfo"), &info, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    uint32_t page, cpus, granularity;
    memcpy(&page, r.bufs[0] + 4, 4);
    memcpy(&cpus, r.bufs[0] + 0x20, 4);
    memcpy(&granularity, r.bufs[0] + 0x28, 4);
    assert_int_equal(page, 4096);
    assert_int_equal(granularity, 0x10000);
    assert_int_equal(cpus, dx_dump_sysinfo(g_dump)->ncpus);
    dx_call_result_free(&r);
    dx_arg out = int_arg((uint64_t)-11);
    dx_arg handle = int_arg(call_ok(&s, "kernel32!GetStdHandle", &out, 1));
    assert_int_equal(call_ok(&s, "kernel32!GetFileType", &handle, 1), 2); /* FILE_TYPE_CHAR */
    dx_arg prio[2] = {int_arg((uint64_t)-2), int_arg(1)};
    assert_int_equal(call_ok(&s, "kernel32!SetThreadPriority", prio, 2), 1);
    close_session(&s);
}

/* --syscalls stop: the first system call stops, named. */
static void test_stop_policy(void **state)
{
    (void)state;
    session s;
    open_session(&s, 0, 0);
    dx_nt_options_of(s.nt)->policy = DX_SYSCALLS_STOP;
    dx_call_result r;
    dx_exec_call(s.e, addr_of("testprog!call_syscall"), NULL, 0, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_SYSCALL);
    assert_non_null(strstr(r.stop.detail, "NtQueryInformationProcess"));
    dx_call_result_free(&r);
    close_session(&s);
}

static dx_stop call_stop(session *s, const char *fn, const dx_arg *args, size_t nargs)
{
    dx_call_result r;
    dx_exec_call(s->e, addr_of(fn), args, nargs, NULL, &r);
    dx_stop stop = r.stop;
    dx_call_result_free(&r);
    return stop;
}

static uint64_t manifest_u64(const char *fn, const char *path)
{
    char full[256];
    snprintf(full, sizeof full, "functions.%s.cases.0.%s", fn, path);
    return mj_path_u64(g_m, full);
}

/* What the guest's handlers decline ends the call, named as it happened;
 * --exceptions stop keeps the first-chance stop; the thread's TEB is its
 * own again after a call ran on the scratch stack. */
static void test_exceptions(void **state)
{
    (void)state;
    session s;
    open_session(&s, 1000000, 0);
    dx_stop st = call_stop(&s, "testprog!raise_unhandled", NULL, 0);
    assert_int_equal(st.kind, DX_STOP_EXCEPTION);
    assert_true(st.unhandled);
    assert_int_equal(st.code, manifest_u64("raise_unhandled", "expect_exception.code"));
    assert_int_equal(st.pc, manifest_u64("raise_unhandled", "expect_exception.address"));
    dx_arg div[2] = {int_arg(7), int_arg(0)};
    st = call_stop(&s, "testprog!div_zero", div, 2);
    assert_int_equal(st.kind, DX_STOP_DIVIDE);
    assert_true(st.unhandled);
    assert_int_equal(st.pc, manifest_u64("div_zero", "expect_exception.address"));
    st = call_stop(&s, "testprog!null_write", NULL, 0);
    assert_int_equal(st.kind, DX_STOP_ACCESS);
    assert_int_equal(st.access, DX_ACCESS_WRITE);
    assert_true(st.unhandled);
    assert_int_equal(st.pc, manifest_u64("null_write", "expect_exception.address"));

    dx_arg magic = int_arg(manifest_u64("veh_repair_load", "fault_address"));
    dx_nt_options_of(s.nt)->exceptions = DX_EXCEPTIONS_STOP;
    st = call_stop(&s, "testprog!veh_repair_load", &magic, 1);
    assert_int_equal(st.kind, DX_STOP_ACCESS);
    assert_false(st.unhandled);
    assert_int_equal(st.addr, magic.i);
    assert_int_equal(st.pc, addr_of("testprog!veh_repair_load"));
    dx_nt_options_of(s.nt)->exceptions = DX_EXCEPTIONS_DISPATCH;
    assert_int_equal(call_ok(&s, "testprog!veh_repair_load", &magic, 1), 42);

    /* NtContinue and NtRaiseException probe what the guest passes. */
    dx_arg wild[3] = {int_arg(0x10), int_arg(0), int_arg(1)};
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtContinue", wild, 2), STATUS_ACCESS_VIOLATION);
    assert_int_equal((uint32_t)call_ok(&s, "ntdll!NtRaiseException", wild, 3), STATUS_ACCESS_VIOLATION);

    const dx_thread *t = dx_dump_default_thread(g_dump);
    uint64_t tib[3], dumped[3];
    assert_int_equal(dx_exec_read(s.e, t->teb, tib, sizeof tib), sizeof tib);
    assert_int_equal(dx_dump_read(g_dump, t->teb, dumped, sizeof dumped), sizeof dumped);
    assert_memory_equal(tib, dumped, sizeof tib);
    close_session(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_results),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_allocations_protected_isolated_reset),
        cmocka_unit_test(test_virtual_clock),
        cmocka_unit_test(test_stop_policy),
        cmocka_unit_test(test_events_and_waits),
        cmocka_unit_test(test_system_and_console),
        cmocka_unit_test(test_exceptions),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
