#!/usr/bin/env python3
"""--coverage FILE: the drcov log of a call, read back by an independent reader.

usage: test_cli_coverage.py PATH/TO/dump_exec
Environment: DX_FIXTURES (unpacked dumps), DX_FIXTURES_SRC (manifests).
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drcov_reader  # noqa: E402
from cli_common import DUMP, EXE, M, check, finish  # noqa: E402


def covered(*call):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cov.drcov")
        p = subprocess.run([EXE, "--coverage", path, DUMP, *call], capture_output=True, text=True, timeout=60)
        with open(path, "rb") as f:
            return p, drcov_reader.read(f.read())


def rva(name):
    return int(M["functions"][name]["rva"], 16)


# add2 is one block: lea rax, [rcx+rdx*2]; ret (5 bytes).
p, (mods, blocks) = covered("testprog!add2", "3", "5")
exe = next(i for i, m in enumerate(mods) if m["path"].lower().endswith("testprog.exe"))
check(p.returncode == 0 and "Coverage: " in p.stderr, "add2: exit 0 and a coverage line", p.stderr)
check(mods[exe]["base"] == int(M["modules"]["testprog.exe"], 16), "the module table holds the dump's bases", mods)
check(len(mods) == len(M["modules"]) - sum(v is None for v in M["modules"].values()), "every module listed", mods)
check(blocks == [(exe, rva("add2"), 5)], "add2: exactly its one block", blocks)

# fib(15): every block lies in fib, its entry among them; the same blocks in every run.
p, (mods, blocks) = covered("testprog!fib", "15")
fib = M["functions"]["fib"]
end = min(int(f["rva"], 16) for f in M["functions"].values() if int(f["rva"], 16) > rva("fib"))
check(p.returncode == 0 and blocks and all(m == exe and rva("fib") <= s < end for m, s, _ in blocks),
      "fib: blocks inside fib only", blocks)
check((exe, rva("fib")) in [(m, s) for m, s, _ in blocks], "fib: its entry block", blocks)
check(covered("testprog!fib", "15")[1][1] == blocks, "fib: the same blocks again", blocks)

# Through the IAT into kernel32/kernelbase: blocks in those modules.
p, (mods, blocks) = covered("testprog!call_lstrlen", "str:hello")
names = {mods[m]["path"].lower().rsplit("\\", 1)[-1] for m, _, _ in blocks}
check(p.returncode == 0 and "testprog.exe" in names and names & {"kernel32.dll", "kernelbase.dll"},
      "call_lstrlen: blocks in testprog and kernel32/kernelbase", names)

# A path that cannot be written fails before the call.
p = subprocess.run([EXE, "--coverage", "/nonexistent/dir/x.drcov", DUMP, "testprog!add2", "1", "2"],
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "/nonexistent/dir/x.drcov" in p.stderr, "an unwritable coverage path", p.stderr)

finish()
