/* A minidump writer for tests. See mdwriter.h. Structure layouts follow
 * minidumpapiset.h (all structures are 4-byte packed) and winnt.h. */
#include "mdwriter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_SIZE 32u
#define DIRENT_SIZE 12u

typedef struct dirent_ {
    uint32_t type, size, rva;
} dirent_;

struct mdw {
    uint8_t *buf;
    size_t len, cap;
    dirent_ dir[MDW_MAX_STREAMS];
    size_t ndir;
    bool finished;
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mdwriter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

mdw *mdw_new(void)
{
    mdw *w = xmalloc(sizeof *w);
    w->cap = 4096;
    w->buf = xmalloc(w->cap);
    w->len = HEADER_SIZE + DIRENT_SIZE * MDW_MAX_STREAMS;
    return w;
}

void mdw_free(mdw *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

static void reserve(mdw *w, size_t need)
{
    if (need <= w->cap)
        return;
    size_t cap = w->cap;
    while (cap < need)
        cap *= 2;
    uint8_t *grown = realloc(w->buf, cap);
    if (!grown)
        die("out of memory (%zu bytes)", cap);
    memset(grown + w->cap, 0, cap - w->cap);
    w->buf = grown;
    w->cap = cap;
}

static void not_finished(const mdw *w)
{
    if (w->finished)
        die("stream added after the dump was finished (edits must come last)");
}

uint32_t mdw_blob(mdw *w, const void *data, size_t len)
{
    not_finished(w);
    size_t at = (w->len + 3) & ~(size_t)3;
    if (at + len > UINT32_MAX)
        die("dump larger than 4 GiB");
    reserve(w, at + len);
    memset(w->buf + w->len, 0, at - w->len);
    if (data)
        memcpy(w->buf + at, data, len);
    else
        memset(w->buf + at, 0, len);
    w->len = at + len;
    return (uint32_t)at;
}

/* Decode one code point of valid UTF-8 (the tests only pass valid text). */
static uint32_t next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    uint32_t cp;
    int more;
    if (p[0] < 0x80)
        cp = p[0], more = 0;
    else if (p[0] < 0xe0)
        cp = p[0] & 0x1f, more = 1;
    else if (p[0] < 0xf0)
        cp = p[0] & 0x0f, more = 2;
    else
        cp = p[0] & 0x07, more = 3;
    p++;
    for (int i = 0; i < more; i++) {
        if ((*p & 0xc0) != 0x80)
            die("invalid UTF-8 passed to mdw_string");
        cp = cp << 6 | (*p++ & 0x3f);
    }
    *s = p;
    return cp;
}

static uint16_t *utf8_to_utf16(const char *s, size_t *n)
{
    size_t len = strlen(s);
    uint16_t *u = xmalloc((2 * len + 1) * sizeof *u);
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = next_cp(&p);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[k++] = (uint16_t)(0xd800 + (cp >> 10));
            u[k++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
        } else {
            u[k++] = (uint16_t)cp;
        }
    }
    *n = k;
    return u;
}

uint32_t mdw_string16(mdw *w, const uint16_t *units, size_t n)
{
    /* MINIDUMP_STRING: Length in bytes (without the terminator), Buffer. */
    size_t bytes = 4 + 2 * n + 2;
    uint8_t *b = xmalloc(bytes);
    put32(b, (uint32_t)(2 * n));
    for (size_t i = 0; i < n; i++)
        put16(b + 4 + 2 * i, units[i]);
    uint32_t rva = mdw_blob(w, b, bytes);
    free(b);
    return rva;
}

uint32_t mdw_string(mdw *w, const char *utf8)
{
    size_t n;
    uint16_t *u = utf8_to_utf16(utf8, &n);
    uint32_t rva = mdw_string16(w, u, n);
    free(u);
    return rva;
}

size_t mdw_dir_entry(mdw *w, uint32_t type, uint32_t size, uint32_t rva)
{
    not_finished(w);
    if (w->ndir == MDW_MAX_STREAMS)
        die("more than %d streams", MDW_MAX_STREAMS);
    w->dir[w->ndir] = (dirent_){type, size, rva};
    return w->ndir++;
}

size_t mdw_stream(mdw *w, uint32_t type, const void *data, size_t len)
{
    uint32_t rva = mdw_blob(w, data, len);
    return mdw_dir_entry(w, type, (uint32_t)len, rva);
}

size_t mdw_unused(mdw *w) { return mdw_dir_entry(w, MD_UNUSED, 0, 0); }

/* winnt.h CONTEXT (AMD64), 0x4d0 bytes:
 *   0x00 P1Home..P6Home  0x30 ContextFlags  0x34 MxCsr
 *   0x38 SegCs SegDs SegEs SegFs SegGs SegSs (WORD each)  0x44 EFlags
 *   0x48 Dr0 Dr1 Dr2 Dr3 Dr6 Dr7
 *   0x78 Rax Rcx Rdx Rbx Rsp Rbp Rsi Rdi R8..R15  0xf8 Rip
 *   0x100 FltSave (XMM_SAVE_AREA32, 512 bytes)
 *   0x300 VectorRegister[26], VectorControl, DebugControl, LastBranch..., */
void mdw_encode_context(const dx_context *c, uint8_t out[MDW_CONTEXT_SIZE])
{
    memset(out, 0, MDW_CONTEXT_SIZE);
    put32(out + 0x30, c->flags);
    put32(out + 0x34, c->mxcsr);
    put16(out + 0x38, c->cs);
    put16(out + 0x3a, c->ds);
    put16(out + 0x3c, c->es);
    put16(out + 0x3e, c->fs);
    put16(out + 0x40, c->gs);
    put16(out + 0x42, c->ss);
    put32(out + 0x44, c->eflags);
    put64(out + 0x48, c->dr0);
    put64(out + 0x50, c->dr1);
    put64(out + 0x58, c->dr2);
    put64(out + 0x60, c->dr3);
    put64(out + 0x68, c->dr6);
    put64(out + 0x70, c->dr7);
    const uint64_t gpr[16] = {c->rax, c->rcx, c->rdx, c->rbx, c->rsp, c->rbp, c->rsi, c->rdi,
                              c->r8,  c->r9,  c->r10, c->r11, c->r12, c->r13, c->r14, c->r15};
    for (int i = 0; i < 16; i++)
        put64(out + 0x78 + 8 * i, gpr[i]);
    put64(out + 0xf8, c->rip);
    /* XMM_SAVE_AREA32: ControlWord, StatusWord, TagWord (BYTE), Reserved1,
     * ErrorOpcode, ErrorOffset, ErrorSelector, Reserved2, DataOffset,
     * DataSelector, Reserved3, MxCsr, MxCsr_Mask, FloatRegisters[8] (M128A),
     * XmmRegisters[16] (M128A), Reserved4[96]. */
    uint8_t *f = out + 0x100;
    put16(f + 0, c->fcw);
    put16(f + 2, c->fsw);
    f[4] = c->ftw;
    put16(f + 6, c->fop);
    put32(f + 8, c->fioff);
    put16(f + 12, c->fiseg);
    put32(f + 16, c->fooff);
    put16(f + 20, c->foseg);
    put32(f + 24, c->mxcsr);
    put32(f + 28, 0xffff);
    for (int i = 0; i < 8; i++)
        memcpy(f + 32 + 16 * i, c->st[i], 10);
    for (int i = 0; i < 16; i++)
        memcpy(f + 160 + 16 * i, c->xmm[i], 16);
}

static uint32_t context_blob(mdw *w, const dx_context *c, uint32_t size)
{
    uint8_t full[MDW_CONTEXT_SIZE];
    mdw_encode_context(c, full);
    if (size <= MDW_CONTEXT_SIZE)
        return mdw_blob(w, full, size);
    uint8_t *big = xmalloc(size);
    memcpy(big, full, MDW_CONTEXT_SIZE);
    uint32_t rva = mdw_blob(w, big, size);
    free(big);
    return rva;
}

size_t mdw_system_info(mdw *w, const mdw_sysinfo *si)
{
    /* MINIDUMP_SYSTEM_INFO, 56 bytes: ProcessorArchitecture, ProcessorLevel,
     * ProcessorRevision (USHORT), NumberOfProcessors, ProductType (UCHAR),
     * MajorVersion, MinorVersion, BuildNumber, PlatformId, CSDVersionRva,
     * SuiteMask (USHORT), Reserved2 (USHORT), CPU_INFORMATION (24 bytes). */
    uint32_t csd = si->csd_version ? mdw_string(w, si->csd_version) : 0;
    uint8_t b[56] = {0};
    put16(b + 0, si->arch);
    put16(b + 2, si->level);
    put16(b + 4, si->revision);
    b[6] = si->ncpus;
    b[7] = si->product_type;
    put32(b + 8, si->major);
    put32(b + 12, si->minor);
    put32(b + 16, si->build);
    put32(b + 20, si->platform);
    put32(b + 24, csd);
    put16(b + 28, 0x100);
    memcpy(b + 32, "GenuineIntel", 12);
    return mdw_stream(w, MD_SYSTEM_INFO, b, sizeof b);
}

size_t mdw_system_info_arch(mdw *w, uint16_t arch)
{
    mdw_sysinfo si = {.arch = arch, .level = 6, .revision = 0x9e0a, .ncpus = 4, .product_type = 1,
                      .major = 10, .minor = 0, .build = 19041, .platform = 2};
    return mdw_system_info(w, &si);
}

size_t mdw_thread_list(mdw *w, const mdw_thread *t, size_t n)
{
    /* MINIDUMP_THREAD_LIST: NumberOfThreads, then MINIDUMP_THREAD (48):
     * ThreadId, SuspendCount, PriorityClass, Priority, Teb (ULONG64),
     * Stack (MINIDUMP_MEMORY_DESCRIPTOR: StartOfMemoryRange, {DataSize, Rva}),
     * ThreadContext (MINIDUMP_LOCATION_DESCRIPTOR: DataSize, Rva). */
    size_t len = 4 + 48 * n;
    uint8_t *b = xmalloc(len);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 4 + 48 * i;
        uint32_t stack_rva = t[i].stack_size ? mdw_blob(w, t[i].stack, t[i].stack_size) : 0;
        uint32_t csize = t[i].context ? (t[i].context_size ? t[i].context_size : MDW_CONTEXT_SIZE) : 0;
        uint32_t ctx_rva = t[i].context ? context_blob(w, t[i].context, csize) : 0;
        put32(e + 0, t[i].tid);
        put32(e + 4, t[i].suspend_count);
        put32(e + 8, t[i].priority_class);
        put32(e + 12, t[i].priority);
        put64(e + 16, t[i].teb);
        put64(e + 24, t[i].stack_start);
        put32(e + 32, t[i].stack_size);
        put32(e + 36, stack_rva);
        put32(e + 40, csize);
        put32(e + 44, ctx_rva);
    }
    size_t idx = mdw_stream(w, MD_THREAD_LIST, b, len);
    free(b);
    return idx;
}

size_t mdw_module_list(mdw *w, const mdw_module *m, size_t n)
{
    /* MINIDUMP_MODULE (108): BaseOfImage (ULONG64), SizeOfImage, CheckSum,
     * TimeDateStamp, ModuleNameRva, VersionInfo (VS_FIXEDFILEINFO, 52),
     * CvRecord and MiscRecord (LOCATION_DESCRIPTOR), Reserved0, Reserved1. */
    size_t len = 4 + 108 * n;
    uint8_t *b = xmalloc(len);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 4 + 108 * i;
        uint32_t name = mdw_string(w, m[i].name ? m[i].name : "");
        uint32_t cv = 0, cvsize = 0;
        if (m[i].pdb) {
            /* CV_INFO_PDB70: 'RSDS', GUID, Age, PdbFileName (NUL-terminated) */
            size_t pl = strlen(m[i].pdb);
            cvsize = (uint32_t)(24 + pl + 1);
            uint8_t *r = xmalloc(cvsize);
            memcpy(r, "RSDS", 4);
            memcpy(r + 4, m[i].pdb_guid, 16);
            put32(r + 20, m[i].pdb_age);
            memcpy(r + 24, m[i].pdb, pl + 1);
            cv = mdw_blob(w, r, cvsize);
            free(r);
        }
        put64(e + 0, m[i].base);
        put32(e + 8, m[i].size);
        put32(e + 12, m[i].checksum);
        put32(e + 16, m[i].timestamp);
        put32(e + 20, name);
        put32(e + 24, 0xfeef04bd); /* VS_FIXEDFILEINFO.dwSignature */
        put32(e + 28, 0x10000);    /* dwStrucVersion */
        put32(e + 76, cvsize);
        put32(e + 80, cv);
    }
    size_t idx = mdw_stream(w, MD_MODULE_LIST, b, len);
    free(b);
    return idx;
}

size_t mdw_unloaded_list(mdw *w, const mdw_unloaded *u, size_t n)
{
    /* MINIDUMP_UNLOADED_MODULE_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries;
     * MINIDUMP_UNLOADED_MODULE (24): BaseOfImage, SizeOfImage, CheckSum,
     * TimeDateStamp, ModuleNameRva. */
    size_t len = 12 + 24 * n;
    uint8_t *b = xmalloc(len);
    put32(b, 12);
    put32(b + 4, 24);
    put32(b + 8, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 12 + 24 * i;
        put64(e, u[i].base);
        put32(e + 8, u[i].size);
        put32(e + 12, u[i].checksum);
        put32(e + 16, u[i].timestamp);
        put32(e + 20, mdw_string(w, u[i].name ? u[i].name : ""));
    }
    size_t idx = mdw_stream(w, MD_UNLOADED_MODULE_LIST, b, len);
    free(b);
    return idx;
}

static const void *range_bytes(const mdw_mem *r, uint8_t **owned)
{
    *owned = NULL;
    if (r->data)
        return r->data;
    *owned = xmalloc(r->size);
    memset(*owned, r->fill, r->size);
    return *owned;
}

size_t mdw_memory_list(mdw *w, const mdw_mem *r, size_t n)
{
    /* MINIDUMP_MEMORY_LIST: NumberOfMemoryRanges, then MINIDUMP_MEMORY_DESCRIPTOR
     * (16): StartOfMemoryRange (ULONG64), Memory {DataSize, Rva}. */
    size_t len = 4 + 16 * n;
    uint8_t *b = xmalloc(len);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (r[i].size > UINT32_MAX)
            die("MemoryList range too large");
        uint8_t *owned;
        const void *data = range_bytes(&r[i], &owned);
        uint32_t rva = mdw_blob(w, data, r[i].size);
        free(owned);
        uint8_t *e = b + 4 + 16 * i;
        put64(e, r[i].base);
        put32(e + 8, (uint32_t)r[i].size);
        put32(e + 12, rva);
    }
    size_t idx = mdw_stream(w, MD_MEMORY_LIST, b, len);
    free(b);
    return idx;
}

size_t mdw_memory64_list(mdw *w, const mdw_mem *r, size_t n)
{
    /* MINIDUMP_MEMORY64_LIST: NumberOfMemoryRanges (ULONG64), BaseRva (RVA64),
     * then MINIDUMP_MEMORY_DESCRIPTOR64 (16): StartOfMemoryRange, DataSize.
     * The ranges' bytes follow each other from BaseRva on. */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += r[i].size;
    uint32_t base_rva = mdw_blob(w, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *owned;
        const void *data = range_bytes(&r[i], &owned);
        /* mdw_blob aligns: keep the bytes contiguous by appending directly. */
        reserve(w, w->len + r[i].size);
        memcpy(w->buf + w->len, data, r[i].size);
        w->len += r[i].size;
        free(owned);
    }
    if (w->len - base_rva != total)
        die("Memory64List bytes not contiguous");
    size_t len = 16 + 16 * n;
    uint8_t *b = xmalloc(len);
    put64(b, n);
    put64(b + 8, base_rva);
    for (size_t i = 0; i < n; i++) {
        put64(b + 16 + 16 * i, r[i].base);
        put64(b + 24 + 16 * i, r[i].size);
    }
    size_t idx = mdw_stream(w, MD_MEMORY64_LIST, b, len);
    free(b);
    return idx;
}

uint32_t mdw_memory_desc_rva(const mdw *w, size_t stream, size_t i)
{
    if (stream >= w->ndir)
        die("no stream %zu", stream);
    const dirent_ *e = &w->dir[stream];
    if (e->type == MD_MEMORY_LIST)
        return e->rva + 4 + 16 * (uint32_t)i;
    if (e->type == MD_MEMORY64_LIST)
        return e->rva + 16 + 16 * (uint32_t)i;
    die("stream %zu is not a memory list", stream);
}

size_t mdw_exception_stream(mdw *w, const mdw_exception *x)
{
    /* MINIDUMP_EXCEPTION_STREAM (168): ThreadId, __alignment, ExceptionRecord
     * (MINIDUMP_EXCEPTION: ExceptionCode, ExceptionFlags, ExceptionRecord (u64),
     * ExceptionAddress (u64), NumberParameters, __unusedAlignment,
     * ExceptionInformation[15] (u64)), ThreadContext (LOCATION_DESCRIPTOR). */
    uint32_t ctx = x->context ? context_blob(w, x->context, MDW_CONTEXT_SIZE) : 0;
    uint8_t b[168] = {0};
    put32(b, x->tid);
    put32(b + 8, x->code);
    put32(b + 12, x->flags);
    put64(b + 16, x->record);
    put64(b + 24, x->address);
    put32(b + 32, x->nparams);
    for (int i = 0; i < 15; i++)
        put64(b + 40 + 8 * i, x->params[i]);
    put32(b + 160, x->context ? MDW_CONTEXT_SIZE : 0);
    put32(b + 164, ctx);
    return mdw_stream(w, MD_EXCEPTION, b, sizeof b);
}

size_t mdw_thread_names(mdw *w, const mdw_thread_name *t, size_t n)
{
    /* MINIDUMP_THREAD_NAME_LIST: NumberOfThreadNames, then MINIDUMP_THREAD_NAME
     * (12, packed): ThreadId, RvaOfThreadName (RVA64). */
    size_t len = 4 + 12 * n;
    uint8_t *b = xmalloc(len);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put32(b + 4 + 12 * i, t[i].tid);
        put64(b + 8 + 12 * i, mdw_string(w, t[i].name));
    }
    size_t idx = mdw_stream(w, MD_THREAD_NAMES, b, len);
    free(b);
    return idx;
}

size_t mdw_thread_info_list(mdw *w, const mdw_thread_info *t, size_t n)
{
    /* MINIDUMP_THREAD_INFO_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries;
     * MINIDUMP_THREAD_INFO (64): ThreadId, DumpFlags, DumpError, ExitStatus,
     * CreateTime, ExitTime, KernelTime, UserTime, StartAddress, Affinity. */
    size_t len = 12 + 64 * n;
    uint8_t *b = xmalloc(len);
    put32(b, 12);
    put32(b + 4, 64);
    put32(b + 8, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 12 + 64 * i;
        put32(e, t[i].tid);
        put32(e + 4, t[i].dump_flags);
        put32(e + 8, t[i].dump_error);
        put32(e + 12, t[i].exit_status);
        put64(e + 16, t[i].create_time);
        put64(e + 24, t[i].exit_time);
        put64(e + 32, t[i].kernel_time);
        put64(e + 40, t[i].user_time);
        put64(e + 48, t[i].start_address);
        put64(e + 56, t[i].affinity);
    }
    size_t idx = mdw_stream(w, MD_THREAD_INFO_LIST, b, len);
    free(b);
    return idx;
}

size_t mdw_memory_info_list(mdw *w, const dx_region *r, size_t n)
{
    /* MINIDUMP_MEMORY_INFO_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries
     * (ULONG64); MINIDUMP_MEMORY_INFO (48): BaseAddress, AllocationBase,
     * AllocationProtect, __alignment1, RegionSize, State, Protect, Type,
     * __alignment2. */
    size_t len = 16 + 48 * n;
    uint8_t *b = xmalloc(len);
    put32(b, 16);
    put32(b + 4, 48);
    put64(b + 8, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 16 + 48 * i;
        put64(e, r[i].base);
        put64(e + 8, r[i].alloc_base);
        put32(e + 16, r[i].alloc_protect);
        put64(e + 24, r[i].size);
        put32(e + 32, r[i].state);
        put32(e + 36, r[i].protect);
        put32(e + 40, r[i].type);
    }
    size_t idx = mdw_stream(w, MD_MEMORY_INFO_LIST, b, len);
    free(b);
    return idx;
}

size_t mdw_handle_data(mdw *w, const mdw_handle *h, size_t n)
{
    /* MINIDUMP_HANDLE_DATA_STREAM: SizeOfHeader, SizeOfDescriptor,
     * NumberOfDescriptors, Reserved; MINIDUMP_HANDLE_DESCRIPTOR (32): Handle
     * (ULONG64), TypeNameRva, ObjectNameRva, Attributes, GrantedAccess,
     * HandleCount, PointerCount. */
    size_t len = 16 + 32 * n;
    uint8_t *b = xmalloc(len);
    put32(b, 16);
    put32(b + 4, 32);
    put32(b + 8, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + 16 + 32 * i;
        put64(e, h[i].handle);
        put32(e + 8, h[i].type_name ? mdw_string(w, h[i].type_name) : 0);
        put32(e + 12, h[i].object_name ? mdw_string(w, h[i].object_name) : 0);
        put32(e + 24, 1);
        put32(e + 28, 1);
    }
    size_t idx = mdw_stream(w, MD_HANDLE_DATA, b, len);
    free(b);
    return idx;
}

size_t mdw_misc_info(mdw *w, uint32_t pid)
{
    /* MINIDUMP_MISC_INFO (24): SizeOfInfo, Flags1, ProcessId,
     * ProcessCreateTime, ProcessUserTime, ProcessKernelTime. */
    uint8_t b[24] = {0};
    put32(b, sizeof b);
    put32(b + 4, 1); /* MINIDUMP_MISC1_PROCESS_ID */
    put32(b + 8, pid);
    return mdw_stream(w, MD_MISC_INFO, b, sizeof b);
}

size_t mdw_comment(mdw *w, const char *text, bool wide)
{
    if (!wide)
        return mdw_stream(w, MD_COMMENT_A, text, strlen(text) + 1);
    size_t n;
    uint16_t *u = utf8_to_utf16(text, &n);
    uint8_t *b = xmalloc(2 * n + 2);
    for (size_t i = 0; i < n; i++)
        put16(b + 2 * i, u[i]);
    size_t idx = mdw_stream(w, MD_COMMENT_W, b, 2 * n + 2);
    free(b);
    free(u);
    return idx;
}

void mdw_finish(mdw *w)
{
    if (w->finished)
        return;
    /* MINIDUMP_HEADER: Signature 'MDMP', Version (low word 0xa793, high word
     * implementation-specific), NumberOfStreams, StreamDirectoryRva,
     * CheckSum, TimeDateStamp, Flags (ULONG64). */
    put32(w->buf + 0, 0x504d444d);
    put32(w->buf + 4, 0xa793);
    put32(w->buf + 8, (uint32_t)w->ndir);
    put32(w->buf + 12, HEADER_SIZE);
    put32(w->buf + 16, 0);
    put32(w->buf + 20, 0x5f5e1000);
    put64(w->buf + 24, 0);
    for (size_t i = 0; i < w->ndir; i++) {
        uint8_t *e = w->buf + HEADER_SIZE + DIRENT_SIZE * i;
        put32(e, w->dir[i].type);
        put32(e + 4, w->dir[i].size);
        put32(e + 8, w->dir[i].rva);
    }
    w->finished = true;
}

size_t mdw_size(mdw *w)
{
    mdw_finish(w);
    return w->len;
}

const uint8_t *mdw_data(mdw *w)
{
    mdw_finish(w);
    return w->buf;
}

size_t mdw_stream_count(const mdw *w) { return w->ndir; }

uint32_t mdw_stream_rva(const mdw *w, size_t index)
{
    if (index >= w->ndir)
        die("no stream %zu", index);
    return w->dir[index].rva;
}

uint32_t mdw_stream_size(const mdw *w, size_t index)
{
    if (index >= w->ndir)
        die("no stream %zu", index);
    return w->dir[index].size;
}

uint32_t mdw_dir_entry_rva(const mdw *w, size_t index)
{
    (void)w; /* the directory always sits right after the header */
    if (index >= MDW_MAX_STREAMS)
        die("no directory slot %zu", index);
    return HEADER_SIZE + DIRENT_SIZE * (uint32_t)index;
}

static uint8_t *at(mdw *w, uint64_t off, size_t n)
{
    mdw_finish(w);
    if (off > w->len || n > w->len - off)
        die("edit at 0x%llx+%zu is past the end (0x%zx)", (unsigned long long)off, n, w->len);
    return w->buf + off;
}

void mdw_set_u8(mdw *w, uint64_t off, uint8_t v) { *at(w, off, 1) = v; }
void mdw_set_u16(mdw *w, uint64_t off, uint16_t v) { put16(at(w, off, 2), v); }
void mdw_set_u32(mdw *w, uint64_t off, uint32_t v) { put32(at(w, off, 4), v); }
void mdw_set_u64(mdw *w, uint64_t off, uint64_t v) { put64(at(w, off, 8), v); }

uint32_t mdw_get_u32(mdw *w, uint64_t off)
{
    const uint8_t *p = at(w, off, 4);
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void mdw_set_dir(mdw *w, size_t index, unsigned field, uint32_t v)
{
    if (field != MDW_DIR_TYPE && field != MDW_DIR_SIZE && field != MDW_DIR_RVA)
        die("bad directory field %u", field);
    mdw_set_u32(w, mdw_dir_entry_rva(w, index) + field, v);
}

void mdw_truncate(mdw *w, size_t len)
{
    mdw_finish(w);
    if (len > w->len)
        die("truncate to %zu grows the dump (%zu)", len, w->len);
    w->len = len;
}

void mdw_write(mdw *w, const char *path)
{
    mdw_finish(w);
    FILE *f = fopen(path, "wb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    if (w->len && fwrite(w->buf, 1, w->len, f) != w->len)
        die("%s: short write", path);
    if (fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

void mdw_write_temp(mdw *w, const char *dir, char *path, size_t pathlen)
{
    mdw_finish(w);
    if (!dir)
        dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if ((size_t)snprintf(path, pathlen, "%s/mdw-XXXXXX", dir) >= pathlen)
        die("temp path too long");
    int fd = mkstemp(path);
    if (fd < 0)
        die("mkstemp %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < w->len) {
        ssize_t n = write(fd, w->buf + done, w->len - done);
        if (n <= 0)
            die("%s: write: %s", path, strerror(errno));
        done += (size_t)n;
    }
    close(fd);
}

/* ---- PE image ---------------------------------------------------------- */

static const mdw_export *sort_base;
static int by_name(const void *a, const void *b)
{
    return strcmp(sort_base[*(const size_t *)a].name, sort_base[*(const size_t *)b].name);
}

static uint32_t put_str(uint8_t *img, uint32_t *str, const char *s)
{
    size_t l = strlen(s) + 1;
    if (*str + l > MDW_PE_SIZE)
        die("export directory does not fit the image");
    memcpy(img + *str, s, l);
    uint32_t rva = *str;
    *str += (uint32_t)l;
    return rva;
}

uint8_t *mdw_pe_image(const char *dll_name, const mdw_export *ex, size_t n)
{
    uint8_t *img = xmalloc(MDW_PE_SIZE);
    /* IMAGE_DOS_HEADER: e_magic 'MZ', e_lfanew at 0x3c. */
    img[0] = 'M';
    img[1] = 'Z';
    put32(img + 0x3c, MDW_PE_LFANEW);
    uint8_t *nt = img + MDW_PE_LFANEW;
    memcpy(nt, "PE\0\0", 4);
    /* IMAGE_FILE_HEADER: Machine, NumberOfSections, TimeDateStamp,
     * PointerToSymbolTable, NumberOfSymbols, SizeOfOptionalHeader,
     * Characteristics. */
    uint8_t *fh = nt + 4;
    put16(fh + 0, 0x8664);
    put16(fh + 2, 1);
    put32(fh + 4, 0x5f5e1000);
    put16(fh + 16, 0xf0);
    put16(fh + 18, 0x2022); /* EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL */
    /* IMAGE_OPTIONAL_HEADER64 (0xf0 bytes with 16 data directories). */
    uint8_t *oh = nt + 24;
    put16(oh + 0, 0x20b);
    put32(oh + 4, MDW_PE_TEXT_SIZE); /* SizeOfCode */
    put32(oh + 16, MDW_PE_TEXT_RVA); /* AddressOfEntryPoint */
    put32(oh + 20, MDW_PE_TEXT_RVA); /* BaseOfCode */
    put64(oh + 24, 0x180000000);     /* ImageBase (preferred) */
    put32(oh + 32, 0x1000);          /* SectionAlignment */
    put32(oh + 36, 0x200);           /* FileAlignment */
    put16(oh + 40, 6);               /* MajorOperatingSystemVersion */
    put16(oh + 48, 6);               /* MajorSubsystemVersion */
    put32(oh + 56, MDW_PE_SIZE);     /* SizeOfImage */
    put32(oh + 60, 0x400);           /* SizeOfHeaders */
    put16(oh + 68, 3);               /* Subsystem: console */
    put32(oh + 108, 16);             /* NumberOfRvaAndSizes */
    /* IMAGE_SECTION_HEADER (40): Name[8], VirtualSize, VirtualAddress,
     * SizeOfRawData, PointerToRawData, ..., Characteristics at 36. */
    uint8_t *sh = oh + 0xf0;
    memcpy(sh, ".text", 5);
    put32(sh + 8, MDW_PE_TEXT_SIZE);
    put32(sh + 12, MDW_PE_TEXT_RVA);
    put32(sh + 16, MDW_PE_TEXT_SIZE);
    put32(sh + 20, 0x400);
    put32(sh + 36, 0x60000020); /* CODE | EXECUTE | READ */

    memset(img + MDW_PE_TEXT_RVA, 0xcc, MDW_PE_TEXT_SIZE);

    /* IMAGE_EXPORT_DIRECTORY (40): Characteristics, TimeDateStamp,
     * MajorVersion, MinorVersion, Name, Base, NumberOfFunctions,
     * NumberOfNames, AddressOfFunctions, AddressOfNames,
     * AddressOfNameOrdinals. Then the tables and the strings. */
    size_t *named = xmalloc(n * sizeof *named);
    size_t nnamed = 0;
    for (size_t i = 0; i < n; i++)
        if (ex[i].name)
            named[nnamed++] = i;
    sort_base = ex;
    qsort(named, nnamed, sizeof *named, by_name);

    uint32_t ed = MDW_PE_EXPORT_RVA;
    uint32_t funcs = ed + 40, names = funcs + 4 * (uint32_t)n, ords = names + 4 * (uint32_t)nnamed;
    uint32_t str = ords + 2 * (uint32_t)nnamed;
    if (str > MDW_PE_SIZE)
        die("export directory does not fit the image");
    uint32_t name_rva = put_str(img, &str, dll_name);
    put32(img + ed + 4, 0x5f5e1000);
    put32(img + ed + 12, name_rva);
    put32(img + ed + 16, 1);
    put32(img + ed + 20, (uint32_t)n);
    put32(img + ed + 24, (uint32_t)nnamed);
    put32(img + ed + 28, funcs);
    put32(img + ed + 32, names);
    put32(img + ed + 36, ords);
    for (size_t i = 0; i < n; i++) {
        uint32_t rva = ex[i].forward ? put_str(img, &str, ex[i].forward) : ex[i].rva;
        put32(img + funcs + 4 * i, rva);
        if (!ex[i].forward && rva >= MDW_PE_TEXT_RVA && rva < MDW_PE_TEXT_RVA + MDW_PE_TEXT_SIZE)
            img[rva] = 0xc3;
    }
    for (size_t k = 0; k < nnamed; k++) {
        put32(img + names + 4 * k, put_str(img, &str, ex[named[k]].name));
        put16(img + ords + 2 * k, (uint16_t)named[k]);
    }
    /* IMAGE_DIRECTORY_ENTRY_EXPORT: the whole block, so forwarder strings
     * fall inside it as the loader expects. */
    put32(oh + 112, ed);
    put32(oh + 116, str - ed);
    free(named);
    return img;
}

/* ---- helpers for tests --------------------------------------------------- */

int mdw_open(mdw *w, dx_dump **out, char *err, size_t errlen)
{
    char path[4096];
    mdw_write_temp(w, NULL, path, sizeof path);
    int rc = dx_dump_open(path, out, err, errlen);
    unlink(path);
    return rc;
}

mdw *mdw_sample(mdw_sample_streams *idx)
{
    mdw_sample_streams dummy;
    if (!idx)
        idx = &dummy;
    mdw *w = mdw_new();
    idx->sysinfo = mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context c1 = {.flags = 0x10001f, .rip = 0x140001000, .rsp = 0x1000f8, .rax = 1, .cs = 0x33, .ss = 0x2b};
    dx_context c2 = {.flags = 0x10001f, .rip = 0x140001010, .rsp = 0x2000f8, .rax = 2, .cs = 0x33, .ss = 0x2b};
    mdw_thread t[2] = {
        {.tid = 0x10, .teb = 0x7ff0000, .stack_start = 0x100000, .stack_size = 0x100, .context = &c1},
        {.tid = 0x20, .teb = 0x7ff2000, .stack_start = 0x200000, .stack_size = 0x100, .context = &c2},
    };
    idx->threads = mdw_thread_list(w, t, 2);
    mdw_module m[2] = {
        {.base = 0x140000000, .size = 0x3000, .timestamp = 0x5f5e1000, .name = "C:\\app\\app.exe"},
        {.base = 0x7ff800000000, .size = 0x3000, .name = "C:\\Windows\\System32\\KERNEL32.DLL",
         .pdb = "kernel32.pdb", .pdb_guid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, .pdb_age = 1},
    };
    idx->modules = mdw_module_list(w, m, 2);
    mdw_mem r[2] = {{.base = 0x10000, .size = 0x1000, .fill = 0xaa}, {.base = 0x20000, .size = 0x1000, .fill = 0xbb}};
    idx->memory = mdw_memory_list(w, r, 2);
    mdw_mem r64 = {.base = 0x30000, .size = 0x2000, .fill = 0xcc};
    idx->memory64 = mdw_memory64_list(w, &r64, 1);
    idx->misc = mdw_misc_info(w, 4242);
    return w;
}
