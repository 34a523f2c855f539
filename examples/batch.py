#!/usr/bin/env python3
"""Call one function in every dump of a folder, in parallel.

    examples/batch.py FOLDER FUNCTION [ARG...] [--workers N] [--max-insns N] [--json]

ARGs take the command line's syntax: 42, -7, 0x2a, 3.14, f32:1.5, str:text,
wstr:text, buf:64. Each dump is opened, called in its own session and
closed by a worker thread; the library releases the GIL while the guest
runs, so N workers use N cores. A progress bar (tqdm, when installed;
else a plain line) goes to stderr, one line per dump to stdout:

    $ examples/batch.py samples/ testprog!add2 3 5 --workers 2
    samples/a.dmp  rax=0xd (13)
    samples/b.dmp  stopped: access violation reading 0x0 at ...
"""
import argparse
import concurrent.futures
import json
import sys
import time
from pathlib import Path

try:
    import dumpexec
except ImportError:  # not installed: the package the checkout's build tree holds, beside its library
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build" / "python"))
    import dumpexec

try:
    from tqdm import tqdm
except ImportError:
    tqdm = None


def parse_arg(word: str):
    """One argument in the command line's syntax, as the Python value the package passes."""
    kind, sep, rest = word.partition(":")
    if sep:
        if kind in ("str", "wstr"):
            return rest if kind == "str" else dumpexec.wstr(rest)
        if kind == "buf":
            return dumpexec.buf(int(rest, 0))
        if kind in ("f32", "float"):
            return dumpexec.f32(float(rest))
        if kind in ("f64", "double"):
            return float(rest)
        if kind in ("ptr", "int"):
            return int(rest, 0)
    try:
        return int(word, 0)
    except ValueError:
        return float(word)


def run_one(path: Path, function: str, args: list, max_insns: int) -> dict:
    try:
        with dumpexec.open(path) as d:
            r = d.session(max_insns=max_insns).call(function, *args)
            return {"dump": str(path), "rax": r.rax, "instructions": r.instructions,
                    "buffers": [b.hex() for b in r.buffers], "console": r.console}
    except dumpexec.Stopped as e:
        return {"dump": str(path), "stopped": e.kind, "pc": e.pc, "why": str(e)}
    except dumpexec.DumpExecError as e:
        return {"dump": str(path), "error": str(e)}


class Progress:
    """tqdm's bar when it is installed, else one updating line."""

    def __init__(self, total: int):
        self.bar = tqdm(total=total, unit="dump", file=sys.stderr) if tqdm else None
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def step(self) -> None:
        self.done += 1
        if self.bar:
            self.bar.update()
        elif sys.stderr.isatty() or self.done == self.total:
            rate = self.done / max(time.monotonic() - self.t0, 1e-9)
            print(f"\r{self.done}/{self.total} dumps, {rate:.1f}/s", end="\n" if self.done == self.total else "",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def describe(r: dict) -> str:
    if "rax" in r:
        extra = "".join(f"  buf {b}" for b in r["buffers"])
        return f"{r['dump']}  rax={r['rax']:#x} ({r['rax']}){extra}"
    if "stopped" in r:
        return f"{r['dump']}  stopped: {r['why']}"
    return f"{r['dump']}  error: {r['error']}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("function")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-insns", type=int, default=100_000, help="per call; 0 = no limit")
    ap.add_argument("--json", action="store_true", help="JSON Lines instead of text")
    ap.add_argument("--pattern", default="*.dmp")
    opts = ap.parse_args()
    dumps = sorted(opts.folder.glob(opts.pattern))
    if not dumps:
        print(f"no {opts.pattern} in {opts.folder}", file=sys.stderr)
        return 2
    args = [parse_arg(w) for w in opts.args]
    progress, t0, failed = Progress(len(dumps)), time.monotonic(), 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.workers) as pool:
        futures = [pool.submit(run_one, p, opts.function, args, opts.max_insns) for p in dumps]
        for f in concurrent.futures.as_completed(futures):
            r = f.result()
            failed += "rax" not in r
            print(json.dumps(r) if opts.json else describe(r), flush=True)
            progress.step()
    progress.close()
    elapsed = time.monotonic() - t0
    print(f"{len(dumps)} dumps in {elapsed:.2f} s ({len(dumps) / elapsed:.1f} dumps/s, {opts.workers} workers), "
          f"{failed} did not return", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
