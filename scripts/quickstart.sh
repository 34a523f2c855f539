#!/usr/bin/env bash
# quickstart.sh - install what is missing, build, and serve the bundled
# sample dump (a Wine full-memory dump of tests/fixtures/testprog.c) on
# 127.0.0.1:1234 for gdb and lldb. Extra arguments go to dump_exec.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup-deps.sh"
"$root/scripts/build.sh" plain
sample="$root/build/tests/fixtures/testprog_full.dmp"
echo
"$root/build/dump_exec" "$sample"
echo
exec "$root/build/dump_exec" --listen 127.0.0.1:1234 "$@" "$sample"
