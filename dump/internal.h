/* Private to dump/: the opened dump's layout and bounds-checked reads.
 * Every RVA and size in a minidump comes from the file, so nothing here
 * trusts one before checking it against the mapping. */
#ifndef DX_DUMP_INTERNAL_H
#define DX_DUMP_INTERNAL_H

#include "dump.h"

#include <stdarg.h>
#include <string.h>

typedef struct dx_image dx_image;

struct dx_dump {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t timestamp;

    dx_sysinfo sysinfo;
    bool has_pid;
    uint32_t pid;
    char *comment;

    dx_thread *threads;
    size_t nthreads;
    dx_module *modules;
    size_t nmodules;
    dx_unloaded_module *unloaded;
    size_t nunloaded;
    bool has_exception;
    dx_exception exception;
    dx_region *regions;
    size_t nregions;
    dx_handle *handles;
    size_t nhandles;
    dx_range *ranges;
    size_t nranges;
    /* Where each range's bytes are: NULL in the dump's file (file_offset),
     * else an image laid out from a PE file (images.c). */
    const uint8_t **range_src;
    struct dx_image **range_image; /* the image laid out page by page behind it, or NULL */
    size_t capranges;
    struct dx_image **module_files; /* per module: its image from a file, or NULL */
    char **module_paths;    /* and that file's path */
    bool images_asked;
    uint8_t *synth[64];     /* TEBs made for threads whose TEB the dump lacks */
    size_t nsynth;
    uint64_t memory_bytes;

    /* Every string the dump hands out, freed at close. */
    char **strings;
    size_t nstrings, capstrings;
};

/* A window of the file: every read through it is bounds-checked. */
typedef struct span {
    const uint8_t *p;
    uint64_t n;
} span;

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static inline uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* The file bytes [rva, rva+len), or false if any of it is past the end. */
bool dump_span(const dx_dump *d, uint64_t rva, uint64_t len, span *out);

/* Message helper: always returns -1 so callers can `return fail(...)`. */
int dump_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A MINIDUMP_STRING (u32 byte length + UTF-16) at rva, as owned UTF-8. */
const char *dump_string_at(dx_dump *d, uint32_t rva);
/* Keep s alive until close; returns s (NULL on allocation failure). */
const char *dump_keep(dx_dump *d, char *s);

/* UTF-16LE to a new UTF-8 string; invalid units become U+FFFD. */
char *utf16_to_utf8(const uint8_t *p, size_t nunits);


int streams_parse(dx_dump *d, uint32_t type, span s, char *err, size_t errlen);
void streams_annotate(dx_dump *d, uint32_t type, span s);
bool streams_known(uint32_t type); /* a stream type this reader parses */
int memindex_build(dx_dump *d, char *err, size_t errlen);
/* A range whose bytes are at src (an image's), in a gap of the index. */
int memindex_add(dx_dump *d, uint64_t base, uint64_t size, const uint8_t *src, struct dx_image *image);
typedef struct memindex_new {
    uint64_t base, size;
    const uint8_t *src;
    struct dx_image *image;
} memindex_new;
int memindex_add_many(dx_dump *d, const memindex_new *add, size_t n); /* add sorted, in gaps */
/* images.c: lay out, once, an image's pages of [addr, addr + len) before
 * they are read (from any thread: the dump is shared). */
void image_ensure(struct dx_image *img, uint64_t addr, uint64_t len);
void image_free(struct dx_image *img);

#endif
