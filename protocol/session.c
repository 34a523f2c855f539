/* The session: feeds the codec, finds each packet's handler in the
 * feature tables, and holds back packets that arrive while a run is under
 * way (all-stop: a client waits for the stop reply, but lldb may not). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static const rsp_packet *const tables[] = {
    rsp_base_packets, rsp_resume_packets, rsp_break_packets, rsp_query_packets, rsp_xfer_packets, rsp_file_packets,
    rsp_reverse_packets,
};

rsp_session *rsp_session_new(const rsp_target_ops *ops, void *target, const rsp_options *o)
{
    rsp_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ops = ops;
    s->target = target;
    if (o)
        s->opt = *o;
    if (!s->opt.max_packet)
        s->opt.max_packet = RSP_DEFAULT_PACKET;
    s->client = s->opt.client;
    rsp_codec_init(&s->codec, s->opt.max_packet);
    return s;
}

void rsp_session_free(rsp_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ndeferred; i++)
        dx_buf_free(&s->deferred[i]);
    rsp_codec_free(&s->codec);
    free(s);
}

bool rsp_session_running(const rsp_session *s) { return s->running || s->monitor_running; }
bool rsp_session_closing(const rsp_session *s) { return s->closing; }
rsp_client rsp_session_client(const rsp_session *s) { return s->client; }

void rsp_error(dx_buf *reply, int code)
{
    dx_buf_reset(reply);
    dx_buf_printf(reply, "E%02x", code & 0xff);
}

static rsp_handler find_handler(const char *pkt, size_t len)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const rsp_packet *p = tables[t]; p->prefix; p++) {
            size_t n = strlen(p->prefix);
            if (p->exact ? (len == n && memcmp(pkt, p->prefix, n) == 0) : (len >= n && memcmp(pkt, p->prefix, n) == 0))
                return p->handle;
        }
    }
    return NULL;
}

static void dispatch(rsp_session *s, const char *pkt, size_t len, dx_buf *out)
{
    dx_buf reply = {0};
    rsp_handler h = find_handler(pkt, len);
    s->out = out;
    int rc = h ? h(s, pkt, len, &reply) : 0;
    s->out = NULL;
    if (rc != RSP_ASYNC)
        rsp_codec_send(&s->codec, reply.data ? reply.data : "", reply.len, out);
    if (s->noack_pending) {
        rsp_codec_set_noack(&s->codec, true);
        s->noack_pending = false;
    }
    dx_buf_free(&reply);
}

static void defer(rsp_session *s, const uint8_t *data, size_t len)
{
    /* No client sends more than a few packets while waiting for a stop
     * reply; an answer now would be read as that reply, so the rest of a
     * flood is dropped. */
    if (s->ndeferred == RSP_MAX_DEFERRED)
        return;
    dx_buf *b = &s->deferred[s->ndeferred];
    *b = (dx_buf){0};
    dx_buf_append(b, data, len);
    if (b->oom) { /* replayed empty, it would be answered as another packet */
        dx_buf_free(b);
        s->closing = true;
        return;
    }
    s->ndeferred++;
}

static void handle_event(rsp_session *s, const rsp_event *ev, dx_buf *out)
{
    switch (ev->kind) {
    case RSP_EV_INTERRUPT:
        if (rsp_session_running(s) && s->ops->interrupt)
            s->ops->interrupt(s->target);
        break;
    case RSP_EV_OVERSIZED:
        if (!rsp_session_running(s)) /* during a run a reply would read as the stop reply */
            rsp_codec_send(&s->codec, "E0b", 3, out);
        break;
    case RSP_EV_PACKET:
        if (rsp_session_running(s))
            defer(s, ev->data, ev->len);
        else
            dispatch(s, (const char *)ev->data, ev->len, out);
        break;
    default: break;
    }
}

void rsp_session_input(rsp_session *s, const uint8_t *in, size_t n, dx_buf *out)
{
    while (n && !s->closing) {
        rsp_event ev = {0};
        size_t used = rsp_codec_feed(&s->codec, in, n, &ev, out);
        handle_event(s, &ev, out);
        in += used;
        n -= used;
        if (!used && ev.kind == RSP_EV_NONE)
            break;
    }
}

/* Packets held back during the run, in order, until one starts another run. */
static void replay_deferred(rsp_session *s, dx_buf *out)
{
    size_t i = 0;
    for (; i < s->ndeferred && !rsp_session_running(s) && !s->closing; i++) {
        dx_buf *b = &s->deferred[i];
        dispatch(s, dx_buf_str(b), b->len, out);
        dx_buf_free(b);
    }
    memmove(s->deferred, s->deferred + i, (s->ndeferred - i) * sizeof *s->deferred);
    s->ndeferred -= i;
}

void rsp_session_stopped(rsp_session *s, const rsp_stop *stop, dx_buf *out)
{
    dx_buf reply = {0};
    s->running = false;
    rsp_stop_reply(s, stop, &reply);
    rsp_codec_send(&s->codec, reply.data, reply.len, out);
    dx_buf_free(&reply);
    replay_deferred(s, out);
}

/* Monitor output goes out as O packets of hex text. */
void rsp_monitor_text(rsp_session *s, const char *text, dx_buf *out)
{
    size_t len = strlen(text), chunk = (s->opt.max_packet - 8) / 2;
    for (size_t at = 0; at < len; at += chunk) {
        dx_buf pkt = {0};
        dx_buf_append(&pkt, "O", 1);
        rsp_hex_encode(&pkt, text + at, len - at < chunk ? len - at : chunk);
        rsp_codec_send(&s->codec, pkt.data, pkt.len, out);
        dx_buf_free(&pkt);
    }
}

void rsp_session_console(rsp_session *s, const char *text, dx_buf *out) { rsp_monitor_text(s, text, out); }

void rsp_session_monitor_done(rsp_session *s, const char *text, bool ok, dx_buf *out)
{
    s->monitor_running = false;
    rsp_monitor_text(s, text, out);
    rsp_codec_send(&s->codec, ok ? "OK" : "E01", ok ? 2 : 3, out);
    replay_deferred(s, out);
}
