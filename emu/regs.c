#include "regs.h"

#include <string.h>

static const char *const names[DX_REG_COUNT] = {
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "st0", "st1", "st2", "st3", "st4", "st5",
    "st6", "st7", "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop", "xmm0", "xmm1",
    "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
    "xmm14", "xmm15", "mxcsr", "fs_base", "gs_base",
};

const char *dx_reg_name(int n) { return n >= 0 && n < DX_REG_COUNT ? names[n] : NULL; }

size_t dx_reg_size(int n)
{
    if (n < 0 || n >= DX_REG_COUNT)
        return 0;
    if (n <= DX_REG_RIP || n == DX_REG_FS_BASE || n == DX_REG_GS_BASE)
        return 8;
    if (n >= DX_REG_ST0 && n < DX_REG_ST0 + 8)
        return 10;
    if (n >= DX_REG_XMM0 && n < DX_REG_XMM0 + 16)
        return 16;
    return 4;
}

/* Where register n lives inside a dx_regs. */
static void *slot(dx_regs *r, int n)
{
    if (n < 16)
        return &r->gpr[n];
    if (n == DX_REG_RIP)
        return &r->rip;
    if (n == DX_REG_EFLAGS)
        return &r->eflags;
    if (n <= DX_REG_GS)
        return &r->seg[n - DX_REG_CS];
    if (n < DX_REG_FCTRL)
        return r->st[n - DX_REG_ST0];
    if (n < DX_REG_XMM0)
        return &r->fpu[n - DX_REG_FCTRL];
    if (n < DX_REG_MXCSR)
        return r->xmm[n - DX_REG_XMM0];
    if (n == DX_REG_MXCSR)
        return &r->mxcsr;
    return n == DX_REG_FS_BASE ? (void *)&r->fs_base : (void *)&r->gs_base;
}

/* The host is little-endian x86-64, like the guest, so bytes copy as they are. */
size_t dx_regs_get(const dx_regs *r, int n, uint8_t *out)
{
    size_t size = dx_reg_size(n);
    if (size)
        memcpy(out, slot((dx_regs *)r, n), size);
    return size;
}

size_t dx_regs_set(dx_regs *r, int n, const uint8_t *in)
{
    size_t size = dx_reg_size(n);
    if (size)
        memcpy(slot(r, n), in, size);
    return size;
}

/* FXSAVE keeps one "valid" bit per register; gdb wants two bits, 11 = empty. */
static uint32_t full_tag_word(uint8_t abridged)
{
    uint32_t tag = 0;
    for (int i = 0; i < 8; i++)
        if (!(abridged & (1u << i)))
            tag |= 3u << (2 * i);
    return tag;
}

void dx_regs_from_context(dx_regs *r, const dx_context *c, uint64_t teb)
{
    memset(r, 0, sizeof *r);
    const uint64_t gpr[16] = {c->rax, c->rbx, c->rcx, c->rdx, c->rsi, c->rdi, c->rbp, c->rsp,
                              c->r8,  c->r9,  c->r10, c->r11, c->r12, c->r13, c->r14, c->r15};
    memcpy(r->gpr, gpr, sizeof gpr);
    r->rip = c->rip;
    r->eflags = c->eflags ? c->eflags : 0x202;
    /* Wine's contexts may omit segments; fall back to user-mode selectors. */
    r->seg[0] = c->cs ? c->cs : 0x33;
    r->seg[1] = c->ss ? c->ss : 0x2b;
    r->seg[2] = c->ds ? c->ds : 0x2b;
    r->seg[3] = c->es ? c->es : 0x2b;
    r->seg[4] = c->fs ? c->fs : 0x53;
    r->seg[5] = c->gs ? c->gs : 0x2b;
    memcpy(r->st, c->st, sizeof r->st);
    r->fpu[0] = c->fcw ? c->fcw : 0x27f;
    r->fpu[1] = c->fsw;
    r->fpu[2] = full_tag_word(c->ftw);
    r->fpu[3] = c->fiseg;
    r->fpu[4] = c->fioff;
    r->fpu[5] = c->foseg;
    r->fpu[6] = c->fooff;
    r->fpu[7] = c->fop;
    memcpy(r->xmm, c->xmm, sizeof r->xmm);
    r->mxcsr = c->mxcsr ? c->mxcsr : 0x1f80;
    r->gs_base = teb;
}

static uint8_t abridged_tag_word(uint32_t full)
{
    uint8_t tag = 0;
    for (int i = 0; i < 8; i++)
        if (((full >> (2 * i)) & 3) != 3)
            tag |= (uint8_t)(1u << i);
    return tag;
}

void dx_regs_to_context(const dx_regs *r, dx_context *c)
{
    memset(c, 0, sizeof *c);
    c->flags = DX_CONTEXT_CONTROL | DX_CONTEXT_INTEGER | DX_CONTEXT_SEGMENTS | DX_CONTEXT_FLOATING | DX_CONTEXT_DEBUG;
    uint64_t *gpr[16] = {&c->rax, &c->rbx, &c->rcx, &c->rdx, &c->rsi, &c->rdi, &c->rbp, &c->rsp,
                         &c->r8,  &c->r9,  &c->r10, &c->r11, &c->r12, &c->r13, &c->r14, &c->r15};
    for (int i = 0; i < 16; i++)
        *gpr[i] = r->gpr[i];
    c->rip = r->rip;
    c->eflags = r->eflags;
    uint16_t *seg[6] = {&c->cs, &c->ss, &c->ds, &c->es, &c->fs, &c->gs};
    for (int i = 0; i < 6; i++)
        *seg[i] = (uint16_t)r->seg[i];
    memcpy(c->st, r->st, sizeof c->st);
    c->fcw = (uint16_t)r->fpu[0];
    c->fsw = (uint16_t)r->fpu[1];
    c->ftw = abridged_tag_word(r->fpu[2]);
    c->fiseg = (uint16_t)r->fpu[3];
    c->fioff = r->fpu[4];
    c->foseg = (uint16_t)r->fpu[5];
    c->fooff = r->fpu[6];
    c->fop = (uint16_t)r->fpu[7];
    memcpy(c->xmm, r->xmm, sizeof c->xmm);
    c->mxcsr = r->mxcsr;
}

void dx_regs_load_context(dx_regs *r, const dx_context *c)
{
    dx_regs from;
    dx_regs_from_context(&from, c, r->gs_base);
    if ((c->flags & DX_CONTEXT_INTEGER) == DX_CONTEXT_INTEGER)
        for (int i = 0; i < 16; i++)
            if (i != DX_REG_RSP)
                r->gpr[i] = from.gpr[i];
    if ((c->flags & DX_CONTEXT_CONTROL) == DX_CONTEXT_CONTROL) {
        r->gpr[DX_REG_RSP] = from.gpr[DX_REG_RSP];
        r->rip = from.rip;
        /* user mode keeps IF set and cannot set IOPL, VM, RF... as the kernel filters them */
        r->eflags = (c->eflags & 0x0cd5u) | 0x202u | (c->eflags & 0x40000u);
    }
    if ((c->flags & DX_CONTEXT_FLOATING) == DX_CONTEXT_FLOATING) {
        memcpy(r->st, from.st, sizeof r->st);
        memcpy(r->fpu, from.fpu, sizeof r->fpu);
        memcpy(r->xmm, from.xmm, sizeof r->xmm);
        r->mxcsr = from.mxcsr;
    }
}
