#!/usr/bin/env python3
"""lldb against `dump_exec --listen`: gdb-remote, threads, registers,
disassembly, memory, register writes, stepping, breakpoints, monitor
commands and the crash dump's stop reason."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MiniDump, Server, Suite, check, have_tool, lldb_batch  # noqa: E402

suite = Suite("test_lldb")
test = suite.test

REG = re.compile(r"^\s*(\w+) = (0x[0-9a-f]+)", re.M)
THREAD = re.compile(r"thread #(\d+): tid = (0x[0-9a-f]+), (0x[0-9a-f]+)")
DISASM = re.compile(r"^(?:->)?\s+(0x[0-9a-f]+)(?: <[^>]*>)?: (\w+)", re.M)


def regs_of(text):
    return {k: int(v, 16) for k, v in REG.findall(text)}


def main_thread(cfg, kind):
    m = cfg.manifest(kind)
    for th in MiniDump(cfg.dump(kind)).threads():
        if th["tid"] == m.main_tid:
            return th
    raise AssertionError("no main thread in the dump")


@test
def threads_registers_disassembly_memory(cfg):
    m = cfg.manifest("full")
    main = main_thread(cfg, "full")
    gc = m.glob("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["thread list", "register read rip rsp", "disassemble -c 3 -s $pc",
                                  "memory read -s8 -fx -c1 0x%x" % gc, "memory read -c 15 0x%x" % m.glob("g_str"),
                                  "register write rax 0x1234", "register read rax",
                                  "memory write -s8 0x%x 0x2a" % gc, "memory read -s8 -fd -c1 0x%x" % gc,
                                  "thread select 2", "register read rip rsp"])
    check("Process %d stopped" % m.data["process"]["pid"] in t.connect, "gdb-remote attaches to pid %d"
          % m.data["process"]["pid"], t)
    check("stop reason = signal SIGSTOP" in t.connect, "a dump without an exception stops as an attach does", t.connect)
    listed = {int(tid, 16): int(pc, 16) for _, tid, pc in THREAD.findall(t.section(0))}
    want = sorted(tid for tid, _ in m.threads)
    check(sorted(listed) == want, "thread list tids %s != manifest %s" % (sorted(listed), want), t.section(0))
    r = regs_of(t.section(1))
    check(r.get("rip") == main["ctx"]["rip"] and r.get("rsp") == main["ctx"]["rsp"],
          "register read rip rsp: %s, the dump has rip %#x rsp %#x" % (r, main["ctx"]["rip"], main["ctx"]["rsp"]),
          t.section(1))
    d = [(int(a, 16), op) for a, op in DISASM.findall(t.section(2))]
    check(len(d) == 3 and d[0][0] == main["ctx"]["rip"], "disassemble -c 3 -s $pc", t.section(2))
    check(re.search(r"0x%x: 0x0*7a\b" % gc, t.section(3)), "memory read of g_counter = 122", t.section(3))
    check("hello, dumpexec" in t.section(4), "memory read of g_str", t.section(4))
    check("error" not in t.section(5).lower(), "register write rax", t.section(5))
    check(regs_of(t.section(6)).get("rax") == 0x1234, "register read rax after the write", t.section(6))
    check(re.search(r"0x%x: 42\b" % gc, t.section(8)), "memory write then read back 42", t.section(8))
    worker = [th for th in MiniDump(cfg.dump("full")).threads() if th["tid"] != m.main_tid][0]
    r2 = regs_of(t.section(10))
    check(r2.get("rip") == worker["ctx"]["rip"] and r2.get("rsp") == worker["ctx"]["rsp"],
          "thread 2's registers are the worker's", t.section(10))


@test
def memory_regions_follow_the_pe_sections(cfg):
    m = cfg.manifest("full")
    ntdll = int(m.data["modules"]["ntdll.dll"], 16)
    text = int(m.data["syscall"]["stub_address"], 16)  # NtQueryInformationProcess's stub, in ntdll's .text
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["memory region 0x%x" % text, "memory region 0x%x" % (ntdll + 0x10),
                                  "memory region 0x%x" % m.glob("g_counter")])
    region = re.compile(r"\[0x([0-9a-f]+)-0x([0-9a-f]+)\) (\S+)")
    code, head, data = (region.search(t.section(i)) for i in range(3))
    check(code and code.group(3) == "r-x" and int(code.group(1), 16) <= text < int(code.group(2), 16)
          and int(code.group(1), 16) > ntdll, "ntdll's .text is r-x, its own region", t.section(0))
    check(head and head.group(3) == "r--" and int(head.group(1), 16) == ntdll, "the headers are r--", t.section(1))
    check(data and data.group(3) == "rw-", "testprog's data is rw-", t.section(2))


@test
def step_inst_advances_pc(cfg):
    m = cfg.manifest("full")
    fib = m.fn("fib")
    rsp = (main_thread(cfg, "full")["ctx"]["rsp"] - 0x100) & ~0xF
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["register write rip 0x%x" % fib, "register write rcx 5",
                                  "register write rsp 0x%x" % rsp, "disassemble -c 5 -s 0x%x" % fib,
                                  "thread step-inst", "register read rip rsp", "thread step-inst",
                                  "thread step-inst", "register read rip rsp"])
    d = [int(a, 16) for a, _ in DISASM.findall(t.section(3))]
    check(len(d) == 5 and d[0] == fib, "disassemble fib", t.section(3))
    check("stop reason = instruction step" in t.section(4), "thread step-inst stop reason", t.section(4))
    r = regs_of(t.section(5))
    check(r.get("rip") == d[1] and r.get("rsp") == rsp - 8, "after one step-inst (push rsi): %s" % r, t)
    r = regs_of(t.section(8))
    check(r.get("rip") == d[3] and r.get("rsp") == rsp - 16 - 0x28, "after three step-inst: %s" % r, t)


@test
def breakpoint_and_continue(cfg):
    m = cfg.manifest("full")
    fib = m.fn("fib")
    rsp = (main_thread(cfg, "full")["ctx"]["rsp"] - 0x100) & ~0xF
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["register write rip 0x%x" % fib, "register write rcx 5",
                                  "register write rsp 0x%x" % rsp, "breakpoint set -a 0x%x" % fib, "continue",
                                  "register read rip rcx", "breakpoint list", "memory read -s1 -fx -c2 0x%x" % fib,
                                  "continue", "register read rcx", "breakpoint list"])
    check("stop reason = breakpoint 1.1" in t.section(4), "continue must stop at breakpoint 1.1", t)
    r = regs_of(t.section(5))
    check(r.get("rip") == fib and r.get("rcx") == 4, "at the breakpoint: %s (want rip %#x, rcx 4)" % (r, fib), t)
    check(re.search(r"hit count = 1\b", t.section(6)), "hit count 1", t.section(6))
    check(re.search(r"0x%x: 0x56 0x53" % fib, t.section(7)), "memory under a breakpoint shows the original bytes",
          t.section(7))
    check("stop reason = breakpoint 1.1" in t.section(8) and regs_of(t.section(9)).get("rcx") == 3,
          "second continue: fib(3)", t)
    check(re.search(r"hit count = 2\b", t.section(10)), "hit count 2", t.section(10))


@test
def monitor_via_process_plugin_packet(cfg):
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["process plugin packet monitor call testprog!add2 3 5",
                                  "process plugin packet monitor call testprog!dmul 3.5 -2.0",
                                  "process plugin packet monitor modules",
                                  "process plugin packet monitor frobnicate"])
    check("Return value: 0xd" in t.section(0), "monitor call add2 3 5", t.section(0))
    check("XMM0: -7 " in t.section(1), "monitor call dmul", t.section(1))
    check("testprog.exe" in t.section(2), "monitor modules", t.section(2))
    check("unknown monitor command" in t.section(3), "unknown monitor command", t.section(3))


@test
def a_fault_passed_on_reaches_the_guests_handler(cfg):
    m = cfg.manifest("full")
    fns = m.data["functions"]
    repair, ret = fns["veh_repair_load"]["address"], fns["add2"]["address"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = lldb_batch(srv.port, ["register write rcx 0x5a5a0000", "register write rip %s" % repair,
                                  "breakpoint set -a %s" % ret, "register write rsp 0x21eb00",
                                  "memory write -s 8 0x21eb00 %s" % ret, "continue"],
                       after_crash=["continue", "register read rip rax"])
    check("access violation reading 0x5a5a0000" in t.section(5), "the fault stops first chance", t.section(5))
    r = regs_of(t.section(7))
    check("breakpoint 1.1" in t.section(6) and r.get("rax") == 42 and r.get("rip") == int(ret, 16),
          "continue passes SIGSEGV on: the handler repairs the load, the function returns 42", t)


@test
def crash_dump_stop_reason(cfg):
    m = cfg.manifest("crash")
    x = m.exception
    with Server(cfg, cfg.dump("crash")) as srv:
        t = lldb_batch(srv.port, ["thread list", "register read rip rsp rax", "disassemble -c 1 -s $pc"])
    check("stop reason = Access violation writing 0xdeadbeef" in t.connect, "lldb's stop reason on the crash dump", t)
    listed = {int(tid, 16) for _, tid, _ in THREAD.findall(t.section(0))}
    check(x["thread_id"] in listed and len(listed) == 2, "thread list on the crash dump", t.section(0))
    cur = [l for l in t.section(0).splitlines() if l.lstrip().startswith("*")]
    check(cur and "tid = %#06x" % x["thread_id"] in cur[0], "the faulting thread is selected", t.section(0))
    r = regs_of(t.section(1))
    ctx = x["context"]
    check(r.get("rip") == int(ctx["rip"], 16) and r.get("rsp") == int(ctx["rsp"], 16) and r.get("rax") == 0xDEADBEEF,
          "registers at the fault: %s" % r, t.section(1))
    check("movl   $0x41414141, (%rax)" in t.section(2), "the faulting instruction", t.section(2))


if __name__ == "__main__":
    if not have_tool("lldb"):
        sys.exit(suite.skip_all("lldb not found"))
    sys.exit(suite.run())
