/* One thread's registers, numbered as gdb's amd64 description numbers them
 * (the order of the `g` packet), so the protocol layer needs no mapping. */
#ifndef DX_REGS_H
#define DX_REGS_H

#include "dump.h"

enum {
    DX_REG_RAX, DX_REG_RBX, DX_REG_RCX, DX_REG_RDX, DX_REG_RSI, DX_REG_RDI, DX_REG_RBP, DX_REG_RSP,
    DX_REG_R8, DX_REG_R9, DX_REG_R10, DX_REG_R11, DX_REG_R12, DX_REG_R13, DX_REG_R14, DX_REG_R15,
    DX_REG_RIP, DX_REG_EFLAGS,
    DX_REG_CS, DX_REG_SS, DX_REG_DS, DX_REG_ES, DX_REG_FS, DX_REG_GS,
    DX_REG_ST0, /* st0..st7: 24..31 */
    DX_REG_FCTRL = DX_REG_ST0 + 8, DX_REG_FSTAT, DX_REG_FTAG, DX_REG_FISEG, DX_REG_FIOFF, DX_REG_FOSEG,
    DX_REG_FOOFF, DX_REG_FOP,
    DX_REG_XMM0, /* xmm0..xmm15: 40..55 */
    DX_REG_MXCSR = DX_REG_XMM0 + 16,
    DX_REG_FS_BASE, DX_REG_GS_BASE,
    DX_REG_COUNT
};

typedef struct dx_regs {
    uint64_t gpr[16]; /* gdb order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 */
    uint64_t rip;
    uint32_t eflags;
    uint32_t seg[6]; /* cs ss ds es fs gs */
    uint8_t st[8][10];
    uint32_t fpu[8]; /* fctrl fstat ftag fiseg fioff foseg fooff fop */
    uint8_t xmm[16][16];
    uint32_t mxcsr;
    uint64_t fs_base, gs_base;
} dx_regs;

/* Size in bytes of register n (0 if there is no such register). */
size_t dx_reg_size(int n);
const char *dx_reg_name(int n);
/* Little-endian bytes of register n into out (dx_reg_size(n) bytes). */
size_t dx_regs_get(const dx_regs *r, int n, uint8_t *out);
size_t dx_regs_set(dx_regs *r, int n, const uint8_t *in);

/* A thread as the dump left it: GS base is its TEB, FS base 0. */
void dx_regs_from_context(dx_regs *r, const dx_context *c, uint64_t teb);
/* A thread's registers as Windows hands them to an exception handler (all
 * groups), and back as NtContinue loads them: only the groups c->flags
 * names; FS and GS bases (not in a CONTEXT) stay. */
void dx_regs_to_context(const dx_regs *r, dx_context *c);
void dx_regs_load_context(dx_regs *r, const dx_context *c);

#endif
