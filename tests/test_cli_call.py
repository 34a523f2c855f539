#!/usr/bin/env python3
"""The command line's call mode: dump_exec [OPTIONS] DUMP FUNCTION [ARG...].

usage: test_cli_call.py PATH/TO/dump_exec
Environment: DX_FIXTURES (unpacked dumps), DX_FIXTURES_SRC (manifests).
Expected values come from testprog_full.json, computed natively.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

EXE = sys.argv[1] if len(sys.argv) > 1 else "./dump_exec"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.environ.get("DX_FIXTURES", "tests/fixtures")
FIXTURES_SRC = os.environ.get("DX_FIXTURES_SRC", os.path.join(HERE, "fixtures"))
DUMP = os.path.join(FIXTURES, "testprog_full.dmp")
with open(os.path.join(FIXTURES_SRC, "testprog_full.json")) as f:
    M = json.load(f)

failures = []
checks = 0


# A sanitizer build must not add its own lines to what is checked here.
ENV = dict(os.environ)
if ENV.get("LSAN_OPTIONS"):
    ENV["LSAN_OPTIONS"] += ":print_suppressions=0"


def run(*args, timeout=60, cwd=None):
    p = subprocess.run([os.path.abspath(EXE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=ENV, cwd=cwd)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(cond, what, *context):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)
        for c in context:
            print("   ", c.rstrip() if isinstance(c, str) else c)


def case(name, i=0):
    return M["functions"][name]["cases"][i]


def result_int(c):
    r = c["result"]
    width = 32 if r["type"] in ("i32", "u32") else 64
    return int(r["hex"], 16), width


# `dump_exec DUMP testprog!add2 3 5`, with the manifest's arguments.
c = case("add2")
args = [a["dec"] for a in c["args"]]
want, width = result_int(c)
rc, out, err = run(DUMP, "testprog!add2", *args)
check(rc == 0, "add2: exit 0", rc, err)
check(f"Return value: {want:#x}" in out, f"add2: prints 'Return value: {want:#x}'", out)
check("Instructions: " in out, "add2: prints the instruction count", out)

# Every integer case of a few functions, with negative arguments (which
# must not be taken for options) and addresses of globals.
for name in ("add10", "sum_array", "div_zero", "str_len", "apply"):
    for i, c in enumerate(M["functions"][name]["cases"]):
        if "result" not in c:
            continue
        words = [a["dec"] if "dec" in a else a["hex"] for a in c["args"]]
        want, width = result_int(c)
        rc, out, err = run(DUMP, f"testprog!{name}", *words)
        m = re.search(r"^Return value: 0x([0-9a-f]+)", out, re.M)
        got = int(m.group(1), 16) & ((1 << width) - 1) if m else None
        check(rc == 0 and got == want, f"{name} case {i}: {got} == {want:#x}", rc, out, err)

# Floats through the command line: f32 in, XMM0 bits out.
c = case("fadd")
rc, out, err = run("--json", DUMP, "testprog!fadd", *("f32:" + a["repr"] for a in c["args"]))
if rc == 0:
    bits = int(json.loads(out)["xmm0"]["bits"], 16) & 0xFFFFFFFF
    check(bits == int(c["result"]["bits"], 16), "fadd via f32: words", out)
else:
    check(False, "fadd exits 0", rc, err)
c = case("dmul")
# (f64: because a repr such as "-2" is an integer word.)
rc, out, err = run("--json", DUMP, "testprog!dmul", *("f64:" + a["repr"] for a in c["args"]))
check(rc == 0 and int(json.loads(out)["xmm0"]["bits"], 16) == int(c["result"]["bits"], 16), "dmul via f64: words", out, err)
# A word with a point or an exponent is a double without a prefix.
rc, out, err = run("--json", DUMP, "testprog!dmul", "3.5", "-2.0")
check(rc == 0 and int(json.loads(out)["xmm0"]["bits"], 16) == int(case("dmul")["result"]["bits"], 16) and
      case("dmul")["args"][0]["repr"] == "3.5" and case("dmul")["args"][1]["repr"] == "-2", "dmul 3.5 -2.0", out, err)

# --json: one object with rax, and the buffers of buf: arguments.
c = case("add2")
want, _ = result_int(c)
rc, out, err = run("--json", DUMP, "testprog!add2", *[a["dec"] for a in c["args"]])
try:
    j = json.loads(out)
except ValueError as ex:
    j = None
    check(False, f"--json output parses ({ex})", out)
if j is not None:
    check(rc == 0, "--json add2: exit 0", rc, err)
    check(j.get("returned") is True, "--json: returned true", out)
    check(int(j.get("rax", "0x0"), 16) == want, "--json: rax", out)
    check(isinstance(j.get("instructions"), int) and j["instructions"] > 0, "--json: instructions", out)
c = case("fill_buf")
n = c["args"][1]["dec"]
rc, out, err = run("--json", DUMP, "testprog!fill_buf", "buf:16", n)
try:
    j = json.loads(out)
    check(rc == 0 and j["buffers"] == [c["expect_buffer_hex"]], "--json: fill_buf buffer", out, err)
except (ValueError, KeyError) as ex:
    check(False, f"--json fill_buf ({ex})", out, err)

# Buffers as xxd shows them, and as a C string when they hold one.
rc, out, err = run(DUMP, "testprog!fill_buf", "buf:20", n)
want = bytes.fromhex(c["expect_buffer_hex"]) + bytes(4)
ascii_col = "".join(chr(b) if 32 <= b < 127 else "." for b in want[:16])
check(rc == 0 and f"  00000000: {want[:8].hex(' ')}  {want[8:16].hex(' ')}  |{ascii_col}|" in out and
      "  00000010: 00 00 00 00" in out and "as a C string" not in out, "fill_buf: the buffer in xxd's form", out, err)
rc, out, err = run(DUMP, "kernel32!lstrcpyA", "buf:16", 'str:"v=1234\\tx"')
check(rc == 0 and 'as a C string: "v=1234\\tx"' in out and "|v=1234.x........|" in out,
      "lstrcpyA into buf: the C string it holds", out, err)

# str: and wstr: from the command line.
c = case("str_len")
rc, out, err = run(DUMP, "testprog!str_len", "str:" + c["arg0_string"])
check(rc == 0 and f"Return value: {result_int(c)[0]:#x}" in out, "str_len via str:", out, err)
c = case("wstr_len")
rc, out, err = run(DUMP, "testprog!wstr_len", 'wstr:"' + c["arg0_string"] + '"')
check(rc == 0 and f"Return value: {result_int(c)[0]:#x}" in out, "wstr_len via wstr:", out, err)

# A fault: exit 3, one stderr line naming it, at the native address.
x = case("null_read")["expect_exception"]
rc, out, err = run(DUMP, "testprog!null_read")
check(rc == 3, "null_read: exit 3", rc, err)
named = [l for l in err.splitlines() if "access violation" in l]
check(len(named) == 1, "null_read: one stderr line names 'access violation'", err)
if named:
    check(f"reading {int(x['fault_address'], 16):#x}" in named[0], "null_read: reading the fault address", named[0])
    check(f"at {int(x['address'], 16):#x}" in named[0], "null_read: at the native fault address", named[0])
check(out == "", "null_read: nothing on stdout", out)
rc, out, err = run("--json", DUMP, "testprog!null_write")
try:
    j = json.loads(out)
    x = case("null_write")["expect_exception"]
    check(rc == 3 and j["returned"] is False and "access violation writing" in j["stop"] and
          int(j["pc"], 16) == int(x["address"], 16), "--json null_write", out)
except (ValueError, KeyError) as ex:
    check(False, f"--json null_write ({ex})", out, err)

# Limits.
rc, out, err = run("--max-insns", "1000", DUMP, "testprog!long_loop", "1000000000")
check(rc == 3 and "instruction limit" in err and "1000 instructions" in err, "--max-insns 1000", err)
rc, out, err = run("--max-insns", "0", "--timeout", "0.3", DUMP, "testprog!long_loop", "1000000000000")
check(rc == 3 and "time limit" in err, "--timeout", err)

# --unmapped zero: null_read returns 0.
rc, out, err = run("--unmapped", "zero", DUMP, "testprog!null_read")
check(rc == 0 and "Return value: 0x0 " in out, "--unmapped zero null_read", rc, out, err)

# --variadic for sum_vd.
c = case("sum_vd")
words = [c["args"][0]["dec"]] + ["f64:" + a["repr"] for a in c["args"][1:]]
rc, out, err = run("--variadic", "--json", DUMP, "testprog!sum_vd", *words)
check(rc == 0 and int(json.loads(out or "{}").get("xmm0", {}).get("bits", "0x0"), 16) == int(c["result"]["bits"], 16),
      "--variadic sum_vd", out, err)

# Usage errors exit 2 with a message.
for bad in (["--max-insns", "x", DUMP, "testprog!add2"],
            ["--unmapped", "maybe", DUMP, "testprog!add2"],
            ["--timeout", "-1", DUMP, "testprog!add2"],
            ["--max-sessions", "0", "--listen", "0", DUMP],
            [DUMP, "testprog!no_such_function"],
            [DUMP, "testprog!add2", "buf:0"],
            [DUMP, "testprog!add2", "1.2.3"],
            [os.path.join(FIXTURES, "no_such.dmp"), "testprog!add2"],
            []):
    rc, out, err = run(*bad)
    check(rc == 2 and err.strip() != "", f"usage error {bad!r}: exit 2 with a message", rc, err)

# --trace: one line per instruction, then a summary.
rc, out, err = run("--trace", DUMP, "testprog!add4", *[a["dec"] for a in case("add4")["args"]])
lines = err.splitlines()
insn_lines = [l for l in lines if l.startswith("[")]
line_re = re.compile(r"^\[(\d{6})\] 0x[0-9a-f]{16}: \S.* \| RAX=[0-9a-f]{16} RCX=[0-9a-f]{16} RDX=[0-9a-f]{16}")
check(rc == 0, "--trace add4: exit 0", rc, err)
check(bool(insn_lines) and re.match(r"^\[000001\] 0x[0-9a-f]{16}: ", insn_lines[0]), "--trace: first line [000001]", err)
check(all(line_re.match(l) for l in insn_lines), "--trace: every line has RAX= RCX= RDX=", err)
check([int(line_re.match(l).group(1)) for l in insn_lines if line_re.match(l)] == list(range(1, len(insn_lines) + 1)),
      "--trace: numbered 1..N", err)
check(insn_lines and insn_lines[0].split()[1] == f"0x{int(M['functions']['add4']['address'], 16):016x}:",
      "--trace: starts at add4", err)
summary = [l for l in lines if re.match(r"^-- \d+ instructions in ", l)]
check(len(summary) == 1 and lines[-1] == summary[0], "--trace: one closing summary line", err)
m = re.search(r"^Instructions: (\d+)", out, re.M)
check(m is not None and summary and int(m.group(1)) == len(insn_lines) and
      summary[0].startswith(f"-- {len(insn_lines)} instructions"), "--trace: counts agree", out, err)

# --trace-json: the same trace as JSON Lines, the same instructions and registers.
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "t.jsonl")
    rc, out, err = run("--trace-json", path, DUMP, "testprog!add4", *[a["dec"] for a in case("add4")["args"]])
    with open(path) as f:
        records = [json.loads(l) for l in f]
steps, tail = records[:-1], records[-1]
check(rc == 0 and [r["n"] for r in steps] == list(range(1, len(insn_lines) + 1)) and
      tail.get("instructions") == len(insn_lines), "--trace-json: numbered records and a summary", records[:2])
check(all(int(r["pc"], 16) == int(l.split()[1].rstrip(":"), 16) and
          all(f"{k.upper()}={int(v, 16):016x}" in l for k, v in r["regs"].items()) for r, l in zip(steps, insn_lines)),
      "--trace-json: each record holds its text line's address and registers", steps[:2], insn_lines[:2])

# --trace-file: the same lines into a file; stderr stays quiet.
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "trace.txt")
    rc, out, err = run("--trace-file", path, DUMP, "testprog!add4", *[a["dec"] for a in case("add4")["args"]])
    text = open(path).read() if os.path.exists(path) else ""
    tl = text.splitlines()
    check(rc == 0 and len(tl) == len(insn_lines) + 1 and all(line_re.match(l) for l in tl[:-1]) and
          tl[-1].startswith(f"-- {len(insn_lines)} instructions") and not err.strip(), "--trace-file", rc, text, err)

# --thread: the worker's TEB from read_teb; unknown threads are refused.
worker = M["process"]["worker_thread"]
rc, out, err = run("--thread", f"{worker['tid']:#x}", DUMP, "testprog!read_teb")
check(rc == 0 and f"Return value: {int(worker['teb'], 16):#x}" in out, "--thread 0x<worker tid>: read_teb", rc, out, err)
rc, out, err = run("--thread", str(worker["tid"]), DUMP, "testprog!read_teb")
check(rc == 0 and f"Return value: {int(worker['teb'], 16):#x}" in out, "--thread <worker tid decimal>", rc, out, err)
main = M["process"]["main_thread"]
rc, out, err = run(DUMP, "testprog!read_teb")
check(rc == 0 and f"Return value: {int(main['teb'], 16):#x}" in out, "default thread: main TEB", rc, out, err)
rc, out, err = run("--thread", "0xfffffff0", DUMP, "testprog!read_teb")
check(rc == 2 and "thread" in err, "--thread unknown: exit 2", rc, err)

# System calls (nt/): emulated by default, compared with what Windows (here
# Wine) answered natively before the dump.
sysno = int(M["syscall"]["syscall_number_eax"], 16)
native_peb = int(M["functions"]["call_syscall"]["cases"][0]["result"]["dec"])
rc, out, err = run(DUMP, "testprog!call_syscall")
check(rc == 0 and f"Return value: {native_peb:#x}" in out, "call_syscall: NtQueryInformationProcess emulated",
      rc, out, err)
rc, out, err = run("--syscalls", "stop", DUMP, "testprog!call_syscall")
check(rc == 3 and f"system call NtQueryInformationProcess ({sysno:#x}) reached (system calls are set to stop)" in err,
      "--syscalls stop names the service", rc, err)
rc, out, err = run("--trace-syscalls", DUMP, "kernel32!VirtualAlloc", "0", "0x20000", "0x3000", "4")
addr = int(out.split()[2], 16) if rc == 0 else 0
check(rc == 0 and addr and addr % 0x10000 == 0 and "NtAllocateVirtualMemory(0xffffffffffffffff" in err
      and "= STATUS_SUCCESS" in err, "VirtualAlloc: a 64 KiB-aligned address, traced", rc, out, err)
rc, out, err = run(DUMP, "kernel32!VirtualAlloc", "0", "0x7fffffffffff0000", "0x3000", "4")
check(rc == 0 and "Return value: 0x0 " in out, "VirtualAlloc of an absurd size fails in the guest", rc, out, err)
rc, out, err = run(DUMP, "kernel32!GetStdHandle", "-11")
stdout_handle = out.split()[2]
rc, out, err = run(DUMP, "kernel32!WriteFile", stdout_handle, "str:hello from the guest", "20", "buf:4", "0")
check(rc == 0 and "[guest stdout] hello from the guest\n" in out and "14 00 00 00" in out,
      "WriteFile to stdout: shown, 20 bytes written", rc, out, err)
with tempfile.TemporaryDirectory() as tmp:
    rc, out, err = run(os.path.abspath(DUMP), "kernel32!CreateFileA", "str:evil.txt", "0x40000000", "0", "0", "2",
                                  "0x80", "0", cwd=tmp)
    check(rc == 0 and "Return value: 0xffffffffffffffff" in out and not os.listdir(tmp),
          "CreateFileA for writing fails in the guest; no file on the host", rc, out, err, os.listdir(tmp))
rc, out, err = run("--stub", "kernel32!GetTickCount=1234", DUMP, "kernel32!GetTickCount")
check(rc == 0 and "Return value: 0x4d2 " in out, "--stub FUNCTION=VALUE", rc, out, err)
rc, out, err = run("--stub", "testprog!square=-1", DUMP, "testprog!apply", "testprog!square", "7")
check(rc == 0 and "Return value: 0x0 " in out, "a stub inside a call: apply(square, 7) = -1 + 1", rc, out, err)
rc, out, err = run("--stub-syscall", "NtQueryInformationProcess=0xc0000022", DUMP, "testprog!call_syscall")
check(rc == 0 and "Return value: 0xffffffffc0000022 " in out, "--stub-syscall NtXxx=STATUS", rc, out, err)
rc, out, err = run("--stub", "nope!x=1", DUMP, "testprog!add2", "1", "2")
check(rc == 2 and "no module named 'nope'" in err, "--stub of nothing: exit 2", rc, err)
rc, out, err = run(DUMP, "kernel32!ExitProcess", "3")
check(rc == 3 and "the guest process exited with code 3" in err, "ExitProcess: a named stop", rc, err)
rc, out, err = run(DUMP, "ntdll!NtCreateUserProcess")
check(rc == 3 and "system call NtCreateUserProcess" in err and "is not emulated" in err,
      "a service nt/ does not emulate stops, named", rc, err)

# Exceptions reach the dump's own handlers, with the native results:
# a vectored handler that repairs a faulting load, RaiseException it
# continues, g++'s throw/catch and a throw through frames with destructors.
for name, extra in (("veh_repair_load", []), ("veh_raise", []), ("veh_raise_loop", []), ("cxx_catch", []),
                    ("cxx_unwind", ["--max-insns", "1000000"])):
    c = case(name)
    words = [a["dec"] if "dec" in a else a["hex"] for a in c["args"]]
    want, width = result_int(c)
    rc, out, err = run(*extra, DUMP, f"testprog!{name}", *words)
    m = re.search(r"^Return value: 0x([0-9a-f]+)", out, re.M)
    got = int(m.group(1), 16) & ((1 << width) - 1) if m else None
    check(rc == 0 and got == want, f"{name}: {got} == {want:#x} through the dump's handlers", rc, out, err)

# OutputDebugStringA returns, and its text is shown as a debugger shows it.
c = case("debug_print")
rc, out, err = run(DUMP, "testprog!debug_print", "testprog!g_debug_msg")
check(rc == 0 and f"[guest debug string] {c['arg0_string']}\n" in out and "Return value: 0x7 " in out,
      "OutputDebugStringA: returns 7, the string shown", rc, out, err)

# Nobody handles these: the call ends naming the original exception at its
# original instruction, exit status 3.
x = case("raise_unhandled")["expect_exception"]
rc, out, err = run(DUMP, "testprog!raise_unhandled")
check(rc == 3 and f"unhandled exception 0xe0000bad at {x['address']}:" in err,
      "an unhandled RaiseException is named with its code where it was raised", rc, out, err)
x = case("div_zero")["expect_exception"]
rc, out, err = run(DUMP, "testprog!div_zero", "7", "0")
check(rc == 3 and f"unhandled integer divide error at {x['address']}: idiv" in err,
      "an unhandled divide error is still named at its idiv", rc, out, err)
x = case("null_read")["expect_exception"]
rc, out, err = run(DUMP, "testprog!null_read")
check(rc == 3 and f"unhandled access violation reading 0x0 at {x['address']}:" in err,
      "an unhandled access violation is named at its instruction", rc, out, err)

# --exceptions stop: the first-chance stop, before any handler runs.
c = case("veh_repair_load")
rc, out, err = run("--exceptions", "stop", DUMP, "testprog!veh_repair_load", c["args"][0]["hex"])
check(rc == 3 and f"access violation reading {c['fault_address']} at {M['functions']['veh_repair_load']['address']}"
      in err and "unhandled" not in err, "--exceptions stop keeps the first-chance stop", rc, out, err)
rc, out, err = run("--exceptions", "maybe", DUMP, "testprog!add2", "1", "2")
check(rc == 2 and "--exceptions" in err, "--exceptions takes dispatch or stop", rc, err)

# Opt-in (DX_SLOW=1; minutes under ASan): zero-filled pages are mapped one
# by one, and Unicorn aborts the process at 4096 mappings. A session that
# writes 16 MiB of unmapped memory must stop (memory limit) or return,
# never take the process down.
if os.environ.get("DX_SLOW"):
    rc, out, err = run("--unmapped", "zero", "--max-insns", "0", DUMP, "testprog!fill_buf", "0x200000000",
                       str(16 << 20), timeout=1200)
    check(rc in (0, 3), "16 MiB of zero-filled pages: no crash", rc, err[-2000:])

print(f"{checks - len(failures)}/{checks} checks passed")
sys.exit(1 if failures else 0)
