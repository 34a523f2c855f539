/* The baseline: bare Unicorn running the fixture's code from the same dump
 * bytes, with no hooks at all (or one counting hook, to count). */
#include "raw.h"

#include <stdlib.h>
#include <string.h>

#define RAW_STACK 0x10000000ull
#define RAW_STACK_SIZE 0x100000ull
#define RAW_RET 0x20000000ull

static void on_code(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
    (void)uc, (void)addr, (void)size;
    ++*(uint64_t *)user;
}

int raw_open(raw_uc *r, const dx_dump *d, const char *module, bool counting)
{
    memset(r, 0, sizeof *r);
    const dx_module *m = dx_dump_find_module(d, module);
    if (!m || uc_open(UC_ARCH_X86, UC_MODE_64, &r->uc) != UC_ERR_OK)
        return -1;
    uint64_t size = ((uint64_t)m->size + 0xfff) & ~0xfffull;
    uint8_t *img = calloc(1, size);
    int rc = img ? 0 : -1;
    /* The image as captured: copy what the dump holds of it. */
    for (uint64_t at = 0; rc == 0 && at < size; at += 0x1000)
        dx_dump_read(d, m->base + at, img + at, 0x1000);
    if (rc == 0 && (uc_mem_map(r->uc, m->base, size, UC_PROT_ALL) != UC_ERR_OK ||
                    uc_mem_write(r->uc, m->base, img, size) != UC_ERR_OK ||
                    uc_mem_map(r->uc, RAW_STACK, RAW_STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE) != UC_ERR_OK ||
                    uc_mem_map(r->uc, RAW_RET, 0x1000, UC_PROT_ALL) != UC_ERR_OK))
        rc = -1;
    free(img);
    static const uint8_t int3s[16] = {0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
                                      0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc};
    if (rc == 0)
        uc_mem_write(r->uc, RAW_RET, int3s, sizeof int3s);
    if (rc == 0 && counting) {
        uc_hook h;
        if (uc_hook_add(r->uc, &h, UC_HOOK_CODE, on_code, &r->count, 1, 0) != UC_ERR_OK)
            rc = -1;
    }
    if (rc != 0) {
        uc_close(r->uc);
        r->uc = NULL;
    }
    return rc;
}

int raw_call(raw_uc *r, uint64_t fn, const uint64_t *args, int nargs, uint64_t *rax)
{
    static const int regs[4] = {UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_R8, UC_X86_REG_R9};
    uint64_t rsp = RAW_STACK + RAW_STACK_SIZE - 0x1000 - 8, ret = RAW_RET;
    uc_mem_write(r->uc, rsp, &ret, 8);
    for (int i = 0; i < nargs && i < 4; i++)
        uc_reg_write(r->uc, regs[i], &args[i]);
    uc_reg_write(r->uc, UC_X86_REG_RSP, &rsp);
    if (uc_emu_start(r->uc, fn, RAW_RET, 0, 0) != UC_ERR_OK)
        return -1;
    uint64_t pc;
    uc_reg_read(r->uc, UC_X86_REG_RIP, &pc);
    if (pc != RAW_RET)
        return -1;
    if (rax)
        uc_reg_read(r->uc, UC_X86_REG_RAX, rax);
    return 0;
}

void raw_close(raw_uc *r)
{
    if (r->uc)
        uc_close(r->uc);
    r->uc = NULL;
}
