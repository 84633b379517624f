"""Tiny servers run inside a test namespace: TCP echo, TCP sink (for throughput), UDP echo.

Started by ``tests/host/conftest.py`` with ``ip netns exec``; killed in its teardown.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading


def _echo_conn(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _sink_conn(conn: socket.socket) -> None:
    """Read an 8-byte length, then that many bytes, then answer b"ok"."""
    with conn:
        header = b""
        while len(header) < 8:
            chunk = conn.recv(8 - len(header))
            if not chunk:
                return
            header += chunk
        left = struct.unpack("!Q", header)[0]
        while left > 0:
            chunk = conn.recv(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
        conn.sendall(b"ok")


def _serve_tcp(port: int, handler) -> None:
    server = socket.create_server(("0.0.0.0", port), reuse_port=False, backlog=128)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def _serve_udp(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("0.0.0.0", port))
    while True:
        data, peer = sock.recvfrom(2048)
        # a reply dropped by a local OUTPUT rule (a loss fault here) fails with EPERM:
        # that reply is lost, the server goes on
        with contextlib.suppress(PermissionError):
            sock.sendto(data, peer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", type=int, required=True)
    parser.add_argument("--sink", type=int, required=True)
    parser.add_argument("--udp", type=int, required=True)
    args = parser.parse_args()
    threading.Thread(target=_serve_tcp, args=(args.sink, _sink_conn), daemon=True).start()
    threading.Thread(target=_serve_udp, args=(args.udp,), daemon=True).start()
    _serve_tcp(args.tcp, _echo_conn)


if __name__ == "__main__":
    main()
