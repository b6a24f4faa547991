"""Slow uploads on raw sockets: `POST /classify` whose head arrives at once and whose body
then trickles in a byte a second, or stops short of its Content-Length (issue #29). Each
socket records the status the server answered and when the server ended it."""

import select
import socket
import time
from dataclasses import dataclass, field

from medimg_testing.server import LiveServer

BOUNDARY = "slow-body-boundary"
TICK_S = 1.0


def multipart_body(data: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass
class SlowSocket:
    """One upload: `body` is sent a byte a tick; `declared` is its Content-Length."""

    sock: socket.socket
    body: bytes
    opened: float = field(default_factory=time.monotonic)
    status: int | None = None
    answered_s: float | None = None
    closed_s: float | None = None
    received: bytes = b""

    @property
    def open(self) -> bool:
        return self.closed_s is None

    def send_byte(self) -> None:
        if not self.body or not self.open:
            return
        try:
            self.sock.send(self.body[:1])
            self.body = self.body[1:]
        except OSError:
            self._close()

    def read(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._close()
            return
        self.received += chunk
        if self.status is None and b"\r\n" in self.received:
            self.status = int(self.received.split(b" ", 2)[1])
            self.answered_s = time.monotonic() - self.opened

    def _close(self) -> None:
        self.closed_s = time.monotonic() - self.opened
        self.sock.close()


def open_slow_upload(
    server: LiveServer, data: bytes, *, key: str | None, sent_at_once: int, declared_extra: int
) -> SlowSocket:
    """Head and the body's first `sent_at_once` bytes now; the rest a byte a tick. The
    Content-Length says `declared_extra` bytes more than the body holds."""
    body = multipart_body(data)
    head = [
        "POST /classify HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {len(body) + declared_extra}",
    ]
    if key is not None:
        head.append(f"Authorization: Bearer {key}")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:sent_at_once])
    sock.setblocking(False)
    return SlowSocket(sock, body[sent_at_once:])


def trickle(sockets: list[SlowSocket], seconds: float) -> None:
    """A byte a tick on every open socket for `seconds`, reading what the server answers;
    then closes the sockets still open (their `closed_s` stays None)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for slow in sockets:
            slow.send_byte()
        tick_end = min(deadline, time.monotonic() + TICK_S)
        while (left := tick_end - time.monotonic()) > 0:
            readable, _, _ = select.select([s.sock for s in sockets if s.open], [], [], left)
            if not readable:
                break
            for slow in sockets:
                if slow.open and slow.sock in readable:
                    slow.read()
    for slow in sockets:
        if slow.open:
            slow.sock.close()
