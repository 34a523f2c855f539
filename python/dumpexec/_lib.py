"""The ctypes view of libdumpexec: loading it, its structures, its functions.

Structures are declared again here; at load time every size and field
offset is checked against the library's own answer (dx_abi_size,
dx_abi_offset), and enumerations are read from it (dx_abi_value), so a
library built from other headers is refused with a message instead of
being misread.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_int, c_longlong,
                    c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)
from pathlib import Path

u8, u16, u32, u64 = c_uint8, c_uint16, c_uint32, c_uint64
SONAME = "libdumpexec.so.0"


class Context(Structure):
    _fields_ = [("flags", u32)] + [(n, u64) for n in (
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip")] + [
        ("eflags", u32), ("mxcsr", u32)] + [(n, u16) for n in ("cs", "ds", "es", "fs", "gs", "ss")] + [
        (n, u64) for n in ("dr0", "dr1", "dr2", "dr3", "dr6", "dr7")] + [
        ("fcw", u16), ("fsw", u16), ("fop", u16), ("ftw", u8), ("fioff", u32), ("fooff", u32),
        ("fiseg", u16), ("foseg", u16), ("st", u8 * 10 * 8), ("xmm", u8 * 16 * 16)]


class Thread(Structure):
    _fields_ = [("tid", u32), ("suspend_count", u32), ("priority_class", u32), ("priority", u32),
                ("teb", u64), ("stack_start", u64), ("stack_size", u64), ("has_context", c_bool),
                ("context", Context), ("name", c_char_p), ("has_info", c_bool), ("start_address", u64),
                ("create_time", u64)]


class Module(Structure):
    _fields_ = [("base", u64), ("size", u32), ("checksum", u32), ("timestamp", u32), ("path", c_char_p),
                ("basename", c_char_p), ("pdb", c_char_p), ("pdb_guid", u8 * 16), ("pdb_age", u32)]


class Range(Structure):
    _fields_ = [("base", u64), ("size", u64), ("file_offset", u64)]


class Region(Structure):
    _fields_ = [("base", u64), ("size", u64), ("alloc_base", u64), ("alloc_protect", u32), ("protect", u32),
                ("state", u32), ("type", u32)]


class Exception_(Structure):
    _fields_ = [("tid", u32), ("code", u32), ("flags", u32), ("record", u64), ("address", u64),
                ("nparams", u32), ("params", u64 * 15), ("has_context", c_bool), ("context", Context)]


class SysInfo(Structure):
    _fields_ = [("arch", u16), ("level", u16), ("revision", u16), ("ncpus", u8), ("product_type", u8),
                ("major", u32), ("minor", u32), ("build", u32), ("platform", u32), ("csd_version", c_char_p)]


class Buf(Structure):
    _fields_ = [("data", c_void_p), ("len", c_size_t), ("cap", c_size_t), ("oom", c_bool)]


class ExecOptions(Structure):
    _fields_ = [("max_insns", u64), ("timeout", c_double), ("unmapped_zero", c_bool),
                ("max_session_mb", u64), ("code_buffer_kb", u32)]


class Stop(Structure):
    _fields_ = [("kind", c_int), ("pc", u64), ("addr", u64), ("access", c_int), ("syscall_nr", u32),
                ("code", u32), ("flags", u32), ("nparams", u32), ("params", u64 * 15), ("unhandled", c_bool),
                ("insns", u64), ("insn", c_char * 200), ("detail", c_char * 256)]


class Arg(Structure):
    _fields_ = [("kind", c_int), ("i", u64), ("d", c_double), ("text", c_char_p), ("size", c_size_t)]


class CallOptions(Structure):
    _fields_ = [("variadic", c_bool)]


class CallResult(Structure):
    _fields_ = [("stop", Stop), ("rax", u64), ("xmm0", u8 * 16), ("nbufs", c_size_t),
                ("bufs", POINTER(POINTER(u8))), ("buf_sizes", POINTER(c_size_t))]


class CallBlock(Structure):  # dx_abi_call_block's header; the dx_arg array follows it
    _fields_ = [("exec", c_void_p), ("options", c_void_p), ("result", c_void_p), ("fn", u64), ("nargs", u64)]


CONSOLE_FN = CFUNCTYPE(None, c_void_p, c_int, POINTER(c_char), c_size_t)


class NtOptions(Structure):
    _fields_ = [("policy", c_int), ("exceptions", c_int), ("trace", c_void_p), ("console", CONSOLE_FN),
                ("user", c_void_p)]


MIRRORED = {"dx_context": Context, "dx_thread": Thread, "dx_module": Module, "dx_range": Range, "dx_region": Region,
            "dx_exception": Exception_, "dx_sysinfo": SysInfo, "dx_buf": Buf, "dx_exec_options": ExecOptions,
            "dx_stop": Stop, "dx_arg": Arg, "dx_call_options": CallOptions, "dx_call_result": CallResult, "dx_abi_call_block": CallBlock,
            "dx_nt_options": NtOptions}

# (name, result type, argument types)
P, E, N, D = c_void_p, c_char_p, c_size_t, c_void_p  # pointer, error buffer, its length, opaque dump
PROTOTYPES = [
    ("dx_version", c_char_p, []),
    ("dx_abi_size", c_size_t, [c_char_p]),
    ("dx_abi_offset", c_size_t, [c_char_p, c_char_p]),
    ("dx_abi_field_size", c_size_t, [c_char_p, c_char_p]),
    ("dx_abi_value", c_bool, [c_char_p, POINTER(c_longlong)]),
    ("dx_dump_open", c_int, [c_char_p, POINTER(c_void_p), E, N]),
    ("dx_dump_close", None, [D]),
    ("dx_dump_timestamp", u32, [D]),
    ("dx_dump_sysinfo", POINTER(SysInfo), [D]),
    ("dx_dump_thread_count", c_size_t, [D]),
    ("dx_dump_thread", POINTER(Thread), [D, c_size_t]),
    ("dx_dump_default_thread", POINTER(Thread), [D]),
    ("dx_dump_thread_context", POINTER(Context), [D, POINTER(Thread)]),
    ("dx_dump_module_count", c_size_t, [D]),
    ("dx_dump_module", POINTER(Module), [D, c_size_t]),
    ("dx_dump_exception", POINTER(Exception_), [D]),
    ("dx_dump_range_count", c_size_t, [D]),
    ("dx_dump_range", POINTER(Range), [D, c_size_t]),
    ("dx_dump_region_count", c_size_t, [D]),
    ("dx_dump_region", POINTER(Region), [D, c_size_t]),
    ("dx_dump_read", c_size_t, [D, u64, c_void_p, c_size_t]),
    ("dx_dump_resolve", c_int, [D, c_char_p, POINTER(u64), E, N]),
    ("dx_dump_symbolize", None, [D, u64, c_char_p, c_size_t]),
    ("dx_exception_name", c_char_p, [u32]),
    ("dx_describe_all", None, [D, POINTER(Buf)]),
    ("dx_dump_add_images", c_int, [D, c_char_p, POINTER(Buf)]),
    ("dx_buf_free", None, [POINTER(Buf)]),
    ("dx_exec_new", c_int, [D, POINTER(ExecOptions), POINTER(c_void_p), E, N]),
    ("dx_exec_free", None, [P]),
    ("dx_exec_options_of", POINTER(ExecOptions), [P]),
    ("dx_exec_reset", c_int, [P, E, N]),
    ("dx_exec_select_thread", c_int, [P, u32]),
    ("dx_exec_current_thread", u32, [P]),
    ("dx_exec_threads", c_size_t, [P, POINTER(u32), c_size_t]),
    ("dx_exec_regs", c_void_p, [P, u32]),
    ("dx_exec_read", c_size_t, [P, u64, c_void_p, c_size_t]),
    ("dx_exec_write", c_int, [P, u64, c_char_p, c_size_t, E, N]),
    ("dx_exec_continue", c_int, [P, POINTER(Stop)]),
    ("dx_exec_step", c_int, [P, POINTER(Stop)]),
    ("dx_exec_interrupt", None, [P]),
    ("dx_exec_interrupt_clear", None, [P]),
    ("dx_exec_break_add", c_int, [P, u64]),
    ("dx_exec_break_remove", c_int, [P, u64]),
    ("dx_exec_watch_add", c_int, [P, u64, u64, c_int]),
    ("dx_exec_watch_remove", c_int, [P, u64, u64, c_int]),
    ("dx_exec_break_clear", None, [P]),
    ("dx_exec_trace", None, [P, c_void_p]),
    ("dx_exec_trace_json", None, [P, c_void_p]),
    ("dx_exec_tenet", c_int, [P, c_void_p]),
    ("dx_exec_tenet_lines", u64, [P]),
    ("dx_exec_coverage_start", c_int, [P]),
    ("dx_exec_coverage_stop", None, [P]),
    ("dx_exec_coverage_count", c_size_t, [P]),
    ("dx_exec_coverage_write", c_int, [P, c_void_p]),
    ("dx_abi_call", c_int, [c_void_p]),
    ("dx_call_result_free", None, [POINTER(CallResult)]),
    ("dx_stop_describe", None, [P, POINTER(Stop), POINTER(Buf)]),
    ("dx_reg_size", c_size_t, [c_int]),
    ("dx_reg_name", c_char_p, [c_int]),
    ("dx_regs_get", c_size_t, [c_void_p, c_int, c_void_p]),
    ("dx_regs_set", c_size_t, [c_void_p, c_int, c_char_p]),
    ("dx_nt_new", c_int, [P, POINTER(NtOptions), POINTER(c_void_p), E, N]),
    ("dx_nt_free", None, [P]),
    ("dx_nt_reset", None, [P]),
    ("dx_nt_stub", c_int, [P, c_char_p, E, N]),
    ("dx_nt_stub_syscall", c_int, [P, c_char_p, E, N]),
    ("dx_nt_unstub", c_int, [P, c_char_p, E, N]),
]


class LibraryError(ImportError):
    """libdumpexec could not be found or does not match this package."""


def _candidates() -> list[str]:
    """Where the library may be: $DUMPEXEC_LIB, beside the package (the
    build tree puts it there), then the system's library path."""
    found = []
    env = os.environ.get("DUMPEXEC_LIB")
    if env:
        found.append(env)
    here = Path(__file__).resolve().parent
    for d in (here, here.parent, here.parent.parent):
        if (d / SONAME).exists():
            found.append(str(d / SONAME))
    found.append(SONAME)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)  # CDLL releases the GIL during every call
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise LibraryError("libdumpexec not found (set DUMPEXEC_LIB to its path): " + "; ".join(errors))


def _bind(lib: ctypes.CDLL) -> None:
    for name, restype, argtypes in PROTOTYPES:
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise LibraryError(f"{lib._name}: has no {name} (an older libdumpexec?)") from None
        f.restype, f.argtypes = restype, argtypes


def _check_layouts(lib: ctypes.CDLL) -> None:
    for cname, struct in MIRRORED.items():
        size = lib.dx_abi_size(cname.encode())
        if struct is CallBlock and lib.dx_abi_offset(b"dx_abi_call_block", b"args") != ctypes.sizeof(struct):
            raise LibraryError(f"{lib._name}: dx_abi_call_block's arguments do not follow its header")
        if size != ctypes.sizeof(struct):
            raise LibraryError(f"{lib._name}: {cname} is {size} bytes there, {ctypes.sizeof(struct)} here")
        for fname, *_ in struct._fields_:
            here = getattr(struct, fname)
            at = lib.dx_abi_offset(cname.encode(), fname.encode())
            size = lib.dx_abi_field_size(cname.encode(), fname.encode())
            if at == ctypes.c_size_t(-1).value:
                raise LibraryError(f"{lib._name}: does not describe {cname}.{fname}")
            if (at, size) != (here.offset, here.size):
                raise LibraryError(f"{lib._name}: {cname}.{fname} is {size} bytes at {at} there, "
                                   f"{here.size} bytes at {here.offset} here")


lib = _load()
_bind(lib)
_check_layouts(lib)


def const(name: str) -> int:
    """A constant of the C headers, as the library was built with it."""
    v = c_longlong()
    if not lib.dx_abi_value(name.encode(), ctypes.byref(v)):
        raise LibraryError(f"{lib._name}: knows no constant {name}")
    return v.value


ERRLEN = const("DX_ERRLEN")
