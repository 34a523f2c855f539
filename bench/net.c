/* Loopback: a raw GDB remote protocol client and the 1-byte ping-pong
 * that measures the round-trip floor of this machine. */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    nodelay(fd);
    return fd;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------ RSP client */

int rsp_connect(rsp_client *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = connect_port(port);
    if (c->fd < 0)
        return -1;
    c->cap = 1 << 17;
    c->buf = malloc(c->cap);
    return c->buf ? 0 : -1;
}

void rsp_close(rsp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    free(c->pkt);
    free(c->out);
    c->buf = c->pkt = c->out = NULL;
}

int rsp_send(rsp_client *c, const char *payload, size_t len)
{
    if (len + 5 > c->outcap) {
        size_t cap = len + 64;
        char *g = realloc(c->out, cap);
        if (!g)
            return -1;
        c->out = g;
        c->outcap = cap;
    }
    unsigned sum = 0;
    c->out[0] = '$';
    for (size_t i = 0; i < len; i++) {
        c->out[1 + i] = payload[i];
        sum += (unsigned char)payload[i];
    }
    snprintf(c->out + 1 + len, 4, "#%02x", sum & 0xff);
    return write_all(c->fd, c->out, len + 4);
}

static int fill(rsp_client *c)
{
    if (c->pos == c->len)
        c->pos = c->len = 0;
    if (c->len == c->cap) {
        if (c->pos) {
            memmove(c->buf, c->buf + c->pos, c->len - c->pos);
            c->len -= c->pos;
            c->pos = 0;
        } else {
            char *g = realloc(c->buf, c->cap * 2);
            if (!g)
                return -1;
            c->buf = g;
            c->cap *= 2;
        }
    }
    ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (got <= 0)
        return -1;
    c->len += (size_t)got;
    return 0;
}

static int pkt_reserve(rsp_client *c, size_t more)
{
    if (c->pktlen + more + 1 > c->pktcap) {
        size_t cap = c->pktcap ? c->pktcap * 2 : 4096;
        while (cap < c->pktlen + more + 1)
            cap *= 2;
        char *g = realloc(c->pkt, cap);
        if (!g)
            return -1;
        c->pkt = g;
        c->pktcap = cap;
    }
    return 0;
}

static int pkt_put(rsp_client *c, char ch)
{
    if (c->pktlen + 2 > c->pktcap) {
        size_t cap = c->pktcap ? c->pktcap * 2 : 4096;
        char *g = realloc(c->pkt, cap);
        if (!g)
            return -1;
        c->pkt = g;
        c->pktcap = cap;
    }
    c->pkt[c->pktlen++] = ch;
    return 0;
}

const char *rsp_recv(rsp_client *c, size_t *len)
{
    /* Skip acks and anything else up to '$'. */
    for (;;) {
        while (c->pos < c->len && c->buf[c->pos] != '$')
            c->pos++;
        if (c->pos < c->len)
            break;
        if (fill(c) != 0)
            return NULL;
    }
    c->pos++;
    c->pktlen = 0;
    bool esc = false;
    for (;;) {
        if (c->pos == c->len && fill(c) != 0)
            return NULL;
        /* Copy the run up to the next '#' or '}' in one go. */
        const char *at = c->buf + c->pos, *end = c->buf + c->len;
        if (!esc) {
            const char *hash = memchr(at, '#', (size_t)(end - at));
            const char *stop = hash ? hash : end;
            const char *brace = memchr(at, '}', (size_t)(stop - at));
            if (brace)
                stop = brace;
            size_t run = (size_t)(stop - at);
            if (run) {
                if (pkt_reserve(c, run) != 0)
                    return NULL;
                memcpy(c->pkt + c->pktlen, at, run);
                c->pktlen += run;
                c->pos += run;
                continue;
            }
        }
        char ch = c->buf[c->pos++];
        if (ch == '#' && !esc)
            break;
        if (esc) {
            if (pkt_put(c, (char)(ch ^ 0x20)) != 0)
                return NULL;
            esc = false;
        } else if (ch == '}') {
            esc = true;
        } else if (pkt_put(c, ch) != 0) {
            return NULL;
        }
    }
    for (int i = 0; i < 2; i++) { /* the checksum: trusted on loopback */
        if (c->pos == c->len && fill(c) != 0)
            return NULL;
        c->pos++;
    }
    if (!c->pkt && pkt_put(c, 0) != 0)
        return NULL;
    c->pkt[c->pktlen] = 0;
    if (!c->noack && write_all(c->fd, "+", 1) != 0)
        return NULL;
    if (len)
        *len = c->pktlen;
    return c->pkt;
}

const char *rsp_cmd(rsp_client *c, const char *payload, size_t *len)
{
    if (rsp_send(c, payload, strlen(payload)) != 0)
        return NULL;
    return rsp_recv(c, len);
}

int rsp_start_noack(rsp_client *c)
{
    const char *r = rsp_cmd(c, "QStartNoAckMode", NULL);
    if (!r || strcmp(r, "OK"))
        return -1;
    c->noack = true;
    return 0;
}

static int unhex(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

const char *rsp_monitor(rsp_client *c, const char *cmd, char *text, size_t cap)
{
    size_t n = strlen(cmd);
    char *pkt = malloc(6 + 2 * n + 1);
    if (!pkt)
        return NULL;
    memcpy(pkt, "qRcmd,", 6);
    for (size_t i = 0; i < n; i++)
        snprintf(pkt + 6 + 2 * i, 3, "%02x", (unsigned char)cmd[i]);
    int rc = rsp_send(c, pkt, 6 + 2 * n);
    free(pkt);
    if (rc != 0)
        return NULL;
    size_t tlen = text ? strlen(text) : 0;
    for (;;) {
        size_t len;
        const char *r = rsp_recv(c, &len);
        if (!r)
            return NULL;
        if (r[0] != 'O' || len == 1 || unhex(r[1]) < 0)
            return r; /* OK, Exx, or anything else final */
        for (size_t i = 1; text && i + 1 < len && tlen + 1 < cap; i += 2)
            text[tlen++] = (char)(unhex(r[i]) << 4 | unhex(r[i + 1]));
        if (text)
            text[tlen] = 0;
    }
}

uint32_t rsp_park(rsp_client *c, uint64_t fn)
{
    const char *r = rsp_cmd(c, "qC", NULL);
    if (!r || strncmp(r, "QC", 2))
        return 0;
    uint32_t tid = (uint32_t)strtoul(r + 2, NULL, 16);
    char pkt[64];
    snprintf(pkt, sizeof pkt, "P10=");
    hex_le64(fn, pkt + 4);
    if (!(r = rsp_cmd(c, pkt, NULL)) || strcmp(r, "OK"))
        return 0;
    snprintf(pkt, sizeof pkt, "P2=");
    hex_le64(1000000000ull, pkt + 3);
    if (!(r = rsp_cmd(c, pkt, NULL)) || strcmp(r, "OK"))
        return 0;
    return tid;
}

void hex_le64(uint64_t v, char *out)
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(v >> (8 * i)) & 0xff);
}

/* ------------------------------------------------------------ ping-pong */

typedef struct echo {
    int listen_fd;
} echo;

static void *echo_main(void *arg)
{
    echo *e = arg;
    int fd = accept(e->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    nodelay(fd);
    char b;
    while (read(fd, &b, 1) == 1)
        if (write(fd, &b, 1) != 1)
            break;
    close(fd);
    return NULL;
}

double pingpong_rate(double seconds)
{
    echo e;
    e.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (e.listen_fd < 0 || bind(e.listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(e.listen_fd, 1) != 0 ||
        getsockname(e.listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        if (e.listen_fd >= 0)
            close(e.listen_fd);
        return -1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, echo_main, &e) != 0) {
        close(e.listen_fd);
        return -1;
    }
    int fd = connect_port(ntohs(a.sin_port));
    double rate = -1;
    if (fd >= 0) {
        char b = 'x';
        long n = 0;
        double t0 = now_s(), t;
        for (;;) {
            if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1)
                break;
            if ((++n & 255) == 0 && (t = now_s() - t0) >= seconds) {
                rate = (double)n / t;
                break;
            }
        }
        close(fd);
    } else {
        shutdown(e.listen_fd, SHUT_RDWR); /* unblock accept */
    }
    pthread_join(th, NULL);
    close(e.listen_fd);
    return rate;
}
