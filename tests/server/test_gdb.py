#!/usr/bin/env python3
"""gdb against `dump_exec --listen`: attach, threads, registers, memory,
stepping, breakpoints, Ctrl-C, monitor commands, detach and reattach."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MiniDump, PtyGdb, RspClient, Server, Suite, check, gdb_batch, have_tool  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import drcov_reader  # noqa: E402

suite = Suite("test_gdb")
test = suite.test

THREAD_LINE = re.compile(r'^\*?\s*(\d+)\s+Thread (\d+)(?: "([^"]*)")?', re.M)
REG_LINE = re.compile(r"^(\w+)\s+(0x[0-9a-f]+)", re.M)
INSN_LINE = re.compile(r"^(?:=>)?\s*(0x[0-9a-f]+)(?: <[^>]*>)?:\s+(\S+)(.*)$", re.M)
# Ghidra's parser for `info proc mappings` lines (ghidragdb util.py REGION_PATTERN).
GHIDRA_REGION = re.compile(r"\s*0x(?P<start>[0-9,A-F,a-f]+)\s+0x(?P<end>[0-9,A-F,a-f]+)\s+0x(?P<size>[0-9,A-F,a-f]+)\s+"
                           r"0x(?P<offset>[0-9,A-F,a-f]+)\s+((?P<perms>[rwsxp\-]+)?\s+)?(?P<objfile>.*)")


def threads_of(text):
    """[(gdb number, tid, name)] from `info threads`."""
    return [(int(n), int(t), name) for n, t, name in THREAD_LINE.findall(text)]


def regs_of(text):
    return {k: int(v, 16) for k, v in REG_LINE.findall(text)}


def insns_of(text):
    return [(int(a, 16), op, rest.strip()) for a, op, rest in INSN_LINE.findall(text)]


def value_of(text):
    """The value of a `p/x` or `output` line: '$1 = 0x2a' -> 0x2a."""
    m = re.search(r"\$\d+ = (-?(?:0x[0-9a-f]+|\d+))", text)
    check(m, "no value printed", text)
    return int(m.group(1), 0)


def check_attach(cfg, kind, dump_threads, expect_names, exception_tid=None, exception_rip=None):
    """Attach with nothing but `target remote`; check threads, every thread's
    registers (gs_base = TEB, rip/rsp = the dump's) and disassembly at pc."""
    cmds = ["info threads"]
    for i in range(len(dump_threads)):
        cmds += ["thread %d" % (i + 1), "info registers rip rsp gs_base", "x/3i $pc"]
    cmds += ["thread 1", "info program"]
    with Server(cfg, cfg.dump(kind)) as srv:
        t = gdb_batch(srv.port, cmds, timeout=90)
    check("Remote connection closed" not in t.text and "Remote 'g' packet reply is too long" not in t.text,
          "gdb lost the connection", t)
    listed = threads_of(t.section(0))
    by_tid = {tid: (num, name) for num, tid, name in listed}
    want = {th["tid"]: th for th in dump_threads}
    check(sorted(by_tid) == sorted(want), "info threads lists tids %s, the dump has %s" % (sorted(by_tid), sorted(want)),
          t.section(0))
    for tid, name in expect_names.items():
        check(by_tid[tid][1] == name, "thread %d is named %r, expected %r" % (tid, by_tid[tid][1], name), t.section(0))
    if exception_tid is not None:
        cur = [l for l in t.section(0).splitlines() if l.startswith("*")]
        check(cur and ("Thread %d " % exception_tid) in cur[0] + " ", "the exception thread must be current",
              t.section(0))
    for i in range(len(dump_threads)):
        sw, regtext, dis = t.section(1 + 3 * i), t.section(2 + 3 * i), t.section(3 + 3 * i)
        m = re.search(r"Thread (\d+)", sw)
        check(m, "`thread %d` did not switch" % (i + 1), sw)
        tid = int(m.group(1))
        regs = regs_of(regtext)
        check({"rip", "rsp", "gs_base"} <= set(regs), "info registers rip rsp gs_base", regtext)
        check(regs["gs_base"] == want[tid]["teb"], "thread %d: gs_base %#x != TEB %#x" % (tid, regs["gs_base"],
                                                                                        want[tid]["teb"]), regtext)
        ctx = want[tid]["ctx"]
        if tid == exception_tid:
            check(regs["rip"] == exception_rip, "exception thread rip %#x != %#x" % (regs["rip"], exception_rip))
        else:
            check(regs["rip"] == ctx["rip"] and regs["rsp"] == ctx["rsp"],
                  "thread %d rip/rsp %#x/%#x != the dump's %#x/%#x" % (tid, regs["rip"], regs["rsp"], ctx["rip"],
                                                                      ctx["rsp"]), regtext)
        insns = insns_of(dis)
        check(len(insns) == 3 and insns[0][0] == regs["rip"], "x/3i $pc must disassemble 3 instructions at pc",
              dis)
        check("(bad)" not in dis and "Cannot access memory" not in dis, "x/3i $pc", dis)
    return t


@test
def attach_full_dump(cfg):
    m = cfg.manifest("full")
    md = MiniDump(cfg.dump("full"))
    threads = md.threads()
    check(sorted((th["tid"], th["teb"]) for th in threads) == sorted(m.threads), "minidump parser vs manifest")
    t = check_attach(cfg, "full", threads, {m.main_tid: "main"})
    check("It stopped with signal SIGTRAP" in t.section(len(t.sections) - 1), "full dump stops with SIGTRAP",
          t.section(len(t.sections) - 1))


@test
def attach_crash_dump(cfg):
    m = cfg.manifest("crash")
    x = m.exception
    md = MiniDump(cfg.dump("crash"))
    rip = int(x["context"]["rip"], 16)
    check(md.exception()["ctx"]["rip"] == rip, "minidump exception context vs manifest")
    # The main thread is the faulting one; the server may call it "main" or "exception".
    t = check_attach(cfg, "crash", md.threads(), {}, exception_tid=x["thread_id"], exception_rip=rip)
    names = {tid: name for _, tid, name in threads_of(t.section(0))}
    check(names[x["thread_id"]] in ("main", "exception"), "faulting main thread's name: %r" % names[x["thread_id"]])
    info = t.section(len(t.sections) - 1)
    check("It stopped with signal SIGSEGV" in info, "crash dump: the stop signal must be SIGSEGV", t)
    check("movl   $0x41414141,(%rax)" in t.section(3), "the faulting instruction", t.section(3))


@test
def attach_breakpad_dump(cfg):
    md = MiniDump(cfg.dump("breakpad"))
    x = md.exception()
    check(x is not None and len(md.threads()) == 6, "the Breakpad dump has 6 threads and an exception")
    check_attach(cfg, "breakpad", md.threads(), {}, exception_tid=x["tid"], exception_rip=x["ctx"]["rip"])


@test
def memory_and_register_writes(cfg):
    m = cfg.manifest("full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["x/gx 0x%x" % gc, "set {long long}0x%x = 42" % gc, "x/gx 0x%x" % gc,
                                 "output *(long long *)0x%x" % gc, "x/s 0x%x" % m.glob("g_str"),
                                 "set $rax = 0x1234", "p/x $rax", "set $xmm0.v2_int64[0] = 0x3ff0000000000000",
                                 "p $xmm0.v2_double[0]", "set $eflags = 0x246", "p $eflags",
                                 "thread 2", "set $rbx = 0x77", "thread 1", "p/x $rbx", "thread 2", "p/x $rbx"])
    check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*7a\b" % gc, t.section(0)), "g_counter at dump time is 122", t.section(0))
    check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*2a\b" % gc, t.section(2)), "g_counter reads back 42", t.section(2))
    check(t.section(3).strip() == "42", "*(long long*) reads 42", t.section(3))
    check('"hello, dumpexec"' in t.section(4), "g_str", t.section(4))
    check(value_of(t.section(6)) == 0x1234, "$rax reads back 0x1234", t.section(6))
    check(re.search(r"= 1\b", t.section(8)), "xmm0 double reads back 1", t.section(8))
    check("ZF" in t.section(10) and "PF" in t.section(10), "eflags written and decoded", t.section(10))
    check(value_of(t.section(14)) != 0x77 and value_of(t.section(16)) == 0x77, "registers are per thread",
          t.section(14) + t.section(16))


@test
def stepi_advances_one_instruction(cfg):
    m = cfg.manifest("full")
    fib = m.fn("fib")
    nsteps = 5
    cmds = ["set $pc = 0x%x" % fib, "set $rcx = 5", "set $rsp = $rsp - 0x100", "x/10i $pc"]
    for _ in range(nsteps):
        cmds += ["stepi", "p/x $pc"]
    cmds += ["p $rbx", "p/x $rsp"]
    with Server(cfg, cfg.dump("full")) as srv:
        before = gdb_batch(srv.port, ["p/x $rsp"])
        t = gdb_batch(srv.port, cmds)
    rsp0 = value_of(before.section(0)) - 0x100
    insns = insns_of(t.section(3))
    check(len(insns) == 10 and insns[0][0] == fib, "x/10i at fib", t.section(3))
    branch = re.compile(r"^(j\w+|call\w*|ret\w*|loop\w*|jmp\w*)$")
    check(not any(branch.match(op) for _, op, _ in insns[:nsteps]), "the first %d instructions of fib must be "
          "straight-line code" % nsteps, t.section(3))
    for k in range(nsteps):
        pc = value_of(t.section(5 + 2 * k))
        check(pc == insns[k + 1][0], "after stepi %d pc is %#x, expected %#x (the instruction after %s)"
              % (k + 1, pc, insns[k + 1][0], insns[k][1]), t)
        check("SIGSEGV" not in t.section(4 + 2 * k) and "SIGINT" not in t.section(4 + 2 * k), "stepi %d" % (k + 1),
              t.section(4 + 2 * k))
    # push rsi; push rbx; sub $0x28,%rsp; mov %ecx,%ebx: the effects are there too.
    check(value_of(t.section(4 + 2 * nsteps)) == 5, "mov %ecx,%ebx ran: $rbx", t)
    check(value_of(t.section(5 + 2 * nsteps)) == rsp0 - 16 - 0x28, "two pushes and sub 0x28 ran: $rsp", t)


@test
def breakpoint_hit_counts_across_continues(cfg):
    m = cfg.manifest("full")
    fib = m.fn("fib")
    cmds = ["break *0x%x" % fib, "set $pc = 0x%x" % fib, "set $rcx = 5", "set $rsp = $rsp - 0x100"]
    for _ in range(3):
        cmds += ["continue", "p/x $pc", "p $rcx"]
    cmds += ["info breakpoints", "delete", "x/bx 0x%x" % fib]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    for k in range(3):
        cont, pc, rcx = t.section(4 + 3 * k), t.section(5 + 3 * k), t.section(6 + 3 * k)
        check(re.search(r"Breakpoint 1, 0x0*%x in" % fib, cont), "continue %d must stop at breakpoint 1" % (k + 1), t)
        check(value_of(pc) == fib, "continue %d: pc %#x != breakpoint %#x" % (k + 1, value_of(pc), fib), pc)
        check(value_of(rcx) == 4 - k, "continue %d: fib's argument is %d, expected %d" % (k + 1, value_of(rcx), 4 - k),
              t)
    check("breakpoint already hit 3 times" in t.section(13), "info breakpoints must say hit 3 times", t.section(13))
    check(re.search(r":\s+0x56\b", t.section(15)), "the original byte (push %rsi = 0x56)", t.section(15))


@test
def memory_shows_original_bytes_under_breakpoints(cfg):
    m = cfg.manifest("full")
    fib = m.fn("fib")
    with Server(cfg, cfg.dump("full")) as srv:
        # gdb with breakpoints kept inserted while stopped, asking the server itself.
        t = gdb_batch(srv.port, ["set breakpoint always-inserted on", "break *0x%x" % fib,
                                 "maint packet m%x,4" % fib, "x/4bx 0x%x" % fib])
        check('received: "56534883"' in t.section(2), "m under an inserted breakpoint must show the original bytes",
              t.section(2))
        check(re.search(r"0x56\s+0x53\s+0x48\s+0x83", t.section(3)), "x/4bx under a breakpoint", t.section(3))
        with RspClient(srv.port) as c:
            c.handshake()
            orig = c.read_mem(fib - 4, 16)
            check(orig[4] == 0x56, "fib starts with push rsi (0x56): %s" % orig.hex())
            for a in (fib, fib + 1, fib + 6):
                check(c.rq("Z0,%x,1" % a) == "OK", "Z0 at %#x" % a)
            check(c.read_mem(fib - 4, 16) == orig, "m with breakpoints inserted must show the original bytes, not 0xcc")
            check(c.read_mem(fib, 1) == b"\x56", "m of the breakpoint byte alone")
            check(c.rq("Z1,%x,1" % (fib + 2)) == "OK", "Z1 (hardware breakpoint)")
            check(c.read_mem(fib - 4, 16) == orig, "hardware breakpoint changed memory")
            # Writing over a breakpoint changes the code, and the breakpoint stays transparent.
            check(c.rq("M%x,1:90" % (fib + 1)) == "OK", "M over a breakpoint")
            check(c.read_mem(fib, 2) == b"\x56\x90", "M over a breakpoint reads back")
            for a in (fib, fib + 1, fib + 6):
                check(c.rq("z0,%x,1" % a) == "OK", "z0 at %#x" % a)


def ctrl_c(cfg, kind):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump(kind)) as srv:
        g = PtyGdb(["-ex", "target remote 127.0.0.1:%d" % srv.port, "-ex", "set $pc = 0x%x" % m.fn("long_loop"),
                    "-ex", "set $rcx = 1000000000000", "-ex", "set $rsp = $rsp - 0x100"])
        try:
            g.expect(r"\(gdb\) ", 30)
            g.send("continue\n")
            g.expect(r"Continuing\.", 10)
            time.sleep(1.0)
            check(b"SIG" not in g.buf and b"(gdb)" not in g.buf, "the endless loop stopped by itself: %r" % g.buf)
            g.send(b"\x03")
            _, dt, text = g.expect(r"received signal SIGINT", 1.0)
            g.expect(r"\(gdb\) ", 5)
            g.send("p/x $pc\n")
            mm, _, text = g.expect(r"\$1 = (0x[0-9a-f]+)", 5)
            pc = int(mm.group(1), 16)
            check(m.fn("long_loop") <= pc < m.fn("long_loop") + 0x40, "after Ctrl-C pc %#x is not in long_loop" % pc)
            # And it goes on: another continue and Ctrl-C.
            g.send("continue\n")
            g.expect(r"Continuing\.", 10)
            time.sleep(0.3)
            g.send(b"\x03")
            g.expect(r"received signal SIGINT", 1.0)
            g.expect(r"\(gdb\) ", 5)
        finally:
            g.close()
        return dt


@test
def ctrl_c_stops_an_endless_loop(cfg):
    dt = ctrl_c(cfg, "full")
    check(dt < 1.0, "SIGINT after %.2f s" % dt)


@test
def monitor_call(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor call testprog!add2 3 5", "monitor call testprog!dmul 3.5 -2.0",
                                 'monitor call testprog!str_len str:"hello, world"',
                                 "monitor call testprog!add2 -7 0x100000000", "monitor call testprog!fadd f32:1.5 f32:2.25",
                                 "monitor call testprog!fib 10", "p/x $pc"])
    check("Return value: 0xd" in t.section(0), "add2 3 5", t.section(0))
    check(re.search(r"XMM0: -7 ", t.section(1)), "dmul 3.5 -2.0 gives XMM0 -7", t.section(1))
    check("Return value: 0xc" in t.section(2), 'str_len "hello, world"', t.section(2))
    check("Return value: 0x1fffffff9" in t.section(3) or "0x1fffffff9" in t.section(3), "add2 -7 2**32", t.section(3))
    check("(0x0000000040700000)" in t.section(4), "fadd 1.5 2.25 = 3.75f (bits 0x40700000 in XMM0)", t.section(4))
    check("Return value: 0x37" in t.section(5), "fib 10 = 55", t.section(5))
    check("Protocol error" not in t.text, "a monitor call failed", t)


@test
def coverage_through_the_monitor(cfg):
    fns = cfg.manifest("full").data["functions"]
    name = "dxcov-%d.drcov" % os.getpid()  # the server writes into its working directory, ours
    try:
        with Server(cfg, cfg.dump("full")) as srv:
            t = gdb_batch(srv.port, ["monitor coverage start " + name, "monitor call testprog!add2 3 5",
                                     "monitor call testprog!fib 10", "monitor coverage", "monitor coverage stop",
                                     "monitor coverage start ../escape.drcov", "monitor coverage stop"])
        check("Coverage on, for " + name in t.section(0), "monitor coverage start", t.section(0))
        check(re.search(r"Coverage on: \d+ blocks so far", t.section(3)), "monitor coverage: the count", t.section(3))
        check("drcov log in " + name in t.section(4), "monitor coverage stop writes the log", t.section(4))
        check("without a folder" in t.section(5) and not os.path.exists("../escape.drcov"),
              "a client cannot name a file outside the server's folder", t.section(5))
        check("Coverage is off" in t.section(6), "stop without start", t.section(6))
        with open(name, "rb") as f:
            mods, blocks = drcov_reader.read(f.read())
        exe = next(i for i, m in enumerate(mods) if m["path"].lower().endswith("testprog.exe"))
        starts = {(m, s) for m, s, _ in blocks}
        check((exe, int(fns["add2"]["rva"], 16)) in starts and (exe, int(fns["fib"]["rva"], 16)) in starts,
              "the log holds add2's and fib's entry blocks", blocks)
        # A session that leaves with coverage on writes its log; the next one, on its engine, starts clean.
        os.unlink(name)
        with Server(cfg, cfg.dump("full")) as srv:
            gdb_batch(srv.port, ["monitor coverage start " + name, "monitor call testprog!add2 3 5"])
            t = gdb_batch(srv.port, ["monitor coverage", "monitor call testprog!add2 3 5"])
        with open(name, "rb") as f:
            blocks = drcov_reader.read(f.read())[1]
        check((exe, int(fns["add2"]["rva"], 16), 5) in blocks, "a session's log written as it ends", blocks)
        check("Coverage off" in t.section(0), "the next session has no coverage of its own", t.section(0))
    finally:
        if os.path.exists(name):
            os.unlink(name)


@test
def tenet_trace_through_the_monitor(cfg):
    name = "dxtenet-%d.log" % os.getpid()
    try:
        with Server(cfg, cfg.dump("full")) as srv:
            t = gdb_batch(srv.port, ["monitor tenet start " + name, "monitor call testprog!add2 3 5",
                                     "monitor tenet stop", "monitor tenet stop", "monitor tenet start /tmp/x.log"])
        check("Tenet trace to " + name in t.section(0), "monitor tenet start", t.section(0))
        check("Tenet trace stopped: 3 lines" in t.section(2), "monitor tenet stop counts the lines", t.section(2))
        check("No Tenet trace is on" in t.section(3) and "without a folder" in t.section(4),
              "tenet stop twice, and a path with a folder", t.section(3) + t.section(4))
        with open(name) as f:
            lines = f.read().splitlines()
        check(len(lines) == 3 and lines[1].startswith("rax=0xd,rip=") and ",mr=" in lines[2],
              "the trace: add2's lea gives 13, its ret reads the stack", lines)
    finally:
        if os.path.exists(name):
            os.unlink(name)


@test
def monitor_call_across_system_calls(cfg):
    m = cfg.manifest("full")
    native_peb = int(m.data["functions"]["call_syscall"]["cases"][0]["result"]["dec"])
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor call testprog!call_syscall", "monitor syscalls on",
                                 "monitor call kernel32!VirtualAlloc 0 0x10000 0x3000 4", "monitor syscalls off",
                                 "monitor set syscalls stop", "monitor call testprog!call_syscall",
                                 "monitor set syscalls emulate", "monitor syscalls"])
        check("Return value: %#x" % native_peb in t.section(0), "NtQueryInformationProcess gives the native PEB",
              t.section(0))
        alloc = re.search(r"Return value: (0x[0-9a-f]+)", t.section(2))
        check(alloc and int(alloc.group(1), 16) and "NtAllocateVirtualMemory(" in t.section(2)
              and "STATUS_SUCCESS" in t.section(2), "VirtualAlloc through gdb, its system call traced", t.section(2))
        check("system call NtQueryInformationProcess" in t.section(5) and "set to stop" in t.section(5),
              "monitor set syscalls stop", t.section(5))
        check("NtAllocateVirtualMemory" in t.section(7) and "emulate" in t.section(7), "monitor syscalls lists",
              t.section(7))
        t2 = gdb_batch(srv.port, ["monitor stub kernel32!GetTickCount 77", "monitor call kernel32!GetTickCount",
                                  "monitor unstub kernel32!GetTickCount", "monitor call kernel32!GetTickCount",
                                  "monitor stub NtQueryInformationProcess 0xc0000022",
                                  "monitor call testprog!call_syscall"])
        check("Return value: 0x4d " in t2.section(1), "monitor stub", t2.section(1))
        check("Return value: 0x4d " not in t2.section(3), "monitor unstub", t2.section(3))
        check("Return value: 0xffffffffc0000022" in t2.section(5), "monitor stub of a service", t2.section(5))
        # The allocation stays for the session: gdb reads and writes it.
        a = int(alloc.group(1), 16)
        t = gdb_batch(srv.port, ["monitor call kernel32!VirtualAlloc 0 0x10000 0x3000 4",
                                 "set {long long}0x%x = 0x1122334455667788" % a, "x/gx 0x%x" % a])
        check("0x1122334455667788" in t.section(2), "gdb writes and reads guest-allocated memory", t)


@test
def exceptions_reach_the_dumps_handlers(cfg):
    m = cfg.manifest("full")
    fns = m.data["functions"]
    repair = fns["veh_repair_load"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor call testprog!veh_repair_load 0x5a5a0000", "monitor call testprog!veh_raise 41",
                                 "monitor call testprog!debug_print testprog!g_debug_msg",
                                 "monitor call testprog!raise_unhandled", "monitor set exceptions stop",
                                 "monitor call testprog!veh_repair_load 0x5a5a0000", "monitor set exceptions dispatch"])
        check("Return value: 0x2a " in t.section(0), "monitor call: the dump's vectored handler repairs the load",
              t.section(0))
        check("Return value: 0x2a " in t.section(1), "monitor call: RaiseException continued by it", t.section(1))
        check(fns["debug_print"]["cases"][0]["arg0_string"] in t.section(2) and "Return value: 0x7 " in t.section(2),
              "monitor call: OutputDebugStringA's text reaches gdb's console", t.section(2))
        check("unhandled exception 0xe0000bad" in t.section(3), "monitor call: an unhandled exception is named",
              t.section(3))
        check("access violation reading 0x5a5a0000 at %s" % repair["address"] in t.section(5)
              and "unhandled" not in t.section(5), "monitor set exceptions stop: the first-chance stop", t.section(5))
        # A hand-set call: the fault stops first chance as SIGSEGV; continuing
        # passes the signal on, the handler repairs the load, the function
        # returns to the breakpoint its return address holds.
        t = gdb_batch(srv.port, ["set $ret = $pc", "set $sp = $sp - 0x28", "set *(long long *)$sp = $ret",
                                 "break *$ret", "set $rcx = 0x5a5a0000", "set $pc = %s" % repair["address"],
                                 "continue", "continue", "p/x $rax", "p/x $pc == $ret"])
        check("SIGSEGV" in t.section(6) and "veh_repair_load" in t.section(6),
              "a hand-set call stops first chance with SIGSEGV", t.section(6))
        check("Breakpoint 1" in t.section(7) and "= 0x2a" in t.section(8) and "= 0x1" in t.section(9),
              "continue delivers it: the function returns the repaired value", t)
        # The same, with a breakpoint in the dispatcher and steps through it.
        t = gdb_batch(srv.port, ["set $ret = $pc", "set $sp = $sp - 0x28", "set *(long long *)$sp = $ret",
                                 "break *$ret", "set $rcx = 0x5a5a0000", "set $pc = %s" % repair["address"],
                                 "continue", "break KiUserExceptionDispatcher", "continue", "stepi 3", "continue",
                                 "p/x $rax", "monitor call testprog!cxx_catch 14"])
        check("KiUserExceptionDispatcher" in t.section(8), "a breakpoint in the dispatcher stops there", t.section(8))
        check("in ntdll!KiUserExceptionDispatcher" in t.section(9) and "Breakpoint" not in t.section(9),
              "stepping through the dispatcher", t.section(9))
        check("Breakpoint 1" in t.section(10) and "= 0x2a" in t.section(11), "and on to the repaired return", t)
        check("Return value: 0x2a " in t.section(12), "monitor call: g++'s throw caught by its caller", t.section(12))


@test
def monitor_listings(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor help", "monitor modules", "monitor threads", "monitor exception",
                                 "monitor regions", "monitor info mappings"])
    for cmd in ("call", "modules", "threads", "regions", "exception", "set", "reset", "help"):
        check(re.search(r"^\s+%s\s" % cmd, t.section(0), re.M), "monitor help lists %r" % cmd, t.section(0))
    check("testprog.exe" in t.section(1) and "0x0000000140000000" in t.section(1), "monitor modules", t.section(1))
    for mod in ("ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"):
        check(mod in t.section(1), "monitor modules lists %s" % mod, t.section(1))
    for tid, teb in m.threads:
        check(re.search(r"0x%x\b.*0x0*%x" % (tid, teb), t.section(2)), "monitor threads: tid %#x with TEB" % tid,
              t.section(2))
    check(t.section(3).strip() and "Protocol error" not in t.section(3), "monitor exception on a dump without one",
          t.section(3))
    lines = [l for l in t.section(4).splitlines() if l.strip() and "Start Addr" not in l]
    check(len(lines) > 5, "monitor regions lists regions", t.section(4))
    check(any("testprog.exe" in l and "0x140000000" in l for l in lines), "regions: testprog.exe's image",
          t.section(4))
    bad = [l for l in lines if not GHIDRA_REGION.fullmatch(l)]
    check(not bad, "%d of %d `monitor regions` lines do not match the `info proc mappings` format Ghidra parses "
          "(every number needs 0x, including an offset of 0), e.g. %r" % (len(bad), len(lines), bad[:2]))
    check(t.section(5) == t.section(4), "monitor info mappings == monitor regions")


@test
def monitor_exception_on_the_crash_dump(cfg):
    with Server(cfg, cfg.dump("crash")) as srv:
        t = gdb_batch(srv.port, ["monitor exception"])
    s = t.section(0)
    check("0xc0000005" in s.lower() and re.search(r"access violation", s, re.I) and "0xdeadbeef" in s,
          "monitor exception must name the access violation writing 0xdeadbeef", s)


@test
def monitor_max_insns_and_reset(cfg):
    m = cfg.manifest("full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor set max-insns 10", "monitor call testprog!long_loop 1000000",
                                 "monitor set max-insns 100000",
                                 "monitor call testprog!counter_add 5", "x/gx 0x%x" % gc,
                                 "monitor call testprog!counter_add 5", "monitor reset", "x/gx 0x%x" % gc,
                                 "monitor call testprog!counter_add 5", "monitor set max-insns -1",
                                 "monitor set max-insns lots", "p 1"])
    s = t.section(1)
    check(re.search(r"limit", s, re.I) and re.search(r"\b10\b", s), "a call stopped by max-insns 10 must name the "
          "limit", s)
    check("Return value" not in s, "long_loop cannot return in 10 instructions", s)
    check("Return value: 0x7f" in t.section(3), "counter_add(5) from the dump's 122 = 127", t.section(3))
    check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*7f\b" % gc, t.section(4)), "g_counter after counter_add", t.section(4))
    check("Return value: 0x84" in t.section(5), "a second counter_add(5) = 132", t.section(5))
    check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*7a\b" % gc, t.section(7)), "monitor reset restores g_counter = 122", t.section(7))
    check("Return value: 0x7f" in t.section(8), "counter_add(5) after reset = 127 again", t.section(8))
    for i in (9, 10):
        check("usage" in t.section(i), "bad max-insns values get a usage message", t.section(i))
    check("$1 = 1" in t.section(11), "the session goes on", t)


@test
def unknown_monitor_command(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["monitor frobnicate 1 2", "monitor call", "monitor call nosuch!fn",
                                 "monitor call testprog!add2 str:\"unterminated", "info threads"])
    check("unknown monitor command 'frobnicate'" in t.section(0) and "monitor help" in t.section(0),
          "an unknown monitor command must say so and point to help", t.section(0))
    check("usage" in t.section(1), "monitor call without a function", t.section(1))
    check("nosuch" in t.section(2), "monitor call of an unknown module names it", t.section(2))
    check(t.section(3).strip(), "monitor call with a bad quote gives a message", t.section(3))
    check(len(threads_of(t.section(4))) == 2, "the session works after the errors", t)


@test
def detach_and_reattach(cfg):
    m = cfg.manifest("full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        t1 = gdb_batch(srv.port, ["set {long long}0x%x = 42" % gc, "x/gx 0x%x" % gc, "detach",
                                  "target remote 127.0.0.1:%d" % srv.port, "x/gx 0x%x" % gc, "info threads", "kill"])
        check("Detaching from program" in t1.section(2) or "detached" in t1.section(2), "detach", t1.section(2))
        check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*7a\b" % gc, t1.section(4)), "a new session starts from the dump", t1)
        check(len(threads_of(t1.section(5))) == 2, "info threads after reattaching in the same gdb", t1)
        check(srv.alive(), "the server must survive detach and kill", srv.stderr)
        t2 = gdb_batch(srv.port, ["info threads", "x/gx 0x%x" % gc, "stepi", "p/x $pc", "monitor call testprog!add2 3 5"])
        check(len(threads_of(t2.section(0))) == 2, "a new gdb attaches after detach", t2)
        check(re.search(r"0x%x(?: <[^>]*>)?:\s+0x0*7a\b" % gc, t2.section(1)), "the new gdb sees the dump's memory", t2)
        check("Return value: 0xd" in t2.section(4), "monitor call in the new gdb", t2)


@test
def interrupted_run_then_step(cfg):
    """After Ctrl-C, stepi runs exactly one instruction (no stale interrupt)."""
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv:
        g = PtyGdb(["-ex", "target remote 127.0.0.1:%d" % srv.port, "-ex", "set $pc = 0x%x" % m.fn("long_loop"),
                    "-ex", "set $rcx = 1000000000000", "-ex", "set $rsp = $rsp - 0x100"])
        try:
            g.expect(r"\(gdb\) ", 30)
            for i in range(5):
                g.send("continue\n")
                g.expect(r"Continuing\.", 10)
                time.sleep(0.15)
                g.send(b"\x03")
                g.expect(r"received signal SIGINT", 2)
                g.expect(r"\(gdb\) ", 5)
                g.send("stepi\n")
                _, _, text = g.expect(r"\(gdb\) ", 5)
                check("SIGINT" not in text, "stepi after an interrupted continue reported SIGINT: %r" % text)
        finally:
            g.close()


if __name__ == "__main__":
    if not have_tool("gdb"):
        sys.exit(suite.skip_all("gdb not found"))
    sys.exit(suite.run())
