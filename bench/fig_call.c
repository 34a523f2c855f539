/* Figure 2, call overhead: add2 through dx_exec_call (one executor reused)
 * and through `monitor call` over loopback, beside bare Unicorn and the
 * loopback round trip. */
#include "bench.h"
#include "raw.h"

#include "exec.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* add2(3, 5) calls per second through dx_exec_call, one sample lasting
 * about `secs` (fig_python.c measures the same beside Python). */
double capi_add2_sample(dx_exec *e, uint64_t fn, double secs, bool *ok)
{
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
    long n = 0;
    double t0 = now_s(), t;
    for (;;) {
        dx_call_result res;
        dx_exec_call(e, fn, args, 2, NULL, &res);
        if (res.stop.kind != DX_STOP_RETURNED || res.rax != 13)
            *ok = false;
        dx_call_result_free(&res);
        if ((++n & 63) == 0 && (t = now_s() - t0) >= secs)
            return (double)n / t;
    }
}

static double raw_sample(raw_uc *r, uint64_t fn, double secs, bool *ok)
{
    uint64_t args[2] = {3, 5}, rax = 0;
    long n = 0;
    double t0 = now_s(), t;
    for (;;) {
        if (raw_call(r, fn, args, 2, &rax) != 0 || rax != 13)
            *ok = false;
        if ((++n & 63) == 0 && (t = now_s() - t0) >= secs)
            return (double)n / t;
    }
}

static double monitor_sample(rsp_client *c, const char *cmd, double secs, bool *ok, long *total)
{
    long n = 0;
    double t0 = now_s(), t;
    for (;;) {
        const char *r = rsp_monitor(c, cmd, NULL, 0);
        if (!r || strcmp(r, "OK")) {
            *ok = false;
            return -1;
        }
        ++*total;
        if ((++n & 15) == 0 && (t = now_s() - t0) >= secs)
            return (double)n / t;
    }
}

void fig_call(void)
{
    const int samples = cfg.shortrun ? 3 : 5;
    const double secs = cfg.shortrun ? 0.1 : 1.0;
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t fn;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0) {
        bench_fail("capi_call_rate", "%s", err);
        return;
    }
    if (dx_dump_resolve(d, "testprog!add2", &fn, err, sizeof err) != 0) {
        bench_fail("capi_call_rate", "%s", err);
        dx_dump_close(d);
        return;
    }

    /* Baseline: bare Unicorn, registers set and uc_emu_start per call. */
    raw_uc raw;
    double raw_rate = -1;
    bool ok = true;
    if (raw_open(&raw, d, "testprog.exe", false) == 0) {
        double v[5];
        raw_sample(&raw, fn, 0.02, &ok);
        for (int i = 0; i < samples; i++)
            v[i] = raw_sample(&raw, fn, secs, &ok);
        raw_rate = ok ? best_max(v, samples) : -1;
        raw_close(&raw);
    }
    if (raw_rate > 0)
        bench_result("raw_unicorn_call_rate", raw_rate, "calls/s", -1, NULL, false, "(baseline)", HOLDS_NA);
    else
        bench_fail("raw_unicorn_call_rate", "bare Unicorn could not run add2");

    static const struct {
        const char *name;
        uint64_t max_insns;
    } modes[] = {{"capi_call_rate_noinsnlimit", 0}, {"capi_call_rate_default", DX_DEFAULT_MAX_INSNS}};
    for (size_t m = 0; m < 2; m++) {
        dx_exec *e;
        dx_exec_options o = {.max_insns = modes[m].max_insns};
        if (dx_exec_new(d, &o, &e, err, sizeof err) != 0) {
            bench_fail(modes[m].name, "%s", err);
            continue;
        }
        ok = true;
        capi_add2_sample(e, fn, 0.02, &ok); /* warm: engine, pages, translation */
        double v[5];
        for (int i = 0; i < samples; i++)
            v[i] = capi_add2_sample(e, fn, secs, &ok);
        dx_exec_free(e);
        if (!ok) {
            bench_fail(modes[m].name, "add2(3, 5) did not return 13");
            continue;
        }
        double rate = best_max(v, samples);
        bench_result(modes[m].name, rate, "calls/s", raw_rate, "calls/s bare Unicorn", true, ">= 100000 calls/s",
                     rate >= 100000 ? HOLDS_YES : HOLDS_NO);
    }
    dx_dump_close(d);

    /* monitor call over loopback, beside the ping-pong floor. */
    double pp = shared_pingpong();
    server_proc s;
    if (server_start(cfg.fixture, NULL, &s) != 0) {
        bench_fail("monitor_call_rate", "dump_exec --listen did not start");
        return;
    }
    rsp_client c;
    const char *cmd = "call testprog!add2 3 5";
    char text[512] = "";
    if (rsp_connect(&c, s.port) != 0 || rsp_start_noack(&c) != 0) {
        bench_fail("monitor_call_rate", "cannot connect to the server");
    } else {
        const char *r = rsp_monitor(&c, cmd, text, sizeof text);
        if (!r || strcmp(r, "OK") || !strstr(text, "Return value: 0xd")) {
            bench_fail("monitor_call_rate", "monitor call add2 3 5 answered '%s' / '%.80s'", r ? r : "(nothing)", text);
        } else {
            ok = true;
            double v[5];
            long total = 0;
            double cpu0 = proc_cpu_s(s.pid), w0 = now_s();
            for (int i = 0; i < samples; i++)
                v[i] = monitor_sample(&c, cmd, secs, &ok, &total);
            double cpu = proc_cpu_s(s.pid) - cpu0, wall = now_s() - w0;
            if (!ok) {
                bench_fail("monitor_call_rate", "a monitor call failed");
            } else {
                double rate = best_max(v, samples);
                bench_result("monitor_call_rate", rate, "calls/s", pp, "rt/s ping-pong", true, ">= 0.5 x ping-pong",
                             pp > 0 ? (rate >= 0.5 * pp ? HOLDS_YES : HOLDS_NO) : HOLDS_NA);
                if (cpu0 >= 0 && total)
                    bench_result("monitor_call_server_cpu_us", cpu / (double)total * 1e6, "us/call",
                                 wall / (double)total * 1e6, "us/call wall", true, "(info: server CPU per call)",
                                 HOLDS_NA);
            }
        }
    }
    rsp_close(&c);
    server_stop(&s);
}
