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

/* Room for one more range in the three arrays. Each new array is zeroed
 * whole (the dump's own ranges have no image), each grown one from where
 * it was, so a failure half-way leaves nothing uninitialised. */
static bool grow_ranges(dx_dump *d)
{
    size_t old = d->capranges, cap = old * 2 + 16;
    dx_range *r = realloc(d->ranges, cap * sizeof *r);
    if (!r)
        return false;
    d->ranges = r;
    size_t from = d->range_src ? old : 0;
    const uint8_t **s = realloc(d->range_src, cap * sizeof *s);
    if (!s)
        return false;
    memset(s + from, 0, (cap - from) * sizeof *s);
    d->range_src = s;
    from = d->range_image ? old : 0;
    struct dx_image **im = realloc(d->range_image, cap * sizeof *im);
    if (!im)
        return false;
    memset(im + from, 0, (cap - from) * sizeof *im);
    d->range_image = im;
    d->capranges = cap;
    return true;
}

/* Many new ranges, sorted and in gaps of the index, in one merge. */
int memindex_add_many(dx_dump *d, const memindex_new *add, size_t n)
{
    if (!n)
        return 0;
    size_t total = d->nranges + n;
    dx_range *r = malloc(total * sizeof *r);
    const uint8_t **src = malloc(total * sizeof *src);
    struct dx_image **img = malloc(total * sizeof *img);
    if (!r || !src || !img) {
        free(r), free(src), free(img);
        return -1;
    }
    size_t i = 0, k = 0, o = 0;
    while (i < d->nranges || k < n) {
        if (k == n || (i < d->nranges && d->ranges[i].base < add[k].base)) {
            r[o] = d->ranges[i];
            src[o] = d->range_src ? d->range_src[i] : NULL;
            img[o++] = d->range_image ? d->range_image[i] : NULL;
            i++;
        } else {
            r[o] = (dx_range){add[k].base, add[k].size, 0};
            src[o] = add[k].src;
            img[o++] = add[k].image;
            k++;
        }
    }
    free(d->ranges), free(d->range_src), free(d->range_image);
    d->ranges = r, d->range_src = src, d->range_image = img;
    d->nranges = d->capranges = total;
    return 0;
}

int memindex_add(dx_dump *d, uint64_t base, uint64_t size, const uint8_t *src, struct dx_image *image)
{
    if ((d->nranges == d->capranges || !d->range_src || !d->range_image) && !grow_ranges(d))
        return -1;
    size_t i = (size_t)(floor_index(d, base) + 1), move = d->nranges - i;
    memmove(&d->ranges[i + 1], &d->ranges[i], move * sizeof *d->ranges);
    memmove(&d->range_src[i + 1], &d->range_src[i], move * sizeof *d->range_src);
    memmove(&d->range_image[i + 1], &d->range_image[i], move * sizeof *d->range_image);
    d->ranges[i] = (dx_range){base, size, 0};
    d->range_src[i] = src;
    d->range_image[i] = image;
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

static const uint8_t *raw_bytes(const dx_dump *d, const dx_range *r)
{
    const uint8_t *src = d->range_src ? d->range_src[r - d->ranges] : NULL;
    return src ? src : d->map + r->file_offset;
}

/* The bytes of [r->base + off, + n), laid out first if an image's. */
static const uint8_t *range_bytes(const dx_dump *d, const dx_range *r, uint64_t off, uint64_t n)
{
    size_t i = (size_t)(r - d->ranges);
    if (d->range_image && d->range_image[i])
        image_ensure(d->range_image[i], r->base + off, n);
    return raw_bytes(d, r) + off;
}

const uint8_t *dx_dump_range_bytes(const dx_dump *d, const dx_range *r) { return range_bytes(d, r, 0, r->size); }

const uint8_t *dx_dump_range_bytes_at(const dx_dump *d, uint64_t addr)
{
    const dx_range *r = dx_dump_range_at(d, addr);
    return r ? range_bytes(d, r, addr - r->base, 8) : NULL;
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
        memcpy((uint8_t *)buf + done, range_bytes(d, r, off, n), n);
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
