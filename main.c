/* dump_exec: list a dump, call a function in it, or serve it to debuggers. */
#include "describe.h"
#include "dump.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_USAGE = 2 };

typedef struct options {
    bool json;
    const char *dump_path;
} options;

static void usage(FILE *to)
{
    fputs("usage: dump_exec [--json] DUMP\n"
          "  Lists what a Windows x64 minidump holds: system, modules, threads,\n"
          "  exception and memory.\n"
          "options:\n"
          "  --json        print as JSON\n"
          "  -h, --help    this text\n",
          to);
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dump_exec: %s\n", optind >= argc ? "no dump file given" : "unexpected arguments");
        usage(stderr);
        return -1;
    }
    o->dump_path = argv[optind];
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
    int rc = list_dump(d, &o);
    dx_dump_close(d);
    return rc;
}
