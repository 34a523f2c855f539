/* Windows' AMD64 records both ways: CONTEXT (0x4d0 bytes) and a
 * dx_context, EXCEPTION_RECORD64 (0x98 bytes) and a dx_exception. */
#include "internal.h"
#include "winnt_layout.h"

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v), wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v), wr32(p + 4, (uint32_t)(v >> 32)); }

/* In CONTEXT's order (Rax, Rcx, Rdx, Rbx, ...), not gdb's. */
#define GPRS(c) {&(c)->rax, &(c)->rcx, &(c)->rdx, &(c)->rbx, &(c)->rsp, &(c)->rbp, &(c)->rsi, &(c)->rdi, \
                 &(c)->r8,  &(c)->r9,  &(c)->r10, &(c)->r11, &(c)->r12, &(c)->r13, &(c)->r14, &(c)->r15}

void dx_context_decode(const uint8_t *p, size_t n, dx_context *c)
{
    memset(c, 0, sizeof *c);
    c->flags = rd32(p + CTX_CONTEXT_FLAGS);
    c->mxcsr = rd32(p + CTX_MXCSR);
    c->cs = rd16(p + CTX_SEG_CS);
    c->ds = rd16(p + CTX_SEG_DS);
    c->es = rd16(p + CTX_SEG_ES);
    c->fs = rd16(p + CTX_SEG_FS);
    c->gs = rd16(p + CTX_SEG_GS);
    c->ss = rd16(p + CTX_SEG_SS);
    c->eflags = rd32(p + CTX_EFLAGS);
    uint64_t *dr[] = {&c->dr0, &c->dr1, &c->dr2, &c->dr3, &c->dr6, &c->dr7};
    for (int i = 0; i < 6; i++)
        *dr[i] = rd64(p + CTX_DR0 + 8 * i);
    uint64_t *gpr[] = GPRS(c);
    for (int i = 0; i < 16; i++)
        *gpr[i] = rd64(p + CTX_RAX + 8 * i);
    c->rip = rd64(p + CTX_RIP);
    if (n < CTX_FLTSAVE + 512)
        return;
    const uint8_t *f = p + CTX_FLTSAVE;
    c->fcw = rd16(f + FLT_CONTROL_WORD);
    c->fsw = rd16(f + FLT_STATUS_WORD);
    c->ftw = f[FLT_TAG_WORD];
    c->fop = rd16(f + FLT_ERROR_OPCODE);
    c->fioff = rd32(f + FLT_ERROR_OFFSET);
    c->fiseg = rd16(f + FLT_ERROR_SELECTOR);
    c->fooff = rd32(f + FLT_DATA_OFFSET);
    c->foseg = rd16(f + FLT_DATA_SELECTOR);
    for (int i = 0; i < 8; i++)
        memcpy(c->st[i], f + FLT_FLOAT_REGISTERS + 16 * i, 10);
    for (int i = 0; i < 16; i++)
        memcpy(c->xmm[i], f + FLT_XMM_REGISTERS + 16 * i, 16);
}

void dx_context_encode(const dx_context *c, uint8_t *p)
{
    memset(p, 0, CTX_SIZE);
    wr32(p + CTX_CONTEXT_FLAGS, c->flags);
    wr32(p + CTX_MXCSR, c->mxcsr);
    wr16(p + CTX_SEG_CS, c->cs);
    wr16(p + CTX_SEG_DS, c->ds);
    wr16(p + CTX_SEG_ES, c->es);
    wr16(p + CTX_SEG_FS, c->fs);
    wr16(p + CTX_SEG_GS, c->gs);
    wr16(p + CTX_SEG_SS, c->ss);
    wr32(p + CTX_EFLAGS, c->eflags);
    const uint64_t dr[] = {c->dr0, c->dr1, c->dr2, c->dr3, c->dr6, c->dr7};
    for (int i = 0; i < 6; i++)
        wr64(p + CTX_DR0 + 8 * i, dr[i]);
    const uint64_t *gpr[] = GPRS(c);
    for (int i = 0; i < 16; i++)
        wr64(p + CTX_RAX + 8 * i, *gpr[i]);
    wr64(p + CTX_RIP, c->rip);
    uint8_t *f = p + CTX_FLTSAVE;
    wr16(f + FLT_CONTROL_WORD, c->fcw);
    wr16(f + FLT_STATUS_WORD, c->fsw);
    f[FLT_TAG_WORD] = c->ftw;
    wr16(f + FLT_ERROR_OPCODE, c->fop);
    wr32(f + FLT_ERROR_OFFSET, c->fioff);
    wr16(f + FLT_ERROR_SELECTOR, c->fiseg);
    wr32(f + FLT_DATA_OFFSET, c->fooff);
    wr16(f + FLT_DATA_SELECTOR, c->foseg);
    wr32(f + FLT_MXCSR, c->mxcsr);
    wr32(f + FLT_MXCSR_MASK, 0xffff);
    for (int i = 0; i < 8; i++)
        memcpy(f + FLT_FLOAT_REGISTERS + 16 * i, c->st[i], 10);
    for (int i = 0; i < 16; i++)
        memcpy(f + FLT_XMM_REGISTERS + 16 * i, c->xmm[i], 16);
}

void dx_exception_record_decode(const uint8_t *p, dx_exception *x)
{
    x->code = rd32(p + EXR_CODE);
    x->flags = rd32(p + EXR_FLAGS);
    x->record = rd64(p + EXR_RECORD);
    x->address = rd64(p + EXR_ADDRESS);
    x->nparams = rd32(p + EXR_NUMBER_PARAMETERS);
    if (x->nparams > EXR_MAX_PARAMETERS)
        x->nparams = EXR_MAX_PARAMETERS;
    memset(x->params, 0, sizeof x->params);
    for (uint32_t i = 0; i < x->nparams; i++)
        x->params[i] = rd64(p + EXR_INFORMATION + 8 * i);
}

void dx_exception_record_encode(const dx_exception *x, uint8_t *p)
{
    memset(p, 0, EXR_SIZE);
    uint32_t n = x->nparams < EXR_MAX_PARAMETERS ? x->nparams : EXR_MAX_PARAMETERS;
    wr32(p + EXR_CODE, x->code);
    wr32(p + EXR_FLAGS, x->flags);
    wr64(p + EXR_RECORD, x->record);
    wr64(p + EXR_ADDRESS, x->address);
    wr32(p + EXR_NUMBER_PARAMETERS, n);
    for (uint32_t i = 0; i < n; i++)
        wr64(p + EXR_INFORMATION + 8 * i, x->params[i]);
}
