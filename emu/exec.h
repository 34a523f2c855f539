/* emu/ — an executor: one Unicorn x86-64 engine per session over one
 * shared, read-only dx_dump.
 *
 * Memory is paged in lazily from the dump on first touch; writes stay in
 * the executor (the dump never changes) until dx_exec_reset. Every thread
 * of the dump keeps its own registers; the selected one runs, the others
 * stay frozen. All calls on one executor come from one thread at a time,
 * except dx_exec_interrupt, which any thread may call. */
#ifndef DX_EXEC_H
#define DX_EXEC_H

#include "dump.h"
#include "regs.h"

#include <stdio.h>

typedef struct dx_exec dx_exec;

typedef struct dx_exec_options {
    uint64_t max_insns;      /* per run; 0 = no limit */
    double timeout;          /* seconds per run; 0 = none */
    bool unmapped_zero;      /* memory the dump lacks reads as zeros instead of faulting */
    uint64_t max_session_mb; /* memory the session may map; 0 = default (1024) */
    uint32_t code_buffer_kb; /* Unicorn's translated-code buffer; 0 = default (8192) */
} dx_exec_options;

#define DX_DEFAULT_MAX_INSNS 100000

/* Where calls run: a region no Windows x64 process uses by default, moved
 * up in 1 GiB steps if the dump holds anything there. */
#define DX_SCRATCH_BASE 0x00006fff00000000ull
#define DX_SCRATCH_SENTINEL_SIZE 0x1000ull /* the return address lives here */
#define DX_SCRATCH_STACK_SIZE 0x100000ull
#define DX_SCRATCH_HEAP_SIZE 0x100000ull

typedef enum dx_stop_kind {
    DX_STOP_NONE,
    DX_STOP_RETURNED,    /* a call reached its return address */
    DX_STOP_STEP,        /* one instruction done */
    DX_STOP_BREAKPOINT,  /* PC reached a breakpoint; not yet executed */
    DX_STOP_WATCHPOINT,  /* a watched access; addr says where */
    DX_STOP_ACCESS,      /* access violation: addr + access */
    DX_STOP_DIVIDE,      /* integer divide error */
    DX_STOP_INVALID_OPCODE,
    DX_STOP_INT3,
    DX_STOP_SYSCALL, /* a system call was reached: syscall_nr */
    DX_STOP_LIMIT,   /* max_insns reached */
    DX_STOP_TIMEOUT,
    DX_STOP_INTERRUPTED,
    DX_STOP_MEMORY_LIMIT,  /* the session mapped more than max_session_mb */
    DX_STOP_STACK_OVERFLOW, /* the scratch stack ran out */
    DX_STOP_EXCEPTION,      /* a software exception (RaiseException): code */
    DX_STOP_ERROR,          /* the engine failed; detail says why */
    DX_STOP_NO_HISTORY,     /* going back reached the start of the session's history */
} dx_stop_kind;

typedef enum dx_access { DX_ACCESS_READ, DX_ACCESS_WRITE, DX_ACCESS_EXECUTE } dx_access;

typedef struct dx_stop {
    dx_stop_kind kind;
    uint64_t pc;    /* the instruction that stopped (faulting, or next to run) */
    uint64_t addr;  /* the data address of an access violation or watchpoint */
    dx_access access;
    uint32_t syscall_nr;
    /* DX_STOP_EXCEPTION: the EXCEPTION_RECORD's code, flags and parameters */
    uint32_t code, flags, nparams;
    uint64_t params[15];
    bool unhandled; /* the guest's own handlers declined it (second chance) */
    uint64_t insns; /* instructions executed by this run */
    char insn[200]; /* disassembly of the instruction at pc, if readable */
    char detail[256];
} dx_stop;

int dx_exec_new(const dx_dump *d, const dx_exec_options *o, dx_exec **out, char *err, size_t errlen);
void dx_exec_free(dx_exec *e);
const dx_dump *dx_exec_dump(const dx_exec *e);
dx_exec_options *dx_exec_options_of(dx_exec *e); /* live; changes apply to the next run */

/* Back to the dump's exact state: memory, registers, breakpoints kept.
 * -1 (err says why, when given) if memory ran out; nothing changed then. */
int dx_exec_reset(dx_exec *e, char *err, size_t errlen);

/* Threads: the dump's own, by their Windows thread ids. */
int dx_exec_select_thread(dx_exec *e, uint32_t tid);
uint32_t dx_exec_current_thread(const dx_exec *e);
size_t dx_exec_threads(const dx_exec *e, uint32_t *tids, size_t max);
dx_regs *dx_exec_regs(dx_exec *e, uint32_t tid); /* NULL for an unknown tid */

/* Memory as this session sees it: its own writes over the dump. Returns the
 * bytes read from addr on; fewer than len means the next byte is not held. */
size_t dx_exec_read(dx_exec *e, uint64_t addr, void *buf, size_t len);
int dx_exec_write(dx_exec *e, uint64_t addr, const void *buf, size_t len, char *err, size_t errlen);

/* Create the emulator now rather than on the first run: a server calls
 * this on its loop thread before handing a run to a worker, so that the
 * loop's interrupts never meet an engine still being built. */
int dx_exec_prepare(dx_exec *e, char *err, size_t errlen);
/* Whether the emulator exists yet (it costs milliseconds to make). */
bool dx_exec_has_engine(const dx_exec *e);
/* Drop every translated block now, whatever was translated: Unicorn 2.1.1
 * zeroes its whole code buffer at a flush, which leaves all of it (8 MiB)
 * resident; an engine kept for later sessions is flushed as it is kept,
 * so that what it holds does not depend on what its sessions ran. */
void dx_exec_flush(dx_exec *e);

/* Running the current thread. Each fills *stop and returns 0, or -1 with
 * stop->detail saying why the run could not start. */
int dx_exec_continue(dx_exec *e, dx_stop *stop);
int dx_exec_step(dx_exec *e, dx_stop *stop);
/* Length of the instruction at addr, or -1 if it cannot be decoded. */
int dx_exec_insn_length(dx_exec *e, uint64_t addr);
/* Any thread: stop the run under way (or the next one) with DX_STOP_INTERRUPTED. */
void dx_exec_interrupt(dx_exec *e);
/* Forget an interrupt that arrived after the run it was meant for ended. */
void dx_exec_interrupt_clear(dx_exec *e);

/* What a handler of the layer above decides about a run's event. */
typedef enum dx_verdict { DX_VERDICT_STOP, DX_VERDICT_RESUME } dx_verdict;

/* System calls, for the layer above (nt/): a run that reaches one (the
 * syscall instruction, or Wine's call through 0x7ffe1000) hands the
 * handler the service number; the thread's registers (dx_exec_regs) and
 * memory are the handler's to read and write. RESUME: the handler set the
 * results (RAX), and the run goes on after the instruction, within the
 * same instruction and time budget, unless the handler moved RIP. STOP:
 * the run ends with the stop as the handler left it: DX_STOP_SYSCALL with
 * detail saying why, or whatever it rewrote it to (an exception the guest
 * did not handle). Without a handler every system call stops. */
typedef struct dx_syscall {
    uint32_t number;
    uint64_t pc;    /* the system call instruction */
    uint64_t insns; /* instructions this run executed before it (counted runs; else 0) */
} dx_syscall;
typedef dx_verdict (*dx_syscall_fn)(void *user, dx_exec *e, const dx_syscall *call, dx_stop *stop);
void dx_exec_on_syscall(dx_exec *e, dx_syscall_fn fn, void *user);

/* Exceptions, for the layer above: a run that faults (an access
 * violation, a divide error, an invalid opcode, an int3) hands the
 * handler its stop, with the thread's registers at the faulting
 * instruction (RIP at the int3 itself). RESUME: the handler sent the
 * thread on (to the guest's own dispatcher), and the run goes on in the
 * same budget. STOP: the run ends with the stop, as the handler left it. */
typedef dx_verdict (*dx_exception_fn)(void *user, dx_exec *e, dx_stop *stop);
void dx_exec_on_exception(dx_exec *e, dx_exception_fn fn, void *user);
/* Between runs: the layer above sent the current thread elsewhere (to
 * the guest's dispatcher): a breakpoint where the next run starts is hit,
 * not passed as a continue from a breakpoint's stop passes it. */
void dx_exec_moved(dx_exec *e);

/* The CS selector the emulated CPU holds, what `mov ax, cs` reads (the
 * emulator runs without descriptor tables, so it is not the 0x33 of the
 * dump's contexts): a CONTEXT built for the guest carries it, as
 * KiUserExceptionDispatcher compares it with its own CS. */
uint16_t dx_exec_code_selector(dx_exec *e);



/* Memory of the guest's own, for the layer above (a VirtualAlloc):
 * zeroed, page-aligned, clear of the dump's memory and of everything
 * mapped, counted against max_session_mb and gone at dx_exec_reset.
 * dx_exec_map returns 0, -1 (err says why) or DX_MAP_LIMIT when the
 * session's memory is used up. dx_exec_unmap takes back exactly what one
 * dx_exec_map mapped; dx_exec_protect changes any mapped or dump memory. */
#define DX_PROT_READ 1u
#define DX_PROT_WRITE 2u
#define DX_PROT_EXEC 4u
#define DX_MAP_LIMIT (-2)
bool dx_exec_is_free(const dx_exec *e, uint64_t addr, uint64_t size);
/* The start of the first chunk of session memory above addr, or 0. */
uint64_t dx_exec_next_mapped(const dx_exec *e, uint64_t addr);
/* Whether the guest could store to every byte of [addr, addr+len). */
bool dx_exec_writable(dx_exec *e, uint64_t addr, uint64_t len);
/* DX_PROT_* of the page holding addr now (0: nothing there). */
uint32_t dx_exec_prot(dx_exec *e, uint64_t addr);
int dx_exec_map(dx_exec *e, uint64_t addr, uint64_t size, uint32_t prot, char *err, size_t errlen);
int dx_exec_unmap(dx_exec *e, uint64_t addr, uint64_t size);
int dx_exec_protect(dx_exec *e, uint64_t addr, uint64_t size, uint32_t prot);

/* Stubs: a function at addr returns value at once, as an x64 function
 * returns (RAX = value, RIP = the return address popped from the stack),
 * in every run mode and across resets. Stubbing a stubbed address changes
 * its value. -1: no memory, or the emulator refused the hook. */
int dx_exec_stub(dx_exec *e, uint64_t addr, uint64_t value);
/* An interception, for the layer above: at addr, fn sees the call's four
 * register arguments (memory is readable with dx_exec_read); true: the
 * function returns *ret at once, as a stub's does; false: it runs. Kept
 * like a stub, and taken back with dx_exec_unstub. */
typedef bool (*dx_intercept_fn)(void *user, dx_exec *e, const uint64_t args[4], uint64_t *ret);
int dx_exec_intercept(dx_exec *e, uint64_t addr, dx_intercept_fn fn, void *user);
int dx_exec_unstub(dx_exec *e, uint64_t addr);
void dx_exec_stub_clear(dx_exec *e);

/* Breakpoints and watchpoints; adding an existing one is not an error. */
#define DX_MAX_BREAKPOINTS 65536
int dx_exec_break_add(dx_exec *e, uint64_t addr);
int dx_exec_break_remove(dx_exec *e, uint64_t addr);
typedef enum dx_watch_kind { DX_WATCH_WRITE = 1, DX_WATCH_READ = 2, DX_WATCH_ACCESS = 3 } dx_watch_kind;
int dx_exec_watch_add(dx_exec *e, uint64_t addr, uint64_t len, dx_watch_kind kind);
int dx_exec_watch_remove(dx_exec *e, uint64_t addr, uint64_t len, dx_watch_kind kind);
void dx_exec_break_clear(dx_exec *e); /* every breakpoint and watchpoint */

/* Tracing: one line per executed instruction to out (NULL turns it off).
 * With max_bytes, the trace ends with a note once it has written that many
 * (the run goes on); 0: no limit. */
void dx_exec_trace(dx_exec *e, FILE *out);
void dx_exec_trace_capped(dx_exec *e, FILE *out, uint64_t max_bytes);
/* The same as JSON Lines: {"n":1,"pc":"0x...","insn":"...","regs":{"rax":"0x...",...}}
 * per instruction, and {"instructions":N,"seconds":S} at a run's end. */
void dx_exec_trace_json(dx_exec *e, FILE *out);

/* Tenet traces (Tenet, the trace explorer for IDA, loads them): from now
 * on, one line per executed instruction to out, the registers that
 * changed, RIP, and the memory each instruction read and wrote
 * (mr=ADDR:HEX, mw=ADDR:HEX); NULL ends it. Runs step one instruction at
 * a time while it is on. -1: no memory, or the emulator refused the hook. */
int dx_exec_tenet(dx_exec *e, FILE *out);
uint64_t dx_exec_tenet_lines(const dx_exec *e);

/* Coverage: from dx_exec_coverage_start on, every basic block the guest
 * executes is recorded once (every run mode; runs that were fast run
 * with a block hook). dx_exec_coverage_write writes them as a drcov
 * version 2 log: the dump's modules as the module table, the blocks in
 * modules as module-relative offsets with their sizes. Stopping forgets
 * them. -1: memory ran out, or the file could not be written. */
typedef struct dx_coverage dx_coverage;
int dx_exec_coverage_start(dx_exec *e);
void dx_exec_coverage_stop(dx_exec *e);
size_t dx_exec_coverage_count(const dx_exec *e);
int dx_exec_coverage_write(const dx_exec *e, FILE *f);

/* Calls, by the Windows x64 calling convention. */
typedef enum dx_arg_kind {
    DX_ARG_INT,    /* also pointers */
    DX_ARG_DOUBLE,
    DX_ARG_FLOAT,
    DX_ARG_STR,    /* bytes copied to the scratch heap, NUL-terminated; passed by pointer */
    DX_ARG_WSTR,   /* the same as UTF-16 */
    DX_ARG_BUF,    /* a buffer of `size` bytes, zeroed or a copy of text's; passed by pointer */
} dx_arg_kind;

typedef struct dx_arg {
    dx_arg_kind kind;
    uint64_t i;
    double d;
    char *text;  /* STR/WSTR, UTF-8, owned by the arg list; BUF: its first contents, or NULL */
    size_t size; /* BUF size; STR/WSTR length in bytes */
} dx_arg;

typedef struct dx_call_options {
    bool variadic; /* copy floating arguments into the integer registers too */
} dx_call_options;

typedef struct dx_call_result {
    dx_stop stop; /* DX_STOP_RETURNED when the function returned */
    uint64_t rax;
    uint8_t xmm0[16];
    /* BUF arguments after the call, in order: pointer into scratch memory copies */
    size_t nbufs;
    uint8_t **bufs;
    size_t *buf_sizes;
} dx_call_result;

/* Registers are restored after the call, as gdb's `call` does; memory
 * effects stay until dx_exec_reset. The call runs on a scratch stack,
 * which for its length the thread's TEB gives as the thread's (its
 * NT_TIB's StackBase and StackLimit, and an empty ExceptionList). */
int dx_exec_call(dx_exec *e, uint64_t fn, const dx_arg *args, size_t nargs, const dx_call_options *o,
                 dx_call_result *res);
void dx_call_result_free(dx_call_result *res);

/* Time travel (history.c, snapshot.c). A snapshot is the session's state
 * at one moment: every thread's registers, the pages written, the
 * protections, the guest's allocations, and the layer above's state
 * (nt/ registers its own with dx_exec_on_state). Saving and restoring cost
 * in proportion to what the session mapped writable and what changed. */
typedef struct dx_snapshot dx_snapshot;
typedef struct dx_state_ops {
    void *(*save)(void *user);                      /* NULL: out of memory */
    int (*restore)(void *user, const void *state);  /* 0, or -1 */
    void (*release)(void *state); /* may outlive the layer: a snapshot keeps it */
} dx_state_ops;
void dx_exec_on_state(dx_exec *e, const dx_state_ops *ops, void *user);

int dx_exec_snapshot_save(dx_exec *e, const char *name, char *err, size_t errlen);
int dx_exec_snapshot_restore(dx_exec *e, const char *name, char *err, size_t errlen);
int dx_exec_snapshot_drop(dx_exec *e, const char *name);
typedef struct dx_snapshot_info {
    char name[64];
    uint64_t pos;   /* the history position it was taken at */
    uint64_t bytes; /* memory it holds alone */
} dx_snapshot_info;
size_t dx_exec_snapshot_list(const dx_exec *e, dx_snapshot_info *out, size_t max);

/* History: once on, every run is recorded by checkpoints (snapshots at
 * stops and every interval instructions) and any earlier moment is
 * reached again by restoring the checkpoint before it and running
 * forward; runs are deterministic, so the state there is what it was.
 * The oldest checkpoints go when the history holds more than cap_bytes. */
int dx_exec_history_start(dx_exec *e, uint64_t cap_bytes, char *err, size_t errlen);
void dx_exec_history_stop(dx_exec *e);
bool dx_exec_history_on(const dx_exec *e);
typedef struct dx_history_info {
    uint64_t pos;         /* instructions since the history began, where the session is */
    uint64_t start, end;  /* the oldest position still reachable, and the newest recorded */
    uint64_t checkpoints, snapshots;
    uint64_t bytes, cap_bytes;
    uint64_t dropped; /* checkpoints dropped to stay under the cap */
} dx_history_info;
void dx_exec_history_info(const dx_exec *e, dx_history_info *out);
/* The debugger changed the state (registers, memory, the thread, an
 * exception delivered, a call): later history no longer follows. */
int dx_exec_history_mark(dx_exec *e);
/* Travel: to position pos, one instruction back, or back to the last
 * breakpoint or watchpoint hit (DX_STOP_NO_HISTORY at the start). A
 * forward continue or step from the past runs the same history again. */
int dx_exec_goto(dx_exec *e, uint64_t pos, dx_stop *stop, char *err, size_t errlen);
int dx_exec_reverse_step(dx_exec *e, dx_stop *stop);
int dx_exec_reverse_continue(dx_exec *e, dx_stop *stop);

/* "Return value: 0x2a\nXMM0: ...\nInstructions: N\n", or the stop. */
struct dx_buf;
void dx_call_result_describe(const dx_exec *e, const dx_call_result *res, struct dx_buf *out);
/* One line: "access violation writing 0x0 at 0x1400015a0: mov dword ptr [rax], 1". */
void dx_stop_describe(const dx_exec *e, const dx_stop *s, struct dx_buf *out);

/* Argument syntax shared by the command line and `monitor call`:
 * 42 -7 0x2a ptr:0x7ff0 3.14 1e-3 f32:1.5 str:"text" wstr:"text" buf:64.
 * Each word is one argument; quotes, if still there, are removed and C
 * escapes in them honoured. */
/* With a dump, `module!export` and `module+0x10` words pass as pointers too. */
int dx_args_parse(const dx_dump *d, const char *const *words, size_t nwords, dx_arg **out, size_t *nout, char *err,
                  size_t errlen);
void dx_args_free(dx_arg *args, size_t n);
/* Split a monitor command line into words: quotes group, C escapes work. */
int dx_words_split(const char *line, char ***words, size_t *nwords, char *err, size_t errlen);
void dx_words_free(char **words, size_t n);

#endif
