"""The package as users get it: `pip install ./python` into a fresh venv."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dumpexec
from conftest import FIXTURES

SOURCE = Path(os.environ.get("DX_SOURCE_DIR", Path(__file__).resolve().parents[2]))


@pytest.mark.skipif(os.environ.get("DX_SANITIZED") == "1", reason="the plain build checks installing")
def test_pip_install_into_a_venv(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE / "python", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    venv = tmp_path / "venv"
    # Offline: the build backend (setuptools, wheel) comes from the system, not from an index.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", str(src)],
                   check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import dumpexec, sys\n"
            f"d = dumpexec.open({str(FIXTURES / 'testprog_full.dmp')!r})\n"
            "print(dumpexec.__file__.startswith(sys.prefix), dumpexec.__version__,"
            " d.session().call('kernel32!lstrlenA', 'hello').rax)\n")
    lib = Path(dumpexec.lib._name).resolve()
    # Found through $DUMPEXEC_LIB, then on the library path, as an installed libdumpexec would be.
    for extra in ({"DUMPEXEC_LIB": str(lib)}, {"LD_LIBRARY_PATH": str(lib.parent)}):
        out = subprocess.run([str(py), "-c", code], env={**env, **extra}, capture_output=True, text=True, cwd=tmp_path)
        assert out.stdout == f"True {dumpexec.__version__} 5\n", out.stderr
    out = subprocess.run([str(py), "-c", "import dumpexec"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and "libdumpexec not found (set DUMPEXEC_LIB" in out.stderr


def test_versions_agree():
    text = (SOURCE / "python" / "pyproject.toml").read_text()
    assert f'version = "{dumpexec.__version__}"' in text
