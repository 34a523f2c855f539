/* Round trips: every stream the reader knows, written by mdwriter from the
 * Microsoft layouts and read back field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "describe.h"
#include "dump.h"
#include "mdwriter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dx_dump *open_ok(mdw *w)
{
    dx_dump *d = NULL;
    char err[DX_ERRLEN] = "";
    int rc = mdw_open(w, &d, err, sizeof err);
    mdw_free(w);
    if (rc != 0)
        fail_msg("dx_dump_open failed: %s", err);
    return d;
}

/* A context with every field distinct. */
static dx_context sample_context(uint64_t seed, uint32_t flags)
{
    dx_context c = {.flags = flags};
    uint64_t *gpr[] = {&c.rax, &c.rcx, &c.rdx, &c.rbx, &c.rsp, &c.rbp, &c.rsi, &c.rdi, &c.r8,  &c.r9,
                       &c.r10, &c.r11, &c.r12, &c.r13, &c.r14, &c.r15, &c.rip, &c.dr0, &c.dr1, &c.dr2,
                       &c.dr3, &c.dr6, &c.dr7};
    for (size_t i = 0; i < sizeof gpr / sizeof gpr[0]; i++)
        *gpr[i] = seed * 0x0101010101010101ull + 0x1111111100000000ull * (i + 1) + i;
    c.eflags = 0x10246;
    c.mxcsr = 0x1f80;
    c.cs = 0x33, c.ds = 0x2b, c.es = 0x2b, c.fs = 0x53, c.gs = 0x2b, c.ss = 0x2b;
    c.fcw = 0x27f, c.fsw = 0x3800, c.fop = 0x1234, c.ftw = 0x81;
    c.fioff = 0xdeadbee0, c.fooff = 0xfeedf00d, c.fiseg = 0x23, c.foseg = 0x2b;
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 10; k++)
            c.st[i][k] = (uint8_t)(seed + 10 * i + k);
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 16; k++)
            c.xmm[i][k] = (uint8_t)(seed * 7 + 16 * i + k + 0x80);
    return c;
}

static void assert_context_equal(const dx_context *a, const dx_context *b, bool fp)
{
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->rax, b->rax);
    assert_int_equal(a->rcx, b->rcx);
    assert_int_equal(a->rdx, b->rdx);
    assert_int_equal(a->rbx, b->rbx);
    assert_int_equal(a->rsp, b->rsp);
    assert_int_equal(a->rbp, b->rbp);
    assert_int_equal(a->rsi, b->rsi);
    assert_int_equal(a->rdi, b->rdi);
    assert_int_equal(a->r8, b->r8);
    assert_int_equal(a->r9, b->r9);
    assert_int_equal(a->r10, b->r10);
    assert_int_equal(a->r11, b->r11);
    assert_int_equal(a->r12, b->r12);
    assert_int_equal(a->r13, b->r13);
    assert_int_equal(a->r14, b->r14);
    assert_int_equal(a->r15, b->r15);
    assert_int_equal(a->rip, b->rip);
    assert_int_equal(a->eflags, b->eflags);
    assert_int_equal(a->mxcsr, b->mxcsr);
    assert_int_equal(a->cs, b->cs);
    assert_int_equal(a->ds, b->ds);
    assert_int_equal(a->es, b->es);
    assert_int_equal(a->fs, b->fs);
    assert_int_equal(a->gs, b->gs);
    assert_int_equal(a->ss, b->ss);
    assert_int_equal(a->dr0, b->dr0);
    assert_int_equal(a->dr1, b->dr1);
    assert_int_equal(a->dr2, b->dr2);
    assert_int_equal(a->dr3, b->dr3);
    assert_int_equal(a->dr6, b->dr6);
    assert_int_equal(a->dr7, b->dr7);
    if (!fp)
        return;
    assert_int_equal(a->fcw, b->fcw);
    assert_int_equal(a->fsw, b->fsw);
    assert_int_equal(a->ftw, b->ftw);
    assert_int_equal(a->fop, b->fop);
    assert_int_equal(a->fioff, b->fioff);
    assert_int_equal(a->fooff, b->fooff);
    assert_int_equal(a->fiseg, b->fiseg);
    assert_int_equal(a->foseg, b->foseg);
    assert_memory_equal(a->st, b->st, sizeof a->st);
    assert_memory_equal(a->xmm, b->xmm, sizeof a->xmm);
}

static void test_sysinfo(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_sysinfo si = {.arch = MD_ARCH_AMD64, .level = 6, .revision = 0x5504, .ncpus = 16, .product_type = 3,
                      .major = 6, .minor = 1, .build = 7601, .platform = 2, .csd_version = "Service Pack 1"};
    mdw_system_info(w, &si);
    dx_dump *d = open_ok(w);
    const dx_sysinfo *s = dx_dump_sysinfo(d);
    assert_int_equal(s->arch, 9);
    assert_int_equal(s->level, 6);
    assert_int_equal(s->revision, 0x5504);
    assert_int_equal(s->ncpus, 16);
    assert_int_equal(s->product_type, 3);
    assert_int_equal(s->major, 6);
    assert_int_equal(s->minor, 1);
    assert_int_equal(s->build, 7601);
    assert_int_equal(s->platform, 2);
    assert_string_equal(s->csd_version, "Service Pack 1");
    dx_dump_close(d);

    w = mdw_new();
    si.csd_version = "";
    mdw_system_info(w, &si);
    d = open_ok(w);
    assert_null(dx_dump_sysinfo(d)->csd_version);
    dx_dump_close(d);

    w = mdw_new();
    si.csd_version = NULL; /* RVA 0: the header's bytes are no string */
    mdw_system_info(w, &si);
    d = open_ok(w);
    assert_null(dx_dump_sysinfo(d)->csd_version);
    dx_dump_close(d);
}

static void test_header(void **state)
{
    (void)state;
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_TIMESTAMP, 0x65432100);
    size_t size = mdw_size(w);
    char path[4096];
    mdw_write_temp(w, NULL, path, sizeof path);
    mdw_free(w);
    dx_dump *d;
    char err[DX_ERRLEN];
    assert_int_equal(dx_dump_open(path, &d, err, sizeof err), 0);
    assert_string_equal(dx_dump_path(d), path);
    assert_int_equal(dx_dump_file_size(d), size);
    assert_int_equal(dx_dump_timestamp(d), 0x65432100);
    uint32_t pid = 0;
    assert_true(dx_dump_pid(d, &pid));
    assert_int_equal(pid, 4242);
    assert_null(dx_dump_comment(d));
    dx_dump_close(d);
    remove(path);
}

static void test_threads(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context c1 = sample_context(1, 0x10001f), c2 = sample_context(2, 0x10000b), c3 = sample_context(3, 0x100003);
    uint8_t stack[0x40];
    for (size_t i = 0; i < sizeof stack; i++)
        stack[i] = (uint8_t)i;
    mdw_thread t[] = {
        {.tid = 100, .suspend_count = 1, .priority_class = 0x20, .priority = 2, .teb = 0x7ffde000,
         .stack_start = 0x9ff000, .stack_size = sizeof stack, .stack = stack, .context = &c1},
        {.tid = 200, .teb = 0x7ffdc000, .context = &c2, .context_size = 0x1a0}, /* no FltSave */
        {.tid = 300, .teb = 0x7ffda000, .context = &c3, .context_size = 0x800}, /* bigger: XSTATE after */
        {.tid = 400, .teb = 0x7ffd8000},                                        /* no context */
        {.tid = 500, .context = &c1, .context_size = 0x300}, /* just through FltSave */
        {.tid = 600, .context = &c1, .context_size = 0x2ff}, /* one byte short of it */
    };
    mdw_thread_list(w, t, 6);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 6);
    const dx_thread *a = dx_dump_thread(d, 0);
    assert_int_equal(a->tid, 100);
    assert_int_equal(a->suspend_count, 1);
    assert_int_equal(a->priority_class, 0x20);
    assert_int_equal(a->priority, 2);
    assert_int_equal(a->teb, 0x7ffde000);
    assert_int_equal(a->stack_start, 0x9ff000);
    assert_int_equal(a->stack_size, sizeof stack);
    assert_true(a->has_context);
    assert_context_equal(&a->context, &c1, true);
    assert_null(a->name);
    assert_false(a->has_info);

    const dx_thread *b = dx_dump_thread(d, 1);
    assert_true(b->has_context);
    dx_context c2_nofp = c2;
    assert_context_equal(&b->context, &c2_nofp, false);
    assert_int_equal(b->context.xmm[0][0], 0); /* FltSave not in a 0x1a0-byte record */
    assert_int_equal(b->context.fcw, 0);

    assert_true(dx_dump_thread(d, 2)->has_context);
    assert_context_equal(&dx_dump_thread(d, 2)->context, &c3, true);
    assert_false(dx_dump_thread(d, 3)->has_context);
    assert_null(dx_dump_thread_context(d, dx_dump_thread(d, 3)));

    assert_context_equal(&dx_dump_thread(d, 4)->context, &c1, true);
    assert_context_equal(&dx_dump_thread(d, 5)->context, &c1, false);
    assert_int_equal(dx_dump_thread(d, 5)->context.fcw, 0);

    assert_ptr_equal(dx_dump_find_thread(d, 300), dx_dump_thread(d, 2));
    assert_null(dx_dump_find_thread(d, 301));
    assert_null(dx_dump_thread(d, 6));
    /* No exception: the default thread is the first, with its own context. */
    assert_ptr_equal(dx_dump_default_thread(d), a);
    assert_ptr_equal(dx_dump_thread_context(d, a), &a->context);
    dx_dump_close(d);
}

static void test_thread_names_and_info(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    /* The annotation streams may come before the ThreadList. */
    mdw_thread_name names[] = {{1, "main"}, {2, "w\xc3\xb6rker \xe2\x9c\x93 \xf0\x9f\x98\x80"}, {3, ""}, {77, "ghost"}};
    mdw_thread_names(w, names, 4);
    mdw_thread_info info[] = {
        {.tid = 2, .create_time = 0x01d9000000000000, .start_address = 0x140001234},
        {.tid = 88, .start_address = 1},
    };
    mdw_thread_info_list(w, info, 2);
    mdw_thread t[] = {{.tid = 1}, {.tid = 2}, {.tid = 3}};
    mdw_thread_list(w, t, 3);
    dx_dump *d = open_ok(w);
    assert_string_equal(dx_dump_thread(d, 0)->name, "main");
    assert_string_equal(dx_dump_thread(d, 1)->name, "w\xc3\xb6rker \xe2\x9c\x93 \xf0\x9f\x98\x80");
    assert_null(dx_dump_thread(d, 2)->name); /* empty name: none */
    assert_false(dx_dump_thread(d, 0)->has_info);
    assert_true(dx_dump_thread(d, 1)->has_info);
    assert_int_equal(dx_dump_thread(d, 1)->create_time, 0x01d9000000000000);
    assert_int_equal(dx_dump_thread(d, 1)->start_address, 0x140001234);
    dx_dump_close(d);
}

static void test_modules(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    /* An unpaired high surrogate followed by 'x', and a lone low one. */
    const uint16_t bad[] = {'C', ':', '\\', 0xd800, 'x', 0xdc00, '.', 'd', 'l', 'l'};
    uint32_t bad_rva = mdw_string16(w, bad, sizeof bad / sizeof bad[0]);
    mdw_module m[] = {
        {.base = 0x140000000, .size = 0x7000, .checksum = 0xabcd, .timestamp = 0x5f5e1000,
         .name = "Z:\\tmp\\t\xc3\xa9st/\xe6\xb5\x8b\xe8\xaf\x95.exe", .pdb = "C:\\b\\t\xc3\xa9st.pdb",
         .pdb_guid = {0x3a, 0x7c, 0x8a, 0x36, 0xa6, 0x63, 0xd9, 0x44, 0xbf, 0x65, 0x9b, 0x2f, 0x47, 0x99, 0xa1, 0xc2},
         .pdb_age = 3},
        {.base = 0x7ff800000000, .size = 0x1000, .name = "C:\\Windows\\System32\\KERNEL32.DLL"},
        {.base = 0x7ff810000000, .size = 0x1000, .name = "C:\\Windows\\System32\\kernel.appcore.dll"},
        {.base = 0x7ff820000000, .size = 0x1000, .name = "ntdll.dll"},
        {.base = 0x7ff830000000, .size = 0x1000, .name = "emoji\xf0\x9f\x98\x80.dll"},
        {.base = 0x7ff840000000, .size = 0x1000, .name = "bad"},
    };
    size_t ml = mdw_module_list(w, m, 6);
    mdw_unloaded u[] = {{.base = 0x180000000, .size = 0x2000, .timestamp = 77, .name = "C:\\gone.dll"}};
    mdw_unloaded_list(w, u, 1);
    mdw_set_u32(w, mdw_stream_rva(w, ml) + 4 + 5 * 108 + 20, bad_rva);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_module_count(d), 6);
    const dx_module *a = dx_dump_module(d, 0);
    assert_int_equal(a->base, 0x140000000);
    assert_int_equal(a->size, 0x7000);
    assert_int_equal(a->checksum, 0xabcd);
    assert_int_equal(a->timestamp, 0x5f5e1000);
    assert_string_equal(a->path, "Z:\\tmp\\t\xc3\xa9st/\xe6\xb5\x8b\xe8\xaf\x95.exe");
    assert_string_equal(a->basename, "\xe6\xb5\x8b\xe8\xaf\x95.exe");
    assert_string_equal(a->pdb, "C:\\b\\t\xc3\xa9st.pdb");
    assert_memory_equal(a->pdb_guid, m[0].pdb_guid, 16);
    assert_int_equal(a->pdb_age, 3);
    assert_string_equal(dx_dump_module(d, 1)->basename, "KERNEL32.DLL");
    assert_null(dx_dump_module(d, 1)->pdb);
    assert_string_equal(dx_dump_module(d, 3)->basename, "ntdll.dll");
    assert_string_equal(dx_dump_module(d, 4)->basename, "emoji\xf0\x9f\x98\x80.dll");
    assert_string_equal(dx_dump_module(d, 5)->path, "C:\\\xef\xbf\xbdx\xef\xbf\xbd.dll");
    assert_null(dx_dump_module(d, 6));

    /* Name lookups. */
    const dx_module *k32 = dx_dump_module(d, 1);
    assert_ptr_equal(dx_dump_find_module(d, "kernel32"), k32);
    assert_ptr_equal(dx_dump_find_module(d, "KERNEL32"), k32);
    assert_ptr_equal(dx_dump_find_module(d, "kernel32.dll"), k32);
    assert_ptr_equal(dx_dump_find_module(d, "c:\\windows\\system32\\kernel32.dll"), k32);
    assert_ptr_equal(dx_dump_find_module(d, "/x/y/Kernel32.Dll"), k32);
    assert_null(dx_dump_find_module(d, "kernel"));
    assert_null(dx_dump_find_module(d, "kernel32.dl"));
    assert_null(dx_dump_find_module(d, "ernel32"));
    assert_null(dx_dump_find_module(d, "kernel32.dll.mui"));
    assert_ptr_equal(dx_dump_find_module(d, "kernel.appcore"), dx_dump_module(d, 2));
    assert_ptr_equal(dx_dump_find_module(d, "kernel.appcore.dll"), dx_dump_module(d, 2));
    assert_ptr_equal(dx_dump_find_module(d, "ntdll"), dx_dump_module(d, 3));
    assert_ptr_equal(dx_dump_find_module(d, "\xe6\xb5\x8b\xe8\xaf\x95"), a);

    /* Address lookups. */
    assert_ptr_equal(dx_dump_module_at(d, 0x140000000), a);
    assert_ptr_equal(dx_dump_module_at(d, 0x140006fff), a);
    assert_null(dx_dump_module_at(d, 0x140007000));
    assert_null(dx_dump_module_at(d, 0x13fffffff));
    assert_ptr_equal(dx_dump_module_at(d, 0x7ff800000800), k32);

    assert_int_equal(dx_dump_unloaded_count(d), 1);
    assert_int_equal(dx_dump_unloaded(d, 0)->base, 0x180000000);
    assert_int_equal(dx_dump_unloaded(d, 0)->size, 0x2000);
    assert_int_equal(dx_dump_unloaded(d, 0)->timestamp, 77);
    assert_string_equal(dx_dump_unloaded(d, 0)->path, "C:\\gone.dll");
    assert_null(dx_dump_unloaded(d, 1));
    dx_dump_close(d);
}

static void test_exception(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context list_ctx = sample_context(5, 0x10001f), fault_ctx = sample_context(9, 0x10005f);
    mdw_thread t[] = {{.tid = 10, .context = &list_ctx}, {.tid = 20, .context = &list_ctx}};
    mdw_thread_list(w, t, 2);
    mdw_exception x = {.tid = 20, .code = 0xc0000005, .flags = 1, .record = 0x1234, .address = 0x1400017e9,
                       .nparams = 2, .params = {1, 0xdeadbeef}, .context = &fault_ctx};
    mdw_exception_stream(w, &x);
    dx_dump *d = open_ok(w);
    const dx_exception *e = dx_dump_exception(d);
    assert_non_null(e);
    assert_int_equal(e->tid, 20);
    assert_int_equal(e->code, 0xc0000005);
    assert_int_equal(e->flags, 1);
    assert_int_equal(e->record, 0x1234);
    assert_int_equal(e->address, 0x1400017e9);
    assert_int_equal(e->nparams, 2);
    assert_int_equal(e->params[0], 1);
    assert_int_equal(e->params[1], 0xdeadbeef);
    assert_true(e->has_context);
    assert_context_equal(&e->context, &fault_ctx, true);
    /* The exception thread is the default, and its real registers are the
     * Exception stream's; other threads keep their own. */
    const dx_thread *xt = dx_dump_default_thread(d);
    assert_ptr_equal(xt, dx_dump_thread(d, 1));
    assert_ptr_equal(dx_dump_thread_context(d, xt), &e->context);
    assert_int_equal(dx_dump_thread_context(d, xt)->rip, fault_ctx.rip);
    assert_int_equal(xt->context.rip, list_ctx.rip);
    assert_ptr_equal(dx_dump_thread_context(d, dx_dump_thread(d, 0)), &dx_dump_thread(d, 0)->context);
    dx_buf b = {0};
    dx_describe_exception_reason(e, &b);
    assert_string_equal(dx_buf_str(&b), "Access violation writing 0xdeadbeef");
    dx_buf_reset(&b);
    dx_describe_exception(d, &b);
    assert_non_null(strstr(dx_buf_str(&b), "EXCEPTION_ACCESS_VIOLATION (0xc0000005)"));
    assert_non_null(strstr(dx_buf_str(&b), "in thread 0x14"));
    dx_buf_free(&b);
    dx_dump_close(d);
}

static void test_exception_edge_cases(void **state)
{
    (void)state;
    /* NumberParameters beyond EXCEPTION_MAXIMUM_PARAMETERS (15) is clipped;
     * no context; the thread is not in the list, so the default thread is
     * the first. */
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context c = sample_context(1, 0x10001f);
    mdw_thread t[] = {{.tid = 10, .context = &c}};
    mdw_thread_list(w, t, 1);
    mdw_exception x = {.tid = 99, .code = 0xe06d7363, .nparams = 16}; /* one more than fits */
    for (int i = 0; i < 15; i++)
        x.params[i] = 0x100 + (uint64_t)i;
    mdw_exception_stream(w, &x);
    dx_dump *d = open_ok(w);
    const dx_exception *e = dx_dump_exception(d);
    assert_int_equal(e->nparams, 15);
    assert_int_equal(e->params[14], 0x10e);
    assert_false(e->has_context);
    assert_ptr_equal(dx_dump_default_thread(d), dx_dump_thread(d, 0));
    assert_ptr_equal(dx_dump_thread_context(d, dx_dump_thread(d, 0)), &dx_dump_thread(d, 0)->context);
    dx_dump_close(d);

    /* The exception thread without an exception context keeps its own. */
    w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_thread_list(w, t, 1);
    mdw_exception_stream(w, &(mdw_exception){.tid = 10, .code = 0x80000003});
    d = open_ok(w);
    assert_ptr_equal(dx_dump_default_thread(d), dx_dump_thread(d, 0));
    assert_ptr_equal(dx_dump_thread_context(d, dx_dump_thread(d, 0)), &dx_dump_thread(d, 0)->context);
    dx_buf b = {0};
    dx_describe_exception_reason(dx_dump_exception(d), &b);
    assert_string_equal(dx_buf_str(&b), "EXCEPTION_BREAKPOINT");
    dx_dump_close(d);

    dx_exception av = {.code = 0xc0000005, .nparams = 2, .params = {0, 0x10}};
    dx_buf_reset(&b);
    dx_describe_exception_reason(&av, &b);
    assert_string_equal(dx_buf_str(&b), "Access violation reading 0x10");
    av.params[0] = 8;
    dx_buf_reset(&b);
    dx_describe_exception_reason(&av, &b);
    assert_string_equal(dx_buf_str(&b), "Access violation executing 0x10");
    av.nparams = 0;
    dx_buf_reset(&b);
    dx_describe_exception_reason(&av, &b);
    assert_string_equal(dx_buf_str(&b), "EXCEPTION_ACCESS_VIOLATION");
    dx_exception odd = {.code = 0x12345678};
    dx_buf_reset(&b);
    dx_describe_exception_reason(&odd, &b);
    assert_string_equal(dx_buf_str(&b), "Exception 0x12345678");
    dx_buf_free(&b);
}

static void test_memory_info_handles_comment(void **state)
{
    (void)state;
    mdw *w = mdw_sample(NULL);
    dx_region r[] = {
        {.base = 0x10000, .size = 0x10000, .alloc_base = 0x10000, .alloc_protect = 4, .protect = 4,
         .state = DX_MEM_COMMIT, .type = 0x20000},
        {.base = 0x20000, .size = 0xe0000, .state = DX_MEM_FREE, .protect = 1},
        {.base = 0x140000000, .size = 0x1000, .alloc_base = 0x140000000, .alloc_protect = 0x80, .protect = 2,
         .state = DX_MEM_COMMIT, .type = 0x1000000},
    };
    mdw_memory_info_list(w, r, 3);
    mdw_handle h[] = {{4, "File", "\\Device\\HarddiskVolume1\\x.txt"}, {8, "Event", NULL}, {12, NULL, NULL}};
    mdw_handle_data(w, h, 3);
    mdw_comment(w, "written by \"mdwriter\"", false);
    mdw_comment(w, "second comment is ignored", true);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_region_count(d), 3);
    for (size_t i = 0; i < 3; i++) {
        const dx_region *g = dx_dump_region(d, i);
        assert_int_equal(g->base, r[i].base);
        assert_int_equal(g->size, r[i].size);
        assert_int_equal(g->alloc_base, r[i].alloc_base);
        assert_int_equal(g->alloc_protect, r[i].alloc_protect);
        assert_int_equal(g->protect, r[i].protect);
        assert_int_equal(g->state, r[i].state);
        assert_int_equal(g->type, r[i].type);
    }
    assert_null(dx_dump_region(d, 3));
    assert_ptr_equal(dx_dump_region_at(d, 0x1ffff), dx_dump_region(d, 0));
    assert_ptr_equal(dx_dump_region_at(d, 0x20000), dx_dump_region(d, 1));
    assert_ptr_equal(dx_dump_region_at(d, 0x140000fff), dx_dump_region(d, 2));
    assert_null(dx_dump_region_at(d, 0x140001000));
    assert_null(dx_dump_region_at(d, 0xffff));

    assert_int_equal(dx_dump_handle_count(d), 3);
    assert_int_equal(dx_dump_handle(d, 0)->handle, 4);
    assert_string_equal(dx_dump_handle(d, 0)->type_name, "File");
    assert_string_equal(dx_dump_handle(d, 0)->object_name, "\\Device\\HarddiskVolume1\\x.txt");
    assert_string_equal(dx_dump_handle(d, 1)->type_name, "Event");
    assert_null(dx_dump_handle(d, 1)->object_name);
    assert_null(dx_dump_handle(d, 2)->type_name);
    assert_null(dx_dump_handle(d, 3));
    assert_string_equal(dx_dump_comment(d), "written by \"mdwriter\"");
    dx_dump_close(d);

    w = mdw_sample(NULL);
    mdw_comment(w, "w\xc3\xaf" "de", true);
    d = open_ok(w);
    assert_string_equal(dx_dump_comment(d), "w\xc3\xaf" "de");
    dx_dump_close(d);
}

static void test_memory_lists(void **state)
{
    (void)state;
    mdw *w = mdw_sample(NULL);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_range_count(d), 3);
    assert_int_equal(dx_dump_memory_bytes(d), 0x4000);
    uint8_t b[0x10];
    assert_int_equal(dx_dump_read(d, 0x10ff8, b, 16), 8);
    assert_int_equal(b[7], 0xaa);
    assert_int_equal(dx_dump_read(d, 0x31ff0, b, 16), 16);
    assert_int_equal(b[15], 0xcc);
    assert_int_equal(dx_dump_read(d, 0x32000, b, 16), 0);
    dx_dump_close(d);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(dx_exception_name(0xc0000005), "EXCEPTION_ACCESS_VIOLATION");
    assert_string_equal(dx_exception_name(0x80000003), "EXCEPTION_BREAKPOINT");
    assert_string_equal(dx_exception_name(0xc0000094), "EXCEPTION_INT_DIVIDE_BY_ZERO");
    assert_string_equal(dx_exception_name(0xc000000d), "STATUS_INVALID_PARAMETER");
    assert_null(dx_exception_name(0));
    assert_null(dx_exception_name(0x12345678));
    assert_string_equal(dx_arch_name(9), "AMD64");
    assert_non_null(strstr(dx_arch_name(0), "x86"));
    assert_non_null(strstr(dx_arch_name(0), "32-bit"));
    assert_string_equal(dx_arch_name(12), "ARM64");
    assert_non_null(dx_arch_name(0x4242));
}

static void test_describe(void **state)
{
    (void)state;
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_thread_names(w, &(mdw_thread_name){0x20, "worker \"1\"\t\\"}, 1);
    mdw_exception_stream(w, &(mdw_exception){.tid = 0x10, .code = 0xc0000094, .address = 0x140001000});
    mdw_comment(w, "hello", false);
    dx_dump *d = open_ok(w);
    dx_buf b = {0};
    dx_describe_all(d, &b);
    const char *t = dx_buf_str(&b);
    assert_false(b.oom);
    assert_non_null(strstr(t, "System: AMD64, Windows 10.0 build 19041, 4 CPU(s)"));
    assert_non_null(strstr(t, "Process: 4242"));
    assert_non_null(strstr(t, "Comment: hello"));
    assert_non_null(strstr(t, "Modules (2):"));
    assert_non_null(strstr(t, "app.exe"));
    assert_non_null(strstr(t, "pdb: kernel32.pdb {04030201-0605-0807-090A-0B0C0D0E0F10} age 1"));
    assert_non_null(strstr(t, "Threads (2):"));
    assert_non_null(strstr(t, "0x10 "));
    assert_non_null(strstr(t, "exception  app.exe+0x1000"));
    assert_non_null(strstr(t, "worker \"1\""));
    assert_non_null(strstr(t, "EXCEPTION_INT_DIVIDE_BY_ZERO (0xc0000094)"));
    assert_non_null(strstr(t, "Memory: 3 ranges, 16384 bytes captured"));
    assert_non_null(strstr(t, "inspection only"));
    dx_buf_reset(&b);
    dx_describe_json(d, &b);
    t = dx_buf_str(&b);
    assert_int_equal(t[0], '{');
    assert_int_equal(t[strlen(t) - 2], '}');
    assert_non_null(strstr(t, "\"arch\":\"AMD64\""));
    assert_non_null(strstr(t, "\"pid\":4242"));
    assert_non_null(strstr(t, "\"name\":\"KERNEL32.DLL\""));
    assert_non_null(strstr(t, "\"path\":\"C:\\\\Windows\\\\System32\\\\KERNEL32.DLL\""));
    assert_non_null(strstr(t, "\"pdb_guid\":\"04030201-0605-0807-090A-0B0C0D0E0F10\""));
    assert_non_null(strstr(t, "\"tid\":32"));
    assert_non_null(strstr(t, "\"name\":\"worker \\\"1\\\"\\u0009\\\\\""));
    assert_non_null(strstr(t, "\"code\":\"0xc0000094\""));
    assert_non_null(strstr(t, "\"memory\":{\"ranges\":3,\"bytes\":16384,\"regions\":0}"));
    dx_buf_free(&b);
    dx_dump_close(d);
}

/* --write-sample PATH [PDB]: a dump with awkward strings for the CLI's JSON
 * test; PDB (raw bytes) overrides the first module's PDB name. */
static int write_sample(const char *path, const char *pdb)
{
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context c = sample_context(1, 0x10001f);
    c.rip = 0x180000010;
    mdw_thread t[] = {{.tid = 0x10, .teb = 0x1000, .context = &c}, {.tid = 0x20, .teb = 0x3000, .context = &c}};
    mdw_thread_list(w, t, 2);
    mdw_thread_names(w, &(mdw_thread_name){0x20, "q\"b\\s\x01\x1f\x7f \xc3\xa9 \xf0\x9f\x98\x80"}, 1);
    mdw_module m[] = {
        {.base = 0x180000000, .size = 0x1000, .name = "C:\\odd \"dir\"\\\xe6\xb5\x8b.dll",
         .pdb = pdb ? pdb : "odd\\\"name\".pdb"},
        {.base = 0x190000000, .size = 0x1000, .name = "C:\\tab\there\\ctl\x02.dll"},
    };
    mdw_module_list(w, m, 2);
    mdw_exception_stream(w, &(mdw_exception){.tid = 0x20, .code = 0xc0000005, .nparams = 2, .params = {0, 8}});
    mdw_comment(w, "line1\nline2", false);
    mdw_write(w, path);
    mdw_free(w);
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--write-sample"))
        return write_sample(argv[2], argc == 4 ? argv[3] : NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysinfo),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_thread_names_and_info),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_exception),
        cmocka_unit_test(test_exception_edge_cases),
        cmocka_unit_test(test_memory_info_handles_comment),
        cmocka_unit_test(test_memory_lists),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests_name("dump_streams", tests, NULL, NULL);
}
