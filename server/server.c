/* The event loop: listeners, connections, and the hand-off of runs to each
 * connection's worker thread. The loop thread keeps reading sockets while
 * a worker runs code, so a 0x03 from the client stops the run at once. */
#include "server.h"

#include "target.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_SIZE 65536
#define INPUT_SLICE 512             /* the session reads a client's bytes this many at a time */
#define WRITE_HIGH_WATER (8u << 20) /* stop reading a client that does not read */
#define KICK_MS 50
#define LISTEN_BACKLOG 128 /* a burst of connections waits here, not in SYN retries */
#define TELL_FULL_MS 10000 /* at most one "refusing connections" line this often */
/* Engines of sessions that ended, kept for the next ones: a new Unicorn
 * engine costs milliseconds, and Unicorn 2.1.1 leaks 32 bytes with each,
 * which pin pages of the heap: a server that made one per client grew
 * ~120 KB per thousand clients. */
#define IDLE_ENGINES 2

typedef struct server server;

typedef union stream_handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} stream_handle;

typedef struct conn {
    stream_handle h;
    server *srv;
    struct conn *prev, *next;
    dx_target target;
    rsp_session *rsp;

    /* The worker thread, created on the first run that needs it, and the
     * hand-over of target.job (target.h says who owns it when): posted,
     * done and quit change only under mu, which orders every access to
     * the job and the executor between the two threads. */
    struct {
        uv_thread_t thread;
        bool started, posted, done, quit;
        uv_mutex_t mu;
        uv_cond_t cv;
    } worker;
    bool running;      /* a job is with the worker: the loop thread's view */
    uv_async_t wakeup; /* the worker's "done" */
    uv_timer_t kick;

    bool closing, reading;
    int open_handles;
    dx_buf unread; /* input held back while the client does not take its replies */
} conn;

struct server {
    uv_loop_t loop;
    const dx_dump *dump;
    dx_server_options opt;
    stream_handle listener;
    uv_signal_t sigint, sigterm;
    conn *conns;
    unsigned nconns;
    uint64_t told_full_at; /* uv_now of the last "refusing connections" line, 0: never */
    dx_exec *idle[IDLE_ENGINES]; /* reset, waiting for a session */
    size_t nidle;
    bool stopping;
};

typedef struct write_req {
    uv_write_t req;
    conn *c;
    dx_buf data;
} write_req;

static void conn_close(conn *c);
static void take_jobs(conn *c);
static void take_input(conn *c, const char *p, size_t n);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static bool replies_pile_up(conn *c) { return uv_stream_get_write_queue_size(&c->h.stream) > WRITE_HIGH_WATER; }

/* A session that cannot read its client would sit deaf: it closes. */
static void start_reading(conn *c)
{
    c->reading = true;
    if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    conn *c = w->c;
    dx_buf_free(&w->data);
    free(w);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->closing || c->reading || uv_stream_get_write_queue_size(&c->h.stream) >= WRITE_HIGH_WATER / 8)
        return;
    dx_buf held = c->unread;
    c->unread = (dx_buf){0};
    take_input(c, held.data, held.len);
    dx_buf_free(&held);
    if (!c->closing && !c->unread.len && !replies_pile_up(c))
        start_reading(c);
}

/* Hands out's bytes to libuv, which owns them until on_written. */
static void send_out(conn *c, dx_buf *out)
{
    if (!out->len || c->closing) {
        dx_buf_reset(out);
        return;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
        conn_close(c);
        return;
    }
    w->c = c;
    w->data = *out;
    *out = (dx_buf){0};
    uv_buf_t buf = uv_buf_init(w->data.data, (unsigned)w->data.len);
    if (uv_write(&w->req, &c->h.stream, &buf, 1, on_written) != 0) {
        dx_buf_free(&w->data);
        free(w);
        conn_close(c);
    }
}

static void worker_main(void *arg)
{
    conn *c = arg;
    uv_mutex_lock(&c->worker.mu);
    for (;;) {
        while (!c->worker.posted && !c->worker.quit)
            uv_cond_wait(&c->worker.cv, &c->worker.mu);
        if (c->worker.quit)
            break;
        c->worker.posted = false;
        uv_mutex_unlock(&c->worker.mu);
        dx_target_run_job(&c->target);
        uv_mutex_lock(&c->worker.mu);
        c->worker.done = true;
        uv_async_send(&c->wakeup);
    }
    uv_mutex_unlock(&c->worker.mu);
}

/* The worker finished the job posted to it: it is the loop thread's again. */
static bool take_done_job(conn *c)
{
    uv_mutex_lock(&c->worker.mu);
    bool done = c->worker.done;
    c->worker.done = false;
    uv_mutex_unlock(&c->worker.mu);
    return done;
}

/* Send what out holds and free it. False if the session closed (a write
 * failed, or a D or k among the packets just handled). */
static bool flush_reply(conn *c, dx_buf *out)
{
    send_out(c, out);
    dx_buf_free(out);
    if (!c->closing && rsp_session_closing(c->rsp))
        conn_close(c);
    return !c->closing;
}

/* Back on the loop thread: report the run, then take whatever the client
 * asked for meanwhile. */
static void on_job_done(uv_async_t *a)
{
    conn *c = a->data;
    if (!c->running || !take_done_job(c))
        return;
    c->running = false;
    c->target.interrupt_wanted = false;
    uv_timer_stop(&c->kick);
    /* A 0x03 (or a kick) that came after the worker finished is for this
     * run, not the next one. */
    dx_exec_interrupt_clear(c->target.exec);
    if (c->closing) {
        c->target.job.kind = DX_JOB_NONE;
        conn_close(c);
        return;
    }
    dx_buf out = {0};
    dx_target_finish_job(&c->target, c->rsp, &out);
    if (flush_reply(c, &out))
        take_jobs(c);
}

/* A 0x03 that lands just before the worker's engine starts would be lost,
 * so a wanted interrupt is repeated until the run ends. */
static void on_kick(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->running && c->target.interrupt_wanted)
        dx_exec_interrupt(c->target.exec);
}

static int start_worker(conn *c)
{
    if (c->worker.started)
        return 0;
    if (uv_thread_create(&c->worker.thread, worker_main, c) != 0)
        return -1;
    c->worker.started = true;
    return 0;
}

/* Runs this short cost less here than a hand-off to the worker thread. */
#define INLINE_MAX_INSNS 200000

/* Steps, and calls with a small instruction limit, are short: they run
 * right here. Continues and unlimited calls go to the worker, so the loop
 * keeps reading this and every other socket. */
static bool runs_inline(dx_target *t)
{
    uint64_t limit = dx_exec_options_of(t->exec)->max_insns;
    return t->job.kind == DX_JOB_STEP || (t->job.kind == DX_JOB_CALL && limit && limit <= INLINE_MAX_INSNS);
}

/* Run the short jobs one after another (reporting one may replay packets
 * that ask for the next); false if the session closed. */
static bool run_inline(conn *c)
{
    dx_buf out = {0};
    while (runs_inline(&c->target) && !c->closing) {
        dx_target_run_job(&c->target);
        /* A 0x03 that came with the step's packet was for this short run. */
        c->target.interrupt_wanted = false;
        dx_exec_interrupt_clear(c->target.exec);
        dx_target_finish_job(&c->target, c->rsp, &out);
    }
    return flush_reply(c, &out);
}

/* Give the pending job to the worker; on_job_done reports it. */
static void hand_off(conn *c)
{
    char err[DX_ERRLEN];
    if (dx_exec_prepare(c->target.exec, err, sizeof err) != 0) {
        fprintf(stderr, "dump_exec: %s\n", err);
        conn_close(c);
        return;
    }
    if (start_worker(c) != 0) {
        fprintf(stderr, "dump_exec: cannot start a worker thread\n");
        conn_close(c);
        return;
    }
    c->running = true;
    uv_timer_start(&c->kick, on_kick, KICK_MS, KICK_MS);
    uv_mutex_lock(&c->worker.mu);
    c->worker.posted = true;
    uv_cond_signal(&c->worker.cv);
    uv_mutex_unlock(&c->worker.mu);
}

static void take_jobs(conn *c)
{
    if (c->running || !run_inline(c))
        return;
    if (c->target.job.kind != DX_JOB_NONE)
        hand_off(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h, (void)suggested;
    buf->base = malloc(READ_SIZE);
    buf->len = buf->base ? READ_SIZE : 0;
}

/* The session takes the client's bytes a slice at a time, and no more once
 * the replies pile up: a few bytes can ask for many (a 16 KiB `m` reply,
 * sent again for each NAK). The rest waits in c->unread until the client
 * takes its replies (on_written). */
static void take_input(conn *c, const char *p, size_t n)
{
    while (n && !c->closing) {
        if (replies_pile_up(c)) {
            dx_buf_append(&c->unread, p, n);
            if (c->unread.oom)
                conn_close(c);
            return;
        }
        size_t k = n < INPUT_SLICE ? n : INPUT_SLICE;
        dx_buf out = {0};
        rsp_session_input(c->rsp, (const uint8_t *)p, k, &out);
        send_out(c, &out);
        dx_buf_free(&out);
        p += k, n -= k;
        if (rsp_session_closing(c->rsp)) {
            conn_close(c);
            return;
        }
        take_jobs(c);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) {
        free(buf->base);
        conn_close(c);
        return;
    }
    take_input(c, buf->base, (size_t)n);
    free(buf->base);
    if (!c->closing && (c->unread.len || replies_pile_up(c))) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
}

/* Take a finished session's engine for the next one, back at the dump's
 * state and with none of its settings, breakpoints or memory. */
/* A kept engine is flushed as it is kept (dx_exec_flush): its code buffer
 * is resident from then on, whether or not its sessions ran code, so a
 * server's memory is flat across sessions rather than growing by 8 MiB
 * steps as kept engines meet their first flush. Closing engines instead
 * would leak what Unicorn 2.1.1 loses per engine (3.4 MiB per 10,000
 * sessions, dump_exec_bench's soak). */
static void keep_engine(server *srv, dx_target *t)
{
    if (srv->nidle == IDLE_ENGINES || srv->stopping || !dx_exec_has_engine(t->exec) ||
        dx_target_reset(t, &srv->opt.exec) != 0)
        return;
    dx_exec_flush(t->exec);
    srv->idle[srv->nidle++] = t->exec;
    t->exec = NULL;
}

/* A new session's target, on an idle engine if there is one. */
static int target_open(server *srv, dx_target *t, const dx_target_config *config, char *err, size_t errlen)
{
    if (!srv->nidle)
        return dx_target_init(t, srv->dump, &srv->opt.exec, config, err, errlen);
    *t = (dx_target){.dump = srv->dump, .config = *config, .exec = srv->idle[--srv->nidle]};
    if (dx_target_reset(t, &srv->opt.exec) == 0)
        return 0;
    dx_target_free(t);
    return dx_target_init(t, srv->dump, &srv->opt.exec, config, err, errlen);
}

static void conn_free(conn *c)
{
    if (c->worker.started) {
        uv_mutex_lock(&c->worker.mu);
        c->worker.quit = true;
        uv_cond_signal(&c->worker.cv);
        uv_mutex_unlock(&c->worker.mu);
        uv_thread_join(&c->worker.thread);
    }
    uv_cond_destroy(&c->worker.cv);
    uv_mutex_destroy(&c->worker.mu);
    rsp_session_free(c->rsp);
    keep_engine(c->srv, &c->target);
    dx_target_free(&c->target);
    dx_buf_free(&c->unread);
    c->srv->nconns--; /* here, not at close: a closing session's run may still hold its engine */
    free(c);
    malloc_trim(0);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->open_handles == 0)
        conn_free(c);
}

/* Unlink at once; free when the run (if any) and every handle are done. */
static void conn_close(conn *c)
{
    if (!c->closing) {
        c->closing = true;
        if (c->prev)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        uv_close(&c->h.handle, on_handle_closed);
    }
    if (c->running) {
        dx_exec_interrupt(c->target.exec);
        c->target.interrupt_wanted = true;
        return; /* on_job_done comes back here */
    }
    if (!uv_is_closing((uv_handle_t *)&c->wakeup)) {
        uv_close((uv_handle_t *)&c->wakeup, on_handle_closed);
        uv_close((uv_handle_t *)&c->kick, on_handle_closed);
    }
}

/* A session, its target, and every handle but the stream, or NULL. It
 * counts against --max-sessions from here until conn_free. */
static conn *conn_new(server *srv)
{
    conn *c = calloc(1, sizeof *c);
    char err[DX_ERRLEN];
    if (!c)
        return NULL;
    c->srv = srv;
    srv->nconns++;
    dx_target_config config = {
        .symbols_dir = srv->opt.symbols_dir,
        .libraries_with_symbols_only = srv->opt.libraries_with_symbols_only,
        .unix_names = !srv->opt.rsp.osabi_windows,
        .syscalls = srv->opt.syscalls,
        .exceptions = srv->opt.exceptions,
        .trace_syscalls = srv->opt.trace_syscalls,
        .stubs = srv->opt.stubs,
        .nstubs = srv->opt.nstubs,
        .stub_syscalls = srv->opt.stub_syscalls,
        .nstub_syscalls = srv->opt.nstub_syscalls,
        .history_mb = srv->opt.history_mb,
    };
    if (target_open(srv, &c->target, &config, err, sizeof err) != 0 ||
        !(c->rsp = rsp_session_new(&dx_target_ops, &c->target, &srv->opt.rsp)))
        goto fail_target;
    if (uv_mutex_init(&c->worker.mu) != 0)
        goto fail_target;
    if (uv_cond_init(&c->worker.cv) != 0)
        goto fail_mutex;
    if (uv_async_init(&srv->loop, &c->wakeup, on_job_done) != 0)
        goto fail_cond;
    c->wakeup.data = c;
    if (uv_timer_init(&srv->loop, &c->kick) != 0) {
        /* An initialised handle is closed through the loop, which then
         * frees the session (on_handle_closed). */
        c->open_handles = 1;
        uv_close((uv_handle_t *)&c->wakeup, on_handle_closed);
        return NULL;
    }
    c->kick.data = c->h.handle.data = c;
    c->open_handles = 3;
    return c;
fail_cond:
    uv_cond_destroy(&c->worker.cv);
fail_mutex:
    uv_mutex_destroy(&c->worker.mu);
fail_target:
    rsp_session_free(c->rsp);
    dx_target_free(&c->target);
    srv->nconns--;
    free(c);
    return NULL;
}

static void stream_init(uv_loop_t *loop, const uv_stream_t *listener, stream_handle *h)
{
    if (listener->type == UV_NAMED_PIPE)
        uv_pipe_init(loop, &h->pipe, 0);
    else
        uv_tcp_init(loop, &h->tcp);
}

static void free_handle(uv_handle_t *h) { free(h); }

/* libuv stops listening while a connection waits to be accepted: one we
 * cannot serve is accepted and closed. */
static void refuse(server *srv, uv_stream_t *listener)
{
    stream_handle *h = malloc(sizeof *h);
    if (!h)
        return;
    stream_init(&srv->loop, listener, h);
    uv_accept(listener, &h->stream);
    uv_close(&h->handle, free_handle);
}

static void on_connection(uv_stream_t *listener, int status)
{
    server *srv = listener->data;
    if (status < 0)
        return;
    if (srv->stopping || srv->nconns >= srv->opt.max_sessions) {
        uint64_t now = uv_now(&srv->loop);
        if (!srv->stopping && (!srv->told_full_at || now - srv->told_full_at >= TELL_FULL_MS)) {
            fprintf(stderr, "dump_exec: refusing connections while %u sessions are open (--max-sessions)\n",
                    srv->nconns);
            srv->told_full_at = now ? now : 1;
        }
        refuse(srv, listener);
        return;
    }
    conn *c = conn_new(srv);
    if (!c) {
        fprintf(stderr, "dump_exec: out of memory for a new session\n");
        refuse(srv, listener);
        return;
    }
    stream_init(&srv->loop, listener, &c->h);
    c->h.handle.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    if (uv_accept(listener, &c->h.stream) != 0) {
        conn_close(c);
        return;
    }
    if (listener->type == UV_TCP)
        uv_tcp_nodelay(&c->h.tcp, 1);
    start_reading(c);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    server *srv = sig->data;
    if (srv->stopping)
        return;
    srv->stopping = true;
    uv_close(&srv->listener.handle, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    while (srv->conns)
        conn_close(srv->conns);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return true;
}

/* "1234", "host:1234", "[::1]:1234" into a socket address. */
static int parse_address(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256] = "127.0.0.1";
    const char *port = spec, *colon = strrchr(spec, ':');
    if (colon) {
        size_t n = (size_t)(colon - spec);
        if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']')
            spec++, n -= 2;
        if (n >= sizeof host)
            n = sizeof host - 1;
        memcpy(host, spec, n);
        host[n] = 0;
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "bad listen address '%s' (expected [HOST:]PORT or unix:PATH)", spec);
        return -1;
    }
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) != 0) {
        snprintf(err, errlen, "bad listen host '%s' (use a numeric IPv4 or IPv6 address)", host);
        return -1;
    }
    return 0;
}

static int listen_tcp(server *srv, const char *spec, char *bound, size_t boundlen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (parse_address(spec, &ss, err, errlen) != 0)
        return -1;
    uv_tcp_init(&srv->loop, &srv->listener.tcp);
    int rc = uv_tcp_bind(&srv->listener.tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen(&srv->listener.stream, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, uv_strerror(rc));
        return -1;
    }
    int len = sizeof ss;
    uv_tcp_getsockname(&srv->listener.tcp, (struct sockaddr *)&ss, &len);
    char ip[64] = "?";
    int port;
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(bound, boundlen, "[%s]:%d", ip, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(bound, boundlen, "%s:%d", ip, port);
    }
    if (!is_loopback((struct sockaddr *)&ss))
        fprintf(stderr, "dump_exec: WARNING: listening on %s, beyond this machine. The GDB protocol has no "
                        "authentication: anyone who can connect can read the dump.\n", bound);
    return 0;
}

static int listen_unix(server *srv, const char *path, char *bound, size_t boundlen, char *err, size_t errlen)
{
    uv_pipe_init(&srv->loop, &srv->listener.pipe, 0);
    int rc = uv_pipe_bind(&srv->listener.pipe, path);
    if (rc == 0)
        rc = uv_listen(&srv->listener.stream, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on unix:%s: %s", path, uv_strerror(rc));
        return -1;
    }
    snprintf(bound, boundlen, "unix:%s", path);
    return 0;
}

int dx_serve(const dx_dump *d, const dx_server_options *o, char *err, size_t errlen)
{
    server *srv = calloc(1, sizeof *srv);
    if (!srv || uv_loop_init(&srv->loop) != 0) {
        free(srv);
        snprintf(err, errlen, "cannot start the event loop");
        return -1;
    }
    srv->dump = d;
    srv->opt = *o;
    if (!srv->opt.max_sessions)
        srv->opt.max_sessions = DX_DEFAULT_MAX_SESSIONS;
    const char *spec = o->listen ? o->listen : "127.0.0.1:1234";
    char bound[300];
    int rc = strncmp(spec, "unix:", 5) == 0 ? listen_unix(srv, spec + 5, bound, sizeof bound, err, errlen)
                                            : listen_tcp(srv, spec, bound, sizeof bound, err, errlen);
    if (rc == 0) {
        srv->listener.handle.data = srv;
        uv_signal_init(&srv->loop, &srv->sigint);
        uv_signal_init(&srv->loop, &srv->sigterm);
        srv->sigint.data = srv->sigterm.data = srv;
        uv_signal_start(&srv->sigint, on_signal, SIGINT);
        uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
        if (o->on_listening)
            o->on_listening(bound, o->user);
        uv_run(&srv->loop, UV_RUN_DEFAULT);
    } else if (srv->listener.handle.type != UV_UNKNOWN_HANDLE) { /* bind or listen failed */
        uv_close(&srv->listener.handle, NULL);
        uv_run(&srv->loop, UV_RUN_DEFAULT);
    }
    while (srv->nidle)
        dx_exec_free(srv->idle[--srv->nidle]);
    uv_loop_close(&srv->loop);
    free(srv);
    return rc;
}
