/* Private to emu/. */
#ifndef DX_EMU_INTERNAL_H
#define DX_EMU_INTERNAL_H

#include "exec.h"
#include "pe.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unicorn/unicorn.h>

#define PAGE 0x1000ull
#define UC_ADDR_MASK ((1ull << 52) - 1) /* Unicorn reports addresses in their low 52 bits */
#define CHUNK 0x10000ull /* lazy maps grow to this, within what the dump holds */
/* Wine's system call stubs call through this pointer, which no dump holds:
 * it must fault, even where unmapped memory reads as zeros. */
#define WINE_SYSCALL_POINTER 0x7ffe1000ull

typedef enum chunk_origin {
    CHUNK_DUMP,    /* the dump's bytes, paged in */
    CHUNK_ZERO,    /* memory the dump lacks, read as zeros */
    CHUNK_ALLOC,   /* the guest's own allocation (dx_exec_map) */
    CHUNK_SCRATCH, /* the call area */
} chunk_origin;

typedef struct chunk {
    uint64_t start, end;
    uint8_t *mem; /* our memory behind it (uc_mem_map_ptr), or NULL: Unicorn's */
    uint32_t prot; /* of every page, unless mixed (dx_exec_protect changed some) */
    bool mixed;
    bool may_exec; /* executable at some time: it may have translated code */
    chunk_origin origin;
    bool tracked; /* writable or written at some time: snapshots keep its pages */
} chunk;

/* Instruction counts of translated blocks (blocks.c), and the block the
 * run is in: its count was added before it ran. */
#define BLOCKS_CACHE 4096
typedef struct block_counts {
    uint64_t addr[BLOCKS_CACHE];
    uint32_t size[BLOCKS_CACHE], count[BLOCKS_CACHE];
    uint32_t gen[BLOCKS_CACHE], generation; /* an entry of an older generation is stale */
    uint64_t last_addr, last_pos; /* last_addr 0: no block since the last settle */
    uint32_t last_size;
    bool stop_requested; /* by the block hook: that block did not run */
    uint64_t within_block, within_pc; /* the last partial count: instructions before within_pc */
    uint32_t within_count;
    size_t cs; /* a capstone handle without detail (csh) */
} block_counts;

typedef struct history history;

/* How a replay treats breakpoints and watchpoints (history.c). */
typedef enum replay_mode {
    REPLAY_NONE,   /* a live run: they stop it */
    REPLAY_QUIET,  /* travelling: they are passed */
    REPLAY_SEARCH, /* looking back: the last one before search_end is noted */
    REPLAY_STOPS,  /* going forward through recorded history: they stop it */
} replay_mode;

typedef struct breakpoint {
    uint64_t addr;
    uc_hook hook; /* its own code hook; 0 in stepping runs (run.c, breakpoint_hooks) */
} breakpoint;

typedef struct stub {
    uint64_t addr, value;
    uc_hook hook;
    dx_intercept_fn fn; /* an interception: it decides, or NULL: return value */
    void *user;
} stub;

typedef struct watch {
    uint64_t addr, len;
    dx_watch_kind kind;
} watch;

typedef struct armed_page {
    uint64_t page;
    uint32_t prot; /* what the page allows when no watch is armed */
} armed_page;

/* Section tables of modules, read once per executor on first fault. */
typedef struct module_sections {
    int count; /* -2: not read yet; -1: headers not captured */
    dx_pe_section sec[96];
} module_sections;

typedef struct trace_state trace_state;
typedef struct tenet_state tenet_state;

struct dx_exec {
    const dx_dump *dump;
    dx_exec_options opt;
    uc_engine *uc; /* NULL until the session first executes or writes */
    uc_context *clean; /* CPU state with no exception latched */
    bool cpu_dirty;    /* a processor exception stopped the last run */

    size_t nthreads, cur;
    uint32_t *tids;
    dx_regs *regs; /* one per thread; authoritative between runs */

    chunk *chunks; /* mapped, sorted, disjoint */
    size_t nchunks, capchunks;
    uint8_t *spare[64]; /* CHUNK-sized memory of chunks a reset unmapped */
    size_t nspare;
    uint64_t mapped_bytes;
    module_sections *modsec;

    uint64_t scratch;   /* base of the sentinel page, stack and heap */
    uint64_t heap_next; /* bump pointer of the current call's heap */

    breakpoint *bps; /* sorted by address */
    size_t nbps, capbps;
    uc_hook sentinel_hook;
    stub *stubs; /* functions that return a value at once */
    size_t nstubs, capstubs;
    watch *watches;
    size_t nwatches, capwatches;
    armed_page *armed; /* pages whose permissions watches took, during a run */
    size_t narmed, caparmed;
    struct {
        bool pending; /* an access to an armed page stopped the engine */
        uint64_t addr;
        int size;
        dx_access access;
    } trap;
    bool stepping_over; /* one instruction with the watched pages open */

    /* The run under way. */
    dx_stop *stop;
    bool stopped; /* a hook recorded the stop */
    bool in_call;
    bool moved; /* dx_exec_moved: the next run hits a breakpoint where it starts */
    uint64_t insns, limit, step_target;
    uint64_t block_start; /* the translation block executing: Unicorn's RIP is stale after a fault */
    /* The block whose hook stopped the run, before it ran: Unicorn 2.1
     * leaves RIP stale then whenever any code hook exists (cpu_tb_exec
     * syncs it only without one). 0: the hook did not stop the run. */
    uint64_t block_stopped_at;
    double deadline;      /* of a run with hooks (seconds_now), 0 for none */
    uint32_t deadline_ticks;
    bool timed_out; /* the block hook saw the deadline pass */
    atomic_bool interrupt;
    uc_hook step_hook, count_hook, block_hook;
    bool block_hook_counts; /* the block hook installed is on_block_counted */
    bool translated; /* code may have been translated since the last flush */
    atomic_bool running; /* inside uc_emu_start */
    atomic_bool outside_stop; /* the run under way may be stopped from another thread (not counted) */

    /* Time travel (history.c): the position in the session's history is
     * the number of instructions run since it began, counted by block. */
    uint64_t pos;
    bool counting;
    uint64_t pause_at; /* a counted run pauses before passing this position */
    bool paused;
    history *history; /* checkpoints and named snapshots; NULL: none yet */
    dx_state_ops state_ops; /* the layer above's state, kept in snapshots */
    void *state_user;
    replay_mode replay;
    struct {
        uint64_t end, pos, addr; /* addr: a watch's (kind WATCHPOINT), else the breakpoint's */
        dx_stop_kind kind;       /* DX_STOP_NONE: no hit */
        dx_access access;
    } hit;

    dx_syscall_fn on_syscall; /* the layer above's, or NULL: system calls stop */
    void *on_syscall_user;
    dx_exception_fn on_exception; /* the layer above's, or NULL: faults stop */
    void *on_exception_user;


    trace_state *trace;
    dx_coverage *coverage; /* while coverage is on */
    tenet_state *tenet;    /* while a Tenet trace is written (tenet.c) */
    size_t cs; /* capstone handle for stops and fault_locate (csh), 0 until needed */
    block_counts blocks; /* last: 80 KiB that would push the hooks' fields apart */
};

/* The blocks runs executed while coverage is on (coverage.c). The block
 * hook checks the recent ones inline: a hot loop's blocks cost a compare. */
#define COVERAGE_RECENT 256
struct dx_coverage {
    uint64_t recent[COVERAGE_RECENT]; /* direct-mapped: blocks known to be in the table */
    uint32_t recent_size[COVERAGE_RECENT];
    uint64_t *addrs; /* open addressing; 0 is an empty slot (no code runs at 0) */
    uint32_t *sizes;
    size_t n, cap; /* cap a power of two, at most half full */
};
void coverage_insert(dx_coverage *c, uint64_t addr, uint32_t size);
static inline size_t coverage_recent_slot(uint64_t addr) { return (size_t)(addr ^ (addr >> 8)) & (COVERAGE_RECENT - 1); }
static inline void coverage_add(dx_coverage *c, uint64_t addr, uint32_t size)
{
    size_t r = coverage_recent_slot(addr);
    if (c->recent[r] != addr || c->recent_size[r] < size)
        coverage_insert(c, addr, size);
}
/* The run mode's hooks no longer fit what is asked (coverage turned on or
 * off): the next run installs its mode's hooks afresh. */
void engine_mode_changed(dx_exec *e);

/* items, an array of n elements of size bytes with room for *cap, with
 * room for one more: doubled when full, NULL (items unchanged) if memory
 * runs out. */
static inline void *grow(void *items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return items;
    size_t want = *cap ? *cap * 2 : 16;
    void *bigger = realloc(items, want * size);
    if (bigger)
        *cap = want;
    return bigger;
}

/* blocks.c; the hit path inline: it runs at every block of a recorded run */
uint32_t blocks_count_miss(dx_exec *e, uint64_t addr, uint32_t size, size_t slot);
static inline uint32_t blocks_count(dx_exec *e, uint64_t addr, uint32_t size)
{
    size_t slot = (size_t)(addr ^ (addr >> 12)) & (BLOCKS_CACHE - 1);
    const block_counts *b = &e->blocks;
    return b->addr[slot] == addr && b->size[slot] == size && b->gen[slot] == b->generation
               ? b->count[slot]
               : blocks_count_miss(e, addr, size, slot);
}
void blocks_settle(dx_exec *e);
uint64_t blocks_position_at(dx_exec *e, uint64_t pc);
void blocks_forget(dx_exec *e);
void blocks_close(dx_exec *e);

/* snapshot.c */
/* The layer above's state goes in through e->state_ops. */
dx_snapshot *snapshot_take(dx_exec *e, const dx_snapshot *base);
int snapshot_restore(dx_exec *e, const dx_snapshot *s);
uint64_t snapshot_free(dx_snapshot *s); /* the bytes it held alone */
uint64_t snapshot_pos(const dx_snapshot *s);
bool snapshot_barrier(const dx_snapshot *s);
void snapshot_set_barrier(dx_snapshot *s, bool barrier);
const char *snapshot_name(const dx_snapshot *s);
void snapshot_set_name(dx_snapshot *s, const char *name);
uint64_t snapshot_bytes(const dx_snapshot *s);

/* history.c: before a live run, at its pauses (true: go on; the thread
 * may have moved), and after it; recording a breakpoint or watch hit. */
void history_before_run(dx_exec *e);
bool history_paused(dx_exec *e);
void history_after_run(dx_exec *e);
/* A continue from the past runs through the recorded history first,
 * across the debugger's changes: true if it stopped there. */
bool history_forward(dx_exec *e, dx_stop *stop);
void history_free(dx_exec *e);
void history_reset(dx_exec *e);
void history_note_hit(dx_exec *e, uint64_t pos, dx_stop_kind kind, uint64_t addr, dx_access access);

/* memory.c */
int mem_write(dx_exec *e, uint64_t addr, const void *buf, size_t len, bool data, char *err, size_t errlen);
size_t mem_chunk_index(const dx_exec *e, uint64_t addr);
void mem_protection_changed(dx_exec *e, uint64_t lo, uint64_t hi, uint32_t prot);
bool mem_reset_protection(dx_exec *e, uint64_t lo, uint64_t hi);
bool mem_fault_in(dx_exec *e, uint64_t addr, bool zero_fill);
bool mem_is_mapped(const dx_exec *e, uint64_t addr, uint64_t *chunk_end);
int mem_map_scratch(dx_exec *e);
void mem_forget(dx_exec *e);
void mem_free(dx_exec *e);
int mem_unmap_all(dx_exec *e);
uint32_t mem_prot_of(dx_exec *e, uint64_t page);

/* engine.c */
int engine_ensure(dx_exec *e, char *err, size_t errlen);
void engine_close(dx_exec *e);
void regs_to_uc(dx_exec *e);
void regs_from_uc(dx_exec *e);
void engine_drop_translations(dx_exec *e);

/* run.c */
/* How a run watches itself; switching flushes translated code. */
typedef enum run_mode {
    RUN_FAST,  /* no hooks on the way: calls without a limit */
    RUN_BLOCK, /* a hook per block: exact faults and interrupts for a debugger's continue */
    RUN_INSN,  /* a hook per instruction: steps, traces, limits */
} run_mode;

void run(dx_exec *e, run_mode mode, uint64_t max_insns, dx_stop *stop);
/* The same with an instruction limit that costs no hook per instruction. */
void run_limited(dx_exec *e, run_mode mode, uint64_t max_insns, dx_stop *stop);
int engine_hooks(dx_exec *e, char *err, size_t errlen);
void stop_fill_insn(dx_exec *e, dx_stop *stop);
void stop_set(dx_exec *e, dx_stop_kind kind, uint64_t pc);

/* disasm.c */
void disasm_close(dx_exec *e);
uint64_t fault_locate(dx_exec *e, uint64_t block_start, uint64_t fault_addr, dx_access access);
uint64_t fault_address(dx_exec *e, uint64_t pc, uint64_t addr, dx_access access);
/* watch.c */
void watch_arm(dx_exec *e);
void watch_disarm(dx_exec *e);
bool watch_caused(const dx_exec *e, uint64_t addr, dx_access access);
const watch *watch_hit(const dx_exec *e, uint64_t addr, uint64_t size, dx_access access);

/* trace.c */
trace_state *trace_new(FILE *out, uint64_t max_bytes);
void trace_free(trace_state *t);
void trace_insn(dx_exec *e, uint64_t addr);
void trace_summary(dx_exec *e, uint64_t insns, double seconds);
/* "0x" and v's hex digits, no leading zeros, at o; returns the end. */
char *trace_put_hex(char *o, uint64_t v);
/* Tenet traces (tenet.c): the memory hook, added when the engine exists
 * (0, or -1 if Unicorn refused it), forgotten when the engine closes; a
 * line before each instruction, and one for the last at a run's end. */
int tenet_hook(dx_exec *e);
void tenet_unhooked(dx_exec *e);
void tenet_insn(dx_exec *e);
void tenet_run_end(dx_exec *e);
int disasm_one(dx_exec *e, uint64_t addr, char *out, size_t outlen);

#endif
