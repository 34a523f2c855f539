/* Files and the console: writes to the PEB's standard output and error
 * handles are the guest's console output, shown to the user; every file
 * the guest tries to open or create is refused as Windows would refuse
 * it, so the host's files are never touched. */
#include "internal.h"

#include <stdlib.h>

#define CONSOLE_CHUNK 65536

/* The name in an OBJECT_ATTRIBUTES, for the trace (UTF-16 to ASCII). */
static void trace_name(nt_call *c, uint64_t attributes)
{
    uint64_t name_ptr, buffer;
    uint16_t len;
    uint16_t text[128];
    char out[129];
    if (!nt_read_u64(c, attributes + 0x10, &name_ptr) || !nt_read(c, name_ptr, &len, 2) ||
        !nt_read_u64(c, name_ptr + 8, &buffer))
        return;
    size_t n = len / 2 < 128 ? len / 2 : 128;
    if (!nt_read(c, buffer, text, n * 2))
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = text[i] < 0x80 && text[i] >= 0x20 ? (char)text[i] : '?';
    out[n] = 0;
    nt_trace(c, "\"%s\"", out);
}

/* NtCreateFile(*handle, access, attributes, *iosb, ...) and NtOpenFile */
static uint32_t create_file(nt_call *c)
{
    trace_name(c, c->args[2]);
    return STATUS_ACCESS_DENIED;
}

/* NtQueryAttributesFile(attributes, *info) */
static uint32_t query_attributes_file(nt_call *c)
{
    trace_name(c, c->args[0]);
    return STATUS_OBJECT_NAME_NOT_FOUND;
}

/* NtWriteFile(handle, event, apc, apc_context, *iosb, buffer, length, *offset, *key) */
static uint32_t write_file(nt_call *c)
{
    dx_nt *nt = c->nt;
    uint64_t handle = c->args[0], iosb = c->args[4], buffer = c->args[5];
    uint32_t length = (uint32_t)c->args[6];
    int fd = handle && handle == nt->console_handles[1] ? 1 : handle && handle == nt->console_handles[2] ? 2 : 0;
    if (!fd)
        return STATUS_INVALID_HANDLE;
    if (!dx_exec_writable(nt->exec, iosb, 16))
        return STATUS_ACCESS_VIOLATION;
    char *text = malloc(CONSOLE_CHUNK);
    if (!text)
        return STATUS_NO_MEMORY;
    for (uint32_t done = 0; done < length;) {
        uint32_t n = length - done < CONSOLE_CHUNK ? length - done : CONSOLE_CHUNK;
        if (!nt_read(c, buffer + done, text, n)) {
            free(text);
            return STATUS_ACCESS_VIOLATION;
        }
        if (nt->opt.console)
            nt->opt.console(nt->opt.user, fd, text, n);
        done += n;
    }
    free(text);
    uint64_t status_block[2] = {STATUS_SUCCESS, length};
    nt_write(c, iosb, status_block, sizeof status_block);
    return STATUS_SUCCESS;
}

static int console_fd(const dx_nt *nt, uint64_t handle)
{
    for (int fd = 0; fd < 3; fd++)
        if (handle && handle == nt->console_handles[fd])
            return fd;
    return -1;
}

/* NtQueryVolumeInformationFile(handle, *iosb, info, length, class):
 * GetFileType asks the console's device type. */
static uint32_t query_volume_information(nt_call *c)
{
    if (console_fd(c->nt, c->args[0]) < 0)
        return STATUS_INVALID_HANDLE;
    if (c->args[4] != 4) /* FileFsDeviceInformation */
        return STATUS_INVALID_INFO_CLASS;
    if (c->args[3] < 8)
        return STATUS_INFO_LENGTH_MISMATCH;
    uint32_t device[2] = {0x50 /* FILE_DEVICE_CONSOLE */, 0};
    uint64_t iosb[2] = {STATUS_SUCCESS, 8};
    if (!nt_write(c, c->args[2], device, sizeof device) || !nt_write(c, c->args[1], iosb, sizeof iosb))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

/* NtReadFile(handle, ...): the console has no input to give. */
static uint32_t read_file(nt_call *c)
{
    if (console_fd(c->nt, c->args[0]) != 0)
        return STATUS_INVALID_HANDLE;
    uint64_t iosb[2] = {0xc0000011u /* STATUS_END_OF_FILE */, 0};
    if (!nt_write(c, c->args[4], iosb, sizeof iosb))
        return STATUS_ACCESS_VIOLATION;
    return 0xc0000011u;
}

/* __wine_dbg_write(text, length): Wine's own debug log (an ERR or FIXME
 * line from its ntdll). Not the program's output: shown in the trace. */
static uint32_t wine_debug_write(nt_call *c)
{
    char text[256];
    uint64_t len = c->args[1] < sizeof text - 1 ? c->args[1] : sizeof text - 1;
    if (!nt_read(c, c->args[0], text, len))
        return 0;
    while (len && text[len - 1] == '\n')
        len--;
    nt_trace(c, "\"%.*s\"", (int)len, text);
    return (uint32_t)c->args[1];
}

const nt_service nt_file_services[] = {
    {"__wine_dbg_write", wine_debug_write, 2},
    {"NtQueryVolumeInformationFile", query_volume_information, 5},
    {"NtReadFile", read_file, 9},
    {"NtWriteFile", write_file, 9},
    {"NtCreateFile", create_file, 11},
    {"NtOpenFile", create_file, 6},
    {"NtQueryAttributesFile", query_attributes_file, 2},
};
const size_t nt_file_count = sizeof nt_file_services / sizeof nt_file_services[0];
