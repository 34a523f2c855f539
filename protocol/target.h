/* What protocol/ needs from a debugged target: a struct of function
 * pointers. A NULL member means "not supported"; the packets that need it
 * are then answered empty and left out of qSupported. */
#ifndef RSP_TARGET_H
#define RSP_TARGET_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registers use the numbering of the target description this layer serves
 * (see tdesc.c): 0-15 rax..r15 in gdb order, 16 rip, 17 eflags, 18-23
 * segments, 24-31 st0-7, 32-39 x87 control, 40-55 xmm0-15, 56 mxcsr,
 * 57 fs_base, 58 gs_base. */
#define RSP_NREGS 59

typedef enum rsp_stop_kind {
    RSP_STOP_SIGNAL,   /* plain signal */
    RSP_STOP_SWBREAK,  /* software breakpoint: PC is the breakpoint address */
    RSP_STOP_HWBREAK,
    RSP_STOP_WATCH,    /* write watchpoint */
    RSP_STOP_RWATCH,
    RSP_STOP_AWATCH,
} rsp_stop_kind;

typedef struct rsp_stop {
    rsp_stop_kind kind;
    int signal; /* GDB numbering: 2 INT, 4 ILL, 5 TRAP, 8 FPE, 11 SEGV */
    uint32_t tid;
    uint64_t watch_addr;
    char description[256]; /* for lldb: "Access violation writing 0x..." */
    bool frozen; /* no event: the process as it was captured (a dump without an exception) */
    bool no_history; /* going back reached the start of the recorded history */
} rsp_stop;

typedef enum rsp_client { RSP_CLIENT_AUTO, RSP_CLIENT_GDB, RSP_CLIENT_LLDB, RSP_CLIENT_IDA, RSP_CLIENT_R2 } rsp_client;

/* Returned by run-starting operations: the result comes later through
 * rsp_session_stopped or rsp_session_monitor_done. */
#define RSP_ASYNC 1

/* Reverse execution (pkt_reverse.c): bs and bc, answered later through
 * rsp_session_stopped like a forward run. Both return RSP_ASYNC or -1. */
typedef struct rsp_reverse_ops {
    int (*step)(void *t, uint32_t tid);
    int (*cont)(void *t, uint32_t tid);
} rsp_reverse_ops;

typedef struct rsp_target_ops {
    /* Threads (required). */
    size_t (*threads)(void *t, uint32_t *tids, size_t max);
    const char *(*thread_name)(void *t, uint32_t tid);
    uint32_t (*pid)(void *t);

    /* Registers and memory (required). reg_read returns the register's size, or -1. */
    int (*reg_read)(void *t, uint32_t tid, int regno, uint8_t *buf);
    int (*reg_write)(void *t, uint32_t tid, int regno, const uint8_t *buf, size_t len);
    size_t (*mem_read)(void *t, uint64_t addr, void *buf, size_t len);
    int (*mem_write)(void *t, uint64_t addr, const void *buf, size_t len);

    /* Why the target is stopped now ('?' and qThreadStopInfo). */
    void (*last_stop)(void *t, uint32_t tid, rsp_stop *out);

    /* Running: start a step or continue of tid (0: the current thread),
     * returning RSP_ASYNC; interrupt may be called from the same thread
     * that feeds input while a run is under way. signal is what the client
     * passed with C/S (0 = none). */
    int (*resume)(void *t, uint32_t tid, bool step, int signal);
    void (*interrupt)(void *t);

    /* Breakpoints: type 0 software, 1 hardware, 2 write, 3 read, 4 access watchpoint. */
    int (*breakpoint)(void *t, bool insert, int type, uint64_t addr, uint64_t len);

    /* monitor: text output into out; 0, -1 for an error (out says why),
     * or RSP_ASYNC when the command runs code and finishes later. */
    int (*monitor)(void *t, const char *cmd, dx_buf *out);

    /* Windows specifics (optional). */
    int (*libraries_xml)(void *t, rsp_client client, dx_buf *out);
    uint64_t (*tib_address)(void *t, uint32_t tid);
    int (*siginfo)(void *t, dx_buf *out); /* raw EXCEPTION_RECORD64 bytes */
    int (*memory_region)(void *t, uint64_t addr, dx_buf *out); /* lldb qMemoryRegionInfo reply */
    int (*exec_file)(void *t, dx_buf *out);                      /* host path of the main image */

    /* Host files a debugger may read (vFile): symbols for the dump's
     * modules. file_open takes the path the client asks for and returns a
     * descriptor or -1; file_load_address is lldb's qFileLoadAddress. */
    int (*file_open)(void *t, const char *path);
    long (*file_pread)(void *t, int fd, void *buf, size_t len, uint64_t offset);
    int (*file_close)(void *t, int fd);
    int (*file_load_address)(void *t, const char *path, uint64_t *base);

    const rsp_reverse_ops *reverse; /* NULL: no reverse execution */
} rsp_target_ops;

#endif
