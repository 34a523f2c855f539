/* dump_exec: list a dump, call a function in it, or serve it to debuggers. */
#include "describe.h"
#include "dump.h"
#include "exec.h"
#include "nt.h"
#include "pe.h"
#include "server.h"
#include "symsrv.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_STOPPED = 3, EXIT_USAGE = 2 };

typedef struct options {
    bool json, variadic;
    const char *dump_path, *trace_file, *coverage_file, *tenet_file, *images;
    bool trace, trace_json, trace_syscalls;
    dx_syscall_policy syscalls;
    dx_exception_policy exceptions;
    const char *stubs[64], *stub_syscalls[64];
    size_t nstubs, nstub_syscalls;
    bool has_thread;
    uint32_t thread;
    dx_exec_options exec;
    char **call; /* FUNCTION ARG... */
    int ncall;
    bool serve;
    dx_server_options server;
} options;

static void usage(FILE *to)
{
    fputs("usage: dump_exec [OPTIONS] DUMP                      list what the dump holds\n"
          "       dump_exec [OPTIONS] DUMP FUNCTION [ARG...]     call a function in it\n"
          "       dump_exec --listen [HOST:]PORT [OPTIONS] DUMP  serve it to gdb, lldb, IDA...\n"
          "\n"
          "FUNCTION: 0x140001530, module!export or module+0x1530\n"
          "ARG:      42 -7 0x2a (integers)  ptr:0x7ff000000  3.14 1e-3 (double)  f32:1.5 (float)\n"
          "          str:\"text\" wstr:\"text\" (pointer to a NUL-terminated copy)  buf:64 (zeroed buffer, printed after)\n"
          "\n"
          "options:\n"
          "  --listen ADDR        serve the dump: [HOST:]PORT, [V6]:PORT or unix:PATH\n"
          "                       (HOST defaults to 127.0.0.1; others print a warning)\n"
          "  --serve              serve on 127.0.0.1:1234\n"
          "  --client NAME        gdb, lldb, ida or r2: skip telling clients apart\n"
          "  --osabi windows      announce the Windows OS ABI (Windows-aware gdb builds)\n"
          "  --symbols DIR        serve the files in DIR whose names match the dump's modules\n"
          "                       (case-insensitively) to the debugger, for their symbols\n"
          "  --libraries symbols  name only those modules in the library list (default: all)\n"
          "  --max-sessions N     debugger connections served at once (default 64)\n"
          "  --history-mb N       history each session keeps for reverse execution (default 256; 0 = none)\n"
          "  --images PATH        module images from PE files where the dump lacks them: ';'-separated\n"
          "                       folders or symbol stores (default: _NT_EXECUTABLE_IMAGE_PATH,\n"
          "                       then _NT_SYMBOL_PATH)\n"
          "  --json               print as JSON\n"
          "  --trace              print every executed instruction to stderr\n"
          "  --trace-file FILE    ... to FILE instead\n"
          "  --trace-json FILE    ... to FILE as JSON Lines, for scripts\n"
          "  --coverage FILE      write the basic blocks the call ran as a drcov log (Lighthouse, bncov)\n"
          "  --tenet FILE         write a Tenet trace of the call (registers and memory per instruction)\n"
          "  --syscalls MODE      emulate (default): serve the NT system calls DumpExec knows;\n"
          "                       stop: every system call stops the call\n"
          "  --trace-syscalls     print every system call to stderr, as strace does\n"
          "  --exceptions MODE    dispatch (default): faults and RaiseException reach the dump's\n"
          "                       own handlers (VEH, SEH, C++); stop: a fault stops the call\n"
          "  --stub FUNCTION=VALUE  the function returns VALUE at once (repeatable)\n"
          "  --stub-syscall NtXxx=STATUS  the service returns STATUS (repeatable)\n"
          "  --max-insns N        stop a call after N instructions (default 100000; 0 = no limit)\n"
          "  --timeout SECONDS    stop a call after this long\n"
          "  --thread TID         run on this thread of the dump (decimal or 0x-hex)\n"
          "  --unmapped zero      memory the dump lacks reads as zeros instead of faulting\n"
          "  --max-session-mb N   memory a session may map (default 1024)\n"
          "  --variadic           also pass floating arguments in integer registers\n"
          "  -h, --help           this text\n",
          to);
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 0);
    return isdigit((unsigned char)*s) && !*end && !errno;
}

static int bad_value(const char *opt, const char *v)
{
    fprintf(stderr, "dump_exec: bad value for %s: '%s'\n", opt, v);
    return -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    enum { O_LISTEN = 300, O_SERVE, O_CLIENT, O_OSABI, O_SYMBOLS, O_LIBRARIES, O_MAX_SESSIONS, O_HISTORY_MB, O_IMAGES };
    enum { O_JSON = 256, O_TRACE, O_TRACE_FILE, O_MAX_INSNS, O_TIMEOUT, O_THREAD, O_UNMAPPED, O_MAX_MB, O_VARIADIC,
           O_SYSCALLS, O_TRACE_SYSCALLS, O_EXCEPTIONS, O_STUB, O_STUB_SYSCALL, O_COVERAGE, O_TENET, O_TRACE_JSON };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"serve", no_argument, NULL, O_SERVE},
        {"client", required_argument, NULL, O_CLIENT},
        {"osabi", required_argument, NULL, O_OSABI},
        {"symbols", required_argument, NULL, O_SYMBOLS},
        {"libraries", required_argument, NULL, O_LIBRARIES},
        {"max-sessions", required_argument, NULL, O_MAX_SESSIONS},
        {"history-mb", required_argument, NULL, O_HISTORY_MB},
        {"images", required_argument, NULL, O_IMAGES},
        {"json", no_argument, NULL, O_JSON},
        {"trace", no_argument, NULL, O_TRACE},
        {"trace-file", required_argument, NULL, O_TRACE_FILE},
        {"trace-json", required_argument, NULL, O_TRACE_JSON},
        {"coverage", required_argument, NULL, O_COVERAGE},
        {"tenet", required_argument, NULL, O_TENET},
        {"max-insns", required_argument, NULL, O_MAX_INSNS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"thread", required_argument, NULL, O_THREAD},
        {"unmapped", required_argument, NULL, O_UNMAPPED},
        {"max-session-mb", required_argument, NULL, O_MAX_MB},
        {"variadic", no_argument, NULL, O_VARIADIC},
        {"syscalls", required_argument, NULL, O_SYSCALLS},
        {"trace-syscalls", no_argument, NULL, O_TRACE_SYSCALLS},
        {"exceptions", required_argument, NULL, O_EXCEPTIONS},
        {"stub", required_argument, NULL, O_STUB},
        {"stub-syscall", required_argument, NULL, O_STUB_SYSCALL},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    o->exec.max_insns = DX_DEFAULT_MAX_INSNS;
    o->server.history_mb = DX_DEFAULT_HISTORY_MB;
    int c;
    uint64_t v;
    char *end;
    /* "+": options end at DUMP, so negative numbers among ARGs stay arguments. */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: o->serve = true, o->server.listen = optarg; break;
        case O_SERVE: o->serve = true; break;
        case O_CLIENT: {
            static const char *const names[] = {"auto", "gdb", "lldb", "ida", "r2"};
            size_t i = 0;
            while (i < 5 && strcmp(optarg, names[i]))
                i++;
            if (i == 5)
                return bad_value("--client (gdb, lldb, ida or r2)", optarg);
            o->server.rsp.client = (rsp_client)i;
            break;
        }
        case O_OSABI:
            if (strcmp(optarg, "windows") && strcmp(optarg, "none"))
                return bad_value("--osabi (windows or none)", optarg);
            o->server.rsp.osabi_windows = !strcmp(optarg, "windows");
            break;
        case O_SYMBOLS: o->server.symbols_dir = optarg; break;
        case O_IMAGES: o->images = optarg; break;
        case O_LIBRARIES:
            if (strcmp(optarg, "all") && strcmp(optarg, "symbols"))
                return bad_value("--libraries (all or symbols)", optarg);
            o->server.libraries_with_symbols_only = !strcmp(optarg, "symbols");
            break;
        case O_MAX_SESSIONS:
            if (!parse_u64(optarg, &v) || !v || v > 100000)
                return bad_value("--max-sessions (1 to 100000)", optarg);
            o->server.max_sessions = (unsigned)v;
            break;
        case O_JSON: o->json = true; break;
        case O_TRACE: o->trace = true; break;
        case O_TRACE_FILE: o->trace = true, o->trace_file = optarg; break;
        case O_TRACE_JSON: o->trace = o->trace_json = true, o->trace_file = optarg; break;
        case O_COVERAGE: o->coverage_file = optarg; break;
        case O_TENET: o->tenet_file = optarg; break;
        case O_VARIADIC: o->variadic = true; break;
        case O_SYSCALLS:
            if (strcmp(optarg, "emulate") && strcmp(optarg, "stop"))
                return bad_value("--syscalls (emulate or stop)", optarg);
            o->syscalls = !strcmp(optarg, "stop") ? DX_SYSCALLS_STOP : DX_SYSCALLS_EMULATE;
            o->server.syscalls = o->syscalls;
            break;
        case O_TRACE_SYSCALLS: o->trace_syscalls = o->server.trace_syscalls = true; break;
        case O_EXCEPTIONS:
            if (strcmp(optarg, "dispatch") && strcmp(optarg, "stop"))
                return bad_value("--exceptions (dispatch or stop)", optarg);
            o->exceptions = !strcmp(optarg, "stop") ? DX_EXCEPTIONS_STOP : DX_EXCEPTIONS_DISPATCH;
            o->server.exceptions = o->exceptions;
            break;
        case O_STUB:
        case O_STUB_SYSCALL: {
            bool fn = c == O_STUB;
            size_t *n = fn ? &o->nstubs : &o->nstub_syscalls;
            if (!strchr(optarg, '=') || *n == 64)
                return bad_value(fn ? "--stub (FUNCTION=VALUE, at most 64)" : "--stub-syscall (NtXxx=STATUS, at most 64)",
                                 optarg);
            (fn ? o->stubs : o->stub_syscalls)[(*n)++] = optarg;
            break;
        }
        case O_MAX_INSNS:
            if (!parse_u64(optarg, &o->exec.max_insns))
                return bad_value("--max-insns", optarg);
            break;
        case O_HISTORY_MB:
            o->server.history_mb = strtod(optarg, &end);
            if (*end || !(o->server.history_mb >= 0) || o->server.history_mb > 1e6)
                return bad_value("--history-mb", optarg);
            break;
        case O_MAX_MB:
            if (!parse_u64(optarg, &o->exec.max_session_mb) || !o->exec.max_session_mb)
                return bad_value("--max-session-mb", optarg);
            break;
        case O_TIMEOUT:
            o->exec.timeout = strtod(optarg, &end);
            if (*end || !(o->exec.timeout > 0))
                return bad_value("--timeout", optarg);
            break;
        case O_THREAD:
            if (!parse_u64(optarg, &v) || v > UINT32_MAX)
                return bad_value("--thread", optarg);
            o->has_thread = true, o->thread = (uint32_t)v;
            break;
        case O_UNMAPPED:
            if (strcmp(optarg, "zero") && strcmp(optarg, "fault"))
                return bad_value("--unmapped (zero or fault)", optarg);
            o->exec.unmapped_zero = !strcmp(optarg, "zero");
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "dump_exec: no dump file given\n");
        usage(stderr);
        return -1;
    }
    o->server.stubs = o->stubs, o->server.nstubs = o->nstubs;
    o->server.stub_syscalls = o->stub_syscalls, o->server.nstub_syscalls = o->nstub_syscalls;
    o->dump_path = argv[optind];
    o->call = argv + optind + 1;
    o->ncall = argc - optind - 1;
    return 0;
}

static int list_dump(const dx_dump *d, const options *o)
{
    dx_buf out = {0};
    if (o->json)
        dx_describe_json(d, &out);
    else
        dx_describe_all(d, &out);
    fputs(dx_buf_str(&out), stdout);
    dx_buf_free(&out);
    return 0;
}

static void print_json_result(const dx_exec *e, const dx_call_result *res)
{
    dx_buf out = {0}, stop = {0};
    dx_stop_describe(e, &res->stop, &stop);
    uint64_t bits;
    double d;
    memcpy(&bits, res->xmm0, 8);
    memcpy(&d, res->xmm0, 8);
    dx_buf_printf(&out, "{\"returned\":%s,\"rax\":\"0x%" PRIx64 "\",\"xmm0\":{\"double\":%.17g,\"bits\":\"0x%016" PRIx64
                        "\"},\"instructions\":%" PRIu64 ",\"stop\":",
                  res->stop.kind == DX_STOP_RETURNED ? "true" : "false", res->rax, isfinite(d) ? d : 0.0, bits,
                  res->stop.insns);
    dx_buf_json_string(&out, dx_buf_str(&stop));
    dx_buf_printf(&out, ",\"pc\":\"0x%" PRIx64 "\",\"buffers\":[", res->stop.pc);
    for (size_t i = 0; i < res->nbufs; i++) {
        dx_buf_printf(&out, "%s\"", i ? "," : "");
        for (size_t j = 0; j < res->buf_sizes[i]; j++)
            dx_buf_printf(&out, "%02x", res->bufs[i][j]);
        dx_buf_printf(&out, "\"");
    }
    dx_buf_printf(&out, "]}\n");
    fputs(dx_buf_str(&out), stdout);
    dx_buf_free(&out);
    dx_buf_free(&stop);
}

/* The guest's console, on stdout, every line marked with where it went. */
typedef struct console_state {
    bool mid_line[3];
} console_state;

static void print_console(void *user, int fd, const char *text, size_t len)
{
    console_state *st = user;
    if (fd == DX_NT_DEBUG_STRING) { /* as a debugger shows it: a line of its own */
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        printf("[guest debug string] %.*s\n", (int)len, text);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (!st->mid_line[fd])
            fputs(fd == 2 ? "[guest stderr] " : "[guest stdout] ", stdout);
        putchar(text[i]);
        st->mid_line[fd] = text[i] != '\n';
    }
}

static void end_console(console_state *st)
{
    for (int fd = 1; fd < 3; fd++)
        if (st->mid_line[fd])
            putchar('\n');
}

static int apply_stubs(dx_nt *nt, const options *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->nstubs; i++)
        if (dx_nt_stub(nt, o->stubs[i], err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < o->nstub_syscalls; i++)
        if (dx_nt_stub_syscall(nt, o->stub_syscalls[i], err, errlen) != 0)
            return -1;
    return 0;
}

/* --coverage: the file opened before the call (a bad path fails at once), the blocks after it. */
static FILE *start_coverage(dx_exec *e, const options *o)
{
    FILE *f = fopen(o->coverage_file, "wb");
    if (!f)
        fprintf(stderr, "dump_exec: %s: %s\n", o->coverage_file, strerror(errno));
    else if (dx_exec_coverage_start(e) != 0) {
        fprintf(stderr, "dump_exec: out of memory for coverage\n");
        fclose(f);
        f = NULL;
    }
    return f;
}

static int end_coverage(dx_exec *e, FILE *f, const char *path)
{
    size_t n = dx_exec_coverage_count(e);
    int rc = dx_exec_coverage_write(e, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "dump_exec: %s: cannot write the coverage\n", path);
        return -1;
    }
    fprintf(stderr, "Coverage: %zu blocks run, drcov log in %s\n", n, path);
    return 0;
}

static int call_function(const dx_dump *d, const options *o)
{
    char err[DX_ERRLEN];
    uint64_t fn;
    if (dx_dump_resolve(d, o->call[0], &fn, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        return EXIT_USAGE;
    }
    dx_arg *args;
    size_t nargs;
    if (dx_args_parse(d, (const char *const *)o->call + 1, (size_t)o->ncall - 1, &args, &nargs, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        return EXIT_USAGE;
    }
    dx_exec *e;
    if (dx_exec_new(d, &o->exec, &e, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        dx_args_free(args, nargs);
        return EXIT_USAGE;
    }
    FILE *trace = NULL, *coverage = NULL, *tenet = NULL;
    int rc = 0;
    console_state console = {0};
    dx_nt_options nto = {.policy = o->syscalls, .exceptions = o->exceptions,
                         .trace = o->trace_syscalls ? stderr : NULL, .console = print_console, .user = &console};
    dx_nt *nt = NULL;
    if (dx_nt_new(e, &nto, &nt, err, sizeof err) != 0 || apply_stubs(nt, o, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        rc = EXIT_USAGE;
    } else if (o->has_thread && dx_exec_select_thread(e, o->thread) != 0) {
        fprintf(stderr, "dump_exec: no thread %u (0x%x) in the dump\n", o->thread, o->thread);
        rc = EXIT_USAGE;
    } else if (o->trace && !(trace = o->trace_file ? fopen(o->trace_file, "w") : stderr)) {
        fprintf(stderr, "dump_exec: %s: %s\n", o->trace_file, strerror(errno));
        rc = EXIT_USAGE;
    } else if (o->coverage_file && !(coverage = start_coverage(e, o))) {
        rc = EXIT_USAGE;
    } else if (o->tenet_file && (!(tenet = fopen(o->tenet_file, "w")) || dx_exec_tenet(e, tenet) != 0)) {
        fprintf(stderr, "dump_exec: %s: %s\n", o->tenet_file, tenet ? "cannot trace" : strerror(errno));
        rc = EXIT_USAGE;
    }
    if (rc == 0) {
        if (o->trace_json)
            dx_exec_trace_json(e, trace);
        else
            dx_exec_trace(e, trace);
        dx_call_result res;
        dx_call_options co = {.variadic = o->variadic};
        dx_exec_call(e, fn, args, nargs, &co, &res);
        end_console(&console);
        if (o->json) {
            print_json_result(e, &res);
        } else {
            dx_buf out = {0};
            dx_call_result_describe(e, &res, &out);
            fputs(dx_buf_str(&out), res.stop.kind == DX_STOP_RETURNED ? stdout : stderr);
            dx_buf_free(&out);
        }
        rc = res.stop.kind == DX_STOP_RETURNED ? 0 : EXIT_STOPPED;
        dx_call_result_free(&res);
        if (coverage && end_coverage(e, coverage, o->coverage_file) != 0 && rc == 0)
            rc = EXIT_USAGE;
        coverage = NULL;
        if (tenet)
            fprintf(stderr, "Tenet trace: %llu lines in %s\n", (unsigned long long)dx_exec_tenet_lines(e),
                    o->tenet_file);
    }
    dx_exec_trace(e, NULL);
    if (trace && trace != stderr)
        fclose(trace);
    if (coverage)
        fclose(coverage);
    dx_exec_tenet(e, NULL);
    if (tenet && fclose(tenet) != 0 && rc == 0) {
        fprintf(stderr, "dump_exec: %s: %s\n", o->tenet_file, strerror(errno));
        rc = EXIT_USAGE;
    }
    dx_nt_free(nt);
    dx_exec_free(e);
    dx_args_free(args, nargs);
    return rc;
}

static void print_attach_help(const char *address, void *user)
{
    const char *dump = user;
    printf("Serving %s on %s\n", dump, address);
    if (strncmp(address, "unix:", 5) != 0)
        printf("  gdb:  gdb -ex 'target remote %s'\n"
               "  lldb: lldb -o 'gdb-remote %s'\n",
               address, address);
    printf("Ctrl-C here stops the server.\n");
    fflush(stdout);
}

static int serve(const dx_dump *d, options *o)
{
    char err[DX_ERRLEN];
    if (o->ncall) {
        fprintf(stderr, "dump_exec: a server takes no FUNCTION (use 'monitor call' from the debugger)\n");
        return EXIT_USAGE;
    }
    o->server.exec = o->exec;
    o->server.on_listening = print_attach_help;
    o->server.user = (void *)o->dump_path;
    /* One malloc arena: each session's worker thread would otherwise get
     * one of its own, and memory freed into those stayed resident after
     * the sessions ended (the server trims the heap as each one ends).
     * Measured: 10,000 mixed client lives grew the server by 1.9 MiB with
     * glibc's default arenas, by 0.4 MiB with one. Runs allocate little. */
    mallopt(M_ARENA_MAX, 1);
    if (dx_serve(d, &o->server, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {0};
    if (parse_options(argc, argv, &o) != 0)
        return EXIT_USAGE;
    char err[DX_ERRLEN];
    dx_dump *d;
    if (dx_dump_open(o.dump_path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        return EXIT_USAGE;
    }
    const char *images = o.images ? o.images : getenv("_NT_EXECUTABLE_IMAGE_PATH");
    if (!images)
        images = getenv("_NT_SYMBOL_PATH");
    if (images && *images) {
        dx_buf report = {0};
        char *local = dx_symsrv_resolve(d, images, &report);
        dx_dump_add_images(d, local ? local : images, &report);
        fprintf(stderr, "%s", dx_buf_str(&report));
        dx_buf_free(&report);
        free(local);
    }
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */
    int rc = o.serve ? serve(d, &o) : o.ncall ? call_function(d, &o) : list_dump(d, &o);
    dx_dump_close(d);
    return rc;
}
