/* Tenet traces: the text log Tenet's trace explorer (IDA) loads. One line
 * per executed instruction, the registers that the previous instruction
 * changed, then RIP (the instruction about to run), then the memory that
 * instruction read and wrote:
 *   rax=0xd,rip=0x140001534
 *   rsp=0x6fff00100fa0,rip=0x6fff00000000,mr=0x6fff00100f98:0000ff6f...
 * The first line holds every register. A run's last line carries the
 * effects of its last instruction. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define NREGS 17      /* Tenet's amd64 registers: the 16 general ones and rip */
#define MAX_ACCESSES 32 /* of one instruction; a rep movs is cut short */
#define MAX_SHOWN 64    /* bytes of one access written out */

static const int tenet_ids[NREGS] = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBP, UC_X86_REG_RSP,
    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15, UC_X86_REG_RIP,
};
static const char *const tenet_names[NREGS] = {"rax", "rbx", "rcx", "rdx", "rbp", "rsp", "rsi", "rdi", "r8",
                                               "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip"};

typedef struct access {
    uint64_t addr;
    uint32_t size;
    bool write;
} mem_access;

struct tenet_state {
    FILE *out;
    bool started;           /* the full register line is written */
    uint64_t last[NREGS];
    mem_access pending[MAX_ACCESSES];
    size_t npending;
    uc_hook hook;
    uint64_t lines;
};

static void on_memory(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
    (void)uc, (void)value;
    tenet_state *t = ((dx_exec *)user)->tenet;
    if (t && t->npending < MAX_ACCESSES && size > 0)
        t->pending[t->npending++] = (mem_access){addr, (uint32_t)size, type == UC_MEM_WRITE};
}

int tenet_hook(dx_exec *e)
{
    tenet_state *t = e->tenet;
    if (!t || !e->uc || t->hook)
        return 0;
    if (uc_hook_add(e->uc, &t->hook, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_memory, e, 1, 0) != UC_ERR_OK) {
        t->hook = 0;
        return -1;
    }
    engine_mode_changed(e); /* Unicorn decides at translation which loads and stores call hooks */
    return 0;
}

void tenet_unhooked(dx_exec *e)
{
    if (e->tenet)
        e->tenet->hook = 0;
}

/* The line for everything since the last one, with RIP now. */
static void tenet_line(dx_exec *e, tenet_state *t)
{
    uint64_t now[NREGS];
    void *ptrs[NREGS];
    for (int i = 0; i < NREGS; i++)
        ptrs[i] = &now[i];
    uc_reg_read_batch(e->uc, (int *)tenet_ids, ptrs, NREGS);
    char line[NREGS * 24 + MAX_ACCESSES * (24 + 2 * MAX_SHOWN)], *p = line;
    for (int i = 0; i < NREGS; i++) {
        if (t->started && now[i] == t->last[i] && i != NREGS - 1)
            continue;
        if (p != line)
            *p++ = ',';
        size_t len = strlen(tenet_names[i]);
        memcpy(p, tenet_names[i], len);
        p += len;
        *p++ = '=';
        p = trace_put_hex(p, now[i]);
    }
    for (size_t i = 0; i < t->npending; i++) {
        uint8_t bytes[MAX_SHOWN];
        uint32_t n = t->pending[i].size < MAX_SHOWN ? t->pending[i].size : MAX_SHOWN;
        if (uc_mem_read(e->uc, t->pending[i].addr, bytes, n) != UC_ERR_OK)
            continue;
        memcpy(p, t->pending[i].write ? ",mw=" : ",mr=", 4);
        p = trace_put_hex(p + 4, t->pending[i].addr);
        *p++ = ':';
        for (uint32_t k = 0; k < n; k++) {
            *p++ = "0123456789abcdef"[bytes[k] >> 4];
            *p++ = "0123456789abcdef"[bytes[k] & 15];
        }
    }
    *p++ = '\n';
    fwrite(line, 1, (size_t)(p - line), t->out);
    memcpy(t->last, now, sizeof now);
    t->started = true;
    t->npending = 0;
    t->lines++;
}

void tenet_insn(dx_exec *e) { tenet_line(e, e->tenet); }

void tenet_run_end(dx_exec *e)
{
    tenet_state *t = e->tenet;
    if (t && t->started && e->uc) {
        tenet_line(e, t);
        fflush(t->out);
    }
}

int dx_exec_tenet(dx_exec *e, FILE *out)
{
    tenet_state *t = e->tenet;
    if (t) {
        if (t->hook && e->uc)
            uc_hook_del(e->uc, t->hook);
        fflush(t->out);
        free(t);
        e->tenet = NULL;
        engine_mode_changed(e);
    }
    if (!out)
        return 0;
    if (!(t = calloc(1, sizeof *t)))
        return -1;
    t->out = out;
    e->tenet = t;
    if (tenet_hook(e) != 0) {
        free(t);
        e->tenet = NULL;
        return -1;
    }
    return 0;
}

uint64_t dx_exec_tenet_lines(const dx_exec *e) { return e->tenet ? e->tenet->lines : 0; }
