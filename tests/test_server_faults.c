/* The server when libuv refuses a handle or a read: the session closes at
 * once (never sits deaf), is no longer counted against --max-sessions, and
 * the next client is served. The linker wraps uv_timer_init and
 * uv_read_start (CMakeLists.txt) so a test can fail them. The server runs
 * here on the main thread; a client thread drives it over 127.0.0.1 and
 * stops it with SIGTERM. */
#include "manifest.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

static atomic_int fail_timer_init, fail_read_start;
static int g_port;
static pthread_t g_client;
static bool g_client_ok;
static char g_client_error[256];

int __real_uv_timer_init(uv_loop_t *loop, uv_timer_t *t);
int __wrap_uv_timer_init(uv_loop_t *loop, uv_timer_t *t)
{
    return atomic_exchange(&fail_timer_init, 0) ? UV_ENOMEM : __real_uv_timer_init(loop, t);
}

int __real_uv_read_start(uv_stream_t *s, uv_alloc_cb a, uv_read_cb r);
int __wrap_uv_read_start(uv_stream_t *s, uv_alloc_cb a, uv_read_cb r)
{
    return atomic_exchange(&fail_read_start, 0) ? UV_ENOMEM : __real_uv_read_start(s, a, r);
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What the server sends back to '?': its length, 0 if the server closed
 * the connection (a reset too: it closed with our packet unread), -1 if
 * nothing came within 5 s. */
static ssize_t ask_stop_reason(char *reply, size_t max)
{
    int fd = connect_local();
    if (fd < 0)
        return -1;
    if (send(fd, "$?#3f", 5, 0) != 5) {
        close(fd);
        return -1;
    }
    ssize_t n = recv(fd, reply, max - 1, 0);
    if (n < 0 && errno == ECONNRESET)
        n = 0;
    reply[n > 0 ? n : 0] = 0;
    close(fd);
    return n;
}

static void *client(void *arg)
{
    (void)arg;
    char reply[4096];
    const char *why = NULL;
    atomic_store(&fail_timer_init, 1);
    if (ask_stop_reason(reply, sizeof reply) != 0)
        why = "a session whose timer could not be made was served, or not closed";
    atomic_store(&fail_read_start, 1);
    if (!why && ask_stop_reason(reply, sizeof reply) != 0)
        why = "a session that could not read was not closed";
    /* --max-sessions is 1: a failed session counts until the loop has
     * freed it, a moment after it closed, and one never freed would refuse
     * every client after it. */
    bool served = false;
    for (int i = 0; !why && !served && i < 100; i++) {
        served = ask_stop_reason(reply, sizeof reply) > 0 && strstr(reply, "$T");
        if (!served)
            usleep(50000);
    }
    if (!why && !served)
        why = "the next client was not served within 5 s";
    snprintf(g_client_error, sizeof g_client_error, "%s (reply '%.100s')", why ? why : "", reply);
    g_client_ok = !why;
    kill(getpid(), SIGTERM);
    return NULL;
}

static void on_listening(const char *address, void *user)
{
    (void)user;
    g_port = atoi(strrchr(address, ':') + 1);
    pthread_create(&g_client, NULL, client, NULL);
}

static void test_refused_handles_close_the_session(void **state)
{
    (void)state;
    dx_dump *d;
    mj *m;
    assert_int_equal(fixture_open("testprog_full", &d, &m), 0);
    dx_server_options o = {.listen = "127.0.0.1:0", .max_sessions = 1, .on_listening = on_listening};
    char err[DX_ERRLEN];
    assert_int_equal(dx_serve(d, &o, err, sizeof err), 0);
    pthread_join(g_client, NULL);
    if (!g_client_ok)
        fail_msg("%s", g_client_error);
    fixture_close(d, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_handles_close_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
