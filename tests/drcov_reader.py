"""A drcov log reader written from the format's description (DynamoRIO's
drcov tool; what Lighthouse and bncov parse), independent of the writer
in emu/coverage.c:

    DRCOV VERSION: 2
    DRCOV FLAVOR: <text>
    Module Table: version 2, count <N>
    Columns: id, base, end, entry, checksum, timestamp, path
    <N lines: the columns, comma-separated>
    BB Table: <M> bbs
    <M binary records: uint32 start (offset into the module), uint16 size, uint16 module id>
"""
import re
import struct


class DrcovError(ValueError):
    pass


def read(data: bytes):
    """(modules, blocks): modules a list of dicts by column name, blocks a list of (module id, offset, size)."""
    pos = 0

    def line():
        nonlocal pos
        end = data.index(b"\n", pos)
        text, pos = data[pos:end].decode(), end + 1
        return text

    if line() != "DRCOV VERSION: 2":
        raise DrcovError("not a drcov version 2 log")
    if not line().startswith("DRCOV FLAVOR: "):
        raise DrcovError("no flavor line")
    m = re.fullmatch(r"Module Table: version (\d+), count (\d+)", line())
    if not m or m.group(1) != "2":
        raise DrcovError("no version 2 module table")
    count = int(m.group(2))
    header = line()
    if not header.startswith("Columns: "):
        raise DrcovError("no columns line")
    columns = [c.strip() for c in header[len("Columns: "):].split(",")]
    modules = []
    for _ in range(count):
        fields = [f.strip() for f in line().split(",", len(columns) - 1)]
        mod = dict(zip(columns, fields))
        for k in ("id", "base", "end", "entry", "checksum", "timestamp"):
            if k in mod:
                mod[k] = int(mod[k], 0)
        modules.append(mod)
    m = re.fullmatch(r"BB Table: (\d+) bbs", line())
    if not m:
        raise DrcovError("no BB table")
    n = int(m.group(1))
    if len(data) - pos != 8 * n:
        raise DrcovError(f"BB table holds {len(data) - pos} bytes, not {8 * n}")
    blocks = []
    for i in range(n):
        start, size, mod_id = struct.unpack_from("<IHH", data, pos + 8 * i)
        if mod_id >= count or start + size > modules[mod_id]["end"] - modules[mod_id]["base"]:
            raise DrcovError(f"block {i} is outside its module")
        blocks.append((mod_id, start, size))
    return modules, blocks
