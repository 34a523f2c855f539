/* Calls through dx_exec_call on testprog_full.dmp, checked bit for bit
 * against the results testprog.exe computed natively (testprog_full.json). */
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

#include <cmocka.h>

static dx_dump *g_dump;
static mj *g_m;

#define MAX_ARGS 16
/* Enough for every manifest case under the per-instruction hook; the one
 * case beyond it (long_loop(10M)) must then stop at exactly this count. */
#define BIG_LIMIT 10000000ull

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
static uint32_t worker_tid(void) { return (uint32_t)mj_path_u64(g_m, "process.worker_thread.tid"); }

static uint64_t func(const char *name)
{
    uint64_t a = tp_func(g_m, name);
    if (!a)
        fail_msg("no function %s in the manifest", name);
    return a;
}

static const mj *first_case(const char *name)
{
    const mj *c = mj_get(mj_get(mj_get(g_m, "functions"), name), "cases");
    if (!mj_len(c))
        fail_msg("no cases for %s in the manifest", name);
    return mj_at(c, 0);
}

static dx_exec *new_exec(uint64_t max_insns)
{
    char err[DX_ERRLEN];
    dx_exec_options o = {.max_insns = max_insns};
    dx_exec *e = NULL;
    if (dx_exec_new(g_dump, &o, &e, err, sizeof err) != 0)
        fail_msg("dx_exec_new: %s", err);
    if (dx_exec_select_thread(e, main_tid()) != 0)
        fail_msg("no main thread %u", main_tid());
    return e;
}

static const char *describe(dx_exec *e, const dx_call_result *r)
{
    static char text[1024];
    dx_buf b = {0};
    dx_stop_describe(e, &r->stop, &b);
    snprintf(text, sizeof text, "%s", dx_buf_str(&b) ? dx_buf_str(&b) : "?");
    dx_buf_free(&b);
    return text;
}

static bool regs_equal(const dx_regs *a, const dx_regs *b, char *which, size_t len)
{
    for (int n = 0; n < DX_REG_COUNT; n++) {
        uint8_t x[16], y[16];
        size_t sx = dx_regs_get(a, n, x), sy = dx_regs_get(b, n, y);
        if (sx != sy || memcmp(x, y, sx) != 0) {
            snprintf(which, len, "%s", dx_reg_name(n));
            return false;
        }
    }
    return true;
}

/* One call; the thread's registers must be as before it, whatever happened. */
static void call(dx_exec *e, uint64_t fn, const dx_arg *args, size_t nargs, bool variadic, dx_call_result *res)
{
    dx_regs *r = dx_exec_regs(e, dx_exec_current_thread(e));
    assert_non_null(r);
    dx_regs before = *r;
    dx_call_options co = {.variadic = variadic};
    assert_int_equal(dx_exec_call(e, fn, args, nargs, &co, res), 0);
    char which[32];
    if (!regs_equal(&before, dx_exec_regs(e, dx_exec_current_thread(e)), which, sizeof which))
        fail_msg("register %s changed by a call to 0x%" PRIx64, which, fn);
}

static uint64_t returned_bits(const dx_call_result *r, int width, bool is_float)
{
    uint64_t v;
    if (is_float)
        memcpy(&v, r->xmm0, 8);
    else
        v = r->rax;
    return width == 64 ? v : v & ((1ull << width) - 1);
}

static bool is_variadic(const mj *f)
{
    const char *sig = mj_str(mj_get(f, "signature"));
    return sig && strstr(sig, "...");
}

/* A case that returns normally and that the generic loop can check: a
 * plain result, not the system call (stops, see test_exec_stops), not the
 * struct (make_triple needs its hidden pointer, tested below). */
static bool generic_case(const char *name, const mj *c)
{
    const mj *res = mj_get(c, "result");
    const char *type = mj_str(mj_get(res, "type"));
    const char *sys = mj_path(g_m, "syscall.function") ? mj_str(mj_path(g_m, "syscall.function")) : NULL;
    /* Cases that cross the kernel boundary run with nt/ (test_nt_calls). */
    return res && !mj_get(c, "expect_exception") && !mj_get(c, "needs_nt") && type && strncmp(type, "struct", 6) != 0 &&
           !(sys && !strcmp(sys, name));
}

/* Functions whose result depends on g_counter: each case starts from the
 * dump's state. */
/* proc_address too: Wine's loader caches what the first lookup found. */
static bool stateful(const char *name)
{
    return !strcmp(name, "counter_add") || !strcmp(name, "get_counter") || !strcmp(name, "proc_address");
}

typedef struct run_stats {
    int checked, limited;
} run_stats;

/* Every generic case of every function on one executor. With a limit,
 * a case that needs more instructions must stop at exactly the limit and
 * is then re-run with BIG_LIMIT; instruction counts are checked to be
 * exact by re-running a returning case with limits N and N-1. */
static void run_all_cases(uint64_t max_insns, run_stats *st)
{
    dx_exec *e = new_exec(max_insns);
    const mj *fns = mj_get(g_m, "functions");
    assert_true(mj_len(fns) > 20);
    for (size_t fi = 0; fi < mj_len(fns); fi++) {
        const char *name = mj_key_at(fns, fi);
        const mj *f = mj_at(fns, fi);
        uint64_t fn;
        assert_true(mj_u64(mj_get(f, "address"), &fn));
        const mj *cases = mj_get(f, "cases");
        for (size_t ci = 0; ci < mj_len(cases); ci++) {
            const mj *c = mj_at(cases, ci);
            if (!generic_case(name, c))
                continue;
            dx_arg args[MAX_ARGS];
            int nargs = tp_case_args(c, args, MAX_ARGS);
            if (nargs < 0)
                fail_msg("%s case %zu: cannot read its arguments", name, ci);
            uint64_t want;
            int width;
            bool is_float;
            if (!tp_value(mj_get(c, "result"), &want, &width, &is_float))
                fail_msg("%s case %zu: cannot read its result", name, ci);
            want = width == 64 ? want : want & ((1ull << width) - 1);
            if (stateful(name))
                dx_exec_reset(e, NULL, 0);
            dx_exec_options_of(e)->max_insns = max_insns;
            dx_call_result r;
            call(e, fn, args, (size_t)nargs, is_variadic(f), &r);
            if (max_insns && r.stop.kind == DX_STOP_LIMIT) {
                if (r.stop.insns != max_insns)
                    fail_msg("%s case %zu: limit stop after %" PRIu64 " instructions, limit %" PRIu64, name, ci,
                             r.stop.insns, max_insns);
                st->limited++;
                dx_call_result_free(&r);
                if (stateful(name))
                    dx_exec_reset(e, NULL, 0);
                dx_exec_options_of(e)->max_insns = BIG_LIMIT;
                call(e, fn, args, (size_t)nargs, is_variadic(f), &r);
                if (r.stop.kind == DX_STOP_LIMIT && r.stop.insns == BIG_LIMIT) {
                    print_message("%s case %zu needs more than %llu instructions: fast path only\n", name, ci,
                                  BIG_LIMIT);
                    dx_call_result_free(&r);
                    continue; /* only the fast path can finish it */
                }
            }
            if (r.stop.kind != DX_STOP_RETURNED)
                fail_msg("%s case %zu (max_insns %" PRIu64 "): did not return: %s", name, ci, max_insns,
                         describe(e, &r));
            uint64_t got = returned_bits(&r, width, is_float);
            if (got != want)
                fail_msg("%s case %zu (max_insns %" PRIu64 "): got 0x%" PRIx64 ", native result 0x%" PRIx64, name, ci,
                         max_insns, got, want);
            uint64_t n = r.stop.insns;
            uint64_t limit = dx_exec_options_of(e)->max_insns;
            dx_call_result_free(&r);
            st->checked++;
            if (!limit) {
                assert_int_equal(n, 0); /* the fast path counts nothing */
                continue;
            }
            assert_true(n > 0);
            /* The count is exact: N instructions fit a limit of N, not N-1. */
            if (n <= 100000) {
                if (stateful(name))
                    dx_exec_reset(e, NULL, 0);
                dx_exec_options_of(e)->max_insns = n;
                call(e, fn, args, (size_t)nargs, is_variadic(f), &r);
                if (r.stop.kind != DX_STOP_RETURNED || returned_bits(&r, width, is_float) != want ||
                    r.stop.insns != n)
                    fail_msg("%s case %zu: with max_insns %" PRIu64 " (its own count): %s", name, ci, n,
                             describe(e, &r));
                dx_call_result_free(&r);
                if (stateful(name))
                    dx_exec_reset(e, NULL, 0);
                dx_exec_options_of(e)->max_insns = n - 1;
                call(e, fn, args, (size_t)nargs, is_variadic(f), &r);
                if (r.stop.kind != DX_STOP_LIMIT || r.stop.insns != n - 1)
                    fail_msg("%s case %zu: with max_insns %" PRIu64 ": expected a limit stop: %s", name, ci, n - 1,
                             describe(e, &r));
                dx_call_result_free(&r);
            }
        }
    }
    dx_exec_free(e);
}

static void test_all_cases_default_limit(void **state)
{
    (void)state;
    run_stats st = {0};
    run_all_cases(DX_DEFAULT_MAX_INSNS, &st);
    print_message("checked %d results, %d cases needed more than %d instructions\n", st.checked, st.limited,
                  DX_DEFAULT_MAX_INSNS);
    assert_true(st.checked >= 30);
    assert_true(st.limited >= 1); /* fib(25) and long_loop(10M) */
}

static void test_all_cases_fast_path(void **state)
{
    (void)state;
    run_stats st = {0};
    run_all_cases(0, &st);
    print_message("checked %d results\n", st.checked);
    assert_true(st.checked >= 35);
    assert_int_equal(st.limited, 0);
}

/* Modes switch between calls of one session; results do not change. */
static void test_modes_interleaved(void **state)
{
    (void)state;
    dx_exec *e = new_exec(0);
    static const char *const names[] = {"add10", "mixed6", "fib", "sum_array", "apply", "call_heap"};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            const mj *c = first_case(names[i]);
            dx_arg args[MAX_ARGS];
            int nargs = tp_case_args(c, args, MAX_ARGS);
            uint64_t want;
            int width;
            bool is_float;
            assert_true(nargs >= 0 && tp_value(mj_get(c, "result"), &want, &width, &is_float));
            dx_exec_options_of(e)->max_insns = (i + (size_t)round) % 2 ? 0 : BIG_LIMIT;
            FILE *sink = round == 2 && i == 0 ? fopen("/dev/null", "w") : NULL;
            dx_exec_trace(e, sink);
            dx_call_result r;
            call(e, func(names[i]), args, (size_t)nargs, false, &r);
            if (r.stop.kind != DX_STOP_RETURNED || returned_bits(&r, width, is_float) != (width == 64 ? want : want & ((1ull << width) - 1)))
                fail_msg("%s round %d: %s", names[i], round, describe(e, &r));
            dx_call_result_free(&r);
            dx_exec_trace(e, NULL);
            if (sink)
                fclose(sink);
        }
    }
    dx_exec_free(e);
}

/* make_triple: the 24-byte struct comes back through a hidden pointer in
 * RCX, which the function also returns in RAX. */
static void test_make_triple(void **state)
{
    (void)state;
    const mj *c = first_case("make_triple");
    const mj *res = mj_get(c, "result");
    assert_true(mj_is_true(mj_get(res, "hidden_return_pointer")));
    dx_arg args[MAX_ARGS] = {{.kind = DX_ARG_BUF, .size = 24}};
    int n = tp_case_args(c, args + 1, MAX_ARGS - 1);
    assert_int_equal(n, 3);
    int64_t want[3];
    static const char *const fields[3] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++) {
        uint64_t b;
        int w;
        bool f;
        assert_true(tp_value(mj_get(res, fields[i]), &b, &w, &f));
        want[i] = (int64_t)b;
    }
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(mode ? 0 : DX_DEFAULT_MAX_INSNS);
        dx_call_result r;
        call(e, func("make_triple"), args, 4, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.nbufs, 1);
        assert_int_equal(r.buf_sizes[0], 24);
        int64_t got[3];
        memcpy(got, r.bufs[0], 24);
        for (int i = 0; i < 3; i++)
            assert_int_equal(got[i], want[i]);
        /* RAX is the buffer: on the scratch heap, holding the same bytes. */
        uint64_t heap = DX_SCRATCH_BASE + DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE;
        assert_true(r.rax >= heap && r.rax < heap + DX_SCRATCH_HEAP_SIZE);
        uint8_t mem[24];
        assert_int_equal(dx_exec_read(e, r.rax, mem, 24), 24);
        assert_memory_equal(mem, r.bufs[0], 24);
        dx_call_result_free(&r);
        dx_exec_free(e);
    }
}

/* str:, wstr: and buf: arguments against the manifest's pointer cases. */
static void test_string_and_buffer_args(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(mode ? 0 : DX_DEFAULT_MAX_INSNS);
        dx_call_result r;
        uint64_t want;
        int w;
        bool f;

        /* str_len(g_str) natively; the same text as a str: argument. */
        const mj *c = first_case("str_len");
        const char *text = mj_str(mj_get(c, "arg0_string"));
        assert_non_null(text);
        assert_string_equal(text, mj_str(mj_path(g_m, "globals.g_str.value")));
        assert_true(tp_value(mj_get(c, "result"), &want, &w, &f));
        dx_arg a = {.kind = DX_ARG_STR, .text = (char *)text, .size = strlen(text)};
        call(e, func("str_len"), &a, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        dx_call_result_free(&r);

        /* kernel32!lstrlenA through call_lstrlen, same text. */
        c = first_case("call_lstrlen");
        assert_true(tp_value(mj_get(c, "result"), &want, &w, &f));
        call(e, func("call_lstrlen"), &a, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        dx_call_result_free(&r);

        /* Other texts: str_len agrees with strlen, UTF-8 bytes included. */
        static const char *const texts[] = {"", "hello", "a b\tc", "h\xc3\xa9llo \xe2\x82\xac"};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            dx_arg s = {.kind = DX_ARG_STR, .text = (char *)texts[i], .size = strlen(texts[i])};
            call(e, func("str_len"), &s, 1, false, &r);
            assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
            assert_int_equal((uint32_t)r.rax, strlen(texts[i]));
            dx_call_result_free(&r);
        }

        /* wstr_len(g_wstr) natively; the same text as wstr:. */
        c = first_case("wstr_len");
        text = mj_str(mj_get(c, "arg0_string"));
        assert_non_null(text);
        assert_true(tp_value(mj_get(c, "result"), &want, &w, &f));
        dx_arg ws = {.kind = DX_ARG_WSTR, .text = (char *)text, .size = strlen(text)};
        call(e, func("wstr_len"), &ws, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        dx_call_result_free(&r);
        /* UTF-16 units: é and € are one each, U+1F600 a surrogate pair. */
        static const struct {
            const char *utf8;
            unsigned units;
        } wide[] = {{"", 0}, {"h\xc3\xa9llo \xe2\x82\xac", 7}, {"\xf0\x9f\x98\x80!", 3}};
        for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
            dx_arg s = {.kind = DX_ARG_WSTR, .text = (char *)wide[i].utf8, .size = strlen(wide[i].utf8)};
            call(e, func("wstr_len"), &s, 1, false, &r);
            assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
            assert_int_equal((uint32_t)r.rax, wide[i].units);
            dx_call_result_free(&r);
        }

        /* fill_buf into a buf: argument instead of g_buf. */
        c = first_case("fill_buf");
        const char *hex = mj_str(mj_get(c, "expect_buffer_hex"));
        assert_non_null(hex);
        size_t nbytes = strlen(hex) / 2;
        uint8_t expect[64] = {0};
        assert_true(nbytes <= 32);
        for (size_t i = 0; i < nbytes; i++) {
            unsigned byte;
            assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
            expect[i] = (uint8_t)byte;
        }
        dx_arg native[2];
        assert_int_equal(tp_case_args(c, native, 2), 2); /* g_buf, n */
        assert_int_equal(native[1].i, nbytes);
        dx_arg fb[3] = {{.kind = DX_ARG_BUF, .size = 64}, native[1], {.kind = DX_ARG_STR, .text = "x", .size = 1}};
        assert_true(tp_value(mj_get(c, "result"), &want, &w, &f));
        call(e, func("fill_buf"), fb, 3, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, (uint32_t)want);
        assert_int_equal(r.nbufs, 1);
        assert_int_equal(r.buf_sizes[0], 64);
        assert_memory_equal(r.bufs[0], expect, 64); /* the rest stays zero */
        dx_call_result_free(&r);

        /* Several buffers come back in argument order, zeroed. */
        dx_arg many[4] = {{.kind = DX_ARG_STR, .text = "abc", .size = 3},
                          {.kind = DX_ARG_BUF, .size = 8},
                          {.kind = DX_ARG_WSTR, .text = "w", .size = 1},
                          {.kind = DX_ARG_BUF, .size = 33}};
        call(e, func("str_len"), many, 4, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal((uint32_t)r.rax, 3);
        assert_int_equal(r.nbufs, 2);
        assert_int_equal(r.buf_sizes[0], 8);
        assert_int_equal(r.buf_sizes[1], 33);
        static const uint8_t zeros[33];
        assert_memory_equal(r.bufs[0], zeros, 8);
        assert_memory_equal(r.bufs[1], zeros, 33);
        dx_call_result_free(&r);
        dx_exec_free(e);
    }
}

/* The heap holds what fits; a call that does not fit fails cleanly. */
static void test_args_too_big_for_heap(void **state)
{
    (void)state;
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    dx_arg big[3] = {{.kind = DX_ARG_BUF, .size = DX_SCRATCH_HEAP_SIZE / 2},
                     {.kind = DX_ARG_BUF, .size = DX_SCRATCH_HEAP_SIZE / 2},
                     {.kind = DX_ARG_BUF, .size = 16}};
    dx_regs before = *dx_exec_regs(e, main_tid());
    dx_call_result r;
    assert_int_equal(dx_exec_call(e, func("add2"), big, 3, NULL, &r), -1);
    assert_int_equal(r.stop.kind, DX_STOP_ERROR);
    assert_non_null(strstr(r.stop.detail, "heap"));
    dx_call_result_free(&r);
    char which[32];
    assert_true(regs_equal(&before, dx_exec_regs(e, main_tid()), which, sizeof which));
    /* Exactly the heap still fits. */
    call(e, func("add2"), big, 2, false, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal(r.nbufs, 2);
    dx_call_result_free(&r);
    dx_exec_free(e);
}

/* sum_vd needs its doubles in the integer registers too (Win64 varargs). */
static void test_variadic_doubles(void **state)
{
    (void)state;
    const mj *cases = mj_path(g_m, "functions.sum_vd.cases");
    assert_true(mj_len(cases) >= 1);
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(mode ? 0 : DX_DEFAULT_MAX_INSNS);
        for (size_t i = 0; i < mj_len(cases); i++) {
            const mj *c = mj_at(cases, i);
            dx_arg args[MAX_ARGS];
            int n = tp_case_args(c, args, MAX_ARGS);
            uint64_t want = 0;
            int w = 0;
            bool f = false;
            assert_true(n > 4 - 1 && tp_value(mj_get(c, "result"), &want, &w, &f) && f && w == 64);
            dx_call_result r;
            call(e, func("sum_vd"), args, (size_t)n, true, &r);
            assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
            uint64_t got;
            memcpy(&got, r.xmm0, 8);
            assert_int_equal(got, want);
            dx_call_result_free(&r);
        }
        dx_exec_free(e);
    }
}

/* apply(fn, x) calls through a pointer: pass square's address. */
static void test_apply_square(void **state)
{
    (void)state;
    const mj *cases = mj_path(g_m, "functions.apply.cases");
    const mj *sq = NULL;
    for (size_t i = 0; i < mj_len(cases); i++)
        if (mj_str(mj_path(mj_at(cases, i), "args.0.points_to")) &&
            !strcmp(mj_str(mj_path(mj_at(cases, i), "args.0.points_to")), "square"))
            sq = mj_at(cases, i);
    assert_non_null(sq);
    uint64_t p;
    assert_true(mj_u64(mj_path(sq, "args.0.hex"), &p));
    assert_int_equal(p, func("square"));
    uint64_t want;
    int w;
    bool f;
    assert_true(tp_value(mj_get(sq, "result"), &want, &w, &f));
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = func("square")}, {.kind = DX_ARG_INT}};
    uint64_t x;
    int xw;
    bool xf;
    assert_true(tp_value(mj_path(sq, "args.1"), &x, &xw, &xf));
    args[1].i = x;
    dx_exec *e = new_exec(0);
    dx_call_result r;
    call(e, func("apply"), args, 2, false, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal((uint32_t)r.rax, (uint32_t)want);
    dx_call_result_free(&r);
    dx_exec_free(e);
}

static int64_t read_counter(dx_exec *e)
{
    int64_t v = 0;
    uint64_t at = mj_path_u64(g_m, "globals.g_counter.address");
    assert_true(at != 0);
    assert_int_equal(dx_exec_read(e, at, &v, 8), 8);
    return v;
}

/* Memory effects stay across calls until dx_exec_reset. */
static void test_counter_state(void **state)
{
    (void)state;
    uint64_t at_dump;
    int w;
    bool f;
    assert_true(tp_value(mj_path(g_m, "globals.g_counter.value_at_dump"), &at_dump, &w, &f));
    const mj *c = first_case("counter_add");
    dx_arg arg[1];
    assert_int_equal(tp_case_args(c, arg, 1), 1);
    uint64_t first;
    assert_true(tp_value(mj_get(c, "result"), &first, &w, &f));
    uint64_t get_want;
    assert_true(tp_value(mj_get(first_case("get_counter"), "result"), &get_want, &w, &f));
    assert_int_equal(get_want, at_dump);

    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(mode ? 0 : DX_DEFAULT_MAX_INSNS);
        assert_int_equal(read_counter(e), (int64_t)at_dump); /* before any engine exists */
        dx_call_result r;
        call(e, func("counter_add"), arg, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, first);
        call(e, func("counter_add"), arg, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, first + (first - at_dump)); /* "a second call returns 5 more" */
        assert_int_equal(read_counter(e), (int64_t)r.rax);
        uint64_t now = r.rax;
        call(e, func("get_counter"), NULL, 0, false, &r);
        assert_int_equal(r.rax, now);

        /* A debugger write is seen by the code too. */
        int64_t poke = 1000;
        char err[DX_ERRLEN];
        assert_int_equal(dx_exec_write(e, mj_path_u64(g_m, "globals.g_counter.address"), &poke, 8, err, sizeof err), 0);
        call(e, func("get_counter"), NULL, 0, false, &r);
        assert_int_equal(r.rax, 1000);

        dx_exec_reset(e, NULL, 0);
        assert_int_equal(read_counter(e), (int64_t)at_dump);
        call(e, func("get_counter"), NULL, 0, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, get_want);
        call(e, func("counter_add"), arg, 1, false, &r);
        assert_int_equal(r.rax, first);
        dx_exec_free(e);
    }
}

/* The full dump's default thread is its first, the main thread. */
static void test_default_thread(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_exec *e;
    assert_int_equal(dx_exec_new(g_dump, NULL, &e, err, sizeof err), 0);
    assert_int_equal(dx_exec_current_thread(e), main_tid());
    assert_int_equal(dx_dump_thread(g_dump, 0)->tid, main_tid());
    assert_non_null(dx_exec_regs(e, worker_tid()));
    assert_null(dx_exec_regs(e, 0xfffffff0u));
    assert_int_equal(dx_exec_select_thread(e, 0xfffffff0u), -1);
    assert_int_equal(dx_exec_current_thread(e), main_tid());
    /* GS base is the thread's TEB. */
    assert_int_equal(dx_exec_regs(e, main_tid())->gs_base, mj_path_u64(g_m, "process.main_thread.teb"));
    assert_int_equal(dx_exec_regs(e, worker_tid())->gs_base, mj_path_u64(g_m, "process.worker_thread.teb"));
    dx_exec_free(e);
}

/* TEB-dependent functions follow the selected thread. */
static void test_worker_thread(void **state)
{
    (void)state;
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    assert_int_equal(dx_exec_select_thread(e, worker_tid()), 0);
    dx_call_result r;
    call(e, func("read_teb"), NULL, 0, false, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal(r.rax, mj_path_u64(g_m, "process.worker_thread.teb"));
    call(e, func("read_peb"), NULL, 0, false, &r);
    assert_int_equal(r.rax, mj_path_u64(g_m, "process.peb"));
    /* TlsGetValue reads TEB.TlsSlots[index]: the worker's own slot. */
    uint64_t idx = mj_path_u64(g_m, "tls.index"), slot = 0;
    assert_true(idx < 64);
    uint64_t slot_addr = mj_path_u64(g_m, "process.worker_thread.teb") + 0x1480 + 8 * idx;
    assert_int_equal(dx_exec_read(e, slot_addr, &slot, 8), 8);
    assert_int_not_equal(slot, mj_path_u64(g_m, "tls.value"));
    call(e, func("call_tlsget"), NULL, 0, false, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal(r.rax, slot);
    /* ... and the main thread's slot is where the manifest says. */
    assert_int_equal(dx_exec_read(e, mj_path_u64(g_m, "tls.teb_slot_address"), &slot, 8), 8);
    assert_int_equal(slot, mj_path_u64(g_m, "tls.value"));
    assert_int_equal(dx_exec_select_thread(e, main_tid()), 0);
    call(e, func("call_tlsget"), NULL, 0, false, &r);
    assert_int_equal(r.rax, mj_path_u64(g_m, "tls.value"));
    call(e, func("read_teb"), NULL, 0, false, &r);
    assert_int_equal(r.rax, mj_path_u64(g_m, "process.main_thread.teb"));
    dx_exec_free(e);
}

/* dx_exec_reset brings memory and registers back but keeps the thread
 * the session selected. */
static void test_reset_keeps_thread(void **state)
{
    (void)state;
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    assert_int_equal(dx_exec_select_thread(e, worker_tid()), 0);
    dx_exec_regs(e, worker_tid())->gpr[DX_REG_RBX] ^= 0x5a5a;
    dx_exec_reset(e, NULL, 0);
    assert_int_equal(dx_exec_current_thread(e), worker_tid());
    dx_exec *fresh = new_exec(DX_DEFAULT_MAX_INSNS);
    char which[32];
    assert_true(regs_equal(dx_exec_regs(e, worker_tid()), dx_exec_regs(fresh, worker_tid()), which, sizeof which));
    dx_exec_free(fresh);
    dx_exec_free(e);
}

/* A debugger write to code that already ran is honoured by the next call
 * (no stale translation). */
static void test_code_patch_after_run(void **state)
{
    (void)state;
    uint8_t code[5];
    assert_int_equal(dx_dump_read(g_dump, func("add2"), code, 5), 5);
    /* lea rax, [rcx+rdx*2]; ret */
    static const uint8_t lea2[5] = {0x48, 0x8d, 0x04, 0x51, 0xc3};
    assert_memory_equal(code, lea2, 5);
    for (int mode = 0; mode < 2; mode++) {
        dx_exec *e = new_exec(mode ? 0 : DX_DEFAULT_MAX_INSNS);
        dx_arg args[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
        dx_call_result r;
        call(e, func("add2"), args, 2, false, &r);
        assert_int_equal(r.rax, 3 + 2 * 5);
        /* scale 2 -> 4: lea rax, [rcx+rdx*4] */
        uint8_t sib = 0x91;
        char err[DX_ERRLEN];
        assert_int_equal(dx_exec_write(e, func("add2") + 3, &sib, 1, err, sizeof err), 0);
        call(e, func("add2"), args, 2, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_int_equal(r.rax, 3 + 4 * 5);
        dx_exec_reset(e, NULL, 0);
        call(e, func("add2"), args, 2, false, &r);
        assert_int_equal(r.rax, 3 + 2 * 5);
        dx_exec_free(e);
    }
}

/* Sessions on one dump in parallel threads: each computes the manifest's
 * results and sees only its own g_counter. (No cmocka asserts off the main
 * thread: workers count mismatches.) */
typedef struct worker {
    uint64_t max_insns;
    int rounds, errors, counter_errors;
} worker;

static void *parallel_worker(void *p)
{
    worker *w = p;
    char err[DX_ERRLEN];
    dx_exec_options o = {.max_insns = w->max_insns};
    dx_exec *e;
    if (dx_exec_new(g_dump, &o, &e, err, sizeof err) != 0 || dx_exec_select_thread(e, main_tid()) != 0) {
        w->errors++;
        return NULL;
    }
    static const char *const names[] = {"fib", "mixed6", "call_heap", "sum_array", "add10", "call_lstrlen"};
    uint64_t at_dump = 0, step = 0;
    int width;
    bool is_float;
    tp_value(mj_path(g_m, "globals.g_counter.value_at_dump"), &at_dump, &width, &is_float);
    for (int round = 0; round < w->rounds; round++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            const mj *c = mj_at(mj_get(mj_get(mj_get(g_m, "functions"), names[i]), "cases"), 0);
            dx_arg args[MAX_ARGS];
            int n = tp_case_args(c, args, MAX_ARGS);
            uint64_t want;
            if (n < 0 || !tp_value(mj_get(c, "result"), &want, &width, &is_float)) {
                w->errors++;
                continue;
            }
            dx_call_result r;
            if (dx_exec_call(e, tp_func(g_m, names[i]), args, (size_t)n, NULL, &r) != 0 ||
                r.stop.kind != DX_STOP_RETURNED || returned_bits(&r, width, is_float) != (width == 64 ? want : want & ((1ull << width) - 1)))
                w->errors++;
            dx_call_result_free(&r);
        }
        /* counter_add(1) in this session only */
        dx_arg one = {.kind = DX_ARG_INT, .i = 1};
        dx_call_result r;
        step++;
        if (dx_exec_call(e, tp_func(g_m, "counter_add"), &one, 1, NULL, &r) != 0 || r.rax != at_dump + step)
            w->counter_errors++;
    }
    dx_exec_free(e);
    return NULL;
}

static void test_parallel_sessions(void **state)
{
    (void)state;
    enum { N = 4 };
    worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.max_insns = i % 2 ? 0 : BIG_LIMIT, .rounds = 5};
        assert_int_equal(pthread_create(&t[i], NULL, parallel_worker, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].errors, 0);
        assert_int_equal(w[i].counter_errors, 0);
    }
}

/* --trace: one line per counted instruction, then a summary. */
static void test_trace_lines(void **state)
{
    (void)state;
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    FILE *t = tmpfile();
    assert_non_null(t);
    dx_exec_trace(e, t);
    const mj *c = first_case("add4");
    dx_arg args[MAX_ARGS];
    int n = tp_case_args(c, args, MAX_ARGS);
    dx_call_result r;
    call(e, func("add4"), args, (size_t)n, false, &r);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    uint64_t insns = r.stop.insns;
    dx_exec_trace(e, NULL);
    rewind(t);
    char line[1024];
    uint64_t count = 0;
    bool summary = false;
    while (fgets(line, sizeof line, t)) {
        if (!strncmp(line, "-- ", 3)) {
            char want[64];
            snprintf(want, sizeof want, "-- %" PRIu64 " instructions", insns);
            assert_true(!strncmp(line, want, strlen(want)));
            summary = true;
            continue;
        }
        assert_false(summary); /* nothing after the summary */
        unsigned long long idx, addr;
        assert_int_equal(sscanf(line, "[%6llu] 0x%16llx: ", &idx, &addr), 2);
        assert_int_equal(idx, ++count);
        if (count == 1)
            assert_int_equal(addr, func("add4"));
        assert_non_null(strstr(line, " RAX="));
        assert_non_null(strstr(line, " RCX="));
        assert_non_null(strstr(line, " RDX="));
    }
    assert_true(summary);
    assert_int_equal(count, insns);
    fclose(t);
    dx_exec_free(e);
}

/* A capped trace stops writing at its limit, says so once, and the run
 * goes on to its end; the next run writes nothing more. */
static void test_trace_cap(void **state)
{
    (void)state;
    dx_exec *e = new_exec(DX_DEFAULT_MAX_INSNS);
    FILE *t = tmpfile();
    assert_non_null(t);
    dx_exec_trace_capped(e, t, 4096);
    dx_arg a = {.kind = DX_ARG_INT, .i = 1000};
    dx_call_result r;
    for (int i = 0; i < 2; i++) {
        call(e, func("long_loop"), &a, 1, false, &r);
        assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
        assert_true(r.stop.insns > 1000);
    }
    dx_exec_trace(e, NULL);
    long size = ftell(t);
    assert_true(size > 4096 - 300 && size < 4096 + 100);
    rewind(t);
    char line[1024], last[1024] = "";
    int notes = 0;
    while (fgets(line, sizeof line, t)) {
        notes += strstr(line, "trace stopped") != NULL;
        snprintf(last, sizeof last, "%s", line);
    }
    assert_int_equal(notes, 1);
    assert_non_null(strstr(last, "-- trace stopped: it reached its limit of 4096 bytes"));
    fclose(t);
    dx_exec_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_cases_default_limit),
        cmocka_unit_test(test_all_cases_fast_path),
        cmocka_unit_test(test_modes_interleaved),
        cmocka_unit_test(test_make_triple),
        cmocka_unit_test(test_string_and_buffer_args),
        cmocka_unit_test(test_args_too_big_for_heap),
        cmocka_unit_test(test_variadic_doubles),
        cmocka_unit_test(test_apply_square),
        cmocka_unit_test(test_counter_state),
        cmocka_unit_test(test_default_thread),
        cmocka_unit_test(test_worker_thread),
        cmocka_unit_test(test_reset_keeps_thread),
        cmocka_unit_test(test_code_patch_after_run),
        cmocka_unit_test(test_trace_lines),
        cmocka_unit_test(test_trace_cap),
        cmocka_unit_test(test_parallel_sessions),
    };
    if (getenv("DX_TEST_FILTER")) /* e.g. DX_TEST_FILTER='*watch*' */
        cmocka_set_test_filter(getenv("DX_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
