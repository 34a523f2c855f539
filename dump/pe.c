/* PE headers, sections and exports read from dump memory. */
#include "pe.h"

#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_NAME 256

typedef struct exports {
    uint64_t base;
    uint32_t dir_rva, dir_size;
    uint32_t ordinal_base, nfuncs, nnames;
    uint32_t funcs, names, ordinals;
} exports;

static bool read_u32(const dx_dump *d, uint64_t addr, uint32_t *v)
{
    uint8_t b[4];
    if (dx_dump_read(d, addr, b, 4) != 4)
        return false;
    *v = rd32(b);
    return true;
}

static bool read_u16(const dx_dump *d, uint64_t addr, uint16_t *v)
{
    uint8_t b[2];
    if (dx_dump_read(d, addr, b, 2) != 2)
        return false;
    *v = rd16(b);
    return true;
}

/* A NUL-terminated string from memory, truncated to len-1. */
static bool read_cstr(const dx_dump *d, uint64_t addr, char *out, size_t len)
{
    size_t got = dx_dump_read(d, addr, out, len - 1);
    out[got] = 0;
    return got > 0 && strnlen(out, got) < got;
}

bool dx_pe_nt_headers(const dx_dump *d, uint64_t base, uint64_t *nt)
{
    uint16_t mz;
    uint32_t lfanew, pe;
    if (!read_u16(d, base, &mz) || mz != 0x5a4d || !read_u32(d, base + 0x3c, &lfanew) || lfanew > 0x10000000)
        return false;
    if (!read_u32(d, base + lfanew, &pe) || pe != 0x4550)
        return false;
    *nt = base + lfanew;
    return true;
}

int dx_pe_sections(const dx_dump *d, uint64_t base, dx_pe_section *out, size_t max)
{
    uint64_t nt;
    uint16_t nsec, optsize;
    if (!dx_pe_nt_headers(d, base, &nt) || !read_u16(d, nt + 6, &nsec) || !read_u16(d, nt + 20, &optsize))
        return -1;
    uint64_t sec = nt + 24 + optsize;
    for (size_t i = 0; i < nsec && i < max; i++) {
        uint8_t h[40];
        if (dx_dump_read(d, sec + 40 * i, h, sizeof h) != sizeof h)
            return (int)i;
        memcpy(out[i].name, h, 8);
        out[i].name[8] = 0;
        out[i].size = rd32(h + 8);
        out[i].rva = rd32(h + 12);
        out[i].characteristics = rd32(h + 36);
    }
    return nsec;
}

static bool load_exports(const dx_dump *d, uint64_t base, exports *x)
{
    uint64_t nt;
    uint16_t magic;
    if (!dx_pe_nt_headers(d, base, &nt) || !read_u16(d, nt + 24, &magic))
        return false;
    uint64_t dirs = nt + 24 + (magic == 0x20b ? 112 : 96);
    uint8_t h[40];
    x->base = base;
    if (!read_u32(d, dirs, &x->dir_rva) || !read_u32(d, dirs + 4, &x->dir_size) || !x->dir_rva ||
        dx_dump_read(d, base + x->dir_rva, h, sizeof h) != sizeof h)
        return false;
    x->ordinal_base = rd32(h + 16);
    x->nfuncs = rd32(h + 20);
    x->nnames = rd32(h + 24);
    x->funcs = rd32(h + 28);
    x->names = rd32(h + 32);
    x->ordinals = rd32(h + 36);
    /* Ordinals are 16-bit: larger tables are corrupt, and walking one
     * (dx_pe_nearest_export) would take minutes. */
    return x->nfuncs <= 0x10000 && x->nnames <= 0x10000;
}

/* Address of function index i, or a forwarder string in forward. */
static int export_target(const dx_dump *d, const exports *x, uint32_t i, uint64_t *addr, char *forward,
                         size_t fwdlen)
{
    uint32_t rva;
    if (i >= x->nfuncs || !read_u32(d, x->base + x->funcs + 4ull * i, &rva) || !rva)
        return -1;
    *addr = x->base + rva;
    if (rva - x->dir_rva < x->dir_size) {
        *addr = 0;
        if (!forward || !read_cstr(d, x->base + rva, forward, fwdlen))
            return -1;
    }
    return 0;
}

/* strcmp(name of export i, name), read a byte at a time so that names of
 * any length compare; false if the name is not in the dump. */
static bool export_cmp(const dx_dump *d, const exports *x, uint32_t i, const char *name, int *cmp)
{
    uint32_t rva;
    if (!read_u32(d, x->base + x->names + 4ull * i, &rva))
        return false;
    for (size_t k = 0;; k++) {
        uint8_t c;
        if (dx_dump_read(d, x->base + rva + k, &c, 1) != 1)
            return false;
        int diff = (int)c - (int)(unsigned char)name[k];
        if (diff || !c) {
            *cmp = diff;
            return true;
        }
    }
}

static bool export_name(const dx_dump *d, const exports *x, uint32_t i, char *out, size_t len)
{
    uint32_t rva;
    return read_u32(d, x->base + x->names + 4ull * i, &rva) && read_cstr(d, x->base + rva, out, len);
}

int dx_pe_find_export(const dx_dump *d, uint64_t base, const char *name, uint64_t *addr, char *forward,
                      size_t fwdlen)
{
    exports x;
    if (!load_exports(d, base, &x))
        return -1;
    if (name[0] == '#') {
        char *end;
        unsigned long ord = strtoul(name + 1, &end, 0);
        if (!isdigit((unsigned char)name[1]) || *end || ord < x.ordinal_base || ord - x.ordinal_base >= x.nfuncs)
            return -1;
        return export_target(d, &x, (uint32_t)(ord - x.ordinal_base), addr, forward, fwdlen);
    }
    /* Names are sorted, so a binary search finds one in log(n) reads. */
    uint32_t lo = 0, hi = x.nnames;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp;
        if (!export_cmp(d, &x, mid, name, &cmp))
            return -1;
        if (cmp == 0) {
            uint16_t ord;
            if (!read_u16(d, base + x.ordinals + 2ull * mid, &ord))
                return -1;
            return export_target(d, &x, ord, addr, forward, fwdlen);
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The export nearest below addr whose name the dump holds: a few tries,
 * each below the address whose name was missing. */
static int nearest_named(const dx_dump *d, const exports *x, const uint8_t *ords, const uint8_t *funcs, uint64_t addr,
                         char *name, size_t namelen, uint64_t *offset)
{
    uint64_t below = addr + 1;
    for (int tries = 0; tries < 8 && below > x->base; tries++) {
        uint64_t best = 0;
        uint32_t best_name = 0;
        for (uint32_t i = 0; i < x->nnames; i++) {
            uint16_t ord = rd16(ords + 2ull * i);
            uint32_t rva = ord < x->nfuncs ? rd32(funcs + 4ull * ord) : 0;
            uint64_t at = x->base + rva;
            bool forwarder = rva - x->dir_rva < x->dir_size;
            if (rva && !forwarder && at < below && at > best) {
                best = at;
                best_name = i;
            }
        }
        if (!best)
            return -1;
        char cur[MAX_NAME];
        if (export_name(d, x, best_name, cur, sizeof cur)) {
            snprintf(name, namelen, "%s", cur);
            *offset = addr - best;
            return 0;
        }
        below = best;
    }
    return -1;
}

/* Both tables are read whole (at most 384 KiB, as load_exports bounds
 * them): one read each instead of two per export matters when every stop
 * report names its address. Entries the dump lacks read as zeros. */
int dx_pe_nearest_export(const dx_dump *d, uint64_t base, uint64_t addr, char *name, size_t namelen,
                         uint64_t *offset)
{
    exports x;
    if (!load_exports(d, base, &x) || !x.nnames || !x.nfuncs)
        return -1;
    uint8_t *ords = malloc(2ull * x.nnames), *funcs = malloc(4ull * x.nfuncs);
    int rc = -1;
    if (ords && funcs) {
        dx_dump_read_filled(d, base + x.ordinals, ords, 2ull * x.nnames);
        dx_dump_read_filled(d, base + x.funcs, funcs, 4ull * x.nfuncs);
        rc = nearest_named(d, &x, ords, funcs, addr, name, namelen, offset);
    }
    free(ords);
    free(funcs);
    return rc;
}
