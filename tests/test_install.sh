#!/bin/sh
# test_install.sh BUILD SOURCE DUMP: `cmake --install` into a scratch prefix,
# then build examples/call_add2.c the way a user would, against the installed
# headers, libdumpexec.so.0 and dumpexec.pc, and run it.
set -eu
build=$1 src=$2 dump=$3
prefix=$(mktemp -d /tmp/dumpexec-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pcdir=$(find "$prefix" -name dumpexec.pc -printf '%h\n')
libdir=$(dirname "$pcdir")
test -L "$libdir/libdumpexec.so" && test -e "$libdir/libdumpexec.so.0"
export PKG_CONFIG_PATH="$pcdir:$src/.deps/unicorn/usr/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-}"
# shellcheck disable=SC2046 # pkg-config's words are meant to split
cc -Wall -Werror "$src/examples/call_add2.c" $(pkg-config --cflags --libs dumpexec) -o "$prefix/call_add2"
readelf -d "$prefix/call_add2" | grep -q 'NEEDED.*libdumpexec.so.0'
readelf -d "$libdir/libdumpexec.so.0" | grep -q 'SONAME.*libdumpexec.so.0'
LD_LIBRARY_PATH="$libdir" "$prefix/call_add2" "$dump"
