"""DumpExec helpers for lldb:  command script import gdb-scripts/dumpexec_lldb.py

dcall [-f] FUNCTION [ARG...]   call a function of the dump (monitor call), after
                               evaluating non-literal arguments as lldb expressions;
                               -f shows XMM0 as a double. Words with DumpExec's own
                               prefixes (str:, wstr:, buf:, f32:, ptr:) pass as they are.
dmodules                       the dump's modules.

On Debian 12, lldb's Python needs
PYTHONPATH=/usr/lib/llvm-14/lib/python3.11/dist-packages (a packaging slip).
"""
import re
import shlex
import struct

import lldb

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


def __lldb_init_module(debugger, internal_dict):
    debugger.HandleCommand("command script add -f dumpexec_lldb.dcall dcall")
    debugger.HandleCommand("command script add -f dumpexec_lldb.dmodules dmodules")
