/* Lazy, copy-on-write memory: nothing is mapped at start; the first touch of
 * a page maps the run of pages around it that the dump holds (up to a
 * 64 KiB chunk at first, one protection throughout) and copies the dump's
 * bytes in. Guest and debugger writes then change only this executor's copy. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_WRITECOPY 0x08
#define PAGE_EXECUTE 0x10
#define PAGE_EXECUTE_READ 0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define PAGE_EXECUTE_WRITECOPY 0x80

static uint32_t prot_from_windows(uint32_t p)
{
    switch (p & 0xff) {
    case PAGE_NOACCESS: return UC_PROT_NONE;
    case PAGE_READONLY: return UC_PROT_READ;
    case PAGE_READWRITE:
    case PAGE_WRITECOPY: return UC_PROT_READ | UC_PROT_WRITE;
    case PAGE_EXECUTE:
    case PAGE_EXECUTE_READ: return UC_PROT_READ | UC_PROT_EXEC;
    default: return UC_PROT_ALL;
    }
}

static const module_sections *sections_of(dx_exec *e, const dx_module *m)
{
    size_t i = (size_t)(m - dx_dump_module(e->dump, 0));
    module_sections *ms = &e->modsec[i];
    if (ms->count == -2)
        ms->count = dx_pe_sections(e->dump, m->base, ms->sec, 96);
    return ms;
}

/* Protection of a page: MemoryInfoList, else the PE section, else RWX. */
static uint32_t page_prot(dx_exec *e, uint64_t page)
{
    const dx_region *r = dx_dump_region_at(e->dump, page);
    if (r && r->state == DX_MEM_COMMIT)
        return prot_from_windows(r->protect);
    const dx_module *m = dx_dump_module_at(e->dump, page);
    if (!m)
        return UC_PROT_ALL;
    const module_sections *ms = sections_of(e, m);
    if (ms->count < 0)
        return UC_PROT_ALL;
    uint64_t rva = page - m->base;
    for (int i = 0; i < ms->count && i < 96; i++) {
        const dx_pe_section *s = &ms->sec[i];
        uint64_t size = (s->size + PAGE - 1) & ~(PAGE - 1);
        if (rva >= s->rva && rva - s->rva < size) {
            uint32_t p = UC_PROT_NONE;
            if (s->characteristics & DX_SCN_READ)
                p |= UC_PROT_READ;
            if (s->characteristics & DX_SCN_WRITE)
                p |= UC_PROT_WRITE;
            if (s->characteristics & DX_SCN_EXECUTE)
                p |= UC_PROT_EXEC | UC_PROT_READ;
            return p;
        }
    }
    return UC_PROT_READ; /* headers and gaps between sections */
}

/* Index of the first chunk ending above addr. */
static size_t chunk_index(const dx_exec *e, uint64_t addr)
{
    size_t lo = 0, hi = e->nchunks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->chunks[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool mem_is_mapped(const dx_exec *e, uint64_t addr, uint64_t *chunk_end)
{
    size_t i = chunk_index(e, addr);
    if (i < e->nchunks && e->chunks[i].start <= addr) {
        if (chunk_end)
            *chunk_end = e->chunks[i].end;
        return true;
    }
    if (chunk_end)
        *chunk_end = i < e->nchunks ? e->chunks[i].start : 0;
    return false;
}

static bool page_held(const dx_dump *d, uint64_t page)
{
    if (dx_dump_range_at(d, page))
        return true;
    const dx_range *next = dx_dump_range_after(d, page);
    return next && next->base < page + PAGE;
}

/* Chunks live in memory of our own, mapped from the system rather than
 * taken from malloc: a session's worker thread has a malloc arena of its
 * own, and freed guest memory stayed in those arenas (RSS that never came
 * back after sessions ended). An mmap comes zeroed and goes back to the
 * system at munmap. CHUNK-sized pieces a reset unmapped are kept for the
 * session's next run: a reset would otherwise map the same pieces again. */
static uint8_t *pages_new(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pages_free(uint8_t *mem, uint64_t size)
{
    if (mem)
        munmap(mem, size);
}

/* Memory for a chunk of size bytes, and whether it is known to be zeroed. */
static uint8_t *chunk_memory(dx_exec *e, uint64_t size, bool *zeroed)
{
    *zeroed = size > CHUNK || !e->nspare;
    if (size > CHUNK)
        return pages_new(size);
    return e->nspare ? e->spare[--e->nspare] : pages_new(CHUNK);
}

static void chunk_memory_done(dx_exec *e, uint8_t *mem, uint64_t size)
{
    if (mem && size <= CHUNK && e->nspare < sizeof e->spare / sizeof e->spare[0])
        e->spare[e->nspare++] = mem;
    else
        pages_free(mem, size <= CHUNK ? CHUNK : size);
}

static bool may_hold_code(const dx_exec *e, uint64_t addr, uint64_t end)
{
    for (size_t i = chunk_index(e, addr); i < e->nchunks && e->chunks[i].start < end; i++)
        if (e->chunks[i].may_exec)
            return true;
    return false;
}

/* Map [start, end) with mem behind it (at least end - start bytes), or
 * with Unicorn's own memory if mem is NULL. */
static bool chunk_add(dx_exec *e, uint64_t start, uint64_t end, uint32_t prot, uint8_t *mem, chunk_origin origin)
{
    chunk *grown = grow(e->chunks, e->nchunks, &e->capchunks, sizeof *grown);
    if (!grown)
        return false;
    e->chunks = grown;
    uc_err rc = mem ? uc_mem_map_ptr(e->uc, start, end - start, prot, mem) : uc_mem_map(e->uc, start, end - start, prot);
    if (rc != UC_ERR_OK)
        return false;
    size_t i = chunk_index(e, start);
    memmove(&e->chunks[i + 1], &e->chunks[i], (e->nchunks - i) * sizeof *e->chunks);
    e->chunks[i] = (chunk){start, end, mem, prot, false, (prot & UC_PROT_EXEC) != 0, origin,
                           (prot & UC_PROT_WRITE) || origin == CHUNK_ALLOC};
    e->nchunks++;
    e->mapped_bytes += end - start;
    return true;
}

static uint64_t limit_bytes(const dx_exec *e)
{
    return (e->opt.max_session_mb ? e->opt.max_session_mb : 1024) << 20;
}

/* Unicorn aborts the whole process past about 4096 mapped regions (an
 * assertion in its memory map), so an engine stops well before that. */
#define MAX_REGIONS 3500

/* The most a fault maps: CHUNK for the first 128 chunks, then twice as much
 * for each 128 more, up to 256 CHUNKs. Each map and unmap costs Unicorn time
 * in proportion to the regions already mapped, so a session that maps much
 * must do it in fewer, larger pieces: 1 GiB then takes about 900 regions,
 * not 16384, and reaching it (and closing the session) takes milliseconds,
 * not seconds. Within the memory limit, so a session can use all of it. */
static uint64_t chunk_span(const dx_exec *e)
{
    unsigned shift = (unsigned)(e->nchunks / 128);
    uint64_t span = CHUNK << (shift < 8 ? shift : 8);
    while (span > CHUNK && e->mapped_bytes + span > limit_bytes(e))
        span >>= 1;
    return span;
}

/* No process has memory above user space: a wild pointer there faults, as
 * on Windows, even where unmapped memory reads as zeros. */
#define USER_SPACE_END 0x800000000000ull

/* Map the pages around addr that the dump holds, or one zero page. False if
 * the dump lacks addr (and zero_fill is off) or the session is over its
 * memory limit; e->stop then says which. */
bool mem_fault_in(dx_exec *e, uint64_t addr, bool zero_fill)
{
    uint64_t page = addr & ~(PAGE - 1);
    uint64_t gap_end;
    if (mem_is_mapped(e, page, &gap_end))
        return true;
    bool held = page_held(e->dump, page);
    if (!held && (!zero_fill || page >= USER_SPACE_END || page == WINE_SYSCALL_POINTER))
        return false;
    if (page + PAGE == 0) /* a chunk's end must not wrap to 0 */
        return false;
    uint64_t span = chunk_span(e);
    if (e->mapped_bytes + span > limit_bytes(e) || e->nchunks >= MAX_REGIONS) {
        if (e->stop) {
            e->stop->kind = DX_STOP_MEMORY_LIMIT;
            e->stop->addr = addr;
        }
        return false;
    }
    size_t i = chunk_index(e, page);
    uint64_t gap_start = i ? e->chunks[i - 1].end : 0;
    if (!gap_end)
        gap_end = UINT64_MAX;
    uint64_t start = page, end = page + PAGE;
    uint32_t prot = held ? page_prot(e, page) : UC_PROT_READ | UC_PROT_WRITE;
    /* Grow to the chunk around the page: over pages the dump holds with the
     * same protection, or, zero-filling, over pages it does not hold. */
    uint64_t lo = page & ~(span - 1), hi = lo + span != 0 ? lo + span : 0 - PAGE; /* no wrap at the top */
    while (start > lo && start > gap_start && page_held(e->dump, start - PAGE) == held &&
           (!held || page_prot(e, start - PAGE) == prot))
        start -= PAGE;
    while (end < hi && end < gap_end && page_held(e->dump, end) == held && (!held || page_prot(e, end) == prot))
        end += PAGE;
    bool zeroed;
    uint8_t *mem = chunk_memory(e, end - start, &zeroed);
    if (!mem)
        return false;
    if (held)
        dx_dump_read_filled(e->dump, start, mem, end - start);
    else if (!zeroed)
        memset(mem, 0, end - start);
    if (!chunk_add(e, start, end, prot, mem, held ? CHUNK_DUMP : CHUNK_ZERO)) {
        chunk_memory_done(e, mem, end - start);
        return false;
    }
    return true;
}

/* The scratch region: a sentinel page for return addresses, a stack and a
 * heap, at the first DX_SCRATCH_BASE + k GiB that the dump leaves empty. */
int mem_map_scratch(dx_exec *e)
{
    if (e->scratch && mem_is_mapped(e, e->scratch, NULL))
        return 0;
    const uint64_t size = DX_SCRATCH_SENTINEL_SIZE + DX_SCRATCH_STACK_SIZE + DX_SCRATCH_HEAP_SIZE;
    for (uint64_t base = DX_SCRATCH_BASE; base < 0x7ff000000000ull; base += 1ull << 30) {
        const dx_range *r = dx_dump_range_at(e->dump, base);
        const dx_range *next = dx_dump_range_after(e->dump, base);
        uint64_t gap_end;
        if (r || (next && next->base < base + size) || mem_is_mapped(e, base, &gap_end) ||
            (gap_end && gap_end < base + size))
            continue;
        uint64_t stack = base + DX_SCRATCH_SENTINEL_SIZE;
        if (!chunk_add(e, base, stack, UC_PROT_READ | UC_PROT_EXEC, NULL, CHUNK_SCRATCH) ||
            !chunk_add(e, stack, stack + DX_SCRATCH_STACK_SIZE + DX_SCRATCH_HEAP_SIZE,
                       UC_PROT_READ | UC_PROT_WRITE, NULL, CHUNK_SCRATCH))
            return -1;
        /* The scratch area is ours, not the guest's: it does not count
         * against the session's memory limit. */
        e->mapped_bytes -= size;
        static const uint8_t int3s[16] = {0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
                                          0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc};
        uc_mem_write(e->uc, base, int3s, sizeof int3s);
        e->scratch = base;
        return 0;
    }
    return -1;
}

/* Unmap everything the session paged in, the scratch area too. Keeping
 * the chunks the session never wrote would save paging them in again, but
 * they would count against the memory limit of the session after it. If
 * Unicorn refuses to unmap a chunk, its memory and every chunk after it
 * stay recorded, for engine_close to free once the engine is gone. */
int mem_unmap_all(dx_exec *e)
{
    size_t i = 0;
    engine_drop_translations(e); /* see there: unmapping translated code crashes Unicorn 2.1.1 */
    for (; i < e->nchunks; i++) {
        chunk *c = &e->chunks[i];
        if (uc_mem_unmap(e->uc, c->start, c->end - c->start) != UC_ERR_OK)
            break;
        chunk_memory_done(e, c->mem, c->end - c->start);
    }
    if (i == e->nchunks) {
        mem_forget(e);
        return 0;
    }
    memmove(e->chunks, e->chunks + i, (e->nchunks - i) * sizeof *e->chunks);
    e->nchunks -= i;
    return -1;
}

/* After the engine is gone: the memory that was behind its chunks. */
void mem_free(dx_exec *e)
{
    for (size_t i = 0; i < e->nchunks; i++)
        chunk_memory_done(e, e->chunks[i].mem, e->chunks[i].end - e->chunks[i].start);
    while (e->nspare)
        pages_free(e->spare[--e->nspare], CHUNK);
    mem_forget(e);
}

/* Drop the record of what is mapped (the engine itself is gone). */
void mem_forget(dx_exec *e)
{
    e->nchunks = 0;
    e->mapped_bytes = 0;
    e->scratch = 0;
}

size_t dx_exec_read(dx_exec *e, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t at = addr + done, bound;
        size_t want = len - done, got;
        if (e->uc && mem_is_mapped(e, at, &bound)) {
            if (bound - at < want)
                want = (size_t)(bound - at);
            if (uc_mem_read(e->uc, at, (uint8_t *)buf + done, want) != UC_ERR_OK)
                break;
            got = want;
        } else {
            if (e->uc && bound && bound - at < want)
                want = (size_t)(bound - at);
            got = dx_dump_read(e->dump, at, (uint8_t *)buf + done, want);
        }
        done += got;
        if (got < want || at + got < at)
            break;
    }
    return done;
}

int dx_exec_write(dx_exec *e, uint64_t addr, const void *buf, size_t len, char *err, size_t errlen)
{
    return mem_write(e, addr, buf, len, false, err, errlen);
}

/* data: the executor's own write of memory that holds no code (a TIB),
 * which keeps the translations and block counts of its pages. */
int mem_write(dx_exec *e, uint64_t addr, const void *buf, size_t len, bool data, char *err, size_t errlen)
{
    if (len && addr + len - 1 < addr) {
        snprintf(err, errlen, "cannot write past the end of the address space");
        return -1;
    }
    if (engine_ensure(e, err, errlen) != 0)
        return -1;
    for (uint64_t page = addr & ~(PAGE - 1); page < addr + len; page += PAGE) {
        if (!mem_fault_in(e, page, false)) {
            snprintf(err, errlen, "cannot write 0x%llx: the dump holds no memory there",
                     (unsigned long long)(page < addr ? addr : page));
            return -1;
        }
    }
    if (uc_mem_write(e->uc, addr, buf, len) != UC_ERR_OK) {
        snprintf(err, errlen, "cannot write %zu bytes at 0x%llx", len, (unsigned long long)addr);
        return -1;
    }
    for (size_t i = chunk_index(e, addr); i < e->nchunks && e->chunks[i].start < addr + len; i++)
        e->chunks[i].tracked = true; /* written where the guest cannot: snapshots keep its pages */
    /* Unicorn does not always drop code translated from what changed (not
     * when a block's first bytes are rewritten): the next run would execute
     * the old instructions. */
    /* Only memory that may hold code has translations to drop (and asking
     * Unicorn about a page it cannot execute costs a fault of its own). */
    if (len && !data && may_hold_code(e, addr, addr + len)) {
        uc_ctl_remove_cache(e->uc, addr, addr + len);
        blocks_forget(e); /* their instruction counts too */
    }
    return 0;
}

static bool overlaps_chunk(const dx_exec *e, uint64_t addr, uint64_t end)
{
    size_t i = chunk_index(e, addr);
    return i < e->nchunks && e->chunks[i].start < end;
}

bool dx_exec_is_free(const dx_exec *e, uint64_t addr, uint64_t size)
{
    uint64_t end = addr + size;
    if (!size || end < addr || end > USER_SPACE_END)
        return false;
    const dx_range *next = dx_dump_range_after(e->dump, addr);
    if (dx_dump_range_at(e->dump, addr) || (next && next->base < end))
        return false;
    return !overlaps_chunk(e, addr, end);
}

int dx_exec_map(dx_exec *e, uint64_t addr, uint64_t size, uint32_t prot, char *err, size_t errlen)
{
    if ((addr | size) & (PAGE - 1) || !dx_exec_is_free(e, addr, size)) {
        snprintf(err, errlen, "0x%llx+0x%llx is not free page-aligned memory", (unsigned long long)addr,
                 (unsigned long long)size);
        return -1;
    }
    if (engine_ensure(e, err, errlen) != 0)
        return -1;
    if (e->mapped_bytes + size > limit_bytes(e) || e->nchunks >= MAX_REGIONS) {
        snprintf(err, errlen, "the session memory limit");
        return DX_MAP_LIMIT;
    }
    bool zeroed;
    uint8_t *mem = chunk_memory(e, size, &zeroed);
    if (!mem) {
        snprintf(err, errlen, "out of memory");
        return DX_MAP_LIMIT;
    }
    if (!zeroed)
        memset(mem, 0, size);
    if (!chunk_add(e, addr, addr + size, prot & UC_PROT_ALL, mem, CHUNK_ALLOC)) {
        chunk_memory_done(e, mem, size);
        snprintf(err, errlen, "the emulator cannot map 0x%llx", (unsigned long long)addr);
        return -1;
    }
    return 0;
}

int dx_exec_unmap(dx_exec *e, uint64_t addr, uint64_t size)
{
    size_t i = chunk_index(e, addr);
    if (!e->uc || i == e->nchunks || e->chunks[i].start != addr || e->chunks[i].end != addr + size)
        return -1;
    if (e->chunks[i].may_exec)
        engine_drop_translations(e);
    if (uc_mem_unmap(e->uc, addr, size) != UC_ERR_OK)
        return -1;
    chunk_memory_done(e, e->chunks[i].mem, size);
    memmove(&e->chunks[i], &e->chunks[i + 1], (e->nchunks - i - 1) * sizeof *e->chunks);
    e->nchunks--;
    e->mapped_bytes -= size;
    return 0;
}

int dx_exec_protect(dx_exec *e, uint64_t addr, uint64_t size, uint32_t prot)
{
    if ((addr | size) & (PAGE - 1) || !size || addr + size < addr || !e->uc)
        return -1;
    for (uint64_t page = addr; page < addr + size; page += PAGE)
        if (!mem_fault_in(e, page, false))
            return -1;
    /* Code translated while the pages allowed execution must not run on:
     * translated blocks jump to each other without asking. A whole flush,
     * and before the change: Unicorn splits the region by unmapping it,
     * and dropping only a range's blocks crashes Unicorn 2.1.1 (see
     * engine_drop_translations). Protection changes of code are rare. */
    if (may_hold_code(e, addr, addr + size))
        engine_drop_translations(e);
    if (uc_mem_protect(e->uc, addr, size, prot & UC_PROT_ALL) != UC_ERR_OK)
        return -1;
    for (size_t i = chunk_index(e, addr); i < e->nchunks && e->chunks[i].start < addr + size; i++) {
        chunk *c = &e->chunks[i];
        if (c->start >= addr && c->end <= addr + size)
            c->prot = prot & UC_PROT_ALL;
        else
            c->mixed = true;
        c->may_exec |= (prot & UC_PROT_EXEC) != 0;
        c->tracked |= (prot & UC_PROT_WRITE) != 0;
    }
    return 0;
}

size_t mem_chunk_index(const dx_exec *e, uint64_t addr) { return chunk_index(e, addr); }

/* [lo, hi) back to the protections its pages were paged in with (a
 * snapshot from before they were is restored). */
bool mem_reset_protection(dx_exec *e, uint64_t lo, uint64_t hi)
{
    for (uint64_t page = lo; page < hi; page += PAGE) {
        size_t i = chunk_index(e, page);
        if (i == e->nchunks || e->chunks[i].start > page)
            continue;
        const chunk *c = &e->chunks[i];
        uint32_t want = c->origin == CHUNK_DUMP ? page_prot(e, page) : c->origin == CHUNK_ZERO ? UC_PROT_READ | UC_PROT_WRITE
                                                                                             : mem_prot_of(e, page);
        if (mem_prot_of(e, page) == want)
            continue;
        if (want & UC_PROT_EXEC || c->may_exec)
            engine_drop_translations(e);
        if (uc_mem_protect(e->uc, page, PAGE, want) != UC_ERR_OK)
            return false;
        mem_protection_changed(e, page, page + PAGE, want);
    }
    return true;
}

/* After Unicorn's protection of [lo, hi) was set to prot behind the
 * chunks' backs (a snapshot restored). */
void mem_protection_changed(dx_exec *e, uint64_t lo, uint64_t hi, uint32_t prot)
{
    for (size_t i = chunk_index(e, lo); i < e->nchunks && e->chunks[i].start < hi; i++) {
        chunk *c = &e->chunks[i];
        if (c->start >= lo && c->end <= hi && !c->mixed)
            c->prot = prot;
        else
            c->mixed = true;
        c->may_exec |= (prot & UC_PROT_EXEC) != 0;
        c->tracked |= (prot & UC_PROT_WRITE) != 0;
    }
}

/* A page's current protection, from Unicorn's own region list (watchpoints
 * and the guest's own protection changes split regions). */
uint32_t mem_prot_of(dx_exec *e, uint64_t page)
{
    size_t i = chunk_index(e, page);
    if (i < e->nchunks && e->chunks[i].start <= page && !e->chunks[i].mixed)
        return e->chunks[i].prot;
    uc_mem_region *regions;
    uint32_t n, prot = UC_PROT_ALL;
    if (uc_mem_regions(e->uc, &regions, &n) != UC_ERR_OK)
        return prot;
    for (uint32_t i = 0; i < n; i++)
        if (page >= regions[i].begin && page <= regions[i].end)
            prot = regions[i].perms;
    uc_free(regions);
    return prot;
}

bool dx_exec_writable(dx_exec *e, uint64_t addr, uint64_t len)
{
    char err[DX_ERRLEN];
    if (!len)
        return true;
    if (addr + len < addr || engine_ensure(e, err, sizeof err) != 0)
        return false;
    for (uint64_t page = addr & ~(PAGE - 1); page < addr + len; page += PAGE)
        if (!mem_fault_in(e, page, e->opt.unmapped_zero) || !(mem_prot_of(e, page) & UC_PROT_WRITE))
            return false;
    return true;
}

uint32_t dx_exec_prot(dx_exec *e, uint64_t addr)
{
    uint64_t page = addr & ~(PAGE - 1);
    if (!e->uc || !mem_is_mapped(e, page, NULL))
        return page_held(e->dump, page) ? page_prot(e, page) & UC_PROT_ALL : 0;
    return mem_prot_of(e, page) & UC_PROT_ALL;
}

uint64_t dx_exec_next_mapped(const dx_exec *e, uint64_t addr)
{
    size_t i = chunk_index(e, addr + 1);
    for (; i < e->nchunks; i++)
        if (e->chunks[i].start > addr)
            return e->chunks[i].start;
    return 0;
}
