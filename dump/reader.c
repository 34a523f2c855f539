/* Opening a dump: map the file read-only, check the header, walk the
 * stream directory and hand each known stream to its parser. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MDMP_SIGNATURE 0x504d444du
#define MDMP_VERSION 0xa793u
#define HEADER_SIZE 32
#define DIRENTRY_SIZE 12

int dump_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

bool dump_span(const dx_dump *d, uint64_t rva, uint64_t len, span *out)
{
    if (rva > d->size || len > d->size - rva)
        return false;
    out->p = d->map + rva;
    out->n = len;
    return true;
}

const char *dump_keep(dx_dump *d, char *s)
{
    if (!s)
        return NULL;
    if (d->nstrings == d->capstrings) {
        size_t cap = d->capstrings ? d->capstrings * 2 : 64;
        char **grown = realloc(d->strings, cap * sizeof *grown);
        if (!grown) {
            free(s);
            return NULL;
        }
        d->strings = grown;
        d->capstrings = cap;
    }
    d->strings[d->nstrings++] = s;
    return s;
}

const char *dump_string_at(dx_dump *d, uint32_t rva)
{
    span len, body;
    if (!dump_span(d, rva, 4, &len))
        return NULL;
    uint32_t bytes = rd32(len.p);
    if (!dump_span(d, (uint64_t)rva + 4, bytes, &body))
        return NULL;
    return dump_keep(d, utf16_to_utf8(body.p, bytes / 2));
}

static int map_file(dx_dump *d, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return dump_fail(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dump_fail(err, errlen, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dump_fail(err, errlen, "%s: not a regular file", path);
    }
    if (st.st_size < HEADER_SIZE) {
        close(fd);
        return dump_fail(err, errlen, "%s: file too small for a minidump header (%lld bytes)",
                         path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return dump_fail(err, errlen, "%s: mmap: %s", path, strerror(errno));
    d->map = map;
    d->size = (uint64_t)st.st_size;
    return 0;
}

/* The system info decides whether we can go on at all, so it is parsed
 * before anything else. */
static int check_architecture(dx_dump *d, span dir, uint32_t nstreams, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < nstreams; i++) {
        const uint8_t *e = dir.p + (uint64_t)i * DIRENTRY_SIZE;
        if (rd32(e) != 7)
            continue;
        span s;
        if (!dump_span(d, rd32(e + 8), rd32(e + 4), &s))
            return dump_fail(err, errlen, "SystemInfo stream lies past the end of the file");
        if (streams_parse(d, 7, s, err, errlen) != 0)
            return -1;
        if (d->sysinfo.arch != 9)
            return dump_fail(err, errlen, "unsupported processor architecture: %s (only AMD64 dumps can be served)",
                             dx_arch_name(d->sysinfo.arch));
        return 0;
    }
    return dump_fail(err, errlen, "no SystemInfo stream: cannot tell the processor architecture");
}

static int parse_directory(dx_dump *d, char *err, size_t errlen)
{
    const uint8_t *h = d->map;
    if (rd32(h) != MDMP_SIGNATURE)
        return dump_fail(err, errlen, "not a minidump: bad signature 0x%08x (expected 'MDMP')", rd32(h));
    if ((rd32(h + 4) & 0xffff) != MDMP_VERSION)
        return dump_fail(err, errlen, "unsupported minidump version 0x%04x", rd32(h + 4) & 0xffff);
    uint32_t nstreams = rd32(h + 8), dir_rva = rd32(h + 12);
    d->timestamp = rd32(h + 20);
    span dir;
    if (!dump_span(d, dir_rva, (uint64_t)nstreams * DIRENTRY_SIZE, &dir))
        return dump_fail(err, errlen, "stream directory (%u entries at 0x%x) extends past the end of the file",
                         nstreams, dir_rva);
    if (check_architecture(d, dir, nstreams, err, errlen) != 0)
        return -1;
    for (uint32_t i = 0; i < nstreams; i++) {
        const uint8_t *e = dir.p + (uint64_t)i * DIRENTRY_SIZE;
        uint32_t type = rd32(e), size = rd32(e + 4), rva = rd32(e + 8);
        if (type == 7)
            continue;
        span s;
        if (!dump_span(d, rva, size, &s)) {
            if (!streams_known(type))
                continue; /* a stream we would skip anyway cannot spoil the dump */
            return dump_fail(err, errlen, "stream %u (type %u) at 0x%x+0x%x extends past the end of the file",
                             i, type, rva, size);
        }
        if (streams_parse(d, type, s, err, errlen) != 0)
            return -1;
    }
    for (uint32_t i = 0; i < nstreams; i++) {
        const uint8_t *e = dir.p + (uint64_t)i * DIRENTRY_SIZE;
        span s;
        if (dump_span(d, rd32(e + 8), rd32(e + 4), &s))
            streams_annotate(d, rd32(e), s);
    }
    d->module_files = calloc(d->nmodules ? d->nmodules : 1, sizeof *d->module_files);
    d->module_paths = calloc(d->nmodules ? d->nmodules : 1, sizeof *d->module_paths);
    if (!d->module_files || !d->module_paths)
        return dump_fail(err, errlen, "out of memory");
    return memindex_build(d, err, errlen);
}

int dx_dump_open(const char *path, dx_dump **out, char *err, size_t errlen)
{
    *out = NULL;
    dx_dump *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return dump_fail(err, errlen, "out of memory");
    }
    if (map_file(d, path, err, errlen) != 0 || parse_directory(d, err, errlen) != 0) {
        dx_dump_close(d);
        return -1;
    }
    *out = d;
    return 0;
}

void dx_dump_close(dx_dump *d)
{
    if (!d)
        return;
    if (d->map)
        munmap((void *)d->map, d->size);
    for (size_t i = 0; i < d->nstrings; i++)
        free(d->strings[i]);
    free(d->strings);
    free(d->threads);
    free(d->modules);
    free(d->unloaded);
    free(d->regions);
    free(d->handles);
    free(d->ranges);
    free(d->range_src);
    for (size_t i = 0; d->module_files && i < d->nmodules; i++) {
        image_free(d->module_files[i]);
        free(d->module_paths[i]);
    }
    free(d->range_image);
    for (size_t i = 0; i < d->nsynth; i++)
        free(d->synth[i]);
    free(d->module_files);
    free(d->module_paths);
    free(d->path);
    free(d);
}
