/* dump/ — a Windows x64 minidump, opened read-only and immutable after open.
 *
 * One dx_dump is shared by every session: nothing here changes after
 * dx_dump_open returns, so every function below is safe to call from any
 * thread. Errors come back as -1 plus a message in the caller's buffer. */
#ifndef DX_DUMP_H
#define DX_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DX_ERRLEN 256

typedef struct dx_dump dx_dump;

/* Registers as the AMD64 CONTEXT record holds them. */
typedef struct dx_context {
    uint32_t flags; /* ContextFlags: which groups below are valid */
    uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip;
    uint32_t eflags, mxcsr;
    uint16_t cs, ds, es, fs, gs, ss;
    uint64_t dr0, dr1, dr2, dr3, dr6, dr7;
    /* x87 state from the XSAVE_FORMAT area */
    uint16_t fcw, fsw, fop;
    uint8_t ftw; /* abridged tag word as saved by FXSAVE */
    uint32_t fioff, fooff;
    uint16_t fiseg, foseg;
    uint8_t st[8][10];
    uint8_t xmm[16][16];
} dx_context;

#define DX_CONTEXT_AMD64 0x100000u
#define DX_CONTEXT_CONTROL (DX_CONTEXT_AMD64 | 0x1u)
#define DX_CONTEXT_INTEGER (DX_CONTEXT_AMD64 | 0x2u)
#define DX_CONTEXT_SEGMENTS (DX_CONTEXT_AMD64 | 0x4u)
#define DX_CONTEXT_FLOATING (DX_CONTEXT_AMD64 | 0x8u)
#define DX_CONTEXT_DEBUG (DX_CONTEXT_AMD64 | 0x10u)

/* A CONTEXT record's n bytes (0x4d0 with its FXSAVE area) into c, and c
 * into the 0x4d0 bytes of one (dump/winnt_layout.h has the offsets). */
void dx_context_decode(const uint8_t *p, size_t n, dx_context *c);
void dx_context_encode(const dx_context *c, uint8_t *p);

typedef struct dx_thread {
    uint32_t tid;
    uint32_t suspend_count, priority_class, priority;
    uint64_t teb;
    uint64_t stack_start, stack_size;
    bool has_context;
    dx_context context;
    const char *name; /* from ThreadNames, else NULL */
    bool has_info;    /* ThreadInfoList entry present */
    uint64_t start_address, create_time;
} dx_thread;

typedef struct dx_module {
    uint64_t base;
    uint32_t size, checksum, timestamp;
    const char *path;     /* UTF-8, as the dump names it */
    const char *basename; /* last path component of path */
    const char *pdb;      /* CodeView PDB name, else NULL */
    uint8_t pdb_guid[16];
    uint32_t pdb_age;
} dx_module;

typedef struct dx_unloaded_module {
    uint64_t base;
    uint32_t size, timestamp;
    const char *path;
} dx_unloaded_module;

/* One captured range of process memory, as the index holds it. */
typedef struct dx_range {
    uint64_t base, size;
    uint64_t file_offset;
} dx_range;

/* One MemoryInfoList entry (VirtualQuery's view). */
typedef struct dx_region {
    uint64_t base, size, alloc_base;
    uint32_t alloc_protect, protect, state, type;
} dx_region;

#define DX_MEM_COMMIT 0x1000u
#define DX_MEM_FREE 0x10000u

typedef struct dx_exception {
    uint32_t tid;
    uint32_t code, flags;
    uint64_t record, address;
    uint32_t nparams;
    uint64_t params[15];
    bool has_context;
    dx_context context;
} dx_exception;

/* An EXCEPTION_RECORD64 (0x98 bytes, as the Exception stream and a
 * thread's stack hold it) into x's code, flags, record, address and
 * parameters, and those into one. */
void dx_exception_record_decode(const uint8_t *p, dx_exception *x);
void dx_exception_record_encode(const dx_exception *x, uint8_t *p);

typedef struct dx_sysinfo {
    uint16_t arch, level, revision;
    uint8_t ncpus, product_type;
    uint32_t major, minor, build, platform;
    const char *csd_version; /* service pack string, else NULL */
} dx_sysinfo;

typedef struct dx_handle {
    uint64_t handle;
    const char *type_name, *object_name; /* either may be NULL */
} dx_handle;

/* Open a dump read-only. Touches no captured memory: the cost depends on
 * the number of streams and ranges, not on the size of the dump. */
int dx_dump_open(const char *path, dx_dump **out, char *err, size_t errlen);
void dx_dump_close(dx_dump *d);

const char *dx_dump_path(const dx_dump *d);
uint64_t dx_dump_file_size(const dx_dump *d);
uint32_t dx_dump_timestamp(const dx_dump *d);
const dx_sysinfo *dx_dump_sysinfo(const dx_dump *d);
bool dx_dump_pid(const dx_dump *d, uint32_t *pid); /* from MiscInfo */
const char *dx_dump_comment(const dx_dump *d);     /* CommentA/W, else NULL */

size_t dx_dump_thread_count(const dx_dump *d);
const dx_thread *dx_dump_thread(const dx_dump *d, size_t i);
const dx_thread *dx_dump_find_thread(const dx_dump *d, uint32_t tid);
/* The thread a debugger shows first: the exception thread, else the first. */
const dx_thread *dx_dump_default_thread(const dx_dump *d);
/* The registers a thread really had: for the exception thread of a crash
 * dump that is the Exception stream's context, not its ThreadList entry. */
const dx_context *dx_dump_thread_context(const dx_dump *d, const dx_thread *t);

size_t dx_dump_module_count(const dx_dump *d);
const dx_module *dx_dump_module(const dx_dump *d, size_t i);
const dx_module *dx_dump_module_at(const dx_dump *d, uint64_t addr);
/* By name, case-insensitively, with or without the extension:
 * "kernel32", "KERNEL32.DLL" and "C:\\...\\kernel32.dll" all match. */
const dx_module *dx_dump_find_module(const dx_dump *d, const char *name);
size_t dx_dump_unloaded_count(const dx_dump *d);
const dx_unloaded_module *dx_dump_unloaded(const dx_dump *d, size_t i);

const dx_exception *dx_dump_exception(const dx_dump *d); /* NULL if none */

size_t dx_dump_region_count(const dx_dump *d); /* MemoryInfoList */
const dx_region *dx_dump_region(const dx_dump *d, size_t i);
const dx_region *dx_dump_region_at(const dx_dump *d, uint64_t addr);

size_t dx_dump_handle_count(const dx_dump *d);
const dx_handle *dx_dump_handle(const dx_dump *d, size_t i);

/* The memory index: sorted, non-overlapping ranges. Where writers overlap,
 * the range that starts first keeps its bytes and later ones are clipped. */
size_t dx_dump_range_count(const dx_dump *d);
const dx_range *dx_dump_range(const dx_dump *d, size_t i);
const dx_range *dx_dump_range_at(const dx_dump *d, uint64_t addr);
/* The first range starting above addr, or NULL. */
const dx_range *dx_dump_range_after(const dx_dump *d, uint64_t addr);
const uint8_t *dx_dump_range_bytes(const dx_dump *d, const dx_range *r);
/* The byte at addr as the index holds it, or NULL. */
const uint8_t *dx_dump_range_bytes_at(const dx_dump *d, uint64_t addr);
/* The range comes from a module's PE file, not the dump (dx_dump_add_images). */
bool dx_dump_range_from_file(const dx_dump *d, const dx_range *r);

/* Images from PE files (images.c), as WinDbg's image path: PATH is
 * ';'-separated folders, each a plain folder (names matched without case)
 * or a symbol store (name/TTTTTTTTSSSS/name). Every module whose code the
 * dump lacks gets its file's image if TimeDateStamp and SizeOfImage (and
 * CheckSum, where the dump has one) match: laid out, relocated to the
 * dump's base, imports bound against the dump's other modules; the dump's
 * own bytes win. What was found, refused or missing goes into report.
 * Call before sessions use the dump: it is immutable after. srv* entries
 * are skipped: the layer above fetches them into a folder. */
struct dx_buf;
int dx_dump_add_images(dx_dump *d, const char *path, struct dx_buf *report);
/* The PE file parts of it, for any bytes (fuzz_pe): NULL if data is a
 * PE32+ file whose headers hold together (its keys in out), else why not;
 * its image laid out and relocated to base (free it), NULL if it is not. */
typedef struct dx_pe_file_info {
    uint64_t image_base;
    uint32_t timestamp, size_of_image, checksum;
} dx_pe_file_info;
const char *dx_pe_file_check(const uint8_t *data, size_t size, dx_pe_file_info *out);
uint8_t *dx_pe_file_layout(const uint8_t *data, size_t size, uint64_t base);
bool dx_dump_module_from_file(const dx_dump *d, const dx_module *m);
const char *dx_dump_module_file(const dx_dump *d, const dx_module *m); /* its path, or NULL */
bool dx_dump_images_asked(const dx_dump *d); /* dx_dump_add_images was called */
/* name can be a file's name: not empty, no folder, not . or .. (module names come from the dump). */
bool dx_safe_file_name(const char *name);
uint64_t dx_dump_memory_bytes(const dx_dump *d);

/* Copy captured memory. Returns the number of bytes copied from addr on
 * (ranges that touch count as one); fewer than len means addr+result is the
 * first address the dump does not hold. */
size_t dx_dump_read(const dx_dump *d, uint64_t addr, void *buf, size_t len);
/* All len bytes, with zeros where the dump holds nothing. */
void dx_dump_read_filled(const dx_dump *d, uint64_t addr, void *buf, size_t len);

/* Human names. */
const char *dx_exception_name(uint32_t code); /* "EXCEPTION_ACCESS_VIOLATION" or NULL */
const char *dx_arch_name(uint16_t arch);

#endif
