/* Capstone: one-instruction disassembly for stops, and finding the exact
 * faulting instruction of a block. */
#include "internal.h"

#include <capstone/capstone.h>
#include <string.h>

#define MAX_INSN 16
#define MAX_BLOCK 64

/* One handle per executor: opening one rebuilds capstone's tables, which
 * cost a quarter of a step's time when done per stop. */
static csh capstone(dx_exec *e)
{
    if (!e->cs) {
        csh cs = 0;
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
            return 0;
        cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
        e->cs = cs;
    }
    return e->cs;
}

void disasm_close(dx_exec *e)
{
    csh cs = e->cs;
    if (cs)
        cs_close(&cs);
    e->cs = 0;
}

int disasm_one(dx_exec *e, uint64_t addr, char *out, size_t outlen)
{
    uint8_t code[MAX_INSN];
    size_t n = dx_exec_read(e, addr, code, sizeof code);
    csh cs = capstone(e);
    cs_insn *insn = NULL;
    int len = -1;
    if (cs && n && cs_disasm(cs, code, n, addr, 1, &insn) == 1) {
        snprintf(out, outlen, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
        len = insn->size;
        cs_free(insn, 1);
    } else {
        snprintf(out, outlen, n ? "(bad instruction)" : "(memory not readable)");
    }
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

/* addr as Unicorn reports it (UC_ADDR_MASK) against an access at ea. */
static bool touches(uint64_t ea, uint64_t size, uint64_t addr)
{
    return ((addr - ea) & UC_ADDR_MASK) < (size ? size : 8);
}

/* The general register (0-15, dx_regs order) that r is part of, or -1. */
static int gpr_of(x86_reg r)
{
    static const x86_reg regs[16][4] = {
        {X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL},     {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL},
        {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL},     {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL},
        {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},    {X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
        {X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL},    {X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL},
        {X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B},    {X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B},
        {X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B}, {X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B},
        {X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B}, {X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B},
        {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B}, {X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B},
    };
    if (r == X86_REG_AH || r == X86_REG_BH || r == X86_REG_CH || r == X86_REG_DH)
        return r == X86_REG_AH ? 0 : r == X86_REG_BH ? 1 : r == X86_REG_CH ? 2 : 3;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 4; j++)
            if (regs[i][j] == r)
                return i;
    return -1;
}

static uint32_t reg_bit(x86_reg r)
{
    int g = gpr_of(r);
    return g < 0 ? 0 : 1u << g;
}

static bool is_string_insn(const cs_insn *insn)
{
    return strstr(insn->mnemonic, "movs") || strstr(insn->mnemonic, "stos") || strstr(insn->mnemonic, "lods") ||
           strstr(insn->mnemonic, "cmps") || strstr(insn->mnemonic, "scas");
}

/* Does this instruction, with the registers as they are now, access addr
 * the way the fault did? *uses gets the registers its address came from,
 * *ea the address it computes. */
static bool insn_accesses(const dx_regs *r, const cs_insn *insn, uint64_t addr, dx_access access, uint32_t *uses,
                          uint64_t *ea)
{
    const cs_x86 *x = &insn->detail->x86;
    uint64_t next = insn->address + insn->size;
    uint8_t want = access == DX_ACCESS_WRITE ? CS_AC_WRITE : CS_AC_READ;
    *uses = 0;
    for (int i = 0; i < x->op_count; i++) {
        const cs_x86_op *op = &x->operands[i];
        uint64_t base, index;
        if (op->type != X86_OP_MEM || insn->id == X86_INS_LEA || (op->access && !(op->access & want)) ||
            !reg_value(r, op->mem.base, next, &base) || !reg_value(r, op->mem.index, next, &index))
            continue;
        *ea = base + index * (uint64_t)op->mem.scale + (uint64_t)op->mem.disp;
        if (op->mem.segment == X86_REG_GS)
            *ea += r->gs_base;
        else if (op->mem.segment == X86_REG_FS)
            *ea += r->fs_base;
        if (touches(*ea, op->size, addr)) {
            *uses = reg_bit(op->mem.base) | reg_bit(op->mem.index);
            return true;
        }
    }
    *ea = r->gpr[DX_REG_RSP];
    *uses = 1u << DX_REG_RSP;
    switch (insn->id) {
    case X86_INS_PUSH: case X86_INS_CALL: case X86_INS_PUSHFQ: return touches(*ea -= 8, 8, addr);
    case X86_INS_POP: case X86_INS_RET: case X86_INS_POPFQ: return touches(*ea, 8, addr);
    default: break;
    }
    /* String instructions address through RSI and RDI. */
    *uses = 1u << DX_REG_RSI | 1u << DX_REG_RDI;
    if (!is_string_insn(insn))
        return false;
    *ea = r->gpr[DX_REG_RDI];
    if (touches(*ea, 16, addr))
        return true;
    *ea = r->gpr[DX_REG_RSI];
    return touches(*ea, 16, addr);
}

/* Unicorn stops a fault with the registers as they were just before the
 * faulting instruction, but RIP left wherever it last synced; run() tracks
 * the block executing. In that block, an instruction that accesses the
 * fault address with those registers is a candidate. An earlier candidate
 * is taken only if nothing between it and the next candidate changes the
 * registers its address came from: otherwise they held other values when
 * it ran, and the later candidate is the one. */
uint64_t fault_locate(dx_exec *e, uint64_t block_start, uint64_t fault_addr, dx_access access)
{
    uint8_t code[MAX_BLOCK * MAX_INSN];
    size_t n = dx_exec_read(e, block_start, code, sizeof code);
    csh cs = capstone(e);
    if (!cs)
        return block_start;
    cs_insn *insn = cs_malloc(cs);
    const uint8_t *p = code;
    uint64_t at = block_start, found = block_start;
    const dx_regs *r = &e->regs[e->cur];
    bool have = false, consistent = false;
    uint32_t found_uses = 0; /* the registers found's address came from */
    for (int i = 0; i < MAX_BLOCK && cs_disasm_iter(cs, &p, &n, &at, insn); i++) {
        uint32_t uses;
        uint64_t ea;
        if (insn_accesses(r, insn, fault_addr, access, &uses, &ea)) {
            if (have && consistent)
                break; /* nothing changed the earlier candidate's registers */
            found = insn->address, have = true, consistent = true, found_uses = uses;
        }
        cs_regs rd, wr;
        uint8_t nrd, nwr;
        if (have && consistent && insn->address != found &&
            cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) == CS_ERR_OK)
            for (int k = 0; k < nwr; k++)
                if (reg_bit(wr[k]) & found_uses)
                    consistent = false; /* its registers differed when it ran: look further */
        if (cs_insn_group(cs, insn, CS_GRP_JUMP) || cs_insn_group(cs, insn, CS_GRP_CALL) ||
            cs_insn_group(cs, insn, CS_GRP_RET))
            break;
    }
    cs_free(insn, 1);
    return found;
}

/* The address a fault at pc really was: Unicorn reports only its low 52
 * bits, which for a wild pointer (0xdeadbeefdeadbeef) or a kernel address
 * name some other place. */
uint64_t fault_address(dx_exec *e, uint64_t pc, uint64_t addr, dx_access access)
{
    uint8_t code[MAX_INSN];
    size_t n = dx_exec_read(e, pc, code, sizeof code);
    csh cs = capstone(e);
    if (!cs || !n)
        return addr;
    cs_insn *insn = cs_malloc(cs);
    const uint8_t *p = code;
    uint64_t at = pc, ea;
    uint32_t uses;
    if (cs_disasm_iter(cs, &p, &n, &at, insn) && insn_accesses(&e->regs[e->cur], insn, addr, access, &uses, &ea))
        addr = ea + ((addr - ea) & UC_ADDR_MASK);
    cs_free(insn, 1);
    return addr;
}
