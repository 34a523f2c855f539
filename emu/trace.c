/* Tracing: one line per executed instruction,
 *   [000001] 0x0000000140001000: push rbp | RAX=... RCX=... RDX=... RBP=...
 * with RAX, RCX and RDX always, then every other register the instruction
 * reads or writes, as they are before it runs; or the same as JSON Lines
 * for scripts:
 *   {"n":1,"pc":"0x140001000","insn":"push rbp","regs":{"rax":"0x...",...}}
 * Decoding is cached per address, so a loop is decoded once. */
#include "internal.h"

#include <capstone/capstone.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 8192 /* a power of two */
#define MAX_SHOWN 12

typedef struct decoded {
    uint64_t addr; /* 0: empty slot */
    char text[200];
    uint8_t nregs;
    int uc_regs[MAX_SHOWN];
    char names[MAX_SHOWN][6];
} decoded;

struct trace_state {
    FILE *out;
    bool json;
    uint64_t written, max_bytes; /* max_bytes 0: no limit */
    csh cs;
    decoded *cache;
};

trace_state *trace_new(FILE *out, uint64_t max_bytes)
{
    trace_state *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->out = out;
    t->max_bytes = max_bytes;
    t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
    if (!t->cache || cs_open(CS_ARCH_X86, CS_MODE_64, &t->cs) != CS_ERR_OK) {
        free(t->cache);
        free(t);
        return NULL;
    }
    cs_option(t->cs, CS_OPT_DETAIL, CS_OPT_ON);
    return t;
}

void trace_free(trace_state *t)
{
    if (!t)
        return;
    cs_close(&t->cs);
    free(t->cache);
    free(t);
}

void dx_exec_trace_capped(dx_exec *e, FILE *out, uint64_t max_bytes)
{
    trace_free(e->trace);
    e->trace = out ? trace_new(out, max_bytes) : NULL;
}

void dx_exec_trace_json(dx_exec *e, FILE *out)
{
    dx_exec_trace(e, out);
    if (e->trace)
        e->trace->json = true;
}

void dx_exec_trace(dx_exec *e, FILE *out) { dx_exec_trace_capped(e, out, 0); }

/* False once a capped trace is full; the line that says so is written then. */
static bool trace_room(trace_state *t, size_t len)
{
    if (!t->max_bytes || t->written + len <= t->max_bytes) {
        t->written += len;
        return true;
    }
    if (t->written <= t->max_bytes) {
        fprintf(t->out, "-- trace stopped: it reached its limit of %llu bytes\n", (unsigned long long)t->max_bytes);
        fflush(t->out);
        t->written = t->max_bytes + 1;
    }
    return false;
}

/* Capstone's 64-bit general registers in Unicorn's numbering. */
static int uc_reg_of(x86_reg r)
{
    static const struct {
        x86_reg cs;
        int uc;
    } map[] = {
        {X86_REG_RAX, UC_X86_REG_RAX}, {X86_REG_RBX, UC_X86_REG_RBX}, {X86_REG_RCX, UC_X86_REG_RCX},
        {X86_REG_RDX, UC_X86_REG_RDX}, {X86_REG_RSI, UC_X86_REG_RSI}, {X86_REG_RDI, UC_X86_REG_RDI},
        {X86_REG_RBP, UC_X86_REG_RBP}, {X86_REG_RSP, UC_X86_REG_RSP}, {X86_REG_R8, UC_X86_REG_R8},
        {X86_REG_R9, UC_X86_REG_R9},   {X86_REG_R10, UC_X86_REG_R10}, {X86_REG_R11, UC_X86_REG_R11},
        {X86_REG_R12, UC_X86_REG_R12}, {X86_REG_R13, UC_X86_REG_R13}, {X86_REG_R14, UC_X86_REG_R14},
        {X86_REG_R15, UC_X86_REG_R15},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].cs == r)
            return map[i].uc;
    return -1;
}

/* Sub-registers (eax, r8d, al) are shown as their full register. */
static x86_reg widen(csh cs, x86_reg r)
{
    const char *name = cs_reg_name(cs, r);
    static const char *const wide[][5] = {
        {"rax", "eax", "ax", "al", "ah"}, {"rbx", "ebx", "bx", "bl", "bh"}, {"rcx", "ecx", "cx", "cl", "ch"},
        {"rdx", "edx", "dx", "dl", "dh"}, {"rsi", "esi", "si", "sil", ""},  {"rdi", "edi", "di", "dil", ""},
        {"rbp", "ebp", "bp", "bpl", ""},  {"rsp", "esp", "sp", "spl", ""},
    };
    static const x86_reg full[] = {X86_REG_RAX, X86_REG_RBX, X86_REG_RCX, X86_REG_RDX,
                                   X86_REG_RSI, X86_REG_RDI, X86_REG_RBP, X86_REG_RSP};
    if (!name)
        return r;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 5; j++)
            if (wide[i][j][0] && strcmp(name, wide[i][j]) == 0)
                return full[i];
    if (name[0] == 'r' && isdigit((unsigned char)name[1])) {
        int n = atoi(name + 1);
        if (n >= 8 && n <= 15)
            return (x86_reg)(X86_REG_R8 + (n - 8));
    }
    return r;
}

static void add_reg(csh cs, decoded *d, x86_reg r)
{
    r = widen(cs, r);
    int uc = uc_reg_of(r);
    if (uc < 0 || uc == UC_X86_REG_RAX || uc == UC_X86_REG_RCX || uc == UC_X86_REG_RDX)
        return;
    for (int i = 0; i < d->nregs; i++)
        if (d->uc_regs[i] == uc)
            return;
    if (d->nregs == MAX_SHOWN)
        return;
    d->uc_regs[d->nregs] = uc;
    snprintf(d->names[d->nregs], sizeof d->names[0], "%s", cs_reg_name(cs, r));
    d->nregs++;
}

static const decoded *decode(dx_exec *e, trace_state *t, uint64_t addr)
{
    decoded *d = &t->cache[(addr ^ addr >> 13) & (CACHE_SLOTS - 1)];
    if (d->addr == addr)
        return d;
    memset(d, 0, sizeof *d);
    d->addr = addr;
    uint8_t code[16];
    size_t n = dx_exec_read(e, addr, code, sizeof code);
    cs_insn *insn = NULL;
    if (!n || cs_disasm(t->cs, code, n, addr, 1, &insn) != 1) {
        snprintf(d->text, sizeof d->text, "(undecodable)");
        return d;
    }
    snprintf(d->text, sizeof d->text, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
    cs_regs rd, wr;
    uint8_t nrd, nwr;
    if (cs_regs_access(t->cs, insn, rd, &nrd, wr, &nwr) == CS_ERR_OK) {
        for (int i = 0; i < nrd; i++)
            add_reg(t->cs, d, rd[i]);
        for (int i = 0; i < nwr; i++)
            add_reg(t->cs, d, wr[i]);
    }
    cs_free(insn, 1);
    return d;
}

/* 16 hex digits; the line is built by hand because printf dominated a
 * traced run (80% of its time). */
static char *put_hex64(char *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        o[i] = digits[v & 15];
    return o + 16;
}

static char *put_text(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *put_upper(char *o, const char *s)
{
    while (*s)
        *o++ = (char)toupper((unsigned char)*s++);
    return o;
}

char *trace_put_hex(char *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do
        tmp[n++] = digits[v & 15];
    while (v >>= 4);
    *o++ = '0', *o++ = 'x';
    while (n)
        *o++ = tmp[--n];
    return o;
}

static const char *const usual_names[3] = {"rax", "rcx", "rdx"};

static char *text_line(char *o, uint64_t n, uint64_t addr, const decoded *d, const uint64_t *v)
{
    o += snprintf(o, 32, "[%06llu] 0x", (unsigned long long)n);
    o = put_hex64(o, addr);
    o = put_text(o, ": ");
    o = put_text(o, d->text);
    for (int i = 0; i < 3 + d->nregs; i++) {
        o = put_text(o, i == 0 ? " | " : " ");
        o = put_upper(o, i < 3 ? usual_names[i] : d->names[i - 3]);
        *o++ = '=';
        o = put_hex64(o, v[i]);
    }
    *o++ = '\n';
    return o;
}

static char *json_line(char *o, uint64_t n, uint64_t addr, const decoded *d, const uint64_t *v)
{
    o += snprintf(o, 48, "{\"n\":%llu,\"pc\":\"", (unsigned long long)n);
    o = trace_put_hex(o, addr);
    o = put_text(o, "\",\"insn\":\"");
    for (const char *p = d->text; *p; p++) {
        if (*p == '"' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    o = put_text(o, "\",\"regs\":{");
    for (int i = 0; i < 3 + d->nregs; i++) {
        o = put_text(o, i ? ",\"" : "\"");
        o = put_text(o, i < 3 ? usual_names[i] : d->names[i - 3]);
        o = put_text(o, "\":\"");
        o = trace_put_hex(o, v[i]);
        *o++ = '"';
    }
    o = put_text(o, "}}\n");
    return o;
}

void trace_insn(dx_exec *e, uint64_t addr)
{
    trace_state *t = e->trace;
    if (t->max_bytes && t->written > t->max_bytes)
        return; /* full: not even decoded */
    const decoded *d = decode(e, t, addr);
    uint64_t v[3 + MAX_SHOWN];
    int ids[3 + MAX_SHOWN] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX};
    void *ptrs[3 + MAX_SHOWN];
    for (int i = 0; i < 3 + d->nregs; i++) {
        if (i >= 3)
            ids[i] = d->uc_regs[i - 3];
        ptrs[i] = &v[i];
    }
    uc_reg_read_batch(e->uc, ids, ptrs, 3 + d->nregs);
    char line[96 + 2 * sizeof d->text + (3 + MAX_SHOWN) * 32], *o = line;
    o = t->json ? json_line(line, e->insns + 1, addr, d, v) : text_line(line, e->insns + 1, addr, d, v);
    if (trace_room(t, (size_t)(o - line)))
        fwrite(line, 1, (size_t)(o - line), t->out);
}

void trace_summary(dx_exec *e, uint64_t insns, double seconds)
{
    trace_state *t = e->trace;
    char line[128];
    double rate = seconds > 0 ? (double)insns / seconds : 0.0;
    int n = t->json ? snprintf(line, sizeof line, "{\"instructions\":%llu,\"seconds\":%.6f}\n",
                               (unsigned long long)insns, seconds)
                    : snprintf(line, sizeof line, "-- %llu instructions in %.3f ms (%.0f instructions/s)\n",
                               (unsigned long long)insns, seconds * 1e3, rate);
    if (n > 0 && trace_room(t, (size_t)n))
        fwrite(line, 1, (size_t)n, t->out);
    fflush(t->out);
}
