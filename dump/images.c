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

/* The image as mapped at base: a new buffer of SizeOfImage bytes. */
static uint8_t *pe_layout(const pe_file *pe)
{
    uint8_t *img = calloc(1, pe->size_of_image);
    if (!img)
        return NULL;
    uint64_t hdr = pe->size_of_headers < pe->size ? pe->size_of_headers : pe->size;
    memcpy(img, pe->data, hdr < pe->size_of_image ? hdr : pe->size_of_image);
    for (unsigned i = 0; i < pe->nsections; i++) {
        const uint8_t *s = pe->sections + 40 * i;
        uint64_t va = u32(s + 12), raw = u32(s + 16), at = u32(s + 20), vsize = u32(s + 8);
        uint64_t n = raw < vsize || !vsize ? raw : vsize;
        if (at > pe->size)
            continue;
        if (n > pe->size - at)
            n = pe->size - at;
        if (va >= pe->size_of_image)
            continue;
        if (n > pe->size_of_image - va)
            n = pe->size_of_image - va;
        memcpy(img + va, pe->data + at, n);
    }
    return img;
}

/* Base relocations for the image placed at base instead of its own. */
static void pe_relocate(const pe_file *pe, uint8_t *img, uint64_t base)
{
    uint64_t delta = base - pe->image_base;
    uint64_t at = pe->reloc_rva, end = (uint64_t)pe->reloc_rva + pe->reloc_size;
    if (!delta || !pe->reloc_rva || end > pe->size_of_image)
        return;
    while (at + 8 <= end) {
        uint32_t page = u32(img + at), block = u32(img + at + 4);
        if (block < 8 || block > end - at)
            break;
        for (uint64_t k = 8; k + 2 <= block; k += 2) {
            uint16_t e = u16(img + at + k);
            uint64_t rva = (uint64_t)page + (e & 0xfff);
            if (e >> 12 == 10 && rva + 8 <= pe->size_of_image) {
                uint64_t v = u64(img + rva) + delta;
                memcpy(img + rva, &v, 8);
            } else if (e >> 12 == 3 && rva + 4 <= pe->size_of_image) {
                uint32_t v = u32(img + rva) + (uint32_t)delta;
                memcpy(img + rva, &v, 4);
            }
        }
        at += block;
    }
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
    uint8_t *img = pe_layout(&pe);
    if (img)
        pe_relocate(&pe, img, base);
    return img;
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
static bool find_file(const char *entry, const dx_module *m, char *out, size_t outlen)
{
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
    pe_file pe;
    uint8_t *img;
    char path[4096];
} loaded;

/* Open path and check it against the module; the image laid out and
 * relocated, or NULL with why in report. */
static uint8_t *load_one(const dx_module *m, const char *path, dx_buf *report, pe_file *pe_out)
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
    uint8_t *img = NULL;
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
    } else if (!(img = pe_layout(&pe))) {
        dx_buf_printf(report, "%s: out of memory for its image\n", m->basename);
    } else {
        pe_relocate(&pe, img, m->base);
        /* The image's own headers are all the rest needs (imports): the file goes. */
        pe_parse(img, pe.size_of_image, pe_out);
    }
    munmap(map, (size_t)st.st_size);
    return img;
}

/* The image's pages that no captured range touches join the memory index. */
static int add_ranges(dx_dump *d, const dx_module *m, const uint8_t *img)
{
    for (uint64_t off = 0; off < m->size; off += PAGE) {
        uint64_t page = m->base + off, end;
        const dx_range *next = dx_dump_range_after(d, page);
        if (dx_dump_range_at(d, page) || (next && next->base < page + PAGE))
            continue;
        for (end = page + PAGE; end < m->base + m->size; end += PAGE) {
            const dx_range *n2 = dx_dump_range_after(d, end);
            if (dx_dump_range_at(d, end) || (n2 && n2->base < end + PAGE))
                break;
        }
        if (memindex_add(d, page, end - page, img + off) != 0)
            return -1;
        off = end - m->base - PAGE;
    }
    return 0;
}

/* Each IAT slot the image supplies: the import's address in the dump. */
static void bind_imports(dx_dump *d, const loaded *l, dx_buf *report)
{
    const pe_file *pe = &l->pe;
    uint8_t *img = l->img;
    size_t unresolved = 0;
    char first[600] = "";
    for (uint64_t at = pe->import_rva; pe->import_rva && at + 20 <= pe->size_of_image; at += 20) {
        uint32_t ilt = u32(img + at), name = u32(img + at + 12), iat = u32(img + at + 16);
        if (!name && !iat)
            break;
        if (name >= pe->size_of_image || iat >= pe->size_of_image)
            break;
        char dll[256];
        snprintf(dll, sizeof dll, "%.*s", (int)strnlen((const char *)img + name, pe->size_of_image - name), img + name);
        char *dot = strrchr(dll, '.');
        if (dot && !strcasecmp(dot, ".dll"))
            *dot = 0;
        uint64_t lookup = ilt ? ilt : iat;
        for (uint64_t k = 0; lookup + 8 * k + 8 <= pe->size_of_image && iat + 8 * k + 8 <= pe->size_of_image; k++) {
            uint64_t thunk = u64(img + lookup + 8 * k);
            if (!thunk)
                break;
            uint64_t slot = l->m->base + iat + 8 * k;
            if (dx_dump_range_bytes_at(d, slot) != img + iat + 8 * k)
                continue; /* the dump holds this slot: its bytes win */
            char expr[600], err[DX_ERRLEN];
            if (thunk >> 63)
                snprintf(expr, sizeof expr, "%s!#%u", dll, (unsigned)(thunk & 0xffff));
            else if ((thunk & 0x7fffffff) + 2 < pe->size_of_image)
                snprintf(expr, sizeof expr, "%s!%.*s", dll,
                         (int)strnlen((const char *)img + (thunk & 0x7fffffff) + 2,
                                      pe->size_of_image - (thunk & 0x7fffffff) - 2),
                         img + (thunk & 0x7fffffff) + 2);
            else
                continue;
            uint64_t addr;
            if (dx_dump_resolve(d, expr, &addr, err, sizeof err) == 0) {
                memcpy(img + iat + 8 * k, &addr, 8);
            } else if (!unresolved++) {
                snprintf(first, sizeof first, "%s", expr);
            }
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
        if (!teb || memindex_add(d, t->teb, TEB_BYTES, teb) != 0) {
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
        if (dx_module_has_code(d, m) || d->module_files[i])
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
                pe_file pe;
                uint8_t *img = load_one(m, file, report, &pe);
                if (img) {
                    got[n] = (loaded){m, pe, img, ""};
                    snprintf(got[n++].path, sizeof got[0].path, "%s", file);
                    found = true;
                }
            }
        }
        if (!found)
            dx_buf_printf(report, "%s: no file in the image path\n", m->basename);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(got[k].m - d->modules);
        if (add_ranges(d, got[k].m, got[k].img) != 0) {
            dx_buf_printf(report, "%s: out of memory for its ranges\n", got[k].m->basename);
            free(got[k].img);
            got[k].img = NULL;
            continue;
        }
        d->module_files[i] = got[k].img;
        d->module_paths[i] = strdup(got[k].path);
        dx_buf_printf(report, "%s: image from %s\n", got[k].m->basename, got[k].path);
    }
    for (size_t k = 0; k < n; k++)
        if (got[k].img)
            bind_imports(d, &got[k], report);
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
