# DumpExec for gdb, from the repository's root:
#   gdb -x gdb-scripts/dumpexec.gdb -ex 'dumpexec-connect 127.0.0.1:1234'
# (elsewhere: source /path/to/gdb-scripts/dumpexec.py). Adds dcall, dmodules,
# dsymbols, dumpexec-connect and an `info proc mappings` that Ghidra can read.
set pagination off
set confirm off
source gdb-scripts/dumpexec.py
