/* The reader against real dumps: the Wine fixtures, checked against their
 * JSON manifests, and two dumps from Windows' own writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "describe.h"
#include "dump.h"
#include "manifest.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A number the manifest must have (a literal or a string like "0x67fe0000"). */
static uint64_t need(const mj *v, const char *what)
{
    uint64_t n;
    if (!mj_u64(v, &n))
        fail_msg("manifest: %s missing or not a number", what);
    return n;
}

static uint64_t need_u64(const mj *m, const char *path) { return need(mj_path(m, path), path); }

/* ---- per-dump state --------------------------------------------------- */

typedef struct fixture {
    const char *name;
    dx_dump *d;
    mj *manifest;
} fixture;

static fixture fx_full = {.name = "testprog_full"}, fx_normal = {.name = "testprog_normal"},
               fx_crash = {.name = "testprog_crash"};

static int open_fixture(void **state)
{
    fixture *f = *state;
    return fixture_open(f->name, &f->d, &f->manifest);
}

static int close_fixture(void **state)
{
    fixture *f = *state;
    fixture_close(f->d, f->manifest);
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
    const mj *m = f->manifest;
    assert_int_equal(dx_dump_thread_count(f->d), 2);
    uint64_t main_tid = need_u64(m, "process.main_thread.tid");
    uint64_t worker_tid = need_u64(m, "process.worker_thread.tid");
    const dx_thread *mt = dx_dump_find_thread(f->d, (uint32_t)main_tid);
    const dx_thread *wt = dx_dump_find_thread(f->d, (uint32_t)worker_tid);
    assert_non_null(mt);
    assert_non_null(wt);
    assert_ptr_equal(mt, dx_dump_thread(f->d, 0));
    assert_int_equal(mt->teb, need_u64(m, "process.main_thread.teb"));
    assert_int_equal(wt->teb, need_u64(m, "process.worker_thread.teb"));
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
    assert_int_equal(pid, need_u64(m, "process.pid"));
    assert_int_equal(dx_dump_sysinfo(f->d)->arch, 9);
}

static void test_modules(void **state)
{
    const fixture *f = *state;
    const mj *m = f->manifest;
    assert_int_equal(dx_dump_module_count(f->d), 5);
    static const char *const names[] = {"testprog.exe", "ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"};
    for (size_t i = 0; i < 5; i++) {
        const dx_module *mod = dx_dump_find_module(f->d, names[i]);
        if (!mod)
            fail_msg("module %s missing", names[i]);
        assert_int_equal(strcasecmp(mod->basename, names[i]), 0);
        assert_int_equal(mod->base, need(mj_get(mj_get(m, "modules"), names[i]), names[i]));
        assert_true(mod->size > 0);
        assert_ptr_equal(dx_dump_module_at(f->d, mod->base + mod->size - 1), mod);
        assert_null(mod->pdb); /* Wine writes no CodeView records */
    }
    const dx_module *exe = dx_dump_find_module(f->d, "testprog");
    assert_int_equal(exe->base, need_u64(m, "process.image_base"));
    assert_ptr_equal(dx_dump_find_module(f->d, "TESTPROG.EXE"), exe);
    assert_null(dx_dump_find_module(f->d, "dbghelp"));
    assert_null(dx_dump_find_module(f->d, "ucrtbase.dll"));
}

static void test_module_offset(void **state)
{
    const fixture *f = *state;
    char expr[64];
    snprintf(expr, sizeof expr, "testprog+0x%llx",
             (unsigned long long)need_u64(f->manifest, "functions.add2.rva"));
    assert_int_equal(resolve_ok(f->d, expr), need_u64(f->manifest, "functions.add2.address"));
}

/* ---- full and crash: all memory -------------------------------------------- */

static void test_exports(void **state)
{
    const fixture *f = *state;
    uint64_t add2 = need_u64(f->manifest, "functions.add2.address");
    assert_int_equal(resolve_ok(f->d, "testprog.exe!add2"), add2);
    assert_int_equal(resolve_ok(f->d, "testprog!add2"), add2);
    assert_int_equal(resolve_ok(f->d, "testprog!add2+0x5"), add2 + 5);
    assert_int_equal(resolve_ok(f->d, "testprog!crash_write"),
                     need_u64(f->manifest, "functions.crash_write.address"));
    assert_int_equal(resolve_ok(f->d, "testprog!g_counter"),
                     need_u64(f->manifest, "globals.g_counter.address"));
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
    assert_int_equal(stub, need_u64(f->manifest, "syscall.stub_address"));
    const char *hex = mj_str(mj_path(f->manifest, "syscall.stub_bytes_hex"));
    assert_non_null(hex);
    assert_true(strlen(hex) >= 64);
    uint8_t bytes[32];
    assert_int_equal(dx_dump_read(f->d, stub, bytes, 32), 32);
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        assert_int_equal(bytes[i], v);
    }
    uint64_t fp;
    assert_int_equal(dx_dump_read(f->d, need_u64(f->manifest, "globals.g_NtQueryInformationProcess.address"),
                                  &fp, 8),
                     8);
    assert_int_equal(fp, need_u64(f->manifest, "globals.g_NtQueryInformationProcess.value_at_dump"));
}

static void test_memory(void **state)
{
    const fixture *f = *state;
    const mj *m = f->manifest;
    int64_t counter = 0;
    assert_int_equal(dx_dump_read(f->d, need_u64(m, "globals.g_counter.address"), &counter, 8), 8);
    assert_int_equal(counter, need_u64(m, "globals.g_counter.value_at_dump.dec"));
    assert_int_equal(counter, 122);
    char str[16];
    assert_int_equal(dx_dump_read(f->d, need_u64(m, "globals.g_str.address"), str, 16), 16);
    assert_string_equal(str, "hello, dumpexec");
    int32_t arr[10];
    assert_int_equal(dx_dump_read(f->d, need_u64(m, "globals.g_array.address"), arr, sizeof arr),
                     sizeof arr);
    for (int i = 0; i < 10; i++) {
        int64_t v;
        assert_true(mj_i64(mj_at(mj_path(m, "globals.g_array.value"), (size_t)i), &v));
        assert_int_equal(arr[i], v);
    }
    /* The main thread's TLS slot, through its TEB. */
    uint64_t tls;
    assert_int_equal(dx_dump_read(f->d, need_u64(m, "tls.teb_slot_address"), &tls, 8), 8);
    assert_int_equal(tls, need_u64(m, "tls.value"));
    /* TEB.Self and KUSER_SHARED_DATA. */
    const dx_thread *mt = dx_dump_thread(f->d, 0);
    uint64_t self;
    assert_int_equal(dx_dump_read(f->d, mt->teb + 0x30, &self, 8), 8);
    assert_int_equal(self, mt->teb);
    uint8_t kuser;
    assert_int_equal(dx_dump_read(f->d, 0x7ffe0308, &kuser, 1), 1);
    assert_int_equal(kuser, need_u64(m, "syscall.kuser_systemcall_0x7ffe0308"));
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
    const mj *m = f->manifest;
    const dx_exception *x = dx_dump_exception(f->d);
    assert_non_null(x);
    assert_int_equal(x->code, 0xc0000005);
    assert_int_equal(x->code, need_u64(m, "exception.code"));
    assert_int_equal(x->flags, need_u64(m, "exception.flags"));
    assert_int_equal(x->address, need_u64(m, "exception.exception_address"));
    assert_int_equal(x->record, 0); /* no nested exception */
    assert_int_equal(x->nparams, 2);
    assert_int_equal(x->nparams, need_u64(m, "exception.number_parameters"));
    assert_int_equal(x->params[0], 1);
    assert_int_equal(x->params[1], 0xdeadbeef);
    assert_int_equal(x->params[0], need_u64(m, "exception.information.0"));
    assert_int_equal(x->params[1], need_u64(m, "exception.information.1"));
    uint64_t tid = need_u64(m, "exception.thread_id");
    assert_int_equal(x->tid, tid);
    assert_true(x->has_context);
    assert_int_equal(x->context.rip, need_u64(m, "exception.context.rip"));
    assert_int_equal(x->context.rsp, need_u64(m, "exception.context.rsp"));
    assert_int_equal(x->context.rbp, need_u64(m, "exception.context.rbp"));
    assert_int_equal(x->context.rax, need_u64(m, "exception.context.rax"));
    assert_int_equal(x->context.rcx, need_u64(m, "exception.context.rcx"));
    assert_int_equal(x->context.rdx, need_u64(m, "exception.context.rdx"));
    assert_int_equal(x->context.eflags, need_u64(m, "exception.context.eflags"));
    assert_int_equal(x->context.flags, need_u64(m, "exception.context.context_flags"));
    assert_int_equal(x->context.rip,
                     resolve_ok(f->d, "testprog!crash_write") + 5); /* the mov [rax],... */

    /* The exception thread is the default, and its registers are the fault's,
     * not the ThreadList's (which is inside the exception filter). */
    const dx_thread *t = dx_dump_default_thread(f->d);
    assert_non_null(t);
    assert_int_equal(t->tid, tid);
    const dx_context *c = dx_dump_thread_context(f->d, t);
    assert_ptr_equal(c, &x->context);
    assert_int_equal(c->rip, need_u64(m, "exception.context.rip"));
    assert_true(t->has_context);
    assert_int_not_equal(t->context.rip, c->rip);
    const dx_thread *other = dx_dump_find_thread(f->d, (uint32_t)need_u64(m, "process.worker_thread.tid"));
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
    char path[256];
    snprintf(path, sizeof path, "public/%s", name);
    dx_dump *d = NULL;
    if (dx_dump_open(fixture_source_path(path), &d, err, DX_ERRLEN) != 0)
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

/* The manifest getters this file relies on: dotted paths through objects and
 * arrays, and numbers given as literals or as C-syntax strings. */
static void test_manifest_getters(void **state)
{
    (void)state;
    char err[128] = "";
    mj *j = mj_parse("{\"a\": {\"b.c\": 1, \"l\": [1, {\"c\": \"x,}\"}, [2, \"0x3\"]]}, \"e\": \"0x10\", "
                     "\"d\": \"-7\", \"f\": true}",
                     err, sizeof err);
    assert_non_null(j);
    assert_int_equal(mj_path_u64(j, "e"), 16);
    assert_int_equal(mj_path_u64(j, "a.l.0"), 1);
    assert_int_equal(mj_path_u64(j, "a.l.2.1"), 3);
    assert_string_equal(mj_str(mj_path(j, "a.l.1.c")), "x,}");
    assert_int_equal(mj_path_u64(mj_get(j, "a"), "b.c"), 0); /* keys with dots need mj_get */
    assert_int_equal(need(mj_get(mj_get(j, "a"), "b.c"), "b.c"), 1);
    uint64_t u;
    int64_t i;
    assert_false(mj_u64(mj_get(j, "d"), &u));
    assert_true(mj_i64(mj_get(j, "d"), &i));
    assert_int_equal(i, -7);
    assert_false(mj_u64(mj_get(j, "f"), &u));
    assert_null(mj_path(j, "a.zz"));
    assert_null(mj_path(j, "a.l.3"));
    assert_string_equal(mj_key_at(j, 1), "e");
    assert_int_equal(mj_len(j), 4);
    mj_free(j);
    assert_null(mj_parse("{\"a\": 1,}", err, sizeof err));
    assert_non_null(strstr(err, "line 1"));
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
        cmocka_unit_test(test_manifest_getters),
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
