/* Base packets: registers, memory, threads, ack mode, detach and kill. */
#include "internal.h"

#include <stdlib.h>

#define MAX_REG 16

uint32_t rsp_current_tid(rsp_session *s)
{
    uint32_t tids[1];
    if (s->g_tid)
        return s->g_tid;
    rsp_stop stop = {0};
    if (s->ops->last_stop) {
        s->ops->last_stop(s->target, 0, &stop);
        if (stop.tid)
            return stop.tid;
    }
    return s->ops->threads(s->target, tids, 1) ? tids[0] : 1;
}

uint32_t rsp_suffix_tid(rsp_session *s, const char *pkt)
{
    const char *t = strstr(pkt, ";thread:");
    uint64_t tid;
    if (t) {
        t += 8;
        if (rsp_parse_hex_u64(&t, &tid) && tid && tid <= UINT32_MAX)
            return (uint32_t)tid;
    }
    return rsp_current_tid(s);
}

bool rsp_parse_addr_len(const char **p, uint64_t *addr, uint64_t *len)
{
    return rsp_parse_hex_u64(p, addr) && *(*p)++ == ',' && rsp_parse_hex_u64(p, len);
}

static bool thread_exists(rsp_session *s, uint32_t tid)
{
    uint32_t tids[4096];
    size_t n = s->ops->threads(s->target, tids, 4096);
    for (size_t i = 0; i < n; i++)
        if (tids[i] == tid)
            return true;
    return false;
}

static int read_all_regs(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    uint32_t tid = rsp_suffix_tid(s, pkt);
    uint8_t buf[MAX_REG];
    for (int r = 0; r < RSP_NREGS; r++) {
        int n = s->ops->reg_read(s->target, tid, r, buf);
        if (n < 0) {
            rsp_error(reply, 0x16);
            return 0;
        }
        rsp_hex_encode(reply, buf, (size_t)n);
    }
    return 0;
}

static int write_all_regs(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    uint32_t tid = rsp_suffix_tid(s, pkt);
    const char *hex = pkt + 1, *end = memchr(pkt, ';', len);
    size_t hexlen = end ? (size_t)(end - hex) : len - 1;
    uint8_t buf[RSP_NREGS][MAX_REG];
    int sizes[RSP_NREGS], n = 0;
    /* Decode every register first, so that a bad digit anywhere writes none. */
    for (; n < RSP_NREGS && hexlen; n++) {
        int size = sizes[n] = s->ops->reg_read(s->target, tid, n, buf[n]);
        if (size < 0 || hexlen < (size_t)size * 2 || rsp_hex_decode(hex, (size_t)size * 2, buf[n], MAX_REG) != size) {
            rsp_error(reply, 0x16);
            return 0;
        }
        hex += size * 2;
        hexlen -= (size_t)size * 2;
    }
    for (int r = 0; r < n; r++) {
        if (s->ops->reg_write(s->target, tid, r, buf[r], (size_t)sizes[r]) != 0) {
            rsp_error(reply, 0x16);
            return 0;
        }
    }
    dx_buf_printf(reply, "OK");
    return 0;
}

static int read_reg(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 1;
    uint64_t r;
    uint8_t buf[MAX_REG];
    int n;
    if (!rsp_parse_hex_u64(&p, &r) || r >= RSP_NREGS ||
        (n = s->ops->reg_read(s->target, rsp_suffix_tid(s, pkt), (int)r, buf)) < 0) {
        rsp_error(reply, 0x45);
        return 0;
    }
    rsp_hex_encode(reply, buf, (size_t)n);
    return 0;
}

static int write_reg(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    const char *p = pkt + 1, *end = memchr(pkt, ';', len);
    uint64_t r;
    uint8_t buf[MAX_REG];
    if (!rsp_parse_hex_u64(&p, &r) || *p++ != '=' || r >= RSP_NREGS) {
        rsp_error(reply, 0x45);
        return 0;
    }
    size_t hexlen = (end ? (size_t)(end - p) : len - (size_t)(p - pkt));
    int n = rsp_hex_decode(p, hexlen, buf, sizeof buf);
    if (n <= 0 || s->ops->reg_write(s->target, rsp_suffix_tid(s, pkt), (int)r, buf, (size_t)n) != 0) {
        rsp_error(reply, 0x45);
        return 0;
    }
    dx_buf_printf(reply, "OK");
    return 0;
}

static int read_mem(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 1;
    uint64_t addr, n;
    if (!rsp_parse_addr_len(&p, &addr, &n)) {
        rsp_error(reply, 0x01);
        return 0;
    }
    size_t max = (s->opt.max_packet - 4) / 2;
    if (n > max)
        n = max;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = buf ? s->ops->mem_read(s->target, addr, buf, n) : 0;
    if (!got && n)
        rsp_error(reply, 0x14); /* nothing there: fail at once, never block */
    else
        rsp_hex_encode(reply, buf, got);
    free(buf);
    return 0;
}

static int write_mem(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    const char *p = pkt + 1;
    uint64_t addr, n;
    const char *colon = memchr(pkt, ':', len);
    if (!rsp_parse_addr_len(&p, &addr, &n) || !colon || n > s->opt.max_packet) {
        rsp_error(reply, 0x01);
        return 0;
    }
    const char *data = colon + 1;
    size_t datalen = len - (size_t)(data - pkt);
    uint8_t *buf = malloc(n ? n : 1);
    bool ok = buf != NULL;
    if (ok && pkt[0] == 'M')
        ok = datalen == n * 2 && rsp_hex_decode(data, datalen, buf, n) == (int)n;
    else if (ok)
        ok = datalen == n && (memcpy(buf, data, n), true);
    if (ok && n)
        ok = s->ops->mem_write(s->target, addr, buf, n) == 0;
    free(buf);
    if (ok)
        dx_buf_printf(reply, "OK");
    else
        rsp_error(reply, 0x0e);
    return 0;
}

static int set_thread(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 2;
    uint64_t tid = 0;
    if (p[0] == '-' && p[1] == '1') {
        tid = 0;
    } else if (!rsp_parse_hex_u64(&p, &tid) || (tid && !thread_exists(s, (uint32_t)tid))) {
        rsp_error(reply, 0x02);
        return 0;
    }
    if (pkt[1] == 'g')
        s->g_tid = (uint32_t)tid;
    dx_buf_printf(reply, "OK");
    return 0;
}

static int thread_alive(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 1;
    uint64_t tid;
    if (rsp_parse_hex_u64(&p, &tid) && thread_exists(s, (uint32_t)tid))
        dx_buf_printf(reply, "OK");
    else
        rsp_error(reply, 0x10);
    return 0;
}

static int thread_list(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (pkt[1] == 's') {
        dx_buf_printf(reply, "l");
        return 0;
    }
    uint32_t tids[4096];
    size_t n = s->ops->threads(s->target, tids, 4096);
    dx_buf_printf(reply, "m");
    for (size_t i = 0; i < n; i++)
        dx_buf_printf(reply, "%s%x", i ? "," : "", tids[i]);
    return 0;
}

static int current_thread(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    dx_buf_printf(reply, "QC%x", rsp_current_tid(s));
    return 0;
}

static int reply_text(dx_buf *reply, const char *text)
{
    dx_buf_printf(reply, "%s", text);
    return 0;
}

static int attached(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)s, (void)pkt, (void)len;
    return reply_text(reply, "1"); /* quitting detaches rather than kills */
}

/* Accepted even when not offered: lldb sends it before qSupported. */
static int no_ack(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    s->noack_pending = true; /* after this OK has gone out */
    return reply_text(reply, "OK");
}

static int thread_suffix(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    if (pkt[1] == 'T')
        s->thread_suffix = true;
    else
        s->threads_in_stop = true;
    return reply_text(reply, "OK");
}

static int detach(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    s->closing = true;
    return reply_text(reply, "OK");
}

static int kill_target(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    s->closing = true;
    return reply_text(reply, pkt[0] == 'k' ? "X09" : "OK");
}

static int ok(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)s, (void)pkt, (void)len;
    return reply_text(reply, "OK");
}

const rsp_packet rsp_base_packets[] = {
    {"g", false, read_all_regs},
    {"G", false, write_all_regs},
    {"p", false, read_reg},
    {"P", false, write_reg},
    {"m", false, read_mem},
    {"M", false, write_mem},
    {"X", false, write_mem},
    {"Hg", false, set_thread},
    {"Hc", false, set_thread},
    {"T", false, thread_alive},
    {"qfThreadInfo", true, thread_list},
    {"qsThreadInfo", true, thread_list},
    {"qC", true, current_thread},
    {"qAttached", false, attached},
    {"QStartNoAckMode", true, no_ack},
    {"QThreadSuffixSupported", true, thread_suffix},
    {"QListThreadsInStopReply", true, thread_suffix},
    {"QEnableErrorStrings", true, ok},
    {"D", false, detach},
    {"vKill", false, kill_target},
    {"k", true, kill_target},
    {NULL, false, NULL},
};
