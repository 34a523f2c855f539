/* A minidump WRITER for tests: build a dump in memory stream by stream,
 * corrupt any byte of it afterwards, and write it to a file.
 *
 * Layout (like dbghelp's): the 32-byte header, then the stream directory
 * (room for MDW_MAX_STREAMS entries; the header counts only those added),
 * then every blob in the order it was added, each 4-byte aligned. A stream
 * that points at other data (strings, contexts, memory bytes) appends that
 * data first and itself last, so the stream's RVA is its own.
 *
 * The layouts are written from Microsoft's minidumpapiset.h/winnt.h
 * definitions, not from the reader, so a round trip checks the reader.
 *
 * Calls that add streams must come before any call that edits bytes
 * (mdw_set_*, mdw_truncate, mdw_write*): the first edit finalizes the
 * header and directory. Every function aborts the test on misuse or on
 * allocation failure, so callers need no error paths. */
#ifndef DX_TESTS_MDWRITER_H
#define DX_TESTS_MDWRITER_H

#include "dump.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MDW_MAX_STREAMS 64
#define MDW_CONTEXT_SIZE 0x4d0u

/* MINIDUMP_STREAM_TYPE values the tests use. */
enum {
    MD_UNUSED = 0,
    MD_THREAD_LIST = 3,
    MD_MODULE_LIST = 4,
    MD_MEMORY_LIST = 5,
    MD_EXCEPTION = 6,
    MD_SYSTEM_INFO = 7,
    MD_MEMORY64_LIST = 9,
    MD_COMMENT_A = 10,
    MD_COMMENT_W = 11,
    MD_HANDLE_DATA = 12,
    MD_UNLOADED_MODULE_LIST = 14,
    MD_MISC_INFO = 15,
    MD_MEMORY_INFO_LIST = 16,
    MD_THREAD_INFO_LIST = 17,
    MD_THREAD_NAMES = 24,
    MD_BREAKPAD_INFO = 0x47670001,
    MD_WINE_PRIVATE = 0xfff0,
};

/* PROCESSOR_ARCHITECTURE_* */
enum { MD_ARCH_X86 = 0, MD_ARCH_ARM = 5, MD_ARCH_IA64 = 6, MD_ARCH_AMD64 = 9, MD_ARCH_ARM64 = 12 };

/* Byte offsets for mdw_set_*: header fields and directory entry fields. */
enum {
    MDW_HDR_SIGNATURE = 0,
    MDW_HDR_VERSION = 4,
    MDW_HDR_NSTREAMS = 8,
    MDW_HDR_DIR_RVA = 12,
    MDW_HDR_CHECKSUM = 16,
    MDW_HDR_TIMESTAMP = 20,
    MDW_HDR_FLAGS = 24, /* u64 */
};
enum { MDW_DIR_TYPE = 0, MDW_DIR_SIZE = 4, MDW_DIR_RVA = 8 };

typedef struct mdw mdw;

mdw *mdw_new(void);
void mdw_free(mdw *w);

/* ---- raw building blocks --------------------------------------------- */

/* Append bytes (data NULL = zeros), 4-byte aligned; returns their RVA. */
uint32_t mdw_blob(mdw *w, const void *data, size_t len);
/* A MINIDUMP_STRING from UTF-8 (converted to UTF-16LE, NUL-terminated). */
uint32_t mdw_string(mdw *w, const char *utf8);
/* ... or from raw UTF-16 code units (for unpaired surrogates etc.). */
uint32_t mdw_string16(mdw *w, const uint16_t *units, size_t n);
/* A directory entry for bytes already in the file. Returns its index. */
size_t mdw_dir_entry(mdw *w, uint32_t type, uint32_t size, uint32_t rva);
/* A stream of the given bytes: mdw_blob + mdw_dir_entry. */
size_t mdw_stream(mdw *w, uint32_t type, const void *data, size_t len);
/* An Unused directory entry (type 0, size 0, RVA 0), as Wine writes. */
size_t mdw_unused(mdw *w);
/* An AMD64 CONTEXT record (0x4d0 bytes) encoding c. */
void mdw_encode_context(const dx_context *c, uint8_t out[MDW_CONTEXT_SIZE]);

/* ---- typed streams ----------------------------------------------------- */

typedef struct mdw_sysinfo {
    uint16_t arch, level, revision;
    uint8_t ncpus, product_type;
    uint32_t major, minor, build, platform;
    const char *csd_version; /* NULL = no string (RVA 0) */
} mdw_sysinfo;
size_t mdw_system_info(mdw *w, const mdw_sysinfo *si);
/* Windows 10 build 19041 with 4 CPUs on the given architecture. */
size_t mdw_system_info_arch(mdw *w, uint16_t arch);

typedef struct mdw_thread {
    uint32_t tid, suspend_count, priority_class, priority;
    uint64_t teb;
    uint64_t stack_start;
    uint32_t stack_size;
    const void *stack;         /* stack bytes, or NULL for zeros */
    const dx_context *context; /* NULL = ThreadContext {0, 0} */
    uint32_t context_size;     /* 0 = MDW_CONTEXT_SIZE */
} mdw_thread;
size_t mdw_thread_list(mdw *w, const mdw_thread *t, size_t n);

typedef struct mdw_module {
    uint64_t base;
    uint32_t size, checksum, timestamp;
    const char *name; /* UTF-8, stored as a UTF-16 MINIDUMP_STRING */
    const char *pdb;  /* CodeView RSDS PDB name, or NULL for none */
    uint8_t pdb_guid[16];
    uint32_t pdb_age;
} mdw_module;
size_t mdw_module_list(mdw *w, const mdw_module *m, size_t n);

typedef struct mdw_unloaded {
    uint64_t base;
    uint32_t size, checksum, timestamp;
    const char *name;
} mdw_unloaded;
size_t mdw_unloaded_list(mdw *w, const mdw_unloaded *u, size_t n);

/* One captured range: data, or (data NULL) size bytes of fill. */
typedef struct mdw_mem {
    uint64_t base, size;
    const void *data;
    uint8_t fill;
} mdw_mem;
/* MINIDUMP_MEMORY_LIST: each range's bytes appended, then the list. */
size_t mdw_memory_list(mdw *w, const mdw_mem *r, size_t n);
/* MINIDUMP_MEMORY64_LIST: all bytes contiguous at BaseRva, then the list. */
size_t mdw_memory64_list(mdw *w, const mdw_mem *r, size_t n);
/* File offset of range i's descriptor in a list stream added above. */
uint32_t mdw_memory_desc_rva(const mdw *w, size_t stream, size_t i);

typedef struct mdw_exception {
    uint32_t tid, code, flags;
    uint64_t record, address;
    uint32_t nparams;
    uint64_t params[15];
    const dx_context *context; /* NULL = ThreadContext {0, 0} */
} mdw_exception;
size_t mdw_exception_stream(mdw *w, const mdw_exception *x);

typedef struct mdw_thread_name {
    uint32_t tid;
    const char *name;
} mdw_thread_name;
size_t mdw_thread_names(mdw *w, const mdw_thread_name *t, size_t n);

typedef struct mdw_thread_info {
    uint32_t tid, dump_flags, dump_error, exit_status;
    uint64_t create_time, exit_time, kernel_time, user_time, start_address, affinity;
} mdw_thread_info;
size_t mdw_thread_info_list(mdw *w, const mdw_thread_info *t, size_t n);

/* MINIDUMP_MEMORY_INFO_LIST from dx_region values. */
size_t mdw_memory_info_list(mdw *w, const dx_region *r, size_t n);

typedef struct mdw_handle {
    uint64_t handle;
    const char *type_name, *object_name; /* NULL = RVA 0 */
} mdw_handle;
size_t mdw_handle_data(mdw *w, const mdw_handle *h, size_t n);

/* MINIDUMP_MISC_INFO with MINIDUMP_MISC1_PROCESS_ID. */
size_t mdw_misc_info(mdw *w, uint32_t pid);
size_t mdw_comment(mdw *w, const char *text, bool wide);

/* ---- after building: inspect and corrupt ------------------------------ */

/* Write the header and directory (done by every call below if needed). */
void mdw_finish(mdw *w);
size_t mdw_size(mdw *w);
const uint8_t *mdw_data(mdw *w);
size_t mdw_stream_count(const mdw *w);
uint32_t mdw_stream_rva(const mdw *w, size_t index);
uint32_t mdw_stream_size(const mdw *w, size_t index);
/* File offset of directory entry index (add MDW_DIR_* for a field). */
uint32_t mdw_dir_entry_rva(const mdw *w, size_t index);

void mdw_set_u8(mdw *w, uint64_t off, uint8_t v);
void mdw_set_u16(mdw *w, uint64_t off, uint16_t v);
void mdw_set_u32(mdw *w, uint64_t off, uint32_t v);
void mdw_set_u64(mdw *w, uint64_t off, uint64_t v);
uint32_t mdw_get_u32(mdw *w, uint64_t off);
/* Set a field of directory entry index (MDW_DIR_TYPE/SIZE/RVA). */
void mdw_set_dir(mdw *w, size_t index, unsigned field, uint32_t v);
void mdw_truncate(mdw *w, size_t len);

/* Write to path / to a new file in dir (NULL = $TMPDIR or /tmp), whose
 * name goes to path (at least 4096 bytes). Abort on failure. */
void mdw_write(mdw *w, const char *path);
void mdw_write_temp(mdw *w, const char *dir, char *path, size_t pathlen);

/* Write to a temp file, dx_dump_open it and unlink the file (the mapping
 * stays valid). Returns dx_dump_open's result; *out is NULL on failure. */
int mdw_open(mdw *w, dx_dump **out, char *err, size_t errlen);

/* ---- a small valid dump to start from ---------------------------------- */

/* Directory indices of the streams mdw_sample adds, in this order. */
typedef struct mdw_sample_streams {
    size_t sysinfo, threads, modules, memory, memory64, misc;
} mdw_sample_streams;

/* AMD64 SystemInfo; threads 0x10 (TEB 0x7ff0000, RIP 0x140001000) and 0x20
 * (TEB 0x7ff2000, RIP 0x140001010), each with a 0x100-byte stack at
 * 0x100000/0x200000 (not in the memory lists); modules app.exe at
 * 0x140000000 (0x3000 bytes) and C:\Windows\System32\KERNEL32.DLL at
 * 0x7ff800000000 (0x3000, pdb kernel32.pdb age 1); a MemoryList with
 * 0x1000 bytes of 0xaa at 0x10000 and 0x1000 of 0xbb at 0x20000; a
 * Memory64List with 0x2000 bytes of 0xcc at 0x30000; MiscInfo pid 4242.
 * The caller adds more streams and then edits. */
mdw *mdw_sample(mdw_sample_streams *idx);

/* ---- a tiny PE image ---------------------------------------------------- */

/* An export: the function at rva, or (forward non-NULL) a forwarder
 * string "DLL.Name" or "DLL.#ordinal". */
typedef struct mdw_export {
    const char *name; /* NULL = exported by ordinal only */
    uint32_t rva;
    const char *forward;
} mdw_export;

/* Image layout: headers at 0 (e_lfanew 0x80, PE32+, one section), one
 * .text section at MDW_PE_TEXT_RVA (filled with int3, a ret at each
 * export), the export directory at MDW_PE_EXPORT_RVA, MDW_PE_SIZE bytes.
 * Exports get ordinals 1..n in the given order; names are sorted as the
 * loader requires. */
#define MDW_PE_TEXT_RVA 0x1000u
#define MDW_PE_TEXT_SIZE 0x1000u
#define MDW_PE_EXPORT_RVA 0x2000u
#define MDW_PE_SIZE 0x3000u
#define MDW_PE_LFANEW 0x80u
/* Returns a malloc'd image of MDW_PE_SIZE bytes. */
uint8_t *mdw_pe_image(const char *dll_name, const mdw_export *ex, size_t n);

#endif
