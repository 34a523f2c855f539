/* Figure 7, system calls through nt/: VirtualAlloc + VirtualFree pairs a
 * guest loop makes per second, and a loop that makes a service every
 * 10,000 instructions beside the same loop without (a service must cost a
 * hook and a restart, never a translation flush); exceptions per second,
 * RaiseException caught by the dump's vectored handler, the round trip
 * through its dispatcher. */
#include "bench.h"

#include "exec.h"
#include "nt.h"
#include "pe.h"

#include <stdio.h>

typedef struct nt_session {
    dx_exec *e;
    dx_nt *nt;
} nt_session;

static bool open_session(const dx_dump *d, nt_session *s)
{
    char err[DX_ERRLEN];
    dx_exec_options o = {.max_insns = 0};
    return dx_exec_new(d, &o, &s->e, err, sizeof err) == 0 && dx_nt_new(s->e, NULL, &s->nt, err, sizeof err) == 0;
}

static void close_session(nt_session *s)
{
    dx_nt_free(s->nt);
    dx_exec_free(s->e);
}

/* Seconds one call of fn(args) takes, best of reps; -1 if it did not return want. */
static double best_call(nt_session *s, uint64_t fn, const dx_arg *args, size_t nargs, long long want, int reps)
{
    double best = -1;
    for (int i = 0; i < reps; i++) {
        dx_call_result r;
        double t0 = now_s();
        dx_exec_call(s->e, fn, args, nargs, NULL, &r);
        double t = now_s() - t0;
        bool ok = r.stop.kind == DX_STOP_RETURNED && (want < 0 || (long long)r.rax == want);
        dx_call_result_free(&r);
        if (!ok)
            return -1;
        if (best < 0 || t < best)
            best = t;
    }
    return best;
}

void fig_nt(void)
{
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t pairs_fn, work_fn, raise_fn;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!veh_raise_loop", &raise_fn, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!alloc_free_loop", &pairs_fn, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!work_loop", &work_fn, err, sizeof err) != 0) {
        bench_fail("nt", "%s", err);
        return;
    }
    nt_session s;
    if (!open_session(d, &s)) {
        bench_fail("nt", "cannot make a session");
        dx_dump_close(d);
        return;
    }
    const int reps = cfg.shortrun ? 1 : 5;
    const long long pairs = cfg.shortrun ? 2000 : 20000;
    dx_arg n = {.kind = DX_ARG_INT, .i = (uint64_t)pairs};
    double t = best_call(&s, pairs_fn, &n, 1, pairs, reps);
    if (t <= 0)
        bench_fail("nt_alloc_free_pairs_rate", "alloc_free_loop did not return %lld", pairs);
    else
        bench_result("nt_alloc_free_pairs_rate", (double)pairs / t, "pairs/s", -1, NULL, false,
                     ">= 1000000 pairs/s (VirtualAlloc + VirtualFree)", pairs / t >= 1e6 ? HOLDS_YES : HOLDS_NO);

    /* 2,000 iterations of 5 instructions: a service every ~10,000. */
    const long long rounds = cfg.shortrun ? 200 : 2000;
    dx_arg with[3] = {{.kind = DX_ARG_INT, .i = (uint64_t)rounds}, {.kind = DX_ARG_INT, .i = 2000},
                      {.kind = DX_ARG_INT, .i = 1}};
    dx_arg without[3] = {with[0], with[1], {.kind = DX_ARG_INT, .i = 0}};
    double t_with = best_call(&s, work_fn, with, 3, -1, reps);
    double t_without = best_call(&s, work_fn, without, 3, -1, reps);
    if (t_with <= 0 || t_without <= 0)
        bench_fail("nt_service_every_10k_ratio", "work_loop did not return");
    else
        bench_result("nt_service_every_10k_ratio", t_without / t_with, "x", (double)rounds / t_without,
                     "rounds/s without services", false, ">= 0.5 x the loop without", t_without / t_with >= 0.5 ?
                     HOLDS_YES : HOLDS_NO);

    const long long raises = cfg.shortrun ? 200 : 5000;
    dx_arg nr = {.kind = DX_ARG_INT, .i = (uint64_t)raises};
    double t_raise = best_call(&s, raise_fn, &nr, 1, raises * (raises - 1) / 2, reps);
    if (t_raise <= 0)
        bench_fail("nt_exceptions_rate", "veh_raise_loop did not return its sum");
    else
        bench_result("nt_exceptions_rate", (double)raises / t_raise, "exceptions/s", -1, NULL, false,
                     ">= 1000 exceptions/s (RaiseException, vectored handler, NtContinue)",
                     raises / t_raise >= 1000 ? HOLDS_YES : HOLDS_NO);
    close_session(&s);
    dx_dump_close(d);
}
