#!/usr/bin/env python3
"""Small dumps run with images from files (#15): the MiniDumpNormal fixture,
which holds no module code, with testprog.exe and the Wine DLLs it loaded
(Debian's libwine ships them) from a plain folder and from a symbol-store
folder, returns what the full dump returns for pure functions and for calls
through the IAT into kernel32 and msvcrt. A file of another build is refused
by name and keys, a corrupt one is refused, and a module without a file
leaves calls into it stopping with a clear message.

usage: test_cli_images.py DUMP_EXEC"""
import http.server
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

from cli_common import EXE, FIXTURES, FIXTURES_SRC, check, finish

WINE = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"
DLLS = ["ntdll.dll", "kernel32.dll", "kernelbase.dll", "msvcrt.dll"]
NORMAL = os.path.join(FIXTURES, "testprog_normal.dmp")
FULL = os.path.join(FIXTURES, "testprog_full.dmp")

# Pure functions, and calls through the IAT into kernel32 (and on into
# kernelbase and msvcrt), with their native results.
CALLS = [
    (["testprog!add2", "3", "5"], 13),
    (["testprog!add10", "1", "-2", "3", "-4", "5", "-6", "7", "-8", "9", "4886718345"], 48867183495),
    (["testprog!fib", "10"], 55),
    (["testprog!str_len", 'str:hello, dumpexec'], 15),
    (["testprog!apply", "testprog!square", "7"], 50),
    (["testprog!call_lstrlen", 'str:hello, dumpexec'], 15),
    (["kernel32!lstrlenA", "str:hello"], 5),
    (["msvcrt!strlen", "str:hello"], 5),
]


def run(args, env=None):
    p = subprocess.run([EXE] + args, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


def value(out):
    for line in out.splitlines():
        if line.startswith("Return value:"):
            return int(line.split("(")[1].rstrip(")"))
    return None


def keys(path):
    with open(path, "rb") as f:
        b = f.read(4096)
    pe = struct.unpack_from("<I", b, 0x3c)[0]
    return struct.unpack_from("<I", b, pe + 8)[0], struct.unpack_from("<I", b, pe + 24 + 56)[0]


def plain_folder(root):
    d = os.path.join(root, "plain")
    os.makedirs(d)
    shutil.copy(os.path.join(FIXTURES_SRC, "testprog.exe"), d)
    for dll in DLLS:
        shutil.copy(os.path.join(WINE, dll), os.path.join(d, dll.upper()))  # names match without case
    return d


def symbol_store(root):
    d = os.path.join(root, "store")
    for src in [os.path.join(FIXTURES_SRC, "testprog.exe")] + [os.path.join(WINE, x) for x in DLLS]:
        ts, size = keys(src)
        name = os.path.basename(src)
        where = os.path.join(d, name, "%08X%x" % (ts, size))
        os.makedirs(where)
        shutil.copy(src, where)
    return d


def calls_match(images, what):
    for args, want in CALLS:
        rc, out, err = run(["--images", images, NORMAL] + args)
        check(rc == 0 and value(out) == want, "%s: %s returns %s on the small dump" % (what, " ".join(args), want),
              out, err)
        rc, out, err = run([FULL] + args)
        check(value(out) == want, "the full dump agrees: %s" % " ".join(args), out, err)


def gdb_on_the_small_dump(images):
    """gdb sees the small dump's libraries with their symbols and calls into them."""
    if not shutil.which("gdb"):
        return
    srv = subprocess.Popen([EXE, "--images", images, "--listen", "127.0.0.1:0", NORMAL], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        for line in srv.stdout:
            if line.startswith("Serving "):
                port = line.rsplit(":", 1)[1].strip()
                break
        check(port, "the server serves the small dump")
        if not port:
            return
        p = subprocess.run(["gdb", "-batch", "-nx", "-ex", "target remote 127.0.0.1:" + port, "-ex",
                            "info sharedlibrary", "-ex", "bt 2", "-ex", "monitor call kernel32!lstrlenA str:hello"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        check(all("system32/%s" % x in out for x in DLLS) and "Yes (*)" in out, "gdb lists the DLLs with symbols",
              out)
        check("ntdll!ZwWaitForMultipleObjects" in out, "and names the frames", out)
        check("Return value: 0x5" in out, "monitor call runs on the small dump", out)
    finally:
        srv.terminate()
        srv.wait(10)


class StoreHandler(http.server.SimpleHTTPRequestHandler):
    """A symbol server over a store folder: msvcrt.dll stalls, kernelbase.dll is not a PE file."""
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1].lower()
        if self.server.odd and name == "msvcrt.dll":
            time.sleep(15)  # past the client's stall limit
            return
        if self.server.odd and name == "kernelbase.dll":
            body = b"<html>no such file</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def serve_store(store, odd):
    handler = lambda *a, **k: StoreHandler(*a, directory=store, **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.odd = odd
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def symbol_server(root, store):
    srv = serve_store(store, False)
    try:
        cache = os.path.join(root, "cache")
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        calls_match("srv*%s*%s" % (cache, url), "symbol server")
        ts, size = keys(os.path.join(WINE, "kernel32.dll"))
        check(os.path.exists(os.path.join(cache, "kernel32.dll", "%08X%x" % (ts, size), "kernel32.dll")),
              "the cache holds what was fetched")
        rc, out, err = run(["--images", "srv*%s*http://127.0.0.1:9" % cache, NORMAL, "testprog!fib", "10"])
        check(value(out) == 55 and "Could" not in err, "a filled cache needs no server", out, err)
    finally:
        srv.shutdown()
    srv = serve_store(store, True)
    try:
        cache = os.path.join(root, "cache-odd")
        url = "http://127.0.0.1:%d" % srv.server_address[1]
        os.rename(os.path.join(store, "ntdll.dll"), os.path.join(store, "ntdll.dll.gone"))
        t0 = time.monotonic()
        rc, out, err = run(["--images", "srv*%s*%s" % (cache, url), NORMAL, "testprog!fib", "10"])
        took = time.monotonic() - t0
        check("ntdll.dll: %s/ntdll.dll/" % url in err and "HTTP 404" in err, "a 404 is named", err)
        check("msvcrt.dll: " in err and ("timed out" in err.lower() or "too slow" in err.lower() or
                                         "operation too slow" in err.lower()), "a stalled server is given up", err)
        check("kernelbase.dll: " in err and "did not send a PE file" in err, "a body that is not a PE is not kept",
              err)
        check(value(out) == 55 and took < 60, "and the run goes on with what came (%.0f s)" % took, out, err)
        rc, out, err = run(["--images", "srv*%s*http://127.0.0.1:9" % os.path.join(root, "nowhere"), NORMAL])
        check("Could" in err and "connect" in err, "an unreachable server is named", err)
    finally:
        srv.shutdown()


def main():
    if not all(os.path.exists(os.path.join(WINE, x)) for x in DLLS):
        print("skipped: Debian's libwine (Wine's PE DLLs) is not installed")
        sys.exit(77)
    root = tempfile.mkdtemp(prefix="dx-images-")
    try:
        plain = plain_folder(root)
        rc, out, err = run(["--images", plain, NORMAL])
        check("module code present in 5 of 5 modules" in out, "the listing sees every module's code", out)
        check(out.count("code: file %s/" % plain) == 5, "and says where each module's code comes from", out)
        check(all(("%s: image from" % x) in err for x in ["testprog.exe"] + DLLS), "the report names each file", err)
        check("TEB is not in the dump: a minimal one" in err, "threads without a TEB get one", err)
        rc, out, err = run([NORMAL, "testprog!add2", "3", "5"])
        check(rc != 0 and value(out) is None, "without images the small dump cannot run", out, err)
        calls_match(plain, "plain folder")
        gdb_on_the_small_dump(plain)
        store = symbol_store(root)
        calls_match(store, "symbol store")
        symbol_server(root, store)
        env = dict(os.environ, _NT_EXECUTABLE_IMAGE_PATH=plain)
        rc, out, err = run([NORMAL, "testprog!fib", "10"], env)
        check(value(out) == 55, "_NT_EXECUTABLE_IMAGE_PATH is the default image path", out, err)

        # Another build under kernel32's name: refused, named with both keys.
        wrong = os.path.join(root, "wrong")
        shutil.copytree(plain, wrong)
        shutil.copy(os.path.join(WINE, "kernelbase.dll"), os.path.join(wrong, "KERNEL32.DLL"))
        rc, out, err = run(["--images", wrong, NORMAL, "kernel32!lstrlenA", "str:hello"])
        check("kernel32.dll: " in err and "is another build, not used" in err and "SizeOfImage 5e5000" in err and
              "195000" in err, "a wrong file is refused, naming the module and both keys", err)
        check(rc != 0 and value(out) is None, "and a call into that module does not run", out, err)
        rc, out, err = run(["--images", wrong, NORMAL, "testprog!fib", "10"])
        check(value(out) == 55, "the run goes on without that module", out, err)

        # Truncated and corrupt files: refused, the rest goes on.
        bad = os.path.join(root, "bad")
        shutil.copytree(plain, bad)
        with open(os.path.join(bad, "MSVCRT.DLL"), "r+b") as f:
            f.truncate(300)
        with open(os.path.join(bad, "KERNELBASE.DLL"), "wb") as f:
            f.write(b"MZ" + b"\xff" * 500)
        rc, out, err = run(["--images", bad, NORMAL, "testprog!add2", "3", "5"])
        check("msvcrt.dll: " in err and "not used" in err, "a truncated file is refused", err)
        check("kernelbase.dll: " in err and "not used" in err, "a corrupt file is refused", err)
        check(value(out) == 13, "and the rest still runs", out, err)
        rc, out, err = run(["--images", os.path.join(root, "none") + ";srv*http://127.0.0.1:9/", NORMAL])
        check("no file in the image path" in err, "a module with no file is named", err)
        check(out.count("code: missing") == 5, "and the listing says its code is missing", out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
