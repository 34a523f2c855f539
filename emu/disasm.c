/* Capstone: one-instruction disassembly for stops, and finding the exact
 * faulting instruction of a block. */
#include "internal.h"

#include <capstone/capstone.h>
#include <string.h>

#define MAX_INSN 16
#define MAX_BLOCK 64

static csh open_capstone(void)
{
    csh cs = 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
        return 0;
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    return cs;
}

int disasm_one(dx_exec *e, uint64_t addr, char *out, size_t outlen)
{
    uint8_t code[MAX_INSN];
    size_t n = dx_exec_read(e, addr, code, sizeof code);
    csh cs = open_capstone();
    cs_insn *insn = NULL;
    int len = -1;
    if (cs && n && cs_disasm(cs, code, n, addr, 1, &insn) == 1) {
        snprintf(out, outlen, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
        len = insn->size;
        cs_free(insn, 1);
    } else {
        snprintf(out, outlen, n ? "(bad instruction)" : "(memory not readable)");
    }
    if (cs)
        cs_close(&cs);
    return len;
}

int dx_exec_insn_length(dx_exec *e, uint64_t addr)
{
    char text[200];
    return disasm_one(e, addr, text, sizeof text);
}

void stop_fill_insn(dx_exec *e, dx_stop *stop)
{
    if (stop->kind == DX_STOP_RETURNED)
        return;
    disasm_one(e, stop->pc, stop->insn, sizeof stop->insn);
}

/* The value of a register that can form an address. */
static bool reg_value(const dx_regs *r, x86_reg reg, uint64_t next_ip, uint64_t *v)
{
    static const x86_reg r64[16] = {X86_REG_RAX, X86_REG_RBX, X86_REG_RCX, X86_REG_RDX, X86_REG_RSI, X86_REG_RDI,
                                    X86_REG_RBP, X86_REG_RSP, X86_REG_R8,  X86_REG_R9,  X86_REG_R10, X86_REG_R11,
                                    X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15};
    static const x86_reg r32[16] = {X86_REG_EAX, X86_REG_EBX, X86_REG_ECX,  X86_REG_EDX,  X86_REG_ESI,  X86_REG_EDI,
                                    X86_REG_EBP, X86_REG_ESP, X86_REG_R8D,  X86_REG_R9D,  X86_REG_R10D, X86_REG_R11D,
                                    X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D};
    if (reg == X86_REG_INVALID) {
        *v = 0;
        return true;
    }
    if (reg == X86_REG_RIP) {
        *v = next_ip;
        return true;
    }
    for (int i = 0; i < 16; i++) {
        if (reg == r64[i]) {
            *v = r->gpr[i];
            return true;
        }
        if (reg == r32[i]) {
            *v = (uint32_t)r->gpr[i];
            return true;
        }
    }
    return false;
}

static bool touches(uint64_t ea, uint64_t size, uint64_t addr) { return addr - ea < (size ? size : 8); }

/* Does this instruction, with the registers as they are now, access addr? */
static bool insn_accesses(const dx_regs *r, const cs_insn *insn, uint64_t addr)
{
    const cs_x86 *x = &insn->detail->x86;
    uint64_t next = insn->address + insn->size;
    for (int i = 0; i < x->op_count; i++) {
        const cs_x86_op *op = &x->operands[i];
        uint64_t base, index;
        if (op->type != X86_OP_MEM || !reg_value(r, op->mem.base, next, &base) ||
            !reg_value(r, op->mem.index, next, &index))
            continue;
        uint64_t ea = base + index * (uint64_t)op->mem.scale + (uint64_t)op->mem.disp;
        if (op->mem.segment == X86_REG_GS)
            ea += r->gs_base;
        else if (op->mem.segment == X86_REG_FS)
            ea += r->fs_base;
        if (touches(ea, op->size, addr))
            return true;
    }
    uint64_t rsp = r->gpr[DX_REG_RSP];
    switch (insn->id) {
    case X86_INS_PUSH: case X86_INS_CALL: case X86_INS_PUSHFQ: return touches(rsp - 8, 8, addr);
    case X86_INS_POP: case X86_INS_RET: case X86_INS_POPFQ: return touches(rsp, 8, addr);
    default: break;
    }
    /* String instructions address through RSI and RDI. */
    return strstr(insn->mnemonic, "movs") || strstr(insn->mnemonic, "stos") || strstr(insn->mnemonic, "lods") ||
                   strstr(insn->mnemonic, "cmps") || strstr(insn->mnemonic, "scas")
               ? touches(r->gpr[DX_REG_RDI], 16, addr) || touches(r->gpr[DX_REG_RSI], 16, addr)
               : false;
}

/* Unicorn reports a memory fault at the start of its translation block,
 * with the registers as they were just before the faulting instruction.
 * The first instruction of the block that accesses the fault address with
 * those registers is the one. */
uint64_t fault_locate(dx_exec *e, uint64_t block_start, uint64_t fault_addr)
{
    uint8_t code[MAX_BLOCK * MAX_INSN];
    size_t n = dx_exec_read(e, block_start, code, sizeof code);
    csh cs = open_capstone();
    if (!cs)
        return block_start;
    cs_insn *insn = cs_malloc(cs);
    const uint8_t *p = code;
    uint64_t at = block_start, found = block_start;
    const dx_regs *r = &e->regs[e->cur];
    for (int i = 0; i < MAX_BLOCK && cs_disasm_iter(cs, &p, &n, &at, insn); i++) {
        if (insn_accesses(r, insn, fault_addr)) {
            found = insn->address;
            break;
        }
        if (cs_insn_group(cs, insn, CS_GRP_JUMP) || cs_insn_group(cs, insn, CS_GRP_CALL) ||
            cs_insn_group(cs, insn, CS_GRP_RET))
            break;
    }
    cs_free(insn, 1);
    cs_close(&cs);
    return found;
}
