"""Every call case of the C tests, through Python, against the native results."""
import os
import struct

import pytest

import dumpexec
from conftest import bits, value

STATEFUL = {"counter_add", "get_counter", "proc_address"}


def cases(manifest):
    skip = manifest["syscall"]["function"]
    for name, f in manifest["functions"].items():
        for i, c in enumerate(f["cases"]):
            if name != skip and "struct" not in c.get("result", {}).get("type", ""):
                yield name, i, f, c


def test_every_case_returns_the_native_result(dump, manifest):
    s = dump.session(max_insns=0)  # long_loop(10M) needs ~60M
    checked = 0
    for name, i, f, c in cases(manifest):
        if "expect_exception" in c:
            continue
        args = [value(a) for a in c["args"]]
        if name == "fill_buf":
            args[0] = dumpexec.buf(64)
        if name in STATEFUL:
            s.reset()
        r = s.call(int(f["address"], 16), *args, variadic="..." in f["signature"])
        where = f"{name} case {i}"
        if name == "create_file":  # natively created; the guest never touches the host's files
            assert r.rax == 5 and not os.path.exists(c["arg0_string"]), where  # ERROR_ACCESS_DENIED
        elif "returns_string" in c:
            assert s.read_cstr(r.rax).decode() == c["returns_string"], where
        else:
            width, is_float, want = bits(c["result"])
            got = r._x0 if is_float else r.rax
            assert got & ((1 << width) - 1) == want, f"{where}: {got:#x} != {want:#x}"
        if name == "write_stdout":
            assert r.console == c["arg0_string"], where
        if name == "crt_printf":  # msvcrt's text mode, as on Windows
            assert r.console == c["arg0_string"].replace("\n", "\r\n"), where
        if name == "debug_print":
            assert r.debug_output == [c["arg0_string"]], where
        if name == "fill_buf":
            assert r.buffers[0][:16].hex() == c["expect_buffer_hex"], where
            assert r.buffers[0][16:] == bytes(48), where
        checked += 1
    assert checked > 50


def test_floats_come_back_in_xmm0(session, manifest):
    for name, f in manifest["functions"].items():
        for c in f["cases"]:
            t = c.get("result", {}).get("type")
            if t in ("f32", "f64") and "expect_exception" not in c:
                r = session.call(int(f["address"], 16), *(value(a) for a in c["args"]),
                                 variadic="..." in f["signature"])
                want = struct.unpack("<d" if t == "f64" else "<f",
                                     int(c["result"]["bits"], 16).to_bytes(8 if t == "f64" else 4, "little"))[0]
                assert (r.xmm0 if t == "f64" else r.xmm0_f32) == want, name


def test_struct_comes_back_through_the_hidden_pointer(session, manifest):
    c = manifest["functions"]["make_triple"]["cases"][0]
    r = session.call("testprog!make_triple", dumpexec.buf(24), *(value(a) for a in c["args"]))
    got = struct.unpack("<3q", r.buffers[0])
    want = tuple(struct.unpack("<q", int(c["result"][k]["hex"], 16).to_bytes(8, "little"))[0] for k in "xyz")
    assert got == want
    assert session.read(r.rax, 24) == r.buffers[0]


def test_strings_and_buffers(session, manifest):
    g = manifest["globals"]
    assert session.call("kernel32!lstrlenA", "hello").rax == 5
    assert session.call("kernel32!lstrlenA", b"hi\0there").rax == 2
    assert session.call("kernel32!lstrlenW", dumpexec.wstr(g["g_wstr"]["value"])).rax == len(g["g_wstr"]["value"])
    assert session.call("testprog!str_len", g["g_str"]["value"]).rax == len(g["g_str"]["value"])
    r = session.call("testprog!fill_buf", dumpexec.buf(8, b"\xff" * 8), 4)
    assert r.buffers[0][4:] == b"\xff" * 4  # what the function did not write is what it was given


def test_calls_through_the_iat_and_the_nt_layer(session, manifest):
    fns = manifest["functions"]
    r = session.call("testprog!rc4_decrypt")
    assert session.read_cstr(r.rax).decode() == fns["rc4_decrypt"]["cases"][0]["returns_string"]
    assert session.call(int(fns["cxx_catch"]["address"], 16), 14).rax == 42


def test_registers_come_back_after_a_call(session):
    before = session.regs.dict()
    session.call("testprog!add2", 3, 5)
    assert session.regs.dict() == before


WINE = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"


@pytest.mark.skipif(not os.path.exists(WINE + "/kernel32.dll"), reason="Debian's libwine is not installed")
def test_a_small_dump_runs_with_images(tmp_path, full_path):
    """images= gives the MiniDumpNormal fixture its modules' code, as `dump_exec --images` does."""
    import shutil
    from conftest import FIXTURES_SRC
    shutil.copy(FIXTURES_SRC / "testprog.exe", tmp_path)
    for name in ("ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"):
        shutil.copy(os.path.join(WINE, name), tmp_path)
    with dumpexec.open(full_path.parent / "testprog_normal.dmp", images=str(tmp_path)) as d:
        assert "kernel32.dll: image from" in d.images_report
        s = d.session()
        assert s.call("kernel32!lstrlenA", "hello").rax == 5
        assert s.call("testprog!fib", 10).rax == 55
