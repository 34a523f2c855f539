/* Replays every input the fuzzers ever crashed on, through the same entry
 * points, in the ordinary (sanitizer) test build: each must now pass
 * without a report. Files are named by target: rsp-*, dump-*, args-*. */
#include "session.h"
#include "target.h"

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        data = malloc((size_t)n + 1);
        *len = data ? fread(data, 1, (size_t)n, f) : 0;
    }
    if (f)
        fclose(f);
    return data;
}

static void replay_rsp(const dx_dump *d, const uint8_t *data, size_t size)
{
    dx_exec_options o = {.max_insns = 2000, .timeout = 0.02, .max_session_mb = 64};
    dx_target t;
    char err[DX_ERRLEN];
    assert_int_equal(dx_target_init(&t, d, &o, &(dx_target_config){.unix_names = true}, err, sizeof err), 0);
    rsp_session *s = rsp_session_new(&dx_target_ops, &t, NULL);
    dx_buf out = {0};
    for (size_t at = 0; at < size && !rsp_session_closing(s); at += 97) {
        rsp_session_input(s, data + at, size - at < 97 ? size - at : 97, &out);
        for (int jobs = 0; t.job.kind != DX_JOB_NONE && jobs < 8; jobs++) {
            dx_target_run_job(&t);
            dx_target_finish_job(&t, s, &out);
        }
    }
    dx_buf_free(&out);
    rsp_session_free(s);
    dx_target_free(&t);
}

static void test_replay_all(void **state)
{
    (void)state;
    char dir[4096], dump_path[4096], err[DX_ERRLEN];
    snprintf(dir, sizeof dir, "%s/fuzz/regressions", getenv("DX_TESTS_SRC"));
    snprintf(dump_path, sizeof dump_path, "%s/testprog_full.dmp", getenv("DX_FIXTURES"));
    dx_dump *d;
    assert_int_equal(dx_dump_open(dump_path, &d, err, sizeof err), 0);
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    int replayed = 0;
    for (struct dirent *e; (e = readdir(dh));) {
        if (strncmp(e->d_name, "rsp-", 4) != 0)
            continue;
        char path[8192];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *data = slurp(path, &len);
        assert_non_null(data);
        replay_rsp(d, (const uint8_t *)data, len);
        free(data);
        replayed++;
    }
    closedir(dh);
    dx_dump_close(d);
    assert_true(replayed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_all)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
