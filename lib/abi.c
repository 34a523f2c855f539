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

#define F FIELD
static const abi_entry abi[] = {
    STRUCT(dx_context) F(dx_context, flags) F(dx_context, rax) F(dx_context, rcx) F(dx_context, rdx)
    F(dx_context, rbx) F(dx_context, rsp) F(dx_context, rbp) F(dx_context, rsi) F(dx_context, rdi)
    F(dx_context, r8) F(dx_context, r9) F(dx_context, r10) F(dx_context, r11) F(dx_context, r12)
    F(dx_context, r13) F(dx_context, r14) F(dx_context, r15) F(dx_context, rip) F(dx_context, eflags)
    F(dx_context, mxcsr) F(dx_context, cs) F(dx_context, ds) F(dx_context, es) F(dx_context, fs)
    F(dx_context, gs) F(dx_context, ss) F(dx_context, dr0) F(dx_context, dr1) F(dx_context, dr2)
    F(dx_context, dr3) F(dx_context, dr6) F(dx_context, dr7) F(dx_context, fcw) F(dx_context, fsw)
    F(dx_context, fop) F(dx_context, ftw) F(dx_context, fioff) F(dx_context, fooff) F(dx_context, fiseg)
    F(dx_context, foseg) F(dx_context, st) F(dx_context, xmm)
    STRUCT(dx_thread) F(dx_thread, tid) F(dx_thread, suspend_count) F(dx_thread, priority_class)
    F(dx_thread, priority) F(dx_thread, teb) F(dx_thread, stack_start) F(dx_thread, stack_size)
    F(dx_thread, has_context) F(dx_thread, context) F(dx_thread, name) F(dx_thread, has_info)
    F(dx_thread, start_address) F(dx_thread, create_time)
    STRUCT(dx_module) F(dx_module, base) F(dx_module, size) F(dx_module, checksum) F(dx_module, timestamp)
    F(dx_module, path) F(dx_module, basename) F(dx_module, pdb) F(dx_module, pdb_guid) F(dx_module, pdb_age)
    STRUCT(dx_range) F(dx_range, base) F(dx_range, size) F(dx_range, file_offset)
    STRUCT(dx_region) F(dx_region, base) F(dx_region, size) F(dx_region, alloc_base) F(dx_region, alloc_protect)
    F(dx_region, protect) F(dx_region, state) F(dx_region, type)
    STRUCT(dx_exception) F(dx_exception, tid) F(dx_exception, code) F(dx_exception, flags)
    F(dx_exception, record) F(dx_exception, address) F(dx_exception, nparams) F(dx_exception, params)
    F(dx_exception, has_context) F(dx_exception, context)
    STRUCT(dx_sysinfo) F(dx_sysinfo, arch) F(dx_sysinfo, level) F(dx_sysinfo, revision) F(dx_sysinfo, ncpus)
    F(dx_sysinfo, product_type) F(dx_sysinfo, major) F(dx_sysinfo, minor) F(dx_sysinfo, build)
    F(dx_sysinfo, platform) F(dx_sysinfo, csd_version)
    STRUCT(dx_buf) F(dx_buf, data) F(dx_buf, len) F(dx_buf, cap) F(dx_buf, oom)
    STRUCT(dx_exec_options) F(dx_exec_options, max_insns) F(dx_exec_options, timeout)
    F(dx_exec_options, unmapped_zero) F(dx_exec_options, max_session_mb) F(dx_exec_options, code_buffer_kb)
    STRUCT(dx_stop) F(dx_stop, kind) F(dx_stop, pc) F(dx_stop, addr) F(dx_stop, access) F(dx_stop, syscall_nr)
    F(dx_stop, code) F(dx_stop, flags) F(dx_stop, nparams) F(dx_stop, params) F(dx_stop, unhandled)
    F(dx_stop, insns) F(dx_stop, insn) F(dx_stop, detail)
    STRUCT(dx_arg) F(dx_arg, kind) F(dx_arg, i) F(dx_arg, d) F(dx_arg, text) F(dx_arg, size)
    STRUCT(dx_call_options) F(dx_call_options, variadic)
    STRUCT(dx_call_result) F(dx_call_result, stop) F(dx_call_result, rax) F(dx_call_result, xmm0)
    F(dx_call_result, nbufs) F(dx_call_result, bufs) F(dx_call_result, buf_sizes)
    STRUCT(dx_abi_call_block) F(dx_abi_call_block, exec) F(dx_abi_call_block, options)
    F(dx_abi_call_block, result) F(dx_abi_call_block, fn) F(dx_abi_call_block, nargs)
    FLEXIBLE(dx_abi_call_block, args)
    STRUCT(dx_nt_options) F(dx_nt_options, policy) F(dx_nt_options, exceptions) F(dx_nt_options, trace)
    F(dx_nt_options, console) F(dx_nt_options, user)
};
#undef F

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

/* sizeof(type.field), or (size_t)-1 for a field not described here. */
size_t dx_abi_field_size(const char *type, const char *field)
{
    const abi_entry *a = abi_find(type, field);
    return a ? a->size : (size_t)-1;
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
