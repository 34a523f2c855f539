/* The C API in brief: open a dump, make an executor, call a function.
 * Build against an installed DumpExec:
 *   cc call_add2.c $(pkg-config --cflags --libs dumpexec) -o call_add2
 * Run: ./call_add2 testprog_full.dmp   (prints "add2(3, 5) = 13") */
#include <dumpexec/dump.h>
#include <dumpexec/exec.h>
#include <dumpexec/pe.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    char err[DX_ERRLEN];
    dx_dump *d;
    dx_exec *e;
    uint64_t fn;
    if (argc != 2 || dx_dump_open(argv[1], &d, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", argc != 2 ? "usage: call_add2 DUMP" : err);
        return 2;
    }
    if (dx_exec_new(d, NULL, &e, err, sizeof err) != 0 || dx_dump_resolve(d, "testprog!add2", &fn, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    dx_arg args[2] = {{.kind = DX_ARG_INT, .i = 3}, {.kind = DX_ARG_INT, .i = 5}};
    dx_call_result r;
    dx_exec_call(e, fn, args, 2, NULL, &r);
    int ok = r.stop.kind == DX_STOP_RETURNED;
    if (ok)
        printf("add2(3, 5) = %lld\n", (long long)r.rax);
    dx_call_result_free(&r);
    dx_exec_free(e);
    dx_dump_close(d);
    return ok ? 0 : 3;
}
