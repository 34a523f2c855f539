/* Snapshots and history through the C API: what a snapshot brings back
 * (registers, memory, the guest's allocations and protections, nt/'s
 * state), that travel lands on the state the forward run had at each
 * position, that instruction limits by block are exact, and that the cap
 * holds. */
#include "exec.h"
#include "manifest.h"
#include "nt.h"
#include "pe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static dx_exec *new_exec(bool history)
{
    char err[DX_ERRLEN];
    dx_exec *e;
    dx_exec_options o = {0};
    assert_int_equal(dx_exec_new(g_dump, &o, &e, err, sizeof err), 0);
    assert_int_equal(dx_exec_prepare(e, err, sizeof err), 0);
    if (history)
        assert_int_equal(dx_exec_history_start(e, 64ull << 20, err, sizeof err), 0);
    return e;
}

static dx_regs *regs(dx_exec *e) { return dx_exec_regs(e, dx_exec_current_thread(e)); }

/* The current thread at fn(arg), on its own stack. */
static void hand_set(dx_exec *e, const char *fn, uint64_t arg)
{
    dx_regs *r = regs(e);
    r->rip = tp_func(g_m, fn);
    assert_true(r->rip != 0);
    r->gpr[DX_REG_RCX] = arg;
    r->gpr[DX_REG_RSP] = (r->gpr[DX_REG_RSP] - 0x200) & ~0xfull;
    dx_exec_history_mark(e);
}

static void test_snapshot_brings_back_memory_allocations_and_protections(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_exec *e = new_exec(false);
    const uint64_t counter = mj_path_u64(g_m, "globals.g_counter.address"), fresh = 0x500000000ull;
    uint64_t v = 0, was = 0;
    assert_int_equal(dx_exec_read(e, counter, &was, 8), 8);
    dx_regs before = *regs(e);
    assert_int_equal(dx_exec_snapshot_save(e, "s", err, sizeof err), 0);

    v = 999;
    assert_int_equal(dx_exec_write(e, counter, &v, 8, err, sizeof err), 0);
    regs(e)->gpr[DX_REG_RBX] = 0x4242;
    assert_int_equal(dx_exec_map(e, fresh, 0x10000, DX_PROT_READ | DX_PROT_WRITE, err, sizeof err), 0);
    assert_int_equal(dx_exec_write(e, fresh, &v, 8, err, sizeof err), 0);
    const uint64_t code = tp_func(g_m, "fib") & ~0xfffull;
    assert_int_equal(dx_exec_protect(e, code, 0x1000, DX_PROT_READ), 0);

    assert_int_equal(dx_exec_snapshot_restore(e, "s", err, sizeof err), 0);
    assert_int_equal(dx_exec_read(e, counter, &v, 8), 8);
    assert_int_equal(v, was);
    assert_memory_equal(regs(e), &before, sizeof before);
    assert_true(dx_exec_is_free(e, fresh, 0x10000)); /* the allocation made after it is gone */
    assert_int_equal(dx_exec_prot(e, code) & DX_PROT_EXEC, DX_PROT_EXEC);

    dx_snapshot_info info[4];
    assert_int_equal(dx_exec_snapshot_list(e, info, 4), 1);
    assert_string_equal(info[0].name, "s");
    assert_int_equal(dx_exec_snapshot_drop(e, "s"), 0);
    assert_int_not_equal(dx_exec_snapshot_restore(e, "s", err, sizeof err), 0);
    dx_exec_free(e);
}

/* Every position of a run, reached by travel, has the forward run's registers. */
static void test_goto_lands_on_the_forward_state(void **state)
{
    (void)state;
    enum { N = 300 };
    char err[DX_ERRLEN];
    dx_exec *e = new_exec(true);
    hand_set(e, "fib", 8);
    static dx_regs seen[N + 1];
    dx_stop st;
    seen[0] = *regs(e);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(dx_exec_step(e, &st), 0);
        seen[i] = *regs(e);
    }
    const int order[] = {N - 1, 0, 150, 149, 151, 7, N, 42};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        assert_int_equal(dx_exec_goto(e, (uint64_t)order[k], &st, err, sizeof err), 0);
        if (memcmp(regs(e), &seen[order[k]], sizeof seen[0]))
            fail_msg("goto %d: rip 0x%llx, the forward run had 0x%llx", order[k], (unsigned long long)regs(e)->rip,
                     (unsigned long long)seen[order[k]].rip);
    }
    for (int i = 41; i >= 30; i--) {
        assert_int_equal(dx_exec_reverse_step(e, &st), 0);
        assert_int_equal(st.kind, DX_STOP_STEP);
        assert_memory_equal(regs(e), &seen[i], sizeof seen[0]);
    }
    assert_int_not_equal(dx_exec_goto(e, N + 1, &st, err, sizeof err), 0);
    dx_exec_free(e);
}

/* A limit by block is exact: N instructions fit a limit of N, not N - 1. */
static void test_block_counted_limits_are_exact(void **state)
{
    (void)state;
    dx_exec *e = new_exec(false);
    dx_arg a = {.kind = DX_ARG_INT, .i = 18};
    dx_call_result r;
    dx_exec_options_of(e)->max_insns = 1000000000;
    dx_exec_call(e, tp_func(g_m, "fib"), &a, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    uint64_t n = r.stop.insns;
    dx_call_result_free(&r);
    dx_exec_options_of(e)->max_insns = n;
    dx_exec_call(e, tp_func(g_m, "fib"), &a, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal(r.rax, 2584);
    dx_call_result_free(&r);
    dx_exec_options_of(e)->max_insns = n - 1;
    dx_exec_call(e, tp_func(g_m, "fib"), &a, 1, NULL, &r);
    assert_int_equal(r.stop.kind, DX_STOP_LIMIT);
    assert_int_equal(r.stop.insns, n - 1);
    dx_call_result_free(&r);
    dx_exec_free(e);
}

/* The same through nt/: system calls served on the way replay the same. */
static void test_services_replay_the_same(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_exec *e = new_exec(true);
    dx_nt *nt;
    dx_nt_options no = {0};
    assert_int_equal(dx_nt_new(e, &no, &nt, err, sizeof err), 0);
    uint64_t fn;
    assert_int_equal(dx_dump_resolve(g_dump, "testprog!malloc_many", &fn, err, sizeof err), 0);
    dx_regs *r = regs(e);
    uint64_t back = tp_func(g_m, "fib");
    r->rip = fn;
    r->gpr[DX_REG_RCX] = 300;
    r->gpr[DX_REG_RSP] = ((r->gpr[DX_REG_RSP] - 0x400) & ~0xfull) - 8;
    assert_int_equal(dx_exec_write(e, r->gpr[DX_REG_RSP], &back, 8, err, sizeof err), 0);
    dx_exec_history_mark(e);
    assert_int_equal(dx_exec_break_add(e, back), 0);
    dx_stop st;
    assert_int_equal(dx_exec_continue(e, &st), 0);
    assert_int_equal(st.kind, DX_STOP_BREAKPOINT);
    dx_regs end = *regs(e);
    dx_history_info h;
    dx_exec_history_info(e, &h);
    assert_true(h.pos > 1000);
    assert_int_equal(dx_exec_goto(e, h.pos / 2, &st, err, sizeof err), 0);
    assert_int_equal(dx_exec_continue(e, &st), 0);
    assert_int_equal(st.kind, DX_STOP_BREAKPOINT);
    assert_memory_equal(regs(e), &end, sizeof end);
    dx_nt_free(nt);
    dx_exec_free(e);
}

static void test_the_cap_drops_the_oldest(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_exec *e = new_exec(false);
    assert_int_equal(dx_exec_history_start(e, 16ull << 10, err, sizeof err), 0);
    hand_set(e, "long_loop", 3000000);
    assert_int_equal(dx_exec_break_add(e, tp_func(g_m, "long_loop") + 0x3c), 0);
    dx_stop st;
    assert_int_equal(dx_exec_continue(e, &st), 0);
    assert_int_equal(st.kind, DX_STOP_BREAKPOINT);
    dx_history_info h;
    dx_exec_history_info(e, &h);
    assert_true(h.bytes <= h.cap_bytes);
    assert_true(h.dropped > 0 && h.start > 0);
    assert_int_not_equal(dx_exec_goto(e, 0, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "no longer in the history"));
    assert_int_equal(dx_exec_reverse_step(e, &st), 0);
    assert_int_equal(st.kind, DX_STOP_STEP);
    assert_int_equal(regs(e)->rip, tp_func(g_m, "long_loop") + 0x3a);
    dx_exec_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_brings_back_memory_allocations_and_protections),
        cmocka_unit_test(test_goto_lands_on_the_forward_state),
        cmocka_unit_test(test_block_counted_limits_are_exact),
        cmocka_unit_test(test_services_replay_the_same),
        cmocka_unit_test(test_the_cap_drops_the_oldest),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
