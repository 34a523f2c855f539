/* Figure 1, opening: dx_dump_open time and the memory it costs, and
 * `dump_exec --listen` from exec until "Serving", for the 27 MB fixture and
 * sparse synthetic dumps of 1 GiB and 16 GiB in 10,000 and 100,000 ranges. */
#include "bench.h"

#include "dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct subject {
    const char *tag; /* figure name part */
    char path[512];
    uint64_t total, nranges;
    bool synthetic;
} subject;

/* Best time of dx_dump_open over reps opens, in seconds; -1 on failure. */
static double time_open(const char *path, int reps, size_t *nranges)
{
    double best = -1;
    for (int i = 0; i < reps; i++) {
        dx_dump *d;
        char err[DX_ERRLEN];
        double t0 = now_s();
        int rc = dx_dump_open(path, &d, err, sizeof err);
        double t = now_s() - t0;
        if (rc != 0) {
            note("open %s: %s", path, err);
            return -1;
        }
        if (nranges)
            *nranges = dx_dump_range_count(d);
        dx_dump_close(d);
        if (best < 0 || t < best)
            best = t;
    }
    return best;
}

/* Resident memory that dx_dump_open adds, measured in a fresh child so
 * nothing the bench did before is counted. Bytes, or -1. */
static double rss_of_open(const char *path)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        double delta = -1;
        uint64_t before = proc_rss(0);
        dx_dump *d;
        char err[DX_ERRLEN];
        if (dx_dump_open(path, &d, err, sizeof err) == 0) {
            delta = (double)proc_rss(0) - (double)before;
            dx_dump_close(d);
        }
        ssize_t w = write(p[1], &delta, sizeof delta);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    double delta = -1;
    if (pid < 0 || read(p[0], &delta, sizeof delta) != (ssize_t)sizeof delta)
        delta = -1;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return delta;
}

/* dump_exec --listen: best time to "Serving" and the server's RSS then. */
static int serve_ready(const char *path, int reps, double *ready, double *rss)
{
    *ready = -1, *rss = -1;
    for (int i = 0; i < reps; i++) {
        server_proc s;
        if (server_start(path, NULL, &s) != 0)
            return -1;
        double r = (double)proc_rss(s.pid);
        server_stop(&s);
        if (*ready < 0 || s.ready_s < *ready)
            *ready = s.ready_s;
        if (*rss < 0 || r < *rss)
            *rss = r;
    }
    return 0;
}

void fig_open(void)
{
    const int reps_open = cfg.shortrun ? 3 : 20, reps_srv = cfg.shortrun ? 2 : 7;
    subject subj[6] = {
        {.tag = "full"},
        {.tag = "1g_10k", .total = 1ull << 30, .nranges = 10000, .synthetic = true},
        {.tag = "1g_100k", .total = 1ull << 30, .nranges = 100000, .synthetic = true},
        {.tag = "16g_10k", .total = 16ull << 30, .nranges = 10000, .synthetic = true},
        {.tag = "16g_100k", .total = 16ull << 30, .nranges = 100000, .synthetic = true},
        {.tag = "tiny", .total = 4096, .nranges = 1, .synthetic = true},
    };
    const size_t nsubj = sizeof subj / sizeof subj[0];
    snprintf(subj[0].path, sizeof subj[0].path, "%s", cfg.fixture);
    bool made = true;
    for (size_t i = 1; i < nsubj; i++) {
        snprintf(subj[i].path, sizeof subj[i].path, "%s/dxbench-%d-%s.dmp", cfg.tmpdir, (int)getpid(), subj[i].tag);
        if (synth_dump(subj[i].path, 0x10000000000ull, subj[i].total, subj[i].nranges, false, NULL) != 0) {
            bench_fail("open", "cannot write the synthetic dump %s", subj[i].path);
            made = false;
        }
    }

    /* Baselines: a process that only starts (dump_exec --help), and the
     * server of a one-page dump (libraries, loop, nothing else). */
    const char *help[] = {cfg.dump_exec, "--help", NULL};
    double start_floor = -1;
    for (int i = 0; i < reps_srv; i++) {
        double t = run_timed(help);
        if (t > 0 && (start_floor < 0 || t < start_floor))
            start_floor = t;
    }
    double tiny_ready = -1, tiny_rss = -1;
    if (made)
        serve_ready(subj[nsubj - 1].path, reps_srv, &tiny_ready, &tiny_rss);
    if (start_floor > 0)
        bench_result("process_start_floor_ms", start_floor * 1e3, "ms", -1, NULL, false, "(baseline)", HOLDS_NA);
    if (tiny_rss > 0)
        bench_result("serve_rss_floor_mib", tiny_rss / MIB, "MiB", -1, NULL, false, "(baseline: 1-page dump)",
                     HOLDS_NA);

    double t_open[6] = {0};
    for (size_t i = 0; i + 1 < nsubj; i++) {
        subject *s = &subj[i];
        char name[96];
        if (s->synthetic && !made)
            continue;
        size_t nr = 0;
        double t = time_open(s->path, reps_open, &nr);
        snprintf(name, sizeof name, "open_%s_ms", s->tag);
        if (t < 0) {
            bench_fail(name, "dx_dump_open failed on %s", s->path);
            continue;
        }
        if (s->synthetic && nr != s->nranges) {
            bench_fail(name, "synthetic dump indexed %zu ranges, not %llu", nr, (unsigned long long)s->nranges);
            continue;
        }
        t_open[i] = t;
        bench_result(name, t * 1e3, "ms", -1, NULL, false, "< 20 ms", t < 0.020 ? HOLDS_YES : HOLDS_NO);

        double rss = rss_of_open(s->path);
        snprintf(name, sizeof name, "open_rss_%s_mib", s->tag);
        if (rss < 0)
            bench_fail(name, "child could not open %s", s->path);
        else
            bench_result(name, rss / MIB, "MiB", -1, NULL, false, "< 16 MiB", rss < 16 * MIB ? HOLDS_YES : HOLDS_NO);

        double ready, srss;
        snprintf(name, sizeof name, "serve_ready_%s_ms", s->tag);
        if (serve_ready(s->path, reps_srv, &ready, &srss) != 0) {
            bench_fail(name, "dump_exec --listen did not print Serving for %s", s->path);
            continue;
        }
        bench_result(name, ready * 1e3, "ms", start_floor * 1e3, "ms exec floor", true, "< 20 ms",
                     ready < 0.020 ? HOLDS_YES : HOLDS_NO);
        snprintf(name, sizeof name, "serve_rss_%s_mib", s->tag);
        bench_result(name, srss / MIB, "MiB", tiny_rss / MIB, "MiB 1-page dump", true, "< 16 MiB",
                     srss < 16 * MIB ? HOLDS_YES : HOLDS_NO);
    }
    /* At most linear in ranges: 10x the ranges may cost at most ~10x
     * (1.5x slack for the sort's log factor and noise). */
    for (int k = 0; k < 2 && made; k++) {
        double a = t_open[1 + 2 * k], b = t_open[2 + 2 * k];
        if (a <= 0 || b <= 0)
            continue;
        double per = (b / 100000.0) / (a / 10000.0);
        bench_result(k ? "open_scaling_16g" : "open_scaling_1g", per, "x", -1,
                     "per-range cost 100k / 10k ranges", false, "<= 1.5 (linear)", per <= 1.5 ? HOLDS_YES : HOLDS_NO);
    }
    for (size_t i = 1; i < nsubj; i++)
        unlink(subj[i].path);
}
