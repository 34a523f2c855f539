/* Figure 4, protocol: stepi per second and memory read MB/s over loopback,
 * with a raw client (no-ack, one packet in flight) and through real gdb,
 * beside the 1-byte ping-pong floor. */
#include "bench.h"

#include "dump.h"
#include "pe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The most one 'm' reply carries: (PacketSize - 4) / 2, asked with
 * qSupported (8190 bytes for the default PacketSize of 0x4000). */
static uint64_t m_chunk = 8190;

static void ask_packet_size(rsp_client *c)
{
    const char *r = rsp_cmd(c, "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+", NULL);
    const char *at = r ? strstr(r, "PacketSize=") : NULL;
    uint64_t size = at ? strtoull(at + 11, NULL, 16) : 0;
    if (size > 64)
        m_chunk = (size - 4) / 2;
}

static double step_sample(rsp_client *c, const char *vcont, double secs, bool *ok, long *total)
{
    long n = 0;
    double t0 = now_s(), t;
    for (;;) {
        const char *r = rsp_cmd(c, vcont, NULL);
        if (!r || r[0] != 'T') {
            *ok = false;
            return -1;
        }
        ++*total;
        if ((++n & 63) == 0 && (t = now_s() - t0) >= secs)
            return (double)n / t;
    }
}

typedef struct span_ {
    uint64_t base, size;
} span_;

/* Read every byte of the spans with maximal 'm' packets; bytes/s. */
static double read_pass(rsp_client *c, const span_ *sp, size_t n, uint64_t limit, bool *ok, long *packets)
{
    uint64_t total = 0;
    double t0 = now_s();
    char pkt[64];
    for (size_t i = 0; i < n && total < limit; i++) {
        for (uint64_t at = 0; at < sp[i].size && total < limit; at += m_chunk) {
            uint64_t len = sp[i].size - at < m_chunk ? sp[i].size - at : m_chunk;
            snprintf(pkt, sizeof pkt, "m%" PRIx64 ",%" PRIx64, sp[i].base + at, len);
            size_t got;
            const char *r = rsp_cmd(c, pkt, &got);
            if (!r || got != 2 * len) {
                *ok = false;
                return -1;
            }
            total += len;
            ++*packets;
        }
    }
    return (double)total / (now_s() - t0);
}

/* Run a gdb script; returns the numbers after `key` in its output (the
 * third, if c, is optional). */
static int gdb_run(const char *script_text, const char *key, double *a, double *b, double *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/dxbench-%d.gdb", cfg.tmpdir, (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(script_text, f);
    fclose(f);
    const char *argv[] = {cfg.gdb, "-nx", "-batch", "-x", path, NULL};
    char *out = NULL;
    int rc = run_capture(argv, 180, &out);
    unlink(path);
    const char *at = out ? strstr(out, key) : NULL;
    double third = -1;
    int found = at && sscanf(at + strlen(key), "%lf %lf %lf", a, b, &third) >= 2;
    if (c)
        *c = third;
    if (!found)
        note("gdb (exit %d) printed:\n%s", rc, out ? out : "");
    free(out);
    return found ? 0 : -1;
}

static const char gdb_prologue[] = "set pagination off\nset confirm off\nset height 0\nset width 0\n"
                                   "set auto-load off\n";

static void gdb_stepi(double pp, uint64_t fn)
{
    if (!cfg.gdb) {
        bench_skip("gdb_stepi_rate", cfg.no_gdb_why);
        return;
    }
    server_proc s;
    if (server_start(cfg.fixture, NULL, &s) != 0) {
        bench_fail("gdb_stepi_rate", "dump_exec --listen did not start");
        return;
    }
    int n = cfg.shortrun ? 200 : 2000;
    char script[2048];
    snprintf(script, sizeof script,
             "%starget remote 127.0.0.1:%d\n"
             "set $pc = 0x%" PRIx64 "\nset $rcx = 1000000000\n"
             "python\nimport time\n"
             "gdb.execute('stepi', to_string=True)\n"
             "t = time.perf_counter()\n"
             "for i in range(%d):\n    gdb.execute('stepi', to_string=True)\n"
             "print('DXB_STEPI %%d %%.6f' %% (%d, time.perf_counter() - t))\n"
             "end\ndetach\n",
             gdb_prologue, s.port, fn, n, n);
    double steps, secs, rate = -1;
    for (int i = 0; i < (cfg.shortrun ? 1 : 2); i++)
        if (gdb_run(script, "DXB_STEPI", &steps, &secs, NULL) == 0 && secs > 0 && steps / secs > rate)
            rate = steps / secs;
    if (rate <= 0) {
        bench_fail("gdb_stepi_rate", "gdb did not report its stepi loop (run with -v to see its output)");
    } else {
        bench_result("gdb_stepi_rate", rate, "steps/s", pp, "rt/s ping-pong", true, "(info)", HOLDS_NA);
    }
    server_stop(&s);
}

static void gdb_memread(double raw_rate)
{
    const char *name = "gdb_memread_rate";
    if (!cfg.gdb) {
        bench_skip(name, cfg.no_gdb_why);
        return;
    }
    /* One 16 MiB captured range (the fixture has none that large), with a
     * thread inside it so gdb's first look at the frame reads real memory. */
    const uint64_t base = 0x10000000ull, size = cfg.shortrun ? 4ull << 20 : 16ull << 20;
    char path[512];
    snprintf(path, sizeof path, "%s/dxbench-%d-16m.dmp", cfg.tmpdir, (int)getpid());
    synth_thread th = {.tid = 0x100, .rip = base + 0x1000, .rsp = base + size / 2, .teb = 0};
    if (synth_dump(path, base, size, 1, true, &th) != 0) {
        bench_fail(name, "cannot write %s", path);
        return;
    }
    server_proc s;
    if (server_start(path, NULL, &s) != 0) {
        bench_fail(name, "dump_exec --listen did not start");
        unlink(path);
        return;
    }
    char script[2048];
    snprintf(script, sizeof script,
             "%starget remote 127.0.0.1:%d\n"
             "python\nimport time\n"
             "t = time.perf_counter()\nc = time.process_time()\n"
             "gdb.execute('dump binary memory /dev/null 0x%" PRIx64 " 0x%" PRIx64 "')\n"
             "print('DXB_MEM %%d %%.6f %%.6f' %% (%" PRIu64 ", time.perf_counter() - t, time.process_time() - c))\n"
             "end\ndetach\n",
             gdb_prologue, s.port, base, base + size, size);
    double bytes, secs, gcpu, best = -1, best_gcpu = -1, best_scpu = -1;
    for (int i = 0; i < (cfg.shortrun ? 1 : 3); i++) {
        double s0 = proc_cpu_s(s.pid);
        if (gdb_run(script, "DXB_MEM", &bytes, &secs, &gcpu) == 0 && secs > 0 && bytes / secs > best) {
            best = bytes / secs;
            best_gcpu = gcpu >= 0 ? gcpu / secs : -1;
            best_scpu = s0 >= 0 ? (proc_cpu_s(s.pid) - s0) / secs : -1;
        }
    }
    if (best <= 0)
        bench_fail(name, "gdb did not report its memory dump (run with -v to see its output)");
    else
        bench_result(name, best / 1e6, "MB/s", raw_rate / 1e6, "MB/s raw client", true, ">= 100 MB/s",
                     best >= 100e6 ? HOLDS_YES : HOLDS_NO);
    /* Where the time went: CPU seconds per wall second of gdb and the server. */
    if (best > 0 && best_gcpu >= 0 && best_scpu >= 0) {
        bench_result("gdb_memread_gdb_cpu_share", best_gcpu, "cpu-s/s", -1, NULL, false, "(info: gdb busy)", HOLDS_NA);
        bench_result("gdb_memread_server_cpu_share", best_scpu, "cpu-s/s", -1, NULL, false, "(info: server busy)",
                     HOLDS_NA);
    }
    server_stop(&s);
    unlink(path);
}

void fig_proto(void)
{
    const double secs = cfg.shortrun ? 0.1 : 1.0;
    double pp = shared_pingpong();
    char err[DX_ERRLEN];
    dx_dump *d;
    uint64_t fn;
    if (dx_dump_open(cfg.fixture, &d, err, sizeof err) != 0 ||
        dx_dump_resolve(d, "testprog!long_loop", &fn, err, sizeof err) != 0) {
        bench_fail("raw_stepi_rate", "%s", err);
        return;
    }
    /* The fixture's big captured ranges (1 MiB and more). */
    span_ spans[64];
    size_t nspans = 0;
    uint64_t span_bytes = 0;
    for (size_t i = 0; i < dx_dump_range_count(d) && nspans < 64; i++) {
        const dx_range *r = dx_dump_range(d, i);
        if (r->size >= (1u << 20)) {
            spans[nspans++] = (span_){r->base, r->size};
            span_bytes += r->size;
        }
    }
    dx_dump_close(d);

    server_proc s;
    if (server_start(cfg.fixture, NULL, &s) != 0) {
        bench_fail("raw_stepi_rate", "dump_exec --listen did not start");
        return;
    }
    rsp_client c;
    double mem_rate = -1;
    uint32_t tid = 0;
    if (rsp_connect(&c, s.port) != 0 || rsp_start_noack(&c) != 0 || (ask_packet_size(&c), !(tid = rsp_park(&c, fn)))) {
        bench_fail("raw_stepi_rate", "cannot attach and set registers");
    } else {
        char vcont[64];
        snprintf(vcont, sizeof vcont, "vCont;s:%x", tid);
        bool ok = true;
        double v[5];
        const int nsamples = cfg.shortrun ? 3 : 5;
        long steps = 0;
        step_sample(&c, vcont, 0.02, &ok, &steps);
        steps = 0;
        double cpu0 = proc_cpu_s(s.pid), w0 = now_s();
        for (int i = 0; i < nsamples; i++)
            v[i] = step_sample(&c, vcont, secs, &ok, &steps);
        double cpu = proc_cpu_s(s.pid) - cpu0, wall = now_s() - w0;
        if (!ok) {
            bench_fail("raw_stepi_rate", "a step did not answer with a stop reply");
        } else {
            double rate = best_max(v, nsamples);
            bench_result("raw_stepi_rate", rate, "steps/s", pp, "rt/s ping-pong", true, ">= 0.5 x ping-pong",
                         pp > 0 ? (rate >= 0.5 * pp ? HOLDS_YES : HOLDS_NO) : HOLDS_NA);
            if (cpu0 >= 0 && steps)
                bench_result("raw_stepi_server_cpu_us", cpu / (double)steps * 1e6, "us/step",
                             wall / (double)steps * 1e6, "us/step wall", true, "(info: server CPU per step)", HOLDS_NA);
        }

        uint64_t limit = cfg.shortrun ? 4ull << 20 : UINT64_MAX;
        ok = true;
        long packets = 0;
        cpu0 = proc_cpu_s(s.pid), w0 = now_s();
        for (int i = 0; i < (cfg.shortrun ? 1 : 3) && ok; i++) {
            double r = read_pass(&c, spans, nspans, limit, &ok, &packets);
            if (ok && r > mem_rate)
                mem_rate = r;
        }
        cpu = proc_cpu_s(s.pid) - cpu0, wall = now_s() - w0;
        if (!ok || !nspans) {
            bench_fail("raw_memread_rate", "an 'm' packet over a captured range failed");
        } else {
            note("memory read: %zu ranges, %.1f MiB per pass", nspans, (double)span_bytes / MIB);
            char floor_name[64];
            snprintf(floor_name, sizeof floor_name, "MB/s ping-pong x %llu B", (unsigned long long)m_chunk);
            bench_result("raw_memread_rate", mem_rate / 1e6, "MB/s", pp * (double)m_chunk / 1e6, floor_name, true,
                         "(info)", HOLDS_NA);
            if (cpu0 >= 0 && packets)
                bench_result("raw_memread_server_cpu_us", cpu / (double)packets * 1e6, "us/packet",
                             wall / (double)packets * 1e6, "us/packet wall", true,
                             "(info: server CPU per maximal m)", HOLDS_NA);
        }
    }
    rsp_close(&c);
    server_stop(&s);

    gdb_stepi(pp, fn);
    gdb_memread(mem_rate);
}
