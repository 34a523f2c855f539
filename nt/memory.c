/* Virtual memory: NtAllocateVirtualMemory, NtFreeVirtualMemory,
 * NtProtectVirtualMemory, NtQueryVirtualMemory. The guest's allocations
 * live in the session's own memory (dx_exec_map): isolated, counted against
 * the session limit, gone at reset, never over the dump's memory. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define MEM_COMMIT 0x1000u
#define MEM_RESERVE 0x2000u
#define MEM_DECOMMIT 0x4000u
#define MEM_RELEASE 0x8000u
#define MEM_FREE 0x10000u
#define MEM_PRIVATE 0x20000u
#define MEM_IMAGE 0x1000000u
#define MEM_RESET 0x80000u
#define MEM_TOP_DOWN 0x100000u
#define PAGE_NOACCESS 0x01u
#define CURRENT_PROCESS 0xffffffffffffffffull
/* Where the guest's allocations go: far above what processes reserve
 * bottom-up (heaps, stacks), which a dump without a MemoryInfoList does not
 * show, and below the images of 0x7ff0'00000000. ZeroBits asks for low
 * addresses: then from 256 MiB, below 4 GiB. */
#define FIRST_ALLOCATION 0x200000000000ull
#define FIRST_LOW_ALLOCATION 0x10000000ull
#define LAST_ADDRESS 0x7ffeffff0000ull

/* PAGE_* to DX_PROT_*; false for a value Windows refuses. */
static bool prot_from_windows(uint32_t p, uint32_t *out)
{
    static const struct {
        uint32_t win, dx;
    } map[] = {
        {0x01, 0},
        {0x02, DX_PROT_READ},
        {0x04, DX_PROT_READ | DX_PROT_WRITE},
        {0x08, DX_PROT_READ | DX_PROT_WRITE},
        {0x10, DX_PROT_EXEC | DX_PROT_READ},
        {0x20, DX_PROT_EXEC | DX_PROT_READ},
        {0x40, DX_PROT_EXEC | DX_PROT_READ | DX_PROT_WRITE},
        {0x80, DX_PROT_EXEC | DX_PROT_READ | DX_PROT_WRITE},
    };
    uint32_t base = p & 0xff; /* PAGE_GUARD, NOCACHE and WRITECOMBINE modify it */
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].win == base) {
            *out = map[i].dx;
            return true;
        }
    return false;
}

static uint32_t prot_to_windows(uint32_t dx)
{
    switch (dx & 7) {
    case 0: return 0x01;
    case DX_PROT_READ: return 0x02;
    case DX_PROT_READ | DX_PROT_WRITE: return 0x04;
    case DX_PROT_EXEC: case DX_PROT_EXEC | DX_PROT_READ: return 0x20;
    default: return 0x40;
    }
}

static nt_alloc *alloc_at(dx_nt *nt, uint64_t addr)
{
    for (size_t i = 0; i < nt->nallocs; i++)
        if (addr >= nt->allocs[i].base && addr - nt->allocs[i].base < nt->allocs[i].size)
            return &nt->allocs[i];
    return NULL;
}

/* Whether [addr, addr+size) is free in the guest's address space: no dump
 * memory, no region the dump's process had reserved, nothing mapped. */
static bool range_free(dx_nt *nt, uint64_t addr, uint64_t size)
{
    if (!dx_exec_is_free(nt->exec, addr, size))
        return false;
    for (uint64_t at = addr; at < addr + size;) {
        const dx_region *r = dx_dump_region_at(nt->dump, at);
        if (r && r->state != DX_MEM_FREE)
            return false;
        at = r ? r->base + r->size : at + NT_PAGE;
        if (!r) { /* no MemoryInfoList entry here: the next one may start inside */
            at = addr + size;
            for (size_t i = 0; i < dx_dump_region_count(nt->dump); i++) {
                const dx_region *q = dx_dump_region(nt->dump, i);
                if (q->state != DX_MEM_FREE && q->base < addr + size && q->base + q->size > addr)
                    return false;
            }
        }
    }
    return true;
}

static uint64_t find_free(dx_nt *nt, uint64_t size, bool low)
{
    uint64_t from = low ? FIRST_LOW_ALLOCATION : nt->alloc_hint ? nt->alloc_hint : FIRST_ALLOCATION;
    uint64_t to = low ? 1ull << 32 : LAST_ADDRESS;
    for (uint64_t at = from; at + size <= to; at += NT_GRANULARITY)
        if (range_free(nt, at, size))
            return at;
    return 0;
}

static nt_alloc *alloc_new(dx_nt *nt, uint64_t base, uint64_t size, uint32_t protect)
{
    if (nt->nallocs == nt->capallocs) {
        size_t cap = nt->capallocs ? nt->capallocs * 2 : 16;
        nt_alloc *grown = realloc(nt->allocs, cap * sizeof *grown);
        if (!grown)
            return NULL;
        nt->allocs = grown;
        nt->capallocs = cap;
    }
    uint32_t *pages = calloc(size / NT_PAGE, sizeof *pages);
    char err[DX_ERRLEN];
    if (!pages || dx_exec_map(nt->exec, base, size, 0, err, sizeof err) != 0) {
        free(pages);
        return NULL;
    }
    nt_alloc *a = &nt->allocs[nt->nallocs++];
    *a = (nt_alloc){base, size, protect, pages};
    return a;
}

static void alloc_release(dx_nt *nt, nt_alloc *a)
{
    dx_exec_unmap(nt->exec, a->base, a->size);
    free(a->protect);
    *a = nt->allocs[--nt->nallocs];
}

void nt_allocs_free(dx_nt *nt)
{
    for (size_t i = 0; i < nt->nallocs; i++)
        free(nt->allocs[i].protect);
    free(nt->allocs);
    nt->allocs = NULL;
    nt->nallocs = nt->capallocs = 0;
    nt->alloc_hint = 0;
}

/* Commit [start, end) of an allocation with the given protection. */
static uint32_t commit(dx_nt *nt, nt_alloc *a, uint64_t start, uint64_t end, uint32_t protect, uint32_t dxprot)
{
    if (end > a->base + a->size)
        return STATUS_CONFLICTING_ADDRESSES;
    if (dx_exec_protect(nt->exec, start, end - start, dxprot) != 0)
        return STATUS_NO_MEMORY;
    for (uint64_t p = start; p < end; p += NT_PAGE)
        a->protect[(p - a->base) / NT_PAGE] = protect;
    return STATUS_SUCCESS;
}

static uint64_t page_up(uint64_t v) { return (v + NT_PAGE - 1) & ~(NT_PAGE - 1); }

/* A new reservation at base (rounded down to the allocation granularity),
 * or wherever there is room if base is 0. */
static uint32_t reserve(dx_nt *nt, uint64_t base, uint64_t size, bool low, uint32_t protect, nt_alloc **out)
{
    uint64_t start = base & ~(NT_GRANULARITY - 1);
    uint64_t len = base ? page_up(base + size) - start : page_up(size);
    if (base ? !range_free(nt, start, len) : !(start = find_free(nt, len, low)))
        return base ? STATUS_CONFLICTING_ADDRESSES : STATUS_NO_MEMORY;
    if (!(*out = alloc_new(nt, start, len, protect)))
        return STATUS_NO_MEMORY;
    if (!base && !low)
        nt->alloc_hint = start + ((len + NT_GRANULARITY - 1) & ~(NT_GRANULARITY - 1));
    return STATUS_SUCCESS;
}

/* Commit pages the dump's process had reserved (a heap growing into its
 * segment): fresh zero pages where nothing is mapped yet. */
static uint32_t commit_reserved(dx_nt *nt, uint64_t start, uint64_t end, uint32_t dxprot)
{
    char err[DX_ERRLEN];
    uint64_t limit_mb = dx_exec_options_of(nt->exec)->max_session_mb;
    if (end - start > (limit_mb ? limit_mb : 1024) << 20)
        return STATUS_NO_MEMORY; /* more than the session could ever commit */
    /* Runs of free pages are mapped, runs of held ones change protection:
     * one call each, as a page at a time splits Unicorn's regions anew for
     * every page (seconds for a large segment; found by fuzz_nt). */
    for (uint64_t p = start; p < end;) {
        bool free_run = dx_exec_is_free(nt->exec, p, NT_PAGE);
        uint64_t q = p + NT_PAGE;
        while (q < end && dx_exec_is_free(nt->exec, q, NT_PAGE) == free_run)
            q += NT_PAGE;
        if (free_run ? dx_exec_map(nt->exec, p, q - p, dxprot, err, sizeof err) != 0
                     : dx_exec_protect(nt->exec, p, q - p, dxprot) != 0)
            return STATUS_NO_MEMORY;
        p = q;
    }
    return STATUS_SUCCESS;
}

/* Whether the dump's process had reserved [start, end). A dump without a
 * MemoryInfoList cannot say: the guest's own heap committing into its
 * segment is believed (the pages must be free here, though). */
static bool dump_reserved(dx_nt *nt, uint64_t start, uint64_t end)
{
    if (!dx_dump_region_count(nt->dump))
        return true;
    const dx_region *r = dx_dump_region_at(nt->dump, start);
    return r && r->state != DX_MEM_FREE && end <= r->base + r->size;
}

/* NtAllocateVirtualMemory(process, *base, zero_bits, *size, type, protect) */
static uint32_t allocate(nt_call *c)
{
    dx_nt *nt = c->nt;
    uint64_t base, size, *a = c->args;
    uint32_t type = (uint32_t)a[4], protect = (uint32_t)a[5], dxprot, st = STATUS_SUCCESS;
    if (a[0] != CURRENT_PROCESS)
        return STATUS_INVALID_HANDLE;
    if (!nt_read_u64(c, a[1], &base) || !nt_read_u64(c, a[3], &size) || !dx_exec_writable(nt->exec, a[1], 8) ||
        !dx_exec_writable(nt->exec, a[3], 8))
        return STATUS_ACCESS_VIOLATION;
    nt_trace(c, "[0x%llx] 0x%llx", (unsigned long long)base, (unsigned long long)size);
    if (!prot_from_windows(protect, &dxprot))
        return STATUS_INVALID_PAGE_PROTECTION;
    if (!(type & (MEM_COMMIT | MEM_RESERVE | MEM_RESET)) || !size || size > LAST_ADDRESS || base > LAST_ADDRESS)
        return STATUS_INVALID_PARAMETER;
    if (type & MEM_RESET)
        return STATUS_SUCCESS; /* the contents may be discarded: keeping them is allowed */
    nt_alloc *al = base ? alloc_at(nt, base) : NULL;
    uint64_t start = base & ~(NT_PAGE - 1), end = page_up(base + size);
    if ((type & MEM_RESERVE) || !base) {
        if (al)
            return STATUS_CONFLICTING_ADDRESSES;
        if ((st = reserve(nt, base, size, a[2] != 0, protect, &al)) != STATUS_SUCCESS)
            return st;
        start = al->base;
        end = base ? end : start + page_up(size);
    }
    if (type & MEM_COMMIT) {
        if (al)
            st = commit(nt, al, start, end, protect, dxprot);
        else if (dump_reserved(nt, start, end))
            st = commit_reserved(nt, start, end, dxprot);
        else
            st = STATUS_CONFLICTING_ADDRESSES;
        if (st != STATUS_SUCCESS)
            return st;
    }
    if (!nt_write_u64(c, a[1], start) || !nt_write_u64(c, a[3], end - start))
        return STATUS_ACCESS_VIOLATION;
    nt_trace(c, " -> [0x%llx] 0x%llx", (unsigned long long)start, (unsigned long long)(end - start));
    return STATUS_SUCCESS;
}

static void zero_pages(dx_nt *nt, uint64_t start, uint64_t end)
{
    static const uint8_t zeros[NT_PAGE];
    char err[DX_ERRLEN];
    for (uint64_t p = start; p < end; p += NT_PAGE)
        dx_exec_write(nt->exec, p, zeros, NT_PAGE, err, sizeof err);
}

/* Decommit pages of the dump's process's own reservations (a heap
 * shrinking): what is mapped reads as zeros and faults from now on. */
static uint32_t decommit_reserved(nt_call *c, uint64_t base, uint64_t size)
{
    dx_nt *nt = c->nt;
    uint64_t start = base & ~(NT_PAGE - 1), end = page_up(base + size);
    for (uint64_t p = start; p < end; p += NT_PAGE) {
        if (!dx_exec_prot(nt->exec, p) && !dx_dump_range_at(nt->dump, p))
            continue;
        zero_pages(nt, p, p + NT_PAGE);
        dx_exec_protect(nt->exec, p, NT_PAGE, 0);
    }
    if (!nt_write_u64(c, c->args[1], start) || !nt_write_u64(c, c->args[2], end - start))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

/* NtFreeVirtualMemory(process, *base, *size, type) */
static uint32_t free_memory(nt_call *c)
{
    dx_nt *nt = c->nt;
    uint64_t base, size, *a = c->args;
    uint32_t type = (uint32_t)a[3];
    if (a[0] != CURRENT_PROCESS)
        return STATUS_INVALID_HANDLE;
    if (!nt_read_u64(c, a[1], &base) || !nt_read_u64(c, a[2], &size))
        return STATUS_ACCESS_VIOLATION;
    nt_alloc *al = alloc_at(nt, base);
    if (!al && type == MEM_DECOMMIT && size && dump_reserved(nt, base, base + size))
        return decommit_reserved(c, base, size);
    if (!al)
        return STATUS_MEMORY_NOT_ALLOCATED;
    if (type == MEM_RELEASE) {
        if (base != al->base || size)
            return STATUS_UNABLE_TO_FREE_VM;
        size = al->size;
        alloc_release(nt, al);
    } else if (type == MEM_DECOMMIT) {
        uint64_t start = base & ~(NT_PAGE - 1);
        uint64_t end = size ? (base + size + NT_PAGE - 1) & ~(NT_PAGE - 1) : al->base + al->size;
        if (end > al->base + al->size)
            return STATUS_UNABLE_TO_FREE_VM;
        /* Decommitted pages read as zeros once committed again. */
        zero_pages(nt, start, end);
        for (uint64_t p = start; p < end; p += NT_PAGE)
            al->protect[(p - al->base) / NT_PAGE] = 0;
        dx_exec_protect(nt->exec, start, end - start, 0);
        base = start, size = end - start;
    } else {
        return STATUS_INVALID_PARAMETER;
    }
    if (!nt_write_u64(c, a[1], base) || !nt_write_u64(c, a[2], size))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

static uint32_t windows_prot_at(dx_nt *nt, uint64_t addr)
{
    nt_alloc *al = alloc_at(nt, addr);
    if (al)
        return al->protect[(addr - al->base) / NT_PAGE];
    const dx_region *r = dx_dump_region_at(nt->dump, addr);
    uint32_t now = prot_to_windows(dx_exec_prot(nt->exec, addr));
    return r && r->state == DX_MEM_COMMIT && (r->protect & 0xff) == (now == 0x04 ? 0x08 : now) ? r->protect : now;
}

/* NtProtectVirtualMemory(process, *base, *size, new, *old) */
static uint32_t protect(nt_call *c)
{
    dx_nt *nt = c->nt;
    uint64_t base, size, *a = c->args;
    uint32_t dxprot, new_prot = (uint32_t)a[3];
    if (a[0] != CURRENT_PROCESS)
        return STATUS_INVALID_HANDLE;
    if (!nt_read_u64(c, a[1], &base) || !nt_read_u64(c, a[2], &size))
        return STATUS_ACCESS_VIOLATION;
    if (!prot_from_windows(new_prot, &dxprot))
        return STATUS_INVALID_PAGE_PROTECTION;
    uint64_t start = base & ~(NT_PAGE - 1), end = (base + size + NT_PAGE - 1) & ~(NT_PAGE - 1);
    if (end <= start)
        return STATUS_INVALID_PARAMETER;
    nt_alloc *al = alloc_at(nt, start);
    if (al && (end > al->base + al->size || !al->protect[(start - al->base) / NT_PAGE]))
        return STATUS_NOT_COMMITTED;
    if (!al && !dx_exec_prot(nt->exec, start) && !dx_dump_range_at(nt->dump, start))
        return STATUS_NOT_COMMITTED;
    uint32_t old = windows_prot_at(nt, start);
    if (!dx_exec_writable(nt->exec, a[4], 4))
        return STATUS_ACCESS_VIOLATION;
    if (dx_exec_protect(nt->exec, start, end - start, dxprot) != 0)
        return STATUS_NOT_COMMITTED;
    if (al)
        for (uint64_t p = start; p < end; p += NT_PAGE)
            al->protect[(p - al->base) / NT_PAGE] = new_prot;
    uint64_t out_size = end - start;
    if (!nt_write(c, a[4], &old, 4) || !nt_write_u64(c, a[1], start) || !nt_write_u64(c, a[2], out_size))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

typedef struct basic_info {
    uint64_t base, alloc_base;
    uint32_t alloc_protect, partition;
    uint64_t size;
    uint32_t state, protect, type, pad;
} basic_info;

_Static_assert(sizeof(basic_info) == 48, "MEMORY_BASIC_INFORMATION is 48 bytes on x64");

/* The first address above page that anything uses (dump memory, a region
 * the dump's process reserved, a module, the session's memory, an
 * allocation), or the end of user space. */
static uint64_t next_used(dx_nt *nt, uint64_t page)
{
    uint64_t end = LAST_ADDRESS;
    const dx_range *r = dx_dump_range_after(nt->dump, page);
    if (r && r->base < end)
        end = r->base;
    uint64_t mapped = dx_exec_next_mapped(nt->exec, page);
    if (mapped && mapped < end)
        end = mapped;
    for (size_t i = 0; i < nt->nallocs; i++)
        if (nt->allocs[i].base > page && nt->allocs[i].base < end)
            end = nt->allocs[i].base;
    for (size_t i = 0; i < dx_dump_module_count(nt->dump); i++) {
        uint64_t base = dx_dump_module(nt->dump, i)->base;
        if (base > page && base < end)
            end = base;
    }
    for (size_t i = 0; i < dx_dump_region_count(nt->dump); i++) {
        const dx_region *q = dx_dump_region(nt->dump, i);
        if (q->state != DX_MEM_FREE && q->base > page && q->base < end)
            end = q->base;
    }
    return end > page ? end : page + NT_PAGE;
}

/* The run of pages from page on that look alike, for MemoryBasicInformation. */
static void describe(dx_nt *nt, uint64_t page, basic_info *bi)
{
    memset(bi, 0, sizeof *bi);
    bi->base = page;
    nt_alloc *al = alloc_at(nt, page);
    if (al) {
        size_t i = (page - al->base) / NT_PAGE, n = al->size / NT_PAGE, j = i;
        while (j < n && al->protect[j] == al->protect[i])
            j++;
        *bi = (basic_info){page, al->base, al->alloc_protect, 0, (j - i) * NT_PAGE,
                           al->protect[i] ? MEM_COMMIT : MEM_RESERVE, al->protect[i], MEM_PRIVATE, 0};
        return;
    }
    const dx_region *r = dx_dump_region_at(nt->dump, page);
    const dx_module *m = dx_dump_module_at(nt->dump, page);
    const dx_range *held = dx_dump_range_at(nt->dump, page);
    if (r && r->state != DX_MEM_FREE) {
        *bi = (basic_info){page, r->alloc_base, r->alloc_protect, 0, r->base + r->size - page, r->state,
                           r->state == DX_MEM_COMMIT ? windows_prot_at(nt, page) : 0, r->type, 0};
        return;
    }
    if (held || m) {
        uint32_t prot = windows_prot_at(nt, page);
        uint64_t end = page + NT_PAGE, limit = m ? m->base + m->size : held->base + held->size;
        while (end < limit && windows_prot_at(nt, end) == prot)
            end += NT_PAGE;
        *bi = (basic_info){page, m ? m->base : page, m ? 0x80 : prot, 0, end - page, MEM_COMMIT, prot,
                           m ? MEM_IMAGE : MEM_PRIVATE, 0};
        return;
    }
    /* Free up to whatever comes next. */
    uint64_t end = next_used(nt, page);
    *bi = (basic_info){page, 0, 0, 0, end - page, MEM_FREE, PAGE_NOACCESS, 0, 0};
}

/* NtQueryVirtualMemory(process, base, class, info, length, *result_length) */
static uint32_t query(nt_call *c)
{
    uint64_t *a = c->args;
    if (a[0] != CURRENT_PROCESS)
        return STATUS_INVALID_HANDLE;
    if (a[2] != 0)
        return STATUS_INVALID_INFO_CLASS;
    if (a[4] < sizeof(basic_info))
        return STATUS_INFO_LENGTH_MISMATCH;
    if (a[1] >= LAST_ADDRESS)
        return STATUS_INVALID_PARAMETER_2;
    basic_info bi;
    describe(c->nt, a[1] & ~(NT_PAGE - 1), &bi);
    if (!nt_write(c, a[3], &bi, sizeof bi) || (a[5] && !nt_write_u64(c, a[5], sizeof bi)))
        return STATUS_ACCESS_VIOLATION;
    nt_trace(c, "-> state 0x%x protect 0x%x type 0x%x size 0x%llx", bi.state, bi.protect, bi.type,
             (unsigned long long)bi.size);
    return STATUS_SUCCESS;
}

const nt_service nt_memory_services[] = {
    {"NtAllocateVirtualMemory", allocate, 6},
    {"NtFreeVirtualMemory", free_memory, 4},
    {"NtProtectVirtualMemory", protect, 5},
    {"NtQueryVirtualMemory", query, 6},
};
const size_t nt_memory_count = sizeof nt_memory_services / sizeof nt_memory_services[0];
