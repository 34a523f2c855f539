/* Queries: qSupported (and telling clients apart), lldb's host and
 * process info, monitor commands and the Windows extras. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

#define TRIPLE "x86_64-pc-windows-msvc"

/* qSupported features tell the clients apart (see shared notes §8). */
static rsp_client fingerprint(const char *features)
{
    if (!*features || (strstr(features, "xmlRegisters=i386,arm,mips") && !strstr(features, "arc")))
        return RSP_CLIENT_IDA;
    if (strstr(features, "xmlRegisters=i386,arm,mips,arc"))
        return RSP_CLIENT_LLDB;
    if (strstr(features, "qRelocInsn+") && !strstr(features, "swbreak+"))
        return RSP_CLIENT_R2;
    return RSP_CLIENT_GDB;
}

static int supported(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *features = pkt[10] == ':' ? pkt + 11 : "";
    if (s->opt.client == RSP_CLIENT_AUTO && !s->fingerprinted) {
        s->client = fingerprint(features); /* the first qSupported is the client's own */
        s->fingerprinted = true;
    }
    dx_buf_printf(reply, "PacketSize=%zx;qXfer:features:read+;qXfer:threads:read+;swbreak+;hwbreak+;vContSupported+",
                  s->opt.max_packet);
    /* IDA asks for a PID and fails to attach when no-ack mode is offered. */
    if (s->client != RSP_CLIENT_IDA)
        dx_buf_printf(reply, ";QStartNoAckMode+");
    if (s->ops->libraries_xml)
        dx_buf_printf(reply, ";qXfer:libraries:read+");
    if (s->ops->exec_file)
        dx_buf_printf(reply, ";qXfer:exec-file:read+");
    if (s->ops->siginfo)
        dx_buf_printf(reply, ";qXfer:siginfo:read+");
    if (s->ops->reverse)
        dx_buf_printf(reply, ";ReverseStep+;ReverseContinue+");
    return 0;
}

static int host_info(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    bool process = pkt[1] == 'P';
    if (process)
        dx_buf_printf(reply, "pid:%x;parent-pid:1;real-uid:0;real-gid:0;effective-uid:0;effective-gid:0;",
                      s->ops->pid ? s->ops->pid(s->target) : 1);
    dx_buf_printf(reply, "triple:");
    rsp_hex_encode(reply, TRIPLE, strlen(TRIPLE));
    dx_buf_printf(reply, ";ostype:windows;endian:little;ptrsize:8;%s", process ? "" : "vendor:pc;");
    return 0;
}

static int monitor(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    const char *hex = pkt + 6;
    size_t hexlen = len - 6;
    char *cmd = malloc(hexlen / 2 + 1);
    int n = cmd ? rsp_hex_decode(hex, hexlen, (uint8_t *)cmd, hexlen / 2) : -1;
    if (n < 0 || !s->ops->monitor) {
        free(cmd);
        if (n < 0)
            rsp_error(reply, 0x01);
        return 0;
    }
    cmd[n] = 0;
    dx_buf out = {0};
    int rc = s->ops->monitor(s->target, cmd, &out);
    free(cmd);
    if (rc == RSP_ASYNC) {
        s->monitor_running = true;
        dx_buf_free(&out);
        return RSP_ASYNC;
    }
    /* O packets go out first; the final OK or error is the reply. */
    rsp_monitor_text(s, dx_buf_str(&out), s->out);
    dx_buf_free(&out);
    dx_buf_printf(reply, rc == 0 ? "OK" : "E01");
    return 0;
}

static int tib_address(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + strlen("qGetTIBAddr:");
    uint64_t tid;
    if (!s->ops->tib_address)
        return 0;
    if (!rsp_parse_hex_u64(&p, &tid))
        rsp_error(reply, 0x01);
    else
        dx_buf_printf(reply, "%llx", (unsigned long long)s->ops->tib_address(s->target, (uint32_t)tid));
    return 0;
}

static int memory_region(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)len;
    const char *p = pkt + strlen("qMemoryRegionInfo:");
    uint64_t addr;
    if (!s->ops->memory_region)
        return 0;
    if (!rsp_parse_hex_u64(&p, &addr) || s->ops->memory_region(s->target, addr, reply) != 0)
        rsp_error(reply, 0x01);
    return 0;
}

static int empty(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)s, (void)pkt, (void)len, (void)reply;
    return 0;
}

static int symbol(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    (void)s, (void)pkt, (void)len;
    dx_buf_printf(reply, "OK");
    return 0;
}

const rsp_packet rsp_query_packets[] = {
    {"qSupported", false, supported},
    {"qHostInfo", true, host_info},
    {"qProcessInfo", true, host_info},
    {"qRcmd,", false, monitor},
    {"qGetTIBAddr:", false, tib_address},
    {"qMemoryRegionInfo:", false, memory_region},
    {"qOffsets", true, empty}, /* a reply would relocate the exe a second time */
    {"qSymbol:", false, symbol},
    {NULL, false, NULL},
};
