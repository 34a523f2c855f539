"""A session: one isolated executor over a dump, with its own Windows."""
from __future__ import annotations

import ctypes
import os
import signal
import struct
import threading
import time
import weakref
from typing import Callable, Iterator, Optional, Union

from . import _lib
from ._dump import Dump, DumpExecError, _err
from ._lib import lib

MASK64 = (1 << 64) - 1
MAX_ARGS = 64

# ---- argument kinds beyond Python's own int, float, str and bytes -------------


class f32(float):
    """A float argument passed as single precision: s.call(fn, f32(1.5))."""


class wstr(str):
    """A string argument passed as UTF-16 (a wchar_t *)."""


class buf:
    """An out-buffer of size bytes (zeroed, or starting as init); its bytes
    after the call come back in Result.buffers, in argument order."""
    __slots__ = ("size", "init")

    def __init__(self, size: int, init: bytes = b""):
        if not isinstance(size, int) or not 0 < size <= 512 << 10:
            raise ValueError(f"buf size must be 1 to {512 << 10} bytes, not {size!r}")
        if len(init) > size:
            raise ValueError(f"buf init is {len(init)} bytes, more than its size {size}")
        self.size, self.init = size, bytes(init)

    def __repr__(self) -> str:
        return f"buf({self.size})"


_K = {n: _lib.const("DX_ARG_" + n) for n in ("INT", "DOUBLE", "FLOAT", "STR", "WSTR", "BUF")}
_STOP_NAMES = ("none", "returned", "step", "breakpoint", "watchpoint", "access", "divide", "invalid_opcode",
               "int3", "syscall", "limit", "timeout", "interrupted", "memory_limit", "stack_overflow",
               "exception", "error")
STOP_KIND = {_lib.const("DX_STOP_" + n.upper()): n for n in _STOP_NAMES}
_RETURNED = _lib.const("DX_STOP_RETURNED")
_ACCESS = {_lib.const("DX_ACCESS_" + n.upper()): n for n in ("read", "write", "execute")}
_WATCH = {n: _lib.const("DX_WATCH_" + n.upper()) for n in ("write", "read", "access")}
_SYSCALLS = {n: _lib.const("DX_SYSCALLS_" + n.upper()) for n in ("emulate", "stop")}
_EXCEPTIONS = {n: _lib.const("DX_EXCEPTIONS_" + n.upper()) for n in ("dispatch", "stop")}
_DEBUG_FD = _lib.const("DX_NT_DEBUG_STRING")
_K_INT = _K["INT"]
_ARG_SIZE = ctypes.sizeof(_lib.Arg)
_OPTIONS_AT, _FN_AT, _NARGS_AT = _lib.CallBlock.options.offset, _lib.CallBlock.fn.offset, _lib.CallBlock.nargs.offset
assert _NARGS_AT == _FN_AT + 8
# dx_call_result read as 64-bit words: where the figures a call returns are
# dx_call_result's kind, insns, rax, xmm0 (two words) and nbufs in one unpack
def _result_layout() -> struct.Struct:
    at = [(0, "i"), (_lib.Stop.insns.offset, "Q"), (_lib.CallResult.rax.offset, "Q"),
          (_lib.CallResult.xmm0.offset, "Q"), (_lib.CallResult.xmm0.offset + 8, "Q"),
          (_lib.CallResult.nbufs.offset, "Q")]
    fmt, pos = "<", 0
    for off, code in at:
        assert off >= pos
        fmt += "%dx%s" % (off - pos, code)
        pos = off + struct.calcsize(code)
    return struct.Struct(fmt)


_RESULT = _result_layout()
# a call crosses into the library with one pointer: its block
_call = lib.dx_abi_call


_DOUBLE, _FLOAT = struct.Struct("<d"), struct.Struct("<f")
assert _lib.Arg.i.offset == 8


class _Frame:
    """A dx_abi_call_block of one arity, kept and refilled call after call.
    While every argument is a non-negative int (the common case), the
    kinds stay set and one pack stores the function and the values; any
    other argument takes the general path, one by one."""
    __slots__ = ("block", "args", "view", "address", "pack", "all_ints", "plain")

    def __init__(self, session: "Session", n: int):
        header = ctypes.sizeof(_lib.CallBlock)
        self.block = ctypes.create_string_buffer(header + _ARG_SIZE * n)
        self.address = ctypes.addressof(self.block)
        head = _lib.CallBlock.from_buffer(self.block)
        head.exec, head.options, head.result, head.nargs = session._e, session._plain_at, session._res_at, n
        self.args = (_lib.Arg * max(n, 1)).from_address(self.address + header) if n else None
        self.view = memoryview(self.block).cast("B")
        # fn, nargs, then each argument's value (dx_arg.i) at its place in
        # the array; the bytes between are packed as zeros, which leaves each
        # argument's kind DX_ARG_INT (0) and its other fields empty
        first = header + _lib.Arg.i.offset
        gaps = ["%dx" % (first - _NARGS_AT - 8)] + ["%dx" % (_ARG_SIZE - 8)] * (n - 1)
        fmt = "<QQ" + "".join(g + "Q" for g in gaps[:n])
        self.pack = struct.Struct(fmt).pack_into
        self.all_ints = False
        self.plain = session._plain_at

    def fill_slowly(self, fn: int, values, options: int) -> None:
        self.all_ints = False
        struct.pack_into("<Q", self.view, _OPTIONS_AT, options)
        struct.pack_into("<QQ", self.view, _FN_AT, fn, len(values))
        for i, x in enumerate(values):
            _set_arg(self.args[i], i, x)
        self.all_ints = _K_INT == 0 and options == self.plain and all(type(x) is int and x >= 0 for x in values)


def _set_arg(a: _lib.Arg, i: int, x) -> None:
    t = type(x)
    a.text = None
    if t is int or t is bool:
        if not -(1 << 63) <= x <= MASK64:
            raise ValueError(f"argument {i + 1}: {x} does not fit 64 bits")
        a.kind, a.i = _K["INT"], x & MASK64
    elif t is float or t is f32:
        a.kind, a.d = _K["FLOAT" if t is f32 else "DOUBLE"], x
    elif t is str or t is wstr:
        b = x.encode("utf-8")
        a.kind, a.text, a.size = _K["WSTR" if t is wstr else "STR"], b, len(b)
    elif t is bytes or t is bytearray or t is memoryview:
        b = bytes(x)
        a.kind, a.text, a.size = _K["STR"], b, len(b)
    elif t is buf:  # C copies size bytes from text: give it all of them
        a.kind, a.text, a.size = _K["BUF"], (x.init.ljust(x.size, b"\0") if x.init else None), x.size
    elif isinstance(x, int):  # IntEnum and friends
        _set_arg(a, i, int(x))
    elif isinstance(x, float):
        _set_arg(a, i, float(x))
    elif hasattr(x, "__index__"):  # numpy integers
        _set_arg(a, i, x.__index__())
    else:
        raise TypeError(f"argument {i + 1}: cannot pass {t.__name__} "
                        "(int, float, f32, str, wstr, bytes or buf)")


# ---- stops and results --------------------------------------------------------


class Stop:
    """Why a run ended: kind ("returned", "breakpoint", "access", "syscall",
    "exception", "limit", ...), the instruction's address pc, the data
    address addr of an access or watchpoint, and a one-line description."""
    __slots__ = ("kind", "pc", "addr", "access", "insn", "detail", "description", "instructions",
                 "syscall", "code", "params", "unhandled", "console", "debug_output")

    def __init__(self, s: _lib.Stop, description: str):
        self.kind = STOP_KIND.get(s.kind, "error")
        self.pc, self.addr = s.pc, s.addr
        self.access = _ACCESS.get(s.access) if self.kind in ("access", "watchpoint") else None
        self.insn = s.insn.decode("utf-8", "replace")
        self.detail = s.detail.decode("utf-8", "replace")
        self.description = description
        self.instructions = s.insns
        self.syscall = s.syscall_nr if self.kind == "syscall" else None
        self.code = s.code if self.kind == "exception" else None
        self.params = tuple(s.params[:min(s.nparams, 15)]) if self.kind == "exception" else ()
        self.unhandled = bool(s.unhandled)
        self.console, self.debug_output = "", []  # the guest's output during a step or continue

    def __repr__(self) -> str:
        return f"<Stop {self.kind} at {self.pc:#x}: {self.description}>"


class Result:
    """What a call returned: rax (unsigned; .signed for the signed view),
    xmm0 as a double (.xmm0_f32, .xmm0_bytes), the instructions it ran,
    its out-buffers, and the guest's console and debug output."""
    __slots__ = ("rax", "_x0", "_x1", "instructions", "_extra")

    def __init__(self, rax: int, x0: int, x1: int, instructions: int):
        self.rax, self._x0, self._x1, self.instructions = rax, x0, x1, instructions
        self._extra = None  # (buffers, console, debug_output) when there are any

    @property
    def buffers(self) -> list[bytes]:
        """The buf() arguments' bytes after the call, in argument order."""
        return self._extra[0] if self._extra else []

    @property
    def console(self) -> str:
        """What the guest wrote to its console (stdout and stderr) during the call."""
        return self._extra[1] if self._extra else ""

    @property
    def debug_output(self) -> list[str]:
        """OutputDebugString's texts during the call."""
        return self._extra[2] if self._extra else []

    @property
    def xmm0_bytes(self) -> bytes:
        return self._x0.to_bytes(8, "little") + self._x1.to_bytes(8, "little")

    @property
    def signed(self) -> int:
        return self.rax - (1 << 64) if self.rax >> 63 else self.rax

    @property
    def eax(self) -> int:
        return self.rax & 0xFFFFFFFF

    @property
    def xmm0(self) -> float:
        return _DOUBLE.unpack(self._x0.to_bytes(8, "little"))[0]

    @property
    def xmm0_f32(self) -> float:
        return _FLOAT.unpack((self._x0 & 0xFFFFFFFF).to_bytes(4, "little"))[0]

    def __int__(self) -> int:
        return self.rax

    def __index__(self) -> int:
        return self.rax

    def __repr__(self) -> str:
        return f"<Result rax={self.rax:#x} after {self.instructions} instructions>"


class Stopped(DumpExecError):
    """A call did not return: .stop says why and where (.kind, .pc, .insn),
    .result holds what was there when it stopped."""

    def __init__(self, stop: Stop, result: Optional[Result] = None):
        super().__init__(stop.description)
        self.stop, self.result = stop, result

    @property
    def kind(self) -> str:
        return self.stop.kind

    @property
    def pc(self) -> int:
        return self.stop.pc


# ---- Ctrl-C -------------------------------------------------------------------
# Python's C-level signal handler writes the signal's number to the wakeup
# fd even while the main thread is inside the library; a watcher thread
# reads it and interrupts every run under way (a session runs only while
# it holds its lock), which then returns, and Python raises
# KeyboardInterrupt as usual.

_sessions: "weakref.WeakSet" = weakref.WeakSet()
_sessions_lock = threading.Lock()


def _busy() -> list:
    """Every session running now (holding its lock)."""
    with _sessions_lock:
        sessions = list(_sessions)
    return [s for s in sessions if s._lock.locked()]


def _interrupt_runs() -> None:
    """Interrupt every run under way, and again every 50 ms for a second
    while that run goes on (an interrupt can arrive between two of a run's
    engine starts, as the server also knows); a run that ended clears its
    session's _interrupted, and the next run is left alone."""
    busy = _busy()
    for s in busy:
        s.interrupt()
    for _ in range(20):
        time.sleep(0.05)
        busy = [s for s in busy if s._interrupted and s._lock.locked()]
        if not busy:
            return
        for s in busy:
            s.interrupt()


_watcher_lock = threading.Lock()
_watcher_state = {"tried": False}


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            try:
                _interrupt_runs()
            except Exception:  # noqa: BLE001 - the watcher must outlive anything a session does
                pass


def _install_interrupts() -> None:
    with _watcher_lock:
        if _watcher_state["tried"] or threading.current_thread() is not threading.main_thread():
            return
        _watcher_state["tried"] = True
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:
            old = None
        if old != -1:  # someone else (asyncio) owns the wakeup fd: leave it to them
            if old is not None:
                signal.set_wakeup_fd(old)
            os.close(r)
            os.close(w)
            return
        threading.Thread(target=_watch, args=(r,), name="dumpexec-interrupts", daemon=True).start()


def interrupt_all() -> None:
    """Interrupt every run under way in this process (what Ctrl-C does)."""
    for s in _busy():
        s.interrupt()


# ---- registers ----------------------------------------------------------------

_REG_COUNT = _lib.const("DX_REG_COUNT")
REGISTERS = {lib.dx_reg_name(n).decode(): n for n in range(_REG_COUNT)}
_REG_SIZE = {n: lib.dx_reg_size(n) for n in range(_REG_COUNT)}


class Registers:
    """One thread's registers by name: regs.rax, regs["xmm0"], regs.rip = x.
    Values are unsigned ints (xmm and st registers too, little-endian)."""

    def __init__(self, session: "Session", tid: int):
        object.__setattr__(self, "_s", session)
        object.__setattr__(self, "_tid", tid)

    def _ptr(self) -> int:
        p = lib.dx_exec_regs(self._s._handle(), self._tid)
        if not p:
            raise DumpExecError(f"thread {self._tid} is not in the dump")
        return p

    def __getitem__(self, name: str) -> int:
        n = REGISTERS.get(name.lower())
        if n is None:
            raise KeyError(f"no register {name!r}")
        out = ctypes.create_string_buffer(_REG_SIZE[n])
        with self._s._lock:
            lib.dx_regs_get(self._ptr(), n, out)
        return int.from_bytes(out.raw, "little")

    def __setitem__(self, name: str, value: int) -> None:
        n = REGISTERS.get(name.lower())
        if n is None:
            raise KeyError(f"no register {name!r}")
        size = _REG_SIZE[n]
        if not isinstance(value, int) or not -(1 << (8 * size - 1)) <= value < 1 << (8 * size):
            raise ValueError(f"{name}: {value!r} does not fit {size} bytes")
        with self._s._lock:
            lib.dx_regs_set(self._ptr(), n, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def __getattr__(self, name: str) -> int:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: int) -> None:
        try:
            self[name] = value
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTERS)

    def dict(self) -> dict[str, int]:
        return {n: self[n] for n in REGISTERS}


# ---- the session --------------------------------------------------------------

_libc = ctypes.CDLL(None)
_libc.fopen.restype, _libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
_libc.fclose.argtypes = [ctypes.c_void_p]
_libc.fflush.argtypes = [ctypes.c_void_p]


class Session:
    """An isolated executor over a Dump: its memory starts as the dump's
    and its writes stay its own until reset(). Calls, steps and runs on
    one session are serialised; run sessions in parallel for parallelism
    (the GIL is released while the guest runs).

    Options: max_insns (per run; 0 = none, default 100000), timeout
    (seconds per run; 0 = none), syscalls ("emulate" or "stop"),
    exceptions ("dispatch" to the dump's handlers, or "stop"),
    unmapped_zero (memory the dump lacks reads as zeros), max_memory_mb
    (what the session may map), console (a callable(fd, text) that sees
    the guest's console output as it is written; fd -1 is
    OutputDebugString)."""

    def __init__(self, dump: Dump, *, max_insns: int = _lib.const("DX_DEFAULT_MAX_INSNS"), timeout: float = 0,
                 syscalls: str = "emulate", exceptions: str = "dispatch", unmapped_zero: bool = False,
                 max_memory_mb: int = 0, console: Optional[Callable[[int, str], None]] = None):
        if syscalls not in _SYSCALLS:
            raise ValueError(f"syscalls must be one of {sorted(_SYSCALLS)}, not {syscalls!r}")
        if exceptions not in _EXCEPTIONS:
            raise ValueError(f"exceptions must be one of {sorted(_EXCEPTIONS)}, not {exceptions!r}")
        if max_insns < 0 or timeout < 0 or max_memory_mb < 0:
            raise ValueError("max_insns, timeout and max_memory_mb must not be negative")
        self._e = None
        self._nt = None
        self._trace = None
        self._tenet = None
        self.dump = dump
        opts = _lib.ExecOptions(max_insns=max_insns, timeout=timeout, unmapped_zero=unmapped_zero,
                                max_session_mb=max_memory_mb)
        e, err = ctypes.c_void_p(), _err()
        if lib.dx_exec_new(dump._handle(), ctypes.byref(opts), ctypes.byref(e), err, len(err)) != 0:
            raise DumpExecError(err.value.decode("utf-8", "replace"))
        self._e = e.value
        self._out: list = []
        out, user_console = self._out, console

        def on_console(_user, fd, text, n):
            s = ctypes.string_at(text, n).decode("utf-8", "replace")
            out.append((fd, s))
            if user_console:
                user_console(fd, s)

        self._console_fn = _lib.CONSOLE_FN(on_console)
        ntopts = _lib.NtOptions(policy=_SYSCALLS[syscalls], exceptions=_EXCEPTIONS[exceptions],
                                console=self._console_fn)
        nt = ctypes.c_void_p()
        if lib.dx_nt_new(self._e, ctypes.byref(ntopts), ctypes.byref(nt), err, len(err)) != 0:
            self.close()
            raise DumpExecError(err.value.decode("utf-8", "replace"))
        self._nt = nt.value
        self._lock = threading.Lock()  # one caller at a time, as the C API requires
        self._elock = threading.Lock()  # the executor pointer, for interrupts from other threads
        self._interrupted = False       # interrupt() reached the run under way
        self._res = _lib.CallResult()
        self._res_at = ctypes.addressof(self._res)
        self._resv = memoryview(self._res).cast("B")
        self._stop = _lib.Stop()
        self._frames: dict[int, _Frame] = {}
        self._plain = _lib.CallOptions(False)
        self._variadic = _lib.CallOptions(True)
        self._plain_at, self._variadic_at = ctypes.addressof(self._plain), ctypes.addressof(self._variadic)
        with _sessions_lock:
            _sessions.add(self)
        _install_interrupts()

    # -- lifetime -----------------------------------------------------------
    def _handle(self) -> int:
        if not self._e:
            raise DumpExecError("the session is closed")
        return self._e

    def close(self) -> None:
        """Free the executor; the session cannot be used afterwards. Waits
        for a run under way in another thread to end."""
        lock = getattr(self, "_lock", None)
        if lock:
            lock.acquire()
        try:
            if getattr(self, "_trace", None):
                self._set_trace(None)
            if getattr(self, "_tenet", None):
                lib.dx_exec_tenet(self._e, None)
                _libc.fclose(self._tenet)
                self._tenet = None
            if getattr(self, "_nt", None):
                lib.dx_nt_free(self._nt)
                self._nt = None
            if getattr(self, "_e", None):
                with self._elock:
                    e, self._e = self._e, None
                lib.dx_exec_free(e)
            self._frames = {}
        finally:
            if lock:
                lock.release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def reset(self) -> None:
        """Back to the dump's exact state: memory, registers, the clock and
        the guest's allocations; breakpoints and stubs stay."""
        err = _err()
        with self._lock:
            if lib.dx_exec_reset(self._handle(), err, len(err)) != 0:
                raise DumpExecError(err.value.decode("utf-8", "replace"))
            lib.dx_nt_reset(self._nt)

    # -- options ------------------------------------------------------------
    @property
    def max_insns(self) -> int:
        return lib.dx_exec_options_of(self._handle()).contents.max_insns

    @max_insns.setter
    def max_insns(self, n: int) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"max_insns must be an int >= 0, not {n!r}")
        with self._lock:
            lib.dx_exec_options_of(self._handle()).contents.max_insns = n

    @property
    def timeout(self) -> float:
        return lib.dx_exec_options_of(self._handle()).contents.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("timeout must not be negative")
        with self._lock:
            lib.dx_exec_options_of(self._handle()).contents.timeout = seconds

    # -- addresses ----------------------------------------------------------
    def _addr(self, where: Union[int, str]) -> int:
        if type(where) is int:
            return where
        if isinstance(where, str):
            return self.dump.resolve(where)
        if hasattr(where, "__index__"):
            return where.__index__()
        raise TypeError(f"an address is an int or a \"module!export\" string, not {type(where).__name__}")

    # -- running ------------------------------------------------------------
    def _describe(self, stop: _lib.Stop) -> str:
        b = _lib.Buf()
        lib.dx_stop_describe(self._e, ctypes.byref(stop), ctypes.byref(b))
        try:
            return ctypes.string_at(b.data, b.len).decode("utf-8", "replace") if b.data else ""
        finally:
            lib.dx_buf_free(ctypes.byref(b))

    def _take_output(self) -> tuple[str, list]:
        out = self._out
        if not out:
            return "", []
        console = "".join(t for fd, t in out if fd != _DEBUG_FD)
        debug = [t for fd, t in out if fd == _DEBUG_FD]
        out.clear()
        return console, debug

    def call(self, fn: Union[int, str], *args, variadic: bool = False) -> Result:
        """Call fn (an address or "module!export") with args by the Windows
        x64 convention: int, float, f32(x), str (UTF-8, by pointer),
        wstr(x) (UTF-16), bytes (by pointer) and buf(n) (out-buffer).
        Registers come back as they were; memory effects stay. Raises
        Stopped when the function does not return."""
        addr = fn if type(fn) is int else self._addr(fn)
        n = len(args)
        with self._lock:
            if not self._e:
                raise DumpExecError("the session is closed")
            frame = self._frames.get(n)
            if frame is None:
                if n > MAX_ARGS:
                    raise ValueError(f"too many arguments ({n}; at most {MAX_ARGS})")
                frame = self._frames[n] = _Frame(self, n)
            if frame.all_ints and not variadic:
                try:
                    frame.pack(frame.view, _FN_AT, addr, n, *args)
                except struct.error:
                    frame.fill_slowly(addr, args, self._plain_at)
            else:
                frame.fill_slowly(addr, args, self._variadic_at if variadic else self._plain_at)
            try:
                rc = _call(frame.address)
                kind, insns, rax, x0, x1, nbufs = _RESULT.unpack_from(self._resv)
                result = Result(rax, x0, x1, insns)
                if nbufs or self._out:
                    result._extra = (self._take_buffers() if nbufs else [],) + self._take_output()
            except BaseException:  # KeyboardInterrupt before the results were taken: drop them
                self._clean()
                raise
            if self._interrupted:
                self._after_run()
            if kind == _RETURNED and not rc:
                return result
            if rc != 0:
                raise DumpExecError(self._res.stop.detail.decode("utf-8", "replace"))
            stop = self._res.stop
            raise Stopped(Stop(stop, self._describe(stop)), result)

    def _clean(self) -> None:
        if self._res.nbufs:
            lib.dx_call_result_free(self._res)
        self._out.clear()
        self._after_run()

    def _take_buffers(self) -> list:
        res = self._res
        buffers = [ctypes.string_at(res.bufs[i], res.buf_sizes[i]) for i in range(res.nbufs)]
        lib.dx_call_result_free(res)
        return buffers

    def _run(self, fn) -> Stop:
        with self._lock:
            e = self._handle()
            rc = fn(e, self._stop)
            self._after_run()
            console, debug = self._take_output()
            if rc != 0:
                raise DumpExecError(self._stop.detail.decode("utf-8", "replace"))
            stop = Stop(self._stop, self._describe(self._stop))
            stop.console, stop.debug_output = console, debug
            return stop

    def step(self, count: int = 1) -> Stop:
        """Execute count instructions of the current thread (stopping early
        at anything but a step); the last stop."""
        stop = None
        for _ in range(count):
            stop = self._run(lib.dx_exec_step)
            if stop.kind != "step":
                break
        return stop

    def cont(self) -> Stop:
        """Run the current thread until it stops (breakpoint, fault, limit...)."""
        return self._run(lib.dx_exec_continue)

    def interrupt(self) -> None:
        """From any thread: stop this session's run under way with
        "interrupted". Without a run under way it does nothing."""
        with self._elock:
            if self._e and self._lock.locked():
                self._interrupted = True
                lib.dx_exec_interrupt(self._e)

    def _after_run(self) -> None:
        """Under the lock, after a run: an interrupt that came too late for
        it must not stop the next one."""
        if self._interrupted:
            with self._elock:
                self._interrupted = False
                lib.dx_exec_interrupt_clear(self._e)

    # -- threads and registers ----------------------------------------------
    @property
    def threads(self) -> list[int]:
        most = max(len(self.dump.threads), 1)
        tids = (ctypes.c_uint32 * most)()
        with self._lock:
            n = lib.dx_exec_threads(self._handle(), tids, most)
        return list(tids[:n])

    @property
    def thread(self) -> int:
        """The current thread's id; set it to select another of the dump's threads."""
        with self._lock:
            return lib.dx_exec_current_thread(self._handle())

    @thread.setter
    def thread(self, tid: int) -> None:
        with self._lock:
            if lib.dx_exec_select_thread(self._handle(), tid) != 0:
                raise ValueError(f"thread {tid} is not in the dump")

    @property
    def regs(self) -> Registers:
        """The current thread's registers."""
        return Registers(self, self.thread)

    def regs_of(self, tid: int) -> Registers:
        return Registers(self, tid)

    # -- memory -------------------------------------------------------------
    def read(self, addr: Union[int, str], size: int, *, partial: bool = False) -> bytes:
        """size bytes at addr as this session sees them. Raises where memory
        is not held, unless partial (then: the bytes up to there)."""
        addr = self._addr(addr)
        if size < 0:
            raise ValueError("size must not be negative")
        out = ctypes.create_string_buffer(size)
        with self._lock:
            n = lib.dx_exec_read(self._handle(), addr, out, size)
        if n < size and not partial:
            raise DumpExecError(f"memory at {addr + n:#x} is not held by the dump or the session")
        return out.raw[:n]

    def read_u64(self, addr: Union[int, str]) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def read_cstr(self, addr: Union[int, str], limit: int = 4096) -> bytes:
        """The NUL-terminated bytes at addr (without the NUL), up to limit."""
        data = self.read(addr, limit, partial=True)
        return data.split(b"\0", 1)[0]

    def write(self, addr: Union[int, str], data: bytes) -> None:
        """Store data at addr in this session (the dump never changes)."""
        addr, data, err = self._addr(addr), bytes(data), _err()
        with self._lock:
            if lib.dx_exec_write(self._handle(), addr, data, len(data), err, len(err)) != 0:
                raise DumpExecError(err.value.decode("utf-8", "replace"))

    # -- breakpoints, watchpoints, stubs --------------------------------------
    def add_breakpoint(self, where: Union[int, str]) -> int:
        addr = self._addr(where)
        with self._lock:
            rc = lib.dx_exec_break_add(self._handle(), addr)
        if rc != 0:
            raise DumpExecError(f"cannot set a breakpoint at {addr:#x}")
        return addr

    def remove_breakpoint(self, where: Union[int, str]) -> None:
        addr = self._addr(where)
        with self._lock:
            rc = lib.dx_exec_break_remove(self._handle(), addr)
        if rc != 0:
            raise DumpExecError(f"no breakpoint at {addr:#x}")

    def add_watchpoint(self, where: Union[int, str], size: int = 1, kind: str = "write") -> int:
        """Stop on a write, read or access (kind) of size bytes at where."""
        addr = self._addr(where)
        if kind not in _WATCH:
            raise ValueError(f"kind must be one of {sorted(_WATCH)}, not {kind!r}")
        with self._lock:
            rc = lib.dx_exec_watch_add(self._handle(), addr, size, _WATCH[kind])
        if rc != 0:
            raise DumpExecError(f"cannot watch {size} bytes at {addr:#x}")
        return addr

    def remove_watchpoint(self, where: Union[int, str], size: int = 1, kind: str = "write") -> None:
        addr = self._addr(where)
        if kind not in _WATCH:
            raise ValueError(f"kind must be one of {sorted(_WATCH)}, not {kind!r}")
        with self._lock:
            rc = lib.dx_exec_watch_remove(self._handle(), addr, size, _WATCH[kind])
        if rc != 0:
            raise DumpExecError(f"no {kind} watchpoint on {size} bytes at {addr:#x}")

    def clear_breakpoints(self) -> None:
        """Remove every breakpoint and watchpoint."""
        with self._lock:
            lib.dx_exec_break_clear(self._handle())

    def stub(self, name: str, value: int) -> None:
        """Make a function ("kernel32!GetTickCount") return value at once, or
        every call of a service ("NtQuerySystemTime") return the status value."""
        fn = lib.dx_nt_stub if "!" in name or "+" in name or not name[:2] in ("Nt", "Zw") else \
            lib.dx_nt_stub_syscall
        err = _err()
        with self._lock:
            self._handle()
            rc = fn(self._nt, f"{name}={value}".encode(), err, len(err))
        if rc != 0:
            raise DumpExecError(err.value.decode("utf-8", "replace"))

    def unstub(self, name: str) -> None:
        err = _err()
        with self._lock:
            self._handle()
            rc = lib.dx_nt_unstub(self._nt, name.encode(), err, len(err))
        if rc != 0:
            raise DumpExecError(err.value.decode("utf-8", "replace"))

    # -- tracing --------------------------------------------------------------
    def trace(self, path: Optional[Union[str, os.PathLike]], *, json: bool = False) -> None:
        """One line per executed instruction to the file at path, from now
        on (json: as JSON Lines, {"n", "pc", "insn", "regs"} per
        instruction); trace(None) ends it and closes the file."""
        with self._lock:
            self._set_trace(path, json)

    def _set_trace(self, path, json: bool = False) -> None:
        e = self._handle() if path is not None else self._e
        if self._trace:
            if e:
                lib.dx_exec_trace(e, None)
            _libc.fclose(self._trace)
            self._trace = None
        if path is None:
            return
        f = _libc.fopen(os.fsencode(path), b"w")
        if not f:
            raise DumpExecError(f"{os.fspath(path)}: cannot open for writing: {os.strerror(ctypes.get_errno())}")
        self._trace = f
        (lib.dx_exec_trace_json if json else lib.dx_exec_trace)(e, f)

    def tenet(self, path: Optional[Union[str, os.PathLike]]) -> int:
        """A Tenet trace (registers and memory per instruction, for Tenet in
        IDA) to the file at path from now on; tenet(None) ends it. Returns
        the lines written by the trace that ends."""
        with self._lock:
            e = self._handle()
            lines = lib.dx_exec_tenet_lines(e)
            lib.dx_exec_tenet(e, None)
            if self._tenet:
                _libc.fclose(self._tenet)
                self._tenet = None
            if path is None:
                return lines
            f = _libc.fopen(os.fsencode(path), b"w")
            if not f:
                raise DumpExecError(f"{os.fspath(path)}: cannot open for writing: "
                                    f"{os.strerror(ctypes.get_errno())}")
            if lib.dx_exec_tenet(e, f) != 0:
                _libc.fclose(f)
                raise DumpExecError("cannot trace: no memory, or the emulator refused the hook")
            self._tenet = f
            return lines

    # -- coverage ---------------------------------------------------------------
    def start_coverage(self) -> None:
        """Record every basic block this session's runs execute, from now on."""
        with self._lock:
            if lib.dx_exec_coverage_start(self._handle()) != 0:
                raise MemoryError("no memory for coverage")

    @property
    def coverage_blocks(self) -> int:
        """How many distinct blocks were recorded since start_coverage()."""
        with self._lock:
            return lib.dx_exec_coverage_count(self._handle())

    def write_coverage(self, path: Union[str, os.PathLike]) -> None:
        """The blocks recorded so far as a drcov log (Lighthouse, bncov), at path."""
        with self._lock:
            e = self._handle()
            f = _libc.fopen(os.fsencode(path), b"wb")
            if not f:
                raise DumpExecError(f"{os.fspath(path)}: cannot open for writing: "
                                    f"{os.strerror(ctypes.get_errno())}")
            rc = lib.dx_exec_coverage_write(e, f)
            if _libc.fclose(f) != 0 or rc != 0:
                raise DumpExecError(f"{os.fspath(path)}: cannot write the coverage")

    def stop_coverage(self) -> None:
        """Stop recording and forget the blocks."""
        with self._lock:
            lib.dx_exec_coverage_stop(self._handle())

    def symbolize(self, addr: int) -> str:
        return self.dump.symbolize(addr)

    def __repr__(self) -> str:
        return f"<dumpexec.Session over {self.dump.path!r}, thread {self.thread if self._e else '-'}>"
