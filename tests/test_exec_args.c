/* The argument syntax shared by the command line and `monitor call`:
 * dx_words_split and dx_args_parse. */
#include "exec.h"
#include "manifest.h"
#include "pe.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static dx_dump *g_dump;
static mj *g_m;

static int group_setup(void **state)
{
    (void)state;
    return fixture_open("testprog_full", &g_dump, &g_m);
}

static int group_teardown(void **state)
{
    (void)state;
    fixture_close(g_dump, g_m);
    return 0;
}

/* Parse one word; fails the test on an error. */
static dx_arg parse1(const dx_dump *d, const char *word)
{
    dx_arg *args = NULL;
    size_t n = 99;
    char err[DX_ERRLEN] = "";
    if (dx_args_parse(d, &word, 1, &args, &n, err, sizeof err) != 0)
        fail_msg("'%s' did not parse: %s", word, err);
    assert_int_equal(n, 1);
    dx_arg a = args[0];
    if (a.text) {
        a.text = malloc(a.size + 1);
        assert_non_null(a.text);
        memcpy(a.text, args[0].text, a.size + 1);
    }
    dx_args_free(args, n);
    return a;
}

/* One word that must be refused, with a message. */
static void refused(const dx_dump *d, const char *word)
{
    dx_arg *args = (dx_arg *)1;
    size_t n = 99;
    char err[DX_ERRLEN] = "";
    if (dx_args_parse(d, &word, 1, &args, &n, err, sizeof err) == 0) {
        dx_arg a = args[0];
        dx_args_free(args, n);
        fail_msg("'%s' was accepted (kind %d, i 0x%llx, d %g)", word, a.kind, (unsigned long long)a.i, a.d);
    }
    assert_true(strlen(err) > 0);
    assert_null(args);
    assert_int_equal(n, 0);
}

static void test_integers(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        uint64_t v;
    } ok[] = {
        {"42", 42},
        {"-7", (uint64_t)-7},
        {"0x2a", 42},
        {"0X2A", 42},
        {"-0x10", (uint64_t)-16},
        {"0", 0},
        {"18446744073709551615", UINT64_MAX},
        {"-9223372036854775808", 0x8000000000000000ull},
        {"ptr:0x7ff000000", 0x7ff000000ull},
        {"ptr:0", 0},
        {"int:-1", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        dx_arg a = parse1(NULL, ok[i].word);
        if (a.kind != DX_ARG_INT || a.i != ok[i].v)
            fail_msg("'%s': kind %d value 0x%llx", ok[i].word, a.kind, (unsigned long long)a.i);
    }
}

static void test_floats(void **state)
{
    (void)state;
    dx_arg a = parse1(NULL, "3.14");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == 3.14);
    a = parse1(NULL, "1e-3");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == 1e-3);
    a = parse1(NULL, "-2.5");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == -2.5);
    a = parse1(NULL, "1e+5");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == 1e5);
    a = parse1(NULL, "f32:1.5");
    assert_int_equal(a.kind, DX_ARG_FLOAT);
    assert_true(a.d == 1.5);
    a = parse1(NULL, "float:0.1");
    assert_int_equal(a.kind, DX_ARG_FLOAT);
    assert_true((float)a.d == 0.1f);
    a = parse1(NULL, "f64:2");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == 2.0);
    a = parse1(NULL, "double:-0.25");
    assert_int_equal(a.kind, DX_ARG_DOUBLE);
    assert_true(a.d == -0.25);
}

static void test_strings_and_buffers(void **state)
{
    (void)state;
    dx_arg a = parse1(NULL, "str:hello");
    assert_int_equal(a.kind, DX_ARG_STR);
    assert_int_equal(a.size, 5);
    assert_string_equal(a.text, "hello");
    free(a.text);
    a = parse1(NULL, "str:");
    assert_int_equal(a.kind, DX_ARG_STR);
    assert_int_equal(a.size, 0);
    free(a.text);
    a = parse1(NULL, "str:\"a b\"");
    assert_int_equal(a.kind, DX_ARG_STR);
    assert_string_equal(a.text, "a b");
    free(a.text);
    /* Escapes inside quotes: \x41 \" \\ \n \t \0 */
    a = parse1(NULL, "str:\"\\x41\\\"\\\\\\n\\t\"");
    assert_int_equal(a.size, 5);
    assert_memory_equal(a.text, "A\"\\\n\t", 5);
    free(a.text);
    a = parse1(NULL, "str:\"a\\0b\"");
    assert_int_equal(a.size, 3);
    assert_memory_equal(a.text, "a\0b", 3);
    free(a.text);
    a = parse1(NULL, "wstr:\"x\\n\"");
    assert_int_equal(a.kind, DX_ARG_WSTR);
    assert_int_equal(a.size, 2);
    assert_memory_equal(a.text, "x\n", 2);
    free(a.text);
    a = parse1(NULL, "wstr:wide");
    assert_int_equal(a.kind, DX_ARG_WSTR);
    assert_string_equal(a.text, "wide");
    free(a.text);
    a = parse1(NULL, "buf:64");
    assert_int_equal(a.kind, DX_ARG_BUF);
    assert_int_equal(a.size, 64);
    a = parse1(NULL, "buf:0x10");
    assert_int_equal(a.size, 16);
    a = parse1(NULL, "buf:524288"); /* the largest */
    assert_int_equal(a.size, 524288);
}

static void test_bad_words(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "buf:0", "buf:-1", "buf:", "buf:x", "buf:524289", "1.2.3", "", "-", "abc", "0x", "12abc",
        "f32:", "f32:x", "f64:1.2.3", "ptr:", "ptr:xyz", "str:\"\\q\"", "str:\"\\x4\"", "str:\"trailing\\\"",
        "testprog!add2", /* no dump to resolve it in */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(NULL, bad[i]);
}

/* An unterminated quote is an error, not a literal quote character. */
static void test_unterminated_quote(void **state)
{
    (void)state;
    char **w;
    size_t n;
    char err[DX_ERRLEN] = "";
    assert_int_equal(dx_words_split("call f str:\"unterminated", &w, &n, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    refused(NULL, "str:\"unterminated");
    refused(NULL, "wstr:\"unterminated");
}

/* An integer that does not fit 64 bits is an error, not a double. */
static void test_integer_overflow_refused(void **state)
{
    (void)state;
    refused(NULL, "18446744073709551616");
    refused(NULL, "-9223372036854775809");
    refused(NULL, "0x10000000000000000");
}

static void test_arg_count(void **state)
{
    (void)state;
    const char *words[65];
    for (int i = 0; i < 65; i++)
        words[i] = "1";
    dx_arg *args;
    size_t n;
    char err[DX_ERRLEN] = "";
    assert_int_equal(dx_args_parse(NULL, words, 64, &args, &n, err, sizeof err), 0);
    assert_int_equal(n, 64);
    dx_args_free(args, n);
    assert_int_equal(dx_args_parse(NULL, words, 65, &args, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    assert_null(args);
    assert_int_equal(n, 0);
    /* No words: a call without arguments. */
    err[0] = 0;
    assert_int_equal(dx_args_parse(NULL, NULL, 0, &args, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    dx_args_free(args, n);
    dx_args_free(NULL, 0);
    /* One bad word among good ones fails the whole list and names it. */
    const char *mixed[] = {"1", "str:ok", "1.2.3", "buf:8"};
    assert_int_equal(dx_args_parse(NULL, mixed, 4, &args, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "1.2.3"));
}

static void test_split(void **state)
{
    (void)state;
    char **w;
    size_t n;
    char err[DX_ERRLEN];
    assert_int_equal(dx_words_split("testprog!add2 3 5", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(w[0], "testprog!add2");
    assert_string_equal(w[1], "3");
    assert_string_equal(w[2], "5");
    dx_words_free(w, n);

    assert_int_equal(dx_words_split("  \t lead   and\ttrail  ", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(w[1], "and");
    dx_words_free(w, n);

    assert_int_equal(dx_words_split("", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    dx_words_free(w, n);
    assert_int_equal(dx_words_split("   ", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    dx_words_free(w, n);

    /* Quotes group and stay for the parser, escapes too. */
    assert_int_equal(dx_words_split("f str:\"a b\" wstr:\"x\\n\" str:\"q\\\"q\" 7", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 5);
    assert_string_equal(w[1], "str:\"a b\"");
    assert_string_equal(w[2], "wstr:\"x\\n\"");
    assert_string_equal(w[3], "str:\"q\\\"q\"");
    assert_string_equal(w[4], "7");
    dx_arg *args;
    size_t na;
    assert_int_equal(dx_args_parse(NULL, (const char *const *)w + 1, 4, &args, &na, err, sizeof err), 0);
    assert_string_equal(args[0].text, "a b");
    assert_int_equal(args[1].kind, DX_ARG_WSTR);
    assert_string_equal(args[1].text, "x\n");
    assert_string_equal(args[2].text, "q\"q");
    assert_int_equal(args[3].i, 7);
    dx_args_free(args, na);
    dx_words_free(w, n);

    /* Many words grow the list. */
    char line[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(line, "x ");
    assert_int_equal(dx_words_split(line, &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 40);
    dx_words_free(w, n);
}

/* With a dump, module!export and module+offset are pointers. */
static void test_symbols(void **state)
{
    (void)state;
    uint64_t add2 = tp_func(g_m, "add2");
    uint64_t rva = mj_path_u64(g_m, "functions.add2.rva");
    assert_true(add2 && rva);
    dx_arg a = parse1(g_dump, "testprog!add2");
    assert_int_equal(a.kind, DX_ARG_INT);
    assert_int_equal(a.i, add2);
    a = parse1(g_dump, "testprog.exe!add2");
    assert_int_equal(a.i, add2);
    char word[64];
    snprintf(word, sizeof word, "testprog+0x%llx", (unsigned long long)rva);
    a = parse1(g_dump, word);
    assert_int_equal(a.i, add2);
    a = parse1(g_dump, "testprog!g_counter");
    assert_int_equal(a.i, mj_path_u64(g_m, "globals.g_counter.address"));
    /* Numbers stay numbers with a dump too. */
    a = parse1(g_dump, "0x2a");
    assert_int_equal(a.i, 42);
    refused(g_dump, "testprog!no_such_export");
    refused(g_dump, "nosuchmodule!add2");
}

/* Words parsed the way `monitor call` does, then called. */
static void test_parsed_call(void **state)
{
    (void)state;
    char **w;
    size_t n;
    char err[DX_ERRLEN];
    assert_int_equal(dx_words_split("testprog!str_len str:\"h\\x41llo \\\"x\\\"\"", &w, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    uint64_t fn;
    assert_int_equal(dx_dump_resolve(g_dump, w[0], &fn, err, sizeof err), 0);
    assert_int_equal(fn, tp_func(g_m, "str_len"));
    dx_arg *args;
    size_t na;
    assert_int_equal(dx_args_parse(g_dump, (const char *const *)w + 1, n - 1, &args, &na, err, sizeof err), 0);
    assert_string_equal(args[0].text, "hAllo \"x\"");
    dx_exec *e;
    assert_int_equal(dx_exec_new(g_dump, NULL, &e, err, sizeof err), 0);
    dx_call_result r;
    assert_int_equal(dx_exec_call(e, fn, args, na, NULL, &r), 0);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    assert_int_equal((uint32_t)r.rax, strlen("hAllo \"x\""));
    dx_call_result_free(&r);
    dx_args_free(args, na);
    dx_words_free(w, n);

    /* apply(testprog!square, 7) with the pointer given by name. */
    const char *words[] = {"testprog!square", "7"};
    assert_int_equal(dx_args_parse(g_dump, words, 2, &args, &na, err, sizeof err), 0);
    assert_int_equal(dx_exec_call(e, tp_func(g_m, "apply"), args, na, NULL, &r), 0);
    assert_int_equal(r.stop.kind, DX_STOP_RETURNED);
    const mj *cases = mj_path(g_m, "functions.apply.cases");
    bool found = false;
    for (size_t i = 0; i < mj_len(cases); i++) {
        const mj *c = mj_at(cases, i);
        const char *to = mj_str(mj_path(c, "args.0.points_to"));
        uint64_t x, want;
        int width;
        bool f;
        if (to && !strcmp(to, "square") && tp_value(mj_path(c, "args.1"), &x, &width, &f) && x == 7 &&
            tp_value(mj_get(c, "result"), &want, &width, &f)) {
            assert_int_equal((uint32_t)r.rax, (uint32_t)want);
            found = true;
        }
    }
    assert_true(found);
    dx_args_free(args, na);
    dx_exec_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings_and_buffers),
        cmocka_unit_test(test_bad_words),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_integer_overflow_refused),
        cmocka_unit_test(test_arg_count),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_symbols),
        cmocka_unit_test(test_parsed_call),
    };
    if (getenv("DX_TEST_FILTER"))
        cmocka_set_test_filter(getenv("DX_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
