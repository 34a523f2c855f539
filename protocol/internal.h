/* Private to protocol/: the session and the packet handlers, grouped by
 * feature, one file each. */
#ifndef RSP_INTERNAL_H
#define RSP_INTERNAL_H

#include "codec.h"
#include "hex.h"
#include "session.h"

#include <string.h>

#define RSP_DEFAULT_PACKET 0x4000
#define RSP_MAX_DEFERRED 64

struct rsp_session {
    const rsp_target_ops *ops;
    void *target;
    rsp_options opt;
    rsp_codec codec;
    rsp_client client;
    uint32_t g_tid; /* Hg: the thread g/G/p/P/m use; 0 = current */
    bool thread_suffix, threads_in_stop;
    bool running, monitor_running, closing;
    bool noack_pending, fingerprinted;
    dx_buf *out; /* during dispatch: where packets before the reply go */
    dx_buf deferred[RSP_MAX_DEFERRED]; /* packets that arrived during a run */
    size_t ndeferred;
};

/* A handler answers one packet: 0 with the reply in *reply (empty means
 * "not supported"), or RSP_ASYNC when a run started and the reply comes
 * later. */
typedef int (*rsp_handler)(rsp_session *s, const char *pkt, size_t len, dx_buf *reply);

typedef struct rsp_packet {
    const char *prefix;
    bool exact; /* the whole packet, not a prefix */
    rsp_handler handle;
} rsp_packet;

extern const rsp_packet rsp_base_packets[], rsp_resume_packets[], rsp_break_packets[], rsp_query_packets[],
    rsp_xfer_packets[], rsp_file_packets[], rsp_reverse_packets[];

/* Helpers shared by the handlers. */
void rsp_error(dx_buf *reply, int code);
uint32_t rsp_current_tid(rsp_session *s);
/* ";thread:XXXX;" suffix of lldb's p/P/g/G, else the Hg thread. */
uint32_t rsp_suffix_tid(rsp_session *s, const char *pkt);
void rsp_stop_reply(rsp_session *s, const rsp_stop *stop, dx_buf *reply);
void rsp_target_xml(const rsp_session *s, dx_buf *out);
/* Send a qXfer-style window of doc: 'm'/'l' + bytes [off, off+len). */
void rsp_xfer_window(const dx_buf *doc, uint64_t off, uint64_t len, dx_buf *reply);
void rsp_monitor_text(rsp_session *s, const char *text, dx_buf *out);
/* Parse "addr,len" in hex; p is advanced past it. */
bool rsp_parse_addr_len(const char **p, uint64_t *addr, uint64_t *len);

#endif
