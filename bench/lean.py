"""A lean load generator: raw sockets, each request encoded once, one thread per client.

The measured runs use it rather than httpx. On these two cores the load generator shares
the CPUs with the server it measures, and httpx spends about 6 ms of Python per request
building the multipart body and parsing the answer (single-client p50 30.9–32.8 ms
through httpx against 24.7–26.3 ms through these sockets, the same server, alternately),
which is the client's time, not the server's. Compiled tools such as wrk or hey keep out
of the way the same way. With 64 clients flooding an overloaded server, httpx also
measured its own queueing (seconds) rather than the server's 503s.

Each client keeps one keep-alive connection, sends pre-encoded bytes, reads the status
line, the headers and the body, and sends the next request at once: it ignores
Retry-After, as a careless or hostile client does.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from api import timing
from bench.data import BenchUpload
from bench.load import LoadResult

BOUNDARY = "medimg-bench-lean"
SERVER_TIMING = timing.HEADER.lower().encode()


def encoded_request(host: str, port: int, key: str, upload: BenchUpload, path: str) -> bytes:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{upload.filename}"\r\nContent-Type: {upload.media_type}\r\n\r\n'
        ).encode()
        + upload.data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def read_response(sock: socket.socket, pending: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """(status, headers with lower-case names, bytes already read past this response)."""
    while b"\r\n\r\n" not in pending:
        pending += _receive(sock)
    head, _, rest = pending.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        rest += _receive(sock)
    return int(status_line.split()[1]), headers, rest[length:]


def _receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def lean_load(
    base_urls: list[str],
    key: str,
    uploads: list[BenchUpload],
    *,
    clients: int,
    seconds: float,
    max_requests: int = 10**9,
    path: str = "/classify",
) -> LoadResult:
    """`clients` concurrent clients for `seconds` (or `max_requests` in all), client n on
    `base_urls[n % len(base_urls)]`; each sends one request at a time."""
    result = LoadResult(clients=clients, seconds=seconds)
    lock = threading.Lock()
    remaining = [max_requests]
    targets = [urlsplit(base_url) for base_url in base_urls]
    # Encoded before the clock starts, once per server, and shared by its clients.
    encoded_for = {
        target: [encoded_request(target.hostname, target.port, key, u, path) for u in uploads]
        for target in targets
    }
    stop_at = time.monotonic() + seconds

    def take_turn() -> bool:
        with lock:
            remaining[0] -= 1
            return remaining[0] >= 0 and time.monotonic() < stop_at

    def client(number: int) -> None:
        url = targets[number % len(targets)]
        encoded = encoded_for[url]
        sock, pending = None, b""
        index = number
        while take_turn():
            if sock is None:
                sock, pending = _connect(url.hostname, url.port), b""
            started = time.perf_counter()
            try:
                sock.sendall(encoded[index % len(encoded)])
                status, headers, pending = read_response(sock, pending)
            except OSError:  # ConnectionError included: counted, and a new connection made
                status, headers = 0, {b"connection": b"close"}
            _record(result, lock, status, headers, time.perf_counter() - started)
            if headers.get(b"connection") == b"close":
                sock.close()
                sock = None
            index += 1
        if sock is not None:
            sock.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    # Without it, Nagle's algorithm may hold the request's last segment back.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _record(
    result: LoadResult,
    lock: threading.Lock,
    status: int,
    headers: dict[bytes, bytes],
    elapsed: float,
) -> None:
    with lock:
        result.statuses[status] += 1
        if 200 <= status < 300:
            result.latencies_s.append(elapsed)
            if stages := headers.get(SERVER_TIMING):
                result.server_timings.append(timing.parse_server_timing(stages.decode()))
        elif status == 503:
            result.refused_latencies_s.append(elapsed)
