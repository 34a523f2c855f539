/* Time travel: what recording costs a continue, how long going back takes
 * after long runs, and what snapshots cost against the pages written.
 * The workload is long_loop from a hand-set call (7 instructions an
 * iteration), stopped by a breakpoint at its ret; every figure is
 * measured beside its baseline in the same run. */
#include "bench.h"

#include "exec.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOOP_RET 0x3c /* long_loop's ret */
#define INSNS_PER_ITER 7

typedef struct loop_session {
    dx_exec *e;
    uint32_t tid;
    dx_regs start;
} loop_session;

static int open_loop(const dx_dump *d, uint64_t fn, bool history, loop_session *s)
{
    char err[DX_ERRLEN];
    dx_exec_options o = {0};
    memset(s, 0, sizeof *s);
    if (dx_exec_new(d, &o, &s->e, err, sizeof err) != 0 || dx_exec_prepare(s->e, err, sizeof err) != 0 ||
        (history && dx_exec_history_start(s->e, 256ull << 20, err, sizeof err) != 0))
        return -1;
    s->tid = dx_exec_current_thread(s->e);
    dx_regs *r = dx_exec_regs(s->e, s->tid);
    r->rip = fn;
    r->gpr[DX_REG_RSP] = (r->gpr[DX_REG_RSP] - 0x200) & ~0xfull;
    s->start = *r;
    return dx_exec_break_add(s->e, fn + LOOP_RET);
}

/* Seconds of a continue from the call's start through iters iterations. */
static double run_loop(loop_session *s, uint64_t iters)
{
    char err[DX_ERRLEN];
    dx_stop stop;
    dx_exec_reset(s->e, err, sizeof err);
    dx_regs *r = dx_exec_regs(s->e, s->tid);
    *r = s->start;
    r->gpr[DX_REG_RCX] = iters;
    dx_exec_history_mark(s->e);
    double t0 = now_s();
    dx_exec_continue(s->e, &stop);
    double t = now_s() - t0;
    return stop.kind == DX_STOP_BREAKPOINT ? t : -1;
}

static void recording_overhead(loop_session *with, loop_session *without, uint64_t iters)
{
    double a[5], b[5];
    int n = cfg.shortrun ? 1 : 5;
    for (int i = 0; i < n; i++) {
        b[i] = run_loop(without, iters);
        a[i] = run_loop(with, iters);
        if (a[i] < 0 || b[i] < 0) {
            bench_fail("history_recording", "the loop did not reach its ret");
            return;
        }
    }
    double insns = (double)iters * INSNS_PER_ITER;
    double rec = insns / best_min(a, n), plain = insns / best_min(b, n);
    bench_result("history_continue_recorded", rec / 1e6, "M insn/s", plain / 1e6, "continue without history", true,
                 ">= 0.5x", rec >= 0.5 * plain ? HOLDS_YES : HOLDS_NO);
}

static double step_time(loop_session *s, bool back, int n)
{
    double v[64];
    dx_stop stop;
    n = n > 64 ? 64 : n;
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        if (back)
            dx_exec_reverse_step(s->e, &stop);
        else
            dx_exec_step(s->e, &stop);
        v[i] = now_s() - t0;
        if (stop.kind != DX_STOP_STEP && stop.kind != DX_STOP_BREAKPOINT) {
            note("%s stopped with kind %d: %s", back ? "reverse-stepi" : "stepi", stop.kind, stop.detail);
            return -1;
        }
    }
    return median(v, n);
}

/* reverse-stepi after a run of `insns`, against a forward stepi. */
static void reverse_step_latency(loop_session *s, uint64_t insns, const char *name)
{
    if (run_loop(s, insns / INSNS_PER_ITER) < 0) {
        bench_fail(name, "the loop did not reach its ret");
        return;
    }
    double back = step_time(s, true, 16), fwd = step_time(s, false, 16);
    if (back < 0 || fwd < 0) {
        bench_fail(name, "a step did not step");
        return;
    }
    bench_result(name, back * 1e6, "us", fwd * 1e6, "forward stepi", true, "(info: slower is replay from a checkpoint)",
                 HOLDS_NA);
}

/* reverse-continue over `insns` to a breakpoint at the call's start. */
static void reverse_continue_rate(loop_session *s, uint64_t insns)
{
    double fwd = run_loop(s, insns / INSNS_PER_ITER);
    dx_exec_break_add(s->e, s->start.rip);
    dx_stop stop;
    dx_history_info h;
    dx_exec_history_info(s->e, &h);
    double t0 = now_s();
    dx_exec_reverse_continue(s->e, &stop);
    double back = now_s() - t0;
    dx_exec_break_remove(s->e, s->start.rip);
    if (fwd < 0 || stop.kind != DX_STOP_BREAKPOINT) {
        bench_fail("history_reverse_continue", "reverse-continue stopped with kind %d", stop.kind);
        return;
    }
    double rate = (double)h.pos / back, forward = (double)h.pos / fwd;
    bench_result("history_reverse_continue_10M", rate / 1e6, "M insn/s", forward / 1e6, "forward continue", true,
                 "(info: every segment is replayed once)", HOLDS_NA);
}

/* Snapshot save and restore against the pages written since the last. */
static void snapshot_cost(const dx_dump *d)
{
    char err[DX_ERRLEN];
    dx_exec *e;
    dx_exec_options o = {0};
    const uint64_t base = 0x500000000ull, size = 16ull << 20;
    if (dx_exec_new(d, &o, &e, err, sizeof err) != 0 || dx_exec_map(e, base, size, DX_PROT_READ | DX_PROT_WRITE, err,
                                                                     sizeof err) != 0) {
        bench_fail("history_snapshot", "%s", err);
        return;
    }
    static const int counts[] = {1, 64, 1024};
    uint8_t page[4096];
    dx_exec_snapshot_save(e, "base", err, sizeof err);
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        double save[5], restore[5];
        for (int rep = 0; rep < 5; rep++) {
            for (int i = 0; i < counts[k]; i++) {
                memset(page, rep * 16 + i + 1, sizeof page);
                dx_exec_write(e, base + (uint64_t)i * 4096, page, sizeof page, err, sizeof err);
            }
            double t0 = now_s();
            dx_exec_snapshot_save(e, "after", err, sizeof err);
            double t1 = now_s();
            dx_exec_snapshot_restore(e, "base", err, sizeof err);
            double t2 = now_s();
            save[rep] = t1 - t0, restore[rep] = t2 - t1;
        }
        char name[64], target[96];
        snprintf(name, sizeof name, "history_snapshot_save_%dpages", counts[k]);
        snprintf(target, sizeof target, "(info: 16 MiB mapped writable; restore %.0f us)", best_min(restore, 5) * 1e6);
        bench_result(name, best_min(save, 5) * 1e6, "us", -1, NULL, false, target, HOLDS_NA);
    }
    dx_exec_free(e);
}

void fig_history(void)
{
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t fn;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!long_loop", &fn, err, sizeof err) != 0) {
        bench_fail("history", "%s", err);
        return;
    }
    loop_session with, without;
    if (open_loop(d, fn, true, &with) != 0 || open_loop(d, fn, false, &without) != 0) {
        bench_fail("history", "cannot make the sessions");
    } else {
        uint64_t m = cfg.shortrun ? 1 : 10;
        recording_overhead(&with, &without, m * 10000000ull / INSNS_PER_ITER);
        reverse_step_latency(&with, m * 1000000ull, "history_reverse_stepi_after_10M");
        if (!cfg.shortrun)
            reverse_step_latency(&with, 100000000ull, "history_reverse_stepi_after_100M");
        reverse_continue_rate(&with, m * 1000000ull);
        snapshot_cost(d);
    }
    dx_exec_free(with.e);
    dx_exec_free(without.e);
    dx_dump_close(d);
}
