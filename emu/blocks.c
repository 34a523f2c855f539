/* Instructions per translated block, so that a block hook can count what a
 * run executes without a hook per instruction. Unicorn tells a block's
 * address and size; the count comes from decoding it once, then from a
 * direct-mapped cache. A run that stops inside a block counts the
 * instructions before the stopping one (blocks_settle). */
#include "internal.h"

#include <capstone/capstone.h>
#include <string.h>

#define MAX_TB_BYTES 0x2000 /* a block spans at most two pages */

static csh counting_capstone(dx_exec *e)
{
    if (!e->blocks.cs) {
        csh cs = 0;
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
            return 0;
        e->blocks.cs = cs; /* no detail: counting needs lengths only */
    }
    return e->blocks.cs;
}

void blocks_close(dx_exec *e)
{
    csh cs = e->blocks.cs;
    if (cs)
        cs_close(&cs);
    e->blocks.cs = 0;
    blocks_forget(e);
    e->blocks.last_addr = 0;
}

/* Code may have changed where blocks were counted: a new generation
 * (a call's own writes do this twice, so no clearing of the cache). */
void blocks_forget(dx_exec *e)
{
    e->blocks.generation++;
    e->blocks.within_block = 0;
}

/* Instructions from start up to (not including) stop, decoding at most
 * size bytes; stop == 0 counts the whole block. */
static uint32_t decode_count(dx_exec *e, uint64_t start, uint32_t size, uint64_t stop)
{
    uint8_t code[MAX_TB_BYTES];
    if (size > sizeof code)
        size = sizeof code;
    size_t n = dx_exec_read(e, start, code, size);
    csh cs = counting_capstone(e);
    if (!cs || !n)
        return 1;
    cs_insn *insn = cs_malloc(cs);
    if (!insn)
        return 1;
    const uint8_t *p = code;
    uint64_t at = start;
    uint32_t count = 0;
    while ((!stop || at < stop) && cs_disasm_iter(cs, &p, &n, &at, insn))
        count++;
    cs_free(insn, 1);
    return count ? count : 1;
}

uint32_t blocks_count_miss(dx_exec *e, uint64_t addr, uint32_t size, size_t slot)
{
    block_counts *b = &e->blocks;
    b->addr[slot] = addr;
    b->gen[slot] = b->generation;
    b->size[slot] = size;
    b->count[slot] = decode_count(e, addr, size, 0);
    return b->count[slot];
}

/* Instructions of the last block before pc; the last answer is kept: a
 * loop around a system call stops at the same place each time. */
static uint32_t before_in_block(dx_exec *e, uint64_t pc)
{
    block_counts *b = &e->blocks;
    if (pc == b->last_addr)
        return 0;
    if (b->within_block != b->last_addr || b->within_pc != pc) {
        b->within_block = b->last_addr;
        b->within_pc = pc;
        b->within_count = decode_count(e, b->last_addr, b->last_size, pc);
    }
    return b->within_count;
}

/* The block hook counted the whole block before it ran; where the run
 * stopped inside it (RIP at the instruction that did not run), only the
 * instructions before RIP ran. A RIP outside the block is past its end.
 * A stop the block hook asked for comes before the block runs. */
void blocks_settle(dx_exec *e)
{
    block_counts *b = &e->blocks;
    if (!b->last_addr)
        return;
    uint64_t rip = e->regs[e->cur].rip;
    if (b->stop_requested)
        e->pos = b->last_pos;
    else if (rip >= b->last_addr && rip < b->last_addr + b->last_size)
        e->pos = b->last_pos + before_in_block(e, rip);
    b->last_addr = 0;
    b->stop_requested = false;
}

/* The position at pc, inside the block executing now. */
uint64_t blocks_position_at(dx_exec *e, uint64_t pc)
{
    block_counts *b = &e->blocks;
    if (!b->last_addr || pc < b->last_addr || pc >= b->last_addr + b->last_size)
        return e->pos;
    return b->last_pos + before_in_block(e, pc);
}
