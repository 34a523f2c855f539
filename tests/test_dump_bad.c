/* dx_dump_open on bad input: every malformed file is refused with -1 and a
 * message naming the problem (and nothing leaks or crashes under ASan);
 * the oddities real writers produce are tolerated.
 *
 * Run with --write-cases DIR to write every bad input to DIR/<name>.dmp and
 * DIR/cases.tsv ("name<TAB>substring<TAB>substring..."), for the CLI test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dump.h"
#include "mdwriter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the bad inputs --------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    void (*make)(const char *path);
    const char *expect[3]; /* substrings the error message must contain */
} bad_case;

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        abort();
    }
}

static void finish(mdw *w, const char *path)
{
    mdw_write(w, path);
    mdw_free(w);
}

static void make_empty(const char *path) { write_bytes(path, "", 0); }
static void make_directory(const char *path) { mkdir(path, 0700); }
static void make_missing(const char *path) { (void)path; }

static void make_bad_magic(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_SIGNATURE, 0x4b50 | 0x0403u << 16); /* "PK\3\4": a zip */
    finish(w, path);
}

static void make_bad_version(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_VERSION, 0x1234);
    finish(w, path);
}

static void make_truncated_header(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_truncate(w, 20);
    finish(w, path);
}

static void make_header_only(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_truncate(w, 32); /* the header promises 6 directory entries at 32 */
    finish(w, path);
}

static void make_dir_past_end(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_DIR_RVA, (uint32_t)mdw_size(w) + 0x100);
    finish(w, path);
}

static void make_dir_rva_wraps(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_DIR_RVA, 0xfffffff8);
    finish(w, path);
}

static void make_dir_count_absurd(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_NSTREAMS, 0xffffffff);
    finish(w, path);
}

static void make_stream_rva_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.threads, MDW_DIR_RVA, (uint32_t)mdw_size(w));
    finish(w, path);
}

static void make_stream_size_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.modules, MDW_DIR_SIZE, 0x7fffffff);
    finish(w, path);
}

static void make_stream_rva_wraps(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.threads, MDW_DIR_RVA, 0xfffffff0);
    mdw_set_dir(w, s.threads, MDW_DIR_SIZE, 0x20); /* rva + size wraps 32 bits */
    finish(w, path);
}

static void make_truncated_file(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_truncate(w, mdw_stream_rva(w, s.misc) + mdw_stream_size(w, s.misc) - 1);
    finish(w, path);
}

static void make_sysinfo_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.sysinfo, MDW_DIR_RVA, (uint32_t)mdw_size(w) - 8);
    finish(w, path);
}

static void make_sysinfo_too_small(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.sysinfo, MDW_DIR_SIZE, 8);
    finish(w, path);
}

static void make_no_sysinfo(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.sysinfo, MDW_DIR_TYPE, MD_UNUSED);
    finish(w, path);
}

static void make_arch(const char *path, uint16_t arch)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_u16(w, mdw_stream_rva(w, s.sysinfo), arch);
    finish(w, path);
}
static void make_arch_x86(const char *path) { make_arch(path, MD_ARCH_X86); }
static void make_arch_arm64(const char *path) { make_arch(path, MD_ARCH_ARM64); }
static void make_arch_unknown(const char *path) { make_arch(path, 0xffff); }
static void make_arch_unrecognised(const char *path) { make_arch(path, 0x4242); }

/* Set the 32-bit count at the start of stream idx. */
static void make_count(const char *path, size_t which, uint32_t count)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    size_t idx = which == 0 ? s.threads : which == 1 ? s.modules : s.memory;
    mdw_set_u32(w, mdw_stream_rva(w, idx), count);
    finish(w, path);
}
static void make_threads_absurd(const char *path) { make_count(path, 0, 0xffffffff); }
static void make_threads_one_too_many(const char *path) { make_count(path, 0, 3); }
static void make_modules_absurd(const char *path) { make_count(path, 1, 0xffffffff); }
static void make_memory_absurd(const char *path) { make_count(path, 2, 0xffffffff); }

static void make_threads_too_small(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.threads, MDW_DIR_SIZE, 2);
    finish(w, path);
}

static void make_memory64_absurd(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_u64(w, mdw_stream_rva(w, s.memory64), 0xffffffffffffffff);
    finish(w, path);
}

static void make_memory64_too_small(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_dir(w, s.memory64, MDW_DIR_SIZE, 12);
    finish(w, path);
}

static void make_memory_data_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    /* range 1's bytes start 0x800 before the end of the file: 0x1000 long */
    mdw_set_u32(w, mdw_memory_desc_rva(w, s.memory, 1) + 12, (uint32_t)mdw_size(w) - 0x800);
    finish(w, path);
}

static void make_memory_size_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_u32(w, mdw_memory_desc_rva(w, s.memory, 0) + 8, 0xffffffff);
    finish(w, path);
}

static void make_memory64_data_past_end(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_u64(w, mdw_memory_desc_rva(w, s.memory64, 0) + 8, 0x100000000000);
    finish(w, path);
}

static void make_memory64_base_rva_huge(const char *path)
{
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_set_u64(w, mdw_stream_rva(w, s.memory64) + 8, 0xffffffffffffff00);
    finish(w, path);
}

static void make_memory64_size_wraps(const char *path)
{
    /* Two ranges whose sizes add up past 2^64: the running RVA must not wrap
     * back into the file. */
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_mem r[2] = {{.base = 0x10000, .size = 0x100, .fill = 1}, {.base = 0x20000, .size = 0x100, .fill = 2}};
    size_t m = mdw_memory64_list(w, r, 2);
    mdw_set_u64(w, mdw_memory_desc_rva(w, m, 0) + 8, 0xffffffffffffff00);
    finish(w, path);
}

static void make_exception_too_small(const char *path)
{
    mdw *w = mdw_sample(NULL);
    uint8_t b[100] = {0};
    mdw_stream(w, MD_EXCEPTION, b, sizeof b);
    finish(w, path);
}

static void make_meminfo_absurd(const char *path)
{
    mdw *w = mdw_sample(NULL);
    dx_region r = {.base = 0x10000, .size = 0x1000, .state = DX_MEM_COMMIT, .protect = 4};
    size_t i = mdw_memory_info_list(w, &r, 1);
    mdw_set_u64(w, mdw_stream_rva(w, i) + 8, 0xffffffff);
    finish(w, path);
}

static void make_handles_absurd(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_handle h = {.handle = 4, .type_name = "File"};
    size_t i = mdw_handle_data(w, &h, 1);
    mdw_set_u32(w, mdw_stream_rva(w, i) + 8, 0xffffffff);
    finish(w, path);
}

static void make_unloaded_absurd(const char *path)
{
    mdw *w = mdw_sample(NULL);
    mdw_unloaded u = {.base = 0x180000000, .size = 0x1000, .name = "gone.dll"};
    size_t i = mdw_unloaded_list(w, &u, 1);
    mdw_set_u32(w, mdw_stream_rva(w, i) + 8, 0xffffffff);
    finish(w, path);
}

static const bad_case bad_cases[] = {
    {"empty", make_empty, {"too small", "0 bytes"}},
    {"directory", make_directory, {"not a regular file"}},
    {"missing", make_missing, {"No such file"}},
    {"bad_magic", make_bad_magic, {"not a minidump", "signature"}},
    {"bad_version", make_bad_version, {"unsupported minidump version", "0x1234"}},
    {"truncated_header", make_truncated_header, {"too small", "20 bytes"}},
    {"header_only", make_header_only, {"stream directory", "past the end"}},
    {"dir_past_end", make_dir_past_end, {"stream directory", "past the end"}},
    {"dir_rva_wraps", make_dir_rva_wraps, {"stream directory", "past the end"}},
    {"dir_count_absurd", make_dir_count_absurd, {"stream directory", "4294967295", "past the end"}},
    {"stream_rva_past_end", make_stream_rva_past_end, {"type 3", "past the end"}},
    {"stream_size_past_end", make_stream_size_past_end, {"type 4", "past the end"}},
    {"stream_rva_wraps", make_stream_rva_wraps, {"type 3", "past the end"}},
    {"truncated_file", make_truncated_file, {"type 15", "past the end"}},
    {"sysinfo_past_end", make_sysinfo_past_end, {"SystemInfo", "past the end"}},
    {"sysinfo_too_small", make_sysinfo_too_small, {"SystemInfo", "too small"}},
    {"no_sysinfo", make_no_sysinfo, {"no SystemInfo"}},
    {"arch_x86", make_arch_x86, {"x86", "32-bit", "AMD64"}},
    {"arch_arm64", make_arch_arm64, {"unsupported processor architecture", "ARM64"}},
    {"arch_unknown", make_arch_unknown, {"unsupported processor architecture", "unknown"}},
    {"arch_unrecognised", make_arch_unrecognised, {"unsupported processor architecture"}},
    {"threads_absurd", make_threads_absurd, {"ThreadList", "4294967295 threads"}},
    {"threads_one_too_many", make_threads_one_too_many, {"ThreadList", "3 threads"}},
    {"threads_too_small", make_threads_too_small, {"ThreadList", "too small"}},
    {"modules_absurd", make_modules_absurd, {"ModuleList", "4294967295 modules"}},
    {"memory_absurd", make_memory_absurd, {"MemoryList", "4294967295 ranges"}},
    {"memory64_absurd", make_memory64_absurd, {"Memory64List", "18446744073709551615 ranges"}},
    {"memory64_too_small", make_memory64_too_small, {"Memory64List", "too small"}},
    {"memory_data_past_end", make_memory_data_past_end, {"MemoryList range 1", "0x20000", "past the end"}},
    {"memory_size_past_end", make_memory_size_past_end, {"MemoryList range 0", "0x10000", "past the end"}},
    {"memory64_data_past_end", make_memory64_data_past_end, {"Memory64List range 0", "0x30000", "past the end"}},
    {"memory64_base_rva_huge", make_memory64_base_rva_huge, {"Memory64List range 0", "past the end"}},
    {"memory64_size_wraps", make_memory64_size_wraps, {"Memory64List range", "past the end"}},
    {"exception_too_small", make_exception_too_small, {"Exception", "too small"}},
    {"meminfo_absurd", make_meminfo_absurd, {"MemoryInfoList", "4294967295 entries"}},
    {"handles_absurd", make_handles_absurd, {"HandleData", "4294967295 handles"}},
    {"unloaded_absurd", make_unloaded_absurd, {"UnloadedModuleList", "4294967295 entries"}},
};
#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

static char tmpdir[4096];

static void case_path(const bad_case *c, const char *dir, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.dmp", dir, c->name);
}

static void assert_mentions(const char *err, const char *const *expect, size_t n)
{
    for (size_t i = 0; i < n && expect[i]; i++)
        if (!strstr(err, expect[i]))
            fail_msg("error message \"%s\" does not mention \"%s\"", err, expect[i]);
}

static void test_bad_case(void **state)
{
    const bad_case *c = *state;
    char path[4200], err[DX_ERRLEN];
    case_path(c, tmpdir, path, sizeof path);
    c->make(path);
    dx_dump *d = (dx_dump *)0x1;
    memset(err, 0, sizeof err);
    int rc = dx_dump_open(path, &d, err, sizeof err);
    if (rc == 0)
        dx_dump_close(d);
    remove(path);
    assert_int_equal(rc, -1);
    assert_null(d);
    assert_non_null(memchr(err, 0, sizeof err));
    assert_null(strchr(err, '\n')); /* one line */
    assert_mentions(err, c->expect, 3);
}

/* The message lands in err, truncated to errlen, and never overflows it. */
static void test_error_buffer_small(void **state)
{
    (void)state;
    char path[4200];
    case_path(&bad_cases[0], tmpdir, path, sizeof path);
    make_bad_version(path);
    char err[9];
    memset(err, 'x', sizeof err);
    dx_dump *d;
    assert_int_equal(dx_dump_open(path, &d, err, 8), -1);
    assert_int_equal(err[7], 0);
    assert_int_equal(err[8], 'x');
    assert_int_equal(dx_dump_open(path, &d, NULL, 0), -1); /* no buffer at all */
    assert_null(d);
    remove(path);
}

/* Regression: open() on a FIFO blocks until a writer appears, before the
 * "not a regular file" check. Runs in a child with a 5 s alarm. */
static void test_fifo(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/fifo.dmp", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        dx_dump *d;
        char err[DX_ERRLEN] = "";
        int rc = dx_dump_open(path, &d, err, sizeof err);
        _exit(rc == -1 && strstr(err, "not a regular file") ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    remove(path);
    if (WIFSIGNALED(status))
        fail_msg("dx_dump_open on a FIFO hung (killed by signal %d)", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- tolerated oddities ------------------------------------------------ */

static dx_dump *open_ok(mdw *w)
{
    dx_dump *d = NULL;
    char err[DX_ERRLEN] = "";
    int rc = mdw_open(w, &d, err, sizeof err);
    mdw_free(w);
    if (rc != 0)
        fail_msg("dx_dump_open failed: %s", err);
    assert_non_null(d);
    return d;
}

static void test_unused_entries(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_unused(w);
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_unused(w);
    mdw_thread t = {.tid = 7};
    mdw_thread_list(w, &t, 1);
    mdw_unused(w);
    mdw_unused(w);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 1);
    assert_int_equal(dx_dump_thread(d, 0)->tid, 7);
    assert_int_equal(dx_dump_sysinfo(d)->arch, MD_ARCH_AMD64);
    dx_dump_close(d);
}

static void test_vendor_streams(void **state)
{
    (void)state;
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    /* Breakpad's MDRawBreakpadInfo: validity, dump thread, requesting thread. */
    const uint8_t bp[12] = {3, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0};
    mdw_stream(w, MD_BREAKPAD_INFO, bp, sizeof bp);
    mdw_stream(w, 0x47670002, "garbage", 7);
    mdw_stream(w, MD_WINE_PRIVATE, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    mdw_stream(w, 0xffff, NULL, 0);      /* LastReservedStream */
    mdw_stream(w, 0x12345678, NULL, 64); /* unknown */
    mdw_stream(w, 21, NULL, 3);          /* SystemMemoryInfo, truncated: not parsed */
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 2);
    assert_int_equal(dx_dump_module_count(d), 2);
    assert_int_equal(dx_dump_range_count(d), 3);
    dx_dump_close(d);
}

/* A stream the reader skips cannot spoil a dump, even when its directory
 * entry points past the end of the file; a parsed one still does. */
static void test_unknown_stream_past_end(void **state)
{
    (void)state;
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_dir_entry(w, 0x12345678, 0x1000, 0x7fffff00);
    mdw_dir_entry(w, 0, 0x10, 0x7fffff00); /* Unused */
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 2);
    dx_dump_close(d);
}

static void test_version_high_word_and_flags(void **state)
{
    (void)state;
    mdw *w = mdw_sample(NULL);
    mdw_set_u32(w, MDW_HDR_VERSION, 0x6380a793); /* dbghelp's implementation word */
    mdw_set_u32(w, MDW_HDR_CHECKSUM, 0xdeadbeef);
    mdw_set_u64(w, MDW_HDR_FLAGS, 0x1234567);
    mdw_set_u32(w, MDW_HDR_TIMESTAMP, 0x12345678);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_timestamp(d), 0x12345678);
    dx_dump_close(d);
}

static void test_duplicate_streams_first_wins(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_thread t1[2] = {{.tid = 1}, {.tid = 2}}, t2 = {.tid = 99};
    mdw_thread_list(w, t1, 2);
    mdw_module m1 = {.base = 0x10000000, .size = 0x1000, .name = "first.dll"};
    mdw_module m2 = {.base = 0x20000000, .size = 0x1000, .name = "second.dll"};
    mdw_module_list(w, &m1, 1);
    mdw_exception_stream(w, &(mdw_exception){.tid = 1, .code = 0xc0000005});
    mdw_system_info_arch(w, MD_ARCH_X86); /* a second SystemInfo does not count */
    mdw_thread_list(w, &t2, 1);
    mdw_module_list(w, &m2, 1);
    mdw_exception_stream(w, &(mdw_exception){.tid = 2, .code = 0x80000003});
    size_t bad = mdw_thread_list(w, &t2, 1);
    mdw_set_u32(w, mdw_stream_rva(w, bad), 0xffffffff); /* a corrupt later copy is ignored too */
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_sysinfo(d)->arch, MD_ARCH_AMD64);
    assert_int_equal(dx_dump_thread_count(d), 2);
    assert_int_equal(dx_dump_thread(d, 0)->tid, 1);
    assert_int_equal(dx_dump_thread(d, 1)->tid, 2);
    assert_int_equal(dx_dump_module_count(d), 1);
    assert_string_equal(dx_dump_module(d, 0)->basename, "first.dll");
    assert_int_equal(dx_dump_exception(d)->tid, 1);
    assert_int_equal(dx_dump_exception(d)->code, 0xc0000005);
    dx_dump_close(d);
}

static void test_empty_dump(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 0);
    assert_int_equal(dx_dump_module_count(d), 0);
    assert_int_equal(dx_dump_range_count(d), 0);
    assert_int_equal(dx_dump_memory_bytes(d), 0);
    assert_null(dx_dump_default_thread(d));
    assert_null(dx_dump_exception(d));
    assert_null(dx_dump_range_at(d, 0));
    assert_null(dx_dump_range_after(d, 0));
    uint8_t b[4];
    assert_int_equal(dx_dump_read(d, 0x1000, b, 4), 0);
    uint32_t pid;
    assert_false(dx_dump_pid(d, &pid));
    dx_dump_close(d);
}

static void test_empty_lists(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_thread_list(w, NULL, 0);
    mdw_module_list(w, NULL, 0);
    mdw_memory_list(w, NULL, 0);
    mdw_memory64_list(w, NULL, 0);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 0);
    assert_int_equal(dx_dump_module_count(d), 0);
    assert_int_equal(dx_dump_range_count(d), 0);
    dx_dump_close(d);
}

/* Dangling references inside otherwise valid streams lose only that item. */
static void test_dangling_references(void **state)
{
    (void)state;
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    mdw_thread_name tn[2] = {{0x10, "main"}, {0x999, "no such thread"}};
    size_t names = mdw_thread_names(w, tn, 2);
    uint32_t threads = mdw_stream_rva(w, s.threads), modules = mdw_stream_rva(w, s.modules);
    uint32_t size = (uint32_t)mdw_size(w);
    mdw_set_u32(w, threads + 4 + 40, 0x100);          /* thread 0: context too small */
    mdw_set_u32(w, threads + 4 + 48 + 44, size - 16); /* thread 1: context past the end */
    mdw_set_u32(w, modules + 4 + 20, size + 8);       /* module 0: name past the end */
    mdw_set_u32(w, modules + 4 + 108 + 80, size - 4); /* module 1: CodeView past the end */
    mdw_set_u64(w, mdw_stream_rva(w, names) + 8, 0x100000000ull); /* name RVA64 beyond 4 GiB */
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_thread_count(d), 2);
    assert_false(dx_dump_thread(d, 0)->has_context);
    assert_false(dx_dump_thread(d, 1)->has_context);
    assert_null(dx_dump_thread_context(d, dx_dump_thread(d, 0)));
    assert_null(dx_dump_thread(d, 0)->name);
    assert_int_equal(dx_dump_module_count(d), 2);
    assert_string_equal(dx_dump_module(d, 0)->path, "");
    assert_string_equal(dx_dump_module(d, 0)->basename, "");
    assert_null(dx_dump_module(d, 1)->pdb);
    assert_string_equal(dx_dump_module(d, 1)->basename, "KERNEL32.DLL");
    dx_dump_close(d);
}

static void test_codeview_not_rsds(void **state)
{
    (void)state;
    mdw_sample_streams s;
    mdw *w = mdw_sample(&s);
    uint32_t cv = mdw_get_u32(w, mdw_stream_rva(w, s.modules) + 4 + 108 + 80);
    mdw_set_u32(w, cv, 0x3031424e); /* "NB10": the old PDB 2.0 format */
    dx_dump *d = open_ok(w);
    assert_null(dx_dump_module(d, 1)->pdb);
    dx_dump_close(d);
}

static void test_annotations_garbage(void **state)
{
    (void)state;
    mdw *w = mdw_sample(NULL);
    size_t names = mdw_thread_names(w, &(mdw_thread_name){0x10, "main"}, 1);
    size_t info = mdw_thread_info_list(w, &(mdw_thread_info){.tid = 0x10, .start_address = 0x1234}, 1);
    mdw_set_u32(w, mdw_stream_rva(w, names), 0xffffffff); /* absurd name count */
    mdw_set_u32(w, mdw_stream_rva(w, info) + 8, 0xffffffff);
    dx_dump *d = open_ok(w);
    assert_null(dx_dump_thread(d, 0)->name);
    assert_false(dx_dump_thread(d, 0)->has_info);
    dx_dump_close(d);
}

/* List counts padded to 8 bytes (some writers align the array). */
static void test_padded_list_count(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    uint8_t b[8 + 16] = {1};
    uint32_t data = mdw_blob(w, "\x11\x22\x33\x44", 4);
    b[8 + 0] = 0x00, b[8 + 1] = 0x10; /* base 0x1000 */
    b[8 + 8] = 4;                     /* DataSize */
    b[8 + 12] = (uint8_t)data, b[8 + 13] = (uint8_t)(data >> 8);
    mdw_stream(w, MD_MEMORY_LIST, b, sizeof b);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_range_count(d), 1);
    uint32_t v = 0;
    assert_int_equal(dx_dump_read(d, 0x1000, &v, 4), 4);
    assert_int_equal(v, 0x44332211);
    dx_dump_close(d);
}

/* ---- the memory index under overlapping ranges ------------------------- */

static void test_overlapping_ranges(void **state)
{
    (void)state;
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    /* B overlaps A's last 0x800 bytes: its first half is 'B', which A hides,
     * and its second half 'b', which stays (from B's bytes at offset 0x800). */
    uint8_t b_bytes[0x1000];
    memset(b_bytes, 'B', 0x800);
    memset(b_bytes + 0x800, 'b', 0x800);
    /* Deliberately unsorted. */
    mdw_mem list[] = {
        {.base = 0x30080, .size = 0x80, .fill = 'e'},     /* inside E: dropped */
        {.base = 0x20100, .size = 0x100, .fill = 'D'},    /* adjacent to C */
        {.base = 0x10800, .size = 0x1000, .data = b_bytes}, /* overlaps A's tail: clipped */
        {.base = 0x20000, .size = 0x100, .fill = 'C'},
        {.base = 0x10000, .size = 0x1000, .fill = 'A'},
        {.base = 0x20000, .size = 0x100, .fill = 'C'}, /* exact duplicate */
        {.base = 0x30000, .size = 0x200, .fill = 'E'},
        {.base = 0x40000, .size = 0x80, .fill = 'F'}, /* same start as G, shorter: dropped */
        {.base = 0x50000, .size = 0, .fill = 'Z'},    /* empty: dropped */
    };
    mdw_memory_list(w, list, sizeof list / sizeof list[0]);
    mdw_mem list64[] = {
        {.base = 0x40000, .size = 0x100, .fill = 'G'},
        {.base = 0xffffffffffffff00, .size = 0x200, .fill = 'W'}, /* wraps: dropped */
        {.base = 0x10f00, .size = 0x100, .fill = 'a'},            /* inside A: dropped */
    };
    mdw_memory64_list(w, list64, sizeof list64 / sizeof list64[0]);
    dx_dump *d = open_ok(w);

    static const struct {
        uint64_t base, size;
        char fill;
    } want[] = {
        {0x10000, 0x1000, 'A'}, {0x11000, 0x800, 'b'}, {0x20000, 0x100, 'C'},
        {0x20100, 0x100, 'D'},  {0x30000, 0x200, 'E'}, {0x40000, 0x100, 'G'},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(dx_dump_range_count(d), n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const dx_range *r = dx_dump_range(d, i);
        assert_non_null(r);
        assert_int_equal(r->base, want[i].base);
        assert_int_equal(r->size, want[i].size);
        const uint8_t *b = dx_dump_range_bytes(d, r);
        for (uint64_t k = 0; k < r->size; k++)
            if (b[k] != (uint8_t)want[i].fill)
                fail_msg("range %zu byte %llu is '%c', expected '%c'", i, (unsigned long long)k, b[k],
                         want[i].fill);
        if (i)
            assert_true(dx_dump_range(d, i - 1)->base + dx_dump_range(d, i - 1)->size <= r->base);
        total += r->size;
        assert_ptr_equal(dx_dump_range_at(d, r->base), r);
        assert_ptr_equal(dx_dump_range_at(d, r->base + r->size - 1), r);
    }
    assert_null(dx_dump_range(d, n));
    assert_int_equal(dx_dump_memory_bytes(d), total);

    /* Reads across the clipped join and across adjacent ranges. */
    uint8_t buf[0x2000];
    assert_int_equal(dx_dump_read(d, 0x10000, buf, 0x1800), 0x1800);
    for (size_t k = 0; k < 0x1800; k++)
        assert_int_equal(buf[k], k < 0x1000 ? 'A' : 'b');
    assert_int_equal(dx_dump_read(d, 0x20080, buf, 0x100), 0x100);
    assert_int_equal(buf[0], 'C');
    assert_int_equal(buf[0x7f], 'C');
    assert_int_equal(buf[0x80], 'D');
    assert_int_equal(buf[0xff], 'D');
    /* Into a gap: the short count is where the captured bytes end. */
    assert_int_equal(dx_dump_read(d, 0x20180, buf, 0x100), 0x80);
    assert_int_equal(dx_dump_read(d, 0x11000 + 0x700, buf, 0x200), 0x100);
    assert_int_equal(dx_dump_read(d, 0x20200, buf, 16), 0);
    assert_int_equal(dx_dump_read(d, 0xfff0, buf, 0x20), 0);
    assert_int_equal(dx_dump_read(d, 0x20000, buf, 0), 0);
    /* The contained ranges' bytes do not show through. */
    assert_int_equal(dx_dump_read(d, 0x30080, buf, 1), 1);
    assert_int_equal(buf[0], 'E');
    assert_int_equal(dx_dump_read(d, 0x10f00, buf, 1), 1);
    assert_int_equal(buf[0], 'A');
    /* Lookups around the edges. */
    assert_null(dx_dump_range_at(d, 0xffff));
    assert_null(dx_dump_range_at(d, 0x11800));
    assert_null(dx_dump_range_at(d, 0xffffffffffffff80));
    assert_null(dx_dump_range_at(d, UINT64_MAX));
    assert_int_equal(dx_dump_read(d, UINT64_MAX - 7, buf, 16), 0);
    assert_int_equal(dx_dump_range_after(d, 0)->base, 0x10000);
    assert_int_equal(dx_dump_range_after(d, 0x10000)->base, 0x11000);
    assert_int_equal(dx_dump_range_after(d, 0x11800)->base, 0x20000);
    assert_int_equal(dx_dump_range_after(d, 0x3ffff)->base, 0x40000);
    assert_null(dx_dump_range_after(d, 0x40000));
    assert_null(dx_dump_range_after(d, UINT64_MAX));
    dx_dump_close(d);
}

/* Many ranges, shuffled: the index finds every byte with the right value. */
static void test_many_ranges(void **state)
{
    (void)state;
    enum { N = 3000 };
    mdw_mem *r = calloc(N, sizeof *r);
    assert_non_null(r);
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 1237) % N; /* a permutation: 1237 is prime to 3000 */
        r[i] = (mdw_mem){.base = 0x100000 + 0x40 * k, .size = 0x10 + (k % 3) * 0x10, .fill = (uint8_t)k};
    }
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_memory_list(w, r, N / 2);
    mdw_memory64_list(w, r + N / 2, N - N / 2);
    free(r);
    dx_dump *d = open_ok(w);
    assert_int_equal(dx_dump_range_count(d), N);
    for (size_t k = 0; k < N; k++) {
        uint64_t base = 0x100000 + 0x40 * k, size = 0x10 + (k % 3) * 0x10;
        uint8_t b[0x40];
        assert_int_equal(dx_dump_read(d, base, b, sizeof b), size);
        assert_int_equal(b[0], (uint8_t)k);
        assert_int_equal(b[size - 1], (uint8_t)k);
        assert_null(dx_dump_range_at(d, base + size));
        assert_int_equal(dx_dump_range_at(d, base + 5)->base, base);
    }
    dx_dump_close(d);
}

/* ---- main -------------------------------------------------------------- */

static int write_cases(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cases.tsv", dir);
    FILE *tsv = fopen(path, "w");
    if (!tsv) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < NBAD; i++) {
        case_path(&bad_cases[i], dir, path, sizeof path);
        bad_cases[i].make(path);
        fprintf(tsv, "%s", bad_cases[i].name);
        for (size_t k = 0; k < 3 && bad_cases[i].expect[k]; k++)
            fprintf(tsv, "\t%s", bad_cases[i].expect[k]);
        fprintf(tsv, "\n");
    }
    return fclose(tsv) != 0;
}

static int make_tmpdir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/dx-bad-XXXXXX", base);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-cases"))
        return write_cases(argv[2]);
    static struct CMUnitTest tests[NBAD + 32];
    size_t n = 0;
    for (size_t i = 0; i < NBAD; i++)
        tests[n++] = (struct CMUnitTest){bad_cases[i].name, test_bad_case, NULL, NULL, (void *)&bad_cases[i]};
#define ADD(f) tests[n++] = (struct CMUnitTest)cmocka_unit_test(f)
    ADD(test_error_buffer_small);
    ADD(test_fifo);
    ADD(test_unused_entries);
    ADD(test_vendor_streams);
    ADD(test_unknown_stream_past_end);
    ADD(test_version_high_word_and_flags);
    ADD(test_duplicate_streams_first_wins);
    ADD(test_empty_dump);
    ADD(test_empty_lists);
    ADD(test_dangling_references);
    ADD(test_codeview_not_rsds);
    ADD(test_annotations_garbage);
    ADD(test_padded_list_count);
    ADD(test_overlapping_ranges);
    ADD(test_many_ranges);
#undef ADD
    return _cmocka_run_group_tests("dump_bad", tests, n, make_tmpdir, remove_tmpdir);
}
