"""DumpExec helpers for gdb (source gdb-scripts/dumpexec.gdb, or this file).

dcall[/FMT] FUNCTION [ARG...]
    Call FUNCTION in the dump through `monitor call`, after evaluating each
    argument as a gdb expression: `dcall add2 $rcx sizeof(int)`,
    `dcall testprog!str_len &buffer`. Words with DumpExec's own prefixes
    (str:, wstr:, buf:, f32:, ptr:) pass as they are; after ptr: or f32: an
    expression is evaluated too. FMT says how to show the result:
    d (signed, default), u, x, c, s (RAX as a char *), f (XMM0 as a double),
    g (XMM0 as a float). Without FMT, a function whose gdb symbol returns
    float or double prints as f or g. Sets $dcall_rax and $dcall_xmm0.
dmodules          the dump's modules (monitor modules).
dsymbols DIR      load symbols for every module whose file is in DIR (matched
                  by name, case-insensitively), relocated to its base in the dump.
info proc mappings  the dump's captured memory (for Ghidra), from monitor regions.
"""
import os
import re
import struct
import sys

import gdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumpexec_files import module_files  # noqa: E402

PREFIXES = ("str:", "wstr:", "buf:", "f32:", "ptr:", "int:", "float:", "double:", "f64:")
RETURN_RE = re.compile(r"Return value: 0x([0-9a-f]+)")
XMM0_RE = re.compile(r"XMM0: \S+ \(0x([0-9a-f]+)\)")


def monitor(command):
    return gdb.execute("monitor " + command, to_string=True)


def split_args(text):
    """gdb's argument splitting keeps quotes, which DumpExec's parser wants."""
    return gdb.string_to_argv(text.replace("\\", "\\\\")) if '"' not in text else _split_keep_quotes(text)


def _split_keep_quotes(text):
    words, word, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch.isspace() and not quoted:
            if word:
                words.append(word)
            word = ""
        else:
            word += ch
    if word:
        words.append(word)
    return words


def is_module_expression(text):
    return "!" in text or re.match(r"^[\w.-]+\+(0x[0-9a-fA-F]+|\d+)$", text) is not None


def value_argument(value):
    kind = value.type.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_FLT:
        return ("f32:" if kind.sizeof == 4 else "") + repr(float(value))
    if kind.code in (gdb.TYPE_CODE_ARRAY, gdb.TYPE_CODE_FUNC):
        return "ptr:0x%x" % int(value.address)
    if kind.code == gdb.TYPE_CODE_PTR:
        return "ptr:0x%x" % int(value)
    return str(int(value))


def convert_argument(word, param_type=None):
    if param_type is not None and not word.startswith(PREFIXES) and not is_module_expression(word):
        kind = param_type.strip_typedefs()
        if kind.code == gdb.TYPE_CODE_FLT:
            value = float(gdb.parse_and_eval(word))
            return ("f32:" if kind.sizeof == 4 else "") + repr(value)
    if word.startswith(("ptr:", "int:")):
        return "ptr:0x%x" % (int(gdb.parse_and_eval(word.split(":", 1)[1])) & (2**64 - 1))
    if word.startswith(("f32:", "float:")):
        return "f32:" + repr(float(gdb.parse_and_eval(word.split(":", 1)[1])))
    if word.startswith(PREFIXES) or is_module_expression(word):
        return word
    return value_argument(gdb.parse_and_eval(word))


def convert_function(word):
    """An address for DumpExec, and the gdb type of the function if known."""
    if is_module_expression(word) or re.match(r"^(0x[0-9a-fA-F]+|\d+)$", word):
        return word, None
    value = gdb.parse_and_eval(word)
    kind = value.type.strip_typedefs()
    if kind.code == gdb.TYPE_CODE_FUNC:
        return "0x%x" % int(value.address), kind
    if kind.code == gdb.TYPE_CODE_PTR and kind.target().strip_typedefs().code == gdb.TYPE_CODE_FUNC:
        return "0x%x" % int(value), kind.target().strip_typedefs()
    return "0x%x" % int(value), None


def show(fmt, rax, xmm0):
    if fmt == "f":
        return repr(struct.unpack("<d", struct.pack("<Q", xmm0))[0])
    if fmt == "g":
        return repr(struct.unpack("<f", struct.pack("<I", xmm0 & 0xFFFFFFFF))[0])
    if fmt == "x":
        return "0x%x" % rax
    if fmt == "u":
        return str(rax)
    if fmt == "c":
        return repr(chr(rax & 0xFF))
    if fmt == "s":
        return gdb.parse_and_eval("(const char *)0x%x" % rax).format_string()
    return str(rax - (1 << 64) if rax >> 63 else rax)


class DCall(gdb.Command):
    """Call a function of the dump: dcall[/dux csfg] FUNCTION [ARG...]."""

    def __init__(self):
        super().__init__("dcall", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        fmt = None
        if argument.startswith("/"):
            fmt, _, argument = argument[1:].partition(" ")
        words = split_args(argument.strip())
        if not words:
            raise gdb.GdbError("usage: dcall[/FMT] FUNCTION [ARG...]")
        function, ftype = convert_function(words[0])
        params = [f.type for f in ftype.fields()] if ftype is not None else []
        args = [convert_argument(w, params[i] if i < len(params) else None) for i, w in enumerate(words[1:])]
        if fmt is None and ftype is not None and ftype.target() is not None:
            ret = ftype.target().strip_typedefs()
            if ret.code == gdb.TYPE_CODE_FLT:
                fmt = "g" if ret.sizeof == 4 else "f"
        quoted = [a if " " not in a or a.endswith('"') else a.replace(":", ':"', 1) + '"' for a in args]
        output = monitor("call %s %s" % (function, " ".join(quoted)))
        match = RETURN_RE.search(output)
        if not match:
            raise gdb.GdbError(output.strip())
        rax = int(match.group(1), 16)
        xmm = XMM0_RE.search(output)
        xmm0 = int(xmm.group(1), 16) if xmm else 0
        gdb.set_convenience_variable("dcall_rax", rax)
        gdb.set_convenience_variable("dcall_xmm0", xmm0)
        gdb.write("= %s\n" % show(fmt or "d", rax, xmm0))
        extra = "\n".join(l for l in output.splitlines() if l.startswith(("Buffer", "  ")))
        if extra:
            gdb.write(extra + "\n")


class Connect(gdb.Command):
    """Attach to a DumpExec server, load its DLLs and list its modules: dumpexec-connect HOST:PORT.

    The server serves the executable and DLL images from dump memory; a dump
    without the executable's image leaves gdb with no executable, and then
    gdb loads libraries only when asked, hence `sharedlibrary`."""

    def __init__(self):
        super().__init__("dumpexec-connect", gdb.COMMAND_RUNNING)

    def invoke(self, argument, from_tty):
        gdb.execute("target remote " + (argument.strip() or "127.0.0.1:1234"))
        gdb.execute("sharedlibrary", to_string=True)
        gdb.write(monitor("modules"))


class DModules(gdb.Command):
    """List the dump's modules: dmodules."""

    def __init__(self):
        super().__init__("dmodules", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        gdb.write(monitor("modules"))


class Travel(gdb.Command):
    """Move the session's state under gdb, then make gdb read it again."""

    def __init__(self, name, verb):
        super().__init__(name, gdb.COMMAND_RUNNING)
        self.verb = verb

    def invoke(self, argument, from_tty):
        output = monitor("%s %s" % (self.verb, argument.strip()))
        if output.startswith(("Cannot", "usage", "No snapshot")):
            raise gdb.GdbError(output.strip())
        gdb.write(output.split(" (gdb:")[0].rstrip() + "\n")
        gdb.execute("maintenance flush register-cache", to_string=True)
        gdb.execute("frame", to_string=False)


class DSymbols(gdb.Command):
    """Load symbols for the dump's modules from a folder: dsymbols DIR."""

    def __init__(self):
        super().__init__("dsymbols", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, argument, from_tty):
        folder = os.path.expanduser(argument.strip() or ".")
        loaded = 0
        for base, path, slide in module_files(monitor("modules"), folder):
            gdb.execute("add-symbol-file %s -o 0x%x" % (path, slide), to_string=True)
            gdb.write("%s at 0x%x\n" % (path, base))
            loaded += 1
        gdb.write("%d module(s) with symbols\n" % loaded)


class InfoProcMappings(gdb.Command):
    """The dump's captured memory, as `info proc mappings` prints it (for Ghidra)."""

    def __init__(self):
        super().__init__("info proc mappings", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        gdb.write(monitor("info mappings"))


Connect()
Travel("dx-goto", "goto")  # dx-goto N: instruction N of the history
Travel("dx-snapshot", "snapshot")  # dx-snapshot save|restore|drop NAME | list
DCall()
DModules()
DSymbols()
InfoProcMappings()
