/* monitor commands: `monitor help` in gdb, `process plugin packet monitor
 * help` in lldb. The dump's own listings share their text with the CLI. */
#include "target.h"

#include "describe.h"
#include "pe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef int (*command_fn)(dx_target *t, char **argv, size_t argc, dx_buf *out);

static int cmd_help(dx_target *t, char **argv, size_t argc, dx_buf *out);

static int cmd_call(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char err[DX_ERRLEN];
    if (argc < 2) {
        dx_buf_printf(out, "usage: monitor call FUNCTION [ARG...]\n");
        return -1;
    }
    if (dx_dump_resolve(t->dump, argv[1], &t->job.call_fn, err, sizeof err) != 0 ||
        dx_args_parse(t->dump, (const char *const *)argv + 2, argc - 2, &t->job.call_args, &t->job.call_nargs, err,
                      sizeof err) != 0) {
        dx_buf_printf(out, "%s\n", err);
        return -1;
    }
    t->job.kind = DX_JOB_CALL;
    return RSP_ASYNC;
}

static int cmd_modules(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    dx_describe_modules(t->dump, out);
    return 0;
}

static int cmd_threads(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    dx_describe_threads(t->dump, out);
    return 0;
}

static int cmd_exception(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    dx_describe_exception(t->dump, out);
    return 0;
}

/* Captured memory, one line per run of touching ranges, in the format of
 * gdb's `info proc mappings` (which Ghidra parses). */
static int cmd_regions(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    dx_buf_printf(out, "          Start Addr           End Addr       Size     Offset objfile\n");
    size_t n = dx_dump_range_count(t->dump);
    for (size_t i = 0; i < n;) {
        const dx_range *r = dx_dump_range(t->dump, i);
        uint64_t start = r->base, end = r->base + r->size;
        const dx_module *m = dx_dump_module_at(t->dump, start);
        for (i++; i < n; i++) {
            const dx_range *next = dx_dump_range(t->dump, i);
            if (next->base != end || dx_dump_module_at(t->dump, next->base) != m)
                break;
            end = next->base + next->size;
        }
        /* "0x0", not the "0" of %#x: Ghidra's parser wants 0x on every number. */
        uint64_t v[4] = {start, end, end - start, m ? start - m->base : 0};
        char col[4][24];
        for (int k = 0; k < 4; k++)
            snprintf(col[k], sizeof col[k], "0x%" PRIx64, v[k]);
        dx_buf_printf(out, "%18s %18s %10s %10s %s\n", col[0], col[1], col[2], col[3], m ? m->path : "");
    }
    return 0;
}

#define DX_MONITOR_TRACE_MAX (1ull << 30)

/* A client must not be able to overwrite files on the server's host: the
 * trace goes to a new file, named without a folder, in the working directory. */
static FILE *open_trace_file(const char *name)
{
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        errno = EINVAL;
        return NULL;
    }
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    return f;
}

/* open_trace_file, or NULL with the reason told to the client. */
static FILE *open_client_file(const char *name, dx_buf *out)
{
    FILE *f = open_trace_file(name);
    if (!f)
        dx_buf_printf(out, "%s: %s (FILE must be a new file name, without a folder, in the server's working "
                           "directory)\n", name, strerror(errno));
    return f;
}

static int cmd_trace(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    if (argc < 2 || (strcmp(argv[1], "on") && strcmp(argv[1], "off"))) {
        dx_buf_printf(out, "usage: monitor trace on|off [FILE]\n");
        return -1;
    }
    if (t->trace_file && t->trace_file != stderr)
        fclose(t->trace_file);
    t->trace_file = NULL;
    if (!strcmp(argv[1], "on")) {
        t->trace_file = argc > 2 ? open_client_file(argv[2], out) : stderr;
        if (!t->trace_file) {
            dx_exec_trace(t->exec, NULL);
            return -1;
        }
    }
    /* A trace a client starts stops at a size: a traced `continue` writes
     * hundreds of MB a second. */
    dx_exec_trace_capped(t->exec, t->trace_file, DX_MONITOR_TRACE_MAX);
    dx_buf_printf(out, "Tracing %s%s%s\n", argv[1], argc > 2 && t->trace_file ? " to " : "",
                  argc > 2 && t->trace_file ? argv[2] : "");
    return 0;
}

/* `monitor coverage start FILE`, `stop`, or the blocks so far: a drcov
 * log of every basic block the session runs, for Lighthouse and bncov. */
static int cmd_coverage(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    if (argc == 1) {
        dx_buf_printf(out, t->coverage_file ? "Coverage on: %zu blocks so far, for %s\n" : "Coverage off\n",
                      dx_exec_coverage_count(t->exec), t->coverage_name);
        return 0;
    }
    if (!strcmp(argv[1], "stop"))
        return t->coverage_file ? dx_target_coverage_end(t, out) : (dx_buf_printf(out, "Coverage is off\n"), -1);
    if (strcmp(argv[1], "start") || argc != 3) {
        dx_buf_printf(out, "usage: monitor coverage start FILE | stop\n");
        return -1;
    }
    if (t->coverage_file) {
        dx_buf_printf(out, "Coverage is already on, for %s: stop it first\n", t->coverage_name);
        return -1;
    }
    FILE *f = open_client_file(argv[2], out);
    if (!f)
        return -1;
    if (dx_exec_coverage_start(t->exec) != 0) {
        dx_buf_printf(out, "out of memory for coverage\n");
        fclose(f);
        return -1;
    }
    t->coverage_file = f;
    snprintf(t->coverage_name, sizeof t->coverage_name, "%s", argv[2]);
    dx_buf_printf(out, "Coverage on, for %s\n", argv[2]);
    return 0;
}

/* `monitor tenet start FILE` / `stop`: a Tenet trace of every instruction
 * the session runs (a traced continue writes ~100 MB a second). */
static int cmd_tenet(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    bool start = argc == 3 && !strcmp(argv[1], "start");
    if (!start && !(argc == 2 && !strcmp(argv[1], "stop"))) {
        dx_buf_printf(out, "usage: monitor tenet start FILE | stop\n");
        return -1;
    }
    if (t->tenet_file) {
        dx_buf_printf(out, "Tenet trace stopped: %llu lines\n", (unsigned long long)dx_exec_tenet_lines(t->exec));
        dx_exec_tenet(t->exec, NULL);
        fclose(t->tenet_file);
        t->tenet_file = NULL;
    } else if (!start) {
        dx_buf_printf(out, "No Tenet trace is on\n");
        return -1;
    }
    if (!start)
        return 0;
    FILE *f = open_client_file(argv[2], out);
    if (!f)
        return -1;
    if (dx_exec_tenet(t->exec, f) != 0) {
        dx_buf_printf(out, "cannot trace: out of memory, or the emulator refused the hook\n");
        fclose(f);
        return -1;
    }
    t->tenet_file = f;
    dx_buf_printf(out, "Tenet trace to %s\n", argv[2]);
    return 0;
}

static int cmd_set(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char *end;
    if (argc == 3 && !strcmp(argv[1], "syscalls") && (!strcmp(argv[2], "emulate") || !strcmp(argv[2], "stop"))) {
        t->config.syscalls = !strcmp(argv[2], "stop") ? DX_SYSCALLS_STOP : DX_SYSCALLS_EMULATE;
        dx_nt_options_of(t->nt)->policy = t->config.syscalls;
        dx_buf_printf(out, "syscalls = %s\n", argv[2]);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "exceptions") && (!strcmp(argv[2], "dispatch") || !strcmp(argv[2], "stop"))) {
        t->config.exceptions = !strcmp(argv[2], "stop") ? DX_EXCEPTIONS_STOP : DX_EXCEPTIONS_DISPATCH;
        dx_buf_printf(out, "exceptions = %s (monitor call; continue and step stop first chance, as a "
                           "debugger does: pass the signal on to deliver it)\n",
                      argv[2]);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "max-insns")) {
        errno = 0;
        unsigned long long n = strtoull(argv[2], &end, 0);
        if (!*end && !errno && argv[2][0] != '-') {
            dx_exec_options_of(t->exec)->max_insns = n;
            dx_buf_printf(out, "max-insns = %llu%s\n", n, n ? "" : " (no limit)");
            return 0;
        }
    }
    dx_buf_printf(out, "usage: monitor set max-insns N   (0 = no limit)\n"
                       "       monitor set syscalls emulate|stop\n"
                       "       monitor set exceptions dispatch|stop\n");
    return -1;
}

/* `monitor syscalls`: what is emulated; `on`/`off`: strace-like lines in
 * the debugger's console as runs make system calls. */
static int cmd_syscalls(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    if (argc == 2 && (!strcmp(argv[1], "on") || !strcmp(argv[1], "off"))) {
        FILE *trace = !strcmp(argv[1], "on") ? dx_target_syscall_log(t) : NULL;
        if (!strcmp(argv[1], "on") && !trace) {
            dx_buf_printf(out, "cannot trace system calls: out of memory\n");
            return -1;
        }
        dx_nt_options_of(t->nt)->trace = trace ? trace : t->config.trace_syscalls ? stderr : NULL;
        dx_buf_printf(out, "System calls traced: %s\n", argv[1]);
        return 0;
    }
    if (argc != 1) {
        dx_buf_printf(out, "usage: monitor syscalls [on|off]\n");
        return -1;
    }
    dx_buf_printf(out, "System calls: %s. Emulated services:\n",
                  dx_nt_options_of(t->nt)->policy == DX_SYSCALLS_STOP ? "stop" : "emulate");
    for (size_t i = 0; i < dx_nt_service_count(); i++)
        dx_buf_printf(out, "  %s\n", dx_nt_service_name(i));
    return 0;
}

/* `monitor stub FUNCTION VALUE`, or a service: `monitor stub NtXxx STATUS`. */
static int cmd_stub(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char spec[1200], err[DX_ERRLEN];
    if (argc != 3 || strlen(argv[1]) > 590 || strlen(argv[2]) > 590) {
        dx_buf_printf(out, "usage: monitor stub FUNCTION VALUE   (or a service: monitor stub NtXxx STATUS)\n");
        return -1;
    }
    snprintf(spec, sizeof spec, "%s=%s", argv[1], argv[2]);
    bool service = !strchr(argv[1], '!') && !strchr(argv[1], '+') && (!strncmp(argv[1], "Nt", 2) || !strncmp(argv[1], "Zw", 2));
    if ((service ? dx_nt_stub_syscall : dx_nt_stub)(t->nt, spec, err, sizeof err) != 0) {
        dx_buf_printf(out, "%s\n", err);
        return -1;
    }
    dx_buf_printf(out, "%s now returns %s\n", argv[1], argv[2]);
    return 0;
}

static int cmd_unstub(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char err[DX_ERRLEN];
    if (argc != 2) {
        dx_buf_printf(out, "usage: monitor unstub FUNCTION\n");
        return -1;
    }
    if (dx_nt_unstub(t->nt, argv[1], err, sizeof err) != 0) {
        dx_buf_printf(out, "%s\n", err);
        return -1;
    }
    dx_buf_printf(out, "%s runs again\n", argv[1]);
    return 0;
}

static int cmd_reset(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    char err[DX_ERRLEN];
    if (dx_target_back_to_dump(t, err, sizeof err) != 0) {
        dx_buf_printf(out, "Cannot reset: %s\n", err);
        return -1;
    }
    dx_buf_printf(out, "Session reset to the dump's state.\n");
    return 0;
}

static int cmd_info(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    if (argc == 2 && !strcmp(argv[1], "mappings"))
        return cmd_regions(t, argv, argc, out);
    dx_buf_printf(out, "usage: monitor info mappings\n");
    return -1;
}

/* gdb keeps the registers and memory it read: after the state moved
 * under it, it must read them again. */
#define REREAD "(gdb: `maintenance flush register-cache` shows it; `dx-goto`/`dx-snapshot` do that)\n"

static int cmd_snapshot(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char err[DX_ERRLEN];
    const char *verb = argc > 1 ? argv[1] : "";
    if (!strcmp(verb, "list") && argc == 2) {
        dx_snapshot_info info[64];
        size_t n = dx_exec_snapshot_list(t->exec, info, 64);
        if (!n)
            dx_buf_printf(out, "No snapshots.\n");
        for (size_t i = 0; i < n && i < 64; i++)
            dx_buf_printf(out, "%-20s at instruction %" PRIu64 ", %" PRIu64 " KiB of its own\n", info[i].name,
                          info[i].pos, info[i].bytes >> 10);
        return 0;
    }
    if (argc != 3 || (strcmp(verb, "save") && strcmp(verb, "restore") && strcmp(verb, "drop"))) {
        dx_buf_printf(out, "usage: monitor snapshot save|restore|drop NAME | list\n");
        return -1;
    }
    const char *name = argv[2];
    if (!strcmp(verb, "drop")) {
        if (dx_exec_snapshot_drop(t->exec, name) != 0) {
            dx_buf_printf(out, "No snapshot named %s.\n", name);
            return -1;
        }
        dx_buf_printf(out, "Snapshot %s dropped.\n", name);
        return 0;
    }
    bool save = !strcmp(verb, "save");
    int rc = save ? dx_exec_snapshot_save(t->exec, name, err, sizeof err)
                  : dx_exec_snapshot_restore(t->exec, name, err, sizeof err);
    if (rc != 0) {
        dx_buf_printf(out, "Cannot %s snapshot %s: %s\n", verb, name, err);
        return -1;
    }
    dx_buf_printf(out, save ? "Snapshot %s saved.\n" : "Snapshot %s restored. " REREAD, name);
    if (!save)
        t->last.tid = dx_exec_current_thread(t->exec);
    return 0;
}

static int cmd_history(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)argv, (void)argc;
    dx_history_info h;
    dx_exec_history_info(t->exec, &h);
    if (!dx_exec_history_on(t->exec)) {
        dx_buf_printf(out, "No history is recorded (the server runs with --history-mb 0).\n");
        return 0;
    }
    dx_buf_printf(out,
                  "At instruction %" PRIu64 " of %" PRIu64 " recorded; reachable from %" PRIu64 ".\n"
                  "%" PRIu64 " checkpoints, %" PRIu64 " snapshots, %.2f MiB of %.2f MiB",
                  h.pos, h.end, h.start, h.checkpoints, h.snapshots, (double)h.bytes / (1 << 20),
                  (double)h.cap_bytes / (1 << 20));
    if (h.dropped)
        dx_buf_printf(out, "; %" PRIu64 " oldest checkpoints dropped to stay under it", h.dropped);
    dx_buf_printf(out, ".\n");
    return 0;
}

static int cmd_goto(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    char err[DX_ERRLEN], *end;
    dx_stop stop;
    uint64_t pos = argc == 2 ? strtoull(argv[1], &end, 0) : 0;
    if (argc != 2 || *end) {
        dx_buf_printf(out, "usage: monitor goto N  (an instruction of the history: monitor history)\n");
        return -1;
    }
    if (dx_exec_goto(t->exec, pos, &stop, err, sizeof err) != 0) {
        dx_buf_printf(out, "Cannot go to instruction %" PRIu64 ": %s\n", pos, err);
        return -1;
    }
    dx_buf_printf(out, "At instruction %" PRIu64 ", 0x%" PRIx64 ". " REREAD, pos, stop.pc);
    return 0;
}

static const struct {
    const char *name, *help;
    command_fn fn;
} commands[] = {
    {"help", "this list", cmd_help},
    {"call", "FUNCTION [ARG...]  call a function of the dump (see README for argument syntax)", cmd_call},
    {"modules", "the dump's modules", cmd_modules},
    {"threads", "the dump's threads", cmd_threads},
    {"regions", "captured memory, as `info proc mappings` prints it", cmd_regions},
    {"info", "mappings  the same as regions", cmd_info},
    {"exception", "the dump's exception", cmd_exception},
    {"trace", "on|off [FILE]  trace executed instructions (to the server's stderr or FILE)", cmd_trace},
    {"coverage", "start FILE | stop  record the basic blocks run, as a drcov log (Lighthouse, bncov)",
     cmd_coverage},
    {"tenet", "start FILE | stop  trace every instruction for Tenet (registers and memory)", cmd_tenet},
    {"set", "max-insns N | syscalls emulate|stop | exceptions dispatch|stop  instruction limit (0 = none); "
            "system call and exception policy", cmd_set},
    {"syscalls", "[on|off]  emulated services; trace system calls to this console", cmd_syscalls},
    {"stub", "FUNCTION VALUE  the function (or NtXxx service) returns VALUE at once", cmd_stub},
    {"unstub", "FUNCTION  run it again", cmd_unstub},
    {"reset", "drop this session's changes: memory and registers as in the dump", cmd_reset},
    {"snapshot", "save|restore|drop NAME | list  the session's state, kept to come back to", cmd_snapshot},
    {"history", "what the session's recorded history holds (reverse-stepi, reverse-continue)", cmd_history},
    {"goto", "N  travel to instruction N of the history", cmd_goto},
};

static int cmd_help(dx_target *t, char **argv, size_t argc, dx_buf *out)
{
    (void)t, (void)argv, (void)argc;
    dx_buf_printf(out, "DumpExec monitor commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        dx_buf_printf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    return 0;
}

int dx_monitor(dx_target *t, const char *line, dx_buf *out)
{
    char **argv, err[DX_ERRLEN];
    size_t argc;
    if (dx_words_split(line, &argv, &argc, err, sizeof err) != 0) {
        dx_buf_printf(out, "%s\n", err);
        return -1;
    }
    int rc = -1;
    if (argc == 0) {
        rc = cmd_help(t, argv, argc, out);
    } else {
        size_t i = 0, n = sizeof commands / sizeof commands[0];
        while (i < n && strcmp(commands[i].name, argv[0]))
            i++;
        if (i < n)
            rc = commands[i].fn(t, argv, argc, out);
        else
            dx_buf_printf(out, "unknown monitor command '%s'; try 'monitor help'\n", argv[0]);
    }
    dx_words_free(argv, argc);
    return rc;
}
