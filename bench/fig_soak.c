/* Figure 6, a long-running server: its resident memory across many client
 * lives (connect, work, go), which must level off instead of climbing, and
 * what each session costs while it runs code. */
#include "bench.h"

#include "dump.h"
#include "pe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum cycle_kind { CYCLE_IDLE, CYCLE_G, CYCLE_CALL, CYCLE_STEP, CYCLE_RUN, CYCLE_CTRL_C, CYCLE_KINDS } cycle_kind;

/* One client's life. False if the server did not answer as it should. */
static bool cycle(int port, uint64_t loop_fn, cycle_kind kind)
{
    rsp_client c;
    if (rsp_connect(&c, port) != 0)
        return false;
    bool ok = true;
    const char *r;
    switch (kind) {
    case CYCLE_IDLE: break;
    case CYCLE_G: ok = (r = rsp_cmd(&c, "g", NULL)) && r[0] != 'E'; break;
    case CYCLE_CALL: ok = (r = rsp_monitor(&c, "call testprog!add2 3 5", NULL, 0)) && !strcmp(r, "OK"); break;
    case CYCLE_STEP: ok = (r = rsp_cmd(&c, "vCont;s", NULL)) && r[0] == 'T'; break;
    case CYCLE_RUN: /* gone while its continue runs on the session's worker */
        ok = rsp_park(&c, loop_fn) && rsp_send(&c, "vCont;c", 7) == 0;
        usleep(2000);
        break;
    case CYCLE_CTRL_C:
        ok = rsp_park(&c, loop_fn) && rsp_send(&c, "vCont;c", 7) == 0 && write(c.fd, "\x03", 1) == 1 &&
             (r = rsp_recv(&c, NULL)) && r[0] == 'T';
        break;
    default: break;
    }
    rsp_close(&c);
    return ok;
}

typedef struct cycler {
    pthread_t th;
    int port, id, stride;
    long count;
    uint64_t loop_fn;
    cycle_kind only; /* CYCLE_KINDS: all kinds in turn */
    bool ok;
} cycler;

static void *cycler_main(void *arg)
{
    cycler *w = arg;
    w->ok = true;
    for (long i = 0; i < w->count && w->ok; i++) {
        cycle_kind k = w->only != CYCLE_KINDS ? w->only : (cycle_kind)((i * w->stride + w->id) % CYCLE_KINDS);
        w->ok = cycle(w->port, w->loop_fn, k);
    }
    return NULL;
}

/* count cycles spread over nclients threads; false if any failed. */
static bool cycles(int port, uint64_t loop_fn, int nclients, long count, cycle_kind only)
{
    cycler w[16];
    bool ok = true;
    for (int i = 0; i < nclients; i++) {
        w[i] = (cycler){.port = port, .id = i, .stride = nclients, .count = count / nclients, .loop_fn = loop_fn,
                        .only = only};
        pthread_create(&w[i].th, NULL, cycler_main, &w[i]);
    }
    for (int i = 0; i < nclients; i++) {
        pthread_join(w[i].th, NULL);
        ok = ok && w[i].ok;
    }
    usleep(200000); /* the last sessions are freed a moment after their clients went */
    return ok;
}

/* RSS after 10,000 mixed cycles against after the first 1,000. */
static void soak(int port, pid_t pid, uint64_t loop_fn)
{
    long total = cfg.shortrun ? 1200 : 10000, first = total / 10;
    if (!cycles(port, loop_fn, 4, first, CYCLE_KINDS)) {
        bench_fail("soak_rss_growth_mib", "a connection cycle failed");
        return;
    }
    double at_first = (double)proc_rss(pid);
    if (!cycles(port, loop_fn, 4, total - first, CYCLE_KINDS)) {
        bench_fail("soak_rss_growth_mib", "a connection cycle failed");
        return;
    }
    double growth = ((double)proc_rss(pid) - at_first) / MIB;
    char name[64];
    snprintf(name, sizeof name, "soak_rss_growth_%ldk_cycles", total / 1000);
    bench_result(name, growth, "MiB", at_first / MIB, "MiB after the first 10%", false,
                 "<= 1 MiB (mixed: idle, g, call, step, gone mid-run, Ctrl-C)", growth <= 1 ? HOLDS_YES : HOLDS_NO);
}

/* 12 clients at once cycling runs that they leave or interrupt. */
static void parallel_runs(int port, pid_t pid, uint64_t loop_fn)
{
    const int rounds = 3, per_round = cfg.shortrun ? 120 : 360;
    double after[3];
    for (int r = 0; r < rounds; r++) {
        bool ok = cycles(port, loop_fn, 12, per_round / 2, CYCLE_RUN) &&
                  cycles(port, loop_fn, 12, per_round / 2, CYCLE_CTRL_C);
        if (!ok) {
            bench_fail("parallel_runs_rss_growth_mib", "a connection cycle failed");
            return;
        }
        after[r] = (double)proc_rss(pid);
    }
    double growth = (after[2] - after[0]) / MIB;
    bench_result("parallel_runs_rss_growth_mib", growth, "MiB", after[0] / MIB, "MiB after round 1", false,
                 "<= 16 MiB (3 rounds, 12 clients leaving or interrupting runs)", growth <= 16 ? HOLDS_YES : HOLDS_NO);
}

/* What one session costs while its continue runs (long_loop writes only
 * its stack: about no guest pages). */
static void running_session_rss(int port, pid_t pid, uint64_t loop_fn)
{
    enum { N = 16 };
    rsp_client c[N];
    double before = (double)proc_rss(pid);
    int n = 0;
    bool ok = true;
    for (; n < N && ok; n++)
        ok = rsp_connect(&c[n], port) == 0 && rsp_park(&c[n], loop_fn) && rsp_send(&c[n], "vCont;c", 7) == 0;
    usleep(300000);
    double running = (double)proc_rss(pid);
    for (int i = 0; i < n; i++) {
        const char *r;
        if (write(c[i].fd, "\x03", 1) != 1 || !(r = rsp_recv(&c[i], NULL)) || r[0] != 'T')
            ok = false;
        rsp_close(&c[i]);
    }
    if (!ok) {
        bench_fail("rss_per_running_session", "a client could not start or stop its run");
        return;
    }
    double per = (running - before) / N / MIB;
    bench_result("rss_per_running_session", per, "MiB", before / MIB, "MiB server before", false,
                 "<= 3 MiB (+ guest pages written: ~0)", per <= 3 ? HOLDS_YES : HOLDS_NO);
}

void fig_soak(void)
{
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t loop_fn;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!long_loop", &loop_fn, err, sizeof err) != 0) {
        bench_fail("soak", "%s", err);
        return;
    }
    dx_dump_close(d);
    const char *const extra[] = {"--max-sessions", "1000", NULL};
    server_proc s;
    if (server_start(cfg.fixture, extra, &s) != 0) {
        bench_fail("soak", "dump_exec --listen did not start");
        return;
    }
    soak(s.port, s.pid, loop_fn);
    parallel_runs(s.port, s.pid, loop_fn);
    running_session_rss(s.port, s.pid, loop_fn);
    server_stop(&s);
}
