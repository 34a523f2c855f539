#!/usr/bin/env python3
"""Windows-aware debugging in real clients: symbols served with --symbols,
the TEB and $_siginfo in a Windows-aware gdb, watchpoints, the gdb and lldb
scripts of gdb-scripts/, lldb with an executable target, and the IPv6 and
Unix-socket listeners."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, RspClient, Server, Suite, _run, check, frame, gdb_batch, have_tool,  # noqa: E402
                     lldb_batch)

suite = Suite("test_windows")
test = suite.test
LLDB_PYTHON = "/usr/lib/llvm-14/lib/python3.11/dist-packages"  # Debian 12's lldb looks elsewhere


def repo_root(cfg):
    return os.path.dirname(os.path.dirname(os.path.abspath(cfg.fixtures_src)))


@test
def gdb_gets_symbols_from_the_server(cfg):
    m = cfg.manifest("crash")
    with Server(cfg, cfg.dump("crash"), ["--symbols", cfg.fixtures_src]) as srv:
        t = gdb_batch(srv.port, ["bt 2", "info symbol 0x%x" % m.fn("add2"), "p g_counter"])
    check(re.search(r"crash_write \(\) at testprog\.c:\d+", t.section(0)), "backtrace with source lines", t.text)
    check(re.search(r"main \(argc=", t.section(0)), "the caller, with its arguments", t.section(0))
    check("add2 in section .text" in t.section(1), "info symbol names add2", t.section(1))
    check("= %d" % m.glob_value("g_counter") in t.section(2), "a global by name", t.section(2))


LIBRARY_LINE = re.compile(r"^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+Yes \(\*\)\s+target:(\S+)$", re.M)


def check_dlls_from_memory(cfg, m, sharedlibrary_text, symbol_text):
    """Every DLL the dump holds is placed at its base, with exports as symbols."""
    listed = {os.path.basename(path.replace("\\", "/")).lower(): (int(lo, 16), int(hi, 16))
              for lo, hi, path in LIBRARY_LINE.findall(sharedlibrary_text)}
    dlls = {name: int(base, 16) for name, base in m.data["modules"].items() if base and name.endswith(".dll")}
    check(sorted(listed) == sorted(dlls), "info sharedlibrary lists %s with symbols, the dump has %s"
          % (sorted(listed), sorted(dlls)), sharedlibrary_text)
    for name, base in dlls.items():
        lo, hi = listed[name]
        check(base < lo < hi < base + 0x10000000, "%s at %#x-%#x, its base is %#x" % (name, lo, hi, base),
              sharedlibrary_text)
    check(re.search(r"ntdll!\w+ \+ 20 in section \.text of target:/?C:/windows/system32/ntdll\.dll", symbol_text),
          "the main thread's pc named by ntdll's exports", symbol_text)


@test
def gdb_reads_dlls_from_dump_memory(cfg):
    m = cfg.manifest("full")
    script = os.path.join(repo_root(cfg), "gdb-scripts", "dumpexec.py")
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["dumpexec-connect %s:%d" % (HOST, srv.port), "info sharedlibrary",
                                 "info symbol $pc", "monitor threads"], connect=False, setup=("source " + script,))
        # Plain `target remote`: the executable comes from dump memory too, and with it the DLLs.
        plain = gdb_batch(srv.port, ["info sharedlibrary", "info symbol $pc", "info symbol 0x%x" % m.fn("add2")])
    check_dlls_from_memory(cfg, m, t.section(1), t.section(2))
    mine = re.search(r"ntdll\.dll!(?:Nt|Zw)(\w+)\+0x14", t.section(3))
    check(mine and (mine.group(1) + " + 20") in t.section(2), "gdb and the server name the same export",
          t.section(2) + t.section(3))
    check_dlls_from_memory(cfg, m, plain.section(0), plain.section(1))
    check("testprog!add2 in section .text" in plain.section(2), "the executable's exports name its code",
          plain.section(2))
    if not have_tool("x86_64-w64-mingw32-gdb"):
        print("  (Windows-aware gdb skipped: no x86_64-w64-mingw32-gdb)")
        return
    with Server(cfg, cfg.dump("full"), ["--osabi", "windows"]) as srv:
        text, rc, timed_out = _run(["x86_64-w64-mingw32-gdb", "-batch", "-nx", "-iex", "set pagination off",
                                    "-ex", "target remote %s:%d" % (HOST, srv.port), "-ex", "info sharedlibrary",
                                    "-ex", "info symbol $pc", "-ex", "bt"], 60)
    check(not timed_out, "Windows-aware gdb finished", text)
    check_dlls_from_memory(cfg, m, text, text)
    check(re.search(r"in KERNEL32!BaseThreadInitThunk \(\).*\n.*in ntdll!RtlUserThreadStart \(\)", text),
          "the Windows-aware gdb unwinds to the thread's start through the images' .pdata", text)


@test
def windows_gdb_reads_the_teb_and_siginfo(cfg):
    if not have_tool("x86_64-w64-mingw32-gdb"):
        print("  (skipped: no x86_64-w64-mingw32-gdb; Debian package gdb-mingw-w64)")
        return
    m = cfg.manifest("crash")
    x = m.exception
    teb = [t for tid, t in m.threads if tid == x["thread_id"]]
    with Server(cfg, cfg.dump("crash"), ["--osabi", "windows"]) as srv:
        text, rc, timed_out = _run(["x86_64-w64-mingw32-gdb", "-batch", "-nx", "-iex", "set pagination off",
                                    "-ex", "target remote %s:%d" % (HOST, srv.port),
                                    "-ex", "info w32 thread-information-block", "-ex", "p $_siginfo"], 60)
    check(not timed_out, "Windows-aware gdb finished", text)
    check(teb and re.search(r"linear_address_tib\s+is 0x0*%x" % teb[0], text), "the TIB is the thread's TEB", text)
    check("ExceptionCode = ACCESS_VIOLATION" in text, "$_siginfo decodes the exception code", text)
    check(re.search(r"Type = WRITE_ACCESS_VIOLATION, Address = 0xdeadbeef", text), "and the access", text)


@test
def gdb_watchpoint_stops_on_the_write(cfg):
    m = cfg.manifest("full")
    gc, value = m.glob("g_counter"), m.glob_value("g_counter")
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, ["set $rsp = $rsp - 0x100", "set $pc = 0x%x" % m.fn("counter_add"), "set $rcx = 7",
                                 "watch *(long long *)0x%x" % gc, "continue", "x/gd 0x%x" % gc])
    out = t.section(4)
    check("Hardware watchpoint 1" in out, "the watchpoint stops the run", out)
    check("Old value = %d" % value in out and "New value = %d" % (value + 7) in out, "old and new value", out)
    check(t.section(5).strip().endswith(str(value + 7)), "memory holds the new value", t.section(5))


@test
def gdb_scripts_dcall_dsymbols_mappings(cfg):
    m = cfg.manifest("full")
    script = os.path.join(repo_root(cfg), "gdb-scripts", "dumpexec.py")
    cmds = ["dsymbols %s" % cfg.fixtures_src, "dcall add2 3 5", "set $rcx = 40", "dcall add2 $rcx sizeof(int)",
            "dcall fadd 1.5 2.25", "dcall/x read_teb", "dcall apply square 7", "p $dcall_rax", "info proc mappings",
            "dmodules", "dcall null_read"]
    with Server(cfg, cfg.dump("full")) as srv:
        t = gdb_batch(srv.port, cmds, setup=("source " + script,))
    check("1 module(s) with symbols" in t.section(0), "dsymbols loads testprog.exe", t.section(0))
    check(t.section(1).strip() == "= 13", "dcall add2 3 5", t.section(1))
    check(t.section(3).strip() == "= 48", "arguments are gdb expressions", t.section(3))
    check(t.section(4).strip() == "= 3.75", "floats pass and print by the function's types", t.section(4))
    teb = [t_ for tid, t_ in m.threads if tid == m.main_tid][0]
    check(t.section(5).strip() == "= 0x%x" % teb, "/x formats, read_teb gives the TEB", t.section(5))
    check(t.section(6).strip() == "= 50", "a callback by its symbol", t.section(6))
    check("= 50" in t.section(7), "$dcall_rax keeps the result", t.section(7))
    check(re.search(r"0x140000000\s+0x\w+\s+0x\w+\s+0x0 .*testprog\.exe", t.section(8)),
          "info proc mappings in gdb's format", t.section(8))
    check("testprog.exe" in t.section(9), "dmodules", t.section(9))
    check("access violation reading 0x0" in t.section(10), "a faulting dcall says why", t.section(10))


def lldb_env():
    """lldb's embedded Python with Debian's module path, and no pyenv on PATH
    (its interpreter prefix would shadow the system one lldb is built for)."""
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if ".pyenv" not in p)
    return dict(os.environ, PYTHONPATH=LLDB_PYTHON, PATH=path)


def lldb_python_works():
    r = subprocess.run(["lldb", "--batch", "-o", "script print(6*7)"], env=lldb_env(), capture_output=True,
                       text=True, timeout=60)
    return "\n42\n" in r.stdout


@test
def lldb_script_dcall(cfg):
    if not have_tool("lldb") or not lldb_python_works():
        print("  (skipped: lldb has no working Python here)")
        return
    script = os.path.join(repo_root(cfg), "gdb-scripts", "dumpexec_lldb.py")
    saved = dict(os.environ)
    os.environ.update(lldb_env())  # lldb_batch runs lldb in this environment
    try:
        with Server(cfg, cfg.dump("full")) as srv:
            t = lldb_batch(srv.port, ["command script import " + script, "dcall testprog!add2 3 5",
                                      "dcall -f testprog!dmul 3.5 -2.0", "dmodules"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    check("= 13 (0xd)" in t.section(1), "dcall in lldb", t.text)
    check("= -7.0" in t.section(2), "dcall -f shows XMM0", t.section(2))
    check("testprog.exe" in t.section(3), "dmodules in lldb", t.section(3))


WINE_DLLS = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"  # Debian's wine: the dump's own DLLs


@test
def lldb_script_dsymbols(cfg):
    """dsymbols DIR in lldb: modules from files at their bases in the dump, then names, source
    lines and a backtrace (through the Wine DLLs too, when Debian's wine is installed)."""
    if not have_tool("lldb") or not lldb_python_works():
        print("  (skipped: lldb has no working Python here)")
        return
    m = cfg.manifest("full")
    script = os.path.join(repo_root(cfg), "gdb-scripts", "dumpexec_lldb.py")
    wine = os.path.exists(os.path.join(WINE_DLLS, "ntdll.dll"))
    saved = dict(os.environ)
    os.environ.update(lldb_env())
    try:
        with Server(cfg, cfg.dump("full")) as srv:
            t = lldb_batch(srv.port, ["command script import " + script, "dsymbols " + cfg.fixtures_src,
                                      "dsymbols " + (WINE_DLLS if wine else cfg.fixtures_src), "image list",
                                      "image lookup -n add2", "thread select 2", "bt",
                                      "register write rip 0x%x" % m.fn("fib"), "register write rcx 5", "si",
                                      "dsymbols /nonexistent"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    check("testprog.exe at 0x140000000" in t.section(1), "dsymbols adds testprog.exe at its base", t.section(1))
    check(re.search(r"0x0*140000000 \S*testprog\.exe", t.section(3)), "image list shows it", t.section(3))
    check("Address: testprog.exe[0x%016x]" % m.fn("add2") in t.section(4), "image lookup -n add2", t.section(4))
    check("testprog.exe`worker_main" in t.section(6), "bt of the worker names its thread function", t.section(6))
    if wine:
        check("ntdll.dll`RtlUserThreadStart" in t.section(6) and "kernelbase.dll`WaitForSingleObject"
              in t.section(6), "bt through the Wine DLLs to the thread's start", t.section(6))
    check("testprog.exe`fib" in t.section(9), "a step inside fib is named", t.section(9))
    check("/nonexistent" in t.section(10), "a missing folder is an error", t.section(10))


@test
def lldb_with_the_exe_finds_symbols(cfg):
    if not have_tool("lldb"):
        return
    m = cfg.manifest("crash")
    exe = os.path.join(cfg.fixtures_src, "testprog.exe")
    with Server(cfg, cfg.dump("crash"), ["--symbols", cfg.fixtures_src, "--libraries", "symbols"]) as srv:
        text, rc, timed_out = _run(["lldb", "--no-lldbinit", "--batch", "-o", "target create " + exe,
                                    "-o", "gdb-remote %s:%d" % (HOST, srv.port), "-o", "image list",
                                    "-o", "image lookup -a 0x%x" % m.fn("add2")], 90)
    check(not timed_out, "lldb finished", text)
    check(re.search(r"0x0*140000000 .*testprog\.exe", text), "image list: the exe at its base", text)
    check("testprog.exe`add2" in text, "image lookup resolves add2", text)


def serve(cfg, address):
    """dump_exec on an address the harness does not start: (process, bound address)."""
    proc = subprocess.Popen([cfg.dump_exec, "--listen", address, cfg.dump("full")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r" on (\S+)$", line.strip())
    if not m:
        proc.kill()
        check(False, "server on %s did not start" % address, line + proc.stderr.read())
    return proc, m.group(1)


def ask(sock):
    sock.settimeout(5)
    sock.sendall(b"+" + frame("qSupported"))
    data = b""
    while b"#" not in data:
        chunk = sock.recv(4096)
        check(chunk, "the server answered")
        data += chunk
    return data.decode("latin-1")


def stop(proc):
    proc.terminate()
    check(proc.wait(5) == 0, "SIGTERM stops the server cleanly")


@test
def ipv6_and_unix_socket_listeners(cfg):
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
        v6 = True
    except OSError:
        v6 = False
    if v6:
        proc, bound = serve(cfg, "[::1]:0")
        port = int(bound.rsplit(":", 1)[1])
        with socket.create_connection(("::1", port)) as s:
            check("PacketSize=" in ask(s), "qSupported over IPv6", bound)
        stop(proc)
    path = os.path.join(tempfile.mkdtemp(), "dx.sock")
    proc, bound = serve(cfg, "unix:" + path)
    check(bound == "unix:" + path, "the Unix socket address is printed", bound)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        check("PacketSize=" in ask(s), "qSupported over a Unix socket")
    stop(proc)
    check(not os.path.exists(path), "the socket file is removed on exit")
    os.rmdir(os.path.dirname(path))


@test
def non_loopback_listening_warns(cfg):
    proc, bound = serve(cfg, "0.0.0.0:0")
    time.sleep(0.2)
    stop(proc)
    err = proc.stderr.read()
    check("WARNING" in err and "no authentication" in err, "listening beyond loopback warns", err)


if __name__ == "__main__":
    sys.exit(suite.run())
