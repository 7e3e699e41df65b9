"""Clients that hold connections: sockets that send nothing, a head trickled a byte at a time, and
a body trickled a byte at a time are closed by the server after the idle or body read timeout,
while ordinary calls go on being served."""
import select
import socket
import threading
import time

import httpx
import pytest

from conftest import Rasi

TIMEOUT = 2  # seconds, both the idle and the body read timeout
SLACK = 2  # seconds past the timeout within which the server must have closed
IDLE, HEAD_TRICKLERS, BODY_TRICKLERS = 200, 20, 50
TRICKLE_EVERY = 0.5  # seconds between two bytes


class SlowClient:
    """One raw connection, sending `script` a byte every `TRICKLE_EVERY` seconds (nothing if empty)."""

    def __init__(self, port: int, script: bytes = b"", prefix: bytes = b""):
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.sendall(prefix)
        self.socket.setblocking(False)
        self.opened = time.monotonic()
        self.script = script
        self.sent = 0
        self.received = b""
        self.closed_after = None  # seconds from opening to the server's close

    def trickle(self):
        if self.closed_after is not None or self.received or self.sent >= len(self.script):
            return
        try:
            self.socket.send(self.script[self.sent:self.sent + 1])
            self.sent += 1
        except OSError:  # reset: the server closed while a byte was in flight
            self.close()

    def read(self):
        try:
            data = self.socket.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.received += data
        else:
            self.close()

    def close(self):
        if self.closed_after is None:
            self.closed_after = time.monotonic() - self.opened
            self.socket.close()


def watch(clients, until: float):
    """Trickles every client's script and notes when the server closes each, until all are closed."""
    next_byte = time.monotonic()
    while time.monotonic() < until:
        open_clients = [c for c in clients if c.closed_after is None]
        if not open_clients:
            return
        if time.monotonic() >= next_byte:
            for client in open_clients:
                client.trickle()
            next_byte += TRICKLE_EVERY
        readable, _, _ = select.select([c.socket for c in open_clients if c.closed_after is None], [], [], 0.05)
        for client in open_clients:
            if client.closed_after is None and client.socket in readable:
                client.read()


@pytest.fixture
def slow_rasi(workdir, model):
    r = Rasi(workdir, upstream=model.url + "/v1",
             extra_env={"RASI_IDLE_TIMEOUT": str(TIMEOUT), "RASI_BODY_READ_TIMEOUT": str(TIMEOUT), "RASI_EMBEDDER": "none"})
    yield r
    r.stop()


def test_connections_held_by_slow_clients_are_closed_and_others_still_served(slow_rasi, model):
    model.script([], default={"content": "ok"})
    key = slow_rasi.create_key("agent")
    body = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 200 + b'"}]}'
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    # Given hundreds of connections that send nothing, a head a byte at a time, or a body a byte at a time,
    idle = [SlowClient(slow_rasi.port) for _ in range(IDLE)]
    head_tricklers = [SlowClient(slow_rasi.port, script=head) for _ in range(HEAD_TRICKLERS)]
    body_tricklers = [SlowClient(slow_rasi.port, script=body, prefix=head) for _ in range(BODY_TRICKLERS)]
    clients = idle + head_tricklers + body_tricklers
    watcher = threading.Thread(target=watch, args=(clients, time.monotonic() + TIMEOUT + SLACK + 3))
    watcher.start()
    try:
        # when ordinary clients call while they are held, the calls are served at once,
        time.sleep(0.5)
        assert all(c.closed_after is None for c in clients), "closed before the timeout"
        with httpx.Client(base_url=slow_rasi.url, timeout=5) as client:
            for _ in range(5):
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                chat = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                   json={"model": "m", "messages": [{"role": "user", "content": "hello"}]})
                assert chat.status_code == 200, chat.text
                assert chat.json()["choices"][0]["message"]["content"] == "ok"
                assert time.monotonic() - started < 1
    finally:
        watcher.join()

    # and the server closes every held connection within its timeout, plus slack.
    for group, name in [(idle, "idle"), (head_tricklers, "head trickling"), (body_tricklers, "body trickling")]:
        times = sorted(c.closed_after for c in group if c.closed_after is not None)
        print(f"{name}: {len(times)}/{len(group)} closed, after {times[0]:.2f}s to {times[-1]:.2f}s" if times else f"{name}: none closed")
        assert len(times) == len(group), f"{len(group) - len(times)} {name} connections still open"
        assert TIMEOUT - 0.5 <= times[0] and times[-1] <= TIMEOUT + SLACK, (name, times[0], times[-1])
    # A body trickled past the deadline is answered 408 (a reset may overtake the answer), a head never completed gets nothing.
    answered = [c.received.split(b"\r\n", 1)[0] for c in body_tricklers if c.received]
    assert answered and all(line == b"HTTP/1.1 408 Request Timeout" for line in answered), answered
    assert all(b"connection: close" in c.received.lower() for c in body_tricklers if c.received)
    assert not any(c.received for c in idle + head_tricklers)
    print(f"body trickling: {len(answered)}/{len(body_tricklers)} read the 408 before the close")
    # Afterwards the server still answers.
    assert httpx.get(slow_rasi.url + "/healthz", timeout=5).status_code == 200
