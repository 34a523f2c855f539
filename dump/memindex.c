/* The memory index: every captured range, sorted and made disjoint once at
 * open, then found by binary search. */
#include "internal.h"

#include <stdlib.h>

static int by_base(const void *a, const void *b)
{
    const dx_range *x = a, *y = b;
    if (x->base != y->base)
        return x->base < y->base ? -1 : 1;
    /* Same start: the longer one first, so it wins and the other is dropped. */
    return x->size > y->size ? -1 : x->size < y->size;
}

static ptrdiff_t floor_index(const dx_dump *d, uint64_t addr);

int memindex_build(dx_dump *d, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* Writers list ranges in address order, so one pass usually shows
     * there is nothing to sort and opening stays linear in the ranges. */
    bool sorted = true;
    for (size_t i = 1; i < d->nranges && sorted; i++)
        sorted = by_base(&d->ranges[i - 1], &d->ranges[i]) <= 0;
    if (!sorted)
        qsort(d->ranges, d->nranges, sizeof *d->ranges, by_base);
    size_t out = 0;
    uint64_t end = 0; /* end of the last kept range; 0 = none yet */
    for (size_t i = 0; i < d->nranges; i++) {
        dx_range r = d->ranges[i];
        if (r.size == 0 || r.base + r.size < r.base)
            continue; /* empty, or wraps around the address space */
        if (out && r.base < end) {
            if (r.base + r.size <= end)
                continue; /* inside what is already held */
            uint64_t cut = end - r.base;
            r.base += cut;
            r.file_offset += cut;
            r.size -= cut;
        }
        d->ranges[out++] = r;
        end = r.base + r.size;
        d->memory_bytes += r.size;
    }
    d->nranges = out;
    d->capranges = out;
    return 0;
}

int memindex_add(dx_dump *d, uint64_t base, uint64_t size, const uint8_t *src)
{
    if (d->nranges == d->capranges || !d->range_src) {
        size_t cap = d->capranges * 2 + 16;
        dx_range *r = realloc(d->ranges, cap * sizeof *r);
        if (!r)
            return -1;
        d->ranges = r;
        const uint8_t **s = realloc(d->range_src, cap * sizeof *s);
        if (!s)
            return -1;
        if (!d->range_src)
            memset(s, 0, cap * sizeof *s);
        d->range_src = s;
        d->capranges = cap;
    }
    size_t i = (size_t)(floor_index(d, base) + 1);
    memmove(&d->ranges[i + 1], &d->ranges[i], (d->nranges - i) * sizeof *d->ranges);
    memmove(&d->range_src[i + 1], &d->range_src[i], (d->nranges - i) * sizeof *d->range_src);
    d->ranges[i] = (dx_range){base, size, 0};
    d->range_src[i] = src;
    d->nranges++;
    return 0;
}

/* Index of the last range with base <= addr, or -1. */
static ptrdiff_t floor_index(const dx_dump *d, uint64_t addr)
{
    size_t lo = 0, hi = d->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

const dx_range *dx_dump_range_at(const dx_dump *d, uint64_t addr)
{
    ptrdiff_t i = floor_index(d, addr);
    if (i < 0 || addr - d->ranges[i].base >= d->ranges[i].size)
        return NULL;
    return &d->ranges[i];
}

const dx_range *dx_dump_range_after(const dx_dump *d, uint64_t addr)
{
    size_t i = (size_t)(floor_index(d, addr) + 1);
    return i < d->nranges ? &d->ranges[i] : NULL;
}

const uint8_t *dx_dump_range_bytes(const dx_dump *d, const dx_range *r)
{
    const uint8_t *src = d->range_src ? d->range_src[r - d->ranges] : NULL;
    return src ? src : d->map + r->file_offset;
}

const uint8_t *dx_dump_range_bytes_at(const dx_dump *d, uint64_t addr)
{
    const dx_range *r = dx_dump_range_at(d, addr);
    return r ? dx_dump_range_bytes(d, r) + (addr - r->base) : NULL;
}

bool dx_dump_range_from_file(const dx_dump *d, const dx_range *r)
{
    return d->range_src && d->range_src[r - d->ranges];
}

size_t dx_dump_read(const dx_dump *d, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        const dx_range *r = dx_dump_range_at(d, addr + done);
        if (!r)
            break;
        uint64_t off = addr + done - r->base;
        uint64_t n = r->size - off;
        if (n > len - done)
            n = len - done;
        memcpy((uint8_t *)buf + done, dx_dump_range_bytes(d, r) + off, n);
        done += n;
    }
    return done;
}

void dx_dump_read_filled(const dx_dump *d, uint64_t addr, void *buf, size_t len)
{
    uint8_t *out = buf;
    for (size_t done = 0; done < len;) {
        done += dx_dump_read(d, addr + done, out + done, len - done);
        if (done == len)
            break;
        uint64_t at = addr + done;
        const dx_range *next = dx_dump_range_after(d, at);
        size_t gap = len - done;
        if (next && next->base - at < gap)
            gap = (size_t)(next->base - at);
        memset(out + done, 0, gap);
        done += gap;
    }
}
