"""Connection limits (server/limits.py), over raw sockets against uvicorn on 127.0.0.1 with short timeouts.

Each case is bounded: sockets have timeouts, loops have a fixed number of steps, and the server stops at the end.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

pytest.importorskip("httptools")
uvicorn = pytest.importorskip("uvicorn")

from embedproof.errors import InvalidInputError  # noqa: E402
from embedproof.server.asgi import Guard  # noqa: E402
from embedproof.server.limits import ConnectionLimits, bounded_protocol, listening_socket  # noqa: E402

LIMITS = ConnectionLimits(max_head_bytes=8 * 1024, head_timeout_s=1.0, body_timeout_s=1.0)


async def echo(scope, receive, send):
    """Reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def server(app=echo, limits=LIMITS):
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", http=bounded_protocol(limits), lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not instance.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
        sock.close()


def answer(conn: socket.socket, seconds: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (or `seconds` pass)."""
    conn.settimeout(seconds)
    chunks = []
    end = time.time() + seconds
    while time.time() < end:
        try:
            chunk = conn.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def test_a_normal_request_passes_and_a_head_past_the_limit_is_431():
    with server() as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc")
            response = answer(conn)
        assert status(response) == 200 and response.endswith(b"3")
        for pieces in (1, 40):  # the whole head in one write, and in many (each read counted as it arrives)
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nhost: a\r\n")
                filler = b"x-filler: " + b"a" * (20 * 1024) + b"\r\n"
                step = len(filler) // pieces + 1
                try:
                    for i in range(0, len(filler), step):
                        conn.sendall(filler[i : i + step])
                    conn.sendall(b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered and closed before the rest was sent
                response = answer(conn)
            assert status(response) == 431, response[:200]
            assert b"8,192" in response


def test_a_head_sent_too_slowly_or_never_is_408_within_the_timeout():
    with server() as port:
        with socket.create_connection(("127.0.0.1", port)) as idle:
            started = time.time()
            response = answer(idle, 5)
            assert status(response) == 408 and time.time() - started < 4
        with socket.create_connection(("127.0.0.1", port)) as slow:
            started = time.time()
            closed = False
            for byte in b"GET / HTTP/1.1\r\nhost: a\r\nx-slow: " + b"a" * 40:  # one byte every 0.1 s: 7 s in all
                try:
                    slow.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(0.1)
                if time.time() - started > 3:
                    break
            response = answer(slow, 3)
            assert closed or status(response) == 408
            assert time.time() - started < 5


def test_a_body_sent_too_slowly_is_408():
    with server() as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nab")
            started = time.time()
            response = answer(conn, 5)
        assert status(response) == 408 and b"body" in response and time.time() - started < 4


def test_with_an_api_key_the_401_comes_before_the_body_is_read_and_closes():
    app = Guard(echo, api_key="secret", max_bytes=10**9)
    with server(app, ConnectionLimits(max_head_bytes=8 * 1024, head_timeout_s=5, body_timeout_s=5)) as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"POST /search HTTP/1.1\r\nhost: a\r\ncontent-length: 500000000\r\n\r\n")
            started = time.time()
            response = answer(conn, 4)  # the server closes: the 500 MB body is never waited for
        assert status(response) == 401 and time.time() - started < 3


def test_a_refused_key_keeps_the_connection_when_the_body_is_small():
    """A small body still arriving when the key is refused is read first, so the client's next request on the same
    connection is answered (answering first would close the connection under it)."""
    app = Guard(echo, api_key="secret", max_bytes=10**6)
    with server(app) as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"POST /search HTTP/1.1\r\nhost: a\r\ncontent-length: 14\r\n\r\n")
            time.sleep(0.3)  # the head alone: the body comes later, as on a slow link
            conn.sendall(b'{"query": "x"}')
            conn.sendall(b"POST /search HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            response = answer(conn)
        assert response.count(b"HTTP/1.1 401") == 2, response


def test_a_port_in_use_or_a_bad_host_is_one_named_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(InvalidInputError, match=rf"--port: {port} is already in use"):
            listening_socket("127.0.0.1", port)
    for host, message in (("no such host.invalid", "--host: cannot resolve"), ("192.0.2.1", "--host: 192.0.2.1 is")):
        with pytest.raises(InvalidInputError, match=message):
            listening_socket(host, 0)
