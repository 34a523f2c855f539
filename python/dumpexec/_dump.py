"""A minidump opened read-only: what it holds, as Python objects."""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Optional, Union

from . import _lib
from ._lib import lib


class DumpExecError(Exception):
    """An operation of the library failed; the message is the library's."""


def _err() -> ctypes.Array:
    return ctypes.create_string_buffer(_lib.ERRLEN)


def _text(b: Optional[bytes]) -> Optional[str]:
    return b.decode("utf-8", "replace") if b is not None else None


@dataclass(frozen=True)
class Module:
    """A module the dump lists: where it was loaded and which build it is."""
    name: str
    path: str
    base: int
    size: int
    timestamp: int
    checksum: int
    pdb: Optional[str]

    @property
    def end(self) -> int:
        return self.base + self.size

    def __contains__(self, addr: int) -> bool:
        return self.base <= addr < self.end


@dataclass(frozen=True)
class Thread:
    """A thread of the dump, with the registers it had at dump time."""
    tid: int
    teb: int
    rip: int
    rsp: int
    stack_start: int
    stack_size: int
    name: Optional[str]
    start_address: Optional[int]


@dataclass(frozen=True)
class Region:
    """A MemoryInfoList entry: VirtualQuery's view of one range."""
    base: int
    size: int
    alloc_base: int
    alloc_protect: int
    protect: int
    state: int
    type: int

    @property
    def committed(self) -> bool:
        return self.state == _lib.const("DX_MEM_COMMIT")


@dataclass(frozen=True)
class System:
    """The SystemInfo stream: the Windows the process ran on."""
    major: int
    minor: int
    build: int
    processors: int
    csd_version: Optional[str]


@dataclass(frozen=True)
class ExceptionInfo:
    """The exception the dump was written for."""
    tid: int
    code: int
    name: Optional[str]
    flags: int
    address: int
    params: tuple[int, ...]


class Dump:
    """An opened minidump. Immutable and shared: any number of sessions,
    from any threads, run over one Dump. Use as a context manager, or call
    close(); closing closes the sessions still open on it.

    modules, threads, exception and system are what the dump lists; regions its
    MemoryInfoList (VirtualQuery's view; empty when the dump has none);
    ranges the (base, size) of the memory it captured."""

    def __init__(self, path: Union[str, os.PathLike], images: Optional[str] = None):
        handle = ctypes.c_void_p()
        err = _err()
        if lib.dx_dump_open(os.fsencode(path), ctypes.byref(handle), err, len(err)) != 0:
            raise DumpExecError(err.value.decode("utf-8", "replace"))
        self._d = handle.value
        self.images_report = ""  # what images= found, refused or missed, one line each
        if images:
            b = _lib.Buf()
            lib.dx_dump_add_images(self._d, os.fsencode(images), ctypes.byref(b))
            self.images_report = ctypes.string_at(b.data, b.len).decode("utf-8", "replace") if b.data else ""
            lib.dx_buf_free(ctypes.byref(b))
        self._closing = False
        self._sessions: "weakref.WeakSet" = weakref.WeakSet()
        self._resolved: dict[str, int] = {}
        self._lock = threading.RLock()  # held by every use of the handle, and by close
        self.path = os.fspath(path)
        self.modules = tuple(self._module(i) for i in range(lib.dx_dump_module_count(self._d)))
        self.threads = tuple(self._thread(i) for i in range(lib.dx_dump_thread_count(self._d)))
        self.regions = tuple(self._region(i) for i in range(lib.dx_dump_region_count(self._d)))
        self.ranges = tuple((r.base, r.size) for r in (lib.dx_dump_range(self._d, i).contents
                                                      for i in range(lib.dx_dump_range_count(self._d))))
        self.exception = self._exception()
        self.timestamp = lib.dx_dump_timestamp(self._d)  # when the dump was written (time_t)
        si = lib.dx_dump_sysinfo(self._d)
        self.system = System(si.contents.major, si.contents.minor, si.contents.build, si.contents.ncpus,
                             _text(si.contents.csd_version)) if si else None

    # -- what the dump holds --------------------------------------------
    def _module(self, i: int) -> Module:
        m = lib.dx_dump_module(self._d, i).contents
        return Module(_text(m.basename) or "", _text(m.path) or "", m.base, m.size, m.timestamp, m.checksum,
                      _text(m.pdb))

    def _thread(self, i: int) -> Thread:
        p = lib.dx_dump_thread(self._d, i)
        t = p.contents
        c = lib.dx_dump_thread_context(self._d, p)
        rip, rsp = (c.contents.rip, c.contents.rsp) if c else (0, 0)
        return Thread(t.tid, t.teb, rip, rsp, t.stack_start, t.stack_size, _text(t.name),
                      t.start_address if t.has_info else None)

    def _region(self, i: int) -> Region:
        r = lib.dx_dump_region(self._d, i).contents
        return Region(r.base, r.size, r.alloc_base, r.alloc_protect, r.protect, r.state, r.type)

    def _exception(self) -> Optional[ExceptionInfo]:
        p = lib.dx_dump_exception(self._d)
        if not p:
            return None
        x = p.contents
        return ExceptionInfo(x.tid, x.code, _text(lib.dx_exception_name(x.code)), x.flags, x.address,
                             tuple(x.params[:min(x.nparams, 15)]))

    @property
    def default_thread(self) -> Optional[Thread]:
        """The thread a debugger shows first: the exception's, else the first."""
        with self._lock:
            p = lib.dx_dump_default_thread(self._handle())
            tid = p.contents.tid if p else None
        return next((t for t in self.threads if t.tid == tid), None)

    def module(self, name_or_addr: Union[str, int]) -> Optional[Module]:
        """A module by name ("kernel32", "KERNEL32.DLL") or by an address inside it."""
        if isinstance(name_or_addr, int):
            return next((m for m in self.modules if name_or_addr in m), None)
        want = name_or_addr.lower()
        for m in self.modules:
            low = m.name.lower()
            if want in (low, low.rsplit(".", 1)[0], m.path.lower()):
                return m
        return None

    def read(self, addr: int, size: int) -> bytes:
        """The dump's own bytes (no session's writes); fewer than size where it stops holding memory."""
        buf = ctypes.create_string_buffer(size)
        with self._lock:
            n = lib.dx_dump_read(self._handle(), addr, buf, size)
        return buf.raw[:n]

    def resolve(self, expr: str) -> int:
        """An address from "module!export", "module+0x10", "module!export+0x4" or a number."""
        addr = self._resolved.get(expr)
        if addr is None:
            out, err = ctypes.c_uint64(), _err()
            with self._lock:
                rc = lib.dx_dump_resolve(self._handle(), expr.encode(), ctypes.byref(out), err, len(err))
            if rc != 0:
                raise DumpExecError(err.value.decode("utf-8", "replace"))
            addr = self._resolved[expr] = out.value
        return addr

    def symbolize(self, addr: int) -> str:
        """"module!export+0x12", "module+0x1530" or "0x..." for an address."""
        out = ctypes.create_string_buffer(512)
        with self._lock:
            lib.dx_dump_symbolize(self._handle(), addr, out, len(out))
        return out.value.decode("utf-8", "replace")

    def describe(self) -> str:
        """The listing `dump_exec DUMP` prints."""
        b = _lib.Buf()
        with self._lock:
            lib.dx_describe_all(self._handle(), ctypes.byref(b))
        try:
            return ctypes.string_at(b.data, b.len).decode("utf-8", "replace") if b.data else ""
        finally:
            lib.dx_buf_free(ctypes.byref(b))

    # -- sessions and lifetime ------------------------------------------
    def session(self, **options) -> "Session":
        """A new isolated executor over this dump; see Session for the options."""
        from ._session import Session
        with self._lock:  # a close waits for it, and a closed dump refuses it
            s = Session(self, **options)
            self._sessions.add(s)
        return s

    def _handle(self) -> int:
        if not self._d or self._closing:
            raise DumpExecError(f"{self.path}: the dump is closed")
        return self._d

    def close(self) -> None:
        """Close the dump: its sessions' runs are interrupted and the
        sessions closed first."""
        with self._lock:
            sessions, self._closing = list(self._sessions), True
        for s in sessions:
            s.interrupt()
            s.close()
        with self._lock:
            if self._d:
                lib.dx_dump_close(self._d)
                self._d = None

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_d", None):
            self.close()

    def __repr__(self) -> str:
        return f"<dumpexec.Dump {self.path!r}: {len(self.modules)} modules, {len(self.threads)} threads>"
