"""What one HTTP connection may make the server hold: header size and the time to send headers and body.

uvicorn bounds neither with its C parser (httptools): it accumulates any header size, and its only timeout is
keep-alive between requests, so a client sending a byte a second is held forever (uvicorn has no header-read
timeout). `bounded_protocol` is uvicorn's httptools protocol with three limits added where the bytes arrive:

- the request head (request line and headers) over `max_head_bytes` is answered 431 and the connection closed,
  so memory per connection stays within the limit plus one socket read;
- a head not complete `head_timeout_s` after its first byte (or after the connection opens) is answered 408;
- a body not complete `body_timeout_s` after its head is answered 408 (or, once a response has begun, closed);
- a response sent before the body was read (a 401, a 413) closes the connection instead of reading the rest.

The limits are documented in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

from embedproof.errors import InvalidInputError

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds of one connection (the server's defaults; tests pass short ones)."""

    max_head_bytes: int = MAX_HEAD_BYTES
    head_timeout_s: float = HEAD_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: httptools stops parsing and uvicorn's parser-error path answers (431 here)."""


def _answer(status: int, reason: str, detail: str) -> bytes:
    body = ('{"detail":"' + detail + '"}').encode("ascii")
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


def bounded_protocol(limits: ConnectionLimits = ConnectionLimits()) -> type:
    """uvicorn's httptools protocol with `limits` (a class, given to uvicorn as `http=`)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._head_bytes, self._reading_head, self._body_done = 0, True, True
            self._deadline: asyncio.TimerHandle | None = None
            self._arm(limits.head_timeout_s, self._head_timed_out)

        def _arm(self, seconds: float, callback) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, callback)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(_answer(status, reason, detail))
                self.transport.close()

        def _busy(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _head_timed_out(self) -> None:
            self._deadline = None
            if self._busy():  # a pipelined head behind a running request: finish that one, then close
                self.cycle.keep_alive = False
            else:
                self._refuse(408, "Request Timeout", f"request headers not received within {limits.head_timeout_s:g} s")

        def _body_timed_out(self) -> None:
            self._deadline = None
            if self.cycle is not None and not self.cycle.response_started:
                self._refuse(408, "Request Timeout", f"request body not received within {limits.body_timeout_s:g} s")
            elif not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._reading_head and self._deadline is None:  # the first byte of a new head
                self._arm(limits.head_timeout_s, self._head_timed_out)
            if self._reading_head:
                self._head_bytes += len(data)
            super().data_received(data)  # a parser error, _HeadTooLarge included, comes back as send_400_response
            if self._reading_head and self._head_bytes > limits.max_head_bytes:
                self._too_large()

        def send_400_response(self, msg: str) -> None:
            if self._head_bytes > limits.max_head_bytes:
                self._too_large()
            else:
                self._disarm()
                super().send_400_response(msg)

        def _too_large(self) -> None:
            detail = f"request headers over {limits.max_head_bytes:,} bytes"
            self._refuse(431, "Request Header Fields Too Large", detail)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._reading_head, self._body_done = True, False

        def on_headers_complete(self) -> None:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > limits.max_head_bytes:  # the whole head came in one read: caught here, before the app runs
                self._head_bytes = size
                raise _HeadTooLarge
            self._reading_head, self._head_bytes = False, 0
            self._arm(limits.body_timeout_s, self._body_timed_out)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._body_done, self._reading_head = True, True
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            if not self._body_done:  # answered before the body was read (401, 413): do not read the rest
                self._disarm()
                self.transport.close()
                return
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return BoundedHttpToolsProtocol


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the index loads: a host that is not an address here, or a port in use,
    is one InvalidInputError naming it (uvicorn would log six lines and exit 3). uvicorn serves on this socket."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise InvalidInputError(f"--host: cannot resolve {host!r} ({getattr(exc, 'strerror', None) or exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(f"--port: {port} is already in use on {host}") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InvalidInputError(f"--host: {host} is not an address of this machine") from None
        if exc.errno == errno.EACCES:
            raise InvalidInputError(f"--port: not allowed to listen on {host}:{port} ({exc.strerror})") from None
        raise InvalidInputError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock
