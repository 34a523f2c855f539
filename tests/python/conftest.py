"""Fixtures of the Python package's tests: the dumps the build unpacked
(DX_FIXTURES) and the native results the test program recorded (the
manifests beside the sources, DX_FIXTURES_SRC)."""
import json
import struct
import os
from pathlib import Path

import pytest

import dumpexec

FIXTURES = Path(os.environ.get("DX_FIXTURES", "build/tests/fixtures"))
FIXTURES_SRC = Path(os.environ.get("DX_FIXTURES_SRC", "tests/fixtures"))


@pytest.fixture(scope="session")
def manifest():
    return json.loads((FIXTURES_SRC / "testprog_full.json").read_text())


@pytest.fixture(scope="session")
def full_path():
    return FIXTURES / "testprog_full.dmp"


@pytest.fixture(scope="session")
def dump(full_path):
    with dumpexec.open(full_path) as d:
        yield d


@pytest.fixture
def session(dump):
    with dump.session() as s:
        yield s


def value(v):
    """A manifest value as the Python argument the function takes."""
    t = v["type"]
    if t in ("f32", "f64"):  # exact: from the bits the program printed
        x = struct.unpack("<f" if t == "f32" else "<d", int(v["bits"], 16).to_bytes(4 if t == "f32" else 8,
                                                                                     "little"))[0]
        return dumpexec.f32(x) if t == "f32" else x
    return int(v["hex"], 16)


def bits(v):
    """(width, is_float, raw bits) of a manifest result."""
    t = v["type"]
    width = {"i32": 32, "u32": 32, "f32": 32}.get(t, 64)
    return width, t in ("f32", "f64"), int(v["bits" if t in ("f32", "f64") else "hex"], 16)
