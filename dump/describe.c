#include "describe.h"

#include "pe.h"

#include <inttypes.h>
#include <stdio.h>

#define X64 "0x%016" PRIx64

void dx_describe_system(const dx_dump *d, dx_buf *out)
{
    const dx_sysinfo *si = dx_dump_sysinfo(d);
    uint32_t pid;
    dx_buf_printf(out, "Dump: %s (%" PRIu64 " bytes)\n", dx_dump_path(d), dx_dump_file_size(d));
    dx_buf_printf(out, "System: %s, Windows %u.%u build %u%s%s, %u CPU(s)\n", dx_arch_name(si->arch), si->major,
                  si->minor, si->build, si->csd_version ? " " : "", si->csd_version ? si->csd_version : "",
                  si->ncpus);
    if (dx_dump_pid(d, &pid))
        dx_buf_printf(out, "Process: %u\n", pid);
    if (dx_dump_comment(d))
        dx_buf_printf(out, "Comment: %s\n", dx_dump_comment(d));
}

static void guid_text(const uint8_t g[16], char out[37])
{
    snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", g[3], g[2], g[1],
             g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

void dx_describe_modules(const dx_dump *d, dx_buf *out)
{
    size_t n = dx_dump_module_count(d);
    dx_buf_printf(out, "Modules (%zu):\n", n);
    for (size_t i = 0; i < n; i++) {
        const dx_module *m = dx_dump_module(d, i);
        dx_buf_printf(out, "  " X64 "  %10u  %-20s %s", m->base, m->size, m->basename, m->path);
        if (m->pdb) {
            char guid[37];
            guid_text(m->pdb_guid, guid);
            dx_buf_printf(out, "  pdb: %s {%s} age %u", m->pdb, guid, m->pdb_age);
        }
        if (dx_dump_images_asked(d)) {
            const char *file = dx_dump_module_file(d, m);
            dx_buf_printf(out, "  code: %s%s", file ? "file " : dx_module_has_code(d, m) ? "dump" : "missing",
                          file ? file : "");
        }
        dx_buf_printf(out, "\n");
    }
    for (size_t i = 0; i < dx_dump_unloaded_count(d); i++) {
        const dx_unloaded_module *u = dx_dump_unloaded(d, i);
        dx_buf_printf(out, "  " X64 "  %10u  (unloaded) %s\n", u->base, u->size, u->path);
    }
}

static const char *thread_label(const dx_dump *d, const dx_thread *t)
{
    const dx_exception *x = dx_dump_exception(d);
    if (t->name)
        return t->name;
    if (x && x->tid == t->tid)
        return "exception";
    return t == dx_dump_thread(d, 0) ? "main" : "";
}

void dx_describe_threads(const dx_dump *d, dx_buf *out)
{
    size_t n = dx_dump_thread_count(d);
    dx_buf_printf(out, "Threads (%zu):\n", n);
    dx_buf_printf(out, "  %-8s %-18s %-18s %-18s %s\n", "TID", "RIP", "RSP", "TEB", "NAME");
    for (size_t i = 0; i < n; i++) {
        const dx_thread *t = dx_dump_thread(d, i);
        const dx_context *c = dx_dump_thread_context(d, t);
        char where[300] = "";
        if (c)
            dx_dump_symbolize(d, c->rip, where, sizeof where);
        if (c)
            dx_buf_printf(out, "  0x%-6x " X64 " " X64 " " X64 " %s  %s\n", t->tid, c->rip, c->rsp, t->teb,
                          thread_label(d, t), where);
        else
            dx_buf_printf(out, "  0x%-6x %-18s %-18s " X64 " %s  (no context)\n", t->tid, "-", "-", t->teb,
                          thread_label(d, t));
    }
}

void dx_describe_exception_reason(const dx_exception *x, dx_buf *out)
{
    const char *name = dx_exception_name(x->code);
    if (x->code == 0xc0000005 && x->nparams >= 2) {
        const char *how = x->params[0] == 0 ? "reading" : x->params[0] == 1 ? "writing" : "executing";
        dx_buf_printf(out, "Access violation %s 0x%" PRIx64, how, x->params[1]);
    } else if (name) {
        dx_buf_printf(out, "%s", name);
    } else {
        dx_buf_printf(out, "Exception 0x%08x", x->code);
    }
}

void dx_describe_exception(const dx_dump *d, dx_buf *out)
{
    const dx_exception *x = dx_dump_exception(d);
    if (!x) {
        dx_buf_printf(out, "Exception: none\n");
        return;
    }
    const char *name = dx_exception_name(x->code);
    char where[300] = "";
    if (dx_dump_module_at(d, x->address))
        dx_dump_symbolize(d, x->address, where, sizeof where);
    dx_buf_printf(out, "Exception: %s (0x%08x) at 0x%" PRIx64 "%s%s%s in thread 0x%x: ", name ? name : "unknown",
                  x->code, x->address, *where ? " (" : "", where, *where ? ")" : "", x->tid);
    dx_describe_exception_reason(x, out);
    dx_buf_printf(out, "\n");
}

bool dx_module_has_code(const dx_dump *d, const dx_module *m)
{
    dx_pe_section s[96];
    int n = dx_pe_sections(d, m->base, s, 96);
    for (int i = 0; i < n && i < 96; i++)
        if (s[i].characteristics & DX_SCN_EXECUTE)
            return dx_dump_range_at(d, m->base + s[i].rva) != NULL;
    return false;
}

void dx_describe_memory(const dx_dump *d, dx_buf *out)
{
    size_t with_code = 0, n = dx_dump_module_count(d);
    for (size_t i = 0; i < n; i++)
        with_code += dx_module_has_code(d, dx_dump_module(d, i));
    dx_buf_printf(out, "Memory: %zu ranges, %" PRIu64 " bytes captured; module code present in %zu of %zu modules%s\n",
                  dx_dump_range_count(d), dx_dump_memory_bytes(d), with_code, n,
                  with_code ? "" : " (inspection only: functions cannot be run)");
    if (dx_dump_region_count(d))
        dx_buf_printf(out, "Memory info: %zu regions (MemoryInfoList)\n", dx_dump_region_count(d));
}

void dx_describe_all(const dx_dump *d, dx_buf *out)
{
    dx_describe_system(d, out);
    dx_describe_modules(d, out);
    dx_describe_threads(d, out);
    dx_describe_exception(d, out);
    dx_describe_memory(d, out);
}

static void json_modules(const dx_dump *d, dx_buf *out)
{
    dx_buf_printf(out, "\"modules\":[");
    for (size_t i = 0; i < dx_dump_module_count(d); i++) {
        const dx_module *m = dx_dump_module(d, i);
        dx_buf_printf(out, "%s{\"base\":\"0x%" PRIx64 "\",\"size\":%u,\"timestamp\":%u,\"name\":", i ? "," : "",
                      m->base, m->size, m->timestamp);
        dx_buf_json_string(out, m->basename);
        dx_buf_printf(out, ",\"path\":");
        dx_buf_json_string(out, m->path);
        if (m->pdb) {
            char guid[37];
            guid_text(m->pdb_guid, guid);
            dx_buf_printf(out, ",\"pdb\":");
            dx_buf_json_string(out, m->pdb);
            dx_buf_printf(out, ",\"pdb_guid\":\"%s\",\"pdb_age\":%u", guid, m->pdb_age);
        }
        dx_buf_printf(out, ",\"code\":%s}", dx_module_has_code(d, m) ? "true" : "false");
    }
    dx_buf_printf(out, "]");
}

static void json_threads(const dx_dump *d, dx_buf *out)
{
    dx_buf_printf(out, "\"threads\":[");
    for (size_t i = 0; i < dx_dump_thread_count(d); i++) {
        const dx_thread *t = dx_dump_thread(d, i);
        const dx_context *c = dx_dump_thread_context(d, t);
        dx_buf_printf(out, "%s{\"tid\":%u,\"teb\":\"0x%" PRIx64 "\",\"name\":", i ? "," : "", t->tid, t->teb);
        dx_buf_json_string(out, thread_label(d, t));
        if (c)
            dx_buf_printf(out, ",\"rip\":\"0x%" PRIx64 "\",\"rsp\":\"0x%" PRIx64 "\"", c->rip, c->rsp);
        dx_buf_printf(out, "}");
    }
    dx_buf_printf(out, "]");
}

static void json_exception(const dx_dump *d, dx_buf *out)
{
    const dx_exception *x = dx_dump_exception(d);
    if (!x) {
        dx_buf_printf(out, "\"exception\":null");
        return;
    }
    const char *name = dx_exception_name(x->code);
    dx_buf_printf(out, "\"exception\":{\"code\":\"0x%08x\",\"name\":", x->code);
    dx_buf_json_string(out, name ? name : "unknown");
    dx_buf_printf(out, ",\"address\":\"0x%" PRIx64 "\",\"tid\":%u,\"params\":[", x->address, x->tid);
    for (uint32_t i = 0; i < x->nparams; i++)
        dx_buf_printf(out, "%s\"0x%" PRIx64 "\"", i ? "," : "", x->params[i]);
    dx_buf_printf(out, "],\"description\":");
    dx_buf reason = {0};
    dx_describe_exception_reason(x, &reason);
    dx_buf_json_string(out, dx_buf_str(&reason));
    dx_buf_free(&reason);
    dx_buf_printf(out, "}");
}

void dx_describe_json(const dx_dump *d, dx_buf *out)
{
    const dx_sysinfo *si = dx_dump_sysinfo(d);
    uint32_t pid;
    dx_buf_printf(out, "{\"path\":");
    dx_buf_json_string(out, dx_dump_path(d));
    dx_buf_printf(out, ",\"system\":{\"arch\":\"%s\",\"major\":%u,\"minor\":%u,\"build\":%u,\"cpus\":%u}",
                  dx_arch_name(si->arch), si->major, si->minor, si->build, si->ncpus);
    if (dx_dump_pid(d, &pid))
        dx_buf_printf(out, ",\"pid\":%u", pid);
    dx_buf_printf(out, ",");
    json_modules(d, out);
    dx_buf_printf(out, ",");
    json_threads(d, out);
    dx_buf_printf(out, ",");
    json_exception(d, out);
    dx_buf_printf(out, ",\"memory\":{\"ranges\":%zu,\"bytes\":%" PRIu64 ",\"regions\":%zu}}\n",
                  dx_dump_range_count(d), dx_dump_memory_bytes(d), dx_dump_region_count(d));
}
