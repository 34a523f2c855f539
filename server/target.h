/* A dump session as protocol/ sees it: an executor behind rsp_target_ops,
 * plus the monitor commands. Runs that the protocol asks for are not run
 * here: they are left in `job` for the server to run (steps and short
 * calls inline, continues and unlimited calls on the session's worker). */
#ifndef DX_TARGET_H
#define DX_TARGET_H

#include "exec.h"
#include "nt.h"
#include "session.h"

typedef enum dx_job_kind {
    DX_JOB_NONE,
    DX_JOB_STEP,
    DX_JOB_CONTINUE,
    DX_JOB_CALL,
    DX_JOB_REVERSE_STEP,
    DX_JOB_REVERSE_CONTINUE,
} dx_job_kind;

#define DX_MAX_FILES 16

/* What the server tells a session at its start; it never changes. */
typedef struct dx_target_config {
    const char *symbols_dir; /* --symbols: host files for the modules, or NULL */
    bool libraries_with_symbols_only; /* --libraries symbols */
    bool unix_names; /* name modules to gdb as /C:/dir/file.dll: a gdb without
                        the Windows OS ABI takes C:\dir\file.dll as relative */
    dx_syscall_policy syscalls;
    dx_exception_policy exceptions; /* for monitor call; a debugger's runs stop first chance */
    bool trace_syscalls; /* to stderr */
    const char *const *stubs; /* --stub FUNCTION=VALUE ... */
    size_t nstubs;
    const char *const *stub_syscalls; /* --stub-syscall NtXxx=STATUS ... */
    size_t nstub_syscalls;
    double history_mb; /* --history-mb: the cap of each session's history; 0 = none recorded */
} dx_target_config;

/* The run protocol/ asked for, and its outcome: the worker's mailbox. The
 * protocol's thread fills it in; once the server posts it to the worker,
 * only the worker touches it (and the executor) until it marks the job
 * done, and then only the protocol's thread again, which reports it.
 * server.c hands it over in both directions under the session's mutex. */
typedef struct dx_job {
    dx_job_kind kind;
    uint64_t call_fn;
    dx_arg *call_args;
    size_t call_nargs;
    dx_call_result call_result;
    dx_stop stop; /* the outcome of a step or continue */
    dx_buf console; /* what the guest wrote to its console during the run */
} dx_job;

typedef struct dx_target {
    const dx_dump *dump;
    dx_target_config config;
    dx_exec *exec; /* the worker's while a job is posted, except dx_exec_interrupt */
    dx_nt *nt;     /* the Windows over exec: with it, the worker's during a job */

    /* The protocol thread's own state. */
    int files[DX_MAX_FILES]; /* vFile descriptors + 1; 0 = free */
    const dx_module *images[DX_MAX_FILES]; /* or, in a free descriptor, an image read from memory */
    rsp_stop last; /* why the target is stopped, for '?' */
    dx_exception record; /* the Windows exception behind the last stop, for $_siginfo */
    bool has_record;
    bool deliverable; /* the record is a guest exception, first chance: C/S packets pass it on */
    FILE *trace_file;
    FILE *coverage_file; /* `monitor coverage start FILE`: the drcov log written at stop */
    char coverage_name[256];
    FILE *tenet_file; /* `monitor tenet start FILE` */
    FILE *syscall_log; /* `monitor syscalls on`: lines for the client's console */
    char *syscall_text;
    size_t syscall_len;
    bool interrupt_wanted; /* a 0x03 arrived during the run under way */

    dx_job job;
} dx_target;

extern const rsp_target_ops dx_target_ops;

/* Write the coverage collected so far to its file and stop collecting;
 * out (when given) says how many blocks went where. A session that ends
 * with coverage on writes it too: nothing collected is lost. */
int dx_target_coverage_end(dx_target *t, struct dx_buf *out);

int dx_target_init(dx_target *t, const dx_dump *d, const dx_exec_options *o, const dx_target_config *c, char *err,
                   size_t errlen);
void dx_target_free(dx_target *t);
/* As a new session would find it, on the same engine (the server's engine
 * pool, the fuzzer). -1 if memory ran out: the target must not be used. */
int dx_target_reset(dx_target *t, const dx_exec_options *o);
/* Memory, registers and the last stop as in the dump; breakpoints, files
 * and settings stay (monitor reset). */
int dx_target_back_to_dump(dx_target *t, char *err, size_t errlen);

/* Run the pending job (on any one thread) and fill in the result ... */
void dx_target_run_job(dx_target *t);
/* ... then, on the protocol's thread, report it. */
void dx_target_finish_job(dx_target *t, rsp_session *s, dx_buf *out);

/* A dx_stop as gdb sees it. */
void dx_stop_to_rsp(const dx_target *t, const dx_stop *s, rsp_stop *out);

/* symbols.c: rsp_target_ops members over symbols_dir */
int dx_symbols_exec_file(void *t, dx_buf *out);
int dx_symbols_open(void *t, const char *path);
long dx_symbols_pread(void *t, int fd, void *buf, size_t len, uint64_t offset);
int dx_symbols_close(void *t, int fd);
int dx_symbols_load_address(void *t, const char *path, uint64_t *base);
void dx_symbols_close_all(dx_target *t);
bool dx_symbols_host_path(const dx_target *t, const char *path, char *out, size_t outlen);
void dx_symbols_module_name(const dx_target *t, const dx_module *m, dx_buf *out);

/* The stream `monitor syscalls on` traces into, made on first use; its
 * lines go to the client with the run's console output. */
FILE *dx_target_syscall_log(dx_target *t);

/* monitor.c */
int dx_monitor(dx_target *t, const char *line, dx_buf *out);

#endif
