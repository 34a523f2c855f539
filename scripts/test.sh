#!/usr/bin/env bash
# test.sh - install what is missing, build plain and sanitizer builds, run
# the whole suite through CTest in the plain and ASan+UBSan builds, the
# server's tests in the ThreadSanitizer build, then each fuzz target for
# DX_FUZZ_SECONDS (default 60) from its committed seed corpus.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup-deps.sh"
"$root/scripts/build.sh" plain asan tsan fuzz
jobs=$(nproc 2>/dev/null || echo 2)
echo "== plain build"
(cd "$root/build" && ctest --output-on-failure -j"$jobs")
echo "== ASan + UBSan build"
(cd "$root/build-asan" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --output-on-failure -j"$jobs")
echo "== ThreadSanitizer build: the server's tests"
(cd "$root/build-tsan" && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j"$jobs" -L server)
echo "== libFuzzer targets, ${DX_FUZZ_SECONDS:-60} s each"
(cd "$root/build-fuzz" && ctest --output-on-failure -R '^fuzz_')
