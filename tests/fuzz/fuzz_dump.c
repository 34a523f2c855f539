/* libFuzzer: any bytes as a minidump. Opens it, walks every stream through
 * the listings, reads PE sections, exports and image headers of every
 * module, resolves names and reads memory. */
#define _GNU_SOURCE
#include "describe.h"
#include "dump.h"
#include "pe.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static void walk(const dx_dump *d)
{
    dx_buf out = {0};
    dx_describe_all(d, &out);
    dx_describe_json(d, &out);
    dx_buf_free(&out);
    for (size_t i = 0; i < dx_dump_module_count(d); i++) {
        const dx_module *m = dx_dump_module(d, i);
        dx_pe_section s[8];
        uint64_t addr, off;
        char fwd[64], name[64];
        dx_pe_sections(d, m->base, s, 8);
        dx_pe_find_export(d, m->base, "a", &addr, fwd, sizeof fwd);
        dx_pe_find_export(d, m->base, "#1", &addr, fwd, sizeof fwd);
        dx_pe_nearest_export(d, m->base, m->base + 0x1234, name, sizeof name, &off);
        uint8_t head[2048];
        if (dx_pe_image_present(d, m->base))
            dx_pe_image_read(d, m->base, m->size, 0, head, sizeof head);
    }
    char err[DX_ERRLEN];
    uint64_t addr;
    dx_dump_resolve(d, "x!y", &addr, err, sizeof err);
    dx_dump_resolve(d, "x+0x10", &addr, err, sizeof err);
    uint8_t buf[256];
    for (size_t i = 0; i < dx_dump_range_count(d) && i < 64; i++) {
        const dx_range *r = dx_dump_range(d, i);
        dx_dump_read(d, r->base + r->size / 2, buf, sizeof buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.dmp", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64], err[DX_ERRLEN];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        dx_dump *d;
        if (dx_dump_open(path, &d, err, sizeof err) == 0) {
            walk(d);
            dx_dump_close(d);
        }
    }
    close(fd);
    return 0;
}
