"""Stops, memory, registers, threads, breakpoints and bad input through the package."""
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dumpexec
from conftest import FIXTURES, FIXTURES_SRC


def fn(manifest, name):
    return int(manifest["functions"][name]["address"], 16)


def exc(manifest, name):
    return manifest["functions"][name]["cases"][0]["expect_exception"]


# ---- what the dump holds --------------------------------------------------------

def test_the_dump_as_objects(dump, manifest):
    names = [m.name.lower() for m in dump.modules]
    assert "testprog.exe" in names and "ntdll.dll" in names and "kernel32.dll" in names
    exe = dump.module("testprog")
    assert exe.base == int(manifest["modules"]["testprog.exe"], 16)
    assert dump.module("KERNEL32.DLL").base == int(manifest["modules"]["kernel32.dll"], 16)
    assert fn(manifest, "add2") in exe
    assert dump.module(fn(manifest, "add2")) == exe
    assert len(dump.threads) == 2 and all(t.teb for t in dump.threads)
    assert isinstance(dump.regions, tuple)  # Wine's dbghelp writes no MemoryInfoList
    assert any(b <= fn(manifest, "add2") < b + n for b, n in dump.ranges)
    assert dump.resolve("testprog!add2") == fn(manifest, "add2")
    assert dump.symbolize(fn(manifest, "add2") + 4) == "testprog.exe!add2+0x4"
    assert "testprog.exe" in dump.describe()
    assert dump.system and dump.system.processors >= 1 and dump.system.major >= 6 and dump.timestamp > 1.6e9


def test_a_crash_dumps_exception(manifest):
    with dumpexec.open(FIXTURES / "testprog_crash.dmp") as d:
        x = d.exception
        assert x is not None and x.code == 0xC0000005 and x.name == "EXCEPTION_ACCESS_VIOLATION"
        assert x.params[1] == 0xDEADBEEF
        assert d.default_thread.tid == x.tid


# ---- stops --------------------------------------------------------------------------

def test_faults_raise_stopped_with_kind_and_address(dump, manifest):
    s = dump.session(exceptions="stop")
    for name, kind in (("null_read", "access"), ("null_write", "access"), ("div_zero", "divide")):
        want = exc(manifest, name)
        args = (7, 0) if name == "div_zero" else ()
        with pytest.raises(dumpexec.Stopped) as info:
            s.call(fn(manifest, name), *args)
        st = info.value.stop
        assert (st.kind, st.pc) == (kind, int(want["address"], 16)), name
        if kind == "access":
            assert st.access == want["access"] and st.addr == 0
        assert st.insn and info.value.kind == kind and str(info.value) == st.description


def test_an_exception_nobody_handles_stops_named(dump, manifest):
    s = dump.session()
    with pytest.raises(dumpexec.Stopped) as info:
        s.call(fn(manifest, "raise_unhandled"))
    st = info.value.stop
    assert st.kind == "exception" and st.code == 0xE0000BAD and st.unhandled


def test_a_fault_the_dumps_handler_repairs_returns(dump, manifest):
    assert dump.session().call(fn(manifest, "veh_repair_load"), 0x5A5A0000).rax == 42


def test_limits_breakpoints_and_watchpoints(dump, manifest):
    s = dump.session(max_insns=1000)
    with pytest.raises(dumpexec.Stopped) as info:
        s.call(fn(manifest, "long_loop"), 1_000_000)
    assert info.value.kind == "limit" and info.value.stop.instructions == 1000
    s.max_insns = 0
    s.add_breakpoint(fn(manifest, "square"))
    with pytest.raises(dumpexec.Stopped) as info:
        s.call(fn(manifest, "apply"), fn(manifest, "square"), 7)
    assert (info.value.kind, info.value.pc) == ("breakpoint", fn(manifest, "square"))
    s.remove_breakpoint(fn(manifest, "square"))
    assert s.call(fn(manifest, "apply"), fn(manifest, "square"), 7).rax == 50  # square(7) + 1
    counter = int(manifest["globals"]["g_counter"]["address"], 16)
    s.add_watchpoint(counter, 8, "write")
    with pytest.raises(dumpexec.Stopped) as info:
        s.call(fn(manifest, "counter_add"), 1)
    assert info.value.kind == "watchpoint" and info.value.stop.addr == counter
    s.clear_breakpoints()


def test_syscalls_can_be_made_to_stop(dump, manifest):
    s = dump.session(syscalls="stop")
    with pytest.raises(dumpexec.Stopped) as info:
        s.call(fn(manifest, "vm_sum"), 4)
    assert info.value.kind == "syscall" and info.value.stop.syscall is not None


def test_stubs(dump, manifest):
    s = dump.session()
    s.stub("kernel32!GetCurrentProcessId", 4242)
    assert s.call(fn(manifest, "call_getpid")).rax == 4242
    s.unstub("kernel32!GetCurrentProcessId")
    assert s.call(fn(manifest, "call_getpid")).rax == int(manifest["functions"]["call_getpid"]["cases"][0]
                                                           ["result"]["hex"], 16)
    with pytest.raises(dumpexec.DumpExecError, match="nosuch"):
        s.stub("kernel32!nosuch", 1)


# ---- stepping and registers ----------------------------------------------------------

def test_step_and_continue_a_hand_set_call(dump, manifest):
    s = dump.session(exceptions="stop")
    sp = s.regs.rsp - 0x100 & ~0xF
    s.write(sp, (0x1234).to_bytes(8, "little"))  # a return address nothing maps: the run stops there
    s.regs.rsp, s.regs.rip, s.regs.rcx, s.regs.rdx = sp, fn(manifest, "add2"), 3, 5
    st = s.step()
    assert st.kind == "step" and s.regs.rip != fn(manifest, "add2")
    st = s.cont()
    assert st.kind == "access" and st.pc == 0x1234 and s.regs.rax == 13
    with pytest.raises(ValueError):
        s.regs.eflags = 1 << 40
    with pytest.raises(AttributeError):
        s.regs.nosuch
    s.reset()
    assert s.regs.rip == dump.default_thread.rip


def test_threads(dump):
    s = dump.session()
    assert s.threads == [t.tid for t in dump.threads]
    other = s.threads[1]
    s.thread = other
    assert s.thread == other and s.regs.rsp == dump.threads[1].rsp
    with pytest.raises(ValueError):
        s.thread = 0xFFFF


# ---- memory --------------------------------------------------------------------------

def test_memory_round_trips_and_isolation(dump, manifest):
    buf = int(manifest["globals"]["g_buf"]["address"], 16)
    a, b = dump.session(), dump.session()
    a.write(buf, b"session a")
    assert a.read(buf, 9) == b"session a"
    assert b.read(buf, 9) == bytes(9) and dump.read(buf, 9) == bytes(9)
    assert a.read("testprog!add2", 2) == dump.read(fn(manifest, "add2"), 2)
    assert a.read(0x10, 4, partial=True) == b""
    with pytest.raises(dumpexec.DumpExecError, match="not held"):
        a.read(0x10, 4)
    a.reset()
    assert a.read(buf, 9) == bytes(9)


# ---- bad input -----------------------------------------------------------------------

def test_bad_arguments_raise(session, manifest):
    add2 = fn(manifest, "add2")
    with pytest.raises(TypeError, match="argument 2: cannot pass list"):
        session.call(add2, 1, [2])
    with pytest.raises(ValueError, match="does not fit 64 bits"):
        session.call(add2, 1 << 64, 0)
    with pytest.raises(ValueError, match="too many arguments"):
        session.call(add2, *range(65))
    with pytest.raises(ValueError):
        dumpexec.buf(0)
    with pytest.raises(ValueError):
        dump_session = session.dump.session(syscalls="sometimes")
    with pytest.raises(dumpexec.DumpExecError, match="nosuchmodule"):
        session.call("nosuchmodule!f")
    with pytest.raises(TypeError):
        session.call(1.5)
    assert session.call(add2, -1, 1).signed == 1  # negative ints are two's complement


def test_corrupt_dumps_raise_and_the_interpreter_survives(tmp_path, full_path):
    data = full_path.read_bytes()[:1 << 16]
    cases = {"empty": b"", "garbage": os.urandom(4096), "truncated": data[:200],
             "bad directory": data[:8] + (1 << 30).to_bytes(4, "little") + data[12:]}
    for name, body in cases.items():
        p = tmp_path / (name.replace(" ", "_") + ".dmp")
        p.write_bytes(body)
        with pytest.raises(dumpexec.DumpExecError) as info:
            dumpexec.open(p)
        assert str(info.value), name
    with pytest.raises(dumpexec.DumpExecError, match="No such file|cannot open|not found"):
        dumpexec.open(tmp_path / "missing.dmp")


def test_closed_objects_raise(full_path):
    d = dumpexec.open(full_path)
    s = d.session()
    d.close()
    with pytest.raises(dumpexec.DumpExecError, match="closed"):
        s.call("testprog!add2", 1, 2)
    with pytest.raises(dumpexec.DumpExecError, match="closed"):
        d.session()


# ---- threads, the GIL, Ctrl-C, leaks ---------------------------------------------------

def test_threads_call_on_their_own_sessions(dump, manifest):
    fib, errors = fn(manifest, "fib"), []
    want = {int(c["args"][0]["hex"], 16): int(c["result"]["hex"], 16) for c in manifest["functions"]["fib"]["cases"]}

    def work():
        try:
            s = dump.session(max_insns=0)
            for i in range(300):
                for n, r in want.items():
                    assert s.call(fib, n).rax == r
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors


def test_one_session_shared_by_threads_stays_consistent(session, manifest):
    add2, errors = fn(manifest, "add2"), []

    def work(k):
        for i in range(2000):
            if session.call(add2, k, i).rax != k + 2 * i:
                errors.append((k, i))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors


def test_the_gil_is_released_during_a_run(dump, manifest):
    s = dump.session(max_insns=0)
    out = {}

    def run():
        try:
            s.call(fn(manifest, "long_loop"), 1 << 62)
        except dumpexec.Stopped as e:
            out["stop"] = e.kind
    t = threading.Thread(target=run)
    t.start()
    t0, spins = time.monotonic(), 0
    while time.monotonic() - t0 < 0.3:  # the main thread keeps running Python meanwhile
        spins += 1
    s.interrupt()
    t.join(10)
    assert not t.is_alive() and out["stop"] == "interrupted" and spins > 10000


def test_ctrl_c_interrupts_a_run(full_path, manifest):
    code = (f"import dumpexec, sys\n"
            f"s = dumpexec.open({str(full_path)!r}).session(max_insns=0)\n"
            f"print('running', flush=True)\n"
            f"try:\n"
            f"    s.call({fn(manifest, 'long_loop')}, 1 << 62)\n"
            f"except KeyboardInterrupt:\n"
            f"    print('interrupted', s.call('testprog!add2', 3, 5).rax, flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert p.stdout.readline() == "running\n"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10)
    assert out == "interrupted 13\n" and p.returncode == 0


def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@pytest.mark.skipif(os.environ.get("DX_SANITIZED") == "1",
                    reason="ASan's quarantine keeps freed memory resident; the plain build checks RSS")
def test_no_leak_over_100000_calls(dump, manifest):
    s = dump.session()
    add2, lstrlen = fn(manifest, "add2"), dump.resolve("kernel32!lstrlenA")
    for i in range(10000):
        s.call(add2, i, 1)
        s.call(lstrlen, "warm")
    before = rss_kib()
    for i in range(100000):
        s.call(add2, i, 1)
        if i % 10 == 0:
            s.call(lstrlen, "hello")
            s.call(fn(manifest, "fill_buf"), dumpexec.buf(16), 16)
    grown = rss_kib() - before
    assert grown < 2048, f"RSS grew {grown} KiB over 100,000 calls"


def test_trace_and_console_callback(dump, manifest, tmp_path):
    seen = []
    s = dump.session(console=lambda fd, text: seen.append((fd, text)))
    c = manifest["functions"]["write_stdout"]["cases"][0]
    assert s.call(fn(manifest, "write_stdout"), int(c["args"][0]["hex"], 16)).console == c["arg0_string"]
    assert seen == [(1, c["arg0_string"])]
    path = tmp_path / "trace.txt"
    s.trace(path)
    s.call(fn(manifest, "add2"), 3, 5)
    s.trace(None)
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"[000001] {fn(manifest, 'add2'):#018x}: lea rax, [rcx + rdx*2]")
    assert lines[1].split(": ", 1)[1].startswith("ret") and lines[2].startswith("-- 2 instructions")
    with pytest.raises(dumpexec.DumpExecError, match="cannot open"):
        s.trace(tmp_path / "no" / "such" / "dir.txt")
    s.trace(tmp_path / "trace.jsonl", json=True)
    s.call(fn(manifest, "add2"), 3, 5)
    s.trace(None)
    records = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert records[0]["pc"] == hex(fn(manifest, "add2")) and records[0]["regs"]["rcx"] == "0x3"
    assert records[1]["insn"] == "ret" and records[-1]["instructions"] == 2


def test_buf_init_is_padded_with_zeros(session, manifest):
    r = session.call(fn(manifest, "add2"), dumpexec.buf(4096, b"AB"), 0)
    assert r.buffers[0] == b"AB" + bytes(4094)


def test_an_interrupt_without_a_run_stops_nothing_later(session, manifest):
    session.interrupt()
    assert session.call(fn(manifest, "add2"), 3, 5).rax == 13
    dumpexec.interrupt_all()
    assert session.call(fn(manifest, "add2"), 3, 5).rax == 13


def test_closing_a_dump_under_use(full_path, manifest):
    d = dumpexec.open(full_path)
    s = d.session(max_insns=0)
    errors, stops = [], []

    def reader():
        try:
            while True:
                d.read(fn(manifest, "add2"), 16)
        except dumpexec.DumpExecError as e:
            errors.append(str(e))

    def runner():
        try:
            s.call(fn(manifest, "long_loop"), 1 << 62)
        except dumpexec.DumpExecError as e:
            stops.append(getattr(e, "kind", str(e)))
    threads = [threading.Thread(target=reader), threading.Thread(target=runner)]
    [t.start() for t in threads]
    time.sleep(0.2)
    d.close()  # interrupts the unlimited run, then frees everything
    [t.join(10) for t in threads]
    assert not any(t.is_alive() for t in threads)
    assert errors and "closed" in errors[0] and stops == ["interrupted"]
    with pytest.raises(dumpexec.DumpExecError, match="closed"):
        s.call(fn(manifest, "add2"), 1, 2)


def test_a_sessions_state_is_changed_only_between_its_runs(dump, manifest):
    s = dump.session(max_insns=0)
    before = {t: s.regs_of(t).dict() for t in s.threads}
    t = threading.Thread(target=lambda: pytest.raises(dumpexec.Stopped, s.call, fn(manifest, "long_loop"), 1 << 62))
    t.start()
    time.sleep(0.1)
    waited = threading.Timer(0.3, s.interrupt)
    waited.start()
    s.thread = s.threads[1]  # waits for the call to end, then selects
    t.join(10)
    s.thread = s.threads[0]
    assert {t: s.regs_of(t).dict() for t in s.threads} == before


def test_coverage_as_a_drcov_log(dump, manifest, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import drcov_reader
    s = dump.session()
    s.start_coverage()
    s.call(fn(manifest, "add2"), 3, 5)
    s.call(fn(manifest, "fib"), 10)
    assert s.coverage_blocks >= 2
    s.write_coverage(tmp_path / "cov.drcov")
    s.stop_coverage()
    mods, blocks = drcov_reader.read((tmp_path / "cov.drcov").read_bytes())
    exe = next(i for i, m in enumerate(mods) if m["path"].lower().endswith("testprog.exe"))
    rva = lambda name: int(manifest["functions"][name]["rva"], 16)  # noqa: E731
    assert (exe, rva("add2"), 5) in blocks and (exe, rva("fib")) in {(m, o) for m, o, _ in blocks}
    assert s.coverage_blocks == 0


def test_tenet_trace(dump, manifest, tmp_path):
    s = dump.session()
    path = tmp_path / "trace.log"
    s.tenet(path)
    s.call(fn(manifest, "add2"), 3, 5)
    assert s.tenet(None) == 3
    lines = path.read_text().splitlines()
    assert lines[0].endswith(f"rip={fn(manifest, 'add2'):#x}") and "rcx=0x3," in lines[0]
    assert lines[1] == f"rax=0xd,rip={fn(manifest, 'add2') + 4:#x}" and ",mr=" in lines[2]
