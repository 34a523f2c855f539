/* The executor's life: threads and registers from the dump, the Unicorn
 * engine created on first need, and reset. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Each engine reserves its translation buffer up front; pages of it become
 * resident as code is translated, and all of it at a flush (Unicorn 2.1.1
 * zeroes it), which a switch between stepping and running needs (run.c):
 * 8 MiB holds the code of a typical call many times over and flushes in
 * about 1.5 ms. */
#define DEFAULT_CODE_BUFFER_KB 8192

/* Every thread's registers as the dump has them. On failure (out of
 * memory) the executor keeps the threads it had. */
static int load_threads(dx_exec *e)
{
    size_t n = dx_dump_thread_count(e->dump), count = n ? n : 1, cur = 0;
    uint32_t *tids = calloc(count, sizeof *tids);
    dx_regs *regs = calloc(count, sizeof *regs);
    if (!tids || !regs) {
        free(tids);
        free(regs);
        return -1;
    }
    if (!n) { /* a dump without threads still gets one to run calls on */
        tids[0] = 1;
        dx_regs_from_context(&regs[0], &(dx_context){0}, 0);
    }
    const dx_thread *def = dx_dump_default_thread(e->dump);
    for (size_t i = 0; i < n; i++) {
        const dx_thread *t = dx_dump_thread(e->dump, i);
        const dx_context *c = dx_dump_thread_context(e->dump, t);
        tids[i] = t->tid;
        dx_regs_from_context(&regs[i], c ? c : &(dx_context){0}, t->teb);
        if (t == def)
            cur = i;
    }
    free(e->tids);
    free(e->regs);
    e->tids = tids;
    e->regs = regs;
    e->nthreads = count;
    e->cur = cur;
    return 0;
}

int dx_exec_new(const dx_dump *d, const dx_exec_options *o, dx_exec **out, char *err, size_t errlen)
{
    dx_exec *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->dump = d;
    if (o)
        e->opt = *o;
    size_t nmod = dx_dump_module_count(d);
    e->modsec = calloc(nmod ? nmod : 1, sizeof *e->modsec);
    if (!e->modsec || load_threads(e) != 0) {
        dx_exec_free(e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nmod; i++)
        e->modsec[i].count = -2;
    atomic_init(&e->interrupt, false);
    atomic_init(&e->running, false);
    atomic_init(&e->outside_stop, false);
    e->pause_at = UINT64_MAX;
    *out = e;
    return 0;
}

void dx_exec_free(dx_exec *e)
{
    if (!e)
        return;
    dx_exec_coverage_stop(e);
    dx_exec_tenet(e, NULL);
    history_free(e);
    engine_close(e);
    disasm_close(e);
    blocks_close(e);
    trace_free(e->trace);
    free(e->tids);
    free(e->regs);
    free(e->chunks);
    free(e->modsec);
    free(e->bps);
    free(e->stubs);
    free(e->watches);
    free(e->armed);
    free(e);
}

const dx_dump *dx_exec_dump(const dx_exec *e) { return e->dump; }
dx_exec_options *dx_exec_options_of(dx_exec *e) { return &e->opt; }

/* Drop every translated block, if there are any. Dropping only the blocks
 * of a range (uc_ctl_remove_cache) would keep Unicorn 2.1.1 from zeroing,
 * and so making resident, its whole code buffer at each flush, but that
 * buffer then fills with dead blocks until Unicorn flushes it in the
 * middle of a run, and 2.1.1 then chains a jump to a block that is gone
 * and crashes (upstream issues 1923 and 2048; fuzz_rsp found it here).
 * Unmapping memory that translated blocks came from crashes it too
 * (tb_invalidate_phys_range; fuzz_nt): memory.c flushes first. */
void engine_drop_translations(dx_exec *e)
{
    if (!e->uc || !e->translated)
        return;
    uc_ctl_flush_tb(e->uc);
    e->translated = false;
    blocks_forget(e);
}

void engine_close(dx_exec *e)
{
    if (e->clean)
        uc_context_free(e->clean);
    e->clean = NULL;
    if (e->uc)
        uc_close(e->uc);
    e->uc = NULL;
    e->step_hook = e->count_hook = e->block_hook = 0;
    e->translated = false;
    e->narmed = 0;
    mem_free(e);
}

/* Back to the dump: drop every written page and every thread's changes.
 * The engine stays, with its hooks and translation buffer: a new one costs
 * far more than unmapping what the session paged in. */
int dx_exec_reset(dx_exec *e, char *err, size_t errlen)
{
    uint32_t tid = dx_exec_current_thread(e);
    if (load_threads(e) != 0) {
        if (err)
            snprintf(err, errlen, "out of memory for the threads' registers");
        return -1;
    }
    dx_exec_select_thread(e, tid);
    history_reset(e);
    if (e->uc) {
        uint64_t scratch = e->scratch;
        /* Unmapping drops the code translated from it. An engine that cannot
         * unmap or map its scratch area anew is made anew on next need. */
        if (mem_unmap_all(e) != 0 || mem_map_scratch(e) != 0) {
            engine_close(e);
            return 0;
        }
        if (e->clean)
            uc_context_restore(e->uc, e->clean);
        e->cpu_dirty = false;
        if (e->scratch != scratch && e->sentinel_hook) {
            uc_hook_del(e->uc, e->sentinel_hook);
            e->sentinel_hook = 0;
        }
    }
    return 0;
}

int dx_exec_select_thread(dx_exec *e, uint32_t tid)
{
    for (size_t i = 0; i < e->nthreads; i++) {
        if (e->tids[i] == tid) {
            e->cur = i;
            return 0;
        }
    }
    return -1;
}

uint32_t dx_exec_current_thread(const dx_exec *e) { return e->tids ? e->tids[e->cur] : 0; }

size_t dx_exec_threads(const dx_exec *e, uint32_t *tids, size_t max)
{
    for (size_t i = 0; i < e->nthreads && i < max; i++)
        tids[i] = e->tids[i];
    return e->nthreads < max ? e->nthreads : max;
}

uint16_t dx_exec_code_selector(dx_exec *e)
{
    uint64_t cs = 0;
    if (e->uc)
        uc_reg_read(e->uc, UC_X86_REG_CS, &cs);
    return (uint16_t)cs;
}

dx_regs *dx_exec_regs(dx_exec *e, uint32_t tid)
{
    for (size_t i = 0; i < e->nthreads; i++)
        if (e->tids[i] == tid)
            return &e->regs[i];
    return NULL;
}

/* Unicorn ids in dx_regs order, for the registers a run uses. */
static const int uc_gpr[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RSI, UC_X86_REG_RDI,
    UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

#define NREG_IDS (16 + 2 + 8 + 16 + 1 + 2 + 3)

/* One table serves both directions of the copy. Segment selectors stay
 * out: in 64-bit mode only the FS and GS bases matter, and writing
 * selectors would make Unicorn consult descriptor tables we do not have. */
static int reg_table(dx_regs *r, int *ids, void **ptrs)
{
    int n = 0;
    for (int i = 0; i < 16; i++) {
        ids[n] = uc_gpr[i];
        ptrs[n++] = &r->gpr[i];
    }
    ids[n] = UC_X86_REG_RIP, ptrs[n++] = &r->rip;
    ids[n] = UC_X86_REG_EFLAGS, ptrs[n++] = &r->eflags;
    for (int i = 0; i < 8; i++)
        ids[n] = UC_X86_REG_ST0 + i, ptrs[n++] = r->st[i];
    for (int i = 0; i < 16; i++)
        ids[n] = UC_X86_REG_XMM0 + i, ptrs[n++] = r->xmm[i];
    ids[n] = UC_X86_REG_MXCSR, ptrs[n++] = &r->mxcsr;
    ids[n] = UC_X86_REG_FS_BASE, ptrs[n++] = &r->fs_base;
    ids[n] = UC_X86_REG_GS_BASE, ptrs[n++] = &r->gs_base;
    ids[n] = UC_X86_REG_FPCW, ptrs[n++] = &r->fpu[0];
    ids[n] = UC_X86_REG_FPSW, ptrs[n++] = &r->fpu[1];
    ids[n] = UC_X86_REG_FPTAG, ptrs[n++] = &r->fpu[2];
    return n;
}

void regs_to_uc(dx_exec *e)
{
    int ids[NREG_IDS];
    void *ptrs[NREG_IDS];
    dx_regs *r = &e->regs[e->cur];
    /* EFLAGS is 32 bits in dx_regs; Unicorn reads 64. */
    uint64_t eflags = r->eflags;
    int n = reg_table(r, ids, ptrs);
    ptrs[17] = &eflags;
    uint64_t fpu[3] = {r->fpu[0], r->fpu[1], r->fpu[2]};
    ptrs[n - 3] = &fpu[0], ptrs[n - 2] = &fpu[1], ptrs[n - 1] = &fpu[2];
    uc_reg_write_batch(e->uc, ids, ptrs, n);
}

void regs_from_uc(dx_exec *e)
{
    int ids[NREG_IDS];
    void *ptrs[NREG_IDS];
    dx_regs *r = &e->regs[e->cur];
    uint64_t eflags = 0, fpu[3] = {0};
    int n = reg_table(r, ids, ptrs);
    ptrs[17] = &eflags;
    ptrs[n - 3] = &fpu[0], ptrs[n - 2] = &fpu[1], ptrs[n - 1] = &fpu[2];
    uc_reg_read_batch(e->uc, ids, ptrs, n);
    r->eflags = (uint32_t)eflags;
    r->fpu[0] = (uint32_t)fpu[0], r->fpu[1] = (uint32_t)fpu[1], r->fpu[2] = (uint32_t)fpu[2];
}

int engine_ensure(dx_exec *e, char *err, size_t errlen)
{
    if (e->uc)
        return 0;
    uc_err rc = uc_open(UC_ARCH_X86, UC_MODE_64, &e->uc);
    if (rc != UC_ERR_OK) {
        snprintf(err, errlen, "cannot create the emulator: %s", uc_strerror(rc));
        e->uc = NULL;
        return -1;
    }
    uint32_t kb = e->opt.code_buffer_kb ? e->opt.code_buffer_kb : DEFAULT_CODE_BUFFER_KB;
    kb = kb < 64 ? 64 : kb > (1u << 20) ? 1u << 20 : kb;
    rc = uc_ctl_set_tcg_buffer_size(e->uc, kb << 10);
    /* No exit addresses: uc_emu_start's `until` (0) would end a run that
     * jumps to address 0 as if nothing had happened. */
    if (rc == UC_ERR_OK)
        rc = uc_ctl_exits_enable(e->uc);
    if (rc != UC_ERR_OK) {
        snprintf(err, errlen, "cannot set up the emulator: %s", uc_strerror(rc));
        engine_close(e);
        return -1;
    }
    if (engine_hooks(e, err, errlen) != 0) {
        engine_close(e);
        return -1;
    }
    if (uc_context_alloc(e->uc, &e->clean) == UC_ERR_OK)
        uc_context_save(e->uc, e->clean);
    if (mem_map_scratch(e) != 0) {
        snprintf(err, errlen, "no free address range for the scratch stack and heap");
        engine_close(e);
        return -1;
    }
    return 0;
}

int dx_exec_prepare(dx_exec *e, char *err, size_t errlen) { return engine_ensure(e, err, errlen); }
bool dx_exec_has_engine(const dx_exec *e) { return e->uc != NULL; }

void dx_exec_flush(dx_exec *e)
{
    e->translated = true;
    engine_drop_translations(e);
}
