"""Keys and roles, bad input, and durability of acknowledged writes, against the real binary."""
import json

import pytest

from conftest import ADMIN_KEY


def test_healthz_is_open_and_everything_else_needs_a_valid_key(rasi):
    assert rasi.api("GET", "/healthz", key=None).status_code == 200
    for method, path in [("GET", "/api/v1/lessons"), ("POST", "/v1/chat/completions"), ("GET", "/api/v1/keys")]:
        missing = rasi.api(method, path, key=None)
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        assert rasi.api(method, path, key="rasi_not_a_real_key").status_code == 401


def test_roles_are_enforced(rasi, agent_key, reviewer_key):
    # An agent may log and retrieve, but not read the review side.
    assert rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={"query": "x"}).status_code == 200
    forbidden = rasi.api("GET", "/api/v1/interactions", key=agent_key)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["type"] == "permission_error"
    assert rasi.api("POST", "/api/v1/lessons", key=agent_key, json={}).status_code == 403
    # A reviewer reads interactions and writes lessons, but does not manage keys.
    assert rasi.api("GET", "/api/v1/interactions", key=reviewer_key).status_code == 200
    assert rasi.api("GET", "/api/v1/keys", key=reviewer_key).status_code == 403
    assert rasi.api("POST", "/api/v1/keys", key=reviewer_key, json={"role": "admin"}).status_code == 403


def test_keys_are_listed_without_secrets_and_revocation_is_immediate(rasi, agent_key):
    listed = rasi.api("GET", "/api/v1/keys").json()["keys"]
    assert {k["role"] for k in listed} == {"admin", "agent"}
    assert agent_key not in json.dumps(listed) and ADMIN_KEY not in json.dumps(listed)
    agent = next(k for k in listed if k["role"] == "agent")
    assert agent_key.startswith(agent["prefix"])

    assert rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={"query": "x"}).status_code == 200
    assert rasi.api("DELETE", f"/api/v1/keys/{agent['id']}").status_code == 204
    assert rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={"query": "x"}).status_code == 401


def test_keys_are_stored_hashed(rasi, agent_key):
    rasi.stop()
    files = [rasi.database, rasi.database.with_name("rasi.sqlite-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert len(raw) > 0
    assert agent_key.encode() not in raw and ADMIN_KEY.encode() not in raw


def test_keys_create_command_makes_a_working_key(rasi):
    for role in ["agent", "reviewer", "admin"]:
        made = rasi.cli("keys", "create", "--role", role, "--name", f"cli {role}")
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip()
        assert secret.startswith("rasi_")
        expected = 200 if role != "agent" else 403
        assert rasi.api("GET", "/api/v1/lessons", key=secret).status_code == expected
    bad = rasi.cli("keys", "create", "--role", "root")
    assert bad.returncode != 0 and "agent, reviewer or admin" in bad.stderr


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/lessons", {"should_have_done": "x", "correct_behavior": "y"}, "situation"),
    ("/api/v1/lessons", {"situation": 5, "should_have_done": "x", "correct_behavior": "y"}, "situation"),
    ("/api/v1/lessons", {"situation": "s", "should_have_done": "x", "correct_behavior": "y", "polarity": "neutral"}, "polarity"),
    ("/api/v1/lessons", {"situation": "s", "should_have_done": "x", "correct_behavior": "y", "confidence": 3}, "confidence"),
    ("/api/v1/lessons", {"situation": "s" * 2001, "should_have_done": "x", "correct_behavior": "y"}, "situation"),
    ("/api/v1/interactions", {"agent": "a"}, "request"),
    ("/api/v1/interactions", {"request": "r", "steps": [{"kind": "dance"}]}, "steps[0].kind"),
    ("/api/v1/retrieve", {"query": "q", "k": 0}, "k"),
    ("/v1/chat/completions", {"model": "m"}, "messages"),
    ("/v1/chat/completions", {"model": "m", "messages": "hi"}, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"content": "hi"}]}, "messages[0].role"),
    ("/v1/chat/completions", {"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}, "stream"),
])
def test_wrong_fields_are_400_naming_the_field(rasi, path, body, field):
    response = rasi.api("POST", path, json=body)
    assert response.status_code == 400, response.text
    assert f"`{field}`" in response.json()["error"]["message"]


def test_malformed_json_oversize_and_unknown_ids(rasi, model):
    malformed = rasi.api("POST", "/api/v1/lessons", content=b'{"situation": ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]["message"]

    huge = {"model": "m", "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    assert rasi.api("POST", "/v1/chat/completions", json=huge).status_code == 413
    assert model.requests() == [], "an oversize request never reaches the upstream"

    assert rasi.api("GET", "/api/v1/interactions/int_unknown").status_code == 404
    assert rasi.api("GET", "/api/v1/lessons/les_unknown").status_code == 404
    assert rasi.api("PATCH", "/api/v1/lessons/les_unknown", json={"why": "x"}).status_code == 404
    assert rasi.api("DELETE", "/api/v1/lessons/les_unknown").status_code == 404
    assert rasi.api("POST", "/api/v1/interactions/int_unknown/feedback", json={"rating": "up"}).status_code == 404
    assert rasi.api("POST", "/api/v1/interactions/int_unknown/lessons", json={"should_have_done": "x", "correct_behavior": "y"}).status_code == 404
    assert rasi.api("DELETE", "/api/v1/keys/key_unknown").status_code == 404


def test_feedback_needs_rating_comment_or_signal(rasi):
    interaction = rasi.api("POST", "/api/v1/interactions", json={"request": "hi", "response": "hello"}).json()
    empty = rasi.api("POST", f"/api/v1/interactions/{interaction['id']}/feedback", json={})
    assert empty.status_code == 400 and "rating" in empty.json()["error"]["message"]
    bad = rasi.api("POST", f"/api/v1/interactions/{interaction['id']}/feedback", json={"rating": "meh"})
    assert bad.status_code == 400 and "`rating`" in bad.json()["error"]["message"]
    ok = rasi.api("POST", f"/api/v1/interactions/{interaction['id']}/feedback", json={"signal": "escalate", "source": "implicit"})
    assert ok.status_code == 201
    logged = rasi.api("GET", f"/api/v1/interactions/{interaction['id']}").json()
    assert [f["signal"] for f in logged["feedback"]] == ["escalate"]
    assert [f["reason"] for f in logged["flags"]] == ["escalated to a human"]


def test_interaction_list_filters_and_pages(rasi):
    ids = []
    for i in range(5):
        body = {"agent": "a" if i % 2 == 0 else "b", "request": f"question number {i} about refunds" if i < 3 else f"question {i} about shipping",
                "topic": "billing" if i < 3 else "delivery"}
        ids.append(rasi.api("POST", "/api/v1/interactions", json=body).json()["id"])
    rasi.api("POST", f"/api/v1/interactions/{ids[1]}/feedback", json={"rating": "down"})
    rasi.api("POST", f"/api/v1/interactions/{ids[2]}/feedback", json={"rating": "up"})

    def listed(query):
        response = rasi.api("GET", "/api/v1/interactions?" + query)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["interactions"]]

    assert listed("") == ids[::-1]
    assert listed("agent=a") == [ids[4], ids[2], ids[0]]
    assert listed("flagged=true") == [ids[1]]
    assert listed("feedback=up") == [ids[2]]
    assert listed("feedback=none") == [ids[4], ids[3], ids[0]]
    assert listed("topic=delivery") == [ids[4], ids[3]]
    assert listed("q=refunds") == [ids[2], ids[1], ids[0]]
    first = rasi.api("GET", "/api/v1/interactions?limit=2").json()
    assert [i["id"] for i in first["interactions"]] == [ids[4], ids[3]]
    second = rasi.api("GET", f"/api/v1/interactions?limit=2&cursor={first['next_cursor']}").json()
    assert [i["id"] for i in second["interactions"]] == [ids[2], ids[1]]
    assert rasi.api("GET", "/api/v1/interactions?flagged=maybe").status_code == 400
    assert rasi.api("GET", "/api/v1/interactions?limit=0").status_code == 400


def test_lessons_are_redacted_before_they_are_stored(rasi):
    created = rasi.api("POST", "/api/v1/lessons", json={
        "situation": "Customer jane.doe@example.com asks to change her address",
        "did": "Repeated the address back to jane.doe@example.com and called +44 20 7946 0958",
        "should_have_done": "Verify identity first", "correct_behavior": "Ask for the order number before any change",
    }).json()
    assert "example.com" not in json.dumps(created)
    assert created["situation"] == "Customer [EMAIL_1] asks to change her address"
    assert "[EMAIL_1]" in created["did"] and "[PHONE_1]" in created["did"]


def test_acknowledged_writes_survive_sigkill(rasi, model, agent_key):
    # Each write is acknowledged with a 2xx, then the server is killed without warning.
    model.script([], default={"content": "ok"})
    chat = rasi.api("POST", "/v1/chat/completions", key=agent_key,
                    json={"model": "m", "messages": [{"role": "user", "content": "remember me"}]})
    assert chat.status_code == 200
    interaction_id = chat.headers["X-RASI-Interaction"]
    feedback = rasi.api("POST", f"/api/v1/interactions/{interaction_id}/feedback", key=agent_key, json={"rating": "down"})
    assert feedback.status_code == 201
    lesson = rasi.api("POST", f"/api/v1/interactions/{interaction_id}/lessons",
                      json={"should_have_done": "remember", "correct_behavior": "store the fact"})
    assert lesson.status_code == 201
    rasi.kill9()

    rasi.start()
    logged = rasi.api("GET", f"/api/v1/interactions/{interaction_id}")
    assert logged.status_code == 200
    assert logged.json()["response"] == "ok"
    assert [f["rating"] for f in logged.json()["feedback"]] == ["down"]
    assert rasi.api("GET", f"/api/v1/lessons/{lesson.json()['id']}").status_code == 200
