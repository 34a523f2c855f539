/* lib/ — libdumpexec.so as shipped: the engine (dump/, emu/) and the
 * Windows the guest sees (nt/), for programs and for foreign-function
 * callers such as the Python package's ctypes bindings.
 *
 * Those callers declare the library's structures again in their own
 * language, where nothing checks them against the headers. This file
 * gives them the truth to check against when they load the library: the
 * size of each structure they mirror and the offset of each field, so a
 * change to a header fails at import with a message, not with a guest
 * that reads the wrong bytes. */
#include "dumpexec.h"

#include <stddef.h>
#include <string.h>

#define FIELD(type, field) {#type, #field, offsetof(type, field), sizeof(((type *)0)->field)},
#define FLEXIBLE(type, field) {#type, #field, offsetof(type, field), 0},
#define STRUCT(type) {#type, NULL, 0, sizeof(type)},

typedef struct abi_entry {
    const char *type, *field;
    size_t offset, size;
} abi_entry;

static const abi_entry abi[] = {
    STRUCT(dx_context) FIELD(dx_context, flags) FIELD(dx_context, rax) FIELD(dx_context, rip)
    FIELD(dx_context, eflags) FIELD(dx_context, cs) FIELD(dx_context, dr0) FIELD(dx_context, fcw)
    FIELD(dx_context, ftw) FIELD(dx_context, fioff) FIELD(dx_context, fiseg) FIELD(dx_context, st)
    FIELD(dx_context, xmm)
    STRUCT(dx_thread) FIELD(dx_thread, tid) FIELD(dx_thread, teb) FIELD(dx_thread, stack_start)
    FIELD(dx_thread, has_context) FIELD(dx_thread, context) FIELD(dx_thread, name) FIELD(dx_thread, has_info)
    FIELD(dx_thread, start_address) FIELD(dx_thread, create_time)
    STRUCT(dx_module) FIELD(dx_module, base) FIELD(dx_module, size) FIELD(dx_module, timestamp)
    FIELD(dx_module, path) FIELD(dx_module, basename) FIELD(dx_module, pdb) FIELD(dx_module, pdb_guid)
    FIELD(dx_module, pdb_age)
    STRUCT(dx_range) FIELD(dx_range, base) FIELD(dx_range, size) FIELD(dx_range, file_offset)
    STRUCT(dx_region) FIELD(dx_region, base) FIELD(dx_region, alloc_base) FIELD(dx_region, alloc_protect)
    FIELD(dx_region, type)
    STRUCT(dx_exception) FIELD(dx_exception, tid) FIELD(dx_exception, code) FIELD(dx_exception, record)
    FIELD(dx_exception, address) FIELD(dx_exception, nparams) FIELD(dx_exception, params)
    FIELD(dx_exception, has_context) FIELD(dx_exception, context)
    STRUCT(dx_sysinfo) FIELD(dx_sysinfo, arch) FIELD(dx_sysinfo, ncpus) FIELD(dx_sysinfo, product_type)
    FIELD(dx_sysinfo, major) FIELD(dx_sysinfo, platform) FIELD(dx_sysinfo, csd_version)
    STRUCT(dx_buf) FIELD(dx_buf, data) FIELD(dx_buf, len) FIELD(dx_buf, cap) FIELD(dx_buf, oom)
    STRUCT(dx_exec_options) FIELD(dx_exec_options, max_insns) FIELD(dx_exec_options, timeout)
    FIELD(dx_exec_options, unmapped_zero) FIELD(dx_exec_options, max_session_mb)
    FIELD(dx_exec_options, code_buffer_kb)
    STRUCT(dx_stop) FIELD(dx_stop, kind) FIELD(dx_stop, pc) FIELD(dx_stop, addr) FIELD(dx_stop, access)
    FIELD(dx_stop, syscall_nr) FIELD(dx_stop, code) FIELD(dx_stop, flags) FIELD(dx_stop, nparams)
    FIELD(dx_stop, params) FIELD(dx_stop, unhandled) FIELD(dx_stop, insns) FIELD(dx_stop, insn)
    FIELD(dx_stop, detail)
    STRUCT(dx_arg) FIELD(dx_arg, kind) FIELD(dx_arg, i) FIELD(dx_arg, d) FIELD(dx_arg, text) FIELD(dx_arg, size)
    STRUCT(dx_call_options) FIELD(dx_call_options, variadic)
    STRUCT(dx_call_result) FIELD(dx_call_result, stop) FIELD(dx_call_result, rax) FIELD(dx_call_result, xmm0)
    FIELD(dx_call_result, nbufs) FIELD(dx_call_result, bufs) FIELD(dx_call_result, buf_sizes)
    STRUCT(dx_abi_call_block) FIELD(dx_abi_call_block, exec) FIELD(dx_abi_call_block, options)
    FIELD(dx_abi_call_block, result) FIELD(dx_abi_call_block, fn) FIELD(dx_abi_call_block, nargs)
    FLEXIBLE(dx_abi_call_block, args)
    STRUCT(dx_nt_options) FIELD(dx_nt_options, policy) FIELD(dx_nt_options, exceptions)
    FIELD(dx_nt_options, trace) FIELD(dx_nt_options, console) FIELD(dx_nt_options, user)
};

/* Named constants, so that callers take enumerations' values from here. */
#define VALUE(name) {#name, (long long)(name)},
typedef struct abi_value {
    const char *name;
    long long value;
} abi_value;

static const abi_value values[] = {
    VALUE(DX_STOP_NONE) VALUE(DX_STOP_RETURNED) VALUE(DX_STOP_STEP) VALUE(DX_STOP_BREAKPOINT)
    VALUE(DX_STOP_WATCHPOINT) VALUE(DX_STOP_ACCESS) VALUE(DX_STOP_DIVIDE) VALUE(DX_STOP_INVALID_OPCODE)
    VALUE(DX_STOP_INT3) VALUE(DX_STOP_SYSCALL) VALUE(DX_STOP_LIMIT) VALUE(DX_STOP_TIMEOUT)
    VALUE(DX_STOP_INTERRUPTED) VALUE(DX_STOP_MEMORY_LIMIT) VALUE(DX_STOP_STACK_OVERFLOW)
    VALUE(DX_STOP_EXCEPTION) VALUE(DX_STOP_ERROR)
    VALUE(DX_ACCESS_READ) VALUE(DX_ACCESS_WRITE) VALUE(DX_ACCESS_EXECUTE)
    VALUE(DX_ARG_INT) VALUE(DX_ARG_DOUBLE) VALUE(DX_ARG_FLOAT) VALUE(DX_ARG_STR) VALUE(DX_ARG_WSTR)
    VALUE(DX_ARG_BUF)
    VALUE(DX_WATCH_WRITE) VALUE(DX_WATCH_READ) VALUE(DX_WATCH_ACCESS)
    VALUE(DX_SYSCALLS_EMULATE) VALUE(DX_SYSCALLS_STOP) VALUE(DX_EXCEPTIONS_DISPATCH) VALUE(DX_EXCEPTIONS_STOP)
    VALUE(DX_NT_DEBUG_STRING) VALUE(DX_REG_COUNT) VALUE(DX_ERRLEN) VALUE(DX_DEFAULT_MAX_INSNS)
    VALUE(DX_MEM_COMMIT) VALUE(DX_MEM_FREE)
};

static const abi_entry *abi_find(const char *type, const char *field)
{
    for (size_t i = 0; i < sizeof abi / sizeof abi[0]; i++)
        if (!strcmp(abi[i].type, type) && (field ? abi[i].field && !strcmp(abi[i].field, field) : !abi[i].field))
            return &abi[i];
    return NULL;
}

/* sizeof(type), or 0 for a structure not described here. */
size_t dx_abi_size(const char *type)
{
    const abi_entry *a = abi_find(type, NULL);
    return a ? a->size : 0;
}

/* offsetof(type, field), or (size_t)-1 for a field not described here. */
size_t dx_abi_offset(const char *type, const char *field)
{
    const abi_entry *a = abi_find(type, field);
    return a ? a->offset : (size_t)-1;
}

/* The value of a constant of the headers by its name ("DX_STOP_LIMIT");
 * false for a name not described here. */
bool dx_abi_value(const char *name, long long *value)
{
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (!strcmp(values[i].name, name)) {
            *value = values[i].value;
            return true;
        }
    return false;
}

/* dx_exec_call with its arguments in one block (see dumpexec.h). */
int dx_abi_call(dx_abi_call_block *b)
{
    return dx_exec_call(b->exec, b->fn, b->args, (size_t)b->nargs, b->options, b->result);
}

/* The library's version, "0.1.0": a caller can say which one it found. */
const char *dx_version(void) { return DX_VERSION; }
