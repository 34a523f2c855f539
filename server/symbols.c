/* --symbols DIR: host files (with DWARF or PDB-less PE symbols) matched to
 * the dump's modules by name, case-insensitively, served to the debugger;
 * other modules are served as their images in dump memory (image.c). */
#include "pe.h"
#include "target.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *basename_any(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    return b;
}

static bool names_a_module(const dx_dump *d, const char *name)
{
    for (size_t i = 0; i < dx_dump_module_count(d); i++)
        if (strcasecmp(dx_dump_module(d, i)->basename, name) == 0)
            return true;
    return false;
}

/* The file in the symbols folder named like path's last component, which
 * must be the file name of a module of the dump: a client reads no other
 * host file. */
bool dx_symbols_host_path(const dx_target *t, const char *path, char *out, size_t outlen)
{
    const char *want = basename_any(path);
    if (!t->config.symbols_dir || !names_a_module(t->dump, want))
        return false;
    DIR *d = opendir(t->config.symbols_dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        if (strcasecmp(e->d_name, want) == 0) {
            snprintf(out, outlen, "%s/%s", t->config.symbols_dir, e->d_name);
            found = true;
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* The module's path as gdb gets it: C:\dir\file.dll, or /C:/dir/file.dll. */
void dx_symbols_module_name(const dx_target *t, const dx_module *m, dx_buf *out)
{
    if (!t->config.unix_names) {
        dx_buf_printf(out, "%s", m->path);
        return;
    }
    if (m->path[0] != '/' && m->path[0] != '\\')
        dx_buf_printf(out, "/");
    for (const char *p = m->path; *p; p++)
        dx_buf_printf(out, "%c", *p == '\\' ? '/' : *p);
}

int dx_symbols_exec_file(void *ctx, dx_buf *out)
{
    dx_target *t = ctx;
    const dx_module *main_image = dx_dump_module(t->dump, 0);
    char path[4096];
    if (!main_image)
        return -1;
    if (dx_symbols_host_path(t, main_image->path, path, sizeof path))
        dx_buf_printf(out, "%s", path);
    else if (dx_pe_image_present(t->dump, main_image->base))
        dx_symbols_module_name(t, main_image, out); /* served from memory by dx_symbols_open */
    else
        return -1;
    return 0;
}

/* The module gdb asks for as "C:/windows/system32/ntdll.dll" (told
 * "C:\windows\system32\ntdll.dll", with dos-based file names) or as
 * "/C:/windows/system32/ntdll.dll" (told so by dx_symbols_module_name),
 * else by the bare name. */
static const dx_module *module_of_path(const dx_dump *d, const char *path)
{
    for (size_t i = 0; i < dx_dump_module_count(d); i++) {
        const char *a = dx_dump_module(d, i)->path, *b = path;
        if (*b == '/' && *a != '/' && *a != '\\')
            b++; /* dx_symbols_module_name's leading slash */
        while (*a && *b && (tolower((unsigned char)*a) == tolower((unsigned char)*b) ||
                            ((*a == '\\' || *a == '/') && (*b == '\\' || *b == '/'))))
            a++, b++;
        if (!*a && !*b)
            return dx_dump_module(d, i);
    }
    return dx_dump_find_module(d, basename_any(path));
}

int dx_symbols_open(void *ctx, const char *path)
{
    dx_target *t = ctx;
    char host[4096];
    int slot = 0;
    while (slot < DX_MAX_FILES && (t->files[slot] > 0 || t->images[slot]))
        slot++;
    if (slot == DX_MAX_FILES)
        return -1;
    if (!dx_symbols_host_path(t, path, host, sizeof host)) {
        const dx_module *m = module_of_path(t->dump, path);
        if (!m || !dx_pe_image_present(t->dump, m->base))
            return -1;
        t->images[slot] = m;
        return slot;
    }
    int fd = open(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    t->files[slot] = fd + 1; /* 0 marks a free slot, and 0 is a valid descriptor */
    return slot;
}

long dx_symbols_pread(void *ctx, int slot, void *buf, size_t len, uint64_t offset)
{
    dx_target *t = ctx;
    if (slot < 0 || slot >= DX_MAX_FILES)
        return -1;
    const dx_module *m = t->images[slot];
    if (m)
        return (long)dx_pe_image_read(t->dump, m->base, m->size, offset, buf, len);
    if (t->files[slot] <= 0)
        return -1;
    return (long)pread(t->files[slot] - 1, buf, len, (off_t)offset);
}

int dx_symbols_close(void *ctx, int slot)
{
    dx_target *t = ctx;
    if (slot < 0 || slot >= DX_MAX_FILES || (t->files[slot] <= 0 && !t->images[slot]))
        return -1;
    if (t->files[slot] > 0)
        close(t->files[slot] - 1);
    t->files[slot] = 0;
    t->images[slot] = NULL;
    return 0;
}

/* lldb asks where a local file is loaded: the base of the module of that name. */
int dx_symbols_load_address(void *ctx, const char *path, uint64_t *base)
{
    dx_target *t = ctx;
    const dx_module *m = dx_dump_find_module(t->dump, basename_any(path));
    if (!m)
        return -1;
    *base = m->base;
    return 0;
}

void dx_symbols_close_all(dx_target *t)
{
    for (int i = 0; i < DX_MAX_FILES; i++)
        if (t->files[i] > 0)
            close(t->files[i] - 1);
}
