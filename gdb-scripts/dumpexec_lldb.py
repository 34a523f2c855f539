"""DumpExec helpers for lldb:  command script import gdb-scripts/dumpexec_lldb.py

dcall [-f] FUNCTION [ARG...]   call a function of the dump (monitor call), after
                               evaluating non-literal arguments as lldb expressions;
                               -f shows XMM0 as a double. Words with DumpExec's own
                               prefixes (str:, wstr:, buf:, f32:, ptr:) pass as they are.
dmodules                       the dump's modules.
dsymbols DIR                   add every module whose file is in DIR (matched by name,
                               case-insensitively) to the target at its base in the dump:
                               image list, names from exports and symbols, bt.

On Debian 12, lldb's Python needs
PYTHONPATH=/usr/lib/llvm-14/lib/python3.11/dist-packages (a packaging slip).
"""
import os
import re
import shlex
import struct
import sys

import lldb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumpexec_files import module_files  # noqa: E402

PREFIXES = ("str:", "wstr:", "buf:", "f32:", "ptr:", "int:", "float:", "double:", "f64:")
LITERAL = re.compile(r"^-?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?)$")


def monitor(debugger, command):
    result = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand("process plugin packet monitor " + command, result)
    return (result.GetOutput() or "") + (result.GetError() or "")


def convert(frame, word):
    if word.startswith(PREFIXES) or "!" in word or LITERAL.match(word):
        return word
    value = frame.EvaluateExpression(word)
    if not value.GetError().Success():
        raise ValueError("cannot evaluate %r: %s" % (word, value.GetError().GetCString()))
    kind = value.GetType().GetCanonicalType()
    if kind.GetBasicType() in (lldb.eBasicTypeFloat,):
        return "f32:" + repr(float(value.GetValue()))
    if kind.GetBasicType() in (lldb.eBasicTypeDouble, lldb.eBasicTypeLongDouble):
        return repr(float(value.GetValue()))
    return "0x%x" % value.GetValueAsUnsigned()


def dcall(debugger, command, exe_ctx, result, internal_dict):
    words = shlex.split(command, posix=False)
    as_double = bool(words) and words[0] == "-f"
    if as_double:
        words = words[1:]
    if not words:
        result.SetError("usage: dcall [-f] FUNCTION [ARG...]")
        return
    try:
        args = [convert(exe_ctx.GetFrame(), w) for w in words[1:]]
    except ValueError as e:
        result.SetError(str(e))
        return
    output = monitor(debugger, "call %s %s" % (words[0], " ".join(args)))
    match = re.search(r"Return value: 0x([0-9a-f]+)", output)
    if not match:
        result.SetError(output.strip())
        return
    if as_double:
        xmm = re.search(r"XMM0: \S+ \(0x([0-9a-f]+)\)", output)
        bits = int(xmm.group(1), 16) if xmm else 0
        result.AppendMessage("= %r" % struct.unpack("<d", struct.pack("<Q", bits))[0])
    else:
        rax = int(match.group(1), 16)
        result.AppendMessage("= %d (0x%x)" % (rax - (1 << 64) if rax >> 63 else rax, rax))


def dmodules(debugger, command, exe_ctx, result, internal_dict):
    result.AppendMessage(monitor(debugger, "modules").rstrip())


def dsymbols(debugger, command, exe_ctx, result, internal_dict):
    folder = os.path.expanduser(command.strip() or ".")
    try:
        found = module_files(monitor(debugger, "modules"), folder)
    except OSError as e:
        result.SetError("%s: %s" % (folder, e.strerror))
        return
    target = debugger.GetSelectedTarget()
    loaded = 0
    for base, path, slide in found:
        module = target.AddModule(path, None, None)
        if not module.IsValid():
            result.AppendMessage("%s: lldb cannot read it" % path)
            continue
        target.SetModuleLoadAddress(module, slide)
        result.AppendMessage("%s at 0x%x" % (path, base))
        loaded += 1
    result.AppendMessage("%d module(s) with symbols" % loaded)


def __lldb_init_module(debugger, internal_dict):
    debugger.HandleCommand("command script add -f dumpexec_lldb.dsymbols dsymbols")
    debugger.HandleCommand("command script add -f dumpexec_lldb.dcall dcall")
    debugger.HandleCommand("command script add -f dumpexec_lldb.dmodules dmodules")
