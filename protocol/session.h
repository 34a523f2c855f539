/* One debugger connection's protocol state: bytes in, bytes out, no I/O.
 * The server feeds what the socket read and writes what comes back; when
 * a packet starts a run, the target returns RSP_ASYNC and the server later
 * reports the outcome with rsp_session_stopped or rsp_session_monitor_done. */
#ifndef RSP_SESSION_H
#define RSP_SESSION_H

#include "target.h"

typedef struct rsp_options {
    rsp_client client;   /* RSP_CLIENT_AUTO: tell from qSupported */
    bool osabi_windows;  /* <osabi>Windows</osabi> in target.xml */
    size_t max_packet;   /* 0: default */
} rsp_options;

typedef struct rsp_session rsp_session;

rsp_session *rsp_session_new(const rsp_target_ops *ops, void *target, const rsp_options *o);
void rsp_session_free(rsp_session *s);

/* Bytes from the client; everything to send back is appended to out. */
void rsp_session_input(rsp_session *s, const uint8_t *in, size_t n, dx_buf *out);
/* A run the target started has ended. */
void rsp_session_stopped(rsp_session *s, const rsp_stop *stop, dx_buf *out);
/* The target's console output during a run (O packets), before its stop. */
void rsp_session_console(rsp_session *s, const char *text, dx_buf *out);
/* A monitor command that returned RSP_ASYNC has finished. */
void rsp_session_monitor_done(rsp_session *s, const char *text, bool ok, dx_buf *out);

bool rsp_session_running(const rsp_session *s);
/* The client detached or killed the target: flush out, then close. */
bool rsp_session_closing(const rsp_session *s);
rsp_client rsp_session_client(const rsp_session *s);

#endif
