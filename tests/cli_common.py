"""What the dump_exec command-line tests written as scripts share: the binary
(argv[1]), the full fixture and its manifest of native results, and checks
that collect failures and end the script with its verdict."""
import json
import os
import sys

EXE = os.path.abspath(sys.argv[1])
FIXTURES = os.environ.get("DX_FIXTURES", "tests/fixtures")
FIXTURES_SRC = os.environ.get("DX_FIXTURES_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
DUMP = os.path.join(FIXTURES, "testprog_full.dmp")
with open(os.path.join(FIXTURES_SRC, "testprog_full.json")) as f:
    M = json.load(f)
failures = []


def check(cond, what, *context):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", *context, sep="\n  ", file=sys.stderr)


def finish():
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failures")
    sys.exit(1 if failures else 0)
