/* libFuzzer: guest-chosen arguments to every service nt/ emulates, called
 * through the dump's own ntdll stubs: wild pointers, read-only memory,
 * pointers into input-controlled structures, absurd sizes, any handle and
 * class. Nothing may crash, and no service touches the host (nt/ opens no
 * file by design). The dump is $DX_FUZZ_DUMP; one executor serves every
 * input, reset in between. Input: records of a service byte, then six
 * arguments of a selector byte and 8 value bytes; the first 256 bytes of
 * input fill the guest buffer arguments may point into. */
#include "exec.h"
#include "nt.h"
#include "pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NARGS 6
#define RECORD (1 + NARGS * 9)

static dx_dump *dump;
static dx_exec *exec;
static dx_nt *nt;
static uint64_t buffer, code;
static uint64_t services[64];
static size_t nservices;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *path = getenv("DX_FUZZ_DUMP");
    char err[DX_ERRLEN];
    dx_exec_options o = {.max_insns = 5000, .timeout = 0.05, .max_session_mb = 64};
    if (!path || dx_dump_open(path, &dump, err, sizeof err) != 0 || dx_exec_new(dump, &o, &exec, err, sizeof err) != 0 ||
        dx_nt_new(exec, NULL, &nt, err, sizeof err) != 0 ||
        dx_dump_resolve(dump, "testprog!g_buf", &buffer, err, sizeof err) != 0 ||
        dx_dump_resolve(dump, "testprog!add2", &code, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_nt: set DX_FUZZ_DUMP to the full fixture dump (%s)\n", path ? err : "unset");
        exit(1);
    }
    for (size_t i = 0; i < dx_nt_service_count() && nservices < 63; i++) {
        char name[128];
        snprintf(name, sizeof name, "ntdll!%s", dx_nt_service_name(i));
        if (dx_dump_resolve(dump, name, &services[nservices], err, sizeof err) == 0)
            nservices++;
    }
    if (dx_dump_resolve(dump, "ntdll!NtCreateUserProcess", &services[nservices], err, sizeof err) == 0)
        nservices++; /* one the layer does not emulate: a named stop */
    return 0;
}

static uint64_t value(uint8_t selector, uint64_t raw)
{
    switch (selector % 5) {
    case 0: return raw;
    case 1: return buffer + raw % 256;        /* writable, input-controlled */
    case 2: return code + raw % 64;           /* mapped, read-only */
    case 3: return raw % 64;                  /* small numbers: classes, sizes */
    default: return ~0ull - raw % 4;          /* pseudo-handles */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[DX_ERRLEN];
    if (dx_exec_reset(exec, err, sizeof err) != 0)
        return 0;
    dx_nt_reset(nt);
    size_t fill = size < 256 ? size : 256;
    dx_exec_write(exec, buffer, data, fill, err, sizeof err);
    for (size_t at = fill; at + RECORD <= size && nservices; at += RECORD) {
        uint64_t fn = services[data[at] % nservices];
        dx_arg args[NARGS];
        for (int i = 0; i < NARGS; i++) {
            uint64_t raw;
            memcpy(&raw, data + at + 1 + 9 * i + 1, 8);
            args[i] = (dx_arg){.kind = DX_ARG_INT, .i = value(data[at + 1 + 9 * i], raw)};
        }
        dx_call_result r;
        dx_exec_call(exec, fn, args, NARGS, NULL, &r);
        dx_call_result_free(&r);
    }
    return 0;
}
