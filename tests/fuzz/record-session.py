#!/usr/bin/env python3
"""Record what a real debugger sends: a TCP proxy that logs client-to-server
bytes. Used to make the fuzz_rsp seed corpus:
    record-session.py LISTEN_PORT SERVER_PORT OUT_FILE
then point gdb or lldb at LISTEN_PORT; the file is written when the client
disconnects."""
import socket
import sys
import threading


def pump(src, dst, log):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if log is not None:
                log.append(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    listen_port, server_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(1)
    client, _ = ls.accept()
    server = socket.create_connection(("127.0.0.1", server_port))
    log = []
    back = threading.Thread(target=pump, args=(server, client, None))
    back.start()
    pump(client, server, log)
    back.join(timeout=5)
    with open(out, "wb") as f:
        f.write(b"".join(log))


if __name__ == "__main__":
    main()
