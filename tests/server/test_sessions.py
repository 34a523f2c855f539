#!/usr/bin/env python3
"""Several raw clients on one `dump_exec --listen` server: separate sessions,
a run in one connection does not block another, disconnects mid-run, and a
clean shutdown while clients are connected or running."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import RspClient, Server, Suite, check, le_hex, setup_endless_loop  # noqa: E402

suite = Suite("test_sessions")
test = suite.test


def timed(c, pkt, limit=1.0):
    t0 = time.monotonic()
    r = c.rq(pkt, timeout=limit + 2)
    dt = time.monotonic() - t0
    check(dt < limit, "%r took %.3f s while another client runs (limit %.1f s)" % (pkt, dt, limit))
    return r


@test
def two_clients_have_separate_state(cfg):
    m = cfg.manifest("full")
    gc, orig = m.glob("g_counter"), m.glob_value("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as a, RspClient(srv.port) as b:
        a.handshake()
        b.handshake(noack=False)  # one in ack mode, one without
        check(a.rq("M%x,8:%s" % (gc, le_hex(4242))) == "OK", "A's write")
        check(b.rq("m%x,8" % gc) == le_hex(orig), "B must see the dump's value %d, not A's write" % orig)
        check(a.rq("m%x,8" % gc) == le_hex(4242), "A must read its own write back")
        # Registers are per session too.
        ra = a.regs(m.main_tid)
        a.set_reg("rax", 0x1234)
        check(b.regs(m.main_tid)["rax"] == ra["rax"], "B sees A's register write")
        check(a.regs()["rax"] == 0x1234, "A lost its register write")
        # So are breakpoints: A's breakpoint does not stop B.
        fib = m.fn("fib")
        check(a.rq("Z0,%x,1" % fib) == "OK", "Z0")
        rb = b.regs(m.main_tid)
        b.set_reg("rip", fib)
        b.set_reg("rcx", 5)
        b.set_reg("rsp", (rb["rsp"] - 0x100) & ~0xF)
        b.send("s")
        r = b.read_packet(5).decode()
        check(r.startswith("T05") and "swbreak" not in r, "B's step: %r" % r)
        check(b.regs()["rip"] == fib + 1, "B stepped over push rsi to %#x" % b.regs()["rip"])


@test
def one_client_runs_while_another_is_served(cfg):
    m = cfg.manifest("full")
    gc, orig = m.glob("g_counter"), m.glob_value("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as a, RspClient(srv.port) as b:
        a.handshake()
        b.handshake()
        a.rq("M%x,8:%s" % (gc, le_hex(7)))
        setup_endless_loop(a, m)
        a.send("vCont;c")
        time.sleep(0.2)
        t_end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < t_end:
            check(len(timed(b, "g")) == 1104, "B's g reply")
            check(timed(b, "m%x,8" % gc) == le_hex(orig), "B's m reply")
            timed(b, "qfThreadInfo")
            n += 1
        check(n >= 5, "only %d rounds of B's packets in 2 s" % n)
        check(a.expect_silence(0.1), "A's continue must still run: %r" % a.rx)
        t0 = time.monotonic()
        a.send_raw(b"\x03")
        r = a.read_packet(2).decode()
        dt = time.monotonic() - t0
        check(r.startswith("T02"), "A's stop reply after 0x03: %r" % r)
        check(dt < 1.0, "A's stop reply took %.3f s" % dt)
        check(a.rq("m%x,8" % gc) == le_hex(7), "A's session kept its write across the run")
        # Both run at once, then both are interrupted.
        setup_endless_loop(b, m)
        a.send("c")
        b.send("c")
        time.sleep(0.5)
        for c in (a, b):
            c.send_raw(b"\x03")
            r = c.read_packet(2).decode()
            check(r.startswith("T02"), "stop reply after 0x03 with two runs: %r" % r)


@test
def disconnect_in_the_middle_of_a_run(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv:
        for how in ("abort", "close", "abort-noack"):
            a = RspClient(srv.port)
            a.handshake(noack=how != "abort-noack" and True)
            setup_endless_loop(a, m)
            a.send("vCont;c")
            time.sleep(0.3)
            a.abort() if how.startswith("abort") else a.close()
            time.sleep(0.3)
            check(srv.alive(), "the server died when a running client went away (%s)" % how, srv.stderr)
            with RspClient(srv.port) as c:
                c.handshake()
                check(c.rq("?").startswith("T05"), "a new client starts from the dump's state")
                check(len(timed(c, "g")) == 1104, "a new client's g")
                check(timed(c, "m%x,8" % m.glob("g_counter")) == le_hex(m.glob_value("g_counter")), "new client's m")


@test
def shutdown_while_a_client_runs(cfg):
    m = cfg.manifest("full")
    srv = Server(cfg, cfg.dump("full")).start()
    try:
        a = RspClient(srv.port)
        a.handshake()
        setup_endless_loop(a, m)
        a.send("vCont;c")
        idle = RspClient(srv.port)
        idle.handshake()
        time.sleep(0.3)
        srv.stop(signal.SIGTERM)  # exit 0 within 5 s, no sanitizer report
        a.close()
        idle.close()
    finally:
        srv.kill()


@test
def sigint_stops_the_server_cleanly(cfg):
    srv = Server(cfg, cfg.dump("full")).start()
    try:
        c = RspClient(srv.port)
        c.handshake()
        c.rq("g")
        srv.stop(signal.SIGINT)
        c.close()
    finally:
        srv.kill()


@test
def a_session_on_a_reused_engine_starts_from_the_dump(cfg):
    """The server keeps the engines of sessions that ended for the next
    ones: nothing of a session may reach the one after it."""
    m = cfg.manifest("full")
    gc, orig = m.glob("g_counter"), m.glob_value("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        with RspClient(srv.port) as a:
            a.handshake()
            dump_regs = a.regs(m.main_tid)
            check(a.monitor("call testprog!counter_add 5")[1] == "OK", "A's call")  # the engine exists
            check(a.rq("M%x,8:%s" % (gc, le_hex(4242))) == "OK", "A's write")
            a.set_reg("rbx", 0x5ee)
            check(a.rq("Z0,%x,1" % m.fn("add2")) == "OK", "A's breakpoint")
            check(a.rq("Z2,%x,8" % gc) == "OK", "A's watchpoint")
            a.monitor("set max-insns 7")
        time.sleep(0.3)  # the server takes A's engine back as it frees the session
        for i in range(2):  # both engines the server keeps
            with RspClient(srv.port) as b:
                b.handshake()
                check(b.rq("m%x,8" % gc) == le_hex(orig), "session %d sees A's write" % i)
                check(b.regs(m.main_tid) == dump_regs, "session %d sees A's registers" % i)
                text, r = b.monitor("call testprog!add2 3 5")
                check(r == "OK" and "Return value: 0xd" in text, "session %d: A's breakpoint or limit: %r" % (i, text))
                text, r = b.monitor("call testprog!counter_add 1")
                check("Return value: 0x%x" % (orig + 1) in text, "session %d: A's watchpoint: %r" % (i, text))
                check(b.rq("?").startswith(("T", "S")), "session %d: stop reason" % i)


@test
def many_connections_one_after_another(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        t0 = time.monotonic()
        for i in range(30):
            with RspClient(srv.port) as c:
                c.handshake()
                check(c.rq("qC").startswith("QC"), "connection %d" % i)
                if i % 3 == 0:
                    c.abort()
        check(time.monotonic() - t0 < 20, "30 short sessions took too long")
        open_now = [RspClient(srv.port) for _ in range(8)]
        for c in open_now:
            c.handshake()
        for c in open_now:
            check(len(c.rq("g")) == 1104, "g with 8 clients connected")
            c.close()


if __name__ == "__main__":
    sys.exit(suite.run())
