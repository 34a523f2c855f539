#!/usr/bin/env python3
"""Time travel with gdb against `dump_exec --listen`: reverse-stepi over a
hand-set call gives back the same registers and stack, reverse-continue
stops at breakpoints, watchpoints and the start of history, snapshots
restore memory and registers, sessions keep their own history, and the
history cap holds over a long run."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, Suite, check, gdb_batch, have_tool  # noqa: E402

suite = Suite("test_reverse")
test = suite.test

REG_LINE = re.compile(r"^(\w+)\s+(0x[0-9a-f]+)", re.M)
VALUE = re.compile(r"=\s+(0x[0-9a-f]+|-?\d+)")
FLUSH = "maintenance flush register-cache"


def regs_of(text):
    return {m.group(1): int(m.group(2), 16) for m in REG_LINE.finditer(text)}


def value_of(text):
    m = VALUE.search(text)
    check(m, "no value printed", text)
    return int(m.group(1), 0)


def hand_set_call(m, fn, arg):
    """gdb commands that start fn(arg) on the current thread, on its own stack."""
    return ["set $pc = 0x%x" % m.fn(fn), "set $rcx = %d" % arg, "set $rsp = ($rsp - 0x200) & ~0xf"]


@test
def reverse_stepi_gives_back_registers_and_stack(cfg):
    m = cfg.manifest("full")
    n = 60
    state = ["info registers", "x/16gx $rsp"]
    cmds = hand_set_call(m, "fib", 6) + state + ["stepi %d" % n] + state + ["reverse-stepi %d" % n] + state + \
        ["stepi %d" % n] + state
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    start, after, back, again = (3, 4), (6, 7), (9, 10), (12, 13)
    check(regs_of(t.section(after[0]))["rip"] != regs_of(t.section(start[0]))["rip"], "stepi %d moved" % n, t)
    check(regs_of(t.section(back[0])) == regs_of(t.section(start[0])),
          "reverse-stepi %d gives back every register" % n, t.section(start[0]) + "\n----\n" + t.section(back[0]))
    check(t.section(back[1]) == t.section(start[1]), "... and the stack's memory", t)
    check(regs_of(t.section(again[0])) == regs_of(t.section(after[0])) and t.section(again[1]) == t.section(after[1]),
          "stepping forward again replays the same history", t)
    check("No more reverse-execution history" not in t.text, "the history covers the steps", t)


@test
def reverse_nexti_and_reverse_finish(cfg):
    """gdb builds these from bs, bc and breakpoints: back over a whole call, back out of one."""
    m = cfg.manifest("full")
    fib = m.fn("fib")
    call = fib + 0x19  # call fib
    cmds = hand_set_call(m, "fib", 4) + ["stepi 7", "p/x $pc", "nexti", "p/x $pc", "reverse-nexti", "p/x $pc",
                                         "stepi", "p/x $pc", "reverse-finish", "p/x $pc"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    check(value_of(t.section(4)) == call, "stepi 7 reaches fib's first call", t)
    check(value_of(t.section(6)) == call + 5, "nexti runs the call", t)
    check(value_of(t.section(8)) == call, "reverse-nexti goes back over the whole call", t)
    check(value_of(t.section(10)) == fib, "stepi enters it", t)
    check(value_of(t.section(12)) == call, "reverse-finish goes back out to the call site", t)


@test
def reverse_continue_to_breakpoints_and_the_start(cfg):
    m = cfg.manifest("full")
    loop_add = m.fn("long_loop") + 0x33  # add $0x1,%rdx: once per iteration, rdx = iterations done
    cmds = hand_set_call(m, "long_loop", 5000000) + ["break *0x%x" % loop_add]
    cmds += ["continue", "p $rdx"] * 3
    cmds += ["reverse-continue", "p $rdx", "p/x $pc", "reverse-continue", "p $rdx", "delete", "reverse-continue",
             "p/x $pc", "p $rcx", "break *0x%x" % loop_add, "continue", "p $rdx"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    first = 4
    counts = [value_of(t.section(first + 1 + 2 * k)) for k in range(3)]
    check(counts == [0, 1, 2], "forward hits at iterations 0, 1, 2: %r" % counts, t)
    rc = first + 6
    check("Breakpoint 1" in t.section(rc), "reverse-continue stops at the breakpoint", t.section(rc))
    check(value_of(t.section(rc + 1)) == 1 and value_of(t.section(rc + 2)) == loop_add,
          "the hit before the last: iteration 1, at the breakpoint", t)
    check(value_of(t.section(rc + 4)) == 0, "and the one before that: iteration 0", t)
    check("No more reverse-execution history" in t.section(rc + 6), "without breakpoints: the start of history",
          t.section(rc + 6))
    check(value_of(t.section(rc + 7)) == m.fn("long_loop") and value_of(t.section(rc + 8)) == 5000000,
          "the start is the hand-set call", t)
    check(value_of(t.section(rc + 11)) == 0, "forward again from the start: iteration 0 first", t)


@test
def watchpoint_reversed_over_a_store(cfg):
    m = cfg.manifest("full")
    counter = m.glob("g_counter")
    cmds = hand_set_call(m, "counter_add", 5) + ["watch *(long long *)0x%x" % counter, "continue",
                                                  "p *(long long *)0x%x" % counter, "reverse-continue",
                                                  "p *(long long *)0x%x" % counter, "p/x $pc", "stepi",
                                                  "p *(long long *)0x%x" % counter]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    fwd, back = t.section(4), t.section(6)
    check(re.search(r"Old value = 122\s+New value = 127", fwd), "forward: the store from 122 to 127", fwd)
    check(value_of(t.section(5)) == 127, "127 after the store", t)
    check(re.search(r"Old value = 127\s+New value = 122", back), "backward: gdb sees it undone", back)
    check(value_of(t.section(7)) == 122, "122 before the store", t)
    pc = value_of(t.section(8))
    check(m.fn("counter_add") <= pc < m.fn("counter_add") + 0x20, "stopped at the storing instruction", t)
    check(value_of(t.section(10)) == 127, "stepping it again stores again", t)


@test
def snapshots_restore_memory_and_registers(cfg):
    m = cfg.manifest("full")
    counter = m.glob("g_counter")
    cmds = hand_set_call(m, "fib", 5) + ["monitor snapshot save start", "info registers",
                                         "p *(long long *)0x%x" % counter, "stepi 25",
                                         "set *(long long *)0x%x = 999" % counter, "set $rbx = 0x4242",
                                         "monitor snapshot save later", "monitor snapshot list",
                                         "monitor snapshot restore start", FLUSH, "info registers",
                                         "p *(long long *)0x%x" % counter, "monitor snapshot restore later", FLUSH,
                                         "p *(long long *)0x%x" % counter, "p/x $rbx", "monitor snapshot drop later",
                                         "monitor snapshot restore later"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    check("Snapshot start saved" in t.section(3), "saved", t)
    check(re.search(r"start\s+at instruction", t.section(10)) and "later" in t.section(10), "listed", t.section(10))
    check(regs_of(t.section(13)) == regs_of(t.section(4)), "registers as at `start`", t)
    check(value_of(t.section(14)) == 122 and value_of(t.section(5)) == 122, "memory as at `start`", t)
    check(value_of(t.section(17)) == 999 and value_of(t.section(18)) == 0x4242, "and as at `later`", t)
    check("no snapshot named later" in t.section(20), "a dropped snapshot is gone", t.section(20))


@test
def history_cap_holds_over_a_long_run(cfg):
    m = cfg.manifest("full")
    cmds = hand_set_call(m, "long_loop", 20000000) + ["break *0x%x" % (m.fn("long_loop") + 0x3c), "continue",
                                                      "monitor history", "reverse-stepi", "p/x $pc", "p $rdx",
                                                      "monitor goto 0"]
    with Server(cfg, cfg.dump("full"), extra_args=["--history-mb", "0.05"]) as srv:
        t = gdb_batch(srv.port, cmds, timeout=120)
    check("Breakpoint 1" in t.section(4), "the loop of 20 M iterations (~140 M instructions) ran to its end", t)
    h = t.section(5)
    got = re.search(r"At instruction (\d+) of (\d+) recorded; reachable from (\d+)\.\s+(\d+) checkpoints, "
                    r"\d+ snapshots, ([\d.]+) MiB of 0.05 MiB; (\d+) oldest checkpoints dropped", h)
    check(got, "monitor history says what it holds and that it dropped the oldest", h)
    pos, start, mib = int(got.group(1)), int(got.group(3)), float(got.group(5))
    check(pos > 100000000 and start > 0 and mib <= 0.05, "under the cap, the oldest part dropped", h)
    check(value_of(t.section(7)) == m.fn("long_loop") + 0x3a and value_of(t.section(8)) == 20000000,
          "reverse-stepi after 140 M instructions lands on the loop's last jne", t)
    check("no longer in the history" in t.section(9) and "dropped to stay under 0.05 MiB" in t.section(9),
          "asking for dropped history says so", t.section(9))


def resolve(cfg, kind, names):
    """Export addresses through the Python package built beside dump_exec, in a process of its
    own (a sanitizer build's library wants its runtime preloaded), or None without it."""
    build = os.path.dirname(os.path.abspath(cfg.dump_exec))
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"), ASAN_OPTIONS="detect_leaks=0")
    lib = os.path.join(build, "libdumpexec.so")
    try:
        if "libasan" in subprocess.run(["ldd", lib], capture_output=True, text=True).stdout:
            env["LD_PRELOAD"] = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                                               text=True).stdout.strip()
        script = "import dumpexec, sys\nwith dumpexec.open(sys.argv[1]) as d:\n" \
                 "    print(' '.join(str(d.resolve(n)) for n in sys.argv[2:]))"
        p = subprocess.run([sys.executable, "-c", script, cfg.dump(kind)] + names, capture_output=True, text=True,
                           env=env, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return [int(v) for v in p.stdout.split()] if p.returncode == 0 else None


@test
def the_guests_windows_runs_again_the_same(cfg):
    """Going back over system calls and running again: nt/'s state comes back with the
    checkpoint, so VirtualAlloc returns the same block and the clock reads the same."""
    m = cfg.manifest("full")
    got = resolve(cfg, "full", ["kernel32!VirtualAlloc", "kernel32!QueryPerformanceCounter"])
    if got is None:
        print("  (skipped: the Python package is not built)")
        return
    valloc, qpc = got
    back = m.fn("fib")  # the calls return there: a breakpoint
    cmds = ["set $rsp = $rsp - 0x208", "set *(unsigned long long *)$rsp = 0x%x" % back, "set $pc = 0x%x" % valloc,
            "set $rcx = 0", "set $rdx = 0x10000", "set $r8 = 0x3000", "set $r9 = 4", "break *0x%x" % back,
            "continue", "p/x $rax", "set $block = $rax",
            "set $rsp = $rsp - 0x100", "set *(unsigned long long *)$rsp = 0x%x" % back, "set $pc = 0x%x" % qpc,
            "set $rcx = $block", "continue", "p/x *(unsigned long long *)$block",
            "reverse-continue", "reverse-continue", "continue", "p/x $rax", "continue",
            "p/x *(unsigned long long *)$block"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds)
    block, counter = value_of(t.section(9)), value_of(t.section(16))
    check(block and block % 0x10000 == 0, "VirtualAlloc returned a block", t)
    check(counter > 0, "QueryPerformanceCounter wrote a count", t)
    check("No more reverse-execution history" in t.section(18), "back to the start of history", t)
    check(value_of(t.section(20)) == block, "VirtualAlloc again: the same block", t)
    check(value_of(t.section(22)) == counter, "the clock again: the same count", t)


@test
def sessions_keep_their_own_history(cfg):
    m = cfg.manifest("full")
    with Server(cfg, cfg.dump("full")) as srv:
        a = gdb_batch(srv.port, hand_set_call(m, "fib", 5) + ["stepi 30", "monitor history"])
        b = gdb_batch(srv.port, ["monitor history", "reverse-stepi", "p/x $pc"])
    check("At instruction 30 of 30" in a.section(4), "the first session recorded its steps", a.section(4))
    check("At instruction 0 of 0" in b.section(0), "a new session starts a history of its own", b.section(0))
    check("No more reverse-execution history" in b.section(1), "with nothing to go back to", b)


if __name__ == "__main__":
    if not have_tool("gdb"):
        sys.exit(suite.skip_all("gdb not found"))
    sys.exit(suite.run())
