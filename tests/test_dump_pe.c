/* PE views over dump memory: sections, exports, forwarders, address
 * expressions and symbolizing, on PE images built by mdw_pe_image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "describe.h"
#include "dump.h"
#include "mdwriter.h"
#include "pe.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALPHA 0x180000000ull
#define BETA 0x190000000ull
#define NOCODE 0x1a0000000ull
#define ABSENT 0x1b0000000ull

/* alpha.dll's exports, ordinals 1.. in this order. */
static const mdw_export alpha_exports[] = {
    {"Add", 0x1000, NULL},                      /* #1 */
    {"Bar", 0x1010, NULL},                      /* #2 */
    {"Fwd", 0, "beta.Target"},                  /* #3 */
    {"FwdOrd", 0, "BETA.#2"},                   /* #4 */
    {"FwdLoop", 0, "alpha.FwdLoop"},            /* #5 */
    {"FwdMissing", 0, "gamma.Thing"},           /* #6 */
    {"FwdBad", 0, "nodot"},                     /* #7 */
    {NULL, 0x1020, NULL},                       /* #8, by ordinal only */
    {"FwdChain", 0, "beta.FwdBack"},            /* #9 */
    {"Zeta", 0x1030, NULL},                     /* #10 */
};
static const mdw_export beta_exports[] = {
    {"Target", 0x1100, NULL},         /* #1 */
    {"Other", 0x1200, NULL},          /* #2 */
    {"FwdBack", 0, "alpha.Bar"},      /* #3 */
};

typedef struct fixture {
    dx_dump *d;
} fixture;

/* Build the dump: alpha and beta fully captured, nocode with only its
 * header page, absent with nothing. nnames_alpha overrides alpha's
 * NumberOfNames when nonzero. */
static dx_dump *build(uint32_t nnames_alpha)
{
    uint8_t *alpha = mdw_pe_image("alpha.dll", alpha_exports, sizeof alpha_exports / sizeof alpha_exports[0]);
    uint8_t *beta = mdw_pe_image("beta.dll", beta_exports, sizeof beta_exports / sizeof beta_exports[0]);
    uint8_t *nocode = mdw_pe_image("nocode.dll", alpha_exports, 2);
    if (nnames_alpha)
        memcpy(alpha + MDW_PE_EXPORT_RVA + 24, &nnames_alpha, 4); /* little-endian host */
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    dx_context c = {.flags = DX_CONTEXT_CONTROL | DX_CONTEXT_INTEGER, .rip = ALPHA + 0x1015, .rsp = 0x100100};
    mdw_thread t = {.tid = 1, .stack_start = 0x100000, .stack_size = 0x200, .context = &c};
    mdw_thread_list(w, &t, 1);
    mdw_module m[] = {
        {.base = ALPHA, .size = MDW_PE_SIZE, .name = "C:\\bin\\alpha.dll"},
        {.base = BETA, .size = MDW_PE_SIZE, .name = "C:\\bin\\beta.dll"},
        {.base = NOCODE, .size = MDW_PE_SIZE, .name = "C:\\bin\\nocode.dll"},
        {.base = ABSENT, .size = MDW_PE_SIZE, .name = "C:\\bin\\absent.dll"},
    };
    mdw_module_list(w, m, sizeof m / sizeof m[0]);
    mdw_mem r[] = {
        {.base = ALPHA, .size = MDW_PE_SIZE, .data = alpha},
        {.base = BETA, .size = MDW_PE_SIZE, .data = beta},
        {.base = NOCODE, .size = 0x1000, .data = nocode},
    };
    mdw_memory64_list(w, r, sizeof r / sizeof r[0]);
    free(alpha);
    free(beta);
    free(nocode);
    dx_dump *d;
    char err[DX_ERRLEN];
    if (mdw_open(w, &d, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    mdw_free(w);
    return d;
}

static int setup(void **state)
{
    *state = build(0);
    return 0;
}

static int teardown(void **state)
{
    dx_dump_close(*state);
    return 0;
}

static uint64_t resolve_ok(const dx_dump *d, const char *expr)
{
    uint64_t a = 0;
    char err[DX_ERRLEN] = "";
    if (dx_dump_resolve(d, expr, &a, err, sizeof err) != 0)
        fail_msg("resolve(\"%s\") failed: %s", expr, err);
    return a;
}

static void resolve_fails(const dx_dump *d, const char *expr, const char *expect)
{
    uint64_t a = 0;
    char err[DX_ERRLEN] = "";
    if (dx_dump_resolve(d, expr, &a, err, sizeof err) == 0)
        fail_msg("resolve(\"%s\") gave 0x%llx, expected an error", expr, (unsigned long long)a);
    if (!strstr(err, expect))
        fail_msg("resolve(\"%s\"): \"%s\" does not mention \"%s\"", expr, err, expect);
}

static void test_sections(void **state)
{
    const dx_dump *d = *state;
    dx_pe_section s[4];
    assert_int_equal(dx_pe_sections(d, ALPHA, s, 4), 1);
    assert_string_equal(s[0].name, ".text");
    assert_int_equal(s[0].rva, MDW_PE_TEXT_RVA);
    assert_int_equal(s[0].size, MDW_PE_TEXT_SIZE);
    assert_int_equal(s[0].characteristics & (DX_SCN_EXECUTE | DX_SCN_READ | DX_SCN_WRITE),
                     DX_SCN_EXECUTE | DX_SCN_READ);
    assert_int_equal(dx_pe_sections(d, ALPHA, s, 0), 1); /* count without room */
    assert_int_equal(dx_pe_sections(d, NOCODE, s, 4), 1);
    assert_int_equal(dx_pe_sections(d, ABSENT, s, 4), -1);
    assert_int_equal(dx_pe_sections(d, 0x12345000, s, 4), -1);
    assert_int_equal(dx_pe_sections(d, ALPHA + 0x1000, s, 4), -1); /* no MZ there */
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24); }

/* The image served to gdb as a file: headers point at memory, gaps read as zeros. */
static void test_image_as_file(void **state)
{
    const dx_dump *d = *state;
    uint8_t img[MDW_PE_SIZE], mem[MDW_PE_SIZE];
    assert_true(dx_pe_image_present(d, ALPHA));
    assert_false(dx_pe_image_present(d, ABSENT));
    assert_int_equal(dx_pe_image_read(d, ALPHA, MDW_PE_SIZE, 0, img, sizeof img), MDW_PE_SIZE);
    assert_int_equal(dx_dump_read(d, ALPHA, mem, sizeof mem), MDW_PE_SIZE);
    uint32_t optsize = img[MDW_PE_LFANEW + 20] | img[MDW_PE_LFANEW + 21] << 8;
    const uint8_t *sec = img + MDW_PE_LFANEW + 24 + optsize;
    assert_int_equal(le32(sec + 20), MDW_PE_TEXT_RVA);  /* PointerToRawData */
    assert_int_equal(le32(sec + 16), MDW_PE_TEXT_SIZE); /* SizeOfRawData */
    assert_int_equal(le32(img + MDW_PE_LFANEW + 12), 0); /* no COFF symbol table */
    assert_memory_equal(img + MDW_PE_TEXT_RVA, mem + MDW_PE_TEXT_RVA, MDW_PE_SIZE - MDW_PE_TEXT_RVA);
    /* A read of just one patched field, and reads at and past the end. */
    uint8_t field[4];
    size_t at = (size_t)(sec + 20 - img);
    assert_int_equal(dx_pe_image_read(d, ALPHA, MDW_PE_SIZE, at + 1, field, 2), 2);
    assert_memory_equal(field, sec + 21, 2);
    assert_int_equal(dx_pe_image_read(d, ALPHA, MDW_PE_SIZE, MDW_PE_SIZE - 2, field, 4), 2);
    assert_int_equal(dx_pe_image_read(d, ALPHA, MDW_PE_SIZE, MDW_PE_SIZE, field, 4), 0);
    assert_int_equal(dx_pe_image_read(d, ALPHA, MDW_PE_SIZE, UINT64_MAX, field, 4), 0);
    /* dx_dump_read_filled across the end of what the dump holds. */
    uint8_t edge[32], want[16];
    memset(edge, 0xaa, sizeof edge);
    dx_dump_read_filled(d, NOCODE + 0xff0, edge, sizeof edge);
    assert_int_equal(dx_dump_read(d, NOCODE + 0xff0, want, sizeof want), sizeof want);
    assert_memory_equal(edge, want, sizeof want);
    for (size_t i = 16; i < sizeof edge; i++)
        assert_int_equal(edge[i], 0);
    /* nocode's dump holds only its headers: the rest reads as zeros. */
    memset(img, 0xaa, sizeof img);
    assert_int_equal(dx_pe_image_read(d, NOCODE, MDW_PE_SIZE, 0, img, sizeof img), MDW_PE_SIZE);
    assert_int_equal(img[0], 'M');
    for (size_t i = 0x1000; i < MDW_PE_SIZE; i++)
        assert_int_equal(img[i], 0);
}

static void test_has_code(void **state)
{
    const dx_dump *d = *state;
    assert_true(dx_module_has_code(d, dx_dump_find_module(d, "alpha")));
    assert_true(dx_module_has_code(d, dx_dump_find_module(d, "beta")));
    assert_false(dx_module_has_code(d, dx_dump_find_module(d, "nocode")));
    assert_false(dx_module_has_code(d, dx_dump_find_module(d, "absent")));
}

static void test_find_export(void **state)
{
    const dx_dump *d = *state;
    uint64_t a;
    char fwd[64];
    assert_int_equal(dx_pe_find_export(d, ALPHA, "Add", &a, fwd, sizeof fwd), 0);
    assert_int_equal(a, ALPHA + 0x1000);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "Zeta", &a, fwd, sizeof fwd), 0);
    assert_int_equal(a, ALPHA + 0x1030);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "Fwd", &a, fwd, sizeof fwd), 0);
    assert_int_equal(a, 0);
    assert_string_equal(fwd, "beta.Target");
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#8", &a, fwd, sizeof fwd), 0);
    assert_int_equal(a, ALPHA + 0x1020);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#0x2", &a, fwd, sizeof fwd), 0);
    assert_int_equal(a, ALPHA + 0x1010);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#11", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#0", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "#2x", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "add", &a, fwd, sizeof fwd), -1); /* case matters */
    assert_int_equal(dx_pe_find_export(d, ALPHA, "", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ALPHA, "Addx", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, NOCODE, "Add", &a, fwd, sizeof fwd), -1);
    assert_int_equal(dx_pe_find_export(d, ABSENT, "Add", &a, fwd, sizeof fwd), -1);
    /* Every named export is found by the binary search. */
    for (size_t i = 0; i < sizeof alpha_exports / sizeof alpha_exports[0]; i++) {
        if (!alpha_exports[i].name)
            continue;
        assert_int_equal(dx_pe_find_export(d, ALPHA, alpha_exports[i].name, &a, fwd, sizeof fwd), 0);
        if (alpha_exports[i].forward)
            assert_string_equal(fwd, alpha_exports[i].forward);
        else
            assert_int_equal(a, ALPHA + alpha_exports[i].rva);
    }
    /* A forwarder with no room for its text fails rather than truncating. */
    assert_int_equal(dx_pe_find_export(d, ALPHA, "Fwd", &a, NULL, 0), -1);
}

static void test_resolve(void **state)
{
    const dx_dump *d = *state;
    assert_int_equal(resolve_ok(d, "0x140001530"), 0x140001530);
    assert_int_equal(resolve_ok(d, "1234"), 1234);
    assert_int_equal(resolve_ok(d, "alpha!Add"), ALPHA + 0x1000);
    assert_int_equal(resolve_ok(d, "alpha.dll!Add"), ALPHA + 0x1000);
    assert_int_equal(resolve_ok(d, "ALPHA.DLL!Add"), ALPHA + 0x1000);
    assert_int_equal(resolve_ok(d, "C:\\bin\\alpha.dll!Bar"), ALPHA + 0x1010);
    assert_int_equal(resolve_ok(d, "alpha!Add+0x10"), ALPHA + 0x1010);
    assert_int_equal(resolve_ok(d, "alpha!Add+16"), ALPHA + 0x1010);
    assert_int_equal(resolve_ok(d, "alpha+0x1020"), ALPHA + 0x1020);
    assert_int_equal(resolve_ok(d, "alpha"), ALPHA);
    assert_int_equal(resolve_ok(d, "alpha!#8"), ALPHA + 0x1020);
    assert_int_equal(resolve_ok(d, "absent+0x10"), ABSENT + 0x10); /* module+offset needs no memory */
    /* Forwarders: by name, by ordinal, across and back. */
    assert_int_equal(resolve_ok(d, "alpha!Fwd"), BETA + 0x1100);
    assert_int_equal(resolve_ok(d, "alpha!#3"), BETA + 0x1100);
    assert_int_equal(resolve_ok(d, "alpha!FwdOrd"), BETA + 0x1200);
    assert_int_equal(resolve_ok(d, "alpha!FwdChain"), ALPHA + 0x1010);
    assert_int_equal(resolve_ok(d, "alpha!Fwd+0x4"), BETA + 0x1104);
}

static void test_resolve_errors(void **state)
{
    const dx_dump *d = *state;
    resolve_fails(d, "alpha!FwdLoop", "too many export forwards");
    resolve_fails(d, "alpha!FwdMissing", "gamma");
    resolve_fails(d, "alpha!FwdBad", "cannot be followed");
    resolve_fails(d, "alpha!Nope", "no export 'Nope'");
    resolve_fails(d, "alpha!add", "no export 'add'");
    resolve_fails(d, "nocode!Add", "no export 'Add'");
    resolve_fails(d, "absent!Add", "no export");
    resolve_fails(d, "nosuch!Add", "no module named 'nosuch'");
    resolve_fails(d, "nosuch", "neither an address nor a module");
    resolve_fails(d, "alph", "neither an address nor a module");
    resolve_fails(d, "alpha+zz", "bad offset");
    resolve_fails(d, "alpha+", "bad offset");
    resolve_fails(d, "alpha+-1", "bad offset");
    resolve_fails(d, "0x12g", "neither an address nor a module");
    resolve_fails(d, "-5", "neither an address nor a module");
    resolve_fails(d, "", "neither an address nor a module");
    resolve_fails(d, "99999999999999999999999", "neither an address nor a module");
    char longexpr[700];
    memset(longexpr, 'a', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = 0;
    resolve_fails(d, longexpr, "too long");
    longexpr[300] = '!';
    longexpr[500] = 0;
    resolve_fails(d, longexpr, "no module named"); /* a 300-char module name is cut, not overflowed */
    /* The error buffer may be tiny or absent. */
    uint64_t a;
    char tiny[4];
    assert_int_equal(dx_dump_resolve(d, "nosuch", &a, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(dx_dump_resolve(d, "nosuch", &a, NULL, 0), -1);
}

static void test_nearest_and_symbolize(void **state)
{
    const dx_dump *d = *state;
    char name[64], sym[300];
    uint64_t off;
    assert_int_equal(dx_pe_nearest_export(d, ALPHA, ALPHA + 0x1015, name, sizeof name, &off), 0);
    assert_string_equal(name, "Bar");
    assert_int_equal(off, 5);
    assert_int_equal(dx_pe_nearest_export(d, ALPHA, ALPHA + 0x1000, name, sizeof name, &off), 0);
    assert_string_equal(name, "Add");
    assert_int_equal(off, 0);
    assert_int_equal(dx_pe_nearest_export(d, ALPHA, ALPHA + 0x2fff, name, sizeof name, &off), 0);
    assert_string_equal(name, "Zeta");
    assert_int_equal(dx_pe_nearest_export(d, ALPHA, ALPHA + 0xfff, name, sizeof name, &off), -1);
    assert_int_equal(dx_pe_nearest_export(d, NOCODE, NOCODE + 0x1000, name, sizeof name, &off), -1);

    dx_dump_symbolize(d, ALPHA + 0x1015, sym, sizeof sym);
    assert_string_equal(sym, "alpha.dll!Bar+0x5");
    dx_dump_symbolize(d, ALPHA + 0x1010, sym, sizeof sym);
    assert_string_equal(sym, "alpha.dll!Bar");
    dx_dump_symbolize(d, BETA + 0x1234, sym, sizeof sym);
    assert_string_equal(sym, "beta.dll!Other+0x34");
    dx_dump_symbolize(d, ALPHA + 0x10, sym, sizeof sym);
    assert_string_equal(sym, "alpha.dll+0x10");
    dx_dump_symbolize(d, NOCODE + 0x1001, sym, sizeof sym);
    assert_string_equal(sym, "nocode.dll+0x1001");
    dx_dump_symbolize(d, 0x12345, sym, sizeof sym);
    assert_string_equal(sym, "0x12345");
    dx_dump_symbolize(d, ALPHA + MDW_PE_SIZE, sym, sizeof sym); /* one past the image */
    assert_string_equal(sym, "0x180003000");
    char small[8];
    dx_dump_symbolize(d, ALPHA + 0x1015, small, sizeof small);
    assert_string_equal(small, "alpha.d");
}

static void test_describe_threads_symbolized(void **state)
{
    const dx_dump *d = *state;
    dx_buf b = {0};
    dx_describe_all(d, &b);
    assert_non_null(strstr(dx_buf_str(&b), "alpha.dll!Bar+0x5"));
    assert_non_null(strstr(dx_buf_str(&b), "module code present in 2 of 4 modules"));
    dx_buf_free(&b);
}

/* A corrupt export directory must not make a lookup crash or run away.
 * With NumberOfNames = 0xffffffff and a names table mostly outside the
 * capture, the binary search fails in a few reads. */
static void test_corrupt_export_count(void **state)
{
    (void)state;
    dx_dump *d = build(0xffffffff);
    uint64_t a;
    char fwd[64];
    (void)dx_pe_find_export(d, ALPHA, "Add", &a, fwd, sizeof fwd); /* any answer, no crash */
    assert_int_equal(dx_pe_find_export(d, BETA, "Target", &a, fwd, sizeof fwd), 0);
    dx_dump_close(d);
}

/* Known bug (see the report): dx_pe_nearest_export walks all NumberOfNames
 * entries even when the tables are not there, so a corrupt count stalls
 * symbolizing (and the CLI listing) for minutes. */
static void test_corrupt_export_count_symbolize(void **state)
{
    (void)state;
    dx_dump *d = build(0xffffffff);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char sym[300];
    dx_dump_symbolize(d, ALPHA + 0x1015, sym, sizeof sym);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    dx_dump_close(d);
    if (secs > 1.0)
        fail_msg("symbolizing took %.1f s with a corrupt NumberOfNames", secs);
}

/* A dump holding one module, alpha.dll at ALPHA, with these exports. */
static dx_dump *build_alpha(const mdw_export *ex, size_t n)
{
    uint8_t *img = mdw_pe_image("alpha.dll", ex, n);
    mdw *w = mdw_new();
    mdw_system_info_arch(w, MD_ARCH_AMD64);
    mdw_module m = {.base = ALPHA, .size = MDW_PE_SIZE, .name = "alpha.dll"};
    mdw_module_list(w, &m, 1);
    mdw_mem r = {.base = ALPHA, .size = MDW_PE_SIZE, .data = img};
    mdw_memory_list(w, &r, 1);
    dx_dump *d;
    char err[DX_ERRLEN];
    if (mdw_open(w, &d, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    mdw_free(w);
    free(img);
    return d;
}

/* Regression: an export name of 256 characters or more (C++ decorated names
 * get there) makes the binary search give up, so every lookup whose search
 * passes it fails. */
static void test_long_export_name(void **state)
{
    (void)state;
    char longname[301];
    memset(longname, 'M', 300);
    longname[300] = 0;
    const mdw_export ex[] = {{"A", 0x1000, NULL}, {"B", 0x1010, NULL}, {"C", 0x1020, NULL}, {longname, 0x1030, NULL},
                             {"X", 0x1040, NULL}, {"Y", 0x1050, NULL}, {"Z", 0x1060, NULL}};
    dx_dump *d = build_alpha(ex, 7);
    uint64_t a = 0;
    char fwd[64];
    int rc_a = dx_pe_find_export(d, ALPHA, "A", &a, fwd, sizeof fwd);
    uint64_t got_a = a;
    int rc_z = dx_pe_find_export(d, ALPHA, "Z", &a, fwd, sizeof fwd);
    dx_dump_close(d);
    assert_int_equal(rc_a, 0);
    assert_int_equal(got_a, ALPHA + 0x1000);
    assert_int_equal(rc_z, 0);
    assert_int_equal(a, ALPHA + 0x1060);
}

/* Regression: "#N" ordinals are cut to 32 bits, so #4294967297 is #1. */
static void test_ordinal_overflow(void **state)
{
    const dx_dump *d = *state;
    resolve_fails(d, "alpha!#4294967297", "no export");
    resolve_fails(d, "alpha!#-4294967295", "no export");
}

/* Regression: strtoull skips leading blanks and accepts a sign after them,
 * so " -5" is 2^64-5 and "alpha+ -0x10" subtracts. */
static void test_negative_numbers(void **state)
{
    const dx_dump *d = *state;
    resolve_fails(d, " -5", "neither an address nor a module");
    resolve_fails(d, "alpha+ -0x10", "bad offset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_has_code),
        cmocka_unit_test(test_image_as_file),
        cmocka_unit_test(test_find_export),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_resolve_errors),
        cmocka_unit_test(test_nearest_and_symbolize),
        cmocka_unit_test(test_describe_threads_symbolized),
        cmocka_unit_test(test_corrupt_export_count),
        cmocka_unit_test(test_corrupt_export_count_symbolize),
        cmocka_unit_test(test_long_export_name),
        cmocka_unit_test(test_ordinal_overflow),
        cmocka_unit_test(test_negative_numbers),
    };
    return cmocka_run_group_tests_name("dump_pe", tests, setup, teardown);
}
