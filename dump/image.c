/* A module's image, as the dump holds it in memory, read as a PE file a
 * debugger can load: the bytes as mapped, with every file offset in the
 * headers pointed at the same data's place in memory. gdb reads DLLs this
 * way (vFile) to place them and to name their exports. */
#include "pe.h"

#include "internal.h"

#include <stdio.h>

#define MAX_SECTIONS 96 /* as many as the emulator reads; 4 patches each */
#define MAX_DEBUG_ENTRIES 16
#define MAX_PATCHES (2 + 4 * MAX_SECTIONS + 2 + MAX_DEBUG_ENTRIES)

typedef struct patch {
    uint64_t at; /* offset in the image */
    uint32_t value;
} patch;

typedef struct patches {
    patch p[MAX_PATCHES];
    size_t n;
} patches;

static void add(patches *ps, uint64_t at, uint32_t value)
{
    if (ps->n < MAX_PATCHES)
        ps->p[ps->n++] = (patch){at, value};
}

static bool read_at(const dx_dump *d, uint64_t addr, void *buf, size_t len)
{
    return dx_dump_read(d, addr, buf, len) == len;
}

/* Sections: raw data where the section is mapped. Names past 8 characters
 * live in the COFF string table, which is only in the file: they become
 * ".dxN", and the (file-only) COFF symbol table goes. */
static void patch_sections(const dx_dump *d, uint64_t base, uint64_t nt, const uint8_t *fh, patches *ps)
{
    uint16_t nsec = rd16(fh + 2), optsize = rd16(fh + 16);
    add(ps, nt + 4 + 8 - base, 0);  /* PointerToSymbolTable */
    add(ps, nt + 4 + 12 - base, 0); /* NumberOfSymbols */
    uint64_t table = nt + 24 + optsize;
    for (uint16_t i = 0; i < nsec && i < MAX_SECTIONS; i++) {
        uint8_t h[40];
        uint64_t at = table + 40ull * i;
        if (!read_at(d, at, h, sizeof h))
            return;
        uint32_t vsize = rd32(h + 8), rva = rd32(h + 12), raw = rd32(h + 16);
        add(ps, at + 16 - base, vsize ? vsize : raw);
        add(ps, at + 20 - base, rva);
        if (h[0] == '/') {
            char name[9] = {0};
            snprintf(name, sizeof name, ".dx%u", (unsigned)i);
            add(ps, at - base, rd32((const uint8_t *)name));
            add(ps, at + 4 - base, rd32((const uint8_t *)name + 4));
        }
    }
}

/* The debug directory's entries name their data by file offset too; the
 * certificate table exists only in the file. */
static void patch_directories(const dx_dump *d, uint64_t base, uint64_t nt, const uint8_t *fh, patches *ps)
{
    uint8_t magic[2], count[4];
    uint32_t optsize = rd16(fh + 16), fixed;
    if (!read_at(d, nt + 24, magic, 2))
        return;
    fixed = rd16(magic) == 0x20b ? 112 : 96; /* PE32+ or PE32, up to NumberOfRvaAndSizes */
    if (optsize < fixed || !read_at(d, nt + 24 + fixed - 4, count, 4))
        return;
    /* Only the directories both the count and the optional header hold. */
    uint32_t ndirs = rd32(count), room = (optsize - fixed) / 8;
    ndirs = ndirs < room ? ndirs : room;
    uint64_t dirs = nt + 24 + fixed;
    if (ndirs > 4) {
        add(ps, dirs + 8 * 4 - base, 0); /* IMAGE_DIRECTORY_ENTRY_SECURITY */
        add(ps, dirs + 8 * 4 + 4 - base, 0);
    }
    uint8_t dbg[8];
    if (ndirs <= 6 || !read_at(d, dirs + 8 * 6, dbg, sizeof dbg))
        return;
    uint32_t rva = rd32(dbg), size = rd32(dbg + 4);
    for (uint32_t off = 0; rva && off + 28 <= size && off / 28 < MAX_DEBUG_ENTRIES; off += 28) {
        uint8_t e[28];
        if (!read_at(d, base + rva + off, e, sizeof e))
            return;
        add(ps, rva + off + 24, rd32(e + 20)); /* PointerToRawData = AddressOfRawData */
    }
}

static void collect(const dx_dump *d, uint64_t base, patches *ps)
{
    uint64_t nt;
    uint8_t fh[20]; /* the COFF file header */
    ps->n = 0;
    if (!dx_pe_nt_headers(d, base, &nt) || !read_at(d, nt + 4, fh, sizeof fh))
        return;
    patch_sections(d, base, nt, fh, ps);
    patch_directories(d, base, nt, fh, ps);
}

bool dx_pe_image_present(const dx_dump *d, uint64_t base)
{
    dx_pe_section s[1];
    return dx_pe_sections(d, base, s, 1) > 0;
}

size_t dx_pe_image_read(const dx_dump *d, uint64_t base, uint64_t size, uint64_t offset, void *buf, size_t len)
{
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = (size_t)(size - offset);
    uint8_t *out = buf;
    dx_dump_read_filled(d, base + offset, out, len);
    patches ps;
    collect(d, base, &ps);
    for (size_t i = 0; i < ps.n; i++) {
        uint8_t v[4] = {(uint8_t)ps.p[i].value, (uint8_t)(ps.p[i].value >> 8), (uint8_t)(ps.p[i].value >> 16),
                        (uint8_t)(ps.p[i].value >> 24)};
        for (int k = 0; k < 4; k++) {
            uint64_t at = ps.p[i].at + (uint64_t)k;
            if (at >= offset && at - offset < len)
                out[at - offset] = v[k];
        }
    }
    return len;
}
