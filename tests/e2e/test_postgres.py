"""Scale-out on PostgreSQL: replicas of `rasi serve` sharing one database, and moving up from SQLite."""
import json
from concurrent.futures import ThreadPoolExecutor
import threading
import time

from conftest import Rasi, ScriptedModel, query, wait_for
from test_judge import AGENT_RULES, JUDGE_RULES, LESSON, ask


def replicas(workdir, model, database_url, **env):
    extra = {"RASI_DATABASE_URL": database_url, **env}
    first = Rasi(workdir, upstream=model.url + "/v1", extra_env=extra)
    try:
        second = Rasi(workdir, upstream=model.url + "/v1", extra_env=extra)
    except Exception:
        first.stop()
        raise
    return first, second


def test_two_replicas_share_lessons_feedback_and_the_judge_queue(workdir, model, postgres_url):
    judge = ScriptedModel(workdir)
    judge.script(JUDGE_RULES)
    model.script(AGENT_RULES)
    a, b = replicas(workdir, model, postgres_url, RASI_JUDGE_AUTO="true", RASI_JUDGE_BASE_URL=judge.url + "/v1",
                    RASI_JUDGE_MODEL="judge-model", RASI_JUDGE_CONCURRENCY="4")
    try:
        agent_key = a.create_key("agent")
        on_a = a.openai(agent_key, **{"X-RASI-Agent": "nutrition"})
        on_b = b.openai(agent_key, **{"X-RASI-Agent": "nutrition"})  # a key made through one replica works on the other

        # A lesson created through one replica is injected by the other on the very next request.
        lesson = a.api("POST", "/api/v1/lessons", json={**LESSON, "agent": "nutrition"}).json()
        _, injected, answer = ask(on_b, "How can I fix my gut health? I'm also low on energy all the time.")
        assert injected == lesson["id"] and "magnesium" in answer
        # Deleted through the other, it is gone at once for both.
        assert b.api("DELETE", f"/api/v1/lessons/{lesson['id']}").status_code == 204
        _, injected, answer = ask(on_a, "How can I fix my gut health? I'm also low on energy all the time.")
        assert injected == "" and "magnesium" not in answer

        # Feedback sent to either replica lands once; the same implicit signal sent to both counts once.
        interactions = [ask(on_a if n % 2 else on_b, f"My digestion is off and I feel tired, day {n}")[0] for n in range(6)]
        first = interactions[0]
        a.api("POST", f"/api/v1/interactions/{first}/feedback", key=agent_key, json={"comment": "too short"}).raise_for_status()
        b.api("POST", f"/api/v1/interactions/{first}/feedback", key=agent_key, json={"rating": "up"}).raise_for_status()
        for replica in (a, b):
            replica.api("POST", f"/api/v1/interactions/{first}/feedback", key=agent_key,
                        json={"signal": "escalate", "source": "implicit"}).raise_for_status()
        for replica in (a, b):
            feedback = replica.api("GET", f"/api/v1/interactions/{first}").json()["feedback"]
            assert sorted(((f.get("comment"), f.get("rating"), f.get("signal")) for f in feedback), key=str) == sorted(
                [("too short", None, None), (None, "up", None), (None, None, "escalate")], key=str)

        # Thumbs-down on the others, half through each replica, at once: both replicas' judge
        # queues compete for the jobs, and each interaction is judged exactly once.
        def thumbs_down(replica, interaction):
            replica.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=agent_key,
                        json={"rating": "down", "comment": "nothing about my energy"}).raise_for_status()
        threads = [threading.Thread(target=thumbs_down, args=(a if n % 2 else b, i)) for n, i in enumerate(interactions[1:])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        def all_done():
            jobs = a.api("GET", "/api/v1/jobs").json()["jobs"]
            done = {j["interaction_id"] for j in jobs if j["status"] == "done"}
            return len(done) == len(jobs) and set(interactions) <= done and jobs
        jobs = wait_for(all_done, timeout=60, what="every judge job done")
        judged = [j["interaction_id"] for j in jobs]
        runs = query(postgres_url, "SELECT interaction_id, count(*) FROM judge_runs GROUP BY interaction_id")
        assert sorted(runs) == sorted((i, 1) for i in judged)
        judge_calls = [r for r in judge.requests() if "rasi's judge" in json.dumps(r)]
        assert len(judge_calls) == len(judged)
        proposed = b.api("GET", "/api/v1/lessons?status=proposed&limit=100").json()["lessons"]
        assert sorted(l["source_interaction_id"] for l in proposed) == sorted(judged)
    finally:
        a.stop()
        b.stop()
        judge.stop()


def test_periodic_work_runs_on_one_replica_at_a_time(workdir, model, postgres_url):
    model.script([{"name": "question", "when": {"last_user_contains_any": ["order"]}, "reply": {"content": "Which order number is it?"}}],
                 default={"content": "ok"})
    a, b = replicas(workdir, model, postgres_url, RASI_SWEEP_INTERVAL="1", RASI_ABANDON_AFTER="1",
                    RASI_RETENTION_DAYS="0.0001", RASI_PURGE_INTERVAL="1")
    try:
        agent_key = a.create_key("agent")
        client = a.openai(agent_key, **{"X-RASI-Conversation": "c-1"})
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=[{"role": "user", "content": "where is my order"}])
        asked = raw.headers["X-RASI-Interaction"]

        # The question went unanswered: the sweeper, on whichever replica holds its lease, flags it once.
        def abandoned():
            feedback = b.api("GET", f"/api/v1/interactions/{asked}").json()["feedback"]
            return [f for f in feedback if f.get("signal") == "abandon"]
        assert len(wait_for(abandoned, timeout=20, what="the abandon signal")) == 1

        # Each periodic job has one holder, and it stays the same while both replicas run.
        holders = []
        for _ in range(6):
            holders.append(dict(query(postgres_url, "SELECT name, holder FROM leases WHERE name NOT LIKE 'process:%%'")))
            time.sleep(0.5)
        assert set(holders[0]) == {"abandonment sweep", "retention purge"}
        assert all(h == holders[0] for h in holders)

        # Retention (under nine seconds here) purges the interaction once, through one replica.
        wait_for(lambda: a.api("GET", f"/api/v1/interactions/{asked}").status_code == 404, timeout=30, what="the purge")
        purges = [e for e in a.api("GET", "/api/v1/audit").json()["entries"] if e["action"] == "purge"]
        assert len(purges) == 1 and purges[0]["detail"].startswith("1 interactions")
    finally:
        a.stop()
        b.stop()


def test_migrate_copies_a_sqlite_store_into_postgres_idempotently(workdir, model, postgres_url):
    model.script(AGENT_RULES)
    rasi = Rasi(workdir, upstream=model.url + "/v1")
    try:
        agent_key, reviewer_key = rasi.create_key("agent"), rasi.create_key("reviewer")
        client = rasi.openai(agent_key, **{"X-RASI-Agent": "nutrition"})
        lesson = rasi.api("POST", "/api/v1/lessons", json={**LESSON, "agent": "nutrition"}).json()
        rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json={"confidence": 0.9}).raise_for_status()
        interaction, injected, _ = ask(client, "How can I fix my gut health? I'm also low on energy all the time.")
        assert injected == lesson["id"]
        rasi.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=agent_key, json={"rating": "down", "comment": "meh"}).raise_for_status()
        before = rasi.api("GET", f"/api/v1/interactions/{interaction}").json()
    finally:
        rasi.stop()

    migrate = ["migrate", "--from", f"sqlite:{rasi.database}", "--to", postgres_url]
    first = rasi.cli(*migrate)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in first.stdout.splitlines()[1:] if line.split()[0] in
            ("interactions", "lessons", "lesson_versions", "lesson_embeddings", "feedback", "flags", "api_keys", "injections", "audit_log")}
    assert rows["interactions"] == [1, 1, 0, 1] and rows["lesson_versions"] == [2, 2, 0, 2] and rows["lesson_embeddings"] == [1, 1, 0, 1]
    assert rows["api_keys"][0] == 3 and rows["injections"] == [1, 1, 0, 1]
    assert "verified" in first.stdout
    again = rasi.cli(*migrate)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "interactions               1         0              1       1" in again.stdout

    # The same server, now on PostgreSQL: same keys, same interaction, and the lesson still injected.
    moved = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_DATABASE_URL": postgres_url})
    try:
        after = moved.api("GET", f"/api/v1/interactions/{interaction}").json()
        for field in ("request", "response", "messages", "feedback", "flags", "lessons_injected", "created_at", "steps"):
            assert after[field] == before[field], field
        assert moved.api("GET", f"/api/v1/lessons/{lesson['id']}").json()["version"] == 2
        client = moved.openai(agent_key, **{"X-RASI-Agent": "nutrition"})
        _, injected, answer = ask(client, "What should I eat for better digestion and gut health when my energy is low?")
        assert injected == lesson["id"] and "magnesium" in answer
        # New rows get ids past the copied ones.
        moved.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=agent_key, json={"signal": "escalate", "source": "implicit"}).raise_for_status()
    finally:
        moved.stop()


def test_replicas_agree_on_the_holdout_and_lift_retires_a_lesson_once(workdir, model, postgres_url):
    model.script([], default={"content": "Sure."})
    a, b = replicas(workdir, model, postgres_url, RASI_HOLDOUT="0.5", RASI_LIFT_MIN_EXPOSURES="4", RASI_LIFT_NEGATIVE="thumbs_down")
    try:
        agent_key = a.create_key("agent")
        lesson = a.api("POST", "/api/v1/lessons", json={
            "situation": "Customer asks for a refund for a damaged item", "should_have_done": "Offer a replacement first",
            "correct_behavior": "Offer a replacement first"}).json()["id"]

        def arm(replica, conversation, text):
            raw = replica.openai(agent_key, **{"X-RASI-Conversation": conversation}).chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": text}])
            raw.parse()
            return raw.headers["X-RASI-Lessons"] == lesson, raw.headers["X-RASI-Interaction"]

        # The same conversation lands in the same arm on either replica: the holdout is a function of ids, not of a process.
        treated, withheld = [], []
        for n in range(24):
            on_a, first = arm(a, f"conv-{n}", "I want a refund, my blender arrived broken")
            on_b, second = arm(b, f"conv-{n}", "Refund please: the blender I got is broken")
            assert on_a == on_b, f"conv-{n} flipped arms between replicas"
            (treated if on_a else withheld).append(first)
        assert len(treated) >= 4 and len(withheld) >= 4

        # The lesson hurts. Feedback arrives at both replicas at once; lift retires it exactly once.
        def rate(replica, interaction, rating):
            response = replica.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=agent_key, json={"rating": rating})
            assert response.status_code == 201, response.text
        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(rate, (a, b)[n % 2], i, "down") for n, i in enumerate(treated)]
            jobs += [pool.submit(rate, (b, a)[n % 2], i, "up") for n, i in enumerate(withheld)]
            for job in jobs:
                job.result()
        versions = a.api("GET", f"/api/v1/lessons/{lesson}/versions").json()["versions"]
        assert [v["changed_by"] for v in versions].count("rasi (lift)") == 1 and versions[-1]["status"] == "retired"
        # Both replicas report the same figures and the same trends.
        lifts = [r.api("GET", f"/api/v1/lessons/{lesson}/lift").json() for r in (a, b)]
        assert lifts[0] == lifts[1] and lifts[0]["verdict"] == "hurts"
        assert lifts[0]["treatment"]["negative"] == len(treated) and lifts[0]["control"]["positive"] == len(withheld)
        trends = [r.api("GET", "/api/v1/trends?bucket=day").json()["buckets"] for r in (a, b)]
        assert trends[0] == trends[1] and sum(t["lessons_retired"] for t in trends[0]) == 1
        assert sum(t["interactions"] for t in trends[0]) == 48
    finally:
        a.stop()
        b.stop()
