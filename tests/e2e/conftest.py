"""End-to-end fixtures: the real `rasi serve` binary, the scripted model, and clients."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
RASI_BIN = os.environ.get("RASI_BIN", str(ROOT / ".build" / "debug" / "rasi"))
ADMIN_KEY = "rasi_e2e_bootstrap_admin_key_0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout}s:\n{log.read_text()}")


class ScriptedModel:
    """The project's deterministic OpenAI-compatible model, run as `rasi scripted-model`."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "scripted-model.log"
        self.process = subprocess.Popen(
            [RASI_BIN, "scripted-model", "--port", str(self.port)],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        wait_until_healthy(self.url + "/v1/models", self.process, self.log)

    def script(self, rules, default=None):
        body = {"rules": rules}
        if default is not None:
            body["default"] = default
        httpx.put(self.url + "/_scripted/script", json=body).raise_for_status()

    def requests(self):
        return httpx.get(self.url + "/_scripted/requests").json()["requests"]

    def holding(self):
        """The gates a stream is held open on right now."""
        return httpx.get(self.url + "/_scripted/gates").json()["holding"]

    def release(self, gate: str):
        httpx.post(self.url + f"/_scripted/gates/{gate}").raise_for_status()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


class Rasi:
    """A real `rasi serve` process on its own SQLite file."""

    def __init__(self, workdir: Path, upstream: str, extra_env=None):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = workdir / "data" / "rasi.sqlite"
        self.env = {
            **os.environ,
            "RASI_PORT": str(self.port),
            "RASI_DATABASE_URL": f"sqlite:{self.database}",
            "RASI_UPSTREAM_BASE_URL": upstream,
            # The scripted model speaks Anthropic's Messages API too, at its root.
            "RASI_ANTHROPIC_BASE_URL": upstream.removesuffix("/v1"),
            "RASI_UPSTREAM_TIMEOUT": "10",
            "RASI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "RASI_MODEL_DIR": os.environ.get("RASI_MODEL_DIR", str(ROOT / "models" / "all-MiniLM-L6-v2")),
            # The background judge is switched on by the tests about it, so that no other test's
            # scripted model receives judge calls it did not expect.
            "RASI_JUDGE_AUTO": "false",
            **(extra_env or {}),
        }
        self.process = None
        self.start()

    def start(self):
        self.log = self.workdir / f"rasi-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen([RASI_BIN, "serve"], env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        wait_until_healthy(self.url + "/healthz", self.process, self.log)

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cli(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([RASI_BIN, *args], env=self.env, capture_output=True, text=True, timeout=60)

    def api(self, method: str, path: str, key: str = ADMIN_KEY, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def create_key(self, role: str) -> str:
        response = self.api("POST", "/api/v1/keys", json={"role": role, "name": f"e2e {role}"})
        assert response.status_code == 201, response.text
        return response.json()["secret"]

    def openai(self, key: str, **headers) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, default_headers=headers, max_retries=0, timeout=20)


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="rasi-e2e-") as d:
        yield Path(d)


@pytest.fixture
def model(workdir):
    m = ScriptedModel(workdir)
    yield m
    m.stop()


@pytest.fixture
def rasi(workdir, model):
    r = Rasi(workdir, upstream=model.url + "/v1")
    yield r
    r.stop()


@pytest.fixture
def agent_key(rasi):
    return rasi.create_key("agent")


@pytest.fixture
def reviewer_key(rasi):
    return rasi.create_key("reviewer")


def wait_for(condition, timeout: float = 20, interval: float = 0.1, what: str = "condition"):
    """Polls until `condition()` returns something truthy, and returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def injected_lessons(upstream_request) -> str:
    """The lessons block rasi placed in a request the upstream received, whatever its API, or ''.
    rasi puts it in a system message (Chat Completions), a system input item (Responses) or
    `system` (Messages)."""
    candidates = [m.get("content") for m in upstream_request.get("messages", []) if m.get("role") == "system"]
    if isinstance(upstream_request.get("input"), list):
        candidates += [i.get("content") for i in upstream_request["input"] if i.get("role") == "system"]
    system = upstream_request.get("system")
    candidates += [b.get("text") for b in system] if isinstance(system, list) else [system]
    return next((c for c in candidates if isinstance(c, str) and "<rasi-lessons>" in c), "")


def collect(response, stream):
    """The assistant's content and tool calls (as OpenAI message dicts) from a chat completion,
    whole or streamed."""
    if not stream:
        message = response.choices[0].message
        calls = [c.model_dump() for c in (message.tool_calls or [])]
        return message.content or "", [{"id": c["id"], "type": "function", "function": c["function"]} for c in calls]
    content, calls = "", {}
    for chunk in response:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            entry["id"] = call.id or entry["id"]
            if call.function:
                entry["function"]["name"] += call.function.name or ""
                entry["function"]["arguments"] += call.function.arguments or ""
    return content, [calls[i] for i in sorted(calls)]


@pytest.fixture
def postgres_url():
    """A fresh database on the test PostgreSQL (scripts/test starts one), dropped afterwards."""
    import uuid
    import psycopg
    server = os.environ.get("RASI_TEST_POSTGRES_URL")
    assert server, "RASI_TEST_POSTGRES_URL is not set: scripts/test starts PostgreSQL for these tests"
    name = "rasi_e2e_" + uuid.uuid4().hex
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def query(database_url: str, sql: str, *params):
    """Rows of one query, read straight from PostgreSQL."""
    import psycopg
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql, params).fetchall()
