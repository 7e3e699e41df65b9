"""Fault paths, tried for real against the binary: an upstream that misbehaves (reset, garbage,
a stream cut off, a 429), bodies over the limit from clients that close, a database that is
unreachable at start or goes away while serving, and a disk that fills. Each checks what the
client got and what rasi logged."""
import json
import os
import resource
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_KEY, RASI_BIN, ROOT, Rasi, free_port, wait_for

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


class FaultyUpstream:
    """A TCP server that reads one HTTP request and then does what `mode` says."""

    def __init__(self, mode: str):
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(64)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection):
        connection.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
        while len(body) < length:
            body += connection.recv(65536)
        if self.mode == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif self.mode == "garbage":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n<html>oops</htm")
        elif self.mode == "cut":
            chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "Half an ans"}}]})
            event = f"data: {chunk}\n\n".encode()
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            connection.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            time.sleep(0.2)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()

    def close(self):
        self.server.close()


@pytest.fixture
def faulty(request):
    upstream = FaultyUpstream(request.param)
    yield upstream
    upstream.close()


def logged(rasi: Rasi, interaction_id: str) -> dict:
    response = rasi.api("GET", f"/api/v1/interactions/{interaction_id}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("faulty", ["reset"], indirect=True)
def test_an_upstream_that_resets_the_connection_is_a_502_at_once_and_logged(workdir, faulty):
    rasi = Rasi(workdir, upstream=faulty.url, extra_env={"RASI_UPSTREAM_TIMEOUT": "30"})
    try:
        started = time.monotonic()
        response = rasi.api("POST", "/v1/chat/completions", json=CHAT)
        assert response.status_code == 502, response.text
        assert time.monotonic() - started < 5, "a reset is answered at once, not after the upstream timeout"
        interaction = logged(rasi, response.headers["X-RASI-Interaction"])
        assert "reset" in interaction["error"].lower() and interaction.get("response") is None
    finally:
        rasi.stop()


@pytest.mark.parametrize("faulty", ["garbage"], indirect=True)
def test_a_success_that_is_not_json_is_a_502_with_the_interaction_logged(workdir, faulty):
    rasi = Rasi(workdir, upstream=faulty.url)
    try:
        for path, body in [("/v1/chat/completions", CHAT), ("/v1/responses", {"model": "m", "input": "hello"})]:
            response = rasi.api("POST", path, json=body)
            assert response.status_code == 502, response.text
            assert "not a JSON object" in response.json()["error"]["message"]
            interaction = logged(rasi, response.headers["X-RASI-Interaction"])
            assert "not a JSON object" in interaction["error"] and "<html>" in interaction["error"]
    finally:
        rasi.stop()


@pytest.mark.parametrize("faulty", ["cut"], indirect=True)
def test_a_stream_cut_off_midway_is_logged_with_what_arrived_and_the_break(workdir, faulty):
    rasi = Rasi(workdir, upstream=faulty.url)
    try:
        with httpx.stream("POST", rasi.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as response:
            assert response.status_code == 200
            interaction_id = response.headers["X-RASI-Interaction"]
            received = b""
            try:
                for chunk in response.iter_bytes():
                    received += chunk
            except httpx.HTTPError:
                pass  # the client sees the break too
        assert b"Half an ans" in received
        interaction = wait_for(lambda: (i := logged(rasi, interaction_id)) and i.get("error") and i, what="the break logged")
        assert "stream interrupted" in interaction["error"]
        assert interaction["response"] == "Half an ans"
    finally:
        rasi.stop()


def test_a_body_over_the_limit_gets_413_even_when_the_client_closes_after_sending(rasi):
    # urllib sends Connection: close and writes the whole body before reading the answer.
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 20_000_000}]}).encode()
    request = urllib.request.Request(rasi.url + "/v1/chat/completions", data=body,
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 413
    assert "larger than the limit" in json.loads(refused.value.read())["error"]["message"]
    # And the server goes on serving.
    assert httpx.get(rasi.url + "/healthz").status_code == 200


def test_upstream_rate_limit_headers_reach_the_client(rasi, model):
    model.script([{"when": {"last_user_contains": "busy"}, "reply": {
        "error": {"status": 429, "message": "slow down"},
        "headers": {"Retry-After": "7", "x-ratelimit-remaining-requests": "0", "x-request-id": "req_42"}}}])
    response = rasi.api("POST", "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "busy?"}]})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-request-id"] == "req_42"
    assert "429" in logged(rasi, response.headers["X-RASI-Interaction"])["error"]


def start_failure(workdir: Path, database_url: str) -> tuple[float, str]:
    env = {**os.environ, "RASI_PORT": str(free_port()), "RASI_DATABASE_URL": database_url,
           "RASI_MODEL_DIR": os.environ.get("RASI_MODEL_DIR", str(ROOT / "models" / "all-MiniLM-L6-v2"))}
    started = time.monotonic()
    done = subprocess.run([RASI_BIN, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    return time.monotonic() - started, done.stdout + done.stderr


def test_a_start_that_cannot_reach_its_database_fails_fast_naming_host_cause_and_setting(workdir):
    elapsed, output = start_failure(workdir, "postgres://postgres@127.0.0.1:1/postgres")
    assert elapsed < 10
    assert "127.0.0.1:1" in output and "connection refused" in output and "RASI_DATABASE_URL" in output
    assert "rasi serving" not in output


def test_a_start_naming_a_missing_database_or_wrong_credentials_says_which(workdir):
    server = os.environ.get("RASI_TEST_POSTGRES_URL")
    assert server, "scripts/test starts PostgreSQL for this test"
    base = server.rsplit("/", 1)[0]
    elapsed, output = start_failure(workdir, base + "/no_such_database_here")
    assert elapsed < 10 and '"no_such_database_here" does not exist' in output and "RASI_DATABASE_URL" in output
    host = base.split("@", 1)[1]
    elapsed, output = start_failure(workdir, f"postgres://nobody_here:wrong@{host}/postgres")
    assert elapsed < 10 and 'credentials of user "nobody_here"' in output


def test_postgres_going_away_gives_503_with_retry_after_and_rasi_recovers_by_itself(workdir, model):
    folder = workdir / "pg"
    os.chmod(workdir, 0o755)  # PostgreSQL runs as 'nobody' when the tests run as root
    url = subprocess.run([str(ROOT / "scripts" / "postgres"), "start", str(folder)], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_DATABASE_URL": url})
    try:
        before = rasi.api("POST", "/v1/chat/completions", json=CHAT)
        assert before.status_code == 200
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", str(folder)], check=True)

        def refused():
            response = rasi.api("POST", "/v1/chat/completions", json=CHAT)
            return response if response.status_code == 503 else None
        away = wait_for(refused, timeout=10, what="a 503 while PostgreSQL is away")
        assert away.headers["retry-after"] == "5"
        assert "database is unreachable" in away.json()["error"]["message"]
        started = time.monotonic()
        assert rasi.api("POST", "/v1/chat/completions", json=CHAT).status_code == 503
        assert time.monotonic() - started < 2, "while it is away calls are refused at once"
        health = httpx.get(rasi.url + "/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"

        subprocess.run([str(ROOT / "scripts" / "postgres"), "start", str(folder)], capture_output=True, check=True)
        wait_for(lambda: httpx.get(rasi.url + "/healthz").status_code == 200, timeout=15, what="healthz back")
        after = wait_for(lambda: (r := rasi.api("POST", "/v1/chat/completions", json=CHAT)).status_code == 200 and r,
                         timeout=15, what="calls through again")
        # Nothing acknowledged before is lost.
        assert logged(rasi, before.headers["X-RASI-Interaction"])["request"] == "hello"
        assert logged(rasi, after.headers["X-RASI-Interaction"])["request"] == "hello"
        assert rasi.process.poll() is None
    finally:
        rasi.stop()
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", str(folder)])


def test_a_full_disk_refuses_writes_with_503_keeps_reads_and_recovers(rasi):
    # The disk fills for real: the process's file-size limit is lowered to the database's
    # current size, so SQLite's next growth fails as it would on a full filesystem.
    acknowledged = [rasi.api("POST", "/v1/chat/completions", json=CHAT).headers["X-RASI-Interaction"] for _ in range(3)]
    data = rasi.database.parent
    largest = max(os.path.getsize(data / name) for name in os.listdir(data))
    resource.prlimit(rasi.process.pid, resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))
    try:
        def refused():
            big = {"model": "m", "messages": [{"role": "user", "content": "y" * 50_000}]}
            response = rasi.api("POST", "/v1/chat/completions", json=big)
            return response if response.status_code == 503 else None
        full = wait_for(refused, timeout=20, what="a write refused")
        assert full.json()["error"]["code"] == "store_unavailable"
        assert "disk" in full.json()["error"]["message"] and full.headers["retry-after"] == "5"
        assert rasi.process.poll() is None, "the server stays up"
        listed = rasi.api("GET", "/api/v1/interactions?limit=50")
        assert listed.status_code == 200
        assert set(acknowledged) <= {i["id"] for i in listed.json()["interactions"]}
    finally:
        resource.prlimit(rasi.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    again = rasi.api("POST", "/v1/chat/completions", json=CHAT)
    assert again.status_code == 200
    for interaction_id in acknowledged + [again.headers["X-RASI-Interaction"]]:
        assert logged(rasi, interaction_id)["request"] == "hello"
