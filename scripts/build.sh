#!/usr/bin/env bash
# build.sh [plain|asan]... - configure and build into build/ (plain) and
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
for kind in "${@:-plain}"; do
    case "$kind" in
        plain) dir="$root/build" flags=() ;;
        asan) dir="$root/build-asan" flags=(-DDX_SANITIZE=ON) ;;
        *) echo "build.sh: unknown build '$kind' (plain or asan)" >&2; exit 2 ;;
    esac
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs"
done
