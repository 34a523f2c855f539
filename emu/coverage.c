/* Coverage: the basic blocks a session's runs execute, each once, written
 * as a drcov version 2 log (DynamoRIO's format, which Lighthouse, bncov
 * and Lightkeeper load): the dump's modules as the module table, each
 * block as an offset into its module with its size. */
#include "internal.h"
#include "pe.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const dx_coverage *c, uint64_t addr)
{
    return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 17) & (c->cap - 1);
}

static bool rehash(dx_coverage *c, size_t cap)
{
    uint64_t *addrs = calloc(cap, sizeof *addrs);
    uint32_t *sizes = calloc(cap, sizeof *sizes);
    if (!addrs || !sizes) {
        free(addrs);
        free(sizes);
        return false;
    }
    dx_coverage grown = {.addrs = addrs, .sizes = sizes, .n = c->n, .cap = cap};
    memcpy(grown.recent, c->recent, sizeof c->recent);
    memcpy(grown.recent_size, c->recent_size, sizeof c->recent_size);
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->addrs[i])
            continue;
        size_t s = slot_of(&grown, c->addrs[i]);
        while (addrs[s])
            s = (s + 1) & (cap - 1);
        addrs[s] = c->addrs[i], sizes[s] = c->sizes[i];
    }
    free(c->addrs);
    free(c->sizes);
    *c = grown;
    return true;
}

/* A block not among the recent ones ran: kept once, with the largest size
 * seen (the same start is translated shorter when stepping). Memory
 * running out loses blocks, never the run. */
void coverage_insert(dx_coverage *c, uint64_t addr, uint32_t size)
{
    if (!addr)
        return;
    size_t r = coverage_recent_slot(addr);
    c->recent[r] = addr, c->recent_size[r] = size;
    size_t s = slot_of(c, addr);
    while (c->addrs[s] && c->addrs[s] != addr)
        s = (s + 1) & (c->cap - 1);
    if (c->addrs[s]) {
        if (size > c->sizes[s])
            c->sizes[s] = size;
        return;
    }
    if (2 * (c->n + 1) > c->cap) {
        if (!rehash(c, c->cap * 2))
            return;
        coverage_insert(c, addr, size);
        return;
    }
    c->addrs[s] = addr, c->sizes[s] = size;
    c->n++;
}

int dx_exec_coverage_start(dx_exec *e)
{
    if (e->coverage)
        return 0;
    dx_coverage *c = calloc(1, sizeof *c);
    if (!c || !rehash(c, 1024)) {
        free(c);
        return -1;
    }
    e->coverage = c;
    engine_mode_changed(e);
    return 0;
}

void dx_exec_coverage_stop(dx_exec *e)
{
    if (!e->coverage)
        return;
    free(e->coverage->addrs);
    free(e->coverage->sizes);
    free(e->coverage);
    e->coverage = NULL;
    engine_mode_changed(e);
}

size_t dx_exec_coverage_count(const dx_exec *e) { return e->coverage ? e->coverage->n : 0; }

static int by_address(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t entry_point(const dx_dump *d, const dx_module *m)
{
    uint64_t nt;
    uint32_t rva = 0;
    if (dx_pe_nt_headers(d, m->base, &nt) && dx_dump_read(d, nt + 0x28, &rva, 4) == 4 && rva && rva < m->size)
        return m->base + rva;
    return 0;
}

/* The blocks, sorted, each with its module's index; blocks outside every
 * module (the scratch stack, the guest's own allocations) are left out,
 * as drcov leaves out code it cannot name. */
typedef struct drcov_block {
    uint64_t addr;
    uint32_t size;
    uint16_t module;
} drcov_block;

static size_t module_blocks(const dx_exec *e, drcov_block **out)
{
    const dx_coverage *c = e->coverage;
    size_t n = 0;
    *out = NULL;
    if (!c || !c->n || !(*out = calloc(c->n, sizeof **out)))
        return 0;
    for (size_t i = 0; i < c->cap; i++) {
        const dx_module *m = c->addrs[i] ? dx_dump_module_at(e->dump, c->addrs[i]) : NULL;
        if (m)
            (*out)[n++] = (drcov_block){c->addrs[i], c->sizes[i], (uint16_t)(m - dx_dump_module(e->dump, 0))};
    }
    qsort(*out, n, sizeof **out, by_address);
    return n;
}

int dx_exec_coverage_write(const dx_exec *e, FILE *f)
{
    const dx_dump *d = e->dump;
    size_t nmods = dx_dump_module_count(d);
    fprintf(f, "DRCOV VERSION: 2\nDRCOV FLAVOR: drcov\n");
    fprintf(f, "Module Table: version 2, count %zu\n", nmods);
    fprintf(f, "Columns: id, base, end, entry, checksum, timestamp, path\n");
    for (size_t i = 0; i < nmods; i++) {
        const dx_module *m = dx_dump_module(d, i);
        fprintf(f, "%3zu, 0x%016llx, 0x%016llx, 0x%016llx, 0x%08x, 0x%08x, %s\n", i, (unsigned long long)m->base,
                (unsigned long long)(m->base + m->size), (unsigned long long)entry_point(d, m), m->checksum,
                m->timestamp, m->path);
    }
    drcov_block *blocks;
    size_t n = module_blocks(e, &blocks);
    if (e->coverage && e->coverage->n && !blocks) {
        free(blocks);
        return -1;
    }
    fprintf(f, "BB Table: %zu bbs\n", n);
    for (size_t i = 0; i < n; i++) {
        const dx_module *m = dx_dump_module(d, blocks[i].module);
        /* bb_entry_t: uint32 start (module offset), uint16 size, uint16 module id, little-endian */
        uint8_t rec[8];
        uint32_t start = (uint32_t)(blocks[i].addr - m->base);
        uint16_t size = blocks[i].size > 0xffff ? 0xffff : (uint16_t)blocks[i].size;
        memcpy(rec, &start, 4);
        memcpy(rec + 4, &size, 2);
        memcpy(rec + 6, &blocks[i].module, 2);
        fwrite(rec, 1, sizeof rec, f);
    }
    free(blocks);
    return ferror(f) ? -1 : 0;
}
