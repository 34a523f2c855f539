/* Figure 5, sessions: 32 clients at once stepping and reading memory
 * (total ops/s beside one client alone), and the server's resident memory
 * per idle session. */
#include "bench.h"

#include "dump.h"
#include "pe.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCLIENTS 32

typedef struct worker {
    pthread_t th;
    int port;
    uint64_t fn, mem;
    double secs;
    pthread_barrier_t *start;
    long ops;
    bool ok;
    double t_spawn, t_ready; /* thread start; attached and first step done */
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    rsp_client c;
    uint32_t tid = 0;
    char vcont[64], m[64];
    const char *r;
    w->ok = rsp_connect(&c, w->port) == 0 && rsp_start_noack(&c) == 0 && (tid = rsp_park(&c, w->fn)) != 0;
    snprintf(vcont, sizeof vcont, "vCont;s:%x", tid);
    snprintf(m, sizeof m, "m%" PRIx64 ",1000", w->mem);
    /* The first step creates the session's emulator: setup, not steady state. */
    w->ok = w->ok && (r = rsp_cmd(&c, vcont, NULL)) && r[0] == 'T';
    w->t_ready = now_s();
    pthread_barrier_wait(w->start);
    double t0 = now_s();
    while (w->ok && now_s() - t0 < w->secs) {
        const char *reply = rsp_cmd(&c, (w->ops & 1) ? m : vcont, NULL);
        if (!reply || (reply[0] != 'T' && !(w->ops & 1)) || reply[0] == 'E')
            w->ok = false;
        else
            w->ops++;
    }
    rsp_close(&c);
    return NULL;
}

/* ops/s of n clients running at once for secs; -1 if any failed.
 * *setup: seconds until the last of them had attached and taken its first
 * step. */
static double run_clients(int port, int n, uint64_t fn, uint64_t mem, double secs, double *setup)
{
    worker *w = calloc((size_t)n, sizeof *w);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    int started = 0;
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.port = port, .fn = fn, .mem = mem, .secs = secs, .start = &start, .t_spawn = now_s()};
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    bool ok = started == n;
    if (!ok) { /* cannot happen short of resource exhaustion: do not wait on the barrier */
        fprintf(stderr, "dump_exec_bench: only %d client threads started\n", started);
        exit(1);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s();
    long ops = 0;
    *setup = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].th, NULL);
        ops += w[i].ops;
        ok = ok && w[i].ok;
        if (w[i].t_ready - w[0].t_spawn > *setup)
            *setup = w[i].t_ready - w[0].t_spawn;
    }
    double t = now_s() - t0;
    pthread_barrier_destroy(&start);
    free(w);
    return ok ? (double)ops / t : -1;
}

/* Server RSS per session: 32 idle clients that did one g and one m. */
static void idle_rss(uint64_t mem)
{
    server_proc s;
    if (server_start(cfg.fixture, NULL, &s) != 0) {
        bench_fail("rss_per_idle_session", "dump_exec --listen did not start");
        return;
    }
    rsp_client c[NCLIENTS];
    int n = 0;
    bool ok = true;
    usleep(100000);
    double before = (double)proc_rss(s.pid);
    char m[64];
    snprintf(m, sizeof m, "m%" PRIx64 ",1000", mem);
    for (; n < NCLIENTS && ok; n++) {
        const char *r;
        ok = rsp_connect(&c[n], s.port) == 0 && rsp_start_noack(&c[n]) == 0 && (r = rsp_cmd(&c[n], "g", NULL)) &&
             r[0] != 'E' && (r = rsp_cmd(&c[n], m, NULL)) && r[0] != 'E';
    }
    usleep(200000);
    double after = (double)proc_rss(s.pid);
    if (!ok || before <= 0 || after <= 0) {
        bench_fail("rss_per_idle_session", "32 clients could not attach, read registers and memory");
    } else {
        double per = (after - before) / NCLIENTS;
        bench_result("rss_per_idle_session", per / MIB, "MiB", before / MIB, "MiB server before", false,
                     "<= 1 MiB (+ pages written: 0)", per <= MIB ? HOLDS_YES : HOLDS_NO);
        /* Informational: what one stepi adds to a session (it creates the
         * session's emulator); a few sessions suffice, each first step
         * costs a few hundred ms. */
        int nstep = cfg.shortrun ? 4 : 8;
        for (int i = 0; i < nstep && ok; i++) {
            const char *r = rsp_cmd(&c[i], "vCont;s", NULL);
            ok = r && r[0] == 'T';
        }
        usleep(200000);
        double stepped = (double)proc_rss(s.pid);
        if (ok)
            bench_result("rss_added_by_first_step", (stepped - after) / nstep / MIB, "MiB", per / MIB,
                         "MiB idle session", false, "(info: emulator created)", HOLDS_NA);
        else
            bench_fail("rss_added_by_first_step", "a step failed");
    }
    for (int i = 0; i < n; i++)
        rsp_close(&c[i]);
    server_stop(&s);
}

void fig_sessions(void)
{
    const double secs = cfg.shortrun ? 0.3 : 3.0;
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t fn, mem;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!long_loop", &fn, err, sizeof err) != 0) {
        bench_fail("sessions", "%s", err);
        return;
    }
    const dx_module *exe = dx_dump_find_module(d, "testprog");
    mem = exe ? exe->base + 0x1000 : fn & ~0xfffull; /* the image's code: captured */
    dx_dump_close(d);

    server_proc s;
    if (server_start(cfg.fixture, NULL, &s) != 0) {
        bench_fail("sessions_ops_rate", "dump_exec --listen did not start");
        return;
    }
    /* --short: 8 clients, since each session's first step costs a few
     * hundred ms of the server's single loop thread (see README). */
    const int nclients = cfg.shortrun ? 8 : NCLIENTS;
    char name_ops[64], name_setup[64], name_hwm[64];
    snprintf(name_ops, sizeof name_ops, "sessions_%d_ops_rate", nclients);
    snprintf(name_setup, sizeof name_setup, "sessions_%d_setup_ms", nclients);
    snprintf(name_hwm, sizeof name_hwm, "sessions_%d_server_peak_rss", nclients);
    double setup1, setup32;
    double one = run_clients(s.port, 1, fn, mem, secs, &setup1);
    double many = run_clients(s.port, nclients, fn, mem, secs, &setup32);
    double hwm = (double)proc_hwm(s.pid);
    server_stop(&s);
    if (one <= 0)
        bench_fail("sessions_1_ops_rate", "the single client failed");
    else
        bench_result("sessions_1_ops_rate", one, "ops/s", -1, NULL, false, "(baseline: 1 client)", HOLDS_NA);
    if (many <= 0)
        bench_fail(name_ops, "a client failed");
    else
        bench_result(name_ops, many, "ops/s", one, "ops/s 1 client", true, "(info)", HOLDS_NA);
    if (many > 0)
        bench_result(name_setup, setup32 * 1e3, "ms", setup1 * 1e3, "ms 1 client", true,
                     "(info: attach + first step, all)", HOLDS_NA);
    if (hwm > 0)
        bench_result(name_hwm, hwm / MIB, "MiB", -1, NULL, false, "(info: peak, stepping sessions)", HOLDS_NA);
    idle_rss(mem);
}
