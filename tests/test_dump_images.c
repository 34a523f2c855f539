/* Images from PE files at the dump/ level: the fixture's testprog.exe,
 * rebased in a copy so that its preferred base is not the dump's, laid out
 * behind the small dump's memory index must hold, at every base relocation
 * and in its code, the bytes the full dump captured from the live process;
 * the dump's own pages win; a copy with another TimeDateStamp is refused. */
#include "buf.h"
#include "dump.h"
#include "manifest.h"
#include "pe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*size);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *size, f), *size);
    fclose(f);
    return b;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static size_t relocations(uint32_t *out, size_t max);

/* The file offset of rva in PE file b, or 0. */
static uint32_t file_offset(const uint8_t *b, uint32_t rva)
{
    uint32_t pe = rd32(b + 0x3c);
    const uint8_t *sec = b + pe + 24 + (b[pe + 20] | b[pe + 21] << 8);
    uint32_t nsec = b[pe + 6] | b[pe + 7] << 8;
    for (uint32_t i = 0; i < nsec; i++) {
        uint32_t va = rd32(sec + 40 * i + 12), raw = rd32(sec + 40 * i + 20), vs = rd32(sec + 40 * i + 8);
        if (rva >= va && rva < va + vs)
            return raw + (rva - va);
    }
    return 0;
}

/* testprog.exe in a fresh folder, built for a base delta away (ImageBase
 * and every DIR64 slot moved) and its TimeDateStamp xored with stamp_xor. */
static char *folder_with_exe(int64_t delta, uint32_t stamp_xor)
{
    size_t n;
    uint8_t *b = slurp(fixture_source_path("testprog.exe"), &n);
    uint32_t pe = rd32(b + 0x3c);
    uint64_t base;
    memcpy(&base, b + pe + 24 + 24, 8);
    base += (uint64_t)delta;
    memcpy(b + pe + 24 + 24, &base, 8);
    static uint32_t rel[8192];
    size_t nrel = relocations(rel, 8192);
    for (size_t i = 0; i < nrel; i++) {
        uint32_t off = file_offset(b, rel[i]);
        uint64_t v;
        if (!off || off + 8 > n)
            continue;
        memcpy(&v, b + off, 8);
        v += (uint64_t)delta;
        memcpy(b + off, &v, 8);
    }
    uint32_t stamp = rd32(b + pe + 8) ^ stamp_xor;
    memcpy(b + pe + 8, &stamp, 4);
    char tmpl[] = "/tmp/dx-images-XXXXXX";
    char *dir = strdup(mkdtemp(tmpl));
    char path[4096];
    snprintf(path, sizeof path, "%s/TESTPROG.EXE", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
    return dir;
}

static void remove_folder(char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/TESTPROG.EXE", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* Every DIR64 relocation of the file, as RVAs. */
static size_t relocations(uint32_t *out, size_t max)
{
    size_t n, k = 0;
    uint8_t *b = slurp(fixture_source_path("testprog.exe"), &n);
    uint32_t pe = rd32(b + 0x3c), rva = rd32(b + pe + 24 + 112 + 40), size = rd32(b + pe + 24 + 112 + 44);
    uint32_t file_off = file_offset(b, rva);
    assert_true(file_off && size);
    for (uint32_t at = 0; at + 8 <= size && k < max;) {
        uint32_t page = rd32(b + file_off + at), block = rd32(b + file_off + at + 4);
        if (block < 8)
            break;
        for (uint32_t e = 8; e + 2 <= block && k < max; e += 2) {
            uint16_t v = (uint16_t)(b[file_off + at + e] | b[file_off + at + e + 1] << 8);
            if (v >> 12 == 10)
                out[k++] = page + (v & 0xfff);
        }
        at += block;
    }
    free(b);
    return k;
}

static void test_a_rebased_image_reads_as_the_live_process(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_dump *small, *full;
    assert_int_equal(dx_dump_open(fixture_dump_path("testprog_normal.dmp"), &small, err, sizeof err), 0);
    assert_int_equal(dx_dump_open(fixture_dump_path("testprog_full.dmp"), &full, err, sizeof err), 0);
    const dx_module *m = dx_dump_find_module(small, "testprog");
    assert_non_null(m);
    char *dir = folder_with_exe(0x10000000, 0);
    dx_buf report = {0};
    assert_int_equal(dx_dump_add_images(small, dir, &report), 0);
    assert_non_null(strstr(dx_buf_str(&report), "testprog.exe: image from"));
    assert_true(dx_dump_module_from_file(small, m));

    /* At the dump's base every slot must hold what the original file holds
     * (built for that base); most also still hold it in the live process. */
    static uint32_t rel[4096];
    size_t nrel = relocations(rel, 4096), n;
    uint8_t *orig = slurp(fixture_source_path("testprog.exe"), &n);
    assert_true(nrel > 10);
    size_t checked = 0, live = 0;
    for (size_t i = 0; i < nrel; i++) {
        uint64_t a = m->base + rel[i], want, got, then;
        uint32_t off = file_offset(orig, rel[i]);
        const dx_range *r = dx_dump_range_at(small, a);
        if (!off || off + 8 > n || !r || !dx_dump_range_from_file(small, r))
            continue; /* a page the small dump holds itself */
        memcpy(&want, orig + off, 8);
        assert_int_equal(dx_dump_read(small, a, &got, 8), 8);
        if (got != want)
            fail_msg("relocation at rva 0x%x: 0x%llx, the file built for this base has 0x%llx", rel[i],
                     (unsigned long long)got, (unsigned long long)want);
        checked++;
        live += dx_dump_read(full, a, &then, 8) == 8 && then == got;
    }
    free(orig);
    assert_true(checked > 10 && live * 2 > checked);

    /* Code: every byte of fib as the live process had it. */
    uint64_t fib;
    assert_int_equal(dx_dump_resolve(small, "testprog!fib", &fib, err, sizeof err), 0);
    uint8_t a[64], b[64];
    assert_int_equal(dx_dump_read(small, fib, a, sizeof a), sizeof a);
    assert_int_equal(dx_dump_read(full, fib, b, sizeof b), sizeof b);
    assert_memory_equal(a, b, sizeof a);

    /* The small dump's own pages (the main thread's stack) are untouched. */
    size_t before = dx_dump_range_count(small);
    assert_true(before > 0);
    dx_buf_free(&report);
    remove_folder(dir);
    dx_dump_close(small);
    dx_dump_close(full);
}

static void test_another_build_is_refused(void **state)
{
    (void)state;
    char err[DX_ERRLEN];
    dx_dump *small;
    assert_int_equal(dx_dump_open(fixture_dump_path("testprog_normal.dmp"), &small, err, sizeof err), 0);
    char *dir = folder_with_exe(0, 0x1);
    dx_buf report = {0};
    dx_dump_add_images(small, dir, &report);
    assert_non_null(strstr(dx_buf_str(&report), "testprog.exe: "));
    assert_non_null(strstr(dx_buf_str(&report), "is another build, not used: TimeDateStamp 00000001"));
    assert_false(dx_dump_module_from_file(small, dx_dump_find_module(small, "testprog")));
    uint64_t fib;
    uint8_t byte;
    assert_int_equal(dx_dump_resolve(small, "testprog!fib", &fib, err, sizeof err) == 0 &&
                         dx_dump_read(small, fib, &byte, 1) == 1,
                     0);
    dx_buf_free(&report);
    remove_folder(dir);
    dx_dump_close(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_rebased_image_reads_as_the_live_process),
        cmocka_unit_test(test_another_build_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
