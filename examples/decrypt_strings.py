#!/usr/bin/env python3
"""Decrypt every encrypted string of a module by calling its own decryptor.

    examples/decrypt_strings.py DUMP DECRYPTOR [--module NAME]

Finds each call of DECRYPTOR ("testprog!xor_decrypt") in the module's code,
takes the blob its first argument points at (`lea rcx, [rip+blob]` before
the call, as compilers pass a global's address), calls the decryptor on it
inside the dump and prints the plaintext. Each call runs in the same
session, through the dump's own malloc; nothing of the sample runs on the host.

    $ examples/decrypt_strings.py testprog_full.dmp testprog!xor_decrypt
    0x140002078 testprog.exe!show_secrets+0xe    blob 0x14003d0e0  'https://c2.example.net/gate.php'
    0x1400020a3 testprog.exe!show_secrets+0x39   blob 0x14003d0a0  'Key=0x5a17-dumpexec'
    ...
"""
import argparse
import struct
import sys
from pathlib import Path

try:
    import dumpexec
except ImportError:  # not installed: the package the checkout's build tree holds, beside its library
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build" / "python"))
    import dumpexec

LEA_RCX_RIP = b"\x48\x8d\x0d"  # lea rcx, [rip + disp32]
LOOKBACK = 24                   # how far before a call its argument's lea may be


def image_bytes(s: dumpexec.Session, m: dumpexec.Module) -> bytes:
    """The module as mapped, zeros where the dump holds nothing."""
    out = bytearray(m.size)
    for base, size in s.dump.ranges:
        lo, hi = max(base, m.base), min(base + size, m.end)
        if lo < hi:
            out[lo - m.base:hi - m.base] = s.read(lo, hi - lo)
    return bytes(out)


def call_sites(code: bytes, base: int, target: int):
    """(site, blob) of every `call target` whose first argument is a lea rcx, [rip+X]."""
    at = code.find(b"\xe8")
    while at >= 0:
        if at + 5 <= len(code):
            rel = struct.unpack_from("<i", code, at + 1)[0]
            if base + at + 5 + rel == target:
                lea = code.rfind(LEA_RCX_RIP, max(0, at - LOOKBACK), at)
                if lea >= 0:
                    disp = struct.unpack_from("<i", code, lea + 3)[0]
                    yield base + at, base + lea + 7 + disp
        at = code.find(b"\xe8", at + 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump")
    ap.add_argument("decryptor", help='the decrypting function, "module!export" or an address')
    ap.add_argument("--module", help="the module whose code to search (default: the decryptor's)")
    args = ap.parse_args()
    with dumpexec.open(args.dump) as d:
        s = d.session(max_insns=1_000_000)
        fn = d.resolve(args.decryptor)
        m = d.module(args.module) if args.module else d.module(fn)
        if m is None:
            print(f"no module {args.module or hex(fn)} in the dump", file=sys.stderr)
            return 2
        found = 0
        for site, blob in call_sites(image_bytes(s, m), m.base, fn):
            try:
                r = s.call(fn, blob)
                text = repr(s.read_cstr(r.rax).decode("utf-8", "replace")) if r.rax else "(NULL)"
            except dumpexec.DumpExecError as e:
                text = f"(stopped: {e})"
            print(f"{site:#x} {d.symbolize(site):32} blob {blob:#x}  {text}")
            found += 1
        print(f"{found} call sites of {d.symbolize(fn)} in {m.name}", file=sys.stderr)
        return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
