/* Figure 3, execution: instructions per second of long_loop and recursive
 * fib run through dx_exec_call, as a ratio to bare Unicorn running the same
 * code from the same bytes with no hooks. Instruction counts come from one
 * counting run each (dx_exec with a huge max_insns, checked against a
 * UC_HOOK_CODE counter on bare Unicorn); rates divide them by the wall time
 * of the best un-hooked run. */
#include "bench.h"
#include "raw.h"

#include "exec.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct workload {
    const char *name, *fn;
    uint64_t arg_fast, arg_trace; /* argument for timed runs; for traced runs */
    uint64_t addr;
    uint64_t insns_fast, insns_trace, rax_fast, rax_trace;
} workload;

static const dx_dump *dump;

static int dx_call1(dx_exec *e, uint64_t fn, uint64_t arg, uint64_t *rax, uint64_t *insns)
{
    dx_arg a = {.kind = DX_ARG_INT, .i = arg};
    dx_call_result res;
    dx_exec_call(e, fn, &a, 1, NULL, &res);
    int rc = res.stop.kind == DX_STOP_RETURNED ? 0 : -1;
    if (rc != 0)
        note("call stopped: kind %d at 0x%llx: %s %s", res.stop.kind, (unsigned long long)res.stop.pc, res.stop.insn,
             res.stop.detail);
    *rax = res.rax;
    if (insns)
        *insns = res.stop.insns;
    dx_call_result_free(&res);
    return rc;
}

/* Best single-call times of dx_exec and of bare Unicorn, their calls
 * interleaved so that both see the same machine (a shared VM: its speed
 * drifts by 10% from one second to the next). Calls fill about `budget`
 * seconds, at least 3 pairs after one warm-up call each. 0, or -1 if a
 * call went wrong. */
static int best_pair(dx_exec *e, uint64_t dx_arg_v, uint64_t dx_rax, raw_uc *r, uint64_t raw_arg, uint64_t raw_rax,
                     uint64_t fn, double budget, double *tdx, double *traw)
{
    uint64_t rax;
    if (dx_call1(e, fn, dx_arg_v, &rax, NULL) != 0 || rax != dx_rax)
        return -1;
    if (raw_call(r, fn, &raw_arg, 1, &rax) != 0 || rax != raw_rax)
        return -1;
    *tdx = *traw = -1;
    double start = now_s();
    for (int n = 0; n < 3 || now_s() - start < budget; n++) {
        double t0 = now_s();
        if (raw_call(r, fn, &raw_arg, 1, &rax) != 0 || rax != raw_rax)
            return -1;
        double t1 = now_s();
        if (dx_call1(e, fn, dx_arg_v, &rax, NULL) != 0 || rax != dx_rax)
            return -1;
        double t2 = now_s();
        if (*traw < 0 || t1 - t0 < *traw)
            *traw = t1 - t0;
        if (*tdx < 0 || t2 - t1 < *tdx)
            *tdx = t2 - t1;
        if (n > 1000)
            break;
    }
    return 0;
}

typedef enum mode { M_PLAIN, M_BREAKS, M_WATCH, M_COVERAGE, M_TRACE, M_TENET, M_COUNT } mode;

static uint64_t elsewhere(void)
{
    const dx_module *other = dx_dump_find_module(dump, "ntdll");
    return other ? other->base : 0x170000000ull;
}

/* 100 breakpoints in another module's code */
static void add_breakpoints(dx_exec *e)
{
    for (int i = 0; i < 100; i++)
        dx_exec_break_add(e, elsewhere() + 0x1000 + (uint64_t)i * 0x40);
}

/* Where the Tenet figure's trace goes: a real file (tmpfile), as users write one. */
static FILE *tenet_file;

static dx_exec *make_exec(mode m, FILE *devnull, char *err, size_t errlen)
{
    dx_exec *e;
    dx_exec_options o = {.max_insns = m == M_COUNT ? (uint64_t)1e15 : 0};
    if (dx_exec_new(dump, &o, &e, err, errlen) != 0)
        return NULL;
    if (m == M_BREAKS)
        add_breakpoints(e);
    if (m == M_WATCH) /* a write watchpoint on a page the code never touches */
        dx_exec_watch_add(e, elsewhere() + 0x100, 8, DX_WATCH_WRITE);
    if (m == M_COVERAGE && dx_exec_coverage_start(e) != 0) {
        dx_exec_free(e);
        return NULL;
    }
    if (m == M_TRACE)
        dx_exec_trace(e, devnull);
    if (m == M_TENET && dx_exec_tenet(e, tenet_file) != 0) {
        dx_exec_free(e);
        return NULL;
    }
    return e;
}

/* A call that writes far past what the dump holds, with unmapped memory as
 * zeros: how fast the session maps memory, and how long freeing the session
 * then takes (the event loop waits for it). */
static void fig_fill(uint64_t mb)
{
    char err[DX_ERRLEN];
    uint64_t fill;
    dx_exec *e;
    dx_exec_options o = {.unmapped_zero = true, .max_session_mb = mb + 64};
    if (dx_dump_resolve(dump, "testprog!fill_buf", &fill, err, sizeof err) != 0 ||
        dx_exec_new(dump, &o, &e, err, sizeof err) != 0) {
        bench_fail("exec_fill", "%s", err);
        return;
    }
    dx_arg a[2] = {{.kind = DX_ARG_INT, .i = 0x100000000000ull}, {.kind = DX_ARG_INT, .i = mb << 20}};
    dx_call_result res;
    double t0 = now_s();
    dx_exec_call(e, fill, a, 2, NULL, &res);
    double t1 = now_s();
    bool ok = res.stop.kind == DX_STOP_RETURNED && res.rax == mb << 20;
    dx_call_result_free(&res);
    dx_exec_free(e);
    double t2 = now_s();
    if (!ok) {
        bench_fail("exec_fill", "fill_buf of %llu MB did not return", (unsigned long long)mb);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "exec_fill_%llumb_rate", (unsigned long long)mb);
    bench_result(name, (double)mb / (t1 - t0), "MB/s", -1, NULL, false, "(info: guest stores paging in zeros)",
                 HOLDS_NA);
    snprintf(name, sizeof name, "exec_free_after_%llumb_ms", (unsigned long long)mb);
    bench_result(name, (t2 - t1) * 1e3, "ms", -1, NULL, false, "< 500 ms", t2 - t1 < 0.5 ? HOLDS_YES : HOLDS_NO);
}

void fig_exec(void)
{
    const double budget = cfg.shortrun ? 0.08 : 2.0;
    char err[DX_ERRLEN];
    dx_dump *d;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0) {
        bench_fail("exec", "%s", err);
        return;
    }
    dump = d;
    workload w[2] = {
        {.name = "long_loop", .fn = "testprog!long_loop", .arg_fast = 2000000, .arg_trace = 100000},
        {.name = "fib", .fn = "testprog!fib", .arg_fast = 27, .arg_trace = 20},
    };
    if (cfg.shortrun) {
        w[0].arg_fast = 300000, w[0].arg_trace = 20000;
        w[1].arg_fast = 22, w[1].arg_trace = 16;
    }
    FILE *devnull = fopen("/dev/null", "w");
    raw_uc raw, rawc;
    bool have_raw = raw_open(&raw, d, "testprog.exe", false) == 0;
    bool have_rawc = raw_open(&rawc, d, "testprog.exe", true) == 0;
    dx_exec *counter = make_exec(M_COUNT, NULL, err, sizeof err);
    dx_exec *counter_bp = make_exec(M_COUNT, NULL, err, sizeof err);
    if (counter_bp)
        add_breakpoints(counter_bp);
    if (!have_raw || !have_rawc || !counter || !counter_bp || !devnull) {
        bench_fail("exec", "cannot set up bare Unicorn or the executor");
        goto out;
    }

    for (int k = 0; k < 2; k++) {
        workload *wl = &w[k];
        char name[96];
        if (dx_dump_resolve(d, wl->fn, &wl->addr, err, sizeof err) != 0) {
            bench_fail(wl->name, "%s", err);
            continue;
        }
        /* The counting runs: dx_exec's own count, checked against a hook on
         * bare Unicorn; the counting run's speed is a figure of its own. */
        if (dx_call1(counter, wl->addr, wl->arg_fast, &wl->rax_fast, &wl->insns_fast) != 0 ||
            dx_call1(counter, wl->addr, wl->arg_trace, &wl->rax_trace, &wl->insns_trace) != 0) {
            bench_fail(wl->name, "the counting run did not return");
            continue;
        }
        uint64_t again;
        double tcount = 1e9, tcount_bp = 1e9; /* warm, best of 5: a limited call is a figure of its own */
        dx_call1(counter_bp, wl->addr, wl->arg_fast, &again, NULL);
        for (int k = 0; k < 5; k++) {
            double tc0 = now_s();
            dx_call1(counter, wl->addr, wl->arg_fast, &again, NULL);
            double tc1 = now_s();
            dx_call1(counter_bp, wl->addr, wl->arg_fast, &again, NULL);
            double tc2 = now_s();
            tcount = tc1 - tc0 < tcount ? tc1 - tc0 : tcount;
            tcount_bp = tc2 - tc1 < tcount_bp ? tc2 - tc1 : tcount_bp;
        }
        uint64_t rax;
        rawc.count = 0;
        if (raw_call(&rawc, wl->addr, &wl->arg_fast, 1, &rax) != 0 || rax != wl->rax_fast) {
            bench_fail(wl->name, "bare Unicorn did not compute %s(%llu) as dx_exec did", wl->name,
                       (unsigned long long)wl->arg_fast);
            continue;
        }
        if (rawc.count != wl->insns_fast)
            note("%s: dx_exec counted %llu instructions, bare Unicorn %llu", wl->name,
                 (unsigned long long)wl->insns_fast, (unsigned long long)rawc.count);
        note("%s(%llu): %llu instructions; %s(%llu): %llu", wl->name, (unsigned long long)wl->arg_fast,
             (unsigned long long)wl->insns_fast, wl->name, (unsigned long long)wl->arg_trace,
             (unsigned long long)wl->insns_trace);

        static const struct {
            mode m;
            const char *tag, *target;
            double ratio; /* target as a ratio to bare Unicorn; 0: absolute */
        } modes[] = {
            {M_PLAIN, "plain", ">= 0.9 x bare", 0.9},
            {M_BREAKS, "100bp", ">= 0.8 x bare", 0.8},
            {M_WATCH, "watch", ">= 0.5 x bare", 0.5},
            {M_COVERAGE, "coverage", ">= 0.5 x bare (drcov blocks recorded)", 0.5},
            {M_TRACE, "trace", ">= 3 Minsn/s", 0},
            {M_TENET, "tenet", ">= 3 Minsn/s (Tenet trace to a file)", 0},
        };
        enum { NMODES = sizeof modes / sizeof modes[0] };
        double rate[NMODES], bare[NMODES], raw_rate = -1;
        bool measured[NMODES] = {false};
        for (size_t i = 0; i < NMODES; i++) {
            snprintf(name, sizeof name, "exec_%s_%s", wl->name, modes[i].tag);
            bool traced = modes[i].m == M_TRACE || modes[i].m == M_TENET;
            uint64_t arg = traced ? wl->arg_trace : wl->arg_fast;
            uint64_t want = traced ? wl->rax_trace : wl->rax_fast;
            uint64_t insns = traced ? wl->insns_trace : wl->insns_fast;
            /* The fast modes get two fresh engines, half the time each: where
             * an engine's code buffer lands (huge pages or not) moves a tight
             * loop by several per cent. */
            int engines = modes[i].m == M_PLAIN || modes[i].m == M_BREAKS ? 2 : 1, rc = 0;
            double tdx = -1, traw = -1;
            for (int k = 0; k < engines && rc == 0; k++) {
                if (modes[i].m == M_TENET && !(tenet_file = tmpfile()))
                    break;
                dx_exec *e = make_exec(modes[i].m, devnull, err, sizeof err);
                double a, b;
                rc = e ? best_pair(e, arg, want, &raw, wl->arg_fast, wl->rax_fast, wl->addr, budget / engines, &a, &b)
                       : -1;
                if (e)
                    dx_exec_free(e);
                if (tenet_file)
                    fclose(tenet_file);
                tenet_file = NULL;
                if (rc == 0 && (tdx < 0 || a < tdx))
                    tdx = a;
                if (rc == 0 && (traw < 0 || b < traw))
                    traw = b;
            }
            if (rc != 0 || tdx <= 0 || traw <= 0) {
                bench_fail(name, "no executor, or the call did not return %s's result", wl->name);
                continue;
            }
            rate[i] = (double)insns / tdx;
            bare[i] = (double)wl->insns_fast / traw;
            measured[i] = true;
            if (bare[i] > raw_rate)
                raw_rate = bare[i];
        }
        if (raw_rate <= 0) {
            bench_fail(wl->name, "bare Unicorn run failed");
            continue;
        }
        snprintf(name, sizeof name, "exec_%s_raw_unicorn", wl->name);
        bench_result(name, raw_rate / 1e6, "Minsn/s", -1, NULL, false, "(baseline: best of all)", HOLDS_NA);
        /* Each mode against the bare runs interleaved with its own. */
        for (size_t i = 0; i < NMODES; i++) {
            if (!measured[i])
                continue;
            snprintf(name, sizeof name, "exec_%s_%s", wl->name, modes[i].tag);
            bool holds = modes[i].ratio > 0 ? rate[i] >= modes[i].ratio * bare[i] : rate[i] >= 3e6;
            bench_result(name, rate[i] / 1e6, "Minsn/s", bare[i] / 1e6, "Minsn/s bare, interleaved", true,
                         modes[i].target, holds ? HOLDS_YES : HOLDS_NO);
        }
        /* Informational: instruction mode (a limit set), what the counting
         * runs above cost. */
        snprintf(name, sizeof name, "exec_%s_insn_limit", wl->name);
        double limited = (double)wl->insns_fast / tcount;
        bench_result(name, limited / 1e6, "Minsn/s", rate[M_PLAIN] / 1e6, "Minsn/s without a limit", true,
                     ">= 0.5 x without a limit (counted by block)", limited >= 0.5 * rate[M_PLAIN] ? HOLDS_YES : HOLDS_NO);
        snprintf(name, sizeof name, "exec_%s_insn_limit_100bp", wl->name);
        bench_result(name, (double)wl->insns_fast / tcount_bp / 1e6, "Minsn/s", (double)wl->insns_fast / tcount / 1e6,
                     "Minsn/s without breakpoints", true, "(info: max_insns set)", HOLDS_NA);
    }
    fig_fill(cfg.shortrun ? 32 : 512);
out:
    if (counter)
        dx_exec_free(counter);
    if (counter_bp)
        dx_exec_free(counter_bp);
    if (have_raw)
        raw_close(&raw);
    if (have_rawc)
        raw_close(&rawc);
    if (devnull)
        fclose(devnull);
    dx_dump_close(d);
}
