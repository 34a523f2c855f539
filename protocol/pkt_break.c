/* Z and z: breakpoints and watchpoints, kept by the target as hooks, never
 * as int3 bytes in memory, so memory reads show the original code. */
#include "internal.h"

static int breakpoint(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + 1;
    uint64_t type, addr, kind;
    if (!s->ops->breakpoint)
        return 0;
    if (!rsp_parse_hex_u64(&p, &type) || *p++ != ',' || !rsp_parse_addr_len(&p, &addr, &kind) || type > 4) {
        rsp_error(reply, 0x01);
        return 0;
    }
    if (s->ops->breakpoint(s->target, pkt[0] == 'Z', (int)type, addr, kind) != 0)
        rsp_error(reply, 0x0e);
    else
        dx_buf_printf(reply, "OK");
    return 0;
}

const rsp_packet rsp_break_packets[] = {
    {"Z", false, breakpoint},
    {"z", false, breakpoint},
    {NULL, false, NULL},
};
