#!/usr/bin/env python3
"""Hostile clients and runaway guests against `dump_exec --listen`: the
server survives, stays bounded, serves the next client, and never changes
the dump file."""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, RspClient, Server, Suite, check, frame, le_hex, setup_endless_loop  # noqa: E402

# Under AddressSanitizer freed memory waits in a quarantine (256 MB by
# default) and shows as RSS: keep it small so the bounds below measure us.
os.environ["ASAN_OPTIONS"] = ":".join(
    filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=4", "thread_local_quarantine_size_kb=64"]))

suite = Suite("test_hostile")
test = suite.test


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ThreadSanitizer's shadow memory and history grow with every thread a
# session starts: under it RSS says nothing of the server's own memory.
RSS_MEANINGFUL = os.environ.get("DX_SANITIZER") != "thread"


def check_rss(cond, msg):
    check(cond or not RSS_MEANINGFUL, msg)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def slope(ys):
    """Least-squares growth per step of a series."""
    n = len(ys)
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sum((x - mx) ** 2 for x in range(n))


def still_serves(srv):
    with RspClient(srv.port) as c:
        c.handshake()
        check(len(c.rq("g")) == 1104, "a new client after the abuse gets its registers")


def session_cycle(port, m, kind):
    """One client's life of the given kind, from connect to close."""
    if kind == "idle":
        socket.create_connection((HOST, port), timeout=5).close()
        return
    if kind == "g":
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(frame("qSupported") + frame("g"))
        s.close()
        return
    with RspClient(port) as c:
        c.handshake()
        if kind == "call":
            c.monitor("call testprog!add2 3 5")
        elif kind == "step":
            c.rq("vCont;s")
        elif kind == "run":  # gone while its continue runs on the worker
            setup_endless_loop(c, m)
            c.send("vCont;c")
            time.sleep(0.002)
        elif kind == "ctrl-c":
            setup_endless_loop(c, m)
            c.send("vCont;c")
            c.send_raw(b"\x03")
            c.read_packet()


CYCLE_KINDS = ("idle", "g", "call", "step", "run", "ctrl-c")


@test
def connection_cycles_leak_nothing(cfg):
    """RSS across rounds of mixed connection cycles, 4 clients at a time:
    the first round reaches the plateau (engines, allocator arenas, the
    ASan quarantine); the rounds after it must not climb. One round is
    noisy, a slope over rounds is a leak."""
    m = cfg.manifest("full")
    rounds, per_round, clients = 8, 240, 4
    with Server(cfg, cfg.dump("full"), ["--max-sessions", "2000"]) as srv:
        pid = srv.proc.pid
        fds = None
        rss = []
        for _ in range(rounds):
            def client(k):
                for i in range(per_round // clients):
                    session_cycle(srv.port, m, CYCLE_KINDS[(i * clients + k) % len(CYCLE_KINDS)])
            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            still_serves(srv)
            # The server closes its side as it reads each EOF: give it (bounded) time.
            deadline = time.monotonic() + 10
            while fds is not None and fd_count(pid) > fds and time.monotonic() < deadline:
                time.sleep(0.05)
            if fds is None:
                fds = fd_count(pid)
            check(fd_count(pid) <= fds, "file descriptors grew from %d to %d" % (fds, fd_count(pid)))
            rss.append(rss_kib(pid))
        later = rss[1:]
        check_rss(slope(later) < 1024, "RSS kept growing over %d rounds of %d connections, by %.0f KiB a round: %s KiB"
              % (len(later), per_round, slope(later), later))


@test
def flood_without_reading_replies_stays_bounded(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        pid = srv.proc.pid
        rss = rss_kib(pid)
        s = socket.create_connection((HOST, srv.port), timeout=5)
        s.setblocking(False)
        burst = frame("QStartNoAckMode") + frame("m140001000,1000") * 2000  # each reply 8 KiB
        sent, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 5:
            try:
                sent += s.send(burst)
            except BlockingIOError:
                time.sleep(0.05)  # the server stopped reading us: good
        grown = rss_kib(pid) - rss
        check_rss(grown < 64 * 1024, "RSS grew by %d KiB while a client did not read" % grown)
        s.close()
        still_serves(srv)


@test
def one_read_of_naked_large_reads_stays_bounded(cfg):
    """Each 64 KiB the server reads may ask for far more than 64 KiB of replies:
    16 KiB per `m` packet, sent 9 times when NAKed 8 times. Replies are made
    only as fast as the client takes them."""
    m = cfg.manifest("full")
    start = int(m.data["globals"]["g_counter"]["address"], 16) & ~0xfff
    with Server(cfg, cfg.dump("full")) as srv:
        pid = srv.proc.pid
        with RspClient(srv.port) as c:
            c.handshake(noack=False)
            check(len(c.rq("m%x,1ffe" % start)) == 0x3ffc, "a read of 0x1ffe bytes at %#x" % start)
        rss = rss_kib(pid)
        socks = []
        for _ in range(4):
            s = socket.create_connection((HOST, srv.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            one = frame("m%x,1ffe" % start) + b"-" * 8
            s.sendall(one * (65536 // len(one)))  # one read's worth: ~230 MB of replies
            socks.append(s)
        time.sleep(2)
        grown = rss_kib(pid) - rss
        check_rss(grown < 96 * 1024, "RSS grew by %d KiB for 4 clients that did not read" % grown)
        for s in socks:
            s.close()
        still_serves(srv)


@test
def replies_held_back_are_all_sent_in_order(cfg):
    """A client that sends 25 MB worth of requests before reading any reply gets
    every reply, in order, once it reads."""
    m = cfg.manifest("full")
    start = int(m.data["globals"]["g_counter"]["address"], 16) & ~0xfff
    lengths = [0x1000 + i % 0x100 for i in range(3000)]
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        c.send_raw(b"".join(frame("m%x,%x" % (start, n)) for n in lengths))
        time.sleep(1)
        got = [len(c.read_packet(timeout=10)) for _ in lengths]
        check(got == [2 * n for n in lengths], "replies out of order or missing: %s" %
              [(i, g) for i, (g, n) in enumerate(zip(got, lengths)) if g != 2 * n][:5])
        check(c.expect_silence(0.3), "a reply too many")
        check(len(c.rq("g")) == 1104, "the session goes on")


def refused(port):
    """True if the server takes the connection and closes it unserved."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        try:
            s.sendall(frame("qSupported"))
            return s.recv(100) == b""
        except ConnectionResetError:
            return True


@test
def sessions_beyond_the_limit_are_refused_until_one_ends(cfg):
    with Server(cfg, cfg.dump("full"), ["--max-sessions", "2"]) as srv:
        first, second = RspClient(srv.port), RspClient(srv.port)
        for c in (first, second):
            c.handshake()
        check(all(refused(srv.port) for _ in range(3)), "a third session was served")
        check(len(second.rq("g")) == 1104, "the sessions within the limit go on")
        first.close()
        third, deadline = None, time.monotonic() + 5
        while not third and time.monotonic() < deadline:  # the server sees the close in its own time
            third = RspClient(srv.port)
            try:
                third.handshake()
            except (AssertionError, OSError):
                third.close()
                third = None
                time.sleep(0.1)
        check(third and len(third.rq("g")) == 1104, "a new session once one of the two ended")
        third.close()
        second.close()
        # The server's stderr reaches us through a reader thread: wait for it (bounded).
        deadline = time.monotonic() + 5
        while "refusing connections" not in srv.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        check(srv.stderr.count("refusing connections") == 1, "the refusals are told once: %r" % srv.stderr)


@test
def interrupt_storms(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        c.send_raw(b"\x03" * 10000)  # idle: nothing to stop
        check(c.rq("qC").startswith("QC"), "after 10000 idle 0x03 bytes")
        setup_endless_loop(c, m)
        c.send("vCont;c", wait_ack=False)
        time.sleep(0.2)
        c.send_raw(b"\x03" * 10000)
        reply = c.read_packet(timeout=2).decode("latin-1")
        check(reply.startswith("T02"), "stop reply to a storm of 0x03: %r" % reply)
        c.expect_silence(0.5)  # one stop, not ten thousand
        check(len(c.rq("g")) == 1104, "registers after the storm")


@test
def disconnect_mid_packet_mid_run_mid_monitor_call(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv:
        pid = srv.proc.pid
        s = socket.create_connection((HOST, srv.port), timeout=5)
        s.sendall(b"+$m1400010")  # half a packet
        s.close()
        with RspClient(srv.port) as c:
            c.handshake()
            setup_endless_loop(c, m)
            c.send("vCont;c", wait_ack=False)
            time.sleep(0.2)
            c.abort()
        with RspClient(srv.port) as c:
            c.handshake()
            c.monitor("set max-insns 0")
            c.send("qRcmd," + "call testprog!long_loop 1000000000000".encode().hex(), wait_ack=False)
            time.sleep(0.3)
            c.abort()
        time.sleep(0.5)
        t0 = cpu_ticks(pid)
        time.sleep(1.0)
        busy = cpu_ticks(pid) - t0
        check(busy < 20, "the abandoned runs still burn CPU (%d ticks in 1 s)" % busy)
        still_serves(srv)


@test
def timeout_stops_an_endless_continue(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full"), ["--timeout", "0.5"]) as srv, RspClient(srv.port) as c:
        c.handshake()
        setup_endless_loop(c, m)
        t0 = time.monotonic()
        reply = c.rq("vCont;c", timeout=5)
        dt = time.monotonic() - t0
        check(reply.startswith("T05"), "a timed-out run stops with SIGTRAP: %r" % reply)
        check(0.4 < dt < 3, "stopped after %.2f s with --timeout 0.5" % dt)


@test
def greedy_guest_hits_the_session_memory_limit(cfg):
    with Server(cfg, cfg.dump("full"), ["--max-session-mb", "64", "--unmapped", "zero"]) as srv:
        with RspClient(srv.port) as c:
            c.handshake()
            c.monitor("set max-insns 0")
            # fill_buf(p, n) writes n bytes from p: here far past any limit.
            out, _ = c.monitor("call testprog!fill_buf ptr:0x100000000000 1000000000", timeout=60)
            check("session memory limit" in out, "a guest writing without end: %r" % out)
        still_serves(srv)


@test
def deep_recursion_is_a_stack_overflow(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        c.monitor("set max-insns 0")
        out, _ = c.monitor("call testprog!fib 100000000", timeout=60)
        check("stack overflow" in out, "deep recursion on the scratch stack: %r" % out)
        check(c.monitor("call testprog!add2 3 5")[0].startswith("Return value: 0xd"), "the next call works")


@test
def the_dump_file_never_changes(cfg):
    path = cfg.dump("full")
    m = cfg.manifest("full")
    before = (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.stat(path).st_mtime_ns)
    with Server(cfg, path) as srv, RspClient(srv.port) as c:
        c.handshake()
        gc = m.glob("g_counter")
        check(c.rq("M%x,8:%s" % (gc, le_hex(0x4141414141414141))) == "OK", "memory write")
        c.monitor("call testprog!counter_add 5")
        c.monitor("call testprog!fill_buf ptr:0x%x 64" % m.glob("g_buf"))
        c.monitor("reset")
        setup_endless_loop(c, m)
        c.send("vCont;c", wait_ack=False)
        time.sleep(0.3)
        c.send_raw(b"\x03")
        c.read_packet(timeout=2)
    after = (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.stat(path).st_mtime_ns)
    check(before == after, "the dump changed: %s -> %s" % (before, after))


@test
def hostile_watchpoints_and_naks_are_bounded(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        # The last page of the address space once made arming walk all 2^64 of it.
        check(c.rq("Z2,fffffffffffff000,fff") in ("OK", "E0e"), "a watch on the last page")
        check(c.rq("Z2,ffffffffffffff00,1000").startswith("E"), "a watch that wraps is refused")
        check(c.rq("Z2,0,ffffffffffff").startswith("E"), "a huge watch is refused")
        replies = [c.rq("Z2,%x,1" % (m.glob("g_counter") + 64 * i)) for i in range(40)]
        check(replies.count("OK") <= 32 and replies[-1].startswith("E"), "at most 32 watches: %r" % replies[-8:])
        t0 = time.monotonic()
        setup_endless_loop(c, m)
        check(c.rq("vCont;s", timeout=5).startswith("T05"), "a step with 32 watches armed")
        check(time.monotonic() - t0 < 2, "and quickly")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake(noack=False)
        c.rq("m140001000,1000")
        before = rss_kib(srv.proc.pid)
        c.send_raw(b"-" * 65536)
        time.sleep(0.5)
        check(rss_kib(srv.proc.pid) - before < 16 * 1024, "a burst of naks does not multiply the reply")
        still_serves(srv)


@test
def bad_listen_address_and_trace_files(cfg):
    import subprocess
    for bad in ("99999", "foo:1234"):
        r = subprocess.run([cfg.dump_exec, "--listen", bad, cfg.dump("full")], capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 2 and "listen" in r.stderr, "--listen %s: exit 2 with a message" % bad, r.stderr)
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        for name in ("/tmp/dx-trace-escape", "../dx-trace", cfg.dump("full")):
            out, reply = c.monitor("trace on " + name)
            check(reply.startswith("E") and "new file" in out, "monitor trace may not write %s" % name, out)
        check(not os.path.exists("/tmp/dx-trace-escape"), "no file written outside the working directory")


if __name__ == "__main__":
    sys.exit(suite.run())
