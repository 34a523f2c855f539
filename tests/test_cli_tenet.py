#!/usr/bin/env python3
"""--tenet FILE: a Tenet trace of a call, replayed by an independent reader
written from Tenet's trace format (tracers/README.md of gaasedelen/tenet):
one line per instruction, comma-separated REG=0xVALUE deltas (every
register on the first line, the PC on every line), then mr=/mw=/mrw=
ADDR:HEXBYTES memory entries.

usage: test_cli_tenet.py PATH/TO/dump_exec
Environment: DX_FIXTURES (unpacked dumps), DX_FIXTURES_SRC (manifests).
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_common import DUMP, EXE, M, check, finish  # noqa: E402

AMD64 = ["rax", "rbx", "rcx", "rdx", "rbp", "rsp", "rsi", "rdi"] + ["r%d" % i for i in range(8, 16)] + ["rip"]



def replay(text):
    """(states, memory): the registers before each line's PC, and the bytes seen per address, in order."""
    regs, states, memory = {}, [], []
    for n, line in enumerate(text.splitlines()):
        for item in line.split(","):
            key, _, value = item.partition("=")
            if key in ("mr", "mw", "mrw"):
                addr, _, data = value.partition(":")
                memory.append((key, int(addr, 16), bytes.fromhex(data)))
            else:
                if key.lower() not in AMD64 or not re.fullmatch(r"0x[0-9a-f]+", value):
                    raise ValueError(f"line {n + 1}: bad entry {item!r}")
                regs[key.lower()] = int(value, 16)
        if n == 0 and set(regs) != set(AMD64):
            raise ValueError("the first line does not hold every register")
        if "rip=" not in line:
            raise ValueError(f"line {n + 1} has no rip")
        states.append(dict(regs))
    return states, memory


def traced(*call):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.log")
        p = subprocess.run([EXE, "--tenet", path, DUMP, *call], capture_output=True, text=True, timeout=60)
        with open(path) as f:
            return p, f.read()


add2 = int(M["functions"]["add2"]["address"], 16)
p, text = traced("testprog!add2", "3", "5")
states, memory = replay(text)
check(p.returncode == 0 and "Tenet trace: 3 lines" in p.stderr, "add2: 3 lines (2 instructions)", p.stderr)
check(states[0]["rip"] == add2 and states[0]["rcx"] == 3 and states[0]["rdx"] == 5, "add2: starts at add2(3, 5)",
      states[0])
check(states[1]["rax"] == 13 and states[1]["rip"] == add2 + 4, "add2: lea gives 13", states[1])
ret = [m for m in memory if m[0] == "mr"]
check(len(ret) == 1 and ret[0][1] == states[1]["rsp"] and len(ret[0][2]) == 8
      and int.from_bytes(ret[0][2], "little") == states[2]["rip"] and states[2]["rsp"] == states[1]["rsp"] + 8,
      "add2: ret reads its return address off the stack", memory, states[-1])

# fill_buf writes the buffer byte by byte: the writes, in order, are the native bytes.
c = M["functions"]["fill_buf"]["cases"][0]
p, text = traced("testprog!fill_buf", "buf:16", "16")
states, memory = replay(text)
writes = [m for m in memory if m[0] == "mw" and len(m[2]) == 1]
check(p.returncode == 0 and b"".join(m[2] for m in writes).hex() == c["expect_buffer_hex"]
      and [m[1] for m in writes] == list(range(writes[0][1], writes[0][1] + 16)), "fill_buf: its writes", writes)
insns = int(re.search(r"Instructions: (\d+)", p.stdout).group(1))
check(len(states) == insns + 1 and states[-1]["rax"] == 16, "fill_buf: one line per instruction, and the result",
      len(states), insns)

# fib: the trace's last RAX is the native result; an unwritable path fails before the call.
c = M["functions"]["fib"]["cases"][0]
p, text = traced("testprog!fib", c["args"][0]["dec"])
check(replay(text)[0][-1]["rax"] & 0xffffffff == int(c["result"]["hex"], 16), "fib: the native result", c)
p = subprocess.run([EXE, "--tenet", "/nonexistent/x.log", DUMP, "testprog!add2", "1", "2"], capture_output=True,
                   text=True, timeout=60)
check(p.returncode == 2 and "/nonexistent/x.log" in p.stderr, "an unwritable trace path", p.stderr)

finish()
