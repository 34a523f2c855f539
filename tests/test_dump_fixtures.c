/* The reader against real dumps: the Wine fixtures, checked against their
 * JSON manifests, and two dumps from Windows' own writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "describe.h"
#include "dump.h"
#include "pe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef DX_FIXTURES_DEFAULT
#define DX_FIXTURES_DEFAULT "tests/fixtures"
#endif
#ifndef DX_FIXTURES_SRC_DEFAULT
#define DX_FIXTURES_SRC_DEFAULT "../tests/fixtures"
#endif

/* ---- a minimal JSON path lookup ---------------------------------------
 * Enough for the manifests: json_at(text, "process", "main_thread", "tid",
 * NULL) walks objects by key ("#N" indexes an array) and returns where the
 * value starts, skipping everything else structurally. */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

/* Past a string literal starting at p (on the quote); NULL if malformed. */
static const char *skip_string(const char *p)
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && !*++p)
            return NULL;
    return *p ? p + 1 : NULL;
}

static const char *skip_value(const char *p)
{
    p = ws(p);
    if (*p == '"')
        return skip_string(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || !(p = skip_string(p)) || *(p = ws(p)) != ':')
                    return NULL;
                p++;
            }
            if (!(p = skip_value(p)))
                return NULL;
            p = ws(p);
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = ws(p + 1);
        }
    }
    if (!*p || strchr(",]}:", *p))
        return NULL;
    while (*p && !strchr(",]} \n\r\t", *p))
        p++;
    return p;
}

static const char *json_vat(const char *p, va_list ap)
{
    const char *key;
    while ((key = va_arg(ap, const char *))) {
        p = ws(p);
        if (key[0] == '#') {
            if (*p != '[')
                return NULL;
            long n = strtol(key + 1, NULL, 10);
            p = ws(p + 1);
            for (long i = 0; i < n; i++) {
                if (!(p = skip_value(p)) || *(p = ws(p)) != ',')
                    return NULL;
                p = ws(p + 1);
            }
            if (*p == ']')
                return NULL;
            continue;
        }
        if (*p != '{')
            return NULL;
        p = ws(p + 1);
        size_t klen = strlen(key);
        for (;;) {
            if (*p != '"')
                return NULL;
            const char *k = p + 1, *end = skip_string(p);
            if (!end || *(p = ws(end)) != ':')
                return NULL;
            p = ws(p + 1);
            if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen))
                break;
            if (!(p = skip_value(p)) || *(p = ws(p)) != ',')
                return NULL;
            p = ws(p + 1);
        }
    }
    return ws(p);
}

static const char *json_at(const char *json, ...)
{
    va_list ap;
    va_start(ap, json);
    const char *p = json_vat(json, ap);
    va_end(ap);
    return p;
}

/* A number, or a string holding one ("0x67fe0000", "122"). Fails the test
 * if the path is missing. */
static uint64_t json_u64(const char *json, ...)
{
    va_list ap;
    va_start(ap, json);
    const char *p = json_vat(json, ap);
    va_end(ap);
    if (!p)
        fail_msg("manifest value missing");
    if (*p == '"')
        p++;
    char *end;
    errno = 0;
    uint64_t v = strtoull(p, &end, 0);
    if (end == p || errno)
        fail_msg("manifest value is not a number: %.20s", p);
    return v;
}

/* A string value without escapes, copied into out. */
static const char *json_str(char *out, size_t len, const char *json, ...)
{
    va_list ap;
    va_start(ap, json);
    const char *p = json_vat(json, ap);
    va_end(ap);
    if (!p || *p != '"')
        fail_msg("manifest string missing");
    const char *end = strchr(p + 1, '"');
    snprintf(out, len, "%.*s", (int)(end - p - 1), p + 1);
    return out;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* ---- per-dump state --------------------------------------------------- */

typedef struct fixture {
    const char *name; /* "full", "normal", "crash" */
    dx_dump *d;
    char *manifest;
} fixture;

static fixture fx_full = {.name = "full"}, fx_normal = {.name = "normal"}, fx_crash = {.name = "crash"};

static int open_fixture(void **state)
{
    fixture *f = *state;
    char path[4096], err[DX_ERRLEN];
    snprintf(path, sizeof path, "%s/testprog_%s.json", env_or("DX_FIXTURES_SRC", DX_FIXTURES_SRC_DEFAULT), f->name);
    if (!(f->manifest = slurp(path))) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/testprog_%s.dmp", env_or("DX_FIXTURES", DX_FIXTURES_DEFAULT), f->name);
    if (dx_dump_open(path, &f->d, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        free(f->manifest);
        return -1;
    }
    return 0;
}

static int close_fixture(void **state)
{
    fixture *f = *state;
    dx_dump_close(f->d);
    free(f->manifest);
    f->d = NULL;
    f->manifest = NULL;
    return 0;
}

static int setup_full(void **state) { return *state = &fx_full, open_fixture(state); }
static int setup_normal(void **state) { return *state = &fx_normal, open_fixture(state); }
static int setup_crash(void **state) { return *state = &fx_crash, open_fixture(state); }

static uint64_t resolve_ok(const dx_dump *d, const char *expr)
{
    uint64_t a = 0;
    char err[DX_ERRLEN] = "";
    if (dx_dump_resolve(d, expr, &a, err, sizeof err) != 0)
        fail_msg("resolve(\"%s\") failed: %s", expr, err);
    return a;
}

/* ---- every Wine dump ------------------------------------------------------ */

static void test_threads(void **state)
{
    const fixture *f = *state;
    const char *m = f->manifest;
    assert_int_equal(dx_dump_thread_count(f->d), 2);
    uint64_t main_tid = json_u64(m, "process", "main_thread", "tid", NULL);
    uint64_t worker_tid = json_u64(m, "process", "worker_thread", "tid", NULL);
    const dx_thread *mt = dx_dump_find_thread(f->d, (uint32_t)main_tid);
    const dx_thread *wt = dx_dump_find_thread(f->d, (uint32_t)worker_tid);
    assert_non_null(mt);
    assert_non_null(wt);
    assert_ptr_equal(mt, dx_dump_thread(f->d, 0));
    assert_int_equal(mt->teb, json_u64(m, "process", "main_thread", "teb", NULL));
    assert_int_equal(wt->teb, json_u64(m, "process", "worker_thread", "teb", NULL));
    /* Wine's thread contexts: CONTROL | INTEGER | FLOATING, no segments. */
    for (size_t i = 0; i < 2; i++) {
        const dx_thread *t = dx_dump_thread(f->d, i);
        assert_true(t->has_context);
        assert_int_equal(t->context.flags, 0x10000b);
        assert_non_null(dx_dump_module_at(f->d, t->context.rip));
        assert_string_equal(dx_dump_module_at(f->d, t->context.rip)->basename, "ntdll.dll");
        assert_true(t->context.rsp >= t->stack_start && t->context.rsp < t->stack_start + t->stack_size);
    }
    uint32_t pid;
    assert_true(dx_dump_pid(f->d, &pid));
    assert_int_equal(pid, json_u64(m, "process", "pid", NULL));
    assert_int_equal(dx_dump_sysinfo(f->d)->arch, 9);
}

static void test_modules(void **state)
{
    const fixture *f = *state;
    const char *m = f->manifest;
    assert_int_equal(dx_dump_module_count(f->d), 5);
    static const char *const names[] = {"testprog.exe", "ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"};
    for (size_t i = 0; i < 5; i++) {
        const dx_module *mod = dx_dump_find_module(f->d, names[i]);
        if (!mod)
            fail_msg("module %s missing", names[i]);
        assert_int_equal(strcasecmp(mod->basename, names[i]), 0);
        assert_int_equal(mod->base, json_u64(m, "modules", names[i], NULL));
        assert_true(mod->size > 0);
        assert_ptr_equal(dx_dump_module_at(f->d, mod->base + mod->size - 1), mod);
        assert_null(mod->pdb); /* Wine writes no CodeView records */
    }
    const dx_module *exe = dx_dump_find_module(f->d, "testprog");
    assert_int_equal(exe->base, json_u64(m, "process", "image_base", NULL));
    assert_ptr_equal(dx_dump_find_module(f->d, "TESTPROG.EXE"), exe);
    assert_null(dx_dump_find_module(f->d, "dbghelp"));
    assert_null(dx_dump_find_module(f->d, "ucrtbase.dll"));
}

static void test_module_offset(void **state)
{
    const fixture *f = *state;
    char expr[64];
    snprintf(expr, sizeof expr, "testprog+0x%llx",
             (unsigned long long)json_u64(f->manifest, "functions", "add2", "rva", NULL));
    assert_int_equal(resolve_ok(f->d, expr), json_u64(f->manifest, "functions", "add2", "address", NULL));
}

/* ---- full and crash: all memory -------------------------------------------- */

static void test_exports(void **state)
{
    const fixture *f = *state;
    uint64_t add2 = json_u64(f->manifest, "functions", "add2", "address", NULL);
    assert_int_equal(resolve_ok(f->d, "testprog.exe!add2"), add2);
    assert_int_equal(resolve_ok(f->d, "testprog!add2"), add2);
    assert_int_equal(resolve_ok(f->d, "testprog!add2+0x5"), add2 + 5);
    assert_int_equal(resolve_ok(f->d, "testprog!crash_write"),
                     json_u64(f->manifest, "functions", "crash_write", "address", NULL));
    assert_int_equal(resolve_ok(f->d, "testprog!g_counter"),
                     json_u64(f->manifest, "globals", "g_counter", "address", NULL));
    char sym[300];
    dx_dump_symbolize(f->d, add2, sym, sizeof sym);
    assert_string_equal(sym, "testprog.exe!add2");

    /* lstrlenA: in kernel32, or wherever kernel32 forwards it. */
    uint64_t l = resolve_ok(f->d, "kernel32!lstrlenA");
    const dx_module *in = dx_dump_module_at(f->d, l);
    assert_non_null(in);
    if (strcasecmp(in->basename, "kernel32.dll") != 0) {
        assert_int_equal(strcasecmp(in->basename, "kernelbase.dll"), 0);
        assert_int_equal(l, resolve_ok(f->d, "kernelbase!lstrlenA"));
    }
    uint8_t insn;
    assert_int_equal(dx_dump_read(f->d, l, &insn, 1), 1);
    /* ntdll's syscall stub, byte for byte. */
    uint64_t stub = resolve_ok(f->d, "ntdll!NtQueryInformationProcess");
    assert_int_equal(stub, json_u64(f->manifest, "syscall", "stub_address", NULL));
    char hex[80];
    json_str(hex, sizeof hex, f->manifest, "syscall", "stub_bytes_hex", NULL);
    uint8_t bytes[32];
    assert_int_equal(dx_dump_read(f->d, stub, bytes, 32), 32);
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        assert_int_equal(bytes[i], v);
    }
    uint64_t fp;
    assert_int_equal(dx_dump_read(f->d, json_u64(f->manifest, "globals", "g_NtQueryInformationProcess", "address", NULL),
                                  &fp, 8),
                     8);
    assert_int_equal(fp, json_u64(f->manifest, "globals", "g_NtQueryInformationProcess", "value_at_dump", NULL));
}

static void test_memory(void **state)
{
    const fixture *f = *state;
    const char *m = f->manifest;
    int64_t counter = 0;
    assert_int_equal(dx_dump_read(f->d, json_u64(m, "globals", "g_counter", "address", NULL), &counter, 8), 8);
    assert_int_equal(counter, json_u64(m, "globals", "g_counter", "value_at_dump", "dec", NULL));
    assert_int_equal(counter, 122);
    char str[16];
    assert_int_equal(dx_dump_read(f->d, json_u64(m, "globals", "g_str", "address", NULL), str, 16), 16);
    assert_string_equal(str, "hello, dumpexec");
    int32_t arr[10];
    assert_int_equal(dx_dump_read(f->d, json_u64(m, "globals", "g_array", "address", NULL), arr, sizeof arr),
                     sizeof arr);
    for (int i = 0; i < 10; i++) {
        char idx[8];
        snprintf(idx, sizeof idx, "#%d", i);
        const char *v = json_at(m, "globals", "g_array", "value", idx, NULL);
        assert_non_null(v);
        assert_int_equal(arr[i], strtol(v, NULL, 10));
    }
    /* The main thread's TLS slot, through its TEB. */
    uint64_t tls;
    assert_int_equal(dx_dump_read(f->d, json_u64(m, "tls", "teb_slot_address", NULL), &tls, 8), 8);
    assert_int_equal(tls, json_u64(m, "tls", "value", NULL));
    /* TEB.Self and KUSER_SHARED_DATA. */
    const dx_thread *mt = dx_dump_thread(f->d, 0);
    uint64_t self;
    assert_int_equal(dx_dump_read(f->d, mt->teb + 0x30, &self, 8), 8);
    assert_int_equal(self, mt->teb);
    uint8_t kuser;
    assert_int_equal(dx_dump_read(f->d, 0x7ffe0308, &kuser, 1), 1);
    assert_int_equal(kuser, json_u64(m, "syscall", "kuser_systemcall_0x7ffe0308", NULL));
    uint8_t b;
    assert_int_equal(dx_dump_read(f->d, 0x7ffe1000, &b, 1), 0);
    assert_int_equal(dx_dump_read(f->d, 0, &b, 1), 0);
    /* The index is sorted and disjoint. */
    for (size_t i = 1; i < dx_dump_range_count(f->d); i++)
        assert_true(dx_dump_range(f->d, i - 1)->base + dx_dump_range(f->d, i - 1)->size <= dx_dump_range(f->d, i)->base);
}

static void test_has_code_full(void **state)
{
    const fixture *f = *state;
    for (size_t i = 0; i < dx_dump_module_count(f->d); i++)
        assert_true(dx_module_has_code(f->d, dx_dump_module(f->d, i)));
    dx_pe_section s[16];
    int n = dx_pe_sections(f->d, dx_dump_find_module(f->d, "testprog")->base, s, 16);
    assert_true(n > 1);
    assert_string_equal(s[0].name, ".text");
    assert_true(s[0].characteristics & DX_SCN_EXECUTE);
}

static void test_no_exception(void **state)
{
    const fixture *f = *state;
    assert_null(dx_dump_exception(f->d));
    assert_ptr_equal(dx_dump_default_thread(f->d), dx_dump_thread(f->d, 0));
    const dx_thread *t = dx_dump_thread(f->d, 0);
    assert_ptr_equal(dx_dump_thread_context(f->d, t), &t->context);
}

/* ---- normal: no code --------------------------------------------------------- */

static void test_normal(void **state)
{
    const fixture *f = *state;
    for (size_t i = 0; i < dx_dump_module_count(f->d); i++)
        assert_false(dx_module_has_code(f->d, dx_dump_module(f->d, i)));
    assert_false(dx_module_has_code(f->d, dx_dump_find_module(f->d, "testprog.exe")));
    assert_true(dx_dump_range_count(f->d) > 1000);
    for (size_t i = 1; i < dx_dump_range_count(f->d); i++)
        assert_true(dx_dump_range(f->d, i - 1)->base + dx_dump_range(f->d, i - 1)->size <= dx_dump_range(f->d, i)->base);
    /* The bytes around each thread's stack pointer are there. */
    for (size_t i = 0; i < dx_dump_thread_count(f->d); i++) {
        uint64_t v;
        assert_int_equal(dx_dump_read(f->d, dx_dump_thread(f->d, i)->context.rsp, &v, 8), 8);
    }
    uint64_t a;
    char err[DX_ERRLEN];
    assert_int_equal(dx_dump_resolve(f->d, "testprog!add2", &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "add2"));
    assert_null(dx_dump_exception(f->d));
}

/* ---- crash: the Exception stream ----------------------------------------------- */

static void test_crash_exception(void **state)
{
    const fixture *f = *state;
    const char *m = f->manifest;
    const dx_exception *x = dx_dump_exception(f->d);
    assert_non_null(x);
    assert_int_equal(x->code, 0xc0000005);
    assert_int_equal(x->code, json_u64(m, "exception", "code", NULL));
    assert_int_equal(x->flags, json_u64(m, "exception", "flags", NULL));
    assert_int_equal(x->address, json_u64(m, "exception", "exception_address", NULL));
    assert_int_equal(x->record, 0); /* no nested exception */
    assert_int_equal(x->nparams, 2);
    assert_int_equal(x->nparams, json_u64(m, "exception", "number_parameters", NULL));
    assert_int_equal(x->params[0], 1);
    assert_int_equal(x->params[1], 0xdeadbeef);
    assert_int_equal(x->params[0], json_u64(m, "exception", "information", "#0", NULL));
    assert_int_equal(x->params[1], json_u64(m, "exception", "information", "#1", NULL));
    uint64_t tid = json_u64(m, "exception", "thread_id", NULL);
    assert_int_equal(x->tid, tid);
    assert_true(x->has_context);
    assert_int_equal(x->context.rip, json_u64(m, "exception", "context", "rip", NULL));
    assert_int_equal(x->context.rsp, json_u64(m, "exception", "context", "rsp", NULL));
    assert_int_equal(x->context.rbp, json_u64(m, "exception", "context", "rbp", NULL));
    assert_int_equal(x->context.rax, json_u64(m, "exception", "context", "rax", NULL));
    assert_int_equal(x->context.rcx, json_u64(m, "exception", "context", "rcx", NULL));
    assert_int_equal(x->context.rdx, json_u64(m, "exception", "context", "rdx", NULL));
    assert_int_equal(x->context.eflags, json_u64(m, "exception", "context", "eflags", NULL));
    assert_int_equal(x->context.flags, json_u64(m, "exception", "context", "context_flags", NULL));
    assert_int_equal(x->context.rip,
                     resolve_ok(f->d, "testprog!crash_write") + 5); /* the mov [rax],... */

    /* The exception thread is the default, and its registers are the fault's,
     * not the ThreadList's (which is inside the exception filter). */
    const dx_thread *t = dx_dump_default_thread(f->d);
    assert_non_null(t);
    assert_int_equal(t->tid, tid);
    const dx_context *c = dx_dump_thread_context(f->d, t);
    assert_ptr_equal(c, &x->context);
    assert_int_equal(c->rip, json_u64(m, "exception", "context", "rip", NULL));
    assert_true(t->has_context);
    assert_int_not_equal(t->context.rip, c->rip);
    const dx_thread *other = dx_dump_find_thread(f->d, (uint32_t)json_u64(m, "process", "worker_thread", "tid", NULL));
    assert_ptr_equal(dx_dump_thread_context(f->d, other), &other->context);

    char sym[300];
    dx_dump_symbolize(f->d, x->address, sym, sizeof sym);
    assert_string_equal(sym, "testprog.exe!crash_write+0x5");
    dx_buf b = {0};
    dx_describe_exception(f->d, &b);
    assert_non_null(strstr(dx_buf_str(&b), "Access violation writing 0xdeadbeef"));
    assert_non_null(strstr(dx_buf_str(&b), "testprog.exe!crash_write+0x5"));
    dx_buf_free(&b);
}

/* ---- Windows' own writers ------------------------------------------------------ */

static dx_dump *open_public(const char *name, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/public/%s", env_or("DX_FIXTURES_SRC", DX_FIXTURES_SRC_DEFAULT), name);
    dx_dump *d = NULL;
    if (dx_dump_open(path, &d, err, DX_ERRLEN) != 0)
        return NULL;
    return d;
}

static void test_breakpad_x64(void **state)
{
    (void)state;
    char err[DX_ERRLEN] = "";
    dx_dump *d = open_public("win10_x64_breakpad_invalid_parameter.dmp", err);
    if (!d)
        fail_msg("open: %s", err);
    const dx_sysinfo *si = dx_dump_sysinfo(d);
    assert_int_equal(si->arch, 9);
    assert_int_equal(si->major, 10);
    assert_int_equal(si->minor, 0);
    assert_int_equal(si->build, 17134);
    assert_int_equal(si->ncpus, 16);
    uint32_t pid;
    assert_true(dx_dump_pid(d, &pid));
    assert_int_equal(pid, 6256);

    assert_int_equal(dx_dump_module_count(d), 31);
    const dx_module *exe = dx_dump_module(d, 0);
    assert_string_equal(exe->basename, "CrashTest.exe");
    assert_int_equal(exe->base, 0x7ff61bc80000);
    assert_string_equal(exe->pdb, "C:\\build\\CrashTest\\x64\\Debug\\CrashTest.pdb");
    static const uint8_t guid[16] = {0x3a, 0x7c, 0x8a, 0x36, 0xa6, 0x63, 0xd9, 0x44,
                                     0xbf, 0x65, 0x9b, 0x2f, 0x47, 0x99, 0xa1, 0xc2};
    assert_memory_equal(exe->pdb_guid, guid, 16);
    assert_int_equal(exe->pdb_age, 3);
    const dx_module *ntdll = dx_dump_find_module(d, "ntdll");
    assert_non_null(ntdll);
    assert_string_equal(ntdll->pdb, "ntdll.pdb");
    assert_int_equal(ntdll->base, 0x7ff806ab0000);
    assert_non_null(dx_dump_find_module(d, "kernelbase")); /* "KERNELBASE.dll" */
    for (size_t i = 0; i < 31; i++) {
        assert_non_null(dx_dump_module(d, i)->pdb);
        assert_false(dx_module_has_code(d, dx_dump_module(d, i)));
    }

    assert_int_equal(dx_dump_thread_count(d), 6);
    assert_int_equal(dx_dump_thread(d, 0)->tid, 0x1708);
    const dx_exception *x = dx_dump_exception(d);
    assert_non_null(x);
    assert_int_equal(x->code, 0xc000000d);
    assert_int_equal(x->tid, 0x1708);
    assert_true(x->has_context);
    assert_int_equal(x->context.rip, 0x7ff61bcfa9a3);
    const dx_thread *t = dx_dump_default_thread(d);
    assert_int_equal(t->tid, 0x1708);
    assert_int_equal(dx_dump_thread_context(d, t)->rip, 0x7ff61bcfa9a3);
    for (size_t i = 0; i < 6; i++)
        assert_true(dx_dump_thread(d, i)->has_context);

    assert_int_equal(dx_dump_range_count(d), 10);
    /* Breakpad captures each stack and a window around each RIP. */
    uint64_t v;
    assert_int_equal(dx_dump_read(d, dx_dump_thread_context(d, t)->rsp, &v, 8), 8);
    uint8_t code[16];
    assert_int_equal(dx_dump_read(d, 0x7ff61bcfa9a3, code, 16), 16);
    dx_dump_close(d);
}

static void test_xp_x86_refused(void **state)
{
    (void)state;
    char err[DX_ERRLEN] = "";
    dx_dump *d = open_public("winxp_x86_breakpad_test.dmp", err);
    if (d) {
        dx_dump_close(d);
        fail_msg("a 32-bit dump was accepted");
    }
    if (!strstr(err, "x86") || !strstr(err, "32-bit"))
        fail_msg("message does not say x86/32-bit: %s", err);
}

static void test_json_helper(void **state)
{
    (void)state;
    const char *j = "{\"a\": {\"b\\\"\": [1, {\"c\": \"x,}\"}, [2, 3]], \"d\": -7}, \"e\": \"0x10\", \"f\": true}";
    assert_int_equal(json_u64(j, "e", NULL), 16);
    assert_int_equal(json_u64(j, "a", "b\\\"", "#0", NULL), 1);
    assert_int_equal(json_u64(j, "a", "b\\\"", "#2", "#1", NULL), 3);
    assert_int_equal(json_u64(j, "a", "d", NULL), (uint64_t)-7);
    char s[8];
    assert_string_equal(json_str(s, sizeof s, j, "a", "b\\\"", "#1", "c", NULL), "x,}");
    assert_null(json_at(j, "a", "zz", NULL));
    assert_null(json_at(j, "a", "b\\\"", "#3", NULL));
    assert_non_null(json_at(j, "f", NULL));
}

int main(void)
{
    const struct CMUnitTest full[] = {
        cmocka_unit_test(test_threads),     cmocka_unit_test(test_modules),      cmocka_unit_test(test_module_offset),
        cmocka_unit_test(test_exports),     cmocka_unit_test(test_memory),       cmocka_unit_test(test_has_code_full),
        cmocka_unit_test(test_no_exception),
    };
    const struct CMUnitTest normal[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_module_offset),
        cmocka_unit_test(test_normal),
    };
    const struct CMUnitTest crash[] = {
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_modules), cmocka_unit_test(test_module_offset),
        cmocka_unit_test(test_exports),       cmocka_unit_test(test_memory),  cmocka_unit_test(test_has_code_full),
        cmocka_unit_test(test_crash_exception),
    };
    const struct CMUnitTest public_[] = {
        cmocka_unit_test(test_json_helper),
        cmocka_unit_test(test_breakpad_x64),
        cmocka_unit_test(test_xp_x86_refused),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("testprog_full", full, setup_full, close_fixture);
    failed += cmocka_run_group_tests_name("testprog_normal", normal, setup_normal, close_fixture);
    failed += cmocka_run_group_tests_name("testprog_crash", crash, setup_crash, close_fixture);
    failed += cmocka_run_group_tests_name("public", public_, NULL, NULL);
    return failed;
}
