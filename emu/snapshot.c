/* Snapshots: a session's state at one moment, cheap to take and to go back
 * to. Every thread's registers, the protections of what is mapped, the
 * guest's own allocations, the state of the layer above (nt/), and the
 * pages that can change: those of chunks that were ever writable or
 * written. A page is a shared, reference-counted copy: a snapshot keeps
 * the copy of the snapshot before it wherever the page is unchanged, so
 * it holds new memory only for the pages written since.
 *
 * Finding those pages compares memory with the last snapshot taken or
 * restored (the base) instead of trapping the first write of each page:
 * a trap splits Unicorn's regions page by page and costs a fault per page
 * per snapshot, while the comparison runs at memory speed, costs nothing
 * between snapshots, and only touches what the session mapped writable. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct page_copy {
    uint32_t refs;
    uint8_t data[PAGE];
} page_copy;

typedef struct snap_page {
    uint64_t addr;
    page_copy *copy; /* NULL: all zeros, or the dump's bytes (from_dump) */
    bool from_dump;  /* as the dump holds it: a page never written costs nothing */
} snap_page;

static const uint8_t zero_page[PAGE];

typedef struct snap_range {
    uint64_t begin, end; /* [begin, end) */
    uint32_t perms;
} snap_range;

struct dx_snapshot {
    uint64_t pos;
    bool barrier; /* state the debugger set, not reached by running */
    char name[64];
    size_t cur;
    dx_regs *regs;
    uint64_t heap_next;
    snap_page *pages; /* sorted by address */
    size_t npages;
    snap_range *allocs; /* the guest's allocations (dx_exec_map) */
    size_t nallocs;
    snap_range *regions; /* Unicorn's regions with their protections */
    size_t nregions;
    void *upper; /* the layer above's state */
    void (*release_upper)(void *state);
    uint64_t bytes;     /* its tables */
    uint64_t new_bytes; /* the page copies it made (others may share them later) */
};

uint64_t snapshot_pos(const dx_snapshot *s) { return s->pos; }
bool snapshot_barrier(const dx_snapshot *s) { return s->barrier; }
const char *snapshot_name(const dx_snapshot *s) { return s->name; }
uint64_t snapshot_bytes(const dx_snapshot *s) { return s->bytes + s->new_bytes; }
void snapshot_set_name(dx_snapshot *s, const char *name) { snprintf(s->name, sizeof s->name, "%s", name); }
void snapshot_set_barrier(dx_snapshot *s, bool barrier) { s->barrier = barrier; }

/* A page's current bytes: the chunk's own memory, or Unicorn's copied into tmp. */
static const uint8_t *page_bytes(dx_exec *e, const chunk *c, uint64_t page, uint8_t *tmp)
{
    if (c->mem)
        return c->mem + (page - c->start);
    return uc_mem_read(e->uc, page, tmp, PAGE) == UC_ERR_OK ? tmp : NULL;
}

static void page_store(dx_exec *e, chunk *c, uint64_t page, const uint8_t *data)
{
    if (c->mem)
        memcpy(c->mem + (page - c->start), data, PAGE);
    else
        uc_mem_write(e->uc, page, data, PAGE);
}

/* Page in s, searched from *j on (pages are visited in order), or NULL. */
static const snap_page *page_in(const dx_snapshot *s, uint64_t page, size_t *j)
{
    if (!s)
        return NULL;
    while (*j < s->npages && s->pages[*j].addr < page)
        (*j)++;
    return *j < s->npages && s->pages[*j].addr == page ? &s->pages[*j] : NULL;
}

static const uint8_t *bytes_of(dx_exec *e, const snap_page *p, uint8_t *buf)
{
    if (p->copy)
        return p->copy->data;
    if (!p->from_dump)
        return zero_page;
    dx_dump_read_filled(e->dump, p->addr, buf, PAGE);
    return buf;
}

static uint64_t release_copy(page_copy *c)
{
    if (!c || --c->refs)
        return 0;
    free(c);
    return sizeof *c;
}

/* The memory it held alone, now freed. */
uint64_t snapshot_free(dx_snapshot *s)
{
    if (!s)
        return 0;
    uint64_t freed = s->bytes;
    for (size_t i = 0; i < s->npages; i++)
        freed += release_copy(s->pages[i].copy);
    if (s->upper && s->release_upper)
        s->release_upper(s->upper);
    free(s->pages);
    free(s->allocs);
    free(s->regions);
    free(s->regs);
    free(s);
    return freed;
}

/* The pages a snapshot keeps: those that can change, except the call
 * area's, which holds nothing between calls (a call is a barrier of the
 * history, and its 2 MiB would be most of every checkpoint). */
static bool kept(const chunk *c) { return c->tracked && c->origin != CHUNK_SCRATCH; }

static size_t tracked_pages(const dx_exec *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nchunks; i++)
        if (kept(&e->chunks[i]))
            n += (size_t)((e->chunks[i].end - e->chunks[i].start) / PAGE);
    return n;
}

static bool save_pages(dx_exec *e, dx_snapshot *s, const dx_snapshot *base)
{
    size_t want = tracked_pages(e), j = 0;
    uint8_t tmp[PAGE], then[PAGE];
    if (want && !(s->pages = malloc(want * sizeof *s->pages)))
        return false;
    for (size_t i = 0; i < e->nchunks; i++) {
        const chunk *c = &e->chunks[i];
        if (!kept(c))
            continue;
        for (uint64_t page = c->start; page < c->end; page += PAGE) {
            const uint8_t *now = page_bytes(e, c, page, tmp);
            const snap_page *was = page_in(base, page, &j);
            snap_page p = {page, NULL, false};
            if (!now)
                continue;
            if (was && !memcmp(bytes_of(e, was, then), now, PAGE)) {
                p = *was;
                if (p.copy)
                    p.copy->refs++;
            } else if (c->origin == CHUNK_DUMP && (dx_dump_read_filled(e->dump, page, then, PAGE),
                                                   !memcmp(then, now, PAGE))) {
                p.from_dump = true;
            } else if (memcmp(zero_page, now, PAGE)) {
                if (!(p.copy = malloc(sizeof *p.copy)))
                    return false;
                p.copy->refs = 1;
                memcpy(p.copy->data, now, PAGE);
                s->new_bytes += sizeof *p.copy;
            }
            s->pages[s->npages++] = p;
        }
    }
    s->bytes += want * sizeof *s->pages;
    return true;
}

static bool save_layout(dx_exec *e, dx_snapshot *s)
{
    for (size_t i = 0; i < e->nchunks; i++)
        s->nallocs += e->chunks[i].origin == CHUNK_ALLOC;
    if (s->nallocs && !(s->allocs = malloc(s->nallocs * sizeof *s->allocs)))
        return false;
    for (size_t i = 0, k = 0; i < e->nchunks; i++)
        if (e->chunks[i].origin == CHUNK_ALLOC)
            s->allocs[k++] = (snap_range){e->chunks[i].start, e->chunks[i].end, 0};
    uc_mem_region *r;
    uint32_t n;
    if (uc_mem_regions(e->uc, &r, &n) != UC_ERR_OK)
        return false;
    s->regions = n ? malloc(n * sizeof *s->regions) : NULL;
    for (uint32_t i = 0; s->regions && i < n; i++)
        s->regions[i] = (snap_range){r[i].begin, r[i].end + 1, r[i].perms};
    s->nregions = s->regions ? n : 0;
    uc_free(r);
    s->bytes += sizeof *s + (s->nallocs + s->nregions) * sizeof(snap_range) + e->nthreads * sizeof(dx_regs);
    return n == 0 || s->regions;
}

dx_snapshot *snapshot_take(dx_exec *e, const dx_snapshot *base)
{
    dx_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pos = e->pos;
    s->cur = e->cur;
    s->heap_next = e->heap_next;
    s->regs = malloc(e->nthreads * sizeof *s->regs);
    if (s->regs)
        memcpy(s->regs, e->regs, e->nthreads * sizeof *s->regs);
    if (e->state_ops.save) {
        s->upper = e->state_ops.save(e->state_user);
        s->release_upper = e->state_ops.release;
    }
    if (!s->regs || (e->state_ops.save && !s->upper) || !save_layout(e, s) || !save_pages(e, s, base)) {
        snapshot_free(s);
        return NULL;
    }
    return s;
}

static bool has_range(const snap_range *r, size_t n, uint64_t begin, uint64_t end)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].begin == begin && r[i].end == end)
            return true;
    return false;
}

/* The guest's allocations as they were: later ones unmapped, freed ones
 * mapped again (their bytes come back with the pages). */
static bool restore_layout(dx_exec *e, const dx_snapshot *s)
{
    char err[DX_ERRLEN];
    for (size_t i = e->nchunks; i-- > 0;) {
        const chunk *c = &e->chunks[i];
        if (c->origin == CHUNK_ALLOC && !has_range(s->allocs, s->nallocs, c->start, c->end) &&
            dx_exec_unmap(e, c->start, c->end - c->start) != 0)
            return false;
    }
    for (size_t i = 0; i < s->nallocs; i++) {
        uint64_t end;
        const snap_range *a = &s->allocs[i];
        if (mem_is_mapped(e, a->begin, &end))
            continue;
        if (dx_exec_map(e, a->begin, a->end - a->begin, UC_PROT_READ | UC_PROT_WRITE, err, sizeof err) != 0)
            return false;
        e->chunks[mem_chunk_index(e, a->begin)].tracked = true;
    }
    return true;
}

/* What a page held before anything was written: the dump's bytes, or zeros. */
static void pristine(dx_exec *e, const chunk *c, uint64_t page, uint8_t *out)
{
    if (c->origin == CHUNK_DUMP)
        dx_dump_read_filled(e->dump, page, out, PAGE);
    else
        memset(out, 0, PAGE);
}

/* Every page the snapshot kept is mapped and kept again (the session may
 * have gone back to the dump since, or written it where the guest cannot). */
static bool map_kept_pages(dx_exec *e, const dx_snapshot *s)
{
    for (size_t i = 0; i < s->npages; i++) {
        if (!mem_is_mapped(e, s->pages[i].addr, NULL) && !mem_fault_in(e, s->pages[i].addr, true))
            return false;
        e->chunks[mem_chunk_index(e, s->pages[i].addr)].tracked = true;
    }
    return true;
}

static bool restore_pages(dx_exec *e, const dx_snapshot *s)
{
    uint8_t tmp[PAGE], was[PAGE], held[PAGE];
    if (!map_kept_pages(e, s))
        return false;
    size_t j = 0;
    bool code_changed = false;
    for (size_t i = 0; i < e->nchunks; i++) {
        chunk *c = &e->chunks[i];
        if (!kept(c))
            continue;
        for (uint64_t page = c->start; page < c->end; page += PAGE) {
            const snap_page *want = page_in(s, page, &j);
            const uint8_t *now = page_bytes(e, c, page, tmp);
            if (!want)
                pristine(e, c, page, was);
            const uint8_t *then = want ? bytes_of(e, want, held) : was;
            if (now && !memcmp(now, then, PAGE))
                continue;
            page_store(e, c, page, then);
            code_changed |= c->may_exec;
        }
    }
    if (code_changed)
        engine_drop_translations(e);
    return true;
}

/* Protections as they were, where they differ now. */
static bool restore_protections(dx_exec *e, const dx_snapshot *s)
{
    uc_mem_region *r;
    uint32_t n;
    if (uc_mem_regions(e->uc, &r, &n) != UC_ERR_OK)
        return false;
    bool ok = true, flushed = false;
    for (size_t i = 0; i < s->nregions && ok; i++) {
        const snap_range *want = &s->regions[i];
        for (uint32_t k = 0; k < n && ok; k++) {
            uint64_t lo = r[k].begin > want->begin ? r[k].begin : want->begin;
            uint64_t hi = r[k].end + 1 < want->end ? r[k].end + 1 : want->end;
            if (lo >= hi || r[k].perms == want->perms)
                continue;
            if (!flushed && ((r[k].perms | want->perms) & UC_PROT_EXEC)) {
                engine_drop_translations(e); /* before a split: see dx_exec_protect */
                flushed = true;
            }
            ok = uc_mem_protect(e->uc, lo, hi - lo, want->perms) == UC_ERR_OK;
            mem_protection_changed(e, lo, hi, want->perms);
        }
    }
    /* Memory paged in since has the protection it was paged in with. */
    for (uint32_t k = 0; k < n && ok; k++) {
        bool covered = false;
        for (size_t i = 0; i < s->nregions && !covered; i++)
            covered = s->regions[i].begin <= r[k].end && r[k].begin < s->regions[i].end;
        if (!covered)
            ok = mem_reset_protection(e, r[k].begin, r[k].end + 1);
    }
    uc_free(r);
    return ok;
}

int snapshot_restore(dx_exec *e, const dx_snapshot *s)
{
    if (!restore_layout(e, s) || !restore_pages(e, s) || !restore_protections(e, s))
        return -1;
    memcpy(e->regs, s->regs, e->nthreads * sizeof *e->regs);
    e->cur = s->cur;
    e->heap_next = s->heap_next;
    e->pos = s->pos;
    e->cpu_dirty = true; /* the next run starts from a clean CPU with these registers */
    if (s->upper && e->state_ops.restore && e->state_ops.restore(e->state_user, s->upper) != 0)
        return -1;
    return 0;
}
