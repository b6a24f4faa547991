"""A lean flood of uploads for the overload run: raw sockets, requests encoded once.

With 64 clients, the httpx load generator spends more of the 2 cores on encoding and
parsing than the server spends refusing, so it measured its own queueing (seconds) rather
than the server's 503s. Here each client thread keeps one keep-alive connection, sends
pre-encoded bytes and reads only the status line and body length; it ignores Retry-After,
as a hostile or careless client does.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from bench.data import BenchUpload
from bench.load import LoadResult

BOUNDARY = "medimg-bench-flood"


def encoded_request(host: str, port: int, key: str, upload: BenchUpload) -> bytes:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{upload.filename}"\r\nContent-Type: {upload.media_type}\r\n\r\n'
        ).encode()
        + upload.data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /classify HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def read_response(sock: socket.socket, pending: bytes) -> tuple[int, bool, bytes]:
    """(status, server closes the connection, bytes already read past this response)."""
    while b"\r\n\r\n" not in pending:
        pending += _receive(sock)
    head, _, rest = pending.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b":", 1) for line in header_lines)
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        rest += _receive(sock)
    closes = headers.get(b"connection", b"").strip() == b"close"
    return int(status_line.split()[1]), closes, rest[length:]


def _receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def flood(
    base_url: str, key: str, uploads: list[BenchUpload], *, clients: int, seconds: float
) -> LoadResult:
    url = urlsplit(base_url)
    requests = [encoded_request(url.hostname, url.port, key, upload) for upload in uploads]
    result = LoadResult(clients=clients, seconds=seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        sock, pending = None, b""
        for index in range(offset, 10**9):
            if time.monotonic() >= stop_at:
                break
            if sock is None:
                sock, pending = socket.create_connection((url.hostname, url.port)), b""
            started = time.perf_counter()
            try:
                sock.sendall(requests[index % len(requests)])
                status, closes, pending = read_response(sock, pending)
            except OSError:  # ConnectionError included: counted, and a new connection made
                status, closes = 0, True
            _record(result, lock, status, time.perf_counter() - started)
            if closes:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def _record(result: LoadResult, lock: threading.Lock, status: int, elapsed: float) -> None:
    with lock:
        result.statuses[status] += 1
        if 200 <= status < 300:
            result.latencies_s.append(elapsed)
        elif status == 503:
            result.refused_latencies_s.append(elapsed)
