/* The AMD64 CONTEXT record (0x4d0 bytes) into a dx_context. */
#include "internal.h"

#define FLTSAVE 0x100

void context_decode(const uint8_t *p, size_t n, dx_context *c)
{
    memset(c, 0, sizeof *c);
    c->flags = rd32(p + 0x30);
    c->mxcsr = rd32(p + 0x34);
    c->cs = rd16(p + 0x38);
    c->ds = rd16(p + 0x3a);
    c->es = rd16(p + 0x3c);
    c->fs = rd16(p + 0x3e);
    c->gs = rd16(p + 0x40);
    c->ss = rd16(p + 0x42);
    c->eflags = rd32(p + 0x44);
    uint64_t *dr[] = {&c->dr0, &c->dr1, &c->dr2, &c->dr3, &c->dr6, &c->dr7};
    for (int i = 0; i < 6; i++)
        *dr[i] = rd64(p + 0x48 + 8 * i);
    uint64_t *gpr[] = {&c->rax, &c->rcx, &c->rdx, &c->rbx, &c->rsp, &c->rbp, &c->rsi, &c->rdi,
                       &c->r8,  &c->r9,  &c->r10, &c->r11, &c->r12, &c->r13, &c->r14, &c->r15};
    for (int i = 0; i < 16; i++)
        *gpr[i] = rd64(p + 0x78 + 8 * i);
    c->rip = rd64(p + 0xf8);
    if (n < FLTSAVE + 512)
        return;
    const uint8_t *f = p + FLTSAVE;
    c->fcw = rd16(f);
    c->fsw = rd16(f + 2);
    c->ftw = f[4];
    c->fop = rd16(f + 6);
    c->fioff = rd32(f + 8);
    c->fiseg = rd16(f + 12);
    c->fooff = rd32(f + 16);
    c->foseg = rd16(f + 20);
    for (int i = 0; i < 8; i++)
        memcpy(c->st[i], f + 32 + 16 * i, 10);
    for (int i = 0; i < 16; i++)
        memcpy(c->xmm[i], f + 160 + 16 * i, 16);
}
