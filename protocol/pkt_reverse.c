/* Reverse execution: bs (one instruction back) and bc (back to the last
 * breakpoint or watchpoint, or the start of the history). The stop reply
 * comes as for a forward run; "replaylog:begin" says the history ran out. */
#include "internal.h"

static int reverse(rsp_session *s, bool step, dx_buf *reply)
{
    const rsp_reverse_ops *r = s->ops->reverse;
    uint32_t tid = rsp_current_tid(s);
    int rc = !r ? -1 : step ? r->step(s->target, tid) : r->cont(s->target, tid);
    if (rc == RSP_ASYNC) {
        s->running = true;
        return RSP_ASYNC;
    }
    if (r)
        rsp_error(reply, 0x01); /* else empty: not supported */
    return 0;
}

static int reverse_step(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    return reverse(s, true, reply);
}

static int reverse_continue(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)pkt, (void)len;
    return reverse(s, false, reply);
}

const rsp_packet rsp_reverse_packets[] = {
    {"bs", true, reverse_step},
    {"bc", true, reverse_continue},
    {NULL, false, NULL},
};
