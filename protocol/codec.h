/* The GDB Remote Serial Protocol packet codec: bytes in, events and reply
 * bytes out. No I/O, no threads, no globals; one rsp_codec per connection.
 *
 * Incoming:
 *  - '$' payload '#' xx, xx = hex (either case) of the byte sum mod 256 of
 *    the raw bytes between '$' and '#'. The payload handed out is unescaped
 *    ('}' x -> x ^ 0x20) and run-length expanded (c '*' n -> c repeated
 *    n - 29 more times), NUL-terminated.
 *  - A packet that fails its checksum, or is malformed (a '*' with nothing
 *    before it, a repeat byte below 30, a '#' right after '}' or '*'), gives
 *    no event and a '-' (nothing in no-ack mode).
 *  - A '$' before the '#' drops the partial packet silently and starts a new
 *    one: gdb resends the whole packet after a timeout, and answering the
 *    dropped part with '-' would only make it send that packet once more.
 *  - A payload longer than max_packet is not buffered past max_packet bytes;
 *    its '#xx' gives RSP_EV_OVERSIZED (acked with '+', so the client does not
 *    resend it in a loop) carrying the prefix that was kept.
 *  - Outside a packet: 0x03 is RSP_EV_INTERRUPT, '-' resends the last packet
 *    we framed, '+' and anything else are ignored.
 *
 * Outgoing: rsp_codec_send() escapes '$', '#', '}' and '*' in every payload,
 * so handlers pass raw bytes (binary qXfer chunks too) and never escape.
 * Clients unescape only the replies that may carry binary data, so a text
 * reply must not contain those four characters at all. */
#ifndef RSP_CODEC_H
#define RSP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum rsp_event_kind {
    RSP_EV_NONE,
    RSP_EV_PACKET,
    RSP_EV_INTERRUPT,
    RSP_EV_OVERSIZED,
} rsp_event_kind;

/* data is valid until the next rsp_codec call and NUL-terminated. For
 * RSP_EV_OVERSIZED it holds only the first (at most max_packet) bytes. */
typedef struct rsp_event {
    rsp_event_kind kind;
    const uint8_t *data;
    size_t len;
} rsp_event;

/* How often one packet is sent again for a '-'. */
#define RSP_MAX_RESENDS 8

typedef struct rsp_codec {
    size_t max_packet; /* largest payload accepted; advertise as PacketSize */
    bool noack;
    int state; /* where in a packet we are: ST_* in codec.c */
    uint8_t *pkt; /* decoded payload, grown on demand up to max_packet + 1 */
    size_t len, cap;
    uint8_t sum;       /* running checksum of the raw bytes */
    int cs_hi;         /* first checksum digit, -1 if not hex */
    bool oversized;    /* payload passed max_packet: the rest is discarded */
    bool malformed;    /* bad escape or run length: reject at '#' */
    dx_buf last_sent;  /* framed copy of our last packet, for '-' */
    unsigned resends;  /* times last_sent went out again */
} rsp_codec;

void rsp_codec_init(rsp_codec *c, size_t max_packet);
void rsp_codec_free(rsp_codec *c);
/* Consumes input until one event is complete or the input runs out and
 * returns the bytes consumed; call again with the rest. Acks, naks and
 * retransmissions are appended to out. */
size_t rsp_codec_feed(rsp_codec *c, const uint8_t *in, size_t n, rsp_event *ev, dx_buf *out);
/* Frames $payload#xx into out and remembers it for retransmission. */
void rsp_codec_send(rsp_codec *c, const void *payload, size_t len, dx_buf *out);
/* Called after the OK to QStartNoAckMode was sent: that OK is still acked
 * (or nakked, and then resent) by the peer, later packets are not. */
void rsp_codec_set_noack(rsp_codec *c, bool on);
/* Byte sum mod 256, as in the '#xx' trailer. */
uint8_t rsp_checksum(const void *data, size_t len);

#endif
