/* Host I/O (vFile) and lldb's qFileLoadAddress: how a debugger reads the
 * symbol files the target offers. Replies are F<result>[;data] or F-1,<errno>. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>

#define GDB_ENOENT 2
#define GDB_EBADF 9
#define GDB_EINVAL 22

static void fail(dx_buf *reply, int err) { dx_buf_printf(reply, "F-1,%x", err); }

/* A hex-encoded path argument, up to the next ',' or the end. */
static char *hex_path(const char **p)
{
    const char *end = strchr(*p, ',');
    size_t hexlen = end ? (size_t)(end - *p) : strlen(*p);
    char *path = malloc(hexlen / 2 + 1);
    int n = path ? rsp_hex_decode(*p, hexlen, (uint8_t *)path, hexlen / 2) : -1;
    if (n < 0) {
        free(path);
        return NULL;
    }
    path[n] = 0;
    *p += hexlen;
    return path;
}

static int file_setfs(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    if (!s->ops->file_open)
        return 0;
    dx_buf_printf(reply, "F0");
    return 0;
}

static int file_open(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (!s->ops->file_open)
        return 0;
    const char *p = pkt + strlen("vFile:open:");
    char *path = hex_path(&p);
    int fd = path ? s->ops->file_open(s->target, path) : -1;
    free(path);
    if (fd < 0)
        fail(reply, GDB_ENOENT);
    else
        dx_buf_printf(reply, "F%x", fd);
    return 0;
}

static int file_pread(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (!s->ops->file_pread)
        return 0;
    const char *p = pkt + strlen("vFile:pread:");
    uint64_t fd, count, offset;
    if (!rsp_parse_addr_len(&p, &fd, &count) || *p++ != ',' || !rsp_parse_hex_u64(&p, &offset) || fd > INT_MAX) {
        fail(reply, GDB_EINVAL);
        return 0;
    }
    if (count > s->opt.max_packet / 2)
        count = s->opt.max_packet / 2; /* escaping may double it */
    uint8_t *buf = malloc(count ? count : 1);
    long n = buf ? s->ops->file_pread(s->target, (int)fd, buf, count, offset) : -1;
    if (n < 0) {
        fail(reply, GDB_EBADF);
    } else {
        dx_buf_printf(reply, "F%lx;", n);
        dx_buf_append(reply, buf, (size_t)n);
    }
    free(buf);
    return 0;
}

static int file_close(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (!s->ops->file_close)
        return 0;
    const char *p = pkt + strlen("vFile:close:");
    uint64_t fd;
    if (!rsp_parse_hex_u64(&p, &fd) || fd > INT_MAX || s->ops->file_close(s->target, (int)fd) != 0)
        fail(reply, GDB_EBADF);
    else
        dx_buf_printf(reply, "F0");
    return 0;
}

static int load_address(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (!s->ops->file_load_address)
        return 0;
    const char *p = pkt + strlen("qFileLoadAddress:");
    char *path = hex_path(&p);
    uint64_t base;
    if (path && s->ops->file_load_address(s->target, path, &base) == 0)
        dx_buf_printf(reply, "%llx", (unsigned long long)base);
    else
        rsp_error(reply, 0x01);
    free(path);
    return 0;
}

const rsp_packet rsp_file_packets[] = {
    {"vFile:setfs:", false, file_setfs},
    {"vFile:open:", false, file_open},
    {"vFile:pread:", false, file_pread},
    {"vFile:close:", false, file_close},
    {"qFileLoadAddress:", false, load_address},
    {NULL, false, NULL},
};
