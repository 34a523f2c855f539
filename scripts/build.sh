#!/usr/bin/env bash
# build.sh [plain|asan|fuzz]... - configure and build into build/ (plain),
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer), build-tsan/
# (ThreadSanitizer) and
# build-fuzz/ (clang, libFuzzer targets under ASan + UBSan).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
for kind in "${@:-plain}"; do
    case "$kind" in
        plain) dir="$root/build" flags=() ;;
        asan) dir="$root/build-asan" flags=(-DDX_SANITIZE=ON) ;;
        tsan) dir="$root/build-tsan" flags=(-DDX_TSAN=ON -DDX_BENCH=OFF) ;;
        fuzz) dir="$root/build-fuzz" flags=(-DDX_FUZZ=ON -DDX_BENCH=OFF -DCMAKE_C_COMPILER=clang
                                            -DDX_FUZZ_SECONDS="${DX_FUZZ_SECONDS:-60}") ;;
        *) echo "build.sh: unknown build '$kind' (plain, asan, tsan or fuzz)" >&2; exit 2 ;;
    esac
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"
done
