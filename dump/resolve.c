/* Address expressions: numbers, module+offset and module!export. */
#include "internal.h"
#include "pe.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_FORWARDS 8

static bool parse_number(const char *s, uint64_t *v)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *v = n;
    return true;
}

static int resolve_export(const dx_dump *d, const char *module, const char *name, uint64_t *addr, char *err,
                          size_t errlen)
{
    char mod[256], fn[256];
    snprintf(mod, sizeof mod, "%.255s", module);
    snprintf(fn, sizeof fn, "%.255s", name);
    for (int hop = 0; hop < MAX_FORWARDS; hop++) {
        const dx_module *m = dx_dump_find_module(d, mod);
        if (!m)
            return dump_fail(err, errlen, "no module named '%s' in the dump", mod);
        char forward[256];
        if (dx_pe_find_export(d, m->base, fn, addr, forward, sizeof forward) != 0)
            return dump_fail(err, errlen, "%s has no export '%s' (or its export table was not captured)",
                             m->basename, fn);
        if (*addr)
            return 0;
        char *dot = strrchr(forward, '.');
        if (!dot)
            return dump_fail(err, errlen, "%s!%s forwards to '%s', which cannot be followed", m->basename, fn,
                             forward);
        *dot = 0;
        snprintf(mod, sizeof mod, "%.255s", forward);
        snprintf(fn, sizeof fn, "%.255s", dot + 1);
    }
    return dump_fail(err, errlen, "%s!%s: too many export forwards", module, name);
}

int dx_dump_resolve(const dx_dump *d, const char *expr, uint64_t *addr, char *err, size_t errlen)
{
    if (parse_number(expr, addr))
        return 0;
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", expr) >= (int)sizeof buf)
        return dump_fail(err, errlen, "address expression too long");
    /* A '+' followed by a number is an offset; any other '+' belongs to a
     * name ("notepad++!main"). */
    uint64_t offset = 0;
    char *plus = strrchr(buf, '+');
    bool bad_offset = plus && !parse_number(plus + 1, &offset);
    if (plus && !bad_offset)
        *plus = 0;
    if (bad_offset && !strchr(buf, '!') && !dx_dump_find_module(d, buf))
        return dump_fail(err, errlen, "bad offset in '%s'", expr);
    offset = bad_offset ? 0 : offset;
    char *bang = strchr(buf, '!');
    if (bang) {
        *bang = 0;
        if (resolve_export(d, buf, bang + 1, addr, err, errlen) != 0)
            return -1;
    } else {
        const dx_module *m = dx_dump_find_module(d, buf);
        if (!m)
            return dump_fail(err, errlen, "'%s' is neither an address nor a module of the dump", expr);
        *addr = m->base;
    }
    *addr += offset;
    return 0;
}

void dx_dump_symbolize(const dx_dump *d, uint64_t addr, char *out, size_t outlen)
{
    const dx_module *m = dx_dump_module_at(d, addr);
    char name[256];
    uint64_t off;
    if (!m)
        snprintf(out, outlen, "0x%llx", (unsigned long long)addr);
    else if (dx_pe_nearest_export(d, m->base, addr, name, sizeof name, &off) == 0)
        snprintf(out, outlen, off ? "%s!%s+0x%llx" : "%s!%s", m->basename, name, (unsigned long long)off);
    else
        snprintf(out, outlen, "%s+0x%llx", m->basename, (unsigned long long)(addr - m->base));
}
