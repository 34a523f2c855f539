#!/usr/bin/env python3
"""dump_exec on bad input: exit status 2, nothing on stdout, and exactly one
line on stderr ("dump_exec: ...") that names the problem.

usage: test_cli_bad.py DUMP_EXEC TEST_DUMP_BAD FIXTURES_SRC

TEST_DUMP_BAD --write-cases DIR writes the crafted inputs and cases.tsv
(name, then the substrings the message must contain), the same table the
cmocka test checks through the library."""
import os
import subprocess
import sys
import tempfile

failures = []


def check(name, argv, status, expect, stdout_empty=True):
    r = subprocess.run(argv, capture_output=True, timeout=60)
    err = r.stderr.decode("utf-8", "replace")
    lines = err.splitlines()
    problems = []
    if r.returncode != status:
        problems.append(f"exit status {r.returncode}, expected {status}")
    if stdout_empty and r.stdout:
        problems.append(f"unexpected stdout: {r.stdout[:200]!r}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected 1")
    elif not lines[0].startswith("dump_exec: "):
        problems.append("stderr line does not start with 'dump_exec: '")
    for s in expect:
        if s not in err:
            problems.append(f"stderr does not mention {s!r}")
    if problems:
        failures.append(name)
        print(f"FAIL {name}: {'; '.join(problems)}\n     stderr: {err.strip()!r}")
    else:
        print(f"ok   {name}: {err.strip()}")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dump_exec, writer, fixtures_src = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="dx-cli-bad-") as tmp:
        subprocess.run([writer, "--write-cases", tmp], check=True)
        with open(os.path.join(tmp, "cases.tsv"), encoding="utf-8") as f:
            cases = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        if len(cases) < 20:
            sys.exit(f"only {len(cases)} cases written")
        for name, *expect in cases:
            check(name, [dump_exec, os.path.join(tmp, name + ".dmp")], 2, expect)
            check(name + " --json", [dump_exec, "--json", os.path.join(tmp, name + ".dmp")], 2, expect)
        check("real 32-bit dump", [dump_exec, os.path.join(fixtures_src, "public", "winxp_x86_breakpad_test.dmp")],
              2, ["x86", "32-bit"])
        # Without a dump the usage text follows the message, so only its first line counts.
        r = subprocess.run([dump_exec], capture_output=True, timeout=60)
        first = r.stderr.decode("utf-8", "replace").splitlines()[:1]
        if r.returncode != 2 or first != ["dump_exec: no dump file given"] or r.stdout:
            failures.append("no dump given")
            print(f"FAIL no dump given: status {r.returncode}, stderr {r.stderr[:200]!r}")
        else:
            print("ok   no dump given")
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
