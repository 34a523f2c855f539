"""What the gdb and lldb helpers share: which of a folder's PE files are the
dump's modules, and where each goes (no debugger API here)."""
import os
import struct


def image_base(path):
    """The preferred base in a PE file's optional header."""
    with open(path, "rb") as f:
        head = f.read(4096)
    pe = struct.unpack_from("<I", head, 0x3C)[0]
    magic = struct.unpack_from("<H", head, pe + 24)[0]
    return struct.unpack_from("<Q" if magic == 0x20B else "<I", head, pe + 24 + (24 if magic == 0x20B else 28))[0]


def module_files(modules_text, folder):
    """(base in the dump, path, slide from the file's preferred base) of every module that
    `monitor modules` lists and folder holds a file of the same name (any case)."""
    files = {name.lower(): os.path.join(folder, name) for name in os.listdir(folder)}
    found = []
    for line in modules_text.splitlines():
        fields = line.split()
        if len(fields) < 3 or not fields[0].startswith("0x"):
            continue
        base, path = int(fields[0], 16), files.get(fields[2].lower())
        if path:
            found.append((base, path, (base - image_base(path)) & (2**64 - 1)))
    return found
