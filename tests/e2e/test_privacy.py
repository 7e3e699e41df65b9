"""Privacy and hardening: redacted logs, retention, deleting a user's data, the audit log,
rate limits, nesting limits, and acknowledged writes surviving a SIGKILL under load."""
import json
import threading
import time

import httpx

from conftest import ADMIN_KEY, Rasi, wait_for


def test_interaction_logs_are_redacted_at_write_when_configured_and_the_model_still_gets_the_words(workdir, model):
    model.script([], default={"content": "I will e-mail ann@example.com the label."})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_REDACT_INTERACTIONS": "true"})
    try:
        agent = rasi.create_key("agent")
        raw = rasi.openai(agent).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "I'm ann@example.com, card 4111 1111 1111 1111, send a label"}])
        assert "ann@example.com" in json.dumps(model.requests()[-1])  # the upstream gets what the user wrote
        interaction_id = raw.headers["X-RASI-Interaction"]
        rasi.api("POST", f"/api/v1/interactions/{interaction_id}/feedback", key=agent,
                 json={"rating": "down", "comment": "call me on +44 20 7946 0958"}).raise_for_status()
        stored = json.dumps(rasi.api("GET", f"/api/v1/interactions/{interaction_id}").json())
        assert "ann@example.com" not in stored and "4111" not in stored and "7946" not in stored
        logged = rasi.api("GET", f"/api/v1/interactions/{interaction_id}").json()
        assert logged["request"] == "I'm [EMAIL_1], card [CARD_1], send a label"
        assert logged["response"] == "I will e-mail [EMAIL_1] the label."
        assert logged["feedback"][0]["comment"] == "call me on [PHONE_1]"
    finally:
        rasi.stop()


def test_deleting_a_users_data_removes_it_everywhere_at_once_and_is_audited(rasi, model, agent_key, reviewer_key):
    model.script([], default={"content": "ok"})
    for user, text in [("u-1", "refund my zeppelin ticket"), ("u-1", "zeppelin seats please"), ("u-2", "zeppelin schedule")]:
        raw = rasi.openai(agent_key, **{"X-RASI-User": user}).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": text}])
        rasi.api("POST", f"/api/v1/interactions/{raw.headers['X-RASI-Interaction']}/feedback", key=agent_key, json={"rating": "down"})
    assert rasi.api("DELETE", "/api/v1/users/u-1/data", key=reviewer_key).status_code == 403
    deleted = rasi.api("DELETE", "/api/v1/users/u-1/data")
    assert deleted.status_code == 200
    assert deleted.json() == {"user_id": "u-1", "deleted": {"interactions": 2, "feedback": 2, "judge_runs": 0}}
    left = rasi.api("GET", "/api/v1/interactions?q=zeppelin").json()["interactions"]
    assert [i["user_id"] for i in left] == ["u-2"]
    assert [i["user_id"] for i in rasi.api("GET", "/api/v1/interactions?flagged=true").json()["interactions"]] == ["u-2"]
    audit = rasi.api("GET", "/api/v1/audit").json()["entries"]
    assert audit[0]["action"] == "user.delete" and audit[0]["target"] == "u-1" and "2 interactions" in audit[0]["detail"]


def test_retention_purges_old_interactions_keeps_lessons_and_rasi_purge_does_the_same(workdir, model):
    model.script([], default={"content": "ok"})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_RETENTION_DAYS": "0.00002", "RASI_PURGE_INTERVAL": "1"})
    try:
        agent = rasi.create_key("agent")
        first = rasi.api("POST", "/api/v1/interactions", key=agent, json={"request": "where is my parcel"}).json()["id"]
        lesson = rasi.api("POST", "/api/v1/lessons", json={"situation": "parcel questions", "should_have_done": "x", "correct_behavior": "y",
                                                           "source_interaction_id": first}).json()
        # 0.00002 days is under two seconds: the purge service removes it, and only it.
        wait_for(lambda: rasi.api("GET", f"/api/v1/interactions/{first}").status_code == 404, timeout=15, what="the purge")
        assert rasi.api("GET", "/api/v1/interactions?q=parcel").json()["interactions"] == []
        assert rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()["situation"] == "parcel questions"
        assert any(e["action"] == "purge" and e["actor"] == "rasi (retention)" for e in rasi.api("GET", "/api/v1/audit").json()["entries"])
    finally:
        rasi.stop()

    rasi.env.pop("RASI_RETENTION_DAYS")
    rasi.start()
    try:
        agent = rasi.create_key("agent")
        rasi.api("POST", "/api/v1/interactions", key=agent, json={"request": "old one"}).raise_for_status()
        time.sleep(1.5)
        kept = rasi.api("POST", "/api/v1/interactions", key=agent, json={"request": "new one"}).json()["id"]
        done = rasi.cli("purge", "--older-than-days", "0.00001")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("deleted 1 interactions")
        assert [i["id"] for i in rasi.api("GET", "/api/v1/interactions").json()["interactions"]] == [kept]
        assert rasi.cli("purge").returncode != 0  # no period given, none configured
    finally:
        rasi.stop()


def test_the_audit_log_records_key_and_lesson_changes_for_admins_only(rasi, reviewer_key):
    created = rasi.api("POST", "/api/v1/keys", json={"role": "agent", "name": "audited"}).json()["key"]
    rasi.api("DELETE", f"/api/v1/keys/{created['id']}").raise_for_status()
    lesson = rasi.api("POST", "/api/v1/lessons", key=reviewer_key, json={"situation": "s", "should_have_done": "x", "correct_behavior": "y"}).json()
    rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json={"why": "because"}).raise_for_status()
    rasi.api("DELETE", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key).raise_for_status()
    assert rasi.api("GET", "/api/v1/audit", key=reviewer_key).status_code == 403
    entries = rasi.api("GET", "/api/v1/audit").json()["entries"]
    actions = [(e["action"], e["target"]) for e in entries]
    for expected in [("key.create", created["id"]), ("key.revoke", created["id"]), ("lesson.create", lesson["id"]),
                     ("lesson.update", lesson["id"]), ("lesson.delete", lesson["id"])]:
        assert expected in actions
    assert next(e for e in entries if e["action"] == "lesson.delete")["actor"].startswith("e2e reviewer")
    assert next(e for e in entries if e["action"] == "key.create" and e["target"] == created["id"])["actor"].startswith("bootstrap admin")
    assert entries[-1]["actor"] == "rasi (RASI_BOOTSTRAP_ADMIN_KEY)"


def test_a_flooding_key_gets_429_while_other_keys_are_served(workdir, model):
    # A slow refill (one request every 2 s), so the count does not depend on how fast this machine answers.
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_RATE_LIMIT": "0.5", "RASI_RATE_BURST": "5"})
    try:
        flood, calm = rasi.create_key("reviewer"), rasi.create_key("reviewer")
        statuses = [rasi.api("GET", "/api/v1/lessons", key=flood) for _ in range(15)]
        limited = [r for r in statuses if r.status_code == 429]
        assert len(limited) >= 8
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["error"]["code"] == "rate_limited"
        assert rasi.api("GET", "/api/v1/lessons", key=calm).status_code == 200
        time.sleep(2.2)
        assert rasi.api("GET", "/api/v1/lessons", key=flood).status_code == 200
    finally:
        rasi.stop()


def test_deeply_nested_json_is_refused_before_it_is_parsed(rasi, agent_key):
    deep = {"agent": "default", "query": "hello", "extra": json.loads("[" * 100 + "]" * 100)}
    response = rasi.api("POST", "/api/v1/retrieve", key=agent_key, json=deep)
    assert response.status_code == 400 and "nested deeper than 64" in response.json()["error"]["message"]
    shallow = {"agent": "default", "query": "hello", "extra": json.loads("[" * 10 + "]" * 10)}
    assert rasi.api("POST", "/api/v1/retrieve", key=agent_key, json=shallow).status_code == 200


def test_every_acknowledged_write_survives_a_sigkill_under_load(workdir, model):
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_RATE_LIMIT": "0"})
    agent = rasi.create_key("agent")
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def writer(n):
        with httpx.Client(timeout=5) as client:
            i = 0
            while not stop.is_set():
                try:
                    r = client.post(rasi.url + "/api/v1/interactions", headers={"Authorization": f"Bearer {agent}"},
                                    json={"request": f"writer {n} request {i}"})
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["id"])
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acknowledged) >= 150, timeout=30, what="writes under load")
    rasi.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    rasi.start()
    try:
        missing = [i for i in list(acknowledged) if rasi.api("GET", f"/api/v1/interactions/{i}").status_code != 200]
        assert len(acknowledged) >= 150 and missing == []
    finally:
        rasi.stop()


def test_gateway_calls_past_the_in_flight_bound_are_refused_at_once_not_queued(workdir, model):
    model.script([{"when": {"last_user_contains": "slow"}, "reply": {"content": "done", "delay_ms": 1500}}], default={"content": "quick"})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_MAX_IN_FLIGHT": "2"})
    try:
        agent = rasi.create_key("agent")
        body = {"model": "m", "messages": [{"role": "user", "content": "slow please"}]}
        results = []

        def call():
            results.append(rasi.api("POST", "/v1/chat/completions", key=agent, json=body).status_code)

        slow = [threading.Thread(target=call) for _ in range(2)]
        for t in slow:
            t.start()
        time.sleep(0.5)
        refused = rasi.api("POST", "/v1/chat/completions", key=agent, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
        assert rasi.api("GET", "/api/v1/lessons").status_code == 200  # the rest of the API is served meanwhile
        for t in slow:
            t.join(10)
        assert results == [200, 200]
        again = rasi.api("POST", "/v1/chat/completions", key=agent, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert again.status_code == 200
        # A stream holds its place until it ends, then gives it back: more streams than the bound, one after another.
        client = rasi.openai(agent)
        for _ in range(4):
            chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "quick"
    finally:
        rasi.stop()
