#!/usr/bin/env python3
"""dump_exec_bench's Python side: add2(3, 5) through the package for SECONDS,
after a warm-up; prints calls per second.  python_calls.py DUMP SECONDS"""
import sys
import time

import dumpexec


def main() -> int:
    path, seconds = sys.argv[1], float(sys.argv[2])
    with dumpexec.open(path) as d:
        s = d.session()
        add2 = d.resolve("testprog!add2")
        for _ in range(2000):
            if s.call(add2, 3, 5).rax != 13:
                print("add2(3, 5) did not return 13", file=sys.stderr)
                return 1
        n, t0 = 0, time.perf_counter()
        while True:
            for _ in range(1000):
                s.call(add2, 3, 5)
            n += 1000
            t = time.perf_counter() - t0
            if t >= seconds:
                print(f"{n / t:.0f}")
                return 0


if __name__ == "__main__":
    sys.exit(main())
