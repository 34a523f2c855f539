/* Failures of Unicorn and of memory that the executor must report, never
 * absorb: each test makes one library call fail (the linker wraps them,
 * see emu.cmake) and checks the error path and that the executor still
 * works once the call succeeds again. */
#include "exec.h"
#include "regs.h"
#include "manifest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include <cmocka.h>

static dx_dump *g_dump;
static mj *g_m;

/* Calls of a wrapped function from here on that fail: the (skip+1)th and
 * the count-1 after it. Tests run one at a time on one thread. */
typedef struct injected {
    unsigned skip, count;
} injected;

static injected fail_hook_add, fail_mem_unmap, fail_emu_start, fail_ctl, fail_calloc;

static bool should_fail(injected *f)
{
    if (!f->count)
        return false;
    if (f->skip) {
        f->skip--;
        return false;
    }
    f->count--;
    return true;
}

uc_err __real_uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data, uint64_t begin,
                          uint64_t end, ...);
uc_err __wrap_uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data, uint64_t begin,
                          uint64_t end, ...)
{
    if (should_fail(&fail_hook_add))
        return UC_ERR_NOMEM;
    if (type != UC_HOOK_INSN)
        return __real_uc_hook_add(uc, hh, type, callback, user_data, begin, end);
    va_list ap;
    va_start(ap, end);
    int insn = va_arg(ap, int);
    va_end(ap);
    return __real_uc_hook_add(uc, hh, type, callback, user_data, begin, end, insn);
}

uc_err __real_uc_mem_unmap(uc_engine *uc, uint64_t address, uint64_t size);
uc_err __wrap_uc_mem_unmap(uc_engine *uc, uint64_t address, uint64_t size)
{
    return should_fail(&fail_mem_unmap) ? UC_ERR_NOMEM : __real_uc_mem_unmap(uc, address, size);
}

uc_err __real_uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count);
uc_err __wrap_uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)
{
    return should_fail(&fail_emu_start) ? UC_ERR_NOMEM : __real_uc_emu_start(uc, begin, until, timeout, count);
}

uc_err __real_uc_ctl(uc_engine *uc, uc_control_type control, ...);
uc_err __wrap_uc_ctl(uc_engine *uc, uc_control_type control, ...)
{
    if (should_fail(&fail_ctl))
        return UC_ERR_ARG;
    va_list ap;
    va_start(ap, control);
    uint64_t a = va_arg(ap, uint64_t), b = va_arg(ap, uint64_t); /* at most two arguments in the controls used */
    va_end(ap);
    return __real_uc_ctl(uc, control, a, b);
}

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size) { return should_fail(&fail_calloc) ? NULL : __real_calloc(n, size); }

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

static uint64_t func(const char *name) { return tp_func(g_m, name); }

static dx_exec *new_exec(uint64_t max_insns)
{
    dx_exec_options o = {.max_insns = max_insns, .timeout = 10};
    dx_exec *e;
    char err[DX_ERRLEN];
    assert_int_equal(dx_exec_new(g_dump, &o, &e, err, sizeof err), 0);
    return e;
}

static dx_call_result add2(dx_exec *e)
{
    dx_arg a[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
    dx_call_result r;
    dx_exec_call(e, func("add2"), a, 2, NULL, &r);
    return r;
}

static void assert_add2_works(dx_exec *e)
{
    dx_call_result r = add2(e);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal(r.rax, 13); /* add2(a, b) = a + 2 * b */
    dx_call_result_free(&r);
}

static void assert_error_stop(dx_call_result *r, const char *words)
{
    assert_int_equal(r->stop.kind, DX_STOP_ERROR);
    if (!strstr(r->stop.detail, words))
        fail_msg("error stop '%s' does not say '%s'", r->stop.detail, words);
    dx_call_result_free(r);
}

/* An engine whose hooks or settings Unicorn refuses is not used at all. */
static void test_engine_setup_refused(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        dx_exec *e = new_exec(0);
        if (which)
            fail_ctl = (injected){0, 1};
        else
            fail_hook_add = (injected){2, 1}; /* the third of the engine's own hooks */
        dx_call_result r = add2(e);
        assert_error_stop(&r, which ? "cannot set up the emulator" : "cannot hook the emulator");
        assert_add2_works(e); /* made anew, this time whole */
        dx_exec_free(e);
    }
}

/* A breakpoint whose hook is refused is not set: a debugger would show a
 * breakpoint that never fires. */
static void test_breakpoint_hook_refused(void **state)
{
    (void)state;
    dx_exec *e = new_exec(0);
    assert_add2_works(e); /* the engine exists: the next hook is the breakpoint's */
    fail_hook_add = (injected){0, 1};
    assert_int_equal(dx_exec_break_add(e, func("square")), -1);
    assert_int_equal(dx_exec_break_add(e, func("square")), 0);
    dx_arg seven = {.kind = DX_ARG_INT, .i = 7};
    dx_call_result r;
    dx_exec_call(e, func("square"), &seven, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_BREAKPOINT);
    dx_call_result_free(&r);
    dx_exec_free(e);
}

/* A run whose mode hook is refused does not start blind. */
static void test_mode_hook_refused(void **state)
{
    (void)state;
    for (int limited = 0; limited < 2; limited++) {
        dx_exec *e = new_exec(limited ? 1000 : 0);
        assert_add2_works(e);
        dx_regs *regs = dx_exec_regs(e, dx_exec_current_thread(e));
        regs->rip = func("long_loop");
        regs->gpr[DX_REG_RCX] = 100;
        fail_hook_add = (injected){0, 1};
        dx_stop s; /* each switches to the other mode: a new hook */
        if (limited) {
            assert_int_equal(dx_exec_continue(e, &s), 0);
        } else {
            assert_int_equal(dx_exec_step(e, &s), 0);
        }
        assert_int_equal(s.kind, DX_STOP_ERROR);
        assert_non_null(strstr(s.detail, "refused the hook"));
        assert_int_equal(s.pc, func("long_loop"));
        assert_int_equal(dx_exec_step(e, &s), 0); /* asked again, it runs */
        assert_int_equal(s.kind, DX_STOP_STEP);
        dx_exec_free(e);
    }
}

/* The step over a watched access reports Unicorn's error. */
static void test_step_over_watch_fails(void **state)
{
    (void)state;
    uint64_t counter = mj_path_u64(g_m, "globals.g_counter.address");
    dx_exec *e = new_exec(0);
    assert_add2_works(e);
    assert_int_equal(dx_exec_watch_add(e, counter, 8, DX_WATCH_WRITE), 0);
    fail_emu_start = (injected){1, 1}; /* the run goes; the step over the trap fails */
    dx_arg one = {.kind = DX_ARG_INT, .i = 1};
    dx_call_result r;
    dx_exec_call(e, func("counter_add"), &one, 1, NULL, &r);
    assert_error_stop(&r, "emulator error");
    dx_exec_free(e);
}

/* A reset that Unicorn cannot unmap closes the engine: the memory behind
 * what it still maps is freed only after it is gone (ASan watches), and
 * the next call runs on a new engine over the dump's own memory. */
static void test_reset_unmap_refused(void **state)
{
    (void)state;
    uint64_t counter = mj_path_u64(g_m, "globals.g_counter.address"), before, after;
    dx_exec *e = new_exec(0);
    assert_int_equal(dx_exec_read(e, counter, &before, 8), 8);
    dx_arg one = {.kind = DX_ARG_INT, .i = 1};
    dx_call_result r;
    dx_exec_call(e, func("counter_add"), &one, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    dx_call_result_free(&r);
    fail_mem_unmap = (injected){1, 1};
    char err[DX_ERRLEN];
    assert_int_equal(dx_exec_reset(e, err, sizeof err), 0);
    assert_int_equal(dx_exec_read(e, counter, &after, 8), 8);
    assert_int_equal(after, before);
    assert_add2_works(e);
    dx_exec_free(e);
}

/* A reset that cannot allocate the threads' registers changes nothing. */
static void test_reset_out_of_memory(void **state)
{
    (void)state;
    dx_exec *e = new_exec(0);
    uint32_t tid = dx_exec_current_thread(e);
    dx_exec_regs(e, tid)->gpr[DX_REG_RBX] = 0x1234;
    fail_calloc = (injected){0, 1};
    char err[DX_ERRLEN] = "";
    assert_int_equal(dx_exec_reset(e, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of memory"));
    assert_non_null(dx_exec_regs(e, tid));
    assert_int_equal(dx_exec_regs(e, tid)->gpr[DX_REG_RBX], 0x1234);
    assert_int_equal(dx_exec_reset(e, err, sizeof err), 0);
    assert_int_not_equal(dx_exec_regs(e, tid)->gpr[DX_REG_RBX], 0x1234);
    assert_add2_works(e);
    dx_exec_free(e);
}

static int clear_injections(void **state)
{
    (void)state;
    fail_hook_add = fail_mem_unmap = fail_emu_start = fail_ctl = fail_calloc = (injected){0, 0};
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_engine_setup_refused, clear_injections),
        cmocka_unit_test_teardown(test_breakpoint_hook_refused, clear_injections),
        cmocka_unit_test_teardown(test_mode_hook_refused, clear_injections),
        cmocka_unit_test_teardown(test_step_over_watch_fails, clear_injections),
        cmocka_unit_test_teardown(test_reset_unmap_refused, clear_injections),
        cmocka_unit_test_teardown(test_reset_out_of_memory, clear_injections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
