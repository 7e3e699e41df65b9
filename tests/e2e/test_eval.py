"""rasi eval on the CLINC150 routing suite, and the Swift agent library's example, against a
real rasi server and the scripted model (which routes by word overlap, and follows an injected
lesson's correct behaviour over its own guess)."""
import json
import os
import subprocess
from pathlib import Path

from conftest import RASI_BIN, Rasi, injected_lessons

ROUTER = [
    {"name": "after tool", "when": {"last_role": "tool"}, "reply": {"content": "Done: {{last_tool_result}}"}},
    {"name": "route", "when": {}, "reply": {"route": True}},
]
EXAMPLE_BIN = str(Path(RASI_BIN).parent / "rasi-agent-example")


def run(*args, env=None, timeout=300):
    return subprocess.run([RASI_BIN, *args], capture_output=True, text=True, timeout=timeout, env=env or os.environ)


def clinc_suite(workdir, *extra):
    path = workdir / "clinc.jsonl"
    built = run("eval", "clinc150", "--intents", "30", "--learn-per-intent", "2", "--test-per-intent", "2",
                "--out-of-scope", "6", "--out", str(path), *extra)
    assert built.returncode == 0, built.stderr
    return path


def test_the_clinc150_suite_maps_intents_to_tools_and_splits(workdir):
    lines = [json.loads(line) for line in clinc_suite(workdir).read_text().splitlines()]
    tools = [line for line in lines if line.get("type") == "tool"]
    tasks = [line for line in lines if line.get("type", "task") == "task"]
    assert len(tools) == 30
    assert sum(t["split"] == "learn" for t in tasks) == 30 * 2 + 6
    assert sum(t["split"] == "test" for t in tasks) == 30 * 2 + 6
    assert sum(t["expected_tools"] == [] for t in tasks) == 12
    corpus = json.loads((Path(__file__).resolve().parents[3] / "shared/data/clinc150/clinc150_dev.json").read_text())
    validation = {text for text, _ in corpus["val"]}
    assert all(t["request"] in validation for t in tasks if t["split"] == "test" and t["expected_tools"])


def test_eval_through_a_rasi_server_learns_and_the_panel_shows_the_curve(workdir, model, rasi, reviewer_key):
    model.script(ROUTER)
    suite = clinc_suite(workdir)
    out = workdir / "eval"
    result = run("eval", "run", "--suite", str(suite), "--base-url", model.url + "/v1", "--model", "scripted-router",
                 "--rasi", rasi.url, "--key", reviewer_key, "--rounds", "2", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    assert "baseline: 0 lessons live" in result.stdout and "round 2/2" in result.stdout

    report = json.loads((out / "evaluation.json").read_text())
    tasks = len(report["results"])
    assert tasks == 132
    learn, test = report["splits"]["learn"], report["splits"]["test"]
    # Every learn-split failure at baseline became one lesson, live in two batches.
    baseline_learn_failures = [r for r in report["results"] if r["split"] == "learn" and not r["attempts"][0]["passed"]]
    assert report["lessons_created"] == len(baseline_learn_failures) > 0
    assert [p["lessons"] for p in report["curve"]] == [0, (len(baseline_learn_failures) + 1) // 2, len(baseline_learn_failures)]
    # The loop helps on requests it learned from and on similar unseen ones.
    assert learn["pass_rate_after"] > learn["pass_rate_before"]
    assert test["pass_rate_after"] > test["pass_rate_before"]
    assert test["fixed"] and learn["injected_tokens_per_request_before"] == 0 and test["injected_tokens_per_request_after"] > 0
    # Figures agree with the attempts.
    for name, split in report["splits"].items():
        rows = [r for r in report["results"] if r["split"] == name]
        assert split["passed_after"] == sum(r["attempts"][-1]["passed"] for r in rows)
        assert split["broken"] == [r["id"] for r in rows if r["attempts"][0]["passed"] and not r["attempts"][-1]["passed"]]

    # The lessons and every run's interaction are on the server; a fixed task's last run had a lesson injected.
    lessons = rasi.api("GET", "/api/v1/lessons?agent=clinc150&limit=200", key=reviewer_key).json()["lessons"]
    assert {lesson["id"] for lesson in lessons} == set(report["lesson_ids"])
    assert all(lesson["status"] == "active" and lesson["author"] for lesson in lessons)
    fixed = next(r for r in report["results"] if r["id"] == test["fixed"][0])
    logged = rasi.api("GET", f"/api/v1/interactions/{fixed['attempts'][-1]['interaction_id']}", key=reviewer_key).json()
    assert logged["lessons_injected"] and logged["agent"] == "clinc150"
    assert [s["name"] for s in logged["steps"] if s["kind"] == "tool_call"] == fixed["expected_tools"]
    routed = [r for r in model.requests() if r["messages"][-1]["role"] == "user" and r["messages"][-1]["content"] == fixed["request"]]
    assert not injected_lessons(routed[0]) and injected_lessons(routed[-1])

    # The server keeps the report: listed, whole, and drawn.
    listed = rasi.api("GET", "/api/v1/evaluations", key=reviewer_key).json()["evaluations"]
    assert [e["id"] for e in listed] == [report["id"]] and "results" not in listed[0]
    assert rasi.api("GET", f"/api/v1/evaluations/{report['id']}", key=reviewer_key).json()["splits"] == report["splits"]
    chart = rasi.api("GET", f"/api/v1/evaluations/{report['id']}/chart.svg", key=reviewer_key)
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text == (out / "learning-curve.svg").read_text()
    assert rasi.api("GET", "/api/v1/evaluations", key=rasi.create_key("agent")).status_code == 403


def test_eval_in_process_judges_rubric_tasks_and_refuses_a_bad_suite(workdir, model):
    verdict_problem = json.dumps({
        "verdict": "problem", "summary": "Minerals were not considered.",
        "rubric": [{"item": i, "score": 2, "comment": "-"} for i in ["tools", "reasoning", "need", "task"]],
        "lesson": {"situation": "Gut health questions with low energy", "did": "Suggested fibre only",
                   "should_have_done": "Consider minerals", "why": "Mineral gaps cause fatigue",
                   "correct_behavior": "Mention magnesium, zinc and iron", "confidence": 0.8}})
    verdict_ok = json.dumps({"verdict": "ok", "summary": "Good.",
                             "rubric": [{"item": i, "score": 5, "comment": "-"} for i in ["tools", "reasoning", "need", "task"]]})
    model.script([
        {"when": {"prompt_contains": ["rasi's judge", "magnesium"]}, "reply": {"content": verdict_ok}},
        {"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": verdict_problem}},
        {"when": {"prompt_contains": "magnesium"}, "reply": {"content": "Fibre, and check magnesium, zinc and iron."}},
        {"when": {}, "reply": {"content": "Eat more fibre."}},
    ])
    suite = workdir / "nutrition.jsonl"
    suite.write_text("\n".join(json.dumps(t) for t in [
        {"id": "n1", "agent": "nutrition", "request": "My gut health is bad and I have low energy", "rubric": "Considers minerals", "split": "learn"},
        {"id": "n2", "agent": "nutrition", "request": "Tired all the time, and my gut health is poor", "rubric": "Considers minerals", "split": "test"},
    ]) + "\n")
    out = workdir / "eval"
    env = {**os.environ, "RASI_MODEL_DIR": os.environ.get("RASI_MODEL_DIR", str(Path(RASI_BIN).parents[2] / "models" / "all-MiniLM-L6-v2"))}
    result = run("eval", "--suite", str(suite), "--base-url", model.url + "/v1", "--model", "m", "--out", str(out), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "evaluation.json").read_text())
    assert report["lessons_created"] == 1
    assert report["splits"]["learn"]["pass_rate_before"] == 0 and report["splits"]["learn"]["pass_rate_after"] == 1
    assert report["splits"]["test"]["fixed"] == ["n2"]
    assert "the judge: Minerals were not considered." in report["results"][0]["attempts"][0]["reason"]
    # The judge saw the task's rubric as an item of its own.
    judged = [r for r in model.requests() if "rasi's judge" in json.dumps(r["messages"])]
    assert judged and "Considers minerals" in json.dumps(judged[0]["messages"])

    suite.write_text('{"id": "x", "request": "hi", "split": "learn"}\n')
    refused = run("eval", "--suite", str(suite), "--base-url", model.url + "/v1", "--model", "m", "--out", str(out))
    assert refused.returncode != 0 and "line 1: expected_tools" in refused.stderr


def test_the_agent_library_example_logs_to_rasi_takes_feedback_and_learns(workdir, model, rasi, agent_key, reviewer_key):
    model.script([
        {"when": {"last_role": "tool", "prompt_contains": "delivery window"}, "reply": {"content": "Order 42 arrives Thursday, between 9 and 12."}},
        {"when": {"last_role": "tool"}, "reply": {"content": "Order 42 has shipped."}},
        {"when": {"last_user_contains": "order"}, "reply": {"reasoning": "Look the order up.",
                                                           "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "42"}}]}},
    ])
    env = {**os.environ, "RASI_URL": rasi.url, "RASI_AGENT_KEY": agent_key, "MODEL_BASE_URL": model.url + "/v1", "MODEL": "scripted"}
    first = subprocess.run([EXAMPLE_BIN, "Where is my order 42?", "--thumbs-down", "When will it arrive?"],
                           capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    fields = dict(line.split(": ", 1) for line in first.stdout.splitlines())
    assert fields["answer"] == "Order 42 has shipped." and fields["tools"] == "lookup_order" and fields["feedback"] == "sent"

    logged = rasi.api("GET", f"/api/v1/interactions/{fields['interaction']}", key=reviewer_key).json()
    assert [s["kind"] for s in logged["steps"]] == ["message", "thinking", "tool_call", "tool_result", "state_change", "message"]
    assert logged["agent"] == "support" and logged["feedback"][0]["rating"] == "down" and logged["flags"]

    correction = rasi.api("POST", f"/api/v1/interactions/{fields['interaction']}/lessons", key=reviewer_key, json={
        "should_have_done": "Give the delivery window", "correct_behavior": "Tell the customer the delivery window, not only that it shipped"})
    assert correction.status_code == 201, correction.text
    second = subprocess.run([EXAMPLE_BIN, "Where is my order 42?"], capture_output=True, text=True, timeout=60, env=env)
    assert second.returncode == 0, second.stderr
    fields = dict(line.split(": ", 1) for line in second.stdout.splitlines())
    assert fields["answer"] == "Order 42 arrives Thursday, between 9 and 12."
    assert fields["lessons"] == correction.json()["id"]
