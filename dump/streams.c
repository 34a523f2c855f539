/* One parser per stream type. Each checks its counts against the stream's
 * own size before allocating, so no allocation is sized by a raw field.
 * A stream type seen twice keeps its first copy. */
#include "internal.h"

#include <stdlib.h>

enum {
    ST_THREAD_LIST = 3,
    ST_MODULE_LIST = 4,
    ST_MEMORY_LIST = 5,
    ST_EXCEPTION = 6,
    ST_SYSTEM_INFO = 7,
    ST_MEMORY64_LIST = 9,
    ST_COMMENT_A = 10,
    ST_COMMENT_W = 11,
    ST_HANDLE_DATA = 12,
    ST_UNLOADED_MODULE_LIST = 14,
    ST_MISC_INFO = 15,
    ST_MEMORY_INFO_LIST = 16,
    ST_THREAD_INFO_LIST = 17,
    ST_THREAD_NAMES = 24,
};

#define THREAD_SIZE 48
#define MODULE_SIZE 108
#define MEMDESC_SIZE 16
#define CONTEXT_MIN 0x1a0 /* through Rip and the start of FltSave */

/* Lists start with a 32-bit count; some writers pad it to 8 bytes. Returns
 * the entries' offset, or 0 if count entries do not fit. */
static uint64_t list_start(span s, uint64_t count, uint64_t entry)
{
    if (count > s.n / entry)
        return 0;
    uint64_t body = count * entry;
    if (s.n == 8 + body)
        return 8;
    return s.n >= 4 + body ? 4 : 0;
}

/* Checks a 32-bit-counted list of fixed-size entries against its stream.
 * Sets *count and *at (the first entry's offset) on success. */
static int open_list(span s, const char *stream, const char *what, uint64_t entry, uint32_t *count,
                     uint64_t *at, char *err, size_t errlen)
{
    if (s.n < 4)
        return dump_fail(err, errlen, "%s stream too small (%llu bytes)", stream, (unsigned long long)s.n);
    *count = rd32(s.p);
    *at = list_start(s, *count, entry);
    if (!*at)
        return dump_fail(err, errlen, "%s claims %u %s but holds %llu bytes", stream, *count, what,
                         (unsigned long long)s.n);
    return 0;
}

static void *alloc_array(uint64_t count, size_t size)
{
    return calloc(count ? (size_t)count : 1, size);
}

/* The context a LOCATION_DESCRIPTOR points at, if it is there. */
static bool read_context(dx_dump *d, const uint8_t *loc, dx_context *ctx)
{
    span c;
    uint32_t size = rd32(loc), rva = rd32(loc + 4);
    if (size < CONTEXT_MIN || !dump_span(d, rva, size, &c))
        return false;
    dx_context_decode(c.p, c.n, ctx);
    return true;
}

static int parse_threads(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->threads)
        return 0;
    uint32_t n;
    uint64_t at;
    if (open_list(s, "ThreadList", "threads", THREAD_SIZE, &n, &at, err, errlen) != 0)
        return -1;
    if (!(d->threads = alloc_array(n, sizeof *d->threads)))
        return dump_fail(err, errlen, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + at + (uint64_t)i * THREAD_SIZE;
        dx_thread *t = &d->threads[i];
        t->tid = rd32(e);
        t->suspend_count = rd32(e + 4);
        t->priority_class = rd32(e + 8);
        t->priority = rd32(e + 12);
        t->teb = rd64(e + 16);
        t->stack_start = rd64(e + 24);
        t->stack_size = rd32(e + 32);
        t->has_context = read_context(d, e + 40, &t->context);
    }
    d->nthreads = n;
    return 0;
}

static void parse_codeview(dx_dump *d, dx_module *m, const uint8_t *loc)
{
    span cv;
    if (!dump_span(d, rd32(loc + 4), rd32(loc), &cv) || cv.n < 24)
        return;
    if (memcmp(cv.p, "RSDS", 4) != 0)
        return;
    memcpy(m->pdb_guid, cv.p + 4, 16);
    m->pdb_age = rd32(cv.p + 20);
    m->pdb = dump_keep(d, strndup((const char *)cv.p + 24, cv.n - 24));
}

static const char *basename_of(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '\\' || *p == '/')
            b = p + 1;
    return b;
}

static int parse_modules(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->modules)
        return 0;
    uint32_t n;
    uint64_t at;
    if (open_list(s, "ModuleList", "modules", MODULE_SIZE, &n, &at, err, errlen) != 0)
        return -1;
    if (!(d->modules = alloc_array(n, sizeof *d->modules)))
        return dump_fail(err, errlen, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + at + (uint64_t)i * MODULE_SIZE;
        dx_module *m = &d->modules[i];
        m->base = rd64(e);
        m->size = rd32(e + 8);
        m->checksum = rd32(e + 12);
        m->timestamp = rd32(e + 16);
        m->path = dump_string_at(d, rd32(e + 20));
        if (!m->path)
            m->path = "";
        m->basename = basename_of(m->path);
        parse_codeview(d, m, e + 76);
    }
    d->nmodules = n;
    return 0;
}

static int parse_unloaded(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->unloaded || s.n < 12)
        return 0;
    uint32_t hdr = rd32(s.p), entry = rd32(s.p + 4), n = rd32(s.p + 8);
    if (hdr < 12 || entry < 24 || hdr > s.n || n > (s.n - hdr) / entry)
        return dump_fail(err, errlen, "UnloadedModuleList claims %u entries of %u bytes in %llu bytes", n,
                         entry, (unsigned long long)s.n);
    if (!(d->unloaded = alloc_array(n, sizeof *d->unloaded)))
        return dump_fail(err, errlen, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + hdr + (uint64_t)i * entry;
        dx_unloaded_module *u = &d->unloaded[i];
        u->base = rd64(e);
        u->size = rd32(e + 8);
        u->timestamp = rd32(e + 16);
        u->path = dump_string_at(d, rd32(e + 20));
        if (!u->path)
            u->path = "";
    }
    d->nunloaded = n;
    return 0;
}

static int parse_exception(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->has_exception)
        return 0;
    if (s.n < 168)
        return dump_fail(err, errlen, "Exception stream too small (%llu bytes)", (unsigned long long)s.n);
    dx_exception *x = &d->exception;
    x->tid = rd32(s.p);
    dx_exception_record_decode(s.p + 8, x); /* MINIDUMP_EXCEPTION is an EXCEPTION_RECORD64 */
    x->has_context = read_context(d, s.p + 160, &x->context);
    d->has_exception = true;
    return 0;
}

static int parse_sysinfo(dx_dump *d, span s, char *err, size_t errlen)
{
    if (s.n < 32)
        return dump_fail(err, errlen, "SystemInfo stream too small (%llu bytes)", (unsigned long long)s.n);
    dx_sysinfo *si = &d->sysinfo;
    si->arch = rd16(s.p);
    si->level = rd16(s.p + 2);
    si->revision = rd16(s.p + 4);
    si->ncpus = s.p[6];
    si->product_type = s.p[7];
    si->major = rd32(s.p + 8);
    si->minor = rd32(s.p + 12);
    si->build = rd32(s.p + 16);
    si->platform = rd32(s.p + 20);
    si->csd_version = dump_string_at(d, rd32(s.p + 24));
    if (si->csd_version && !*si->csd_version)
        si->csd_version = NULL;
    return 0;
}

static int parse_memory_list(dx_dump *d, span s, char *err, size_t errlen)
{
    uint32_t n;
    uint64_t at;
    if (open_list(s, "MemoryList", "ranges", MEMDESC_SIZE, &n, &at, err, errlen) != 0)
        return -1;
    dx_range *grown = realloc(d->ranges, (d->nranges + n + 1) * sizeof *grown);
    if (!grown)
        return dump_fail(err, errlen, "out of memory");
    d->ranges = grown;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + at + (uint64_t)i * MEMDESC_SIZE;
        uint64_t base = rd64(e), size = rd32(e + 8), rva = rd32(e + 12);
        span bytes;
        if (!dump_span(d, rva, size, &bytes))
            return dump_fail(err, errlen, "MemoryList range %u (0x%llx, %llu bytes) lies past the end of the file",
                             i, (unsigned long long)base, (unsigned long long)size);
        d->ranges[d->nranges++] = (dx_range){base, size, rva};
    }
    return 0;
}

static int parse_memory64_list(dx_dump *d, span s, char *err, size_t errlen)
{
    if (s.n < 16)
        return dump_fail(err, errlen, "Memory64List stream too small (%llu bytes)", (unsigned long long)s.n);
    uint64_t n = rd64(s.p), rva = rd64(s.p + 8);
    if (n > (s.n - 16) / MEMDESC_SIZE)
        return dump_fail(err, errlen, "Memory64List claims %llu ranges but holds %llu bytes",
                         (unsigned long long)n, (unsigned long long)s.n);
    dx_range *grown = realloc(d->ranges, (d->nranges + n + 1) * sizeof *grown);
    if (!grown)
        return dump_fail(err, errlen, "out of memory");
    d->ranges = grown;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + 16 + i * MEMDESC_SIZE;
        uint64_t base = rd64(e), size = rd64(e + 8);
        span bytes;
        if (!dump_span(d, rva, size, &bytes))
            return dump_fail(err, errlen,
                             "Memory64List range %llu (0x%llx, %llu bytes) lies past the end of the file",
                             (unsigned long long)i, (unsigned long long)base, (unsigned long long)size);
        d->ranges[d->nranges++] = (dx_range){base, size, rva};
        rva += size;
    }
    return 0;
}

static int parse_memory_info(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->regions || s.n < 16)
        return 0;
    uint32_t hdr = rd32(s.p), entry = rd32(s.p + 4);
    uint64_t n = rd64(s.p + 8);
    if (hdr < 16 || entry < 48 || hdr > s.n || n > (s.n - hdr) / entry)
        return dump_fail(err, errlen, "MemoryInfoList claims %llu entries of %u bytes in %llu bytes",
                         (unsigned long long)n, entry, (unsigned long long)s.n);
    if (!(d->regions = alloc_array(n, sizeof *d->regions)))
        return dump_fail(err, errlen, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + hdr + i * entry;
        d->regions[i] = (dx_region){
            .base = rd64(e), .alloc_base = rd64(e + 8), .alloc_protect = rd32(e + 16),
            .size = rd64(e + 24), .state = rd32(e + 32), .protect = rd32(e + 36), .type = rd32(e + 40),
        };
    }
    d->nregions = n;
    return 0;
}

static dx_thread *thread_by_tid(dx_dump *d, uint32_t tid)
{
    for (size_t i = 0; i < d->nthreads; i++)
        if (d->threads[i].tid == tid)
            return &d->threads[i];
    return NULL;
}

static void apply_thread_info(dx_dump *d, span s)
{
    if (s.n < 12)
        return;
    uint32_t hdr = rd32(s.p), entry = rd32(s.p + 4), n = rd32(s.p + 8);
    if (hdr < 12 || entry < 64 || hdr > s.n || n > (s.n - hdr) / entry)
        return;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + hdr + (uint64_t)i * entry;
        dx_thread *t = thread_by_tid(d, rd32(e));
        if (!t)
            continue;
        t->has_info = true;
        t->create_time = rd64(e + 16);
        t->start_address = rd64(e + 48);
    }
}

static void apply_thread_names(dx_dump *d, span s)
{
    if (s.n < 4)
        return;
    uint32_t n = rd32(s.p);
    if (n > (s.n - 4) / 12)
        return;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + 4 + (uint64_t)i * 12;
        dx_thread *t = thread_by_tid(d, rd32(e));
        uint64_t rva = rd64(e + 4);
        if (t && rva <= UINT32_MAX) {
            const char *name = dump_string_at(d, (uint32_t)rva);
            if (name && *name)
                t->name = name;
        }
    }
}

static int parse_handles(dx_dump *d, span s, char *err, size_t errlen)
{
    if (d->handles || s.n < 16)
        return 0;
    uint32_t hdr = rd32(s.p), entry = rd32(s.p + 4), n = rd32(s.p + 8);
    if (hdr < 16 || entry < 32 || hdr > s.n || n > (s.n - hdr) / entry)
        return dump_fail(err, errlen, "HandleData claims %u handles of %u bytes in %llu bytes", n, entry,
                         (unsigned long long)s.n);
    if (!(d->handles = alloc_array(n, sizeof *d->handles)))
        return dump_fail(err, errlen, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = s.p + hdr + (uint64_t)i * entry;
        uint32_t type_rva = rd32(e + 8), name_rva = rd32(e + 12);
        d->handles[i].handle = rd64(e);
        d->handles[i].type_name = type_rva ? dump_string_at(d, type_rva) : NULL;
        d->handles[i].object_name = name_rva ? dump_string_at(d, name_rva) : NULL;
    }
    d->nhandles = n;
    return 0;
}

static void parse_misc(dx_dump *d, span s)
{
    if (s.n >= 12 && (rd32(s.p + 4) & 1)) {
        d->has_pid = true;
        d->pid = rd32(s.p + 8);
    }
}

static void parse_comment(dx_dump *d, span s, bool wide)
{
    if (d->comment)
        return;
    char *c = wide ? utf16_to_utf8(s.p, s.n / 2) : strndup((const char *)s.p, s.n);
    d->comment = (char *)dump_keep(d, c);
}

bool streams_known(uint32_t type)
{
    switch (type) {
    case ST_THREAD_LIST: case ST_MODULE_LIST: case ST_MEMORY_LIST: case ST_EXCEPTION: case ST_SYSTEM_INFO:
    case ST_MEMORY64_LIST: case ST_COMMENT_A: case ST_COMMENT_W: case ST_HANDLE_DATA:
    case ST_UNLOADED_MODULE_LIST: case ST_MISC_INFO: case ST_MEMORY_INFO_LIST: case ST_THREAD_INFO_LIST:
    case ST_THREAD_NAMES: return true;
    default: return false;
    }
}

int streams_parse(dx_dump *d, uint32_t type, span s, char *err, size_t errlen)
{
    switch (type) {
    case ST_THREAD_LIST: return parse_threads(d, s, err, errlen);
    case ST_MODULE_LIST: return parse_modules(d, s, err, errlen);
    case ST_MEMORY_LIST: return parse_memory_list(d, s, err, errlen);
    case ST_EXCEPTION: return parse_exception(d, s, err, errlen);
    case ST_SYSTEM_INFO: return parse_sysinfo(d, s, err, errlen);
    case ST_MEMORY64_LIST: return parse_memory64_list(d, s, err, errlen);
    case ST_COMMENT_A: parse_comment(d, s, false); return 0;
    case ST_COMMENT_W: parse_comment(d, s, true); return 0;
    case ST_HANDLE_DATA: return parse_handles(d, s, err, errlen);
    case ST_UNLOADED_MODULE_LIST: return parse_unloaded(d, s, err, errlen);
    case ST_MISC_INFO: parse_misc(d, s); return 0;
    case ST_MEMORY_INFO_LIST: return parse_memory_info(d, s, err, errlen);
    default: return 0; /* Unused, vendor and unknown streams */
    }
}

/* Annotation streams name threads by id, so they wait for the ThreadList
 * wherever it sits in the directory. */
void streams_annotate(dx_dump *d, uint32_t type, span s)
{
    if (type == ST_THREAD_INFO_LIST)
        apply_thread_info(d, s);
    else if (type == ST_THREAD_NAMES)
        apply_thread_names(d, s);
}
