/* PE views over module memory captured in a dump: section headers (for
 * page protections) and the export directory (for names). Everything is
 * read through the memory index, so a module whose headers were not
 * captured simply has no sections and no exports. */
#ifndef DX_PE_H
#define DX_PE_H

#include "dump.h"

typedef struct dx_pe_section {
    char name[9];
    uint32_t rva, size, characteristics;
} dx_pe_section;

#define DX_SCN_EXECUTE 0x20000000u
#define DX_SCN_READ 0x40000000u
#define DX_SCN_WRITE 0x80000000u

/* Address of the NT headers of the image at base, after checking both
 * signatures (MZ, PE). */
bool dx_pe_nt_headers(const dx_dump *d, uint64_t base, uint64_t *nt);

/* Up to max section headers of the image at base; returns how many the
 * image has (which may exceed max), or -1 if its headers are not there. */
int dx_pe_sections(const dx_dump *d, uint64_t base, dx_pe_section *out, size_t max);

/* An export by name or, for "#N", by ordinal. On a forwarder, *addr is 0
 * and forward receives "DLL.Name". */
int dx_pe_find_export(const dx_dump *d, uint64_t base, const char *name, uint64_t *addr, char *forward,
                      size_t fwdlen);

/* The export at or below addr within the image at base, for symbolizing. */
int dx_pe_nearest_export(const dx_dump *d, uint64_t base, uint64_t addr, char *name, size_t namelen,
                         uint64_t *offset);

/* The image at base read as a PE file (image.c): bytes as mapped, zeros
 * where the dump lacks a page, and the headers' file offsets pointed at
 * the data's place in memory. Returns the bytes read, 0 past size. */
bool dx_pe_image_present(const dx_dump *d, uint64_t base);
size_t dx_pe_image_read(const dx_dump *d, uint64_t base, uint64_t size, uint64_t offset, void *buf, size_t len);

/* "0x140001530", "1234", "module!export", "module+0x1530", "module!export+0x10".
 * Follows export forwarders between modules of the dump. */
int dx_dump_resolve(const dx_dump *d, const char *expr, uint64_t *addr, char *err, size_t errlen);

/* "module!export+0x12", "module+0x1530" or "0x..." for an address. */
void dx_dump_symbolize(const dx_dump *d, uint64_t addr, char *out, size_t outlen);

#endif
