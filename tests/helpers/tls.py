"""A private CA and a TLS server on 127.0.0.1 that programs in cut roots connect to.

- `make_ca(directory)` -> `TestCA`: a CA certificate and a server certificate for
  IP 127.0.0.1 signed by it, made with the host's `openssl` command.
- `serve_tls(ca, body)`: context manager running an HTTPS server that answers
  every request with `body` and a newline (HTTP/1.0, then it closes); yields
  the port. It stops when the block ends; each connection gets 10 s.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from attrs import frozen


@frozen
class TestCA:
    __test__ = False  # a helper, not a test class
    ca_pem: Path
    server_pem: Path
    server_key: Path


def make_ca(directory: Path) -> TestCA:
    """A CA ("slicer test CA") and a 127.0.0.1 server certificate, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make the test CA: install openssl")
    ca = TestCA(directory / "test-ca.crt", directory / "server.crt", directory / "server.key")
    ca_key = directory / "test-ca.key"
    request = directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n")
    for command in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca.ca_pem,
            "-days",
            "1",
            "-subj",
            "/CN=slicer test CA",
        ],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", ca.server_key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            ca.ca_pem,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            ca.server_pem,
            "-days",
            "1",
            "-extfile",
            extensions,
        ],
    ):
        subprocess.run([openssl, *map(str, command)], check=True, capture_output=True, timeout=60)
    return ca


@contextlib.contextmanager
def serve_tls(ca: TestCA, body: str) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.server_pem, ca.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        connection.settimeout(10)
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                payload = body.encode() + b"\n"
                tls.sendall(
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                with contextlib.suppress(OSError):
                    tls.unwrap()  # close_notify: OpenSSL 3 clients treat a bare EOF as an error
        except OSError:
            connection.close()  # a client that gave up on the handshake

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
