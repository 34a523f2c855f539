"""Shared helpers for the end-to-end tests of `dump_exec --listen` (stdlib only).

- Config: where dump_exec, the unpacked fixture dumps and the JSON manifests are
  (command line --dump-exec/--fixtures/--fixtures-src, else the environment
  variables DX_DUMP_EXEC, DX_FIXTURES, DX_FIXTURES_SRC).
- Server: runs `dump_exec --listen 127.0.0.1:0 DUMP`, parses the port, and on
  stop sends SIGTERM and checks a clean exit (status 0 within 5 s, no
  sanitizer report on stderr).
- gdb_batch / lldb_batch: a debugger in batch mode, with the output of each
  command kept apart.
- PtyGdb: an interactive gdb on a pseudo-terminal, for a real Ctrl-C.
- RspClient: a raw GDB Remote Serial Protocol client.
- MiniDump: just enough of the minidump format to know each thread's id, TEB
  and context, independently of the server.
- Suite: a minimal test runner that prints `N passed, M failed`.

Every wait here is bounded; every socket goes to 127.0.0.1 only.
"""
import errno
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import traceback

HOST = "127.0.0.1"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")
LLDB_NOISE = re.compile(r"^(Traceback \(most recent call last\):|  File \"<string>\", line 1, in <module>|"
                        r"ModuleNotFoundError: No module named 'lldb\.embedded_interpreter')$")


class TestFailure(AssertionError):
    pass


def check(cond, msg, detail=None):
    """assert that prints the evidence (e.g. a debugger's whole output) on failure."""
    if not cond:
        if detail is not None:
            msg = "%s\n----- output -----\n%s\n------------------" % (msg, detail)
        raise TestFailure(msg)


# --------------------------------------------------------------------------- config

class Config:
    def __init__(self, argv=None):
        argv = list(sys.argv[1:] if argv is None else argv)
        self.dump_exec = os.environ.get("DX_DUMP_EXEC")
        self.fixtures = os.environ.get("DX_FIXTURES")
        self.fixtures_src = os.environ.get("DX_FIXTURES_SRC")
        self.only = []
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in ("--dump-exec", "--fixtures", "--fixtures-src", "-k") and i + 1 < len(argv):
                v = argv[i + 1]
                if a == "--dump-exec":
                    self.dump_exec = v
                elif a == "--fixtures":
                    self.fixtures = v
                elif a == "--fixtures-src":
                    self.fixtures_src = v
                else:
                    self.only.append(v)
                i += 2
            else:
                raise SystemExit("usage: %s --dump-exec PATH --fixtures DIR --fixtures-src DIR [-k SUBSTRING]..."
                                 % os.path.basename(sys.argv[0]))
        missing = [n for n, v in (("--dump-exec", self.dump_exec), ("--fixtures", self.fixtures),
                                  ("--fixtures-src", self.fixtures_src)) if not v]
        if missing:
            raise SystemExit("missing " + ", ".join(missing))
        self._manifests = {}

    def dump(self, kind):
        """kind: full, normal, crash, or breakpad (the public Windows dump)."""
        if kind == "breakpad":
            return os.path.join(self.fixtures_src, "public", "win10_x64_breakpad_invalid_parameter.dmp")
        return os.path.join(self.fixtures, "testprog_%s.dmp" % kind)

    def manifest(self, kind):
        if kind not in self._manifests:
            with open(os.path.join(self.fixtures_src, "testprog_%s.json" % kind)) as f:
                self._manifests[kind] = Manifest(json.load(f))
        return self._manifests[kind]


class Manifest:
    def __init__(self, data):
        self.data = data

    def fn(self, name):
        return int(self.data["functions"][name]["address"], 16)

    def glob(self, name):
        return int(self.data["globals"][name]["address"], 16)

    def glob_value(self, name):
        return int(self.data["globals"][name]["value_at_dump"]["dec"])

    @property
    def threads(self):
        """[(tid, teb)] of the main and worker threads."""
        p = self.data["process"]
        return [(p[k]["tid"], int(p[k]["teb"], 16)) for k in ("main_thread", "worker_thread")]

    @property
    def main_tid(self):
        return self.data["process"]["main_thread"]["tid"]

    @property
    def exception(self):
        return self.data["exception"]


# --------------------------------------------------------------------------- minidump

class MiniDump:
    """Thread list and exception stream of a minidump, read directly."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.d = f.read()
        sig, _ver, n, dir_rva = struct.unpack_from("<IIII", self.d, 0)
        if sig != 0x504D444D:
            raise ValueError("%s: not a minidump" % path)
        self.streams = {}
        for i in range(n):
            t, size, rva = struct.unpack_from("<III", self.d, dir_rva + 12 * i)
            self.streams.setdefault(t, (size, rva))

    def _context(self, rva):
        regs = {}
        for name, off in (("rax", 0x78), ("rcx", 0x80), ("rdx", 0x88), ("rbx", 0x90), ("rsp", 0x98),
                          ("rbp", 0xA0), ("rsi", 0xA8), ("rdi", 0xB0), ("rip", 0xF8)):
            regs[name] = struct.unpack_from("<Q", self.d, rva + off)[0]
        return regs

    def threads(self):
        """[{tid, teb, ctx}] in dump order."""
        s = self.streams.get(3)
        out = []
        if not s:
            return out
        (n,) = struct.unpack_from("<I", self.d, s[1])
        for i in range(n):
            tid, _s, _pc, _p, teb, _st, _sz, _srva, _csize, crva = struct.unpack_from(
                "<IIIIQQIIII", self.d, s[1] + 4 + 48 * i)
            out.append({"tid": tid, "teb": teb, "ctx": self._context(crva)})
        return out

    def exception(self):
        """{tid, code, address, ctx} or None."""
        s = self.streams.get(6)
        if not s:
            return None
        off = s[1]
        tid, _align = struct.unpack_from("<II", self.d, off)
        code, _flags, _rec, addr = struct.unpack_from("<IIQQ", self.d, off + 8)
        _csize, crva = struct.unpack_from("<II", self.d, off + 8 + 152)
        return {"tid": tid, "code": code, "address": addr, "ctx": self._context(crva)}


# --------------------------------------------------------------------------- server

class Server:
    """`with Server(cfg, dump) as srv:` ... srv.port. Stopping checks a clean exit."""

    def __init__(self, cfg, dump, extra_args=(), start_timeout=30):
        self.cmd = [cfg.dump_exec, "--listen", HOST + ":0"] + list(extra_args) + [dump]
        self.fixtures_src = cfg.fixtures_src
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._out, self._err = [], []
        self._threads = []
        self.stopped = False

    def _pump(self, stream, sink):
        for line in iter(stream.readline, b""):
            sink.append(line.decode("utf-8", "replace"))
        stream.close()

    @property
    def stdout(self):
        return "".join(self._out)

    @property
    def stderr(self):
        return "".join(self._err)

    def start(self):
        env = dict(os.environ)
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=1"
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        # The project's LeakSanitizer suppressions (Unicorn's own leak), if there are any.
        supp = os.path.join(os.path.dirname(os.path.abspath(self.fixtures_src)), "lsan.supp")
        if os.path.exists(supp) and "suppressions=" not in env.get("LSAN_OPTIONS", ""):
            lsan = env.get("LSAN_OPTIONS", "")
            env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + supp
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        for stream, sink in ((self.proc.stdout, self._out), (self.proc.stderr, self._err)):
            t = threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + self.start_timeout
        pat = re.compile(r"^Serving .* on 127\.0\.0\.1:(\d+)$", re.M)
        while time.monotonic() < deadline:
            m = pat.search(self.stdout)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise TestFailure("server did not start: %s\nstdout: %s\nstderr: %s" % (self.cmd, self.stdout, self.stderr))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def sanitizer_report(self):
        err = self.stderr
        return [m for m in SANITIZER_MARKERS if m in err]

    def check_sanitizers(self):
        found = self.sanitizer_report()
        check(not found, "sanitizer report on the server's stderr (%s)" % ", ".join(found), self.stderr)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal the server and require exit status 0 within timeout, and a clean stderr."""
        if self.stopped:
            return
        self.stopped = True
        check(self.alive(), "server died before it was stopped (status %s)" % self.proc.poll(), self.stderr)
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            for t in self._threads:
                t.join(2)
            raise TestFailure("server did not exit within %.0f s of %s" % (timeout, signal.Signals(sig).name))
        for t in self._threads:
            t.join(5)
        check(rc == 0, "server exited with status %s after %s (%.2f s)" % (rc, signal.Signals(sig).name,
                                                                             time.monotonic() - t0), self.stderr)
        self.check_sanitizers()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            if not self.stopped:
                self.stopped = True
                rc = self.proc.poll()
                if rc is not None:
                    sys.stdout.write("  (the server had already exited with status %s%s)\n" % (
                        rc, " = killed by %s, which the test did not send" % signal.Signals(-rc).name if rc < 0 else ""))
                if self.alive():
                    self.proc.send_signal(signal.SIGTERM)
                self.kill()
            extra = self.stderr.strip()
            if extra:
                sys.stdout.write("  (server stderr: %s)\n" % extra[-3000:])
        return False


# --------------------------------------------------------------------------- batch debuggers

class Transcript:
    """A debugger's output, split per command: section(i) is the output of cmds[i]."""

    def __init__(self, text, sections, rc, timed_out):
        self.text, self.sections, self.rc, self.timed_out = text, sections, rc, timed_out

    def section(self, i):
        return self.sections[i] if i < len(self.sections) else ""

    def __str__(self):
        return self.text


def _run(args, timeout, env=None):
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
        return p.stdout.decode("utf-8", "replace"), p.returncode, False
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return out, None, True


GDB_MARK = "@@DX-CMD-%d@@"


def gdb_batch(port, cmds, timeout=60, connect=True, setup=()):
    """gdb -batch: setup commands, `target remote` (unless connect=False), then cmds.
    Each command's output is in .section(i); a marker line (gdb `echo`) separates them."""
    args = ["gdb", "-batch", "-nx", "-iex", "set pagination off", "-iex", "set confirm off",
            "-iex", "set width 0", "-iex", "set height 0", "-iex", "set style enabled off"]
    for c in setup:
        args += ["-ex", c]
    if connect:
        args += ["-ex", "target remote %s:%d" % (HOST, port)]
    for i, c in enumerate(cmds):
        args += ["-ex", "echo \\n" + (GDB_MARK % i) + "\\n", "-ex", c]
    args += ["-ex", "echo \\n" + (GDB_MARK % len(cmds)) + "\\n"]
    text, rc, timed_out = _run(args, timeout)
    sections = []
    for i in range(len(cmds)):
        a = text.find(GDB_MARK % i)
        b = text.find(GDB_MARK % (i + 1))
        sections.append(text[a + len(GDB_MARK % i):b if b >= 0 else len(text)].strip("\n") if a >= 0 else "")
    t = Transcript(text, sections, rc, timed_out)
    check(not timed_out, "gdb did not finish within %d s" % timeout, text)
    return t


def lldb_batch(port, cmds, timeout=60, after_crash=()):
    """lldb --batch -o 'gdb-remote HOST:PORT' -o cmd...; .section(i) is cmds[i]'s output
    (lldb echoes each command as `(lldb) cmd`). section(-1)... use .connect for gdb-remote's.
    after_crash: commands lldb runs (-k) once the process stops with a signal, which
    ends the -o list; their sections follow cmds'."""
    all_cmds = ["gdb-remote %s:%d" % (HOST, port)] + list(cmds) + list(after_crash)
    args = ["lldb", "--no-lldbinit", "--batch"]
    for i, c in enumerate(all_cmds):
        args += ["-k" if i > len(cmds) else "-o", c]
    text, rc, timed_out = _run(args, timeout)
    text = "\n".join(l for l in text.splitlines() if not LLDB_NOISE.match(l))
    # Split on the echoed command lines, in order.
    sections = []
    pos = 0
    starts = []
    for c in all_cmds:
        k = text.find("(lldb) " + c, pos)
        if k < 0:
            starts.append(None)
            continue
        starts.append(k)
        pos = k + 1
    for i, k in enumerate(starts):
        if k is None:
            sections.append("")
            continue
        nxt = [s for s in starts[i + 1:] if s is not None]
        end = nxt[0] if nxt else len(text)
        body = text[k:end]
        sections.append(body[body.find("\n") + 1:] if "\n" in body else "")
    t = Transcript(text, sections[1:], rc, timed_out)
    t.connect = sections[0]
    check(not timed_out, "lldb did not finish within %d s" % timeout, text)
    return t


def have_tool(name):
    return shutil.which(name) is not None


# --------------------------------------------------------------------------- gdb on a pty

class PtyGdb:
    """An interactive gdb on a pseudo-terminal: typed text, and a real Ctrl-C (0x03)."""

    def __init__(self, args=(), rows=50, cols=250):
        self.buf = b""
        pid, fd = pty.fork()
        if pid == 0:  # child
            os.environ["TERM"] = "dumb"
            os.environ["COLUMNS"] = str(cols)
            try:
                os.execvp("gdb", ["gdb", "-nx", "-q", "-iex", "set pagination off", "-iex", "set confirm off",
                                  "-iex", "set width 0", "-iex", "set style enabled off"] + list(args))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _fill(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno == errno.EIO:  # child gone
                return None
            raise
        if not data:
            return None
        self.buf += data
        return True

    def expect(self, pattern, timeout):
        """Wait for a regex (str) in the output since the last match; returns (match, seconds)."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                rest = self.buf[m.end():]
                text = self.buf[:m.end()]
                self.buf = rest
                return m, time.monotonic() - t0, text.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("gdb (pty) did not print /%s/ within %.1f s; output so far:\n%s"
                                  % (rx.pattern.decode(), timeout, self.buf.decode("utf-8", "replace")))
            if self._fill(left) is None:
                raise TestFailure("gdb (pty) exited while waiting for /%s/; output:\n%s"
                                  % (rx.pattern.decode(), self.buf.decode("utf-8", "replace")))

    def send(self, text):
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def close(self, timeout=5):
        try:
            self.send("quit\n")
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            self._fill(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


# --------------------------------------------------------------------------- raw RSP client

def checksum(payload):
    return sum(payload) & 0xFF


def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return b"$" + payload + b"#%02x" % checksum(payload)


def unescape(data):
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x7D and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


# Register layout of the `g` packet (target.xml order): name, bytes.
REGS = ([(n, 8) for n in ("rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip".split())] +
        [("eflags", 4)] + [(n, 4) for n in "cs ss ds es fs gs".split()] +
        [("st%d" % i, 10) for i in range(8)] + [(n, 4) for n in "fctrl fstat ftag fiseg fioff foseg fooff fop".split()] +
        [("xmm%d" % i, 16) for i in range(16)] + [("mxcsr", 4), ("fs_base", 8), ("gs_base", 8)])
REGNUM = {n: i for i, (n, _) in enumerate(REGS)}
G_BYTES = sum(s for _, s in REGS)  # 552


def parse_g(hexstr):
    raw = bytes.fromhex(hexstr)
    out, off = {}, 0
    for name, size in REGS:
        out[name] = int.from_bytes(raw[off:off + size], "little")
        off += size
    return out


def le_hex(value, size=8):
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()


class RspClient:
    """A raw RSP connection. send() frames a packet and (in ack mode) waits for
    the '+'; read_packet() returns the next packet's (unescaped) payload."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.noack = False
        self.rx = b""
        self.acks = b""  # ack bytes seen outside packets since the last clear

    # low level
    def send_raw(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            raise ConnectionError("server closed the connection")
        self.rx += data
        return True

    def read_byte(self, timeout=None):
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self.rx:
            if not self._recv(deadline):
                raise TestFailure("no byte from the server within %.1f s" % wait)
        b, self.rx = self.rx[:1], self.rx[1:]
        return b

    def read_frame(self, timeout=None):
        """The next whole '$...#xx' frame as raw bytes; bytes before it go to self.acks."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            start = self.rx.find(b"$")
            if start >= 0:
                end = self.rx.find(b"#", start)
                if end >= 0 and len(self.rx) >= end + 3:
                    self.acks += self.rx[:start]
                    fr, self.rx = self.rx[start:end + 3], self.rx[end + 3:]
                    return fr
            if not self._recv(deadline):
                raise TestFailure("no packet from the server within %.1f s (have %r)"
                                  % ((self.timeout if timeout is None else timeout), self.rx[:200]))

    def read_packet(self, timeout=None, ack=True):
        fr = self.read_frame(timeout)
        payload, cs = fr[1:-3], fr[-2:]
        check(int(cs, 16) == checksum(payload), "bad checksum from the server: %r" % fr[:200])
        if ack and not self.noack:
            self.send_raw(b"+")
        return unescape(payload)

    def expect_silence(self, seconds):
        """True if nothing arrives for that long (data that does arrive stays buffered)."""
        if self.rx:
            return False
        deadline = time.monotonic() + seconds
        try:
            while self._recv(deadline):
                return False
        except ConnectionError:
            return False
        return True

    # packets
    def send(self, payload, wait_ack=True, timeout=None):
        data = frame(payload)
        for _ in range(3):
            self.send_raw(data)
            if self.noack or not wait_ack:
                return
            b = self.read_byte(timeout)
            while b not in (b"+", b"-"):
                if b == b"$":  # a packet before the ack: keep it
                    self.rx = b + self.rx
                    raise TestFailure("packet without an ack first: %r" % self.rx[:100])
                b = self.read_byte(timeout)
            if b == b"+":
                return
        raise TestFailure("server nakked %r three times" % payload)

    def request(self, payload, timeout=None):
        self.send(payload, timeout=timeout)
        return self.read_packet(timeout)

    def rq(self, payload, timeout=None):
        """request() as text."""
        return self.request(payload, timeout).decode("latin-1")

    def handshake(self, features="multiprocess+;swbreak+;hwbreak+;qRelocInsn+;vContSupported+;xmlRegisters=i386",
                  noack=True):
        self.send_raw(b"+")
        sup = self.rq("qSupported:" + features)
        if noack:
            check(self.rq("QStartNoAckMode") == "OK", "QStartNoAckMode refused")
            self.noack = True
        return sup

    def monitor(self, cmd, timeout=None):
        """qRcmd: returns (text of the O packets, final reply)."""
        self.send("qRcmd," + cmd.encode().hex(), timeout=timeout)
        text = b""
        while True:
            p = self.read_packet(timeout)
            if p.startswith(b"O") and p != b"OK":
                text += bytes.fromhex(p[1:].decode())
                continue
            return text.decode("utf-8", "replace"), p.decode("latin-1")

    def regs(self, tid=None):
        if tid is not None:
            check(self.rq("Hg%x" % tid) == "OK", "Hg%x refused" % tid)
        g = self.rq("g")
        check(len(g) == 2 * G_BYTES, "g reply of %d hex chars" % len(g), g[:200])
        return parse_g(g)

    def set_reg(self, name, value):
        n = REGNUM[name]
        size = dict(REGS)[name]
        r = self.rq("P%x=%s" % (n, le_hex(value, size)))
        check(r == "OK", "P%x (%s) gave %r" % (n, name, r))

    def read_mem(self, addr, n):
        r = self.rq("m%x,%x" % (addr, n))
        check(not r.startswith("E") and len(r) == 2 * n, "m%x,%x gave %r" % (addr, n, r[:100]))
        return bytes.fromhex(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a TCP reset (SO_LINGER 0), as a client that died would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


def setup_endless_loop(client, m, tid=None):
    """Point the current thread at long_loop(10**12) with room on its stack."""
    r = client.regs(tid)
    client.set_reg("rip", m.fn("long_loop"))
    client.set_reg("rcx", 10 ** 12)
    client.set_reg("rsp", (r["rsp"] - 0x100) & ~0xF)
    return r


# --------------------------------------------------------------------------- runner

class Suite:
    def __init__(self, name, cfg=None):
        self.name = name
        self.cfg = cfg or Config()
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def run(self):
        passed = failed = 0
        t_all = time.monotonic()
        sel = [t for t in self.tests if not self.cfg.only or any(k in t.__name__ for k in self.cfg.only)]
        for fn in sel:
            t0 = time.monotonic()
            sys.stdout.write("[ RUN  ] %s\n" % fn.__name__)
            sys.stdout.flush()
            try:
                fn(self.cfg)
            except Exception as e:  # noqa: BLE001 - report every failure, go on
                failed += 1
                if isinstance(e, TestFailure):
                    sys.stdout.write("  %s\n" % str(e).replace("\n", "\n  "))
                    tb = traceback.extract_tb(e.__traceback__)
                    where = [f for f in tb if not f.filename.endswith("harness.py")]
                    if where:
                        sys.stdout.write("  at %s:%d\n" % (os.path.basename(where[-1].filename), where[-1].lineno))
                else:
                    sys.stdout.write(traceback.format_exc())
                sys.stdout.write("[ FAIL ] %s (%.1f s)\n" % (fn.__name__, time.monotonic() - t0))
            else:
                passed += 1
                sys.stdout.write("[  OK  ] %s (%.1f s)\n" % (fn.__name__, time.monotonic() - t0))
            sys.stdout.flush()
        sys.stdout.write("%s: %.1f s\n" % (self.name, time.monotonic() - t_all))
        sys.stdout.write("%d passed, %d failed\n" % (passed, failed))
        sys.stdout.flush()
        return 1 if failed else 0

    def skip_all(self, why):
        sys.stdout.write("%s: skipped: %s\n0 passed, 0 failed, %d skipped\n" % (self.name, why, len(self.tests)))
        return 77
