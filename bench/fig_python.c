/* Python figures: trivial calls through the package (python/dumpexec over
 * libdumpexec.so) beside the same call through the C API in the same run,
 * samples interleaved; and the batch example's dumps per second with two
 * workers against one. */
#include "bench.h"

#include "nt.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first number the command prints (on stdout, or the last line of
 * stderr for the batch example's summary), or -1. */
static double run_number(const char *const *argv, double timeout, const char *after)
{
    char *out = NULL;
    int rc = run_capture(argv, timeout, &out);
    double v = -1;
    const char *p = out && after ? strstr(out, after) : out;
    if (rc == 0 && p) {
        if (after) {
            while (p > out && p[-1] != '(')
                p--;
        }
        v = strtod(p, NULL);
    }
    free(out);
    return v > 0 ? v : -1;
}

static void python_calls(const char *script, int samples, double secs)
{
    char err[DX_ERRLEN], secs_s[32];
    dx_dump *d;
    dx_exec *e;
    dx_nt *nt;
    uint64_t fn;
    dx_nt_options no = {0};
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 || dx_dump_resolve(d, "testprog!add2", &fn, err, sizeof err) ||
        dx_exec_new(d, NULL, &e, err, sizeof err) != 0) {
        bench_fail("python_call_rate", "%s", err);
        return;
    }
    if (dx_nt_new(e, &no, &nt, err, sizeof err) != 0) {
        bench_fail("python_call_rate", "%s", err);
        dx_exec_free(e);
        dx_dump_close(d);
        return;
    }
    snprintf(secs_s, sizeof secs_s, "%g", secs);
    const char *argv[] = {"/usr/bin/env", "python3", script, cfg.fixture, secs_s, NULL};
    double c[8], py[8];
    bool ok = true;
    capi_add2_sample(e, fn, 0.05, &ok); /* with nt/ attached, as every Python session has */
    for (int i = 0; i < samples; i++) {
        c[i] = capi_add2_sample(e, fn, secs, &ok);
        py[i] = run_number(argv, 60 + 4 * secs, NULL);
    }
    dx_nt_free(nt);
    dx_exec_free(e);
    dx_dump_close(d);
    double crate = best_max(c, samples), prate = best_max(py, samples);
    if (!ok || crate <= 0) {
        bench_fail("python_call_rate", "the C API's add2(3, 5) did not return 13");
        return;
    }
    bench_result("capi_call_rate_with_nt", crate, "calls/s", -1, NULL, false, "(baseline: as a Python session)",
                 HOLDS_NA);
    if (prate <= 0) {
        bench_fail("python_call_rate", "python3 %s failed (is python/dumpexec in the build tree?)", script);
        return;
    }
    bench_result("python_call_rate", prate, "calls/s", crate, "calls/s C API", true,
                 ">= 0.3 x C API (dumpulator: ~31k/s)", prate >= 0.3 * crate ? HOLDS_YES : HOLDS_NO);
}

/* A folder of n links to the fixture, for the batch example. */
static int link_folder(const char *dir, int n)
{
    char path[600];
    if (mkdir(dir, 0700) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/s%d.dmp", dir, i);
        if (symlink(cfg.fixture, path) != 0)
            return -1;
    }
    return 0;
}

static void unlink_folder(const char *dir, int n)
{
    char path[600];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/s%d.dmp", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* examples/batch.py over a folder of links to the fixture, 1 and 2 workers. */
static void python_batch(const char *batch, int runs, bool shortrun)
{
    char dir[512], cmd[2048];
    const int ndumps = shortrun ? 4 : 16;
    snprintf(dir, sizeof dir, "%s/dxb-batch-%d", cfg.tmpdir, (int)getpid());
    if (link_folder(dir, ndumps) != 0) {
        bench_fail("python_batch_dumps_per_s", "cannot make %s", dir);
        unlink_folder(dir, ndumps);
        return;
    }
    double rate[2][8];
    for (int r = 0; r < runs; r++) {
        for (int w = 0; w < 2; w++) {
            snprintf(cmd, sizeof cmd,
                     "python3 '%s' '%s' testprog!long_loop %s --max-insns 0 --workers %d 2>&1 >/dev/null", batch, dir,
                     shortrun ? "100000" : "10000000", w + 1);
            const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
            rate[w][r] = run_number(argv, 300, " dumps/s");
        }
    }
    unlink_folder(dir, ndumps);
    double one = best_max(rate[0], runs), two = best_max(rate[1], runs);
    if (one <= 0 || two <= 0) {
        bench_fail("python_batch_dumps_per_s", "examples/batch.py failed");
        return;
    }
    bench_result("python_batch_1_worker", one, "dumps/s", -1, NULL, false, "(baseline)", HOLDS_NA);
    bench_result("python_batch_2_workers", two, "dumps/s", one, "dumps/s 1 worker", true, ">= 1.5 x 1 worker",
                 two >= 1.5 * one ? HOLDS_YES : HOLDS_NO);
}

void fig_python(void)
{
    char script[1024], batch[1024], path[2048];
    snprintf(script, sizeof script, "%s/bench/python_calls.py", DXB_SOURCE_DIR);
    snprintf(batch, sizeof batch, "%s/examples/batch.py", DXB_SOURCE_DIR);
    const char *old = getenv("PYTHONPATH");
    snprintf(path, sizeof path, "%s%s%s", DXB_PYTHON_DIR, old ? ":" : "", old ? old : "");
    setenv("PYTHONPATH", path, 1);
#ifdef DXB_PY_PRELOAD
    setenv("LD_PRELOAD", DXB_PY_PRELOAD, 1); /* a sanitized library in an unsanitized python3 */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#endif
    python_calls(script, cfg.shortrun ? 2 : 5, cfg.shortrun ? 0.2 : 1.0);
    python_batch(batch, cfg.shortrun ? 1 : 3, cfg.shortrun);
#ifdef DXB_PY_PRELOAD
    unsetenv("LD_PRELOAD");
    unsetenv("ASAN_OPTIONS");
#endif
}
