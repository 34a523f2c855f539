/* server/ — the only place with sockets and threads: a libuv loop serving
 * one dump to any number of debugger connections, each with its own
 * session and executor. */
#ifndef DX_SERVER_H
#define DX_SERVER_H

#include "exec.h"
#include "nt.h"
#include "session.h"

#define DX_DEFAULT_MAX_SESSIONS 64

/* Room for 32 sessions' histories beside their memory on a 24 GiB machine. */
#define DX_DEFAULT_HISTORY_MB 256

typedef struct dx_server_options {
    const char *listen; /* "PORT", "HOST:PORT", "[V6]:PORT" or "unix:PATH"; NULL = 127.0.0.1:1234 */
    rsp_options rsp;
    dx_exec_options exec;
    const char *symbols_dir; /* --symbols DIR, or NULL */
    bool libraries_with_symbols_only; /* list only modules found in symbols_dir */
    unsigned max_sessions;            /* connections served at once; 0 = DX_DEFAULT_MAX_SESSIONS */
    dx_syscall_policy syscalls;       /* what a session does at a system call */
    dx_exception_policy exceptions;   /* what a monitor call does at an exception */
    bool trace_syscalls;              /* every session's system calls to stderr */
    const char *const *stubs;         /* --stub FUNCTION=VALUE, for every session */
    size_t nstubs;
    const char *const *stub_syscalls; /* --stub-syscall NtXxx=STATUS */
    size_t nstub_syscalls;
    double history_mb; /* each session's history cap; 0 = none recorded */
    /* Called once listening, with the address actually bound (port 0 picks one). */
    void (*on_listening)(const char *address, void *user);
    void *user;
} dx_server_options;

/* Serve until SIGINT or SIGTERM. Returns 0, or -1 with err filled. */
int dx_serve(const dx_dump *d, const dx_server_options *o, char *err, size_t errlen);

#endif
