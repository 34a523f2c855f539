#!/usr/bin/env bash
# profile.sh [BUILD_DIR] [FIGURES] - profile what dump_exec_bench measures.
#
# The bench process itself (dx_dump_open, the C API calls, execution) is
# recorded with `perf record --no-inherit`, and every dump_exec server it
# starts with `perf record -p` (DXB_PERF_DIR). Each profile's hottest symbols
# go to OUT/<name>.top.txt beside OUT/<name>.data.
#
#   bench/profile.sh build call,proto      # default: build call,exec,proto
#   DXB_PROFILE_OUT=/tmp/p bench/profile.sh
#
# Needs perf (hardware counters are not needed: cpu-clock sampling). Where
# perf does not work, run single figures under valgrind --tool=callgrind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
figs=${2:-call,exec,proto}
out=${DXB_PROFILE_OUT:-/tmp/dxbench-profile}
bench="$build/dump_exec_bench"
[ -x "$bench" ] || { echo "profile.sh: build $bench first" >&2; exit 2; }
perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 ||
    { echo "profile.sh: perf cannot sample here; use valgrind --tool=callgrind" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.data "$out"/*.top.txt
DXB_PERF_DIR="$out" perf record --no-inherit -g -e cpu-clock -o "$out/bench.data" -- \
    "$bench" --only "$figs" --no-gdb | tee "$out/bench.txt"
for f in "$out"/*.data; do
    perf report -i "$f" --stdio --no-children --percentage relative --sort dso,sym -g none 2>/dev/null |
        grep -E '^ +[0-9]' | head -30 >"${f%.data}.top.txt" || true
done
echo "profiles: $out/*.top.txt (perf report -i $out/NAME.data for call graphs)"
