"""DumpExec from Python: run and debug functions of Windows x64 minidumps.

    import dumpexec
    with dumpexec.open("testprog_full.dmp") as d:
        s = d.session()
        print(s.call("testprog!add2", 3, 5).rax)                # 13
        print(s.call("kernel32!lstrlenA", "hello").rax)         # 5
        r = s.call("testprog!fill_buf", dumpexec.buf(16), 16)
        print(r.buffers[0])

The package drives libdumpexec through ctypes; it finds the library
through $DUMPEXEC_LIB, beside the package (a build tree), or on the
system's library path.
"""
from __future__ import annotations

import os
from typing import Optional, Union

from ._dump import Dump, DumpExecError, ExceptionInfo, Module, Region, System, Thread
from ._lib import LibraryError, lib
from ._session import REGISTERS, Registers, Result, Session, Stop, Stopped, buf, f32, interrupt_all, wstr

__version__ = lib.dx_version().decode()

__all__ = ["open", "Dump", "Session", "Result", "Stop", "Stopped", "DumpExecError", "LibraryError", "Module",
           "Thread", "Region", "System", "ExceptionInfo", "Registers", "REGISTERS", "buf", "f32", "wstr",
           "interrupt_all"]


def open(path: Union[str, os.PathLike], images: Optional[str] = None) -> Dump:  # noqa: A001 - as io.open
    """Open a minidump read-only; a context manager. images: where the modules' PE files are for
    what the dump lacks (a small dump's code), as `dump_exec --images`: ';'-separated folders and
    symbol stores (srv* entries are fetched by the dump_exec command, not here)."""
    return Dump(path, images)
