/* Memory running out inside a protocol session: the session closes rather
 * than answer something the client did not ask. realloc is wrapped by the
 * linker (protocol.cmake) so a test can fail it. */
#include "session.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static bool fail_fresh_realloc; /* fail the next realloc(NULL, ...) */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    if (!p && fail_fresh_realloc) {
        fail_fresh_realloc = false;
        return NULL;
    }
    return __real_realloc(p, n);
}

static int resume(void *t, uint32_t tid, bool step, int signal)
{
    (void)t, (void)tid, (void)step, (void)signal;
    return RSP_ASYNC;
}

static size_t threads(void *t, uint32_t *tids, size_t max)
{
    (void)t;
    if (max)
        tids[0] = 1;
    return 1;
}

static void last_stop(void *t, uint32_t tid, rsp_stop *out)
{
    (void)t;
    *out = (rsp_stop){.kind = RSP_STOP_SIGNAL, .signal = 5, .tid = tid ? tid : 1};
}

static int reg_read(void *t, uint32_t tid, int regno, uint8_t *buf)
{
    (void)t, (void)tid, (void)regno;
    memset(buf, 0, 8);
    return 8;
}

static const rsp_target_ops ops = {.threads = threads, .last_stop = last_stop, .reg_read = reg_read, .resume = resume};

static void feed(rsp_session *s, const char *bytes, dx_buf *out)
{
    rsp_session_input(s, (const uint8_t *)bytes, strlen(bytes), out);
}

/* A packet that arrives during a run waits for the stop reply; if it
 * cannot be kept, replaying it empty would answer it as another packet. */
static void test_deferred_packet_out_of_memory(void **state)
{
    (void)state;
    rsp_session *s = rsp_session_new(&ops, NULL, NULL);
    dx_buf out = {0};
    feed(s, "$c#63", &out);
    assert_true(rsp_session_running(s));
    assert_false(rsp_session_closing(s));
    fail_fresh_realloc = true;
    feed(s, "$g#67", &out);
    assert_false(fail_fresh_realloc); /* the deferred copy was the allocation that failed */
    assert_true(rsp_session_closing(s));
    dx_buf_free(&out);
    rsp_session_free(s);
}

/* The same packet, with memory: kept, and answered after the stop reply. */
static void test_deferred_packet_replayed(void **state)
{
    (void)state;
    rsp_session *s = rsp_session_new(&ops, NULL, NULL);
    dx_buf out = {0};
    feed(s, "$c#63", &out);
    feed(s, "$?#3f", &out);
    assert_false(rsp_session_closing(s));
    dx_buf_reset(&out);
    rsp_stop stop = {.kind = RSP_STOP_SIGNAL, .signal = 5, .tid = 1};
    rsp_session_stopped(s, &stop, &out);
    const char *text = dx_buf_str(&out);
    const char *first = strstr(text, "$T05"), *second = first ? strstr(first + 1, "$T05") : NULL;
    if (!first || !second)
        fail_msg("expected the stop reply and then the answer to '?': %s", text);
    dx_buf_free(&out);
    rsp_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_packet_out_of_memory),
        cmocka_unit_test(test_deferred_packet_replayed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
