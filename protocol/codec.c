#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"

enum {
    ST_IDLE, /* between packets */
    ST_DATA, /* after '$' */
    ST_ESC,  /* after '}' */
    ST_RLE,  /* after '*' */
    ST_CS1,  /* after '#' */
    ST_CS2,  /* after the first checksum digit */
};

void rsp_codec_init(rsp_codec *c, size_t max_packet)
{
    *c = (rsp_codec){.max_packet = max_packet, .state = ST_IDLE};
}

void rsp_codec_free(rsp_codec *c)
{
    free(c->pkt);
    dx_buf_free(&c->last_sent);
    *c = (rsp_codec){0};
}

void rsp_codec_set_noack(rsp_codec *c, bool on) { c->noack = on; }

uint8_t rsp_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum;
}

static void begin_packet(rsp_codec *c)
{
    c->state = ST_DATA;
    c->len = 0;
    c->sum = 0;
    c->oversized = false;
    c->malformed = false;
}

static bool grow(rsp_codec *c, size_t need)
{
    if (need <= c->cap)
        return true;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > c->max_packet + 1)
        cap = c->max_packet + 1;
    uint8_t *grown = realloc(c->pkt, cap);
    if (!grown)
        return false;
    c->pkt = grown;
    c->cap = cap;
    return true;
}

/* How many of n more payload bytes can be stored. Anything past max_packet
 * marks the packet oversized, and from then on nothing is stored, so the
 * kept prefix is the same however the input was split. */
static size_t make_room(rsp_codec *c, size_t n)
{
    if (c->oversized)
        return 0;
    size_t fit = c->max_packet - c->len;
    if (n > fit)
        c->oversized = true;
    else
        fit = n;
    if (fit == 0 || grow(c, c->len + fit + 1))
        return fit;
    c->oversized = true; /* out of memory: we cannot hold it either */
    return 0;
}

static void put(rsp_codec *c, const uint8_t *p, size_t n)
{
    size_t fit = make_room(c, n);
    if (fit) {
        memcpy(c->pkt + c->len, p, fit);
        c->len += fit;
    }
}

/* Like gdb, any count byte from 30 up is taken (the spec asks senders for
 * printable ones, and never '#' or '$', which the caller already handled). */
static void repeat_last(rsp_codec *c, uint8_t count)
{
    if (count < 30 || (c->len == 0 && !c->oversized)) {
        c->malformed = true;
        return;
    }
    size_t fit = make_room(c, (size_t)count - 29);
    if (fit) {
        memset(c->pkt + c->len, c->pkt[c->len - 1], fit);
        c->len += fit;
    }
}

static bool is_special(uint8_t b) { return b == '$' || b == '#' || b == '}' || b == '*'; }

/* Plain payload bytes up to the next special one, in one go. */
static size_t take_span(rsp_codec *c, const uint8_t *in, size_t n)
{
    size_t i = 0;
    while (i < n && !is_special(in[i]))
        i++;
    c->sum += rsp_checksum(in, i);
    put(c, in, i);
    return i;
}

static void idle_byte(rsp_codec *c, uint8_t b, rsp_event *ev, dx_buf *out)
{
    if (b == 0x03) {
        ev->kind = RSP_EV_INTERRUPT;
    } else if (b == '-') {
        /* A peer that keeps naking one packet gets it a few times, not once
         * per '-' byte: a burst of them must not multiply the reply. */
        if (c->last_sent.len && c->resends < RSP_MAX_RESENDS) {
            dx_buf_append(out, c->last_sent.data, c->last_sent.len);
            c->resends++;
        }
    } else if (b == '+' && c->noack) {
        /* The peer acked the QStartNoAckMode OK: nothing left to resend. */
        dx_buf_reset(&c->last_sent);
    }
}

static void data_byte(rsp_codec *c, uint8_t b)
{
    if (b == '#') {
        c->state = ST_CS1;
        return;
    }
    c->sum += b;
    if (b == '}')
        c->state = ST_ESC;
    else if (b == '*')
        c->state = ST_RLE;
    else
        put(c, &b, 1);
}

/* The byte after '}' or '*'. A '#' there still ends the packet, so one
 * corrupt packet cannot swallow the next. */
static void prefixed_byte(rsp_codec *c, uint8_t b)
{
    if (b == '#') {
        c->malformed = true;
        c->state = ST_CS1;
        return;
    }
    c->sum += b;
    if (c->state == ST_ESC) {
        uint8_t x = b ^ 0x20;
        put(c, &x, 1);
    } else {
        repeat_last(c, b);
    }
    c->state = ST_DATA;
}

static void finish(rsp_codec *c, int cs_lo, rsp_event *ev, dx_buf *out)
{
    c->state = ST_IDLE;
    bool good = !c->malformed && c->cs_hi >= 0 && cs_lo >= 0 &&
                (uint8_t)(c->cs_hi << 4 | cs_lo) == c->sum;
    if (!c->noack)
        dx_buf_append(out, good ? "+" : "-", 1);
    if (!good)
        return;
    ev->kind = c->oversized ? RSP_EV_OVERSIZED : RSP_EV_PACKET;
    if (c->len) {
        c->pkt[c->len] = 0;
        ev->data = c->pkt;
        ev->len = c->len;
    }
}

static void step(rsp_codec *c, uint8_t b, rsp_event *ev, dx_buf *out)
{
    switch (c->state) {
    case ST_CS1:
        c->cs_hi = rsp_hex_value(b);
        c->state = ST_CS2;
        return;
    case ST_CS2:
        finish(c, rsp_hex_value(b), ev, out);
        return;
    }
    if (b == '$')
        begin_packet(c);
    else if (c->state == ST_IDLE)
        idle_byte(c, b, ev, out);
    else if (c->state == ST_DATA)
        data_byte(c, b);
    else
        prefixed_byte(c, b);
}

size_t rsp_codec_feed(rsp_codec *c, const uint8_t *in, size_t n, rsp_event *ev, dx_buf *out)
{
    *ev = (rsp_event){.kind = RSP_EV_NONE, .data = (const uint8_t *)""};
    size_t i = 0;
    while (i < n && ev->kind == RSP_EV_NONE) {
        if (c->state == ST_DATA && !is_special(in[i]))
            i += take_span(c, in + i, n - i);
        else
            step(c, in[i++], ev, out);
    }
    return i;
}

void rsp_codec_send(rsp_codec *c, const void *payload, size_t len, dx_buf *out)
{
    size_t start = out->len;
    dx_buf_append(out, "$", 1);
    rsp_escape_binary(out, payload, len);
    if (out->oom)
        return;
    uint8_t sum = rsp_checksum(out->data + start + 1, out->len - start - 1);
    dx_buf_printf(out, "#%02x", sum);
    c->resends = 0;
    dx_buf_reset(&c->last_sent);
    if (!c->noack && !out->oom)
        dx_buf_append(&c->last_sent, out->data + start, out->len - start);
}
