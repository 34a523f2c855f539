/* The RSP packet codec and hex helpers: framing, acks, escapes, run
 * lengths, limits, input split anywhere, and what real clients send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "hex.h"

/* A connection under test: the codec, the bytes it wrote back, and a log of
 * its events ("P<len>:<data>\n", "O<len>:<data>\n", "I\n"). With reply set
 * it answers packets like a stub would, so '-' and no-ack have something to
 * act on. */
typedef struct conn {
    rsp_codec c;
    dx_buf out, log;
    bool reply;
    size_t max_cap; /* largest payload buffer seen */
} conn;

static uint64_t rng_state = 88172645463325252u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void conn_init(conn *k, size_t max_packet, bool reply)
{
    *k = (conn){.reply = reply};
    rsp_codec_init(&k->c, max_packet);
}

static void conn_free(conn *k)
{
    rsp_codec_free(&k->c);
    dx_buf_free(&k->out);
    dx_buf_free(&k->log);
}

static void answer(conn *k, const rsp_event *ev)
{
    if (ev->kind == RSP_EV_OVERSIZED) {
        rsp_codec_send(&k->c, "E01", 3, &k->out);
    } else if (ev->len == 15 && !memcmp(ev->data, "QStartNoAckMode", 15)) {
        rsp_codec_send(&k->c, "OK", 2, &k->out);
        rsp_codec_set_noack(&k->c, true);
    } else if (ev->len == 4 && !memcmp(ev->data, "QAck", 4)) {
        /* Not a real packet: lets the random traffic go back to ack mode. */
        rsp_codec_set_noack(&k->c, false);
    } else {
        rsp_codec_send(&k->c, ev->data, ev->len < 8 ? ev->len : 8, &k->out);
    }
}

static void record(conn *k, const rsp_event *ev)
{
    assert_non_null(ev->data);
    assert_int_equal(ev->data[ev->len], 0);
    if (ev->kind == RSP_EV_INTERRUPT) {
        dx_buf_append(&k->log, "I\n", 2);
        return;
    }
    dx_buf_printf(&k->log, "%c%zu:", ev->kind == RSP_EV_PACKET ? 'P' : 'O', ev->len);
    dx_buf_append(&k->log, ev->data, ev->len);
    dx_buf_append(&k->log, "\n", 1);
    if (k->reply)
        answer(k, ev);
}

/* Feeds one chunk, looping until it is all consumed. */
static void feed_chunk(conn *k, const uint8_t *p, size_t n)
{
    while (n) {
        rsp_event ev;
        size_t used = rsp_codec_feed(&k->c, p, n, &ev, &k->out);
        assert_true(used >= 1 && used <= n);
        if (k->c.cap > k->max_cap)
            k->max_cap = k->c.cap;
        if (ev.kind != RSP_EV_NONE)
            record(k, &ev);
        p += used;
        n -= used;
    }
}

/* chunk 0 = random sizes from 1 to 4096. */
static void feed_split(conn *k, const void *data, size_t n, size_t chunk)
{
    const uint8_t *p = data;
    while (n) {
        size_t len = chunk ? chunk : 1 + rnd() % 4096;
        if (len > n)
            len = n;
        feed_chunk(k, p, len);
        p += len;
        n -= len;
    }
}

static void feed(conn *k, const char *s) { feed_split(k, s, strlen(s), strlen(s)); }

static void feed_bytes(conn *k, const void *p, size_t n) { feed_split(k, p, n, n); }

/* Checks and clears what was written back and what events came out. */
static void expect_bytes(dx_buf *b, const void *want, size_t len)
{
    if (b->len != len || memcmp(dx_buf_str(b), want, len)) {
        print_error("got %zu bytes \"%s\", want %zu bytes \"%.*s\"\n", b->len, dx_buf_str(b), len,
                    (int)len, (const char *)want);
        fail();
    }
    dx_buf_reset(b);
}

static void expect(conn *k, const char *out, const char *log)
{
    expect_bytes(&k->out, out, strlen(out));
    expect_bytes(&k->log, log, strlen(log));
}

/* The checksum, computed here independently of the codec. */
static unsigned cs_of(const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum & 0xff;
}

/* "$payload#xx" with the payload sent as is (the caller escapes). */
static void frame(dx_buf *b, const void *payload, size_t len)
{
    dx_buf_append(b, "$", 1);
    dx_buf_append(b, payload, len);
    dx_buf_printf(b, "#%02x", cs_of(payload, len));
}

static void feed_framed(conn *k, const void *payload, size_t len)
{
    dx_buf b = {0};
    frame(&b, payload, len);
    feed_bytes(k, b.data, b.len);
    dx_buf_free(&b);
}

static void test_good_packet_acked(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "$qC#b4");
    expect(&k, "+", "P2:qC\n");
    feed(&k, "$#00");
    expect(&k, "+", "P0:\n");
    conn_free(&k);
}

static void test_feed_stops_after_each_event(void **state)
{
    (void)state;
    rsp_codec c;
    dx_buf out = {0};
    rsp_event ev;
    const char *in = "$qC#b4$?#3f";
    rsp_codec_init(&c, 4096);
    assert_int_equal(rsp_codec_feed(&c, (const uint8_t *)in, 11, &ev, &out), 6);
    assert_int_equal(ev.kind, RSP_EV_PACKET);
    assert_string_equal((const char *)ev.data, "qC");
    assert_int_equal(rsp_codec_feed(&c, (const uint8_t *)in + 6, 5, &ev, &out), 5);
    assert_int_equal(ev.kind, RSP_EV_PACKET);
    assert_string_equal((const char *)ev.data, "?");
    assert_int_equal(rsp_codec_feed(&c, (const uint8_t *)"+", 1, &ev, &out), 1);
    assert_int_equal(ev.kind, RSP_EV_NONE);
    assert_string_equal(dx_buf_str(&out), "++");
    dx_buf_free(&out);
    rsp_codec_free(&c);
}

static void test_bad_checksum_nakked(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "$OK#9b");
    expect(&k, "-", "");
    feed(&k, "$OK#zz");
    expect(&k, "-", "");
    feed(&k, "$OK#9A"); /* uppercase digits are fine */
    expect(&k, "+", "P2:OK\n");
    feed(&k, "$OK#9a");
    expect(&k, "+", "P2:OK\n");
    conn_free(&k);
}

static void test_truncated_packet_waits(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    char tail[8];
    snprintf(tail, sizeof tail, "#%02x", cs_of("qSupported", 10));
    feed(&k, "$qSupp");
    expect(&k, "", "");
    feed(&k, "orted");
    expect(&k, "", "");
    feed_bytes(&k, tail, 2);
    expect(&k, "", "");
    feed_bytes(&k, tail + 2, 1);
    expect(&k, "+", "P10:qSupported\n");
    conn_free(&k);
}

static void test_escapes_decoded(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed_framed(&k, "X1000,4:}\x03}\x04}]}\x0a", 16);
    expect(&k, "+", "P12:X1000,4:#$}*\n");
    /* Any byte may be escaped, including ones that need no escaping. */
    feed_framed(&k, "}\x20}\xdf", 4);
    expect_bytes(&k.out, "+", 1);
    expect_bytes(&k.log, "P2:\x00\xff\n", 6);
    conn_free(&k);
}

static void test_run_length_decoded(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "$0* #7a");
    expect(&k, "+", "P4:0000\n");
    feed(&k, "$0*\"00#dc"); /* the spec's example for a run of eight */
    expect(&k, "+", "P8:00000000\n");
    feed_framed(&k, "}]*!", 4); /* the decoded '}' is what repeats */
    expect(&k, "+", "P5:}}}}}\n");
    feed_framed(&k, "1*~", 3);
    char want[128] = "P98:";
    memset(want + 4, '1', 98);
    strcpy(want + 102, "\n");
    expect(&k, "+", want);
    conn_free(&k);
}

static void test_malformed_packets_nakked(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed_framed(&k, "*  ", 3); /* nothing to repeat */
    expect(&k, "-", "");
    feed_framed(&k, "a*\x10", 3); /* a count below 30 */
    expect(&k, "-", "");
    /* '#' right after '*' or '}' still ends the packet, even with the right
     * checksum, so the next one survives. */
    feed_framed(&k, "a*", 2);
    feed(&k, "$qC#b4");
    expect(&k, "-+", "P2:qC\n");
    feed_framed(&k, "a}", 2);
    feed(&k, "$qC#b4");
    expect(&k, "-+", "P2:qC\n");
    conn_free(&k);
}

static void test_dollar_restarts_packet(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "$qfo$qC#b4");
    expect(&k, "+", "P2:qC\n");
    feed(&k, "$a}$qC#b4");
    expect(&k, "+", "P2:qC\n");
    feed(&k, "$a*$qC#b4");
    expect(&k, "+", "P2:qC\n");
    conn_free(&k);
}

static void test_nak_retransmits(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "-"); /* nothing sent yet */
    expect(&k, "", "");
    rsp_codec_send(&k.c, "OK", 2, &k.out);
    expect(&k, "$OK#9a", "");
    feed(&k, "-");
    expect(&k, "$OK#9a", "");
    feed(&k, "--");
    expect(&k, "$OK#9a$OK#9a", "");
    rsp_codec_send(&k.c, "a$b#c}d*e", 9, &k.out);
    dx_buf_reset(&k.out);
    feed(&k, "+-");
    expect(&k, "$a}\x04" "b}\x03" "c}]d}\x0a" "e#51", "");
    /* A burst of naks gets the packet RSP_MAX_RESENDS times in all, not once per byte. */
    rsp_codec_send(&k.c, "OK", 2, &k.out);
    dx_buf_reset(&k.out);
    char naks[4096];
    memset(naks, '-', sizeof naks);
    feed_bytes(&k, naks, sizeof naks);
    assert_int_equal(k.out.len, RSP_MAX_RESENDS * strlen("$OK#9a"));
    dx_buf_reset(&k.out);
    conn_free(&k);
}

static void test_stray_acks_and_garbage_ignored(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "+");
    feed(&k, "++garbage\r\n#12 }*+");
    expect(&k, "", "");
    feed(&k, "+$qC#b4+");
    expect(&k, "+", "P2:qC\n");
    conn_free(&k);
}

static void test_interrupt(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "\x03");
    expect(&k, "", "I\n");
    feed(&k, "xy\x03z$qC#b4\x03");
    expect(&k, "+", "I\nP2:qC\nI\n");
    /* Inside a packet 0x03 is data. */
    feed(&k, "$a\x03" "b#c6");
    expect(&k, "+", "P3:a\x03" "b\n");
    conn_free(&k);
}

static void test_noack_mode(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    rsp_codec_set_noack(&k.c, true);
    feed(&k, "$qC#b4");
    expect(&k, "", "P2:qC\n");
    feed(&k, "$qC#00"); /* dropped silently */
    expect(&k, "", "");
    feed(&k, "+$a*#00");
    expect(&k, "", "");
    rsp_codec_send(&k.c, "OK", 2, &k.out);
    expect(&k, "$OK#9a", "");
    feed(&k, "-+-"); /* nothing to resend in no-ack mode */
    expect(&k, "", "");
    conn_free(&k);
}

/* The OK to QStartNoAckMode is itself still acked: a '-' for it resends it. */
static void test_noack_switch_keeps_ok_resendable(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 4096, false);
    feed(&k, "$QStartNoAckMode#b0");
    expect(&k, "+", "P15:QStartNoAckMode\n");
    rsp_codec_send(&k.c, "OK", 2, &k.out);
    rsp_codec_set_noack(&k.c, true);
    expect(&k, "$OK#9a", "");
    feed(&k, "-");
    expect(&k, "$OK#9a", "");
    feed(&k, "+-$qC#b4");
    expect(&k, "", "P2:qC\n");
    conn_free(&k);
}

static void test_size_limit_exact(void **state)
{
    (void)state;
    conn k;
    conn_init(&k, 8, false);
    feed(&k, "$12345678#a4");
    expect(&k, "+", "P8:12345678\n");
    feed(&k, "$123456789#dd");
    expect(&k, "+", "O8:12345678\n");
    feed(&k, "$qC#b4");
    expect(&k, "+", "P2:qC\n");
    feed_framed(&k, "1*~", 3); /* crosses the limit while expanding */
    expect(&k, "+", "O8:11111111\n");
    feed_framed(&k, "1234567}\x03}\x03", 11);
    expect(&k, "+", "O8:1234567#\n");
    feed(&k, "$123456789#00"); /* oversized and corrupt: just a nak */
    expect(&k, "-", "");
    rsp_codec_set_noack(&k.c, true);
    feed(&k, "$123456789#dd");
    expect(&k, "", "O8:12345678\n");
    conn_free(&k);
}

static void test_oversized_memory_bounded(void **state)
{
    (void)state;
    enum { CHUNK = 4096, TOTAL = 4 << 20 };
    conn k;
    conn_init(&k, 64, false);
    uint8_t *chunk = malloc(CHUNK);
    assert_non_null(chunk);
    memset(chunk, 'A', CHUNK);
    feed(&k, "$");
    for (size_t sent = 0; sent < TOTAL; sent += CHUNK)
        feed_split(&k, chunk, CHUNK, sent % (64 * CHUNK) ? CHUNK : 1);
    assert_true(k.max_cap <= 65);
    char tail[4];
    snprintf(tail, sizeof tail, "#%02x", (unsigned)(('A' * (uint64_t)TOTAL) & 0xff));
    feed(&k, tail);
    char want[80] = "O64:";
    memset(want + 4, 'A', 64);
    strcpy(want + 68, "\n");
    expect(&k, "+", want);
    free(chunk);
    conn_free(&k);
}

static const char gdb_qsupported[] =
    "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
    "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386";

static void test_gdb_connect(void **state)
{
    (void)state;
    for (size_t chunk = 0; chunk < 3; chunk++) {
        dx_buf in = {0}, want = {0};
        dx_buf_append(&in, "+", 1);
        frame(&in, gdb_qsupported, strlen(gdb_qsupported));
        frame(&in, "vMustReplyEmpty", 15);
        dx_buf_printf(&want, "P%zu:%s\nP15:vMustReplyEmpty\n", strlen(gdb_qsupported),
                      gdb_qsupported);
        conn k;
        conn_init(&k, 0x4000, false);
        feed_split(&k, in.data, in.len, chunk == 2 ? in.len : chunk);
        expect(&k, "++", want.data);
        conn_free(&k);
        dx_buf_free(&in);
        dx_buf_free(&want);
    }
}

static void test_lldb_connect(void **state)
{
    (void)state;
    static const char qsup[] =
        "qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+";
    conn k;
    conn_init(&k, 0x4000, false);
    feed(&k, "+");
    feed(&k, "+");
    feed(&k, "$QStartNoAckMode#b0");
    expect(&k, "+", "P15:QStartNoAckMode\n");
    rsp_codec_send(&k.c, "OK", 2, &k.out);
    rsp_codec_set_noack(&k.c, true);
    expect(&k, "$OK#9a", "");
    feed(&k, "+");
    feed_framed(&k, qsup, strlen(qsup));
    char want[128];
    snprintf(want, sizeof want, "P%zu:%s\n", strlen(qsup), qsup);
    expect(&k, "", want);
    conn_free(&k);
}

static void test_send_exact_bytes(void **state)
{
    (void)state;
    rsp_codec c;
    dx_buf out = {0};
    rsp_codec_init(&c, 4096);
    rsp_codec_send(&c, "OK", 2, &out);
    expect_bytes(&out, "$OK#9a", 6);
    rsp_codec_send(&c, "", 0, &out);
    expect_bytes(&out, "$#00", 4);
    dx_buf_append(&out, "+", 1); /* appends after what is already there */
    rsp_codec_send(&c, "a$b#c}d*e", 9, &out);
    expect_bytes(&out, "+$a}\x04" "b}\x03" "c}]d}\x0a" "e#51", 18);
    dx_buf_free(&out);
    rsp_codec_free(&c);
}

/* Every byte value survives send() on one side and feed() on the other. */
static void test_send_feed_round_trip(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    rsp_codec tx;
    dx_buf wire = {0};
    rsp_codec_init(&tx, 4096);
    rsp_codec_send(&tx, all, sizeof all, &wire);
    conn k;
    conn_init(&k, 256, false);
    feed_split(&k, wire.data, wire.len, 1);
    expect_bytes(&k.out, "+", 1);
    assert_int_equal(k.log.len, 6 + 256);
    assert_memory_equal(k.log.data + 5, all, 256);
    conn_free(&k);
    dx_buf_free(&wire);
    rsp_codec_free(&tx);
}

/* Appends one random piece of client traffic, mostly well-formed. */
static void random_token(dx_buf *b)
{
    static const char special[] = "$#}*+-\x03";
    uint8_t payload[48];
    size_t len = rnd() % sizeof payload;
    switch (rnd() % 8) {
    case 0: /* garbage */
        for (size_t i = 0; i < len; i++)
            payload[i] = (uint8_t)rnd();
        dx_buf_append(b, payload, len);
        return;
    case 1:
        dx_buf_append(b, special + rnd() % 7, 1);
        return;
    case 2:
        dx_buf_append(b, "$QStartNoAckMode#b0", 19);
        return;
    case 3:
        frame(b, "QAck", 4);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        uint64_t r = rnd();
        payload[i] = r % 5 ? (uint8_t)('a' + r % 26) : (uint8_t)special[r % 7];
        if (i && r % 11 == 0 && payload[i - 1] == '*')
            payload[i] = (uint8_t)(30 + r % 97); /* a run length count */
    }
    if (rnd() % 8 == 0) { /* truncated: the next '$' restarts */
        dx_buf_append(b, "$", 1);
        dx_buf_append(b, payload, len);
        return;
    }
    frame(b, payload, len);
    if (rnd() % 8 == 0) /* a bad checksum */
        b->data[b->len - 1] ^= 1;
}

/* The same bytes, split any way, give the same events and the same output. */
static void test_split_anywhere_same_result(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15u;
    dx_buf in = {0};
    while (in.len < 256 * 1024)
        random_token(&in);
    conn whole;
    conn_init(&whole, 32, true);
    feed_split(&whole, in.data, in.len, in.len);
    assert_true(whole.log.len > 1000);
    for (int run = 0; run < 6; run++) {
        conn k;
        conn_init(&k, 32, true);
        feed_split(&k, in.data, in.len, run == 0 ? 1 : run == 1 ? 2 : 0);
        assert_int_equal(k.out.len, whole.out.len);
        assert_memory_equal(k.out.data, whole.out.data, whole.out.len);
        assert_int_equal(k.log.len, whole.log.len);
        assert_memory_equal(k.log.data, whole.log.data, whole.log.len);
        assert_true(k.max_cap <= 33);
        conn_free(&k);
    }
    conn_free(&whole);
    dx_buf_free(&in);
}

static void test_fuzz_random_bytes(void **state)
{
    (void)state;
    enum { TOTAL = 1 << 20 };
    rng_state = 0x2545f4914f6cdd1du;
    uint8_t *in = malloc(TOTAL);
    assert_non_null(in);
    for (size_t i = 0; i < TOTAL; i++)
        in[i] = (uint8_t)(rnd() >> 24);
    for (size_t max = 1; max <= 4096; max *= 64) {
        conn k;
        conn_init(&k, max, true);
        feed_split(&k, in, TOTAL, 0);
        assert_true(k.max_cap <= max + 1);
        assert_true(k.c.last_sent.len <= 2 * 8 + 4);
        conn_free(&k);
    }
    free(in);
}

static void test_hex_encode_decode(void **state)
{
    (void)state;
    dx_buf b = {0};
    rsp_hex_encode(&b, "\x00\xab\xff", 3);
    expect_bytes(&b, "00abff", 6);
    uint8_t out[4];
    assert_int_equal(rsp_hex_decode("00AbfF", 6, out, sizeof out), 3);
    assert_memory_equal(out, "\x00\xab\xff", 3);
    assert_int_equal(rsp_hex_decode("", 0, out, sizeof out), 0);
    assert_int_equal(rsp_hex_decode("abc", 3, out, sizeof out), -1);
    assert_int_equal(rsp_hex_decode("0g", 2, out, sizeof out), -1);
    assert_int_equal(rsp_hex_decode(" 1", 2, out, sizeof out), -1);
    assert_int_equal(rsp_hex_decode("0011223344", 10, out, sizeof out), -1);
    assert_int_equal(rsp_hex_value('F'), 15);
    assert_int_equal(rsp_hex_value('/'), -1);
    dx_buf_free(&b);
}

static void test_parse_hex_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    const char *s = "1a0,rest", *p = s;
    assert_true(rsp_parse_hex_u64(&p, &v));
    assert_int_equal(v, 0x1a0);
    assert_ptr_equal(p, s + 3);
    p = s = "ffffffffffffffff";
    assert_true(rsp_parse_hex_u64(&p, &v));
    assert_true(v == UINT64_MAX && *p == 0);
    p = s = "00000000000000000001a4;"; /* long but only zero-padded */
    assert_true(rsp_parse_hex_u64(&p, &v));
    assert_true(v == 0x1a4 && *p == ';');
    p = s = "10000000000000000";
    assert_false(rsp_parse_hex_u64(&p, &v));
    assert_ptr_equal(p, s);
    p = s = "";
    assert_false(rsp_parse_hex_u64(&p, &v));
    p = s = "-1";
    assert_false(rsp_parse_hex_u64(&p, &v));
    assert_ptr_equal(p, s);
}

static void test_escape_binary(void **state)
{
    (void)state;
    dx_buf b = {0};
    rsp_escape_binary(&b, "$#}*x\x03", 6);
    expect_bytes(&b, "}\x04}\x03}]}\x0ax\x03", 10);
    rsp_escape_binary(&b, "plain", 5);
    expect_bytes(&b, "plain", 5);
    rsp_escape_binary(&b, NULL, 0);
    assert_int_equal(b.len, 0);
    dx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_packet_acked),
        cmocka_unit_test(test_feed_stops_after_each_event),
        cmocka_unit_test(test_bad_checksum_nakked),
        cmocka_unit_test(test_truncated_packet_waits),
        cmocka_unit_test(test_escapes_decoded),
        cmocka_unit_test(test_run_length_decoded),
        cmocka_unit_test(test_malformed_packets_nakked),
        cmocka_unit_test(test_dollar_restarts_packet),
        cmocka_unit_test(test_nak_retransmits),
        cmocka_unit_test(test_stray_acks_and_garbage_ignored),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_noack_mode),
        cmocka_unit_test(test_noack_switch_keeps_ok_resendable),
        cmocka_unit_test(test_size_limit_exact),
        cmocka_unit_test(test_oversized_memory_bounded),
        cmocka_unit_test(test_gdb_connect),
        cmocka_unit_test(test_lldb_connect),
        cmocka_unit_test(test_send_exact_bytes),
        cmocka_unit_test(test_send_feed_round_trip),
        cmocka_unit_test(test_split_anywhere_same_result),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_hex_encode_decode),
        cmocka_unit_test(test_parse_hex_u64),
        cmocka_unit_test(test_escape_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
