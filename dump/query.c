/* Read-only accessors over an opened dump. */
#include "internal.h"

#include <strings.h>

const char *dx_dump_path(const dx_dump *d) { return d->path; }
uint64_t dx_dump_file_size(const dx_dump *d) { return d->size; }
uint32_t dx_dump_timestamp(const dx_dump *d) { return d->timestamp; }
const dx_sysinfo *dx_dump_sysinfo(const dx_dump *d) { return &d->sysinfo; }
const char *dx_dump_comment(const dx_dump *d) { return d->comment; }

bool dx_dump_pid(const dx_dump *d, uint32_t *pid)
{
    if (d->has_pid)
        *pid = d->pid;
    return d->has_pid;
}

size_t dx_dump_thread_count(const dx_dump *d) { return d->nthreads; }
const dx_thread *dx_dump_thread(const dx_dump *d, size_t i) { return i < d->nthreads ? &d->threads[i] : NULL; }

const dx_thread *dx_dump_find_thread(const dx_dump *d, uint32_t tid)
{
    for (size_t i = 0; i < d->nthreads; i++)
        if (d->threads[i].tid == tid)
            return &d->threads[i];
    return NULL;
}

const dx_thread *dx_dump_default_thread(const dx_dump *d)
{
    const dx_thread *t = d->has_exception ? dx_dump_find_thread(d, d->exception.tid) : NULL;
    return t ? t : dx_dump_thread(d, 0);
}

const dx_context *dx_dump_thread_context(const dx_dump *d, const dx_thread *t)
{
    if (d->has_exception && d->exception.has_context && d->exception.tid == t->tid)
        return &d->exception.context;
    return t->has_context ? &t->context : NULL;
}

size_t dx_dump_module_count(const dx_dump *d) { return d->nmodules; }
const dx_module *dx_dump_module(const dx_dump *d, size_t i) { return i < d->nmodules ? &d->modules[i] : NULL; }

const dx_module *dx_dump_module_at(const dx_dump *d, uint64_t addr)
{
    for (size_t i = 0; i < d->nmodules; i++)
        if (addr - d->modules[i].base < d->modules[i].size)
            return &d->modules[i];
    return NULL;
}

/* "kernel32" matches "kernel32.dll"; "kernel32.dll" and full paths match too. */
static bool module_name_matches(const dx_module *m, const char *name)
{
    const char *want = name;
    for (const char *p = name; *p; p++)
        if (*p == '\\' || *p == '/')
            want = p + 1;
    size_t n = strlen(want);
    if (strncasecmp(m->basename, want, n) != 0)
        return false;
    const char *rest = m->basename + n;
    return *rest == 0 || (*rest == '.' && !strchr(rest + 1, '.'));
}

const dx_module *dx_dump_find_module(const dx_dump *d, const char *name)
{
    for (size_t i = 0; i < d->nmodules; i++)
        if (module_name_matches(&d->modules[i], name))
            return &d->modules[i];
    return NULL;
}

size_t dx_dump_unloaded_count(const dx_dump *d) { return d->nunloaded; }
const dx_unloaded_module *dx_dump_unloaded(const dx_dump *d, size_t i)
{
    return i < d->nunloaded ? &d->unloaded[i] : NULL;
}

const dx_exception *dx_dump_exception(const dx_dump *d) { return d->has_exception ? &d->exception : NULL; }

size_t dx_dump_region_count(const dx_dump *d) { return d->nregions; }
const dx_region *dx_dump_region(const dx_dump *d, size_t i) { return i < d->nregions ? &d->regions[i] : NULL; }

const dx_region *dx_dump_region_at(const dx_dump *d, uint64_t addr)
{
    for (size_t i = 0; i < d->nregions; i++)
        if (addr - d->regions[i].base < d->regions[i].size)
            return &d->regions[i];
    return NULL;
}

size_t dx_dump_handle_count(const dx_dump *d) { return d->nhandles; }
const dx_handle *dx_dump_handle(const dx_dump *d, size_t i) { return i < d->nhandles ? &d->handles[i] : NULL; }

size_t dx_dump_range_count(const dx_dump *d) { return d->nranges; }
const dx_range *dx_dump_range(const dx_dump *d, size_t i) { return i < d->nranges ? &d->ranges[i] : NULL; }
uint64_t dx_dump_memory_bytes(const dx_dump *d) { return d->memory_bytes; }
