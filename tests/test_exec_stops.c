/* Everything that ends a run other than a return: faults against the
 * native probes of testprog_full.json, system calls, limits, timeouts,
 * interrupts, the scratch stack and session memory, breakpoints, steps and
 * watchpoints. Fault PCs must be exact in both run modes: with an
 * instruction limit (a hook on every instruction) and without (fast). */
#include "buf.h"
#include "exec.h"
#include "manifest.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static dx_dump *g_dump;
static mj *g_m;

#define MAX_ARGS 16
/* The two modes every fault is checked in. */
static const uint64_t modes[2] = {DX_DEFAULT_MAX_INSNS, 0};

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

static uint32_t main_tid(void) { return (uint32_t)mj_path_u64(g_m, "process.main_thread.tid"); }

static uint64_t func(const char *name)
{
    uint64_t a = tp_func(g_m, name);
    if (!a)
        fail_msg("no function %s in the manifest", name);
    return a;
}

/* Where the next exported function starts: the end of this one's code. */
static uint64_t func_end(const char *name)
{
    uint64_t start = func(name), end = UINT64_MAX;
    const mj *fns = mj_get(g_m, "functions");
    for (size_t i = 0; i < mj_len(fns); i++) {
        uint64_t a;
        if (mj_u64(mj_get(mj_at(fns, i), "address"), &a) && a > start && a < end)
            end = a;
    }
    return end;
}

static const mj *first_case(const char *name)
{
    const mj *c = mj_get(mj_get(mj_get(g_m, "functions"), name), "cases");
    if (!mj_len(c))
        fail_msg("no cases for %s in the manifest", name);
    return mj_at(c, 0);
}

static dx_exec *new_exec_opts(const dx_exec_options *o)
{
    char err[DX_ERRLEN];
    dx_exec *e = NULL;
    if (dx_exec_new(g_dump, o, &e, err, sizeof err) != 0)
        fail_msg("dx_exec_new: %s", err);
    if (dx_exec_select_thread(e, main_tid()) != 0)
        fail_msg("no main thread %u", main_tid());
    return e;
}

static dx_exec *new_exec(uint64_t max_insns)
{
    dx_exec_options o = {.max_insns = max_insns};
    return new_exec_opts(&o);
}

static const char *describe_stop(dx_exec *e, const dx_stop *s)
{
    static char text[1024];
    dx_buf b = {0};
    dx_stop_describe(e, s, &b);
    snprintf(text, sizeof text, "%s", dx_buf_str(&b) ? dx_buf_str(&b) : "?");
    dx_buf_free(&b);
    return text;
}

static bool regs_equal(const dx_regs *a, const dx_regs *b)
{
    for (int n = 0; n < DX_REG_COUNT; n++) {
        uint8_t x[16], y[16];
        size_t sx = dx_regs_get(a, n, x), sy = dx_regs_get(b, n, y);
        if (sx != sy || memcmp(x, y, sx) != 0)
            return false;
    }
    return true;
}

/* A call that must not return; registers are restored all the same. */
static dx_stop call_stop(dx_exec *e, uint64_t fn, const dx_arg *args, size_t nargs)
{
    dx_regs before = *dx_exec_regs(e, dx_exec_current_thread(e));
    dx_call_result r;
    assert_int_equal(dx_exec_call(e, fn, args, nargs, NULL, &r), 0);
    dx_call_result_free(&r);
    assert_true(regs_equal(&before, dx_exec_regs(e, dx_exec_current_thread(e))));
    return r.stop;
}

static const char *kind_name(dx_stop_kind k)
{
    static const char *const names[] = {"NONE",  "RETURNED", "STEP",    "BREAKPOINT", "WATCHPOINT", "ACCESS",
                                        "DIVIDE", "INVALID_OPCODE", "INT3", "SYSCALL", "LIMIT", "TIMEOUT",
                                        "INTERRUPTED", "MEMORY_LIMIT", "STACK_OVERFLOW", "ERROR"};
    return k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* One expected stop, with a readable failure. */
static void expect_stop(dx_exec *e, const dx_stop *s, const char *what, dx_stop_kind kind, uint64_t pc)
{
    if (s->kind != kind || s->pc != pc)
        fail_msg("%s (max_insns %" PRIu64 "): expected %s at 0x%" PRIx64 ", got %s at 0x%" PRIx64 ": %s", what,
                 dx_exec_options_of(e)->max_insns, kind_name(kind), pc, kind_name(s->kind), s->pc,
                 describe_stop(e, s));
    assert_true(s->insn[0] != 0);
}

static void expect_access(dx_exec *e, const dx_stop *s, const char *what, dx_stop_kind kind, uint64_t pc,
                          dx_access access, uint64_t addr)
{
    expect_stop(e, s, what, kind, pc);
    if (s->access != access || s->addr != addr)
        fail_msg("%s (max_insns %" PRIu64 "): expected access %d at 0x%" PRIx64 ", got %d at 0x%" PRIx64, what,
                 dx_exec_options_of(e)->max_insns, access, addr, s->access, s->addr);
}

/* ---- faults the native probes saw ---------------------------------- */

/* Every case with expect_exception, against the probe's code, access and
 * address (crash_write has no probe: its address is in the crash
 * manifest, as an RVA of the same image). */
static void test_native_faults(void **state)
{
    (void)state;
    mj *crash = manifest_load("testprog_crash.json");
    const mj *fns = mj_get(g_m, "functions");
    int checked = 0;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        for (size_t fi = 0; fi < mj_len(fns); fi++) {
            const char *name = mj_key_at(fns, fi);
            const mj *cases = mj_get(mj_at(fns, fi), "cases");
            for (size_t ci = 0; ci < mj_len(cases); ci++) {
                const mj *x = mj_get(mj_at(cases, ci), "expect_exception");
                if (!x || mj_get(mj_at(cases, ci), "needs_nt"))
                    continue;
                uint64_t code = mj_path_u64(x, "code"), pc;
                if (!mj_u64(mj_get(x, "address"), &pc)) {
                    /* crash_write: the crash dump's exception, same image */
                    const char *fn = mj_str(mj_path(crash, "exception.function"));
                    assert_non_null(fn);
                    assert_string_equal(fn, name);
                    assert_int_equal(mj_path_u64(crash, "process.image_base"), mj_path_u64(g_m, "process.image_base"));
                    pc = mj_path_u64(g_m, "process.image_base") + mj_path_u64(crash, "exception.exception_address_rva");
                } else {
                    assert_true(mj_is_true(mj_get(x, "probe_ok")));
                }
                dx_arg args[MAX_ARGS];
                int nargs = tp_case_args(mj_at(cases, ci), args, MAX_ARGS);
                assert_true(nargs >= 0);
                dx_stop s = call_stop(e, func(name), args, (size_t)nargs);
                char what[128];
                snprintf(what, sizeof what, "%s case %zu", name, ci);
                if (code == 0xc0000005) {
                    const char *acc = mj_str(mj_get(x, "access"));
                    assert_non_null(acc);
                    expect_access(e, &s, what, DX_STOP_ACCESS, pc,
                                  !strcmp(acc, "write") ? DX_ACCESS_WRITE : DX_ACCESS_READ,
                                  mj_path_u64(x, "fault_address"));
                } else if (code == 0xc0000094) {
                    expect_stop(e, &s, what, DX_STOP_DIVIDE, pc);
                } else {
                    fail_msg("%s: unexpected exception code 0x%" PRIx64 " in the manifest", what, code);
                }
                if (modes[mode])
                    assert_true(s.insns >= 1);
                checked++;
                /* The session goes on normally after the fault (no
                 * exception left latched in the CPU). */
                const mj *ok = mj_at(mj_path(g_m, "functions.div_zero.cases"), 1);
                uint64_t want;
                int w;
                bool f;
                assert_true(ok && mj_get(ok, "result") && tp_value(mj_get(ok, "result"), &want, &w, &f));
                nargs = tp_case_args(ok, args, MAX_ARGS);
                dx_call_result r;
                assert_int_equal(dx_exec_call(e, func("div_zero"), args, (size_t)nargs, NULL, &r), 0);
                if (r.stop.kind != DX_STOP_RETURNED || (uint32_t)r.rax != (uint32_t)want)
                    fail_msg("after %s: div_zero(-100, 7): %s", what, describe_stop(e, &r.stop));
            }
        }
        dx_exec_free(e);
    }
    mj_free(crash);
    assert_true(checked >= 2 * 4); /* null_read, null_write, div_zero, crash_write */
}

/* call_syscall reaches ntdll's stub, which calls through [0x7ffe1000]:
 * a system call, EAX its number, PC the `call` in the stub. */
static void test_syscall(void **state)
{
    (void)state;
    const char *hex = mj_str(mj_path(g_m, "syscall.stub_bytes_hex"));
    assert_non_null(hex);
    const char *call = strstr(hex, "ff14250010fe7f"); /* call qword ptr [0x7ffe1000] */
    assert_non_null(call);
    assert_true((call - hex) % 2 == 0);
    uint64_t pc = mj_path_u64(g_m, "syscall.stub_address") + (uint64_t)(call - hex) / 2;
    assert_int_equal(mj_path_u64(g_m, "globals.g_NtQueryInformationProcess.value_at_dump"),
                     mj_path_u64(g_m, "syscall.stub_address"));
    uint64_t nr = mj_path_u64(g_m, "syscall.syscall_number_eax");
    assert_true(nr != 0);
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        dx_stop s = call_stop(e, func(mj_str(mj_path(g_m, "syscall.function"))), NULL, 0);
        expect_stop(e, &s, "call_syscall", DX_STOP_SYSCALL, pc);
        assert_int_equal(s.syscall_nr, nr);
        dx_buf b = {0};
        dx_stop_describe(e, &s, &b);
        assert_non_null(strstr(dx_buf_str(&b), "system call"));
        assert_non_null(strstr(dx_buf_str(&b), "NtQueryInformationProcess"));
        dx_buf_free(&b);
        dx_exec_free(e);
    }
}

/* ---- hand-made code ------------------------------------------------ */

/* Code written over call_heap's body (executable .text), in its own
 * session; returns where it starts. */
static uint64_t craft(dx_exec *e, const uint8_t *code, size_t len)
{
    uint64_t at = func("call_heap");
    assert_true(func_end("call_heap") - at >= len);
    char err[DX_ERRLEN];
    if (dx_exec_write(e, at, code, len, err, sizeof err) != 0)
        fail_msg("cannot write code: %s", err);
    return at;
}

/* Code written over code that already ran, whole instructions at once, is
 * what the next run executes: after a run that returned and after one that
 * faulted, in both run modes. */
static void test_rewritten_code_runs(void **state)
{
    (void)state;
    static const uint8_t load[] = {0x48, 0x8b, 0x01, 0xc3}; /* mov rax, [rcx]; ret */
    static const uint8_t lea[] = {0x48, 0x8d, 0x41, 0x07, 0xc3}; /* lea rax, [rcx+7]; ret */
    uint64_t g = mj_path_u64(g_m, "globals.g_counter.address");
    for (int mode = 0; mode < 4; mode++) {
        dx_exec *e = new_exec(mode & 1 ? 0 : DX_DEFAULT_MAX_INSNS);
        uint64_t at = craft(e, load, sizeof load);
        dx_arg a = {.kind = DX_ARG_INT, .i = mode & 2 ? 8 : g};
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, at, &a, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, mode & 2 ? DX_STOP_ACCESS : DX_STOP_RETURNED);
        dx_call_result_free(&r);
        craft(e, lea, sizeof lea);
        assert_int_equal(dx_exec_call(e, at, &a, 1, NULL, &r), 0);
        if (r.stop.kind != DX_STOP_RETURNED || r.rax != a.i + 7)
            fail_msg("mode %d: the old code ran: %s, rax 0x%" PRIx64, mode, describe_stop(e, &r.stop), r.rax);
        dx_call_result_free(&r);
        dx_exec_free(e);
    }
}

typedef struct crafted {
    const char *name;
    const uint8_t *code;
    size_t len;
    uint64_t args[3]; /* RCX, RDX, R8; ~0 = the address of g_str, ~1 = g_str + 0x100 */
    dx_stop_kind kind;
    size_t pc_offset;
    dx_access access;
    uint64_t addr; /* same encoding as args */
} crafted;

static uint64_t crafted_value(uint64_t v)
{
    if (v == ~0ull)
        return mj_path_u64(g_m, "globals.g_str.address");
    if (v == ~1ull)
        return mj_path_u64(g_m, "globals.g_str.address") + 0x100;
    return v;
}

static void run_crafted(const crafted *c)
{
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        uint64_t at = craft(e, c->code, c->len);
        dx_arg args[3];
        for (int i = 0; i < 3; i++)
            args[i] = (dx_arg){.kind = DX_ARG_INT, .i = crafted_value(c->args[i])};
        dx_stop s = call_stop(e, at, args, 3);
        if (c->kind == DX_STOP_ACCESS || c->kind == DX_STOP_MEMORY_LIMIT)
            expect_access(e, &s, c->name, c->kind, at + c->pc_offset, c->access, crafted_value(c->addr));
        else
            expect_stop(e, &s, c->name, c->kind, at + c->pc_offset);
        dx_exec_free(e);
    }
}

static void test_invalid_opcode_and_int3(void **state)
{
    (void)state;
    static const uint8_t ud2[] = {0x90, 0x0f, 0x0b, 0xc3};          /* nop; ud2 */
    static const uint8_t int3[] = {0x90, 0x90, 0xcc, 0xc3};         /* nop; nop; int3 */
    static const uint8_t sys[] = {0xb8, 0x42, 0, 0, 0, 0x0f, 0x05, 0xc3}; /* mov eax, 0x42; syscall */
    run_crafted(&(crafted){"ud2", ud2, sizeof ud2, {0}, DX_STOP_INVALID_OPCODE, 1, 0, 0});
    run_crafted(&(crafted){"int3", int3, sizeof int3, {0}, DX_STOP_INT3, 2, 0, 0});
    run_crafted(&(crafted){"syscall insn", sys, sizeof sys, {0}, DX_STOP_SYSCALL, 5, 0, 0});
    dx_exec *e = new_exec(0);
    dx_stop s = call_stop(e, craft(e, sys, sizeof sys), NULL, 0);
    assert_int_equal(s.syscall_nr, 0x42);
    dx_exec_free(e);
}

/* Jumps where nothing executable is. */
static void test_execute_faults(void **state)
{
    (void)state;
    uint64_t g_str = mj_path_u64(g_m, "globals.g_str.address");
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        /* .rdata is not executable */
        dx_stop s = call_stop(e, g_str, NULL, 0);
        expect_access(e, &s, "call g_str", DX_STOP_ACCESS, g_str, DX_ACCESS_EXECUTE, g_str);
        /* nothing mapped */
        s = call_stop(e, 0x1000, NULL, 0);
        expect_access(e, &s, "call 0x1000", DX_STOP_ACCESS, 0x1000, DX_ACCESS_EXECUTE, 0x1000);
        dx_exec_free(e);
    }
}

/* A NULL function pointer: apply(NULL, x) calls 0 (address 0 is not
 * special to the run). */
static void test_null_function_pointer(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        dx_arg args[2] = {{.kind = DX_ARG_INT, .i = 0}, {.kind = DX_ARG_INT, .i = 7}};
        dx_stop s = call_stop(e, func("apply"), args, 2);
        expect_access(e, &s, "apply(NULL, 7)", DX_STOP_ACCESS, 0, DX_ACCESS_EXECUTE, 0);
        s = call_stop(e, 0, NULL, 0);
        expect_access(e, &s, "call 0", DX_STOP_ACCESS, 0, DX_ACCESS_EXECUTE, 0);
        /* With --unmapped zero too: zeros are data, never code. */
        dx_exec_options_of(e)->unmapped_zero = true;
        s = call_stop(e, func("apply"), args, 2);
        expect_access(e, &s, "apply(NULL, 7), unmapped zero", DX_STOP_ACCESS, 0, DX_ACCESS_EXECUTE, 0);
        dx_exec_free(e);
    }
}

/* Writes to read-only memory stop at the store, in both modes. */
static void test_write_protect(void **state)
{
    (void)state;
    /* The store of fill_buf: where it faults writing to code. */
    uint64_t store = 0;
    uint64_t targets[2] = {mj_path_u64(g_m, "globals.g_str.address"), func("add2")};
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        for (int t = 0; t < 2; t++) {
            dx_arg args[2] = {{.kind = DX_ARG_INT, .i = targets[t]}, {.kind = DX_ARG_INT, .i = 16}};
            dx_stop s = call_stop(e, func("fill_buf"), args, 2);
            if (!store)
                store = s.pc;
            expect_access(e, &s, t ? "fill_buf(add2)" : "fill_buf(g_str)", DX_STOP_ACCESS, store, DX_ACCESS_WRITE,
                          targets[t]);
            assert_true(store > func("fill_buf") && store < func_end("fill_buf"));
        }
        dx_exec_free(e);
    }
}

/* Loops that run off the end of their memory: many iterations of one
 * translated block before the fault. */
static void test_overrun_loops(void **state)
{
    (void)state;
    /* fill_buf's store, from its fault on read-only memory. */
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    dx_arg ro[2] = {{.kind = DX_ARG_INT, .i = mj_path_u64(g_m, "globals.g_str.address")}, {.kind = DX_ARG_INT, .i = 1}};
    uint64_t store = call_stop(e, func("fill_buf"), ro, 2).pc;
    dx_exec_free(e);
    /* sum_array(g_array, huge) reads on until the dump holds no more. */
    uint64_t arr = mj_path_u64(g_m, "globals.g_array.address");
    static uint8_t scratch[16 << 20];
    uint64_t end = arr + dx_dump_read(g_dump, arr, scratch, sizeof scratch);
    assert_true(end > arr && end < arr + sizeof scratch && end % 4 == arr % 4);
    uint64_t load[2];
    static const uint64_t limits[2] = {100000000, 0};
    for (int mode = 0; mode < 2; mode++) {
        e = new_exec(limits[mode]);
        /* buf:16 filled with 1 MiB + 100 bytes: past the scratch heap's end. */
        dx_arg fill[2] = {{.kind = DX_ARG_BUF, .size = 16}, {.kind = DX_ARG_INT, .i = DX_SCRATCH_HEAP_SIZE + 100}};
        dx_stop s = call_stop(e, func("fill_buf"), fill, 2);
        expect_access(e, &s, "fill_buf past the heap", DX_STOP_ACCESS, store, DX_ACCESS_WRITE,
                      DX_SCRATCH_BASE + DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE + DX_SCRATCH_HEAP_SIZE);
        dx_arg sum[2] = {{.kind = DX_ARG_INT, .i = arr}, {.kind = DX_ARG_INT, .i = 0x7fffffff}};
        s = call_stop(e, func("sum_array"), sum, 2);
        if (s.kind != DX_STOP_ACCESS || s.access != DX_ACCESS_READ || s.addr != end)
            fail_msg("sum_array overrun, max_insns %" PRIu64 ": %s", limits[mode], describe_stop(e, &s));
        assert_true(s.pc > func("sum_array") && s.pc < func_end("sum_array"));
        load[mode] = s.pc;
        dx_exec_free(e);
    }
    assert_int_equal(load[0], load[1]);
}

/* Unicorn reports a fault with the PC of its translation block; the
 * executor must still name the exact instruction when earlier ones in the
 * same block address memory through the same registers. */
static void test_fault_pc_within_block(void **state)
{
    (void)state;
    /* mov rax, rcx; mov edx, [rax]; mov rax, r8; mov edx, [rax]; ret
     * RCX = g_str (readable), R8 = 0x10: the second load faults. */
    static const uint8_t two_loads[] = {0x48, 0x89, 0xc8, 0x8b, 0x10, 0x4c, 0x89, 0xc0, 0x8b, 0x10, 0xc3};
    run_crafted(&(crafted){"two loads", two_loads, sizeof two_loads, {~0ull, 0, 0x10}, DX_STOP_ACCESS, 8,
                           DX_ACCESS_READ, 0x10});
    /* mov al, [rcx]; add rcx, rdx; mov [rcx], al; ret
     * RCX = g_str, RDX = 0x100: the read succeeds, the write to .rdata not. */
    static const uint8_t read_then_write[] = {0x8a, 0x01, 0x48, 0x01, 0xd1, 0x88, 0x01, 0xc3};
    run_crafted(&(crafted){"read then write", read_then_write, sizeof read_then_write, {~0ull, 0x100, 0},
                           DX_STOP_ACCESS, 5, DX_ACCESS_WRITE, ~1ull});
    /* push rcx; pop rcx; mov rsp, r8; push rcx; ret
     * R8 = 0x1008: the second push writes 0x1000, unmapped. */
    static const uint8_t pushes[] = {0x51, 0x59, 0x4c, 0x89, 0xc4, 0x51, 0xc3};
    run_crafted(&(crafted){"second push", pushes, sizeof pushes, {1, 0, 0x1008}, DX_STOP_ACCESS, 5,
                           DX_ACCESS_WRITE, 0x1000});
}

/* ---- limits -------------------------------------------------------- */

static void test_instruction_limit(void **state)
{
    (void)state;
    dx_exec *e = new_exec(1000);
    dx_arg n = {.kind = DX_ARG_INT, .i = 1000000000};
    dx_stop s = call_stop(e, func("long_loop"), &n, 1);
    assert_int_equal(s.kind, DX_STOP_LIMIT);
    assert_int_equal(s.insns, 1000);
    assert_true(s.pc >= func("long_loop") && s.pc < func_end("long_loop"));
    /* The next call has its own budget. */
    dx_exec_options_of(e)->max_insns = 1;
    s = call_stop(e, func("long_loop"), &n, 1);
    assert_int_equal(s.kind, DX_STOP_LIMIT);
    assert_int_equal(s.insns, 1);
    dx_exec_free(e);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_timeout(void **state)
{
    (void)state;
    static const uint64_t limits[2] = {0, 1000000000000ull};
    for (int mode = 0; mode < 2; mode++) {
        dx_exec_options o = {.max_insns = limits[mode], .timeout = 0.2};
        dx_exec *e = new_exec_opts(&o);
        dx_arg n = {.kind = DX_ARG_INT, .i = 1000000000000ll};
        double t0 = now();
        dx_stop s = call_stop(e, func("long_loop"), &n, 1);
        double took = now() - t0;
        assert_int_equal(s.kind, DX_STOP_TIMEOUT);
        assert_true(took >= 0.15 && took < 2.0);
        assert_true(s.pc >= func("long_loop") && s.pc < func_end("long_loop"));
        if (limits[mode])
            assert_true(s.insns > 0 && s.insns < limits[mode]);
        /* A later short call is not affected. */
        dx_arg a[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, func("add2"), a, 2, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, 13);
        dx_exec_free(e);
    }
}

typedef struct interrupter {
    dx_exec *e;
    useconds_t delay;
} interrupter;

static void *interrupt_later(void *p)
{
    interrupter *in = p;
    usleep(in->delay);
    dx_exec_interrupt(in->e);
    return NULL;
}

static void test_interrupt(void **state)
{
    (void)state;
    static const uint64_t limits[2] = {0, 1000000000000ull};
    for (int mode = 0; mode < 2; mode++) {
        dx_exec_options o = {.max_insns = limits[mode], .timeout = 10};
        dx_exec *e = new_exec_opts(&o);
        dx_arg n = {.kind = DX_ARG_INT, .i = 1000000000000ll};
        interrupter in = {e, 100000};
        pthread_t t;
        double t0 = now();
        assert_int_equal(pthread_create(&t, NULL, interrupt_later, &in), 0);
        dx_stop s = call_stop(e, func("long_loop"), &n, 1);
        pthread_join(t, NULL);
        double took = now() - t0;
        /* A TIMEOUT here is an interrupt lost while the run was starting
         * (see test_interrupt_stress). */
        if (s.kind != DX_STOP_INTERRUPTED || took < 0.09 || took > 5.0)
            fail_msg("interrupt after 100 ms (max_insns %" PRIu64 "): %s after %.3f s", limits[mode],
                     kind_name(s.kind), took);
        assert_true(s.pc >= func("long_loop") && s.pc < func_end("long_loop"));

        /* Before a run: the next run stops at once, the one after runs. */
        dx_exec_interrupt(e);
        dx_arg a[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
        s = call_stop(e, func("add2"), a, 2);
        assert_int_equal(s.kind, DX_STOP_INTERRUPTED);
        assert_int_equal(s.pc, func("add2"));
        assert_int_equal(s.insns, 0);
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, func("add2"), a, 2, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        dx_exec_free(e);
    }
}

/* Opt-in (DX_STRESS=1): interrupts that land while a run is starting must
 * not be lost. A lost one shows as a timeout. */
static void test_interrupt_stress(void **state)
{
    (void)state;
    if (!getenv("DX_STRESS")) {
        skip();
        return;
    }
    int lost = 0, runs = 400;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec_options o = {.max_insns = mode ? 1000000000000ull : 0, .timeout = 1};
        dx_exec *e = new_exec_opts(&o);
        srand(1);
        for (int i = 0; i < runs; i++) {
            dx_arg n = {.kind = DX_ARG_INT, .i = 1000000000000ll};
            interrupter in = {e, (useconds_t)(rand() % 400)};
            pthread_t t;
            assert_int_equal(pthread_create(&t, NULL, interrupt_later, &in), 0);
            dx_stop s = call_stop(e, func("long_loop"), &n, 1);
            pthread_join(t, NULL);
            if (s.kind != DX_STOP_INTERRUPTED) {
                print_message("mode %d run %d (delay %u us): %s\n", mode, i, (unsigned)in.delay, kind_name(s.kind));
                lost++;
            }
        }
        dx_exec_free(e);
    }
    assert_int_equal(lost, 0);
}

/* ---- memory -------------------------------------------------------- */

static void test_unmapped_zero(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec_options o = {.max_insns = modes[mode], .unmapped_zero = true};
        dx_exec *e = new_exec_opts(&o);
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, func("null_read"), NULL, 0, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, 0);
        assert_int_equal(dx_exec_call(e, func("null_write"), NULL, 0, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        /* The written page now exists in the session; null_read sees it. */
        uint32_t v = 0;
        assert_int_equal(dx_exec_read(e, 0, &v, 4), 4);
        assert_int_not_equal(v, 0);
        assert_int_equal(dx_exec_call(e, func("null_read"), NULL, 0, NULL, &r), 0);
        assert_int_equal((uint32_t)r.rax, v);
        /* Reset forgets it: faults again without the option. */
        dx_exec_options_of(e)->unmapped_zero = false;
        dx_exec_reset(e, NULL, 0);
        dx_stop s = call_stop(e, func("null_read"), NULL, 0);
        assert_int_equal(s.kind, DX_STOP_ACCESS);
        dx_exec_free(e);
    }
}

/* The manifest's first fib case: its argument, and the result it returns. */
static uint64_t fib_case(dx_arg arg[1])
{
    const mj *c = first_case("fib");
    assert_int_equal(tp_case_args(c, arg, 1), 1);
    uint64_t want;
    int w;
    bool f;
    assert_true(tp_value(mj_get(c, "result"), &want, &w, &f));
    return want;
}

/* A reset keeps the engine and the chunks the session never changed, so
 * code that a patch replaced and that already ran must not survive it. */
static void test_reset_drops_patched_code(void **state)
{
    (void)state;
    dx_arg arg[1];
    uint64_t want = fib_case(arg);
    static const uint8_t ret7[] = {0xb8, 0x07, 0x00, 0x00, 0x00, 0xc3}; /* mov eax, 7; ret */
    uint64_t fib = func("fib");
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        dx_call_result r;
        for (int round = 0; round < 2; round++) {
            assert_int_equal(dx_exec_call(e, fib, arg, 1, NULL, &r), 0);
            assert_int_equal((uint32_t)r.rax, (uint32_t)want);
            char err[DX_ERRLEN];
            assert_int_equal(dx_exec_write(e, fib, ret7, sizeof ret7, err, sizeof err), 0);
            assert_int_equal(dx_exec_call(e, fib, arg, 1, NULL, &r), 0);
            assert_int_equal((uint32_t)r.rax, 7);
            dx_exec_reset(e, NULL, 0);
            uint8_t back[sizeof ret7];
            assert_int_equal(dx_exec_read(e, fib, back, sizeof back), sizeof back);
            assert_memory_not_equal(back, ret7, sizeof back);
        }
        assert_int_equal(dx_exec_call(e, fib, arg, 1, NULL, &r), 0);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        dx_exec_free(e);
    }
}

/* fib of a huge n recurses until the 1 MiB scratch stack runs out: the
 * write below it lands in the sentinel page. A call without a limit runs
 * with no hooks, and then the fault is found by matching operands in the
 * block Unicorn last named, which may be an earlier block of the same
 * function: only the function is certain there (README, "Stops"). */
static void test_stack_overflow(void **state)
{
    (void)state;
    static const uint64_t limits[2] = {100000000, 0};
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(limits[mode]);
        dx_arg n = {.kind = DX_ARG_INT, .i = 100000000};
        dx_stop s = call_stop(e, func("fib"), &n, 1);
        if (s.kind != DX_STOP_STACK_OVERFLOW)
            fail_msg("fib(1e8), max_insns %" PRIu64 ": %s", limits[mode], describe_stop(e, &s));
        assert_int_equal(s.access, DX_ACCESS_WRITE);
        assert_true(s.addr >= DX_SCRATCH_BASE && s.addr < DX_SCRATCH_BASE + DX_SCRATCH_SENTINEL_SIZE);
        assert_true(s.pc >= func("fib") && s.pc < func_end("fib"));
        dx_exec_free(e);
    }
}

/* A debugger's continue watches every block, so it names the exact
 * faulting instruction: the same one that stepping instruction by
 * instruction (forced here by tracing) finds. fib(1e8) on the thread's own
 * stack runs off its end into memory the dump does not hold. */
static void test_continue_fault_is_exact(void **state)
{
    (void)state;
    uint64_t pcs[2];
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    for (int traced = 0; traced < 2; traced++) {
        dx_exec *e = new_exec(0);
        dx_regs *r = dx_exec_regs(e, dx_exec_current_thread(e));
        r->rip = func("fib");
        r->gpr[DX_REG_RCX] = 100000000;
        r->gpr[DX_REG_RSP] = (r->gpr[DX_REG_RSP] - 0x100) & ~0xfull;
        if (traced)
            dx_exec_trace(e, devnull);
        dx_stop s;
        assert_int_equal(dx_exec_continue(e, &s), 0);
        if (s.kind != DX_STOP_ACCESS || s.access != DX_ACCESS_WRITE)
            fail_msg("fib(1e8) by continue%s: %s", traced ? ", traced" : "", describe_stop(e, &s));
        assert_true(s.pc >= func("fib") && s.pc < func_end("fib"));
        pcs[traced] = s.pc;
        dx_exec_trace(e, NULL);
        dx_exec_free(e);
    }
    fclose(devnull);
    if (pcs[0] != pcs[1])
        fail_msg("stack overflow by continue at 0x%" PRIx64 ", and at 0x%" PRIx64 " step by step", pcs[0], pcs[1]);
}

/* An address no dump range covers, well away from anything. */
static uint64_t unheld_address(void)
{
    uint64_t p = 0x200000000ull;
    for (; p < 0x7ff000000000ull; p += 0x100000000ull)
        if (!dx_dump_range_at(g_dump, p) && (!dx_dump_range_after(g_dump, p) ||
                                             dx_dump_range_after(g_dump, p)->base > p + (256ull << 20)))
            return p;
    fail_msg("no free address range");
    return 0;
}

/* With unmapped memory as zeros, writing far maps page after page until
 * the session's limit stops it, at the store. */
static void test_memory_limit(void **state)
{
    (void)state;
    uint64_t far = unheld_address();
    /* Where fill_buf stores: its fault on read-only memory says. */
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    dx_arg ro[2] = {{.kind = DX_ARG_INT, .i = mj_path_u64(g_m, "globals.g_str.address")}, {.kind = DX_ARG_INT, .i = 1}};
    uint64_t store = call_stop(e, func("fill_buf"), ro, 2).pc;
    dx_exec_free(e);

    dx_exec_options o = {.max_insns = 0, .unmapped_zero = true, .max_session_mb = 3};
    e = new_exec_opts(&o);
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = far}, {.kind = DX_ARG_INT, .i = 64 << 20}};
    dx_stop s = call_stop(e, func("fill_buf"), args, 2);
    expect_stop(e, &s, "fill_buf far", DX_STOP_MEMORY_LIMIT, store);
    assert_true(s.addr > far && s.addr < far + (64 << 20));
    assert_true(s.addr - far < (3ull << 20));
    dx_exec_free(e);

    /* rep stosb over the same range, in both modes: one instruction (whose
     * every iteration counts against a limit, as a single step stops after
     * each on a real CPU). */
    static const uint8_t stos[] = {0x4c, 0x89, 0xc7, 0x31, 0xc0, 0xf3, 0xaa, 0xc3}; /* mov rdi, r8; xor eax, eax; rep stosb */
    for (int mode = 0; mode < 2; mode++) {
        o.max_insns = mode ? 0 : 1000000000;
        e = new_exec_opts(&o);
        uint64_t at = craft(e, stos, sizeof stos);
        dx_arg a[3] = {{.kind = DX_ARG_INT, .i = 64 << 20}, {.kind = DX_ARG_INT, .i = 0}, {.kind = DX_ARG_INT, .i = far}};
        s = call_stop(e, at, a, 3);
        expect_stop(e, &s, "rep stosb far", DX_STOP_MEMORY_LIMIT, at + 5);
        assert_true(s.addr > far && s.addr - far < (3ull << 20));
        dx_exec_free(e);
    }
}

/* With unmapped memory as zeros, watchpoints on the last pages of the
 * address space (the very last one is never mapped: a chunk's end would
 * wrap to 0): the session goes on. Guest accesses cannot get there, as
 * Unicorn masks addresses to 52 bits; a debugger's watchpoint can. */
static void test_zero_fill_at_the_top(void **state)
{
    (void)state;
    dx_exec_options o = {.max_insns = 0, .unmapped_zero = true};
    dx_exec *e = new_exec_opts(&o);
    static const uint8_t load[] = {0x48, 0x8b, 0x01, 0xc3}; /* mov rax, [rcx]; ret */
    uint64_t at = craft(e, load, sizeof load);
    assert_int_equal(dx_exec_watch_add(e, ~0ull - 15, 8, DX_WATCH_WRITE), 0);
    assert_int_equal(dx_exec_watch_add(e, ~0ull - 0x100f, 8, DX_WATCH_WRITE), 0);
    dx_arg far = {.kind = DX_ARG_INT, .i = unheld_address()};
    for (int i = 0; i < 2; i++) {
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, at, &far, 1, NULL, &r), 0);
        if (r.stop.kind != DX_STOP_RETURNED)
            fail_msg("call %d: %s", i, describe_stop(e, &r.stop));
        assert_int_equal(r.rax, 0);
        dx_call_result_free(&r);
    }
    uint8_t code[sizeof load];
    assert_int_equal(dx_exec_read(e, at, code, sizeof code), sizeof code);
    assert_memory_equal(code, load, sizeof load);
    dx_exec_free(e);
}

/* Unicorn keeps 52 bits of an address. A load through a wild pointer or a
 * kernel address must stop at that address, in either run mode, and with
 * --unmapped zero must not read zeros where its low 52 bits point when they
 * point above user space. (0x0010000000000000 does read the zeros of page 0
 * then: a fast run cannot tell it from a null pointer.) */
static void test_wild_pointers(void **state)
{
    (void)state;
    static const uint8_t load[] = {0x48, 0x8b, 0x01, 0xc3}; /* mov rax, [rcx]; ret */
    static const uint64_t wild[] = {0xdeadbeefdeadbeefull, 0xfffff78000000008ull, 0x0010000000000000ull,
                                    0x0000800000000000ull};
    for (int mode = 0; mode < 4; mode++) {
        dx_exec_options o = {.max_insns = mode & 1 ? 0 : 1000, .unmapped_zero = mode >= 2};
        dx_exec *e = new_exec_opts(&o);
        uint64_t at = craft(e, load, sizeof load);
        for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
            if (o.unmapped_zero && (wild[i] & ((1ull << 52) - 1)) < 0x800000000000ull)
                continue;
            dx_arg a = {.kind = DX_ARG_INT, .i = wild[i]};
            dx_stop s = call_stop(e, at, &a, 1);
            expect_stop(e, &s, "load through a wild pointer", DX_STOP_ACCESS, at);
            if (s.addr != wild[i])
                fail_msg("mode %d: fault at 0x%" PRIx64 ", the pointer is 0x%" PRIx64, mode, s.addr, wild[i]);
        }
        static const uint8_t jump[] = {0xff, 0xe1}; /* jmp rcx */
        at = craft(e, jump, sizeof jump);
        for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
            if (o.unmapped_zero && (wild[i] & ((1ull << 52) - 1)) < 0x800000000000ull)
                continue;
            dx_arg a = {.kind = DX_ARG_INT, .i = wild[i]};
            dx_stop s = call_stop(e, at, &a, 1);
            expect_stop(e, &s, "jump to a wild pointer", DX_STOP_ACCESS, wild[i]);
            assert_int_equal(s.access, DX_ACCESS_EXECUTE);
            assert_int_equal(s.addr, wild[i]);
        }
        dx_exec_free(e);
    }
}

/* A session may map all its limit allows: Unicorn's own limit of about 4096
 * regions (218 MB in 64 KiB chunks) must not come first. */
static void test_memory_limit_is_reachable(void **state)
{
    (void)state;
    dx_exec_options o = {.max_insns = 0, .unmapped_zero = true, .max_session_mb = 300};
    dx_exec *e = new_exec_opts(&o);
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = unheld_address()}, {.kind = DX_ARG_INT, .i = 280 << 20}};
    dx_call_result r;
    assert_int_equal(dx_exec_call(e, func("fill_buf"), args, 2, NULL, &r), 0);
    if (r.stop.kind != DX_STOP_RETURNED)
        fail_msg("fill_buf of 280 MB under a 300 MB limit: %s", describe_stop(e, &r.stop));
    assert_int_equal(r.rax, 280 << 20);
    dx_call_result_free(&r);
    dx_exec_free(e);
}

/* ---- breakpoints, steps, watchpoints ------------------------------- */

/* The length of the first instruction at fn, by stepping it. */
static uint64_t second_insn(dx_exec *e, uint64_t fn)
{
    dx_regs *r = dx_exec_regs(e, dx_exec_current_thread(e));
    dx_regs saved = *r;
    r->rip = fn;
    dx_stop s;
    assert_int_equal(dx_exec_step(e, &s), 0);
    assert_int_equal(s.kind, DX_STOP_STEP);
    uint64_t next = r->rip;
    *r = saved;
    return next;
}

static void test_breakpoints(void **state)
{
    (void)state;
    dx_arg arg[1];
    uint64_t want = fib_case(arg);
    uint64_t fib = func("fib");
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        /* Before any engine exists. */
        assert_int_equal(dx_exec_break_add(e, fib), 0);
        assert_int_equal(dx_exec_break_add(e, fib), 0); /* again: no error */
        dx_stop s = call_stop(e, fib, arg, 1);
        expect_stop(e, &s, "fib with a breakpoint on fib", DX_STOP_BREAKPOINT, fib);
        assert_int_equal(dx_exec_break_remove(e, fib), 0);
        assert_int_equal(dx_exec_break_remove(e, fib), -1);
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, fib, arg, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);

        /* Inside code that has already run (and was translated). */
        uint64_t mid = second_insn(e, fib);
        assert_true(mid > fib && mid < func_end("fib"));
        assert_int_equal(dx_exec_break_add(e, mid), 0);
        s = call_stop(e, fib, arg, 1);
        expect_stop(e, &s, "breakpoint on fib's second instruction", DX_STOP_BREAKPOINT, mid);
        /* Kept across a reset. */
        dx_exec_reset(e, NULL, 0);
        assert_int_equal(dx_exec_select_thread(e, main_tid()), 0);
        s = call_stop(e, fib, arg, 1);
        expect_stop(e, &s, "breakpoint after reset", DX_STOP_BREAKPOINT, mid);
        assert_int_equal(dx_exec_break_remove(e, mid), 0);
        assert_int_equal(dx_exec_call(e, fib, arg, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        dx_exec_free(e);
    }
}

/* Breakpoints stay sorted whatever the order they come in, and there is a
 * limit to them. */
static void test_breakpoint_limit_and_order(void **state)
{
    (void)state;
    dx_exec *e = new_exec(0);
    for (uint64_t i = 0; i < DX_MAX_BREAKPOINTS; i++)
        assert_int_equal(dx_exec_break_add(e, 0x10000000 + ((i * 7919) % DX_MAX_BREAKPOINTS)), 0);
    assert_int_equal(dx_exec_break_add(e, 0x20000000), -1);
    assert_int_equal(dx_exec_break_add(e, 0x10000000), 0); /* an existing one is fine */
    for (uint64_t i = 0; i < DX_MAX_BREAKPOINTS; i += 2)
        assert_int_equal(dx_exec_break_remove(e, 0x10000000 + i), 0);
    assert_int_equal(dx_exec_break_remove(e, 0x10000000), -1);
    for (uint64_t i = 1; i < DX_MAX_BREAKPOINTS; i += 2)
        assert_int_equal(dx_exec_break_remove(e, 0x10000000 + i), 0);
    /* With none left, a call runs through. */
    dx_arg arg[1];
    uint64_t want = fib_case(arg);
    dx_call_result r;
    assert_int_equal(dx_exec_call(e, func("fib"), arg, 1, NULL, &r), 0);
    assert_int_equal((uint32_t)r.rax, (uint32_t)want);
    dx_exec_free(e);
}

/* gdb's `call f()` stops at a breakpoint on f itself: the called
 * function's first instruction is not a resumption from a breakpoint. */
static void test_breakpoint_at_called_entry(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        assert_int_equal(dx_exec_break_add(e, func("add2")), 0);
        dx_arg a[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
        dx_stop s = call_stop(e, func("add2"), a, 2);
        expect_stop(e, &s, "add2 with a breakpoint on add2", DX_STOP_BREAKPOINT, func("add2"));
        dx_exec_free(e);
    }
}

/* Write a return address onto the thread's own stack. */
static void push_return(dx_exec *e, uint64_t rsp, uint64_t ret)
{
    char err[DX_ERRLEN];
    if (dx_exec_write(e, rsp, &ret, 8, err, sizeof err) != 0)
        fail_msg("cannot write the stack: %s", err);
}

/* Stepping add2 by hand: lea rax, [rcx+rdx*2] (4 bytes), then ret. */
static void test_step(void **state)
{
    (void)state;
    uint64_t add2 = func("add2"), add4 = func("add4");
    uint8_t code[5];
    static const uint8_t expect[5] = {0x48, 0x8d, 0x04, 0x51, 0xc3};
    assert_int_equal(dx_dump_read(g_dump, add2, code, 5), 5);
    assert_memory_equal(code, expect, 5);
    assert_int_equal(add4, add2 + 5);
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        assert_int_equal(dx_exec_insn_length(e, add2), 4);
        assert_int_equal(dx_exec_insn_length(e, add2 + 4), 1);
        assert_int_equal(dx_exec_insn_length(e, 0), -1);
        dx_regs *r = dx_exec_regs(e, main_tid());
        uint64_t rsp = r->gpr[DX_REG_RSP];
        push_return(e, rsp, add4);
        r->rip = add2;
        r->gpr[DX_REG_RCX] = 1000;
        r->gpr[DX_REG_RDX] = 21;
        dx_stop s;
        assert_int_equal(dx_exec_step(e, &s), 0);
        assert_int_equal(s.kind, DX_STOP_STEP);
        assert_int_equal(s.insns, 1);
        assert_int_equal(s.pc, add2 + 4);
        assert_int_equal(r->rip, add2 + 4);
        assert_int_equal(r->gpr[DX_REG_RAX], 1000 + 2 * 21);
        assert_int_equal(r->gpr[DX_REG_RSP], rsp);
        assert_int_equal(dx_exec_step(e, &s), 0);
        assert_int_equal(s.kind, DX_STOP_STEP);
        assert_int_equal(r->rip, add4);
        assert_int_equal(r->gpr[DX_REG_RSP], rsp + 8);
        /* Stepping from a breakpoint moves on. */
        assert_int_equal(dx_exec_break_add(e, add4), 0);
        assert_int_equal(dx_exec_step(e, &s), 0);
        assert_int_equal(s.kind, DX_STOP_STEP);
        assert_true(r->rip > add4);
        dx_exec_free(e);
    }
}

/* continue: add2 returns into add4 (breakpoint), add4 returns into
 * null_read, which faults. */
static void test_continue_chain(void **state)
{
    (void)state;
    const mj *x = mj_get(first_case("null_read"), "expect_exception");
    uint64_t fault_pc = mj_path_u64(x, "address");
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        dx_regs *r = dx_exec_regs(e, main_tid());
        uint64_t rsp = r->gpr[DX_REG_RSP];
        push_return(e, rsp, func("add4"));
        push_return(e, rsp + 8, func("null_read"));
        r->rip = func("add2");
        assert_int_equal(dx_exec_break_add(e, func("add4")), 0);
        dx_stop s;
        assert_int_equal(dx_exec_continue(e, &s), 0);
        expect_stop(e, &s, "continue to add4", DX_STOP_BREAKPOINT, func("add4"));
        assert_int_equal(r->rip, func("add4"));
        assert_int_equal(dx_exec_continue(e, &s), 0);
        expect_access(e, &s, "continue into null_read", DX_STOP_ACCESS, fault_pc, DX_ACCESS_READ,
                      mj_path_u64(x, "fault_address"));
        assert_int_equal(r->rip, fault_pc);
        /* The fault repeats: the instruction did not run. */
        assert_int_equal(dx_exec_continue(e, &s), 0);
        expect_stop(e, &s, "continue again", DX_STOP_ACCESS, fault_pc);
        dx_exec_free(e);
    }
}

static void test_watchpoints(void **state)
{
    (void)state;
    uint64_t counter = mj_path_u64(g_m, "globals.g_counter.address");
    uint64_t at_dump, w8;
    int w;
    bool f;
    assert_true(tp_value(mj_path(g_m, "globals.g_counter.value_at_dump"), &at_dump, &w, &f));
    dx_arg one = {.kind = DX_ARG_INT, .i = 1};
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(modes[mode]);
        assert_int_equal(dx_exec_watch_add(e, counter, 8, DX_WATCH_WRITE), 0);
        dx_stop s = call_stop(e, func("counter_add"), &one, 1);
        if (s.kind != DX_STOP_WATCHPOINT)
            fail_msg("counter_add with a write watch: %s", describe_stop(e, &s));
        assert_int_equal(s.addr, counter);
        assert_int_equal(s.access, DX_ACCESS_WRITE);
        assert_true(s.pc > func("counter_add") && s.pc < func_end("counter_add"));
        /* The watched write completed, as a hardware watchpoint's does. */
        assert_int_equal(dx_exec_read(e, counter, &w8, 8), 8);
        assert_int_equal(w8, at_dump + 1);
        /* A read does not trigger a write watch. */
        dx_call_result r;
        assert_int_equal(dx_exec_call(e, func("get_counter"), NULL, 0, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, at_dump + 1);
        /* A read watch on one byte inside the counter does. */
        assert_int_equal(dx_exec_watch_add(e, counter + 4, 1, DX_WATCH_READ), 0);
        s = call_stop(e, func("get_counter"), NULL, 0);
        assert_int_equal(s.kind, DX_STOP_WATCHPOINT);
        assert_int_equal(s.addr, counter + 4);
        assert_int_equal(s.access, DX_ACCESS_READ);
        assert_int_equal(dx_exec_watch_remove(e, counter + 4, 1, DX_WATCH_READ), 0);
        assert_int_equal(dx_exec_watch_remove(e, counter, 8, DX_WATCH_WRITE), 0);
        assert_int_equal(dx_exec_watch_remove(e, counter, 8, DX_WATCH_WRITE), -1);
        assert_int_equal(dx_exec_call(e, func("counter_add"), &one, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, at_dump + 2);
        /* Watches survive a reset; a remove with len 0 matches any length. */
        assert_int_equal(dx_exec_watch_add(e, counter, 8, DX_WATCH_WRITE), 0);
        dx_exec_reset(e, NULL, 0);
        s = call_stop(e, func("counter_add"), &one, 1);
        assert_int_equal(s.kind, DX_STOP_WATCHPOINT);
        assert_int_equal(s.addr, counter);
        assert_int_equal(dx_exec_watch_remove(e, counter, 0, DX_WATCH_WRITE), 0);
        dx_exec_reset(e, NULL, 0);
        assert_int_equal(dx_exec_call(e, func("counter_add"), &one, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, at_dump + 1);
        /* Memory next to the watch is not watched. */
        assert_int_equal(dx_exec_watch_add(e, counter + 8, 8, DX_WATCH_ACCESS), 0);
        assert_int_equal(dx_exec_call(e, func("counter_add"), &one, 1, NULL, &r), 0);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        dx_exec_free(e);
    }
}

/* ---- the crash dump ------------------------------------------------ */

/* The exception thread holds the real fault context; running it repeats
 * the fault, exactly where Windows saw it. */
static void test_crash_dump_refaults(void **state)
{
    (void)state;
    mj *m = manifest_load("testprog_crash.json");
    char err[DX_ERRLEN];
    dx_dump *d;
    assert_int_equal(dx_dump_open(fixture_dump_path("testprog_crash.dmp"), &d, err, sizeof err), 0);
    uint64_t rip = mj_path_u64(m, "exception.context.rip");
    uint64_t fault = mj_path_u64(m, "exception.fault_address");
    assert_int_equal(rip, mj_path_u64(m, "exception.exception_address"));
    for (int mode = 0; mode < 3; mode++) {
        dx_exec_options o = {.max_insns = mode == 1 ? 0 : DX_DEFAULT_MAX_INSNS};
        dx_exec *e;
        assert_int_equal(dx_exec_new(d, &o, &e, err, sizeof err), 0);
        uint32_t tid = dx_exec_current_thread(e);
        assert_int_equal(tid, mj_path_u64(m, "exception.thread_id"));
        dx_regs *r = dx_exec_regs(e, tid);
        assert_int_equal(r->rip, rip);
        assert_int_equal(r->gpr[DX_REG_RSP], mj_path_u64(m, "exception.context.rsp"));
        dx_stop s;
        assert_int_equal(mode == 2 ? dx_exec_step(e, &s) : dx_exec_continue(e, &s), 0);
        expect_access(e, &s, mode == 2 ? "crash: step" : "crash: continue", DX_STOP_ACCESS, rip, DX_ACCESS_WRITE,
                      fault);
        assert_int_equal(r->rip, rip);
        dx_exec_free(e);
    }
    dx_dump_close(d);
    mj_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_faults),
        cmocka_unit_test(test_syscall),
        cmocka_unit_test(test_invalid_opcode_and_int3),
        cmocka_unit_test(test_execute_faults),
        cmocka_unit_test(test_null_function_pointer),
        cmocka_unit_test(test_write_protect),
        cmocka_unit_test(test_overrun_loops),
        cmocka_unit_test(test_fault_pc_within_block),
        cmocka_unit_test(test_instruction_limit),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_interrupt_stress),
        cmocka_unit_test(test_unmapped_zero),
        cmocka_unit_test(test_reset_drops_patched_code),
        cmocka_unit_test(test_breakpoint_limit_and_order),
        cmocka_unit_test(test_stack_overflow),
        cmocka_unit_test(test_continue_fault_is_exact),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_memory_limit_is_reachable),
        cmocka_unit_test(test_zero_fill_at_the_top),
        cmocka_unit_test(test_wild_pointers),
        cmocka_unit_test(test_rewritten_code_runs),
        cmocka_unit_test(test_breakpoints),
        cmocka_unit_test(test_breakpoint_at_called_entry),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_continue_chain),
        cmocka_unit_test(test_watchpoints),
        cmocka_unit_test(test_crash_dump_refaults),
    };
    if (getenv("DX_TEST_FILTER")) /* e.g. DX_TEST_FILTER='*watch*' */
        cmocka_set_test_filter(getenv("DX_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
