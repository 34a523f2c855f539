/* dump_exec_bench: shared helpers of the benchmark. Each fig_*.c measures
 * one group of figures and records them with bench_result(); main.c prints
 * them as `name value unit` lines and a table. */
#ifndef DXB_BENCH_H
#define DXB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_config {
    bool shortrun;         /* --short: the smoke test's quick pass */
    const char *dump_exec; /* path of the dump_exec binary */
    const char *fixture;   /* testprog_full.dmp */
    const char *tmpdir;    /* where synthetic dumps go */
    const char *gdb;       /* gdb binary, or NULL to skip the gdb figures */
    const char *no_gdb_why;
    bool verbose;
} bench_config;

extern bench_config cfg;

/* ---- results ---- */
enum { HOLDS_NA = -1, HOLDS_NO = 0, HOLDS_YES = 1 };

/* One figure. baseline < 0 (or NaN) means none; ratio is printed when
 * show_ratio. holds: HOLDS_*. */
void bench_result(const char *name, double value, const char *unit, double baseline, const char *baseline_name,
                  bool show_ratio, const char *target, int holds);
/* A figure that could not be measured: the run exits non-zero. */
void bench_fail(const char *name, const char *why, ...) __attribute__((format(printf, 2, 3)));
/* A figure skipped on purpose (gdb missing): reported, not a failure. */
void bench_skip(const char *name, const char *why);
void bench_print(void);
int bench_failures(void);
void bench_results_free(void);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- time and memory ---- */
double now_s(void);
/* VmRSS / VmHWM of a process (0 = self), in bytes; 0 if unreadable. */
uint64_t proc_rss(pid_t pid);
/* CPU seconds a process's threads have run (schedstat), or -1. */
double proc_cpu_s(pid_t pid);
uint64_t proc_hwm(pid_t pid);
#define MIB (1024.0 * 1024.0)

/* Samples: best (max) of rates, best (min) of times. */
double best_max(const double *v, int n);
double best_min(const double *v, int n);
double median(double *v, int n);

/* ---- processes ---- */
typedef struct server_proc {
    pid_t pid;
    pid_t perf; /* perf record -p pid, when DXB_PERF_DIR is set */
    int port;
    double ready_s; /* from fork to the "Serving" line */
} server_proc;

/* dump_exec --listen 127.0.0.1:0 [extra...] DUMP; waits for "Serving".
 * With DXB_PERF_DIR set, each server is profiled by `perf record -g -p`
 * into DXB_PERF_DIR/server-N.data until server_stop. */
int server_start(const char *dump, const char *const *extra, server_proc *s);
void server_stop(server_proc *s);
/* Run argv to completion; seconds from fork to its first output on stdout
 * (as server_start times the "Serving" line), or -1. */
double run_timed(const char *const *argv);
/* Run argv with its stdout collected into out (NUL-terminated, malloc'd);
 * kills it after timeout seconds. Returns its exit status or -1. */
int run_capture(const char *const *argv, double timeout, char **out);

/* ---- a raw GDB remote protocol client ---- */
typedef struct rsp_client {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len, pos, cap;
    char *pkt; /* the last packet's payload, NUL-terminated */
    size_t pktlen, pktcap;
    char *out; /* framing buffer */
    size_t outcap;
    bool noack;
} rsp_client;

int rsp_connect(rsp_client *c, int port);
void rsp_close(rsp_client *c);
int rsp_send(rsp_client *c, const char *payload, size_t len);
/* The next packet's payload (valid until the next call), or NULL. */
const char *rsp_recv(rsp_client *c, size_t *len);
/* send + recv */
const char *rsp_cmd(rsp_client *c, const char *payload, size_t *len);
int rsp_start_noack(rsp_client *c);
/* qRcmd: O packets are skipped; returns the final reply ("OK"/"E..").
 * If text, the decoded O output is appended to it (cap bytes). */
const char *rsp_monitor(rsp_client *c, const char *cmd, char *text, size_t cap);
/* Park the current thread at fn (long_loop) with RCX = 1e9 (P packets):
 * stepping then stays in that loop. Returns the thread id, 0 on failure. */
uint32_t rsp_park(rsp_client *c, uint64_t fn);
/* Little-endian hex of a 64-bit value for P packets. */
void hex_le64(uint64_t v, char *out);

/* ---- loopback ping-pong floor: round trips per second ---- */
double pingpong_rate(double seconds);

/* ---- synthetic minidumps ---- */
typedef struct synth_thread {
    uint32_t tid;
    uint64_t rip, rsp, teb;
} synth_thread;

/* A dump of nranges ranges holding total bytes of memory at base (gaps
 * between ranges). Sparse (holes) unless fill; only headers, directory and
 * descriptors are written. thread may be NULL. Returns 0 or -1. */
int synth_dump(const char *path, uint64_t base, uint64_t total, uint64_t nranges, bool fill,
               const synth_thread *thread);

/* ---- figures ---- */
void fig_open(void);
void fig_history(void);
void fig_images(void);
void fig_call(void);
void fig_exec(void);
void fig_proto(void);
void fig_sessions(void);
void fig_soak(void);
void fig_nt(void);
void fig_python(void);

/* add2(3, 5) through the C API: calls per second over about secs; *ok
 * turns false if a call did not return 13. */
struct dx_exec;
double capi_add2_sample(struct dx_exec *e, uint64_t fn, double secs, bool *ok);

/* Shared between figures: measured once. */
double shared_pingpong(void);

#endif
