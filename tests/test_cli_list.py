#!/usr/bin/env python3
"""dump_exec's listing of real and crafted dumps, as text and as JSON.

usage: test_cli_list.py DUMP_EXEC FIXTURES FIXTURES_SRC TEST_DUMP_STREAMS

FIXTURES holds the unpacked testprog_*.dmp, FIXTURES_SRC the manifests and
public/; TEST_DUMP_STREAMS --write-sample PATH [PDB] writes a dump full of
awkward strings (quotes, backslashes, control characters, non-ASCII)."""
import json
import os
import subprocess
import sys
import tempfile

failures = []


def fail(name, msg):
    failures.append(name)
    print(f"FAIL {name}: {msg}")


def run(argv):
    r = subprocess.run(argv, capture_output=True, timeout=120)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def listing(name, dump_exec, path):
    """The text listing: status 0, nothing on stderr."""
    rc, out, err = run([dump_exec, path])
    if rc != 0 or err:
        fail(name, f"status {rc}, stderr {err.strip()!r}")
        return ""
    return out.decode("utf-8")


def listing_json(name, dump_exec, path):
    """--json: parses with json.loads and with `python3 -m json.tool`."""
    rc, out, err = run([dump_exec, "--json", path])
    if rc != 0 or err:
        fail(name, f"--json: status {rc}, stderr {err.strip()!r}")
        return None
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=out, capture_output=True, timeout=60)
    if tool.returncode != 0:
        fail(name, f"json.tool rejects the output: {tool.stderr.decode(errors='replace').strip()}")
    try:
        return json.loads(out)  # bytes: must be valid UTF-8
    except ValueError as e:
        fail(name, f"--json output does not parse: {e}")
        return None


def expect(name, cond, msg):
    if not cond:
        fail(name, msg)
    return cond


def manifest(src, which):
    with open(os.path.join(src, f"testprog_{which}.json"), encoding="utf-8") as f:
        return json.load(f)


def check_testprog(dump_exec, fixtures, src, which):
    name = f"testprog_{which}"
    m = manifest(src, which)
    path = os.path.join(fixtures, f"testprog_{which}.dmp")
    main_tid = m["process"]["main_thread"]["tid"]
    worker_tid = m["process"]["worker_thread"]["tid"]

    text = listing(name, dump_exec, path)
    for s in ["System: AMD64", "Modules (5):", "testprog.exe", "ntdll.dll", "kernel32.dll", "Threads (2):",
              f"0x{main_tid:<6x} ", f"0x{worker_tid:<6x} ", m["process"]["main_thread"]["teb"][2:].rjust(16, "0"),
              f"Process: {m['process']['pid']}"]:
        expect(name, s in text, f"text listing lacks {s!r}")
    exe_line = [l for l in text.splitlines() if "testprog.exe " in l]
    expect(name, exe_line and f"0x{int(m['process']['image_base'], 16):016x}" in exe_line[0],
           "testprog.exe is not listed at the image base")
    if which == "normal":
        expect(name, "inspection only" in text, "normal dump not flagged as inspection only")
    else:
        expect(name, "module code present in 5 of 5 modules" in text, "full dump lacks module code")

    j = listing_json(name, dump_exec, path)
    if j is None:
        return
    mods = {mod["name"].lower(): mod for mod in j["modules"]}
    for mod, base in m["modules"].items():
        if base is None:
            expect(name, mod not in mods, f"{mod} listed but not loaded")
        elif expect(name, mod in mods, f"JSON lacks module {mod}"):
            expect(name, int(mods[mod]["base"], 16) == int(base, 16), f"{mod} base {mods[mod]['base']} != {base}")
            expect(name, mods[mod]["code"] == (which != "normal"), f"{mod} code flag {mods[mod]['code']}")
    tids = [t["tid"] for t in j["threads"]]
    expect(name, tids == [main_tid, worker_tid], f"JSON threads {tids}")
    tebs = [int(t["teb"], 16) for t in j["threads"]]
    expect(name, tebs == [int(m["process"]["main_thread"]["teb"], 16), int(m["process"]["worker_thread"]["teb"], 16)],
           f"JSON TEBs {tebs}")
    expect(name, j["system"]["arch"] == "AMD64", "arch")
    expect(name, j.get("pid") == m["process"]["pid"], "pid")
    if which != "crash":
        expect(name, j["exception"] is None, "exception should be null")
        expect(name, "Exception: none" in text, "text lacks 'Exception: none'")
        return
    x, mx = j["exception"], m["exception"]
    if not expect(name, x is not None, "crash dump has no exception in JSON"):
        return
    expect(name, int(x["code"], 16) == 0xC0000005, f"code {x['code']}")
    expect(name, x["name"] == "EXCEPTION_ACCESS_VIOLATION", f"name {x['name']}")
    expect(name, x["tid"] == mx["thread_id"], f"tid {x['tid']}")
    expect(name, [int(p, 16) for p in x["params"]] == [1, 0xDEADBEEF], f"params {x['params']}")
    expect(name, int(x["address"], 16) == int(mx["exception_address"], 16), f"address {x['address']}")
    expect(name, x["description"] == "Access violation writing 0xdeadbeef", f"description {x['description']}")
    xt = [t for t in j["threads"] if t["tid"] == mx["thread_id"]]
    expect(name, xt and int(xt[0]["rip"], 16) == int(mx["context"]["rip"], 16), "exception thread's RIP in JSON")
    expect(name, xt and int(xt[0]["rsp"], 16) == int(mx["context"]["rsp"], 16), "exception thread's RSP in JSON")
    expect(name, "Access violation writing 0xdeadbeef" in text, "text lacks the access violation")
    expect(name, "testprog.exe!crash_write+0x5" in text, "text lacks the symbolized fault address")


def check_breakpad(dump_exec, src):
    name = "breakpad_x64"
    path = os.path.join(src, "public", "win10_x64_breakpad_invalid_parameter.dmp")
    text = listing(name, dump_exec, path)
    for s in ["Modules (31):", "Threads (6):", "0x1708 ", "CrashTest.exe", "pdb: ntdll.pdb",
              "STATUS_INVALID_PARAMETER (0xc000000d)", "Windows 10.0 build 17134", "inspection only"]:
        expect(name, s in text, f"text listing lacks {s!r}")
    j = listing_json(name, dump_exec, path)
    if j is None:
        return
    expect(name, len(j["modules"]) == 31, f"{len(j['modules'])} modules")
    expect(name, len(j["threads"]) == 6 and j["threads"][0]["tid"] == 0x1708, "threads")
    expect(name, j["exception"]["code"] == "0xc000000d", f"exception {j['exception']}")
    expect(name, all(mod.get("pdb") for mod in j["modules"]), "a module lacks its PDB name")
    ntdll = [mod for mod in j["modules"] if mod["name"] == "ntdll.dll"]
    expect(name, ntdll and ntdll[0]["pdb"] == "ntdll.pdb" and ntdll[0]["pdb_age"] == 1, "ntdll's CodeView record")
    expect(name, int(j["threads"][0]["rip"], 16) == 0x7FF61BCFA9A3, "exception thread RIP")


def check_awkward_strings(dump_exec, sample_writer, tmp):
    name = "awkward_strings"
    path = os.path.join(tmp, "awkward.dmp")
    subprocess.run([sample_writer, "--write-sample", path], check=True)
    listing(name, dump_exec, path)
    j = listing_json(name, dump_exec, path)
    if j is None:
        return
    expect(name, j["path"] == path, f"path {j['path']!r}")
    expect(name, j["modules"][0]["path"] == 'C:\\odd "dir"\\\u6d4b.dll', f"module path {j['modules'][0]['path']!r}")
    expect(name, j["modules"][0]["name"] == "\u6d4b.dll", f"module name {j['modules'][0]['name']!r}")
    expect(name, j["modules"][0]["pdb"] == 'odd\\"name".pdb', f"pdb {j['modules'][0]['pdb']!r}")
    expect(name, j["modules"][1]["path"] == "C:\\tab\there\\ctl\x02.dll", f"path {j['modules'][1]['path']!r}")
    expect(name, j["threads"][1]["name"] == 'q"b\\s\x01\x1f\x7f \u00e9 \U0001F600', f"name {j['threads'][1]['name']!r}")
    expect(name, j["exception"]["description"] == "Access violation reading 0x8", "description")

    # Regression: a CodeView PDB name that is not UTF-8 once made --json
    # print invalid UTF-8.
    bad = os.path.join(tmp, "bad-utf8.dmp")
    subprocess.run([sample_writer, "--write-sample", bad, b"bad\xffname.pdb"], check=True)
    listing_json("invalid_utf8_pdb", dump_exec, bad)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    dump_exec, fixtures, src, sample_writer = sys.argv[1:]
    for which in ["full", "normal", "crash"]:
        check_testprog(dump_exec, fixtures, src, which)
    check_breakpad(dump_exec, src)
    with tempfile.TemporaryDirectory(prefix="dx-cli-list-") as tmp:
        check_awkward_strings(dump_exec, sample_writer, tmp)
    names = sorted(set(failures))
    print(f"{len(failures)} failure(s){': ' + ', '.join(names) if names else ''}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
