/* Resuming and stop replies: vCont, c, s, C, S and '?'. */
#include "internal.h"

#include <stdio.h>

#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16

static void expedite(rsp_session *s, uint32_t tid, int reg, dx_buf *reply)
{
    uint8_t buf[16];
    int n = s->ops->reg_read(s->target, tid, reg, buf);
    if (n <= 0)
        return;
    dx_buf_printf(reply, "%02x:", reg);
    rsp_hex_encode(reply, buf, (size_t)n);
    dx_buf_printf(reply, ";");
}

static const char *lldb_reason(const rsp_stop *stop)
{
    switch (stop->kind) {
    case RSP_STOP_SWBREAK:
    case RSP_STOP_HWBREAK: return "breakpoint";
    case RSP_STOP_WATCH:
    case RSP_STOP_RWATCH:
    case RSP_STOP_AWATCH: return "watchpoint";
    /* a signal, not "exception": lldb then passes it on when it continues,
     * as gdb does, which delivers the exception to the guest's handlers */
    default: return stop->signal == 5 ? "trace" : "signal";
    }
}

/* lldb calls a trap nobody set "trace"; a process captured as it ran is
 * what an attach shows, stopped by SIGSTOP. */
#define SIGSTOP_ 19

void rsp_stop_reply(rsp_session *s, const rsp_stop *stop, dx_buf *reply)
{
    uint32_t tid = stop->tid ? stop->tid : rsp_current_tid(s);
    bool lldb = s->client == RSP_CLIENT_LLDB;
    int signal = lldb && stop->frozen ? SIGSTOP_ : stop->signal;
    dx_buf_printf(reply, "T%02xthread:%x;", signal & 0xff, tid);
    expedite(s, tid, REG_RIP, reply);
    expedite(s, tid, REG_RSP, reply);
    expedite(s, tid, REG_RBP, reply);
    switch (stop->kind) {
    case RSP_STOP_SWBREAK: dx_buf_printf(reply, "swbreak:;"); break;
    case RSP_STOP_HWBREAK: dx_buf_printf(reply, "hwbreak:;"); break;
    case RSP_STOP_WATCH: dx_buf_printf(reply, "watch:%llx;", (unsigned long long)stop->watch_addr); break;
    case RSP_STOP_RWATCH: dx_buf_printf(reply, "rwatch:%llx;", (unsigned long long)stop->watch_addr); break;
    case RSP_STOP_AWATCH: dx_buf_printf(reply, "awatch:%llx;", (unsigned long long)stop->watch_addr); break;
    default: break;
    }
    if (stop->no_history)
        dx_buf_printf(reply, "replaylog:begin;");
    if (!lldb)
        return;
    /* lldb prints these; gdb ignores keys it does not know, but IDA and r2
     * parse stop replies more strictly, so only lldb gets them. */
    if (signal)
        dx_buf_printf(reply, "reason:%s;", stop->frozen ? "signal" : lldb_reason(stop));
    if (stop->description[0]) {
        dx_buf_printf(reply, "description:");
        rsp_hex_encode(reply, stop->description, strlen(stop->description));
        dx_buf_printf(reply, ";");
    }
    if (s->threads_in_stop) {
        uint32_t tids[4096];
        size_t n = s->ops->threads(s->target, tids, 4096);
        dx_buf_printf(reply, "threads:");
        for (size_t i = 0; i < n; i++)
            dx_buf_printf(reply, "%s%x", i ? "," : "", tids[i]);
        dx_buf_printf(reply, ";");
    }
}

static int why_stopped(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    rsp_stop stop = {.signal = 5};
    s->ops->last_stop(s->target, 0, &stop);
    rsp_stop_reply(s, &stop, reply);
    return 0;
}

static int thread_stop_info(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + strlen("qThreadStopInfo");
    uint64_t tid;
    if (!rsp_parse_hex_u64(&p, &tid)) {
        rsp_error(reply, 0x01);
        return 0;
    }
    rsp_stop stop = {.signal = 5};
    s->ops->last_stop(s->target, (uint32_t)tid, &stop);
    stop.tid = (uint32_t)tid;
    rsp_stop_reply(s, &stop, reply);
    return 0;
}

static int start(rsp_session *s, uint32_t tid, bool step, int signal, dx_buf *reply)
{
    if (!s->ops->resume) {
        rsp_error(reply, 0x01);
        return 0;
    }
    int rc = s->ops->resume(s->target, tid, step, signal);
    if (rc == RSP_ASYNC) {
        s->running = true;
        return RSP_ASYNC;
    }
    rsp_error(reply, 0x01);
    return 0;
}

/* c [addr], s [addr], C sig[;addr], S sig[;addr]: resume at addr if given. */
static int legacy_resume(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 1;
    uint64_t sig = 0, addr;
    bool with_signal = pkt[0] == 'C' || pkt[0] == 'S';
    if (with_signal && (!rsp_parse_hex_u64(&p, &sig) || (*p && *p++ != ';'))) {
        rsp_error(reply, 0x01);
        return 0;
    }
    uint32_t tid = rsp_current_tid(s);
    if (*p) {
        uint8_t buf[8];
        if (!rsp_parse_hex_u64(&p, &addr)) {
            rsp_error(reply, 0x01);
            return 0;
        }
        memcpy(buf, &addr, 8);
        s->ops->reg_write(s->target, tid, REG_RIP, buf, 8);
    }
    return start(s, tid, pkt[0] == 's' || pkt[0] == 'S', (int)sig, reply);
}

static int vcont_query(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)s, (void)pkt, (void)len;
    dx_buf_printf(reply, "vCont;c;C;s;S");
    return 0;
}

/* vCont;action[:tid]... All-stop with one thread running at a time: a step
 * action (for its thread, or the current one) wins over continue, as gdb's
 * `vCont;s:1a0;c` means "step 1a0, keep the others stopped"; then one
 * that passes a signal on, as lldb's `vCont;c:e4;C0b:24` after a fault of
 * thread 24 means "deliver it there". */
static int vcont(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    bool step = false, any = false;
    uint32_t tid = 0;
    int signal = 0, best = -1;
    for (const char *p = pkt + 5; *p == ';'; ) {
        char action = *++p;
        uint64_t sig = 0, t = 0;
        if (!action)
            break;
        p++;
        if ((action == 'C' || action == 'S') && !rsp_parse_hex_u64(&p, &sig))
            break;
        if (*p == ':') {
            p++;
            if (p[0] == '-' && p[1] == '1')
                p += 2;
            else if (!rsp_parse_hex_u64(&p, &t))
                break;
        }
        if (action != 'c' && action != 'C' && action != 's' && action != 'S')
            break;
        bool is_step = action == 's' || action == 'S';
        int rank = is_step ? 2 : sig ? 1 : 0;
        if (rank > best) {
            best = rank;
            step = is_step;
            tid = (uint32_t)t;
            signal = (int)sig;
        }
        any = true;
        while (*p && *p != ';')
            p++;
    }
    if (!any) {
        rsp_error(reply, 0x01);
        return 0;
    }
    return start(s, tid ? tid : rsp_current_tid(s), step, signal, reply);
}

const rsp_packet rsp_resume_packets[] = {
    {"?", true, why_stopped},
    {"qThreadStopInfo", false, thread_stop_info},
    {"vCont?", true, vcont_query},
    {"vCont;", false, vcont},
    {"c", false, legacy_resume},
    {"s", false, legacy_resume},
    {"C", false, legacy_resume},
    {"S", false, legacy_resume},
    {NULL, false, NULL},
};
