/* Module images from PE files, for what the dump lacks (a MiniDumpNormal
 * dump holds stacks and a few pages, no code): a second source of bytes
 * behind the memory index. A file is used only if its TimeDateStamp and
 * SizeOfImage (and CheckSum, where the dump records one) are the module's.
 * It is laid out as the loader would: headers and sections at their RVAs,
 * base relocations applied for the dump's base, imports bound against the
 * dump's other modules. The dump's own bytes always win: the image fills
 * only pages no captured range touches. Loaded once, before any session,
 * the dump stays immutable after. */
#include "internal.h"

#include "buf.h"
#include "describe.h"
#include "pe.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 0x1000ull
#define MAX_IMAGE (1ull << 30)
#define MAX_SECTIONS 96

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

/* A PE32+ file's headers, checked against its size. */
typedef struct pe_file {
    const uint8_t *data;
    uint64_t size;
    uint64_t image_base;
    uint32_t timestamp, size_of_image, size_of_headers, checksum;
    uint32_t reloc_rva, reloc_size, import_rva, import_size;
    const uint8_t *sections; /* nsections headers of 40 bytes */
    unsigned nsections;
} pe_file;

static const char *pe_parse(const uint8_t *data, uint64_t size, pe_file *pe)
{
    memset(pe, 0, sizeof *pe);
    pe->data = data, pe->size = size;
    if (size < 0x40 || data[0] != 'M' || data[1] != 'Z')
        return "not a PE file (no MZ header)";
    uint32_t nt = u32(data + 0x3c);
    if (nt > size || size - nt < 24 + 240 || memcmp(data + nt, "PE\0\0", 4))
        return "not a PE file (no PE header)";
    const uint8_t *fh = data + nt + 4, *oh = fh + 20;
    uint16_t opt_size = u16(fh + 16);
    if (u16(fh) != 0x8664 || u16(oh) != 0x20b)
        return "not an x64 (PE32+) image";
    pe->nsections = u16(fh + 2);
    pe->timestamp = u32(fh + 4);
    pe->image_base = u64(oh + 24);
    pe->size_of_image = u32(oh + 56);
    pe->size_of_headers = u32(oh + 60);
    pe->checksum = u32(oh + 64);
    uint32_t ndirs = u32(oh + 108);
    if (opt_size < 112 || ndirs > 16 || 112 + 8ull * ndirs > opt_size)
        return "a corrupt optional header";
    if (ndirs > 1)
        pe->import_rva = u32(oh + 112 + 8), pe->import_size = u32(oh + 112 + 12);
    if (ndirs > 5)
        pe->reloc_rva = u32(oh + 112 + 40), pe->reloc_size = u32(oh + 112 + 44);
    uint64_t sec = (uint64_t)nt + 24 + opt_size;
    if (pe->nsections > MAX_SECTIONS || sec + 40ull * pe->nsections > size)
        return "a corrupt section table";
    pe->sections = data + sec;
    if (!pe->size_of_image || pe->size_of_image > MAX_IMAGE)
        return "an impossible SizeOfImage";
    return NULL;
}

/* An image laid out page by page as it is first read: a small dump's
 * modules cost their file's mapping and the pages code touches, not
 * their SizeOfImage. */
typedef struct reloc_block {
    uint32_t page; /* RVA of the page its entries patch */
    uint64_t at;   /* file offset of its entries */
    uint32_t count;
} reloc_block;

typedef struct bind {
    uint32_t rva;
    uint64_t value;
} bind;

struct dx_image {
    uint64_t base;
    const uint8_t *file;
    size_t file_size;
    bool owns_file; /* mapped by us (else borrowed: dx_pe_file_layout) */
    pe_file pe;
    uint8_t *img; /* an anonymous mapping: pages cost memory once laid out */
    size_t img_size;
    atomic_uchar *ready; /* per page */
    pthread_mutex_t lock;
    reloc_block *blocks;
    size_t nblocks;
    bind *binds;
    size_t nbinds, capbinds;
};

/* The file's raw bytes of [lo, hi) as the loader places them, into dst
 * (zeroed first unless it is: a fresh page of the image is). */
static void copy_raw(const dx_image *im, uint64_t lo, uint64_t hi, uint8_t *dst, bool zeroed)
{
    const pe_file *pe = &im->pe;
    if (!zeroed)
        memset(dst, 0, hi - lo);
    uint64_t hdr = pe->size_of_headers < im->file_size ? pe->size_of_headers : im->file_size;
    if (lo < hdr)
        memcpy(dst, im->file + lo, (hi < hdr ? hi : hdr) - lo);
    for (unsigned i = 0; i < pe->nsections; i++) {
        const uint8_t *sh = pe->sections + 40 * i;
        uint64_t va = u32(sh + 12), raw = u32(sh + 16), at = u32(sh + 20), vsize = u32(sh + 8);
        uint64_t n = raw < vsize || !vsize ? raw : vsize;
        if (at >= im->file_size)
            continue;
        if (n > im->file_size - at)
            n = im->file_size - at;
        uint64_t s = va > lo ? va : lo, e = va + n < hi ? va + n : hi;
        if (s < e)
            memcpy(dst + (s - lo), im->file + at + (s - va), e - s);
    }
}

/* Write the bytes of an n-byte value at rva that fall in [lo, lo + PAGE). */
static void patch(uint8_t *page, uint64_t lo, uint64_t rva, const void *value, unsigned n)
{
    const uint8_t *v = value;
    for (unsigned k = 0; k < n; k++)
        if (rva + k >= lo && rva + k < lo + PAGE)
            page[rva + k - lo] = v[k];
}

static void relocate_page(const dx_image *im, uint64_t lo, uint8_t *page)
{
    uint64_t delta = im->base - im->pe.image_base;
    if (!delta)
        return;
    for (size_t b = 0; b < im->nblocks; b++) {
        const reloc_block *rb = &im->blocks[b];
        if ((uint64_t)rb->page + PAGE + 8 <= lo || rb->page >= lo + PAGE)
            continue; /* patches nothing here, even straddling */
        for (uint32_t k = 0; k < rb->count; k++) {
            uint16_t e = u16(im->file + rb->at + 2ull * k);
            uint64_t rva = (uint64_t)rb->page + (e & 0xfff);
            unsigned n = e >> 12 == 10 ? 8 : e >> 12 == 3 ? 4 : 0;
            if (!n || rva + n <= lo || rva >= lo + PAGE || rva + n > im->pe.size_of_image)
                continue;
            uint8_t raw[8];
            copy_raw(im, rva, rva + n, raw, false);
            if (n == 8) {
                uint64_t v = u64(raw) + delta;
                patch(page, lo, rva, &v, 8);
            } else {
                uint32_t v = u32(raw) + (uint32_t)delta;
                patch(page, lo, rva, &v, 4);
            }
        }
    }
}

static void build_page(dx_image *im, uint64_t p)
{
    uint64_t lo = p * PAGE, hi = lo + PAGE < im->pe.size_of_image ? lo + PAGE : im->pe.size_of_image;
    uint8_t *page = im->img + lo;
    copy_raw(im, lo, hi, page, true);
    relocate_page(im, lo, page);
    for (size_t i = 0; i < im->nbinds; i++)
        if (im->binds[i].rva + 8ull > lo && im->binds[i].rva < lo + PAGE)
            patch(page, lo, im->binds[i].rva, &im->binds[i].value, 8);
}

void image_ensure(dx_image *im, uint64_t addr, uint64_t len)
{
    if (!len || addr < im->base)
        return;
    uint64_t first = (addr - im->base) / PAGE, last = (addr - im->base + len - 1) / PAGE;
    for (uint64_t p = first; p <= last && p * PAGE < im->pe.size_of_image; p++) {
        if (atomic_load_explicit(&im->ready[p], memory_order_acquire))
            continue;
        pthread_mutex_lock(&im->lock);
        if (!atomic_load_explicit(&im->ready[p], memory_order_relaxed)) {
            build_page(im, p);
            atomic_store_explicit(&im->ready[p], 1, memory_order_release);
        }
        pthread_mutex_unlock(&im->lock);
    }
}

/* The file offset of rva, or 0 if no section holds it in the file. */
static uint64_t file_offset_of(const pe_file *pe, uint64_t size, uint64_t rva)
{
    for (unsigned i = 0; i < pe->nsections; i++) {
        const uint8_t *sh = pe->sections + 40 * i;
        uint64_t va = u32(sh + 12), raw = u32(sh + 16), at = u32(sh + 20);
        if (rva >= va && rva - va < raw && at + (rva - va) < size)
            return at + (rva - va);
    }
    return 0;
}

/* The base relocation blocks, each checked against the file. */
static bool index_relocations(dx_image *im)
{
    const pe_file *pe = &im->pe;
    uint64_t at = pe->reloc_rva ? file_offset_of(pe, im->file_size, pe->reloc_rva) : 0;
    uint64_t end = at + pe->reloc_size;
    if (!at || end > im->file_size)
        return true; /* none, or not in the file: nothing to apply */
    size_t cap = 0;
    while (at + 8 <= end) {
        uint32_t page = u32(im->file + at), size = u32(im->file + at + 4);
        if (size < 8 || size > end - at || page >= pe->size_of_image)
            break;
        if (im->nblocks == cap) {
            cap = cap ? cap * 2 : 64;
            reloc_block *g = realloc(im->blocks, cap * sizeof *g);
            if (!g)
                return false;
            im->blocks = g;
        }
        im->blocks[im->nblocks++] = (reloc_block){page, at + 8, (size - 8) / 2};
        at += size;
    }
    return true;
}

void image_free(dx_image *im)
{
    if (!im)
        return;
    if (im->owns_file && im->file)
        munmap((void *)im->file, im->file_size);
    if (im->img)
        munmap(im->img, im->img_size);
    free((void *)im->ready);
    free(im->blocks);
    free(im->binds);
    pthread_mutex_destroy(&im->lock);
    free(im);
}

/* An image of the PE file data (checked by pe_parse) to be laid out at base. */
static dx_image *image_new(const uint8_t *data, size_t size, const pe_file *pe, uint64_t base, bool owns)
{
    dx_image *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->base = base, im->file = data, im->file_size = size, im->owns_file = owns, im->pe = *pe;
    pthread_mutex_init(&im->lock, NULL);
    im->img_size = (pe->size_of_image + PAGE - 1) & ~(PAGE - 1);
    void *m = mmap(NULL, im->img_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    im->img = m == MAP_FAILED ? NULL : m;
    im->ready = calloc(im->img_size / PAGE, sizeof *im->ready);
    if (!im->img || !im->ready || !index_relocations(im)) {
        im->owns_file = false;
        image_free(im);
        return NULL;
    }
    return im;
}

/* Bytes of the image at rva, laid out (NULL past its end). */
static const uint8_t *image_at(dx_image *im, uint64_t rva, uint64_t len)
{
    if (rva > im->pe.size_of_image || len > im->pe.size_of_image - rva)
        return NULL;
    image_ensure(im, im->base + rva, len);
    return im->img + rva;
}

/* An import bound: into its page if laid out already, and for when it is. */
static bool set_slot(dx_image *im, uint32_t rva, uint64_t value)
{
    pthread_mutex_lock(&im->lock);
    bool ok = true;
    if (im->nbinds == im->capbinds) {
        size_t cap = im->capbinds ? im->capbinds * 2 : 64;
        bind *g = realloc(im->binds, cap * sizeof *g);
        ok = g != NULL;
        if (g)
            im->binds = g, im->capbinds = cap;
    }
    if (ok) {
        im->binds[im->nbinds++] = (bind){rva, value};
        for (uint64_t p = rva / PAGE; p <= (rva + 7ull) / PAGE && p * PAGE < im->pe.size_of_image; p++)
            if (atomic_load_explicit(&im->ready[p], memory_order_relaxed))
                patch(im->img + p * PAGE, p * PAGE, rva, &value, 8);
    }
    pthread_mutex_unlock(&im->lock);
    return ok;
}

const char *dx_pe_file_check(const uint8_t *data, size_t size, dx_pe_file_info *out)
{
    pe_file pe;
    const char *why = pe_parse(data, size, &pe);
    if (!why && out)
        *out = (dx_pe_file_info){pe.image_base, pe.timestamp, pe.size_of_image, pe.checksum};
    return why;
}

uint8_t *dx_pe_file_layout(const uint8_t *data, size_t size, uint64_t base)
{
    pe_file pe;
    if (pe_parse(data, size, &pe))
        return NULL;
    dx_image *im = image_new(data, size, &pe, base, false);
    uint8_t *out = im ? malloc(pe.size_of_image) : NULL;
    if (out) {
        image_ensure(im, base, pe.size_of_image);
        memcpy(out, im->img, pe.size_of_image);
    }
    image_free(im);
    return out;
}

/* A case-insensitive match of name in dir, into out. */
static bool find_in(const char *dir, const char *name, char *out, size_t outlen)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return false;
    bool found = false;
    for (struct dirent *de; !found && (de = readdir(dp));)
        if (!strcasecmp(de->d_name, name) && (size_t)snprintf(out, outlen, "%s/%s", dir, de->d_name) < outlen)
            found = true;
    closedir(dp);
    return found;
}

/* The module's file in one path entry: a symbol store's
 * name/TTTTTTTTSSSS/name first, then a plain folder's name. */
/* A module's name as a file name: the dump's, which must name no folder. */
static bool safe_name(const char *name)
{
    return name && *name && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/') && !strchr(name, '\\');
}

static bool find_file(const char *entry, const dx_module *m, char *out, size_t outlen)
{
    if (!safe_name(m->basename))
        return false;
    char dir[4096], key[32];
    snprintf(key, sizeof key, "%08X%x", m->timestamp, m->size);
    if (find_in(entry, m->basename, dir, sizeof dir)) {
        char keyed[4096];
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return find_in(dir, key, keyed, sizeof keyed) && find_in(keyed, m->basename, out, outlen);
        snprintf(out, outlen, "%s", dir);
        return true;
    }
    return false;
}

typedef struct loaded {
    const dx_module *m;
    dx_image *im;
    char path[4096];
} loaded;

/* Open path and check it against the module: its image to be laid out at
 * the module's base, or NULL with why in report. The file stays mapped,
 * read-only, for as long as the dump is open. */
static dx_image *load_one(const dx_module *m, const char *path, dx_buf *report)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > MAX_IMAGE) {
        dx_buf_printf(report, "%s: cannot read %s\n", m->basename, path);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        dx_buf_printf(report, "%s: cannot map %s\n", m->basename, path);
        return NULL;
    }
    pe_file pe;
    dx_image *im = NULL;
    const char *why = pe_parse(map, (uint64_t)st.st_size, &pe);
    if (why) {
        dx_buf_printf(report, "%s: %s is %s: not used\n", m->basename, path, why);
    } else if (pe.timestamp != m->timestamp || pe.size_of_image != m->size ||
               (m->checksum && pe.checksum != m->checksum)) {
        dx_buf_printf(report,
                      "%s: %s is another build, not used: TimeDateStamp %08X, SizeOfImage %x, CheckSum %x; "
                      "the dump's module has %08X, %x, %x\n",
                      m->basename, path, pe.timestamp, pe.size_of_image, pe.checksum, m->timestamp, m->size,
                      m->checksum);
    } else if (!(im = image_new(map, (size_t)st.st_size, &pe, m->base, true))) {
        dx_buf_printf(report, "%s: out of memory for its image\n", m->basename);
    }
    if (!im)
        munmap(map, (size_t)st.st_size);
    return im;
}

/* The whole pages of [lo, hi) that no captured range touches, walking
 * the sorted ranges: each gap once, however many pages. */
typedef void (*gap_fn)(void *user, uint64_t lo, uint64_t hi);

static void for_each_gap(const dx_dump *d, uint64_t lo, uint64_t hi, gap_fn fn, void *user)
{
    uint64_t cursor = lo;
    const dx_range *r = dx_dump_range_at(d, lo);
    if (r)
        cursor = r->base + r->size;
    for (r = dx_dump_range_after(d, lo); r && r < d->ranges + d->nranges && r->base < hi && cursor < hi; r++) {
        uint64_t gap_lo = (cursor + PAGE - 1) & ~(PAGE - 1), gap_hi = r->base & ~(PAGE - 1);
        if (gap_lo < gap_hi)
            fn(user, gap_lo, gap_hi);
        if (r->base + r->size > cursor)
            cursor = r->base + r->size;
    }
    uint64_t gap_lo = (cursor + PAGE - 1) & ~(PAGE - 1);
    if (gap_lo < hi)
        fn(user, gap_lo, hi);
}

typedef struct gaps {
    memindex_new *v;
    size_t n, cap;
    dx_image *im;
    bool oom, any;
} gaps;

static void add_gap(void *user, uint64_t lo, uint64_t hi)
{
    gaps *g = user;
    g->any = true;
    if (!g->im)
        return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        memindex_new *v = realloc(g->v, cap * sizeof *v);
        if (!v) {
            g->oom = true;
            return;
        }
        g->v = v, g->cap = cap;
    }
    g->v[g->n++] = (memindex_new){lo, hi - lo, g->im->img + (lo - g->im->base), g->im};
}

/* A NUL-terminated name in the image at rva, into out. */
static bool name_at(dx_image *im, uint64_t rva, char *out, size_t len)
{
    if (rva >= im->pe.size_of_image)
        return false;
    uint64_t n = im->pe.size_of_image - rva < len - 1 ? im->pe.size_of_image - rva : len - 1;
    const uint8_t *c = image_at(im, rva, n);
    if (!c)
        return false;
    memcpy(out, c, n);
    out[n] = 0;
    return true;
}

/* A module's export directory read whole, for binding many imports
 * without a read per byte of every name compared. */
typedef struct export_table {
    const dx_module *m;
    uint8_t *dir; /* the directory's bytes: [rva, rva + size) */
    uint32_t rva, size, base, nfuncs, nnames, funcs, names, ords;
} export_table;

static bool in_dir(const export_table *x, uint64_t rva, uint64_t len)
{
    return rva >= x->rva && rva - x->rva <= x->size && len <= x->size - (rva - x->rva);
}

static bool export_table_load(const dx_dump *d, const dx_module *m, export_table *x)
{
    memset(x, 0, sizeof *x);
    x->m = m;
    uint64_t nt;
    uint16_t magic;
    uint8_t dirent[8];
    if (!dx_pe_nt_headers(d, m->base, &nt) || dx_dump_read(d, nt + 24, &magic, 2) != 2 ||
        dx_dump_read(d, nt + 24 + (magic == 0x20b ? 112 : 96), dirent, 8) != 8)
        return false;
    x->rva = u32(dirent), x->size = u32(dirent + 4);
    if (!x->rva || x->size < 40 || x->size > (64u << 20) || !(x->dir = malloc(x->size)) ||
        dx_dump_read(d, m->base + x->rva, x->dir, x->size) != x->size)
        return false;
    x->base = u32(x->dir + 16), x->nfuncs = u32(x->dir + 20), x->nnames = u32(x->dir + 24);
    x->funcs = u32(x->dir + 28), x->names = u32(x->dir + 32), x->ords = u32(x->dir + 36);
    return in_dir(x, x->funcs, 4ull * x->nfuncs) && in_dir(x, x->names, 4ull * x->nnames) &&
           in_dir(x, x->ords, 2ull * x->nnames);
}

/* The address of export index i; 0 for a forwarder (left to dx_dump_resolve). */
static uint64_t export_address(const export_table *x, uint32_t i)
{
    if (i >= x->nfuncs)
        return 0;
    uint32_t rva = u32(x->dir + (x->funcs - x->rva) + 4ull * i);
    return !rva || in_dir(x, rva, 1) ? 0 : x->m->base + rva;
}

static uint64_t export_by_name(const export_table *x, const char *name)
{
    uint32_t lo = 0, hi = x->nnames;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, at = u32(x->dir + (x->names - x->rva) + 4ull * mid);
        if (!in_dir(x, at, 1))
            return 0; /* names outside the directory: the slow way */
        const char *s = (const char *)x->dir + (at - x->rva);
        size_t room = x->size - (at - x->rva);
        if (!memchr(s, 0, room))
            return 0; /* a name running off the directory: the slow way */
        int cmp = strcmp(s, name);
        if (!cmp)
            return export_address(x, u16(x->dir + (x->ords - x->rva) + 2ull * mid));
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The export tables of the dump's modules, each read once while binding. */
typedef struct export_cache {
    export_table *tables; /* per module */
    bool *tried, *ok;
} export_cache;

static const export_table *exports_of(const dx_dump *d, export_cache *c, const dx_module *m)
{
    size_t i = (size_t)(m - d->modules);
    if (!c->tried[i])
        c->ok[i] = export_table_load(d, m, &c->tables[i]), c->tried[i] = true;
    return c->ok[i] ? &c->tables[i] : NULL;
}

/* Each IAT slot the image supplies: the import's address in the dump. */
static void bind_imports(dx_dump *d, const loaded *l, export_cache *cache, dx_buf *report)
{
    dx_image *im = l->im;
    const pe_file *pe = &im->pe;
    size_t unresolved = 0;
    char first[600] = "";
    /* A hostile file may repeat descriptors and tables: the walk ends at
     * the directory's size, and the binds at one per 8 bytes of image. */
    uint64_t end = pe->import_size ? (uint64_t)pe->import_rva + pe->import_size : pe->size_of_image;
    size_t max_binds = pe->size_of_image / 8 + 16;
    for (uint64_t at = pe->import_rva; pe->import_rva && at + 20 <= end && im->nbinds < max_binds; at += 20) {
        const uint8_t *desc = image_at(im, at, 20);
        if (!desc)
            break;
        uint32_t ilt = u32(desc), name = u32(desc + 12), iat = u32(desc + 16);
        char dll[256], fn[256];
        if ((!name && !iat) || !name_at(im, name, dll, sizeof dll))
            break;
        char *dot = strrchr(dll, '.');
        if (dot && !strcasecmp(dot, ".dll"))
            *dot = 0;
        const dx_module *target = dx_dump_find_module(d, dll);
        const export_table *x = target ? exports_of(d, cache, target) : NULL;
        uint64_t lookup = ilt ? ilt : iat;
        for (uint64_t k = 0; k < 0x10000 && im->nbinds < max_binds; k++) {
            const uint8_t *t = image_at(im, lookup + 8 * k, 8);
            uint64_t thunk = t ? u64(t) : 0;
            if (!thunk || !image_at(im, iat + 8 * k, 8))
                break;
            uint64_t slot = l->m->base + iat + 8 * k;
            const dx_range *r = dx_dump_range_at(d, slot);
            if (!r || !dx_dump_range_from_file(d, r))
                continue; /* the dump holds this slot: its bytes win */
            char expr[600], err[DX_ERRLEN];
            if (thunk >> 63)
                snprintf(expr, sizeof expr, "%s!#%u", dll, (unsigned)(thunk & 0xffff));
            else if (name_at(im, (thunk & 0x7fffffff) + 2, fn, sizeof fn))
                snprintf(expr, sizeof expr, "%s!%s", dll, fn);
            else
                continue;
            uint64_t addr = !x ? 0 : thunk >> 63 ? export_address(x, (uint32_t)((thunk & 0xffff) - x->base))
                                                 : export_by_name(x, fn);
            if ((addr || dx_dump_resolve(d, expr, &addr, err, sizeof err) == 0) &&
                !set_slot(im, (uint32_t)(iat + 8 * k), addr))
                return; /* out of memory: the rest stays unbound */
            else if (!unresolved++)
                snprintf(first, sizeof first, "%s", expr);
        }
    }
    if (unresolved)
        dx_buf_printf(report, "%s: %zu imports not bound (the first: %s); calls through them fault\n",
                      l->m->basename, unresolved, first);
}

/* A thread whose TEB the dump lacks (a MiniDumpNormal dump from Wine's
 * dbghelp holds none) gets a minimal one: NT_TIB's Self and stack bounds,
 * and its ClientId, which is what code reaches through GS first. */
#define TEB_BYTES 0x2000
static void make_tebs(dx_dump *d, dx_buf *report)
{
    for (size_t i = 0; i < d->nthreads; i++) {
        const dx_thread *t = &d->threads[i];
        const dx_range *next = t->teb ? dx_dump_range_after(d, t->teb) : NULL;
        if (!t->teb || (t->teb & (PAGE - 1)) || dx_dump_range_at(d, t->teb) || (next && next->base < t->teb + TEB_BYTES) ||
            d->nsynth >= sizeof d->synth / sizeof d->synth[0])
            continue;
        uint8_t *teb = calloc(1, TEB_BYTES);
        if (!teb || memindex_add(d, t->teb, TEB_BYTES, teb, NULL) != 0) {
            free(teb);
            continue;
        }
        uint64_t self = t->teb, base = t->stack_start + t->stack_size, limit = t->stack_start, tid = t->tid;
        uint64_t pid = d->has_pid ? d->pid : 0;
        memcpy(teb + 0x08, &base, 8);
        memcpy(teb + 0x10, &limit, 8);
        memcpy(teb + 0x30, &self, 8);
        memcpy(teb + 0x40, &pid, 8);
        memcpy(teb + 0x48, &tid, 8);
        d->synth[d->nsynth++] = teb;
        dx_buf_printf(report, "thread 0x%x: its TEB is not in the dump: a minimal one at 0x%" PRIx64
                              " (Self, stack bounds, ClientId)\n", t->tid, t->teb);
    }
}

bool dx_dump_images_asked(const dx_dump *d) { return d->images_asked; }
bool dx_safe_file_name(const char *name) { return safe_name(name); }

static int by_gap_base(const void *a, const void *b)
{
    const memindex_new *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* Some page of the module's image is not in the dump (a full dump's
 * paged-out code, a small dump's everything). */
static bool has_gaps(const dx_dump *d, const dx_module *m)
{
    gaps g = {0};
    for_each_gap(d, m->base, m->base + m->size, add_gap, &g);
    return g.any;
}

int dx_dump_add_images(dx_dump *d, const char *path, dx_buf *report)
{
    d->images_asked = true;
    make_tebs(d, report);
    loaded *got = calloc(d->nmodules ? d->nmodules : 1, sizeof *got);
    size_t n = 0;
    if (!got)
        return -1;
    for (size_t i = 0; i < d->nmodules; i++) {
        const dx_module *m = &d->modules[i];
        if (!has_gaps(d, m) || d->module_files[i])
            continue;
        char file[4096] = "";
        bool found = false;
        for (const char *p = path; p && *p && !found;) {
            const char *semi = strchr(p, ';');
            size_t len = semi ? (size_t)(semi - p) : strlen(p);
            char entry[4096];
            snprintf(entry, sizeof entry, "%.*s", (int)len, p);
            p = semi ? semi + 1 : NULL;
            if (!strncasecmp(entry, "srv*", 4) || !strncasecmp(entry, "cache*", 6) || !strncasecmp(entry, "symsrv*", 7))
                continue; /* symbol servers: the layer above fetches into a folder (dx_dump_add_images again) */
            if (entry[0] && find_file(entry, m, file, sizeof file)) {
                dx_image *im = load_one(m, file, report);
                for (size_t k = 0; im && k < n; k++)
                    if (got[k].m->base < m->base + m->size && m->base < got[k].m->base + got[k].m->size) {
                        dx_buf_printf(report, "%s: overlaps %s in the dump: its image is not used\n", m->basename,
                                      got[k].m->basename);
                        image_free(im);
                        im = NULL;
                    }
                if (im) {
                    got[n] = (loaded){m, im, ""};
                    snprintf(got[n++].path, sizeof got[0].path, "%s", file);
                    found = true;
                }
            }
        }
        if (!found)
            dx_buf_printf(report, "%s: no file in the image path\n", m->basename);
    }
    gaps g = {0};
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(got[k].m - d->modules);
        d->module_files[i] = got[k].im; /* freed with the dump */
        g.im = got[k].im;
        for_each_gap(d, got[k].m->base, got[k].m->base + got[k].m->size, add_gap, &g);
    }
    if (g.n)
        qsort(g.v, g.n, sizeof *g.v, by_gap_base); /* modules come in the dump's order, not by address */
    if (g.oom || memindex_add_many(d, g.v, g.n) != 0) {
        dx_buf_printf(report, "out of memory for the images' ranges: none used\n");
        for (size_t k = 0; k < n; k++)
            got[k].im = NULL;
    }
    free(g.v);
    for (size_t k = 0; k < n && got[k].im; k++) {
        size_t i = (size_t)(got[k].m - d->modules);
        d->module_paths[i] = strdup(got[k].path);
        dx_buf_printf(report, "%s: image from %s\n", got[k].m->basename, got[k].path);
    }
    export_cache cache = {calloc(d->nmodules + 1, sizeof *cache.tables), calloc(d->nmodules + 1, 1),
                          calloc(d->nmodules + 1, 1)};
    for (size_t k = 0; k < n && cache.tables && cache.tried && cache.ok; k++)
        if (got[k].im)
            bind_imports(d, &got[k], &cache, report);
    for (size_t i = 0; cache.tables && i < d->nmodules; i++)
        free(cache.tables[i].dir);
    free(cache.tables);
    free(cache.tried);
    free(cache.ok);
    free(got);
    return 0;
}

bool dx_dump_module_from_file(const dx_dump *d, const dx_module *m) { return dx_dump_module_file(d, m) != NULL; }

const char *dx_dump_module_file(const dx_dump *d, const dx_module *m)
{
    if (m < d->modules || m >= d->modules + d->nmodules || !d->module_paths)
        return NULL;
    return d->module_paths[m - d->modules];
}
