#!/usr/bin/env python3
"""Raw GDB Remote Serial Protocol edge cases against `dump_exec --listen`."""
import os
import re
import random
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (G_BYTES, REGS, RspClient, Server, Suite, TestFailure, check, frame, le_hex,  # noqa: E402
                     parse_g, setup_endless_loop, unescape)

suite = Suite("test_raw")
test = suite.test
GDB_FEATURES = ("multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;"
                "vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386")


def features(reply):
    out = {}
    for item in reply.split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = v
        elif item:
            out[item.rstrip("+-?")] = item[-1]
    return out


def fetch_xfer(c, obj, annex, chunk):
    data, off = b"", 0
    for _ in range(1000):
        r = c.request("qXfer:%s:read:%s:%x,%x" % (obj, annex, off, chunk))
        check(r[:1] in (b"m", b"l"), "qXfer reply %r" % r[:60])
        check(len(r) - 1 <= chunk, "qXfer chunk of %d bytes for a window of %d" % (len(r) - 1, chunk))
        data += r[1:]
        off += len(r) - 1
        if r[:1] == b"l":
            return data
    raise TestFailure("qXfer never ended")


@test
def bad_checksum_is_nakked_and_retransmission_accepted(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.send_raw(b"+")
        good = frame("qC")
        bad = good[:-2] + (b"00" if good[-2:] != b"00" else b"01")
        c.send_raw(bad)
        check(c.read_byte() == b"-", "a bad checksum must be answered with '-'")
        check(c.expect_silence(0.3), "no reply may follow a rejected packet: %r" % c.rx)
        c.send_raw(good)  # the client's retransmission
        check(c.read_byte() == b"+", "the retransmitted packet must be acked")
        r = c.read_packet().decode()
        check(r.startswith("QC"), "qC reply after retransmission: %r" % r)
        # A non-hex checksum is a bad checksum too; upper-case hex is fine.
        c.send_raw(b"$qC#zz")
        check(c.read_byte() == b"-", "non-hex checksum must be nakked")
        c.send_raw(good[:-2] + good[-2:].upper())
        check(c.read_byte() == b"+", "upper-case checksum digits must be accepted")
        check(c.read_packet().startswith(b"QC"), "qC after upper-case checksum")


@test
def server_retransmits_on_nak(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.send_raw(b"+")
        c.send("qC")
        first = c.read_frame()
        c.send_raw(b"-")
        again = c.read_frame()
        check(again == first, "after '-' the server must resend %r, got %r" % (first, again))
        c.send_raw(b"-")
        check(c.read_frame() == first, "a second '-' resends it again")
        c.send_raw(b"+")
        check(c.rq("qC").startswith("QC"), "the session goes on after the naks")


@test
def oversized_packet_is_rejected_without_harm(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        sup = features(c.handshake(noack=False))
        check("PacketSize" in sup, "qSupported must advertise PacketSize: %r" % sup)
        size = int(sup["PacketSize"], 16)
        m = cfg.manifest("full")
        gc = m.glob("g_counter")
        big = "M%x,%x:" % (gc, size) + "00" * size  # 2x the advertised size
        check(len(big) > size, "packet not oversized")
        c.send_raw(frame(big))
        b = c.read_byte(5)
        if b == b"+":
            r = c.read_packet().decode()
            check(r.startswith("E"), "an oversized packet must get an E reply (or a nak), got %r" % r[:80])
        else:
            check(b == b"-", "oversized packet: expected '+E..' or '-', got %r" % b)
        # Nothing was written, and the next packet works.
        cur = bytes.fromhex(c.rq("m%x,8" % gc))
        check(int.from_bytes(cur, "little") == m.glob_value("g_counter"),
              "oversized M must not write: g_counter = %r" % cur.hex())
        check(c.rq("?").startswith("T"), "'?' after the oversized packet")
        # A packet of exactly PacketSize bytes is accepted.
        pad = "m" + "0" * (size - len("m%x,8" % gc)) + "%x,8" % gc
        check(len(pad) == size, "bad test packet size")
        r = c.rq(pad)
        check(r == le_hex(m.glob_value("g_counter")), "a packet of exactly PacketSize bytes: %r" % r[:80])


@test
def invalid_hex_gets_error_replies(cfg):
    m = cfg.manifest("full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        before = c.rq("g")
        bad = {
            "m": ["mzz,8", "m%x,zz" % gc, "m%x" % gc, "m,8", "m%x;8" % gc],
            "M": ["M%x,2:zzzz" % gc, "M%x,2:12" % gc, "M%x,2:123456" % gc, "Mzz,2:1234", "M%x,2" % gc,
                  "M%x,1:1g" % gc],
            "P": ["P10=zz", "P10=12", "Pzz=0000000000000000", "P10", "P10=" + "0" * 15 + "g",
                  "P%x=0000000000000000" % len(REGS)],
            # The last one changes rax, then has a bad digit in rbp: nothing may be written.
            "G": ["Gzz", "G" + "0" * 15 + "g", "G" + le_hex(0x4242) + before[16:100] + "zz" + before[102:]],
            "p": ["pzz", "p%x" % len(REGS), "p10000"],
        }
        for kind, pkts in bad.items():
            for p in pkts:
                r = c.rq(p)
                check(r.startswith("E") and len(r) == 3, "%r must give an Exx reply, got %r" % (p, r[:80]))
        check(int.from_bytes(bytes.fromhex(c.rq("m%x,8" % gc)), "little") == m.glob_value("g_counter"),
              "a rejected M must not write")
        after = c.rq("g")
        check(after == before, "rejected P/G packets must not change any register:\n%s"
              % "\n".join("  %s: %x -> %x" % (k, parse_g(before)[k], parse_g(after)[k])
                          for k in parse_g(before) if parse_g(before)[k] != parse_g(after)[k]))
        check(c.rq("m%x,8" % gc) == le_hex(m.glob_value("g_counter")), "valid m after the errors")


@test
def truncated_packet_then_disconnect(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        for junk in (b"$m14001a0a0,", b"$qSupported:multiprocess+#", b"$qC#4", b"}}}$", b"$" + b"x" * 70000,
                     b"\x03", b"$vCont;c#a8"):
            c = RspClient(srv.port)
            c.send_raw(b"+")
            c.send_raw(junk)
            time.sleep(0.05)
            c.abort() if junk.startswith(b"$x") else c.close()
        time.sleep(0.2)
        check(srv.alive(), "the server died on a truncated packet", srv.stderr)
        with RspClient(srv.port) as c:
            c.handshake()
            check(c.rq("?").startswith("T"), "a new client works after truncated packets")
            check(len(c.rq("g")) == 2 * G_BYTES, "g works")


@test
def interrupt_stops_an_endless_loop_fast(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        setup_endless_loop(c, m)
        for resume in ("vCont;c", "c"):
            c.send(resume)
            check(c.expect_silence(0.5), "%s on long_loop(10**12) must not stop by itself: %r" % (resume, c.rx))
            t0 = time.monotonic()
            c.send_raw(b"\x03")
            r = c.read_packet(timeout=2).decode()
            dt = time.monotonic() - t0
            check(r.startswith("T02"), "0x03 must give a T02 stop reply, got %r" % r)
            check(dt < 0.5, "the stop reply to 0x03 took %.3f s (limit 0.5 s)" % dt)
            tid = int(r.split("thread:")[1].split(";")[0], 16)
            check(tid == m.main_tid, "stop reply names thread %x, not the main thread %x" % (tid, m.main_tid))
            pc = c.regs()["rip"]
            lo, hi = m.fn("long_loop"), m.fn("long_loop") + 0x40
            check(lo <= pc < hi, "after the interrupt pc %#x is outside long_loop" % pc)
        # A 0x03 while stopped is ignored: no reply, and the session goes on.
        c.send_raw(b"\x03")
        check(c.expect_silence(0.3), "0x03 while stopped must not produce a packet: %r" % c.rx)
        check(c.rq("qC").startswith("QC"), "session alive after a stray 0x03")


@test
def late_interrupt_does_not_stop_the_next_run(cfg):
    """A 0x03 that arrives as a run ends by itself (here at a breakpoint) must
    not be kept for the next run: the step after it must execute."""
    m = cfg.manifest("full")
    fib = m.fn("fib")
    rng = random.Random(1234)
    stale = []
    kinds = {}
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        r0 = c.regs()
        c.set_reg("rsp", (r0["rsp"] - 0x1000) & ~0xF)
        check(c.rq("Z0,%x,1" % fib) == "OK", "Z0")
        t_end = time.monotonic() + 20
        for it in range(200):
            if time.monotonic() > t_end:
                break
            c.set_reg("rip", fib)
            c.set_reg("rcx", 5)
            c.send("c")  # stops at the breakpoint after 8 instructions
            d = rng.random() * (0.0008 if it % 2 else 0.003)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < d:
                pass
            c.send_raw(b"\x03")
            first = c.read_packet(2).decode()
            kinds[first[:3]] = kinds.get(first[:3], 0) + 1
            c.send("s")
            r = c.read_packet(2).decode()
            if not r.startswith("T05"):
                stale.append((it, first[:3], r[:20]))
    check(not stale, "%d of %d steps right after a continue+0x03 were not executed but stopped with %s at once "
          "(stale interrupt; first stops: %s); e.g. %s" % (len(stale), sum(kinds.values()), stale[0][2][:3] if stale
                                                           else "", kinds, stale[:3]))


@test
def guest_console_output_reaches_the_client_before_the_stop(cfg):
    """A continue through kernel32!WriteFile on the guest's stdout: the text
    arrives as O packets, then the stop (the hand-set return address 0
    faults once WriteFile returned)."""
    def value(text):
        return int(re.search(r"Return value: (0x[0-9a-f]+)", text).group(1), 16)

    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        handle = value(c.monitor("call kernel32!GetStdHandle -11")[0])
        write_file = value(c.monitor("call testprog!add2 kernel32!WriteFile 0")[0])  # add2(a, 0) = a
        rsp = (c.regs()["rsp"] - 0x400) & ~0xF
        message = b"hello through a continue\n"
        check(c.rq("M%x,%x:%s" % (rsp + 0x100, len(message), message.hex())) == "OK", "the message")
        check(c.rq("M%x,8:%s" % (rsp, le_hex(0))) == "OK", "return address 0")
        check(c.rq("M%x,8:%s" % (rsp + 0x28, le_hex(0))) == "OK", "no OVERLAPPED")
        for name, v in (("rip", write_file), ("rcx", handle), ("rdx", rsp + 0x100), ("r8", len(message)),
                        ("r9", rsp + 0x200), ("rsp", rsp)):
            c.set_reg(name, v)
        c.send("vCont;c")
        out = b""
        while True:
            p = c.read_packet(10)
            if not (p.startswith(b"O") and p != b"OK"):
                break
            out += bytes.fromhex(p[1:].decode())
        check(out == message, "the guest's console before the stop: %r" % out)
        check(p.startswith((b"T0b", b"S0b")), "then the fault at the return address: %r" % p)
        check(c.read_mem(rsp + 0x200, 4) == len(message).to_bytes(4, "little"), "bytes written")


@test
def unknown_packets_get_empty_replies(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        for p in ("vMustReplyEmpty", "qXyzzy", "QFooBar:1", "J", "qTStatus", "!", "qL1200000000000000000",
                  "qXfer:nonsense:read::0,fff", "QNonStop:1", "x0,0"):
            r = c.rq(p)
            check(r == "", "unknown packet %r must get an empty reply, got %r" % (p, r[:80]))
        check(c.rq("?").startswith("T"), "session still fine")


def vfile_open(c, path):
    return c.rq("vFile:open:%s,0,0" % path.encode().hex())


def vfile_pread(c, fd, count, offset):
    r = c.request("vFile:pread:%x,%x,%x" % (fd, count, offset))
    head, _, data = r.partition(b";")
    check(head.startswith(b"F") and not head.startswith(b"F-"), "pread failed: %r" % r[:40])
    data = unescape(data)
    check(len(data) == int(head[1:], 16), "pread length %r for %d bytes" % (head, len(data)))
    return data


@test
def vfile_serves_module_files_and_images_only(cfg):
    """Host files only from --symbols DIR and only under a module's name; other modules as their
    images in dump memory; nothing else, however the path is spelled."""
    with Server(cfg, cfg.dump("full"), ["--symbols", cfg.fixtures_src]) as srv, RspClient(srv.port) as c:
        c.handshake()
        for path in ("/etc/passwd", "testprog.c", "../testprog.c", "..", ".", "", "C:/windows/system32/nosuch.dll",
                     cfg.fixtures_src + "/README.md"):
            check(vfile_open(c, path).startswith("F-1"), "vFile:open %r must fail" % path)
        fd = int(vfile_open(c, "/anywhere/TESTPROG.EXE")[1:], 16)
        with open(os.path.join(cfg.fixtures_src, "testprog.exe"), "rb") as f:
            exe = f.read()
        check(vfile_pread(c, fd, 0x200, 0) == exe[:0x200], "the exe's host file, by its name in any case")
        check(vfile_pread(c, fd, 0x100, len(exe)) == b"", "reading past the end gives nothing")
        check(c.rq("vFile:close:%x" % fd) == "F0" and c.rq("vFile:close:%x" % fd).startswith("F-1"),
              "close, then close again fails")
        fd = int(vfile_open(c, "C:/windows/system32/ntdll.dll")[1:], 16)
        head = vfile_pread(c, fd, 0x400, 0)
        check(head[:2] == b"MZ", "ntdll's image from dump memory starts with MZ")
        for bad in ("vFile:pread:100000000,10,0", "vFile:pread:%x,10,0" % (fd + 1), "vFile:close:100000000"):
            check(c.rq(bad).startswith("F-1"), "%s must fail" % bad)
        files = [vfile_open(c, "C:/windows/system32/kernel32.dll") for _ in range(40)]
        check(files[-1].startswith("F-1") and all(f.startswith("F") for f in files), "descriptors run out cleanly")
        check(c.rq("?").startswith("T"), "the session goes on")


@test
def qsupported_features_and_ida_fingerprint(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        with RspClient(srv.port) as c:
            f = features(c.handshake(GDB_FEATURES, noack=False))
            check("PacketSize" in f and int(f["PacketSize"], 16) >= 0x1000, "PacketSize: %r" % f)
            check(f.get("QStartNoAckMode") == "+", "gdb must be offered QStartNoAckMode: %r" % f)
            check(f.get("qXfer:features:read") == "+", "qXfer:features:read+ missing: %r" % f)
            check(f.get("swbreak") == "+", "swbreak+ missing: %r" % f)
        for ida in ("qSupported:xmlRegisters=i386,arm,mips", "qSupported"):
            with RspClient(srv.port) as c:
                c.send_raw(b"+")
                f = features(c.rq(ida))
                check("PacketSize" in f, "PacketSize missing for IDA: %r" % f)
                check("QStartNoAckMode" not in f, "%r (IDA) must not be offered QStartNoAckMode: %r" % (ida, f))
        with RspClient(srv.port) as c:  # lldb
            c.send_raw(b"+")
            f = features(c.rq("qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+"))
            check(f.get("QStartNoAckMode") == "+", "lldb must be offered QStartNoAckMode: %r" % f)


STOP_T = re.compile(r"^T([0-9a-f]{2})thread:([0-9a-f]+);")


def r2_stop(c, what):
    """radare2's handle_stop_reason: a T reply with a thread, never S05, and no O packet before it."""
    r = c.read_packet(5).decode("latin-1")
    m = STOP_T.match(r)
    check(m is not None, "%s: r2 needs a T stop reply with thread:, got %r" % (what, r[:80]))
    return r


@test
def radare2_packet_sequence(cfg):
    """What r2 (gdb://HOST:PORT, shlr/gdb) sends, in its order, and the replies it parses:
    gdbr_connect, then registers (g only), memory (16-digit addresses for partial
    chunks), vCont steps, Z0/vCont;c/z0 (with dbg.bpinmaps=false)."""
    m = cfg.manifest("full")
    fib, gc = m.fn("fib"), m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.send_raw(b"+")
        check(c.expect_silence(0.25), "r2 waits 250 ms for unsolicited packets: none may come")
        f = features(c.rq("qSupported:multiprocess+;qRelocInsn+;xmlRegisters=i386"))
        size = int(f.get("PacketSize", "40"), 16)
        check(size >= 64 and f.get("qXfer:features:read") == "+", "qSupported for r2: %r" % f)
        check(not any(k in f for k in ("QThreadSuffixSupported", "QListThreadsInStopReply", "qEcho")),
              "keys that switch r2 into its LLDB mode: %r" % f)
        if f.get("QStartNoAckMode") == "+":
            check(c.rq("QStartNoAckMode").startswith("OK"), "QStartNoAckMode")
            c.send_raw(b"+")  # r2's last ack
            c.noack = True
        qc = c.rq("qC")
        check(re.match(r"^QC[0-9a-f]+$", qc), "qC: r2 wants QC<hex>: %r" % qc)
        tid = int(qc[2:], 16)
        vc = c.rq("vCont?")
        check(vc.startswith("vCont;") and "s" in vc[6:].split(";"), "vCont?: r2 reads the actions after 6 chars: %r" % vc)
        check(c.rq("Hg%x" % tid) == "OK", "Hg")
        c.rq("Hc-1")
        chunk = min(max(size, 64), 2048) - 2  # r2 clamps PacketSize to 64..2048
        xml = fetch_xfer(c, "features", "target.xml", chunk).decode()
        check("<architecture>i386:x86-64</architecture>" in xml, "r2 picks its register profile from <architecture>")
        c.rq("qXfer:exec-file:read::0,%x" % chunk)  # sent whether advertised or not: any reply
        g = c.rq("g")
        check(len(g) == 2 * G_BYTES and parse_g(g)["rip"] != 0, "g: the register block in target.xml's order", g[:40])
        # Memory: full chunks as m<addr>,<len>; the rest with a 16-digit address.
        whole = c.rq("m%x,8" % gc)
        part = c.rq("m%016x,8" % gc)
        check(whole == part and int.from_bytes(bytes.fromhex(part), "little") == 122,
              "m with r2's zero-padded address reads g_counter (122): %r %r" % (whole, part))
        bad = c.rq("m%016x,8" % 0x10)
        check(len(bad) == 3 and bad.startswith("E"), "an unreadable address: exactly Exx, as r2 tests: %r" % bad)
        # A hand-set call of fib, stepped and run to a breakpoint, as r2's ds and dc do.
        r0 = parse_g(g)
        c.set_reg("rsp", (r0["rsp"] - 0x1000) & ~0xF)
        c.set_reg("rip", fib)
        c.set_reg("rcx", 5)
        c.send("vCont;s:%x" % tid)
        r2_stop(c, "vCont;s")
        check(parse_g(c.rq("g"))["rip"] != fib, "the step moved RIP")
        c.set_reg("rip", fib)
        c.rq("Z0,%x,1" % fib)  # r2 never reads this reply
        c.send("vCont;c")
        r2_stop(c, "vCont;c to a breakpoint")
        check(parse_g(c.rq("g"))["rip"] == fib, "stopped at the breakpoint, PC at its address")
        c.rq("z0,%x,1" % fib)
        check(c.rq("qC").startswith("QC"), "the session goes on")


@test
def ida_packet_sequence(cfg):
    """IDA's gdb debugger: the opening seen in a real log (gdbstub issue 134), then
    what other stubs document of it (double '+', '!', Hg0, target.xml, ?, qC, g, m,
    threads, breakpoints removed and re-added around a step, vCont). IDA is closed
    source: the part after target.xml is from those stubs' notes, not a capture."""
    m = cfg.manifest("full")
    fib, gc = m.fn("fib"), m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.send_raw(b"++")  # "IDA sometimes has double +"
        f = features(c.rq("qSupported:xmlRegisters=i386,arm,mips"))
        check("PacketSize" in f and "QStartNoAckMode" not in f, "IDA: no no-ack offer: %r" % f)
        check(c.rq("!") in ("", "OK"), "'!' (extended mode) answered, not dropped")
        check(c.rq("Hg0") == "OK", "Hg0")
        xml = fetch_xfer(c, "features", "target.xml", 0xfff).decode()
        check("i386:x86-64" in xml and "<osabi>" not in xml, "target.xml for IDA: 64-bit, no osabi")
        why = c.rq("?")
        check(STOP_T.match(why), "'?': a T stop reply with thread: %r" % why[:60])
        check(c.rq("qC").startswith("QC"), "qC")
        threads = c.rq("qfThreadInfo")
        check(threads.startswith("m") and c.rq("qsThreadInfo") == "l", "qfThreadInfo/qsThreadInfo")
        regs = parse_g(c.rq("g"))
        check(int.from_bytes(bytes.fromhex(c.rq("m%x,8" % gc)), "little") == 122, "m of g_counter")
        c.set_reg("rsp", (regs["rsp"] - 0x1000) & ~0xF)
        c.set_reg("rip", fib)
        c.set_reg("rcx", 5)
        check(c.rq("Z0,%x,1" % fib) == "OK", "Z0: IDA expects OK")
        check(c.rq("z0,%x,1" % fib) == "OK", "z0 before stepping off the breakpoint")
        c.send("vCont;s:%x" % int(threads[1:].split(",")[0], 16))
        r = c.read_packet(5).decode()
        check(STOP_T.match(r) and "reason:" not in r, "step: a plain T05 reply (IDA parses strictly): %r" % r)
        check(c.rq("Z0,%x,1" % fib) == "OK", "Z0 again after the step")
        c.set_reg("rip", fib)
        c.send("vCont;c")
        r = c.read_packet(5).decode()
        check(r.startswith("T05") and "swbreak" in r, "continue to the breakpoint: %r" % r)
        check(parse_g(c.rq("g"))["rip"] == fib, "PC at the breakpoint itself (IDA: uncheck 'at EIP+1')")


@test
def noack_mode_accepted_unasked(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.send_raw(b"++")
        c.send("QStartNoAckMode")  # before qSupported, as lldb does
        check(c.read_packet() == b"OK", "QStartNoAckMode must be accepted before qSupported")
        c.noack = True
        c.acks = b""
        c.send_raw(b"+")  # lldb acks the OK; a stray '+' must be ignored
        r = c.rq("qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+")
        check("PacketSize" in r, "qSupported after no-ack: %r" % r)
        c.rq("m%x,8" % m.glob("g_counter"))
        check(b"+" not in c.acks and b"-" not in c.acks, "no acks may be sent in no-ack mode: %r" % c.acks)
        # No-ack: a bad checksum is neither nakked nor answered... (nothing at all).
        good = frame("qC")
        c.send_raw(good[:-2] + b"00")
        check(c.expect_silence(0.3), "no-ack mode: a corrupt packet gets no reply/nak: %r" % c.rx)
        check(c.rq("qC").startswith("QC"), "works after the corrupt packet")


@test
def target_xml(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        with RspClient(srv.port) as c:
            c.handshake()
            first = c.request("qXfer:features:read:target.xml:0,fff")
            check(first[:1] in (b"m", b"l"), "target.xml reply: %r" % first[:80])
            xml = fetch_xfer(c, "features", "target.xml", 0xfff).decode()
            check(xml.startswith(first[1:].decode()), "first window differs from the whole document")
            check("<architecture>i386:x86-64</architecture>" in xml, "no x86-64 <architecture>", xml[:400])
            check("<osabi>" not in xml, "target.xml must not name an <osabi> by default", xml[:400])
            root = ET.fromstring(xml)
            regs = root.findall(".//reg")
            check([r.get("name") for r in regs] == [n for n, _ in REGS], "register names/order differ from g's layout")
            check(sum(int(r.get("bitsize")) for r in regs) == 8 * G_BYTES, "register sizes do not add up to 552 bytes")
            # Small windows give the same document; an unknown annex is an error.
            check(fetch_xfer(c, "features", "target.xml", 0x100).decode() == xml, "0x100-byte windows differ")
            r = c.rq("qXfer:features:read:nosuch.xml:0,fff")
            check(r.startswith("E"), "unknown annex must give an E reply: %r" % r[:80])
            r = c.rq("qXfer:features:read:target.xml:%x,fff" % (len(xml) + 100))
            check(r == "l", "reading past the end must give 'l': %r" % r[:80])
    with Server(cfg, cfg.dump("full"), ["--osabi", "windows"]) as srv, RspClient(srv.port) as c:
        c.handshake()
        xml = fetch_xfer(c, "features", "target.xml", 0xfff).decode()
        check("<osabi>Windows</osabi>" in xml, "--osabi windows must add <osabi>Windows</osabi>", xml[:400])
        ET.fromstring(xml)


@test
def g_reply_is_552_bytes_and_matches_the_dump(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        g = c.rq("g")
        check(len(g) == 1104, "g reply must be exactly 1104 hex chars, got %d" % len(g))
        for tid, teb in m.threads:
            r = c.regs(tid)
            check(r["gs_base"] == teb, "thread %d gs_base %#x != TEB %#x" % (tid, r["gs_base"], teb))
            p = c.rq("p%x;thread:%x;" % (58, tid))
            check(int.from_bytes(bytes.fromhex(p), "little") == teb, "p3a;thread: gives %r" % p)
        # G writes what g reads back.
        c.rq("Hg%x" % m.main_tid)
        g = c.rq("g")
        new = g[:32] + le_hex(0x1122334455667788) + g[48:]  # rcx: register 2, bytes 16..23
        check(c.rq("G" + new) == "OK", "G refused")
        check(parse_g(c.rq("g"))["rcx"] == 0x1122334455667788, "G did not set rcx")


@test
def vcont_query(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        r = c.rq("vCont?")
        acts = r.split(";")
        check(acts[0] == "vCont" and all(a in acts[1:] for a in ("c", "C", "s", "S")),
              "vCont? must list c;C;s;S, got %r" % r)


@test
def memory_edge_cases(cfg):
    m = cfg.manifest("full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        check(c.rq("m0,8").startswith("E"), "unmapped m must give an E reply")
        check(c.rq("mffffffffffffffff,10").startswith("E"), "m at the top of the address space")
        check(c.rq("m%x,0" % gc) == "", "a zero-length m gives an empty reply")
        r = c.rq("m%x,100000" % gc)
        check(not r.startswith("E") and 0 < len(r) < 0x4000 * 2, "a huge m is clamped: %d chars" % len(r))
        check(c.rq("M%x,0:" % gc) == "OK", "a zero-length M is OK")
        # X with bytes that need escaping: $ # } * and 0x03.
        data = bytes([0x24, 0x23, 0x7D, 0x2A, 0x03, 0x00, 0xFF, 0x2B])
        esc = b"".join(b"}" + bytes([x ^ 0x20]) if x in b"$#}*" else bytes([x]) for x in data)
        c.send(b"X%x,8:" % m.glob("g_buf") + esc)
        check(c.read_packet() == b"OK", "X with escaped bytes")
        check(c.read_mem(m.glob("g_buf"), 8) == data, "X wrote the wrong bytes")
        # Client run-length encoding: '0' '*' ' ' = '0' repeated 1+3 times.
        c.send(b"M%x,2:0* " % m.glob("g_buf"))
        check(c.read_packet() == b"OK", "M with run-length encoding")
        check(c.read_mem(m.glob("g_buf"), 2) == b"\0\0", "RLE M wrote the wrong bytes")
        # Memory the dump does not hold cannot be written.
        check(c.rq("M0,1:00").startswith("E"), "M to unmapped memory must fail")


@test
def threads_and_stop_replies(cfg):
    m = cfg.manifest("full")
    tids = sorted(t for t, _ in m.threads)
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        r = c.rq("qfThreadInfo")
        check(r.startswith("m"), "qfThreadInfo: %r" % r)
        got = sorted(int(x, 16) for x in r[1:].split(","))
        check(got == tids, "thread list %r != manifest %r" % (got, tids))
        check(c.rq("qsThreadInfo") == "l", "qsThreadInfo must end the list")
        check(c.rq("qC") == "QC%x" % m.main_tid, "qC names the main thread")
        check(c.rq("qAttached") == "1", "qAttached must be 1")
        for t in tids:
            check(c.rq("T%x" % t) == "OK", "T%x: thread alive" % t)
        check(c.rq("T12345").startswith("E"), "T on an unknown thread is an error")
        check(c.rq("Hg12345").startswith("E"), "Hg on an unknown thread is an error")
        r = c.rq("?")
        check(r.startswith("T05thread:%x;" % m.main_tid), "'?' on the full dump: %r" % r)
        xml = fetch_xfer(c, "threads", "", 0xfff).decode()
        check('name="main"' in xml, "qXfer:threads names the main thread", xml)


@test
def siginfo_binary_escaping(cfg):
    m = cfg.manifest("crash")
    x = m.exception
    with Server(cfg, cfg.dump("crash")) as srv, RspClient(srv.port) as c:
        c.handshake()
        r = c.rq("?")
        check(r.startswith("T0bthread:%x;" % x["thread_id"]), "'?' on the crash dump: %r" % r)
        check(("10:" + le_hex(int(x["context"]["rip"], 16))) in r, "stop reply expedites the fault rip: %r" % r)
        data = fetch_xfer(c, "siginfo", "", 0xfff)
        check(len(data) == 152, "siginfo is %d bytes, not 152" % len(data))
        code = int.from_bytes(data[0:4], "little")
        addr = int.from_bytes(data[16:24], "little")
        info1 = int.from_bytes(data[40:48], "little")
        check(code == 0xC0000005 and addr == int(x["exception_address"], 16) and info1 == 0xDEADBEEF,
              "siginfo fields: code %#x addr %#x info[1] %#x" % (code, addr, info1))


@test
def library_lists_for_gdb_and_lldb(cfg):
    m = cfg.manifest("full")
    bases = {k.lower(): int(v, 16) for k, v in m.data["modules"].items() if v}
    with Server(cfg, cfg.dump("full")) as srv:
        for who, feats in (("gdb", GDB_FEATURES),
                           ("lldb", "xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+")):
            with RspClient(srv.port) as c:
                c.handshake(feats)
                xml = fetch_xfer(c, "libraries", "", 0x200).decode()
                root = ET.fromstring(xml)
                libs = {}
                for lib in root.findall("library"):
                    name = lib.get("name").replace("\\", "/").rsplit("/", 1)[-1].lower()
                    seg, sec = lib.findall("segment"), lib.findall("section")
                    if who == "gdb":
                        check(len(seg) == 1 and not sec, "gdb wants one <segment> per library", xml)
                        libs[name] = int(seg[0].get("address"), 16)
                    else:
                        check(len(sec) == 1 and not seg, "lldb wants one <section> per library", xml)
                        libs[name] = int(sec[0].get("address"), 16)
                dlls = {k: v for k, v in bases.items() if k != "testprog.exe"}
                check(set(dlls) <= set(libs), "%s library list lacks %s" % (who, set(dlls) - set(libs)), xml)
                for name, base in dlls.items():
                    want = base + 0x1000 if who == "gdb" else base
                    check(libs[name] == want, "%s: %s at %#x, expected %#x" % (who, name, libs[name], want), xml)


@test
def detach_and_kill_close_only_the_session(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        for pkt, want in (("D", "OK"), ("k", None), ("vKill;20", "OK")):
            c = RspClient(srv.port)
            c.handshake()
            c.send(pkt)
            if want:
                check(c.read_packet().decode() == want, "%s reply" % pkt)
            elif c.expect_silence(0.5) is False and c.rx.startswith(b"$"):
                r = c.read_packet(ack=False).decode()  # k needs no reply; an exit status is fine
                check(r[:1] in ("X", "W"), "k may be answered with an exit status, got %r" % r)
            closed = c.expect_silence(2) is False and not c.rx
            c.close()
            check(closed, "the server must end the session after %s" % pkt)
            check(srv.alive(), "the server must survive %s" % pkt, srv.stderr)
        with RspClient(srv.port) as c:
            c.handshake()
            check(c.rq("?").startswith("T"), "new client after D/k")


@test
def monitor_over_raw_packets(cfg):
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        text, final = c.monitor("call testprog!add2 3 5", timeout=10)
        check(final == "OK" and "Return value: 0xd" in text, "monitor call: %r %r" % (text, final))
        text, final = c.monitor("")
        check(final == "OK" and "monitor commands" in text, "empty qRcmd gives the help: %r" % text)
        check(c.rq("qRcmd,6").startswith("E"), "odd-length qRcmd hex must be an error")
        check(c.rq("qRcmd,zz").startswith("E"), "non-hex qRcmd must be an error")
        text, final = c.monitor("nosuchcommand")
        check(final.startswith("E") and "unknown monitor command" in text, "unknown: %r %r" % (text, final))


@test
def many_packets_during_a_run(cfg):
    """A client that keeps sending packets while a continue runs (lldb does some of
    that): they are answered after the stop reply, in order."""
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv, RspClient(srv.port) as c:
        c.handshake()
        setup_endless_loop(c, m)
        c.send("vCont;c")
        for i in range(10):
            c.send("qC")
        check(c.expect_silence(0.3), "packets during a run must wait for the stop: %r" % c.rx[:100])
        c.send_raw(b"\x03")
        r = c.read_packet(2).decode()
        check(r.startswith("T02"), "first reply after 0x03 must be the stop reply, got %r" % r)
        for i in range(10):
            r = c.read_packet(2).decode()
            check(r.startswith("QC"), "deferred reply %d: %r" % (i, r))


if __name__ == "__main__":
    sys.exit(suite.run())
