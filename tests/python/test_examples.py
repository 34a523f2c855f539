"""The examples, run as users run them, against the native results."""
import json
import os
import subprocess
import sys

from conftest import FIXTURES
from test_install import SOURCE

EXAMPLES = SOURCE / "examples"


def run(*argv):
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, timeout=120)


def test_decrypt_strings_finds_and_decrypts_every_secret(manifest):
    out = run(EXAMPLES / "decrypt_strings.py", FIXTURES / "testprog_full.dmp", "testprog!xor_decrypt")
    assert out.returncode == 0, out.stderr
    cases = manifest["functions"]["xor_decrypt"]["cases"]
    lines = out.stdout.splitlines()
    assert len(lines) == len(cases)
    for line, c in zip(lines, cases):
        assert f"blob {c['args'][0]['hex']}" in line and "testprog.exe!show_secrets+" in line
        assert line.endswith(repr(c["returns_string"])), line
    assert "3 call sites of testprog.exe!xor_decrypt" in out.stderr


def test_batch_over_a_folder(tmp_path, manifest):
    for i in range(6):
        os.symlink(FIXTURES / "testprog_full.dmp", tmp_path / f"sample{i}.dmp")
    (tmp_path / "broken.dmp").write_bytes(b"MDMP" + bytes(60))
    out = run(EXAMPLES / "batch.py", tmp_path, "testprog!add2", "3", "5", "--workers", "2", "--json")
    assert out.returncode == 1  # one dump did not return
    results = {os.path.basename(r["dump"]): r for r in map(json.loads, out.stdout.splitlines())}
    assert len(results) == 7
    assert all(results[f"sample{i}.dmp"]["rax"] == 13 for i in range(6))
    assert "error" in results["broken.dmp"]
    assert "7 dumps in" in out.stderr and "1 did not return" in out.stderr
    out = run(EXAMPLES / "batch.py", tmp_path, "testprog!fill_buf", "buf:16", "16", "--pattern", "sample*.dmp")
    want = manifest["functions"]["fill_buf"]["cases"][0]["expect_buffer_hex"]
    assert out.returncode == 0 and out.stdout.count(f"buf {want}") == 6, out.stdout + out.stderr
