/* Small dumps with images from files (#15): opening the MiniDumpNormal
 * fixture with its modules' files from a folder and making a first call,
 * against the same on the full dump; and what the images cost in memory.
 * The files are the fixture's testprog.exe and Debian's libwine DLLs. */
#include "bench.h"

#include "buf.h"
#include "dump.h"
#include "exec.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINE "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"

static const char *const dlls[] = {"ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"};

static int copy_file(const char *from, const char *dir)
{
    const char *name = strrchr(from, '/') ? strrchr(from, '/') + 1 : from;
    char to[4096];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Seconds to open path (with images from dir, if given) and call fn(a, b). */
static double open_and_call(const char *path, const char *dir, const char *fn, uint64_t *rax)
{
    char err[DX_ERRLEN];
    dx_dump *d;
    dx_exec *e;
    dx_exec_options o = {0};
    double t0 = now_s();
    if (dx_dump_open(path, &d, err, sizeof err) != 0)
        return -1;
    if (dir) {
        dx_buf report = {0};
        dx_dump_add_images(d, dir, &report);
        dx_buf_free(&report);
    }
    uint64_t addr;
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
    dx_call_result r = {0};
    int rc = dx_dump_resolve(d, fn, &addr, err, sizeof err) == 0 && dx_exec_new(d, &o, &e, err, sizeof err) == 0 ? 0 : -1;
    if (rc == 0) {
        dx_exec_call(e, addr, args, 2, NULL, &r);
        *rax = r.rax;
        rc = r.stop.kind == DX_STOP_RETURNED ? 0 : -1;
        dx_call_result_free(&r);
        dx_exec_free(e);
    }
    double t = now_s() - t0;
    dx_dump_close(d);
    return rc == 0 ? t : -1;
}

void fig_images(void)
{
    char dir[] = "/tmp/dxb-images-XXXXXX", exe[4096], small[4200], path[4200];
    if (access(WINE "/kernel32.dll", R_OK) != 0) {
        bench_skip("images_open_first_call", "Debian's libwine (Wine's PE DLLs) is not installed");
        return;
    }
    snprintf(exe, sizeof exe, "%s", cfg.fixture);
    char *slash = strrchr(exe, '/');
    if (!mkdtemp(dir) || !slash) {
        bench_fail("images_open_first_call", "no scratch folder");
        return;
    }
    *slash = 0;
    snprintf(small, sizeof small, "%s/testprog_normal.dmp", exe);
    snprintf(path, sizeof path, "%s/tests/fixtures/testprog.exe", DXB_SOURCE_DIR);
    bool ok = copy_file(path, dir) == 0;
    for (size_t i = 0; ok && i < sizeof dlls / sizeof dlls[0]; i++) {
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", WINE, dlls[i]);
        ok = copy_file(src, dir) == 0;
    }
    double with[5], full[5];
    uint64_t a = 0, b = 0;
    int n = cfg.shortrun ? 1 : 5;
    for (int i = 0; ok && i < n; i++) {
        with[i] = open_and_call(small, dir, "testprog!add2", &a);
        full[i] = open_and_call(cfg.fixture, NULL, "testprog!add2", &b);
        ok = with[i] > 0 && full[i] > 0 && a == 13 && b == 13;
    }
    if (!ok) {
        bench_fail("images_open_first_call", "the small dump with images did not call add2 (files in %s)", dir);
    } else {
        double t = best_min(with, n), f = best_min(full, n);
        bench_result("images_open_first_call_ms", t * 1e3, "ms", f * 1e3, "ms on the full dump", true, "<= 2 x",
                     t <= 2 * f ? HOLDS_YES : HOLDS_NO);
        /* Held while a session calls into four images (kernel32 -> kernelbase -> msvcrt, ntdll). */
        char err[DX_ERRLEN];
        dx_dump *d;
        if (dx_dump_open(small, &d, err, sizeof err) == 0) {
            dx_buf report = {0};
            uint64_t before = proc_rss(0);
            dx_dump_add_images(d, dir, &report);
            dx_exec *e;
            dx_exec_options o = {0};
            uint64_t fn;
            dx_arg s = {.kind = DX_ARG_STR, .text = (char *)"hello", .size = 5};
            dx_call_result r = {0};
            if (dx_dump_resolve(d, "kernel32!lstrlenA", &fn, err, sizeof err) == 0 &&
                dx_exec_new(d, &o, &e, err, sizeof err) == 0) {
                dx_exec_call(e, fn, &s, 1, NULL, &r);
                double mib = ((double)proc_rss(0) - (double)before) / MIB;
                bench_result("images_rss_four_images_mib", mib, "MiB", -1, NULL, false,
                             "(info: pages laid out as read; 15 MiB of SizeOfImage)", HOLDS_NA);
                dx_call_result_free(&r);
                dx_exec_free(e);
            }
            dx_buf_free(&report);
            dx_dump_close(d);
        }
    }
    char rm[4200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        note("could not remove %s", dir);
}
