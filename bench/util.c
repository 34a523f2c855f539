/* Results, clocks, memory, child processes and synthetic dumps. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bench_config cfg;

/* ---------------------------------------------------------------- results */

typedef struct result {
    char name[64];
    double value;
    char unit[16];
    double baseline;
    char baseline_name[64];
    bool show_ratio;
    char target[48];
    int holds;
    char why[160]; /* failed or skipped */
    int state;     /* 0 measured, 1 failed, 2 skipped */
} result;

static result *results;
static size_t nresults, capresults;
static int failures;

static result *new_result(const char *name)
{
    if (nresults == capresults) {
        size_t cap = capresults ? capresults * 2 : 64;
        result *grown = realloc(results, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "dump_exec_bench: out of memory\n");
            exit(1);
        }
        results = grown;
        capresults = cap;
    }
    result *r = &results[nresults++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->baseline = NAN;
    r->holds = HOLDS_NA;
    return r;
}

void bench_result(const char *name, double value, const char *unit, double baseline, const char *baseline_name,
                  bool show_ratio, const char *target, int holds)
{
    result *r = new_result(name);
    r->value = value;
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->baseline = baseline;
    snprintf(r->baseline_name, sizeof r->baseline_name, "%s", baseline_name ? baseline_name : "");
    r->show_ratio = show_ratio;
    snprintf(r->target, sizeof r->target, "%s", target ? target : "");
    r->holds = holds;
    printf("%s %.6g %s\n", name, value, unit);
    fflush(stdout);
}

void bench_fail(const char *name, const char *why, ...)
{
    result *r = new_result(name);
    va_list ap;
    va_start(ap, why);
    vsnprintf(r->why, sizeof r->why, why, ap);
    va_end(ap);
    r->state = 1;
    failures++;
    fprintf(stderr, "dump_exec_bench: %s: cannot measure: %s\n", name, r->why);
}

void bench_skip(const char *name, const char *why)
{
    result *r = new_result(name);
    snprintf(r->why, sizeof r->why, "%s", why);
    r->state = 2;
    fprintf(stderr, "dump_exec_bench: %s: skipped: %s\n", name, why);
}

int bench_failures(void) { return failures; }

void note(const char *fmt, ...)
{
    if (!cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void fmt_num(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "-");
    else if (fabs(v) >= 1e6)
        snprintf(out, n, "%.3g", v);
    else if (fabs(v) >= 100)
        snprintf(out, n, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(out, n, "%.1f", v);
    else
        snprintf(out, n, "%.3g", v);
}

void bench_print(void)
{
    printf("\n| figure | value | baseline (same run) | ratio | target | holds |\n");
    printf("|---|---:|---|---:|---|---|\n");
    for (size_t i = 0; i < nresults; i++) {
        const result *r = &results[i];
        if (r->state) {
            printf("| %s | %s: %s | - | - | - | n/a |\n", r->name, r->state == 1 ? "NOT MEASURED" : "skipped", r->why);
            continue;
        }
        char v[32], b[32], ratio[32] = "-", base[128] = "-";
        fmt_num(v, sizeof v, r->value);
        if (!isnan(r->baseline) && r->baseline >= 0) {
            fmt_num(b, sizeof b, r->baseline);
            snprintf(base, sizeof base, "%s %s", b, r->baseline_name);
            if (r->show_ratio && r->baseline > 0)
                snprintf(ratio, sizeof ratio, "%.2f", r->value / r->baseline);
        } else if (r->baseline_name[0]) {
            snprintf(base, sizeof base, "%s", r->baseline_name);
        }
        printf("| %s | %s %s | %s | %s | %s | %s |\n", r->name, v, r->unit, base, ratio, r->target[0] ? r->target : "-",
               r->holds == HOLDS_YES ? "yes" : r->holds == HOLDS_NO ? "**no**" : "n/a");
    }
    fflush(stdout);
}

void bench_results_free(void)
{
    free(results);
    results = NULL;
    nresults = capresults = 0;
}

/* ------------------------------------------------------- time and memory */

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t v = 0;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v * 1024;
}

double proc_cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    double total = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char stat[320];
        snprintf(stat, sizeof stat, "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        FILE *f = fopen(stat, "r");
        unsigned long long ns = 0;
        if (f) {
            if (fscanf(f, "%llu", &ns) != 1)
                ns = 0;
            fclose(f);
        }
        total += (double)ns * 1e-9;
    }
    closedir(dir);
    return total;
}

uint64_t proc_rss(pid_t pid) { return status_kib(pid, "VmRSS"); }
uint64_t proc_hwm(pid_t pid) { return status_kib(pid, "VmHWM"); }

double best_max(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > b)
            b = v[i];
    return b;
}

double best_min(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < b)
            b = v[i];
    return b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------- processes */

static void child_devnull(int fd)
{
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, fd);
        close(null);
    }
}

static void perf_attach(server_proc *s)
{
    static int seq;
    const char *dir = getenv("DXB_PERF_DIR");
    if (!dir || !*dir)
        return;
    char out[512], pid[32];
    snprintf(out, sizeof out, "%s/server-%d.data", dir, ++seq);
    snprintf(pid, sizeof pid, "%d", (int)s->pid);
    pid_t p = fork();
    if (p == 0) {
        child_devnull(1);
        child_devnull(2);
        execlp("perf", "perf", "record", "-g", "-e", "cpu-clock", "-p", pid, "-o", out, (char *)NULL);
        _exit(127);
    }
    s->perf = p > 0 ? p : 0;
    usleep(300000); /* let perf attach before the measurement starts */
    fprintf(stderr, "# profiling server %s into %s\n", pid, out);
}

int server_start(const char *dump, const char *const *extra, server_proc *s)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = cfg.dump_exec;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (int i = 0; extra && extra[i] && n < 28; i++)
        argv[n++] = extra[i];
    argv[n++] = dump;
    argv[n] = NULL;
    int p[2];
    if (pipe(p) != 0)
        return -1;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (!cfg.verbose)
            child_devnull(2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char buf[4096];
    size_t len = 0;
    int port = -1;
    while (port < 0 && len < sizeof buf - 1) {
        struct pollfd pf = {p[0], POLLIN, 0};
        double left = 20.0 - (now_s() - t0);
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            break;
        ssize_t got = read(p[0], buf + len, sizeof buf - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        buf[len] = 0;
        char *serving = strstr(buf, "Serving ");
        char *eol = serving ? strchr(serving, '\n') : NULL;
        if (eol) {
            *eol = 0;
            char *colon = strrchr(serving, ':');
            if (colon)
                port = atoi(colon + 1);
        }
    }
    double t1 = now_s();
    close(p[0]);
    s->pid = pid;
    s->perf = 0;
    s->port = port;
    s->ready_s = t1 - t0;
    if (port <= 0) {
        server_stop(s);
        return -1;
    }
    perf_attach(s);
    return 0;
}

static int wait_timeout(pid_t pid, double seconds, int *status)
{
    double t0 = now_s();
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_s() - t0 > seconds)
            return 1;
        usleep(2000);
    }
}

void server_stop(server_proc *s)
{
    if (s->pid <= 0)
        return;
    int status;
    if (s->perf > 0) { /* perf writes its file on SIGINT */
        kill(s->perf, SIGINT);
        if (wait_timeout(s->perf, 10.0, &status) == 1) {
            kill(s->perf, SIGKILL);
            waitpid(s->perf, &status, 0);
        }
        s->perf = 0;
    }
    kill(s->pid, SIGTERM);
    if (wait_timeout(s->pid, 5.0, &status) == 1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    s->pid = 0;
}

/* Starts argv with its stdout (and stderr too if both_outputs) on a pipe and
 * the other standard stream on /dev/null. Returns the pipe's read end, or -1. */
static int spawn_piped(const char *const *argv, bool both_outputs, pid_t *pid)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (*pid == 0) {
        dup2(p[1], 1);
        if (both_outputs)
            dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        child_devnull(both_outputs ? 0 : 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    return p[0];
}

double run_timed(const char *const *argv)
{
    double t0 = now_s();
    pid_t pid;
    int fd = spawn_piped(argv, false, &pid);
    if (fd < 0)
        return -1;
    char b[256];
    double t = read(fd, b, sizeof b) > 0 ? now_s() - t0 : -1; /* its first output */
    while (read(fd, b, sizeof b) > 0)
        ;
    close(fd);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 127)
        return -1;
    return t;
}

int run_capture(const char *const *argv, double timeout, char **out)
{
    *out = NULL;
    pid_t pid;
    int fd = spawn_piped(argv, true, &pid);
    if (fd < 0)
        return -1;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf) {
        kill(pid, SIGKILL);
        close(fd);
        waitpid(pid, NULL, 0);
        return -1;
    }
    double t0 = now_s();
    bool killed = false;
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        double left = timeout - (now_s() - t0);
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        if (len + 1024 > cap) {
            char *g = realloc(buf, cap * 2);
            if (!g)
                break;
            buf = g;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    int status;
    waitpid(pid, &status, 0);
    if (killed)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------ synthetic dumps */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v), put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32)); }

static int pwrite_all(int fd, const void *buf, size_t n, off_t at)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w, at += w;
    }
    return 0;
}

#define CONTEXT_SIZE 0x4d0

int synth_dump(const char *path, uint64_t base, uint64_t total, uint64_t nranges, bool fill,
               const synth_thread *thread)
{
    /* total split into whole pages, the first ranges one page longer
     * when it does not divide evenly. */
    const uint64_t pages = total / 0x1000 ? total / 0x1000 : 1;
    if (!nranges)
        return -1;
    if (nranges > pages)
        nranges = pages;
    const uint64_t per = pages / nranges, extra = pages % nranges;
    const uint64_t gap = 0x10000;
    /* Layout: header, directory (3 entries), SystemInfo, empty CSD string,
     * ThreadList + context, Memory64List, then data from a page boundary. */
    const uint32_t nstreams = thread ? 3 : 2;
    const uint64_t dir = 32, sysinfo = dir + 12 * 3, csd = sysinfo + 56, threads = csd + 8;
    const uint64_t context = threads + 4 + 48;
    const uint64_t mem64 = (context + CONTEXT_SIZE + 15) & ~15ull;
    const uint64_t mem64_size = 16 + 16 * nranges;
    const uint64_t data = (mem64 + mem64_size + 0xfff) & ~0xfffull;
    if (mem64 + mem64_size > UINT32_MAX)
        return -1;
    size_t hlen = (size_t)(mem64 + mem64_size);
    uint8_t *h = calloc(1, hlen);
    if (!h)
        return -1;
    put32(h, 0x504d444du);
    put32(h + 4, 0xa793u);
    put32(h + 8, nstreams);
    put32(h + 12, (uint32_t)dir);
    put32(h + 20, 0x5f000000u);
    uint8_t *e = h + dir;
    put32(e, 7), put32(e + 4, 56), put32(e + 8, (uint32_t)sysinfo), e += 12;
    put32(e, 9), put32(e + 4, (uint32_t)mem64_size), put32(e + 8, (uint32_t)mem64), e += 12;
    if (thread)
        put32(e, 3), put32(e + 4, 4 + 48), put32(e + 8, (uint32_t)threads);
    uint8_t *si = h + sysinfo;
    put16(si, 9);      /* AMD64 */
    si[6] = 2;         /* CPUs */
    si[7] = 1;         /* workstation */
    put32(si + 8, 10); /* Windows 10 */
    put32(si + 16, 19045);
    put32(si + 20, 2);
    put32(si + 24, (uint32_t)csd); /* CSD: an empty MINIDUMP_STRING */
    if (thread) {
        uint8_t *t = h + threads;
        put32(t, 1);
        t += 4;
        put32(t, thread->tid);
        put64(t + 16, thread->teb);
        put32(t + 40, CONTEXT_SIZE);
        put32(t + 44, (uint32_t)context);
        uint8_t *c = h + context;
        put32(c + 0x30, 0x10000fu);       /* CONTROL | INTEGER | SEGMENTS | FLOATING */
        put32(c + 0x34, 0x1f80);          /* MXCSR */
        put16(c + 0x38, 0x33);            /* CS */
        put16(c + 0x42, 0x2b);            /* SS */
        put32(c + 0x44, 0x202);           /* EFLAGS */
        put64(c + 0x78 + 8 * 4, thread->rsp);
        put64(c + 0xf8, thread->rip);
        put16(c + 0x100, 0x27f);          /* FCW */
        put32(c + 0x100 + 24, 0x1f80);    /* MxCsr in FLTSAVE */
    }
    uint8_t *m = h + mem64;
    put64(m, nranges);
    put64(m + 8, data);
    uint64_t at = base, bytes = 0;
    for (uint64_t i = 0; i < nranges; i++) {
        uint64_t size = (per + (i < extra)) * 0x1000;
        put64(m + 16 + 16 * i, at);
        put64(m + 16 + 16 * i + 8, size);
        at += size + gap;
        bytes += size;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0)
        rc = pwrite_all(fd, h, hlen, 0);
    if (rc == 0)
        rc = ftruncate(fd, (off_t)(data + bytes));
    if (rc == 0 && fill) {
        /* Bytes that are not all zeros, so reads move real data. */
        uint8_t *chunk = malloc(1 << 20);
        rc = chunk ? 0 : -1;
        for (uint64_t off = 0; rc == 0 && off < bytes; off += 1 << 20) {
            uint64_t n = bytes - off < (1 << 20) ? bytes - off : (1 << 20);
            for (uint64_t k = 0; k < n; k++)
                chunk[k] = (uint8_t)((off + k) * 2654435761u >> 13);
            rc = pwrite_all(fd, chunk, (size_t)n, (off_t)(data + off));
        }
        free(chunk);
    }
    if (fd >= 0)
        close(fd);
    free(h);
    if (rc != 0)
        unlink(path);
    return rc;
}
