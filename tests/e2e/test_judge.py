"""The judge agent: the scripted model acts as the agent and, on its own port, as the judge."""
import json

import httpx

from conftest import Rasi, ScriptedModel, wait_for

AGENT_RULES = [
    {"name": "with lesson", "when": {"last_user_contains_any": ["gut", "digest"], "prompt_contains": "minerals"},
     "reply": {"content": "Besides fibre, check magnesium, zinc and iron: mineral gaps often cause low energy."}},
    {"name": "without lesson", "when": {"last_user_contains_any": ["gut", "digest"]},
     "reply": {"content": "Eat more fibre and fermented foods."}},
]

LESSON = {
    "situation": "User asks about gut health together with low energy or fatigue",
    "did": "Recommended fibre and fermented foods only",
    "should_have_done": "Consider minerals as well as fibre",
    "why": "Magnesium, zinc and iron deficiencies commonly cause both digestive trouble and fatigue",
    "correct_behavior": "Mention minerals such as magnesium, zinc and iron, and ask about the user's diet",
    "topic": "nutrition", "confidence": 0.85,
}


def verdict(lesson=LESSON, outcome="problem"):
    return json.dumps({
        "verdict": outcome, "summary": "The answer ignored the fatigue.",
        "rubric": [{"item": "tools", "score": 5, "comment": "No tool was needed."},
                   {"item": "reasoning", "score": 2, "comment": "Fatigue was ignored."},
                   {"item": "need", "score": 2, "comment": "The user needed energy advice too."}],
        "lesson": lesson})


JUDGE_RULES = [{"name": "judge", "when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict()}}]


def ask(client, text):
    raw = client.chat.completions.with_raw_response.create(model="scripted", messages=[{"role": "user", "content": text}])
    return raw.headers["X-RASI-Interaction"], raw.headers["X-RASI-Lessons"], raw.parse().choices[0].message.content


def lessons_from(rasi, interaction_id):
    lessons = rasi.api("GET", "/api/v1/lessons?limit=200").json()["lessons"]
    return [lesson for lesson in lessons if lesson["source_interaction_id"] == interaction_id]


def judge_runs(rasi, interaction_id):
    return rasi.api("GET", f"/api/v1/interactions/{interaction_id}/judge").json()["runs"]


def test_thumbs_down_flows_to_flag_judge_proposed_lesson_approval_and_injection(workdir, model):
    judge = ScriptedModel(workdir)
    judge.script(JUDGE_RULES)
    model.script(AGENT_RULES)
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={
        "RASI_JUDGE_AUTO": "true", "RASI_JUDGE_BASE_URL": judge.url + "/v1", "RASI_JUDGE_MODEL": "judge-model"})
    try:
        agent_key, reviewer_key = rasi.create_key("agent"), rasi.create_key("reviewer")
        client = rasi.openai(agent_key, **{"X-RASI-Agent": "nutrition"})
        first, _, answer = ask(client, "How can I fix my gut health? I'm also low on energy all the time.")
        assert "magnesium" not in answer

        rasi.api("POST", f"/api/v1/interactions/{first}/feedback", key=agent_key,
                 json={"rating": "down", "comment": "nothing about my energy"}).raise_for_status()
        proposed = wait_for(lambda: lessons_from(rasi, first), what="the judge's proposed lesson")
        lesson = proposed[0]
        assert len(proposed) == 1
        assert lesson["status"] == "proposed" and lesson["agent"] == "nutrition"
        assert lesson["author"] == "judge (judge-model)"
        assert lesson["correct_behavior"] == LESSON["correct_behavior"]

        # The run is logged with what the judge saw and said.
        runs = judge_runs(rasi, first)
        assert [r["status"] for r in runs] == ["ok"]
        assert runs[0]["model"] == "judge-model" and runs[0]["lesson_id"] == lesson["id"]
        assert runs[0]["tokens"]["total"] > 0
        trace = runs[0]["prompt"][-1]["content"]
        assert "Eat more fibre and fermented foods." in trace and "nothing about my energy" in trace
        assert runs[0]["verdict"]["verdict"] == "problem"
        jobs = rasi.api("GET", "/api/v1/jobs").json()["jobs"]
        assert [(j["interaction_id"], j["status"]) for j in jobs] == [(first, "done")]
        metrics = rasi.api("GET", "/metrics").text
        assert 'rasi_judge_runs_total{status="ok"} 1' in metrics
        assert 'rasi_flags_raised_total{rule="thumbs_down"} 1' in metrics
        # The judge's endpoint got the call, not the agent's.
        assert any("rasi's judge" in json.dumps(r) for r in judge.requests())
        assert not any("rasi's judge" in json.dumps(r) for r in model.requests())

        # Proposed is not live.
        _, injected, answer = ask(client, "What should I eat for better digestion and gut health when my energy is low?")
        assert injected == "" and "magnesium" not in answer

        # A reviewer approves; the next similar request gets it.
        approved = rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json={"status": "active"})
        assert approved.status_code == 200, approved.text
        _, injected, answer = ask(client, "What should I eat for better digestion and gut health when my energy is low?")
        assert injected == lesson["id"]
        assert "magnesium" in answer
    finally:
        rasi.stop()
        judge.stop()


def test_judge_on_demand_returns_the_verdict_and_the_proposal(rasi, model, agent_key, reviewer_key):
    model.script(JUDGE_RULES + AGENT_RULES)
    client = rasi.openai(agent_key)
    interaction, _, _ = ask(client, "My gut is upset and I am always tired, what should I eat?")
    response = rasi.api("POST", f"/api/v1/interactions/{interaction}/judge", key=reviewer_key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"]["verdict"] == "problem"
    assert [s["item"] for s in body["verdict"]["rubric"]] == ["tools", "reasoning", "need"]
    assert body["lesson"]["status"] == "proposed"
    assert body["lesson"]["source_interaction_id"] == interaction
    assert body["run"]["lesson_id"] == body["lesson"]["id"]
    # An agent key may not run the judge.
    assert rasi.api("POST", f"/api/v1/interactions/{interaction}/judge", key=agent_key).status_code == 403
    assert rasi.api("POST", "/api/v1/interactions/int_unknown/judge", key=reviewer_key).status_code == 404


def test_malformed_judge_output_is_retried_with_the_error_then_recorded_as_a_failure(rasi, model, agent_key, reviewer_key):
    # Invalid at first; valid once the model is shown what was wrong.
    model.script([
        {"when": {"prompt_contains": ["rasi's judge", "was not valid"]}, "reply": {"content": "```json\n" + verdict() + "\n```"}},
        {"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": "The agent did fine, I think."}},
    ] + AGENT_RULES)
    client = rasi.openai(agent_key)
    interaction, _, _ = ask(client, "How can I fix my gut health? I'm also low on energy all the time.")
    response = rasi.api("POST", f"/api/v1/interactions/{interaction}/judge", key=reviewer_key)
    assert response.status_code == 200, response.text
    assert len(response.json()["run"]["outputs"]) == 2
    assert "not a JSON object" in response.json()["run"]["prompt"][-1]["content"]

    # Invalid every time: a judge failure, logged, and never a lesson.
    bad_lesson = dict(LESSON, correct_behavior="")
    model.script([{"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict(bad_lesson)}}] + AGENT_RULES)
    other, _, _ = ask(client, "What should I eat for my gut? Energy is low.")
    before = len(rasi.api("GET", "/api/v1/lessons?limit=200").json()["lessons"])
    failed = rasi.api("POST", f"/api/v1/interactions/{other}/judge", key=reviewer_key)
    assert failed.status_code == 502
    assert "lesson.correct_behavior" in failed.json()["error"]["message"]
    runs = judge_runs(rasi, other)
    assert [r["status"] for r in runs] == ["invalid"] and runs[0].get("verdict") is None and len(runs[0]["outputs"]) == 2
    assert len(rasi.api("GET", "/api/v1/lessons?limit=200").json()["lessons"]) == before


def test_an_unreachable_judge_is_retried_with_backoff_then_the_job_fails(workdir, model):
    model.script(AGENT_RULES)
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={
        "RASI_JUDGE_AUTO": "true", "RASI_JUDGE_BASE_URL": dead, "RASI_JUDGE_MODEL": "j",
        "RASI_JUDGE_MAX_TRIES": "3", "RASI_JUDGE_BACKOFF": "0.3", "RASI_UPSTREAM_CONNECT_TIMEOUT": "1"})
    try:
        key = rasi.create_key("agent")
        interaction, _, _ = ask(rasi.openai(key), "My gut hurts and I am tired")
        rasi.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=key, json={"rating": "down"}).raise_for_status()
        job = wait_for(lambda: [j for j in rasi.api("GET", "/api/v1/jobs?status=failed").json()["jobs"]], what="the failed job")[0]
        assert job["attempts"] == 3 and "judge's model failed" in job["last_error"]
        assert [r["status"] for r in judge_runs(rasi, interaction)] == ["error", "error", "error"]
        assert lessons_from(rasi, interaction) == []
    finally:
        rasi.stop()


def test_a_restart_mid_queue_loses_and_duplicates_nothing(workdir, model):
    slow = [{"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict(), "delay_ms": 700}}]
    model.script(slow + AGENT_RULES)
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_JUDGE_AUTO": "true", "RASI_JUDGE_CONCURRENCY": "1"})
    try:
        key = rasi.create_key("agent")
        client = rasi.openai(key)
        flagged = []
        for n in range(4):
            interaction, _, _ = ask(client, f"Question {n}: what helps my gut and my energy?")
            rasi.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=key, json={"rating": "down"}).raise_for_status()
            flagged.append(interaction)

        def judged():
            return sum(1 for i in flagged if judge_runs(rasi, i))
        wait_for(lambda: judged() >= 1, what="the first judge run")
        rasi.kill9()  # with the next job held mid-run
        rasi.start()
        wait_for(lambda: judged() == 4, timeout=30, what="every job to finish after the restart")
        assert "left running by an earlier process are queued again" in rasi.log.read_text()
        # The job cut off by the kill ran again (five judge calls for four jobs), and counted once.
        assert sum(1 for r in model.requests() if "rasi's judge" in json.dumps(r)) == 5
        wait_for(lambda: len(rasi.api("GET", "/api/v1/jobs?status=done").json()["jobs"]) == 4, what="every job done")

        for interaction in flagged:
            assert [r["status"] for r in judge_runs(rasi, interaction)] == ["ok"]
            assert len(lessons_from(rasi, interaction)) == 1
        jobs = rasi.api("GET", "/api/v1/jobs").json()["jobs"]
        assert sorted(j["interaction_id"] for j in jobs) == sorted(flagged)
        assert {j["status"] for j in jobs} == {"done"}
    finally:
        rasi.stop()


def _closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_graceful_stop_puts_the_job_in_flight_back_and_the_next_start_finishes_it(workdir, model):
    model.script([{"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict(), "delay_ms": 5000}}] + AGENT_RULES)
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_JUDGE_AUTO": "true"})
    try:
        key = rasi.create_key("agent")
        interaction, _, _ = ask(rasi.openai(key), "My gut hurts and I am tired all day")
        rasi.api("POST", f"/api/v1/interactions/{interaction}/feedback", key=key, json={"rating": "down"}).raise_for_status()
        wait_for(lambda: rasi.api("GET", "/api/v1/jobs?status=running").json()["jobs"], what="the job to be running")
        rasi.process.terminate()
        rasi.process.wait(4)  # the 5 s judge call is cancelled, not waited for
        assert "in flight at shutdown are queued again" in rasi.log.read_text()
        model.script([{"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict()}}] + AGENT_RULES)
        rasi.start()
        wait_for(lambda: rasi.api("GET", "/api/v1/jobs?status=done").json()["jobs"], what="the job done after the restart")
        assert [r["status"] for r in judge_runs(rasi, interaction)] == ["ok"]
        assert len(lessons_from(rasi, interaction)) == 1
        # Stopped gracefully, the try does not count.
        assert rasi.api("GET", "/api/v1/jobs").json()["jobs"][0]["attempts"] == 1
    finally:
        rasi.stop()
