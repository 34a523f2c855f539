/* libFuzzer: any byte stream from a client, through the codec and every
 * packet handler, against a live session on the fixture dump. Runs that
 * the packets start are run too, bounded by a short time limit. The dump
 * is $DX_FUZZ_DUMP, opened once; one target serves every input, reset in
 * between as a new session would find it, because a new engine per input
 * would cost more than the input itself. */
#include "session.h"
#include "target.h"

#include <stdio.h>
#include <stdlib.h>

static dx_dump *dump;
static dx_target target;
/* Short runs, and a small code buffer: every switch between stepping and
 * running clears it. */
static const dx_exec_options options = {
    .max_insns = 2000, .timeout = 0.001, .max_session_mb = 64, .code_buffer_kb = 128};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *path = getenv("DX_FUZZ_DUMP");
    char err[DX_ERRLEN];
    if (!path || dx_dump_open(path, &dump, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_rsp: set DX_FUZZ_DUMP to a fixture dump (%s)\n", path ? err : "unset");
        exit(1);
    }
    /* Modules named as the server names them to Debian's gdb. */
    if (dx_target_init(&target, dump, &options, &(dx_target_config){.unix_names = true}, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_rsp: %s\n", err);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dx_target *t = &target;
    if (dx_target_reset(t, &options) != 0)
        return 0;
    rsp_session *s = rsp_session_new(&dx_target_ops, t, NULL);
    dx_buf out = {0};
    /* Feed in a few pieces, running whatever each piece asked for. */
    size_t at = 0;
    while (at < size && s && !rsp_session_closing(s)) {
        size_t n = size - at < 97 ? size - at : 97;
        rsp_session_input(s, data + at, n, &out);
        at += n;
        for (int jobs = 0; t->job.kind != DX_JOB_NONE && jobs < 8; jobs++) {
            dx_target_run_job(t);
            dx_target_finish_job(t, s, &out);
        }
        dx_buf_reset(&out);
    }
    dx_buf_free(&out);
    rsp_session_free(s);
    return 0;
}
