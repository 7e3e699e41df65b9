"""Lesson examples and counter-examples, end to end: the judge's model proposes other ways of
asking (and near misses) in the background when a lesson is made, retrieval matches a request
against the situation and the examples, a closer counter-example blocks the lesson, reviewers
mark requests, and examples survive PATCH and export/import.

The texts were chosen with the built-in MiniLM (cosines in the comments; the similarity floor is
0.51), each with a margin of at least 0.05 on the side the test relies on."""
import json
import time

import pytest

from conftest import Rasi, ScriptedModel, free_port, injected_lessons, wait_for

# A distinctive phrase of `LessonEditorPrompt.examples` (Sources/RasiCore/Judge/Synthesis.swift).
EXAMPLES_PROMPT = "other ways real users would ask for the same thing"
JUDGE = "rasi (judge)"

SITUATION = "Customer wants to cancel their subscription"
BEHAVIOR = "Offer to pause the subscription for a month before cancelling it"
# Below the floor against the situation alone (0.43); 0.85 with the judge's first example.
ASKED = "how can I stop getting charged monthly"
JUDGE_EXAMPLES = ["How do I stop being billed every month?", "I want to end my membership"]
JUDGE_COUNTERS = ["Customer wants to cancel a single order"]
# Above the floor against the situation (0.59), but closer to the judge's counter-example (0.78).
NEAR_MISS = "I need to cancel my order"
# A close variant of ASKED: 0.94 with it, 0.81 with the judge's first example.
VARIANT = "how can i stop getting charged each month"


def answer(examples, counter_examples=()):
    return {"content": json.dumps({"examples": list(examples), "counter_examples": list(counter_examples)})}


def create(rasi, key=None, **fields):
    body = {"situation": SITUATION, "should_have_done": "Offer a pause first", "correct_behavior": BEHAVIOR, **fields}
    response = rasi.api("POST", "/api/v1/lessons", json=body, **({"key": key} if key else {}))
    assert response.status_code == 201, response.text
    return response.json()


def versions(rasi, lesson_id):
    return rasi.api("GET", f"/api/v1/lessons/{lesson_id}/versions").json()["versions"]


def wait_for_judge_version(rasi, lesson_id):
    """The lesson's version saved by the judge's model, once it is there."""
    return wait_for(lambda: next((v for v in versions(rasi, lesson_id) if v["changed_by"] == JUDGE), None),
                    what=f"the judge's examples on {lesson_id}")


def retrieve(rasi, query, agent="default"):
    return rasi.api("POST", "/api/v1/retrieve", json={"agent": agent, "query": query}).json()["lessons"]


def ask(model, client, text, model_name="agent-model"):
    """One gateway call through the official SDK: the injected lesson ids, the lessons block the
    upstream saw ('' when none), and the interaction id."""
    raw = client.chat.completions.with_raw_response.create(model=model_name, messages=[{"role": "user", "content": text}])
    raw.parse()
    seen = [r for r in model.requests() if r.get("messages") and r["messages"][-1].get("content") == text]
    assert seen, f"the upstream never saw {text!r}"
    return raw.headers["X-RASI-Lessons"], injected_lessons(seen[-1]), raw.headers["X-RASI-Interaction"]


def mark(rasi, key, lesson_id, applies, **what):
    response = rasi.api("POST", f"/api/v1/lessons/{lesson_id}/examples", key=key, json={"applies": applies, **what})
    assert response.status_code == 200, response.text
    return response.json()


def examples_prompts(model):
    return [r for r in model.requests() if EXAMPLES_PROMPT in json.dumps(r)]


def test_the_judge_proposes_examples_in_the_background_and_they_decide_what_is_injected(workdir, model):
    """Judge's model on its own base URL (RASI_JUDGE_BASE_URL, RASI_JUDGE_MODEL); a control lesson
    with the same situation, whose examples the judge's model fails to give, shows what the
    situation alone would retrieve."""
    model.script([], default={"content": "Happy to help."})
    judge = ScriptedModel(workdir)
    judge.script([
        {"when": {"prompt_contains": [EXAMPLES_PROMPT, "(control copy)"]}, "reply": {"content": "I would rather not."}},
        {"when": {"prompt_contains": EXAMPLES_PROMPT}, "reply": answer(JUDGE_EXAMPLES, JUDGE_COUNTERS)},
    ])
    rasi = Rasi(workdir, upstream=model.url + "/v1",
                extra_env={"RASI_JUDGE_BASE_URL": judge.url + "/v1", "RASI_JUDGE_MODEL": "editor"})
    try:
        agent_key, reviewer_key = rasi.create_key("agent"), rasi.create_key("reviewer")
        lesson = create(rasi, reviewer_key, agent="billing")
        assert (lesson["version"], lesson["examples"], lesson["counter_examples"]) == (1, [], [])
        control = create(rasi, reviewer_key, agent="control", correct_behavior=BEHAVIOR + " (control copy)")

        # In the background, the judge's model proposes examples: the lesson's next version, by rasi (judge).
        judged = wait_for_judge_version(rasi, lesson["id"])
        assert judged["version"] == 2 and judged["author"] == lesson["author"]
        assert judged["examples"] == [{"text": t, "source": "judge"} for t in JUDGE_EXAMPLES]
        assert judged["counter_examples"] == [{"text": t, "source": "judge"} for t in JUDGE_COUNTERS]
        current = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
        assert current["version"] == 2 and current["examples"] == judged["examples"]
        # It asked the judge's model, by name, with the default count, at the judge's base URL only.
        asked = [r for r in examples_prompts(judge) if SITUATION in json.dumps(r) and "(control copy)" not in json.dumps(r)]
        assert len(asked) == 1 and asked[0]["model"] == "editor"
        assert "Write 6 other ways" in json.dumps(asked[0])
        assert examples_prompts(model) == []

        # The control's answer was not JSON: it stays as it was made.
        wait_for(lambda: any(control["id"] in line and "proposed no examples" in line for line in rasi.log.read_text().splitlines()),
                 what="the control lesson's failed proposal")
        assert [v["version"] for v in versions(rasi, control["id"])] == [1]

        # ASKED is worded differently: the situation alone does not reach the floor (the control)...
        assert retrieve(rasi, ASKED, agent="control") == []
        # ...but the judge's example does, and retrieval says which example matched.
        [hit] = retrieve(rasi, ASKED, agent="billing")
        assert hit["lesson"]["id"] == lesson["id"] and hit["score"] > 0.7
        assert hit["matched"] == {"text": JUDGE_EXAMPLES[0], "source": "judge"}
        # NEAR_MISS fits the situation (the control retrieves it), but the judge's near miss is closer.
        assert [h["lesson"]["id"] for h in retrieve(rasi, NEAR_MISS, agent="control")] == [control["id"]]
        assert retrieve(rasi, NEAR_MISS, agent="billing") == []

        # On a real gateway call, the lesson is injected for ASKED and not for the near miss.
        client = rasi.openai(agent_key, **{"X-RASI-Agent": "billing"})
        ids, block, _ = ask(model, client, ASKED)
        assert ids == lesson["id"] and BEHAVIOR in block
        ids, block, _ = ask(model, client, NEAR_MISS)
        assert (ids, block) == ("", "")

        # A reviewer marks ASKED as a request the lesson must not apply to: it is blocked for
        # ASKED and a close variant of it, and still applies to the judge's example.
        marked = mark(rasi, reviewer_key, lesson["id"], False, request=ASKED)
        assert marked["version"] == 3 and marked["examples"] == judged["examples"]
        assert marked["counter_examples"][-1] == {"text": ASKED, "source": "reviewer"}
        assert versions(rasi, lesson["id"])[-1]["changed_by"].startswith("e2e reviewer")
        for text in (ASKED, VARIANT):
            ids, block, _ = ask(model, client, text)
            assert (ids, block) == ("", ""), text
            assert retrieve(rasi, text, agent="billing") == []
        ids, block, _ = ask(model, client, JUDGE_EXAMPLES[0])
        assert ids == lesson["id"] and BEHAVIOR in block

        # Marked again as applying, it moves from the counter-examples to the examples.
        moved = mark(rasi, reviewer_key, lesson["id"], True, request=ASKED.upper())
        assert {"text": ASKED.upper(), "source": "reviewer"} in moved["examples"]
        assert [c["text"] for c in moved["counter_examples"]] == JUDGE_COUNTERS
        ids, _, _ = ask(model, client, ASKED)
        assert ids == lesson["id"]
        # The judge's model was asked once per lesson, not again for the later versions.
        assert len(examples_prompts(judge)) == 2
    finally:
        rasi.stop()
        judge.stop()


# A lesson made from a gateway interaction whose request the situation alone does not reach (0.43).
SOURCE = "please stop charging my card each month"
# 0.82 with SOURCE, 0.46 with the situation.
LIKE_SOURCE = "stop charging me monthly"
# 0.80 with the judge's example, 0.31 with the situation, 0.46 with SOURCE.
LIKE_JUDGE = "get rid of my monthly plan"
SOURCE_JUDGE_EXAMPLE = "I no longer want the monthly plan"
SOURCE_JUDGE_COUNTER = "why does my card get charged every month"
# 0.70 with SOURCE (over the floor), 0.88 with the judge's near miss.
WHY_CHARGED = "why was my card charged this month"


def test_a_lesson_from_an_interaction_keeps_its_request_and_asks_that_interactions_model(rasi, model, agent_key, reviewer_key):
    """No RASI_JUDGE_MODEL: the judge's model is the source interaction's, at the upstream."""
    model.script([{"when": {"prompt_contains": EXAMPLES_PROMPT}, "reply": answer([SOURCE_JUDGE_EXAMPLE], [SOURCE_JUDGE_COUNTER])}],
                 default={"content": "Happy to help."})
    client = rasi.openai(agent_key, **{"X-RASI-Agent": "shop"})
    ids, _, interaction = ask(model, client, SOURCE, model_name="shop-model")
    assert ids == ""

    created = rasi.api("POST", f"/api/v1/interactions/{interaction}/lessons", key=reviewer_key, json={
        "situation": SITUATION, "should_have_done": "Offer a pause first", "correct_behavior": BEHAVIOR})
    assert created.status_code == 201, created.text
    lesson = created.json()
    assert lesson["source_interaction_id"] == interaction and lesson["agent"] == "shop"
    assert lesson["examples"] == [{"text": SOURCE, "source": "interaction"}]

    judged = wait_for_judge_version(rasi, lesson["id"])
    assert judged["examples"] == [{"text": SOURCE, "source": "interaction"}, {"text": SOURCE_JUDGE_EXAMPLE, "source": "judge"}]
    assert judged["counter_examples"] == [{"text": SOURCE_JUDGE_COUNTER, "source": "judge"}]
    [asked] = examples_prompts(model)
    assert asked["model"] == "shop-model"
    # The prompt lists the requests the lesson already matches: the situation and the source request.
    prompt = "\n".join(m["content"] for m in asked["messages"])
    assert f"- {SITUATION}\n- {SOURCE}" in prompt

    # Differently worded requests reach the lesson through the source request and the judge's example.
    for text, matched in ((LIKE_SOURCE, {"text": SOURCE, "source": "interaction"}),
                          (LIKE_JUDGE, {"text": SOURCE_JUDGE_EXAMPLE, "source": "judge"})):
        [hit] = retrieve(rasi, text, agent="shop")
        assert hit["matched"] == matched, text
        ids, block, _ = ask(model, client, text)
        assert ids == lesson["id"] and BEHAVIOR in block, text

    # The judge's near miss blocks a request the source example alone would let through...
    assert retrieve(rasi, WHY_CHARGED, agent="shop") == []
    ids, _, _ = ask(model, client, WHY_CHARGED)
    assert ids == ""
    edited = rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json={"counter_examples": []})
    assert edited.status_code == 200, edited.text
    [hit] = retrieve(rasi, WHY_CHARGED, agent="shop")
    assert hit["matched"] == {"text": SOURCE, "source": "interaction"}

    # A reviewer marks a logged interaction (by id) as one the lesson must not apply to.
    _, _, liked = ask(model, client, LIKE_JUDGE)
    marked = mark(rasi, reviewer_key, lesson["id"], False, interaction_id=liked)
    assert marked["counter_examples"] == [{"text": LIKE_JUDGE, "source": "reviewer"}]
    ids, block, _ = ask(model, client, LIKE_JUDGE)
    assert (ids, block) == ("", "")
    ids, _, _ = ask(model, client, LIKE_SOURCE)
    assert ids == lesson["id"]
    # Later versions are not sent to the judge's model again.
    assert len(examples_prompts(model)) == 1


def test_an_unusable_answer_leaves_the_lesson_unchanged_and_the_proposals_endpoint_says_502(workdir, model):
    model.script([], default={"content": "Sure! Customers might say: cancel my plan, stop my plan."})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_JUDGE_MODEL": "editor", "RASI_LESSON_EXAMPLES": "2"})
    try:
        reviewer_key = rasi.create_key("reviewer")
        lesson = create(rasi, reviewer_key, examples=[JUDGE_EXAMPLES[0]])
        wait_for(lambda: any(lesson["id"] in line and "proposed no examples" in line for line in rasi.log.read_text().splitlines()),
                 what="the background proposal to fail")
        assert len(examples_prompts(model)) == 1 and "Write 2 other ways" in json.dumps(examples_prompts(model)[0])

        def unchanged():
            assert [v["version"] for v in versions(rasi, lesson["id"])] == [1]
            assert rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json() == lesson

        unchanged()
        for reply, reason in (("Sure! Customers might say: cancel my plan.", "the reply holds no JSON object"),
                              ('{"examples": []}', "`examples` is empty"),
                              ('{"counter_examples": ["x"]}', "`examples` is missing"),
                              ('{"examples": "cancel"}', "`examples` must be a list of strings"),
                              ('{"examples": ["cancel my plan", ""]}', "`examples[1]` must be a non-empty string"),
                              (json.dumps({"examples": ["x" * 501]}), "`examples[0]` must be at most 500 characters")):
            model.script([], default={"content": reply})
            response = rasi.api("POST", f"/api/v1/lessons/{lesson['id']}/examples/proposals", key=reviewer_key)
            assert response.status_code == 502, (reply, response.text)
            assert reason in response.json()["error"]["message"], reply
            unchanged()

        # A usable answer, asked for now: at most RASI_LESSON_EXAMPLES examples and 3 near misses
        # are kept, after what the lesson had.
        model.script([], default=answer(["a1", "a2", "a3", "a4"], ["n1", "n2", "n3", "n4", "n5"]))
        response = rasi.api("POST", f"/api/v1/lessons/{lesson['id']}/examples/proposals", key=reviewer_key)
        assert response.status_code == 200, response.text
        proposed = response.json()
        assert proposed["version"] == 2
        assert proposed["examples"] == [{"text": JUDGE_EXAMPLES[0], "source": "reviewer"},
                                        {"text": "a1", "source": "judge"}, {"text": "a2", "source": "judge"}]
        assert proposed["counter_examples"] == [{"text": t, "source": "judge"} for t in ("n1", "n2", "n3")]
        assert versions(rasi, lesson["id"])[-1]["changed_by"] == JUDGE
        assert rasi.api("POST", "/api/v1/lessons/les_unknown/examples/proposals", key=reviewer_key).status_code == 404

        # A retired lesson is not asked about: 409, the model not called, the lesson not changed.
        asked = len(examples_prompts(model))
        assert rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json={"status": "retired"}).status_code == 200
        retired = versions(rasi, lesson["id"])
        response = rasi.api("POST", f"/api/v1/lessons/{lesson['id']}/examples/proposals", key=reviewer_key)
        assert response.status_code == 409, response.text
        assert "is retired" in response.json()["error"]["message"]
        assert len(examples_prompts(model)) == asked
        assert versions(rasi, lesson["id"]) == retired
    finally:
        rasi.stop()


@pytest.mark.parametrize("failure", ["server error", "unreachable"])
def test_a_failing_judge_model_makes_the_proposals_endpoint_say_502(workdir, model, failure):
    model.script([], default={"error": {"status": 500, "message": "model crashed"}})
    env = {"RASI_JUDGE_MODEL": "editor", "RASI_UPSTREAM_TIMEOUT": "3"}
    if failure == "unreachable":
        env["RASI_JUDGE_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env=env)
    try:
        lesson = create(rasi)
        response = rasi.api("POST", f"/api/v1/lessons/{lesson['id']}/examples/proposals")
        assert [v["version"] for v in versions(rasi, lesson["id"])] == [1]
        assert response.status_code == 502, response.text
    finally:
        rasi.stop()


def test_what_a_reviewer_writes_while_the_judge_model_thinks_is_kept(workdir, model):
    """The judge's version is made from the lesson as it is when the answer comes, not as it was asked."""
    model.script([{"when": {"prompt_contains": EXAMPLES_PROMPT}, "reply": {**answer(JUDGE_EXAMPLES[:1], JUDGE_COUNTERS), "delay_ms": 3000}}])
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_JUDGE_MODEL": "editor"})
    try:
        lesson = create(rasi)
        wait_for(lambda: examples_prompts(model), what="the judge's model to be asked")
        edited = rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", json={
            "examples": [JUDGE_EXAMPLES[1]], "correct_behavior": "Offer a free month, then a pause"})
        assert edited.status_code == 200 and edited.json()["version"] == 2, edited.text
        judged = wait_for_judge_version(rasi, lesson["id"])
        assert judged["version"] == 3 and judged["correct_behavior"] == "Offer a free month, then a pause"
        assert judged["examples"] == [{"text": JUDGE_EXAMPLES[1], "source": "reviewer"}, {"text": JUDGE_EXAMPLES[0], "source": "judge"}]
        assert judged["counter_examples"] == [{"text": JUDGE_COUNTERS[0], "source": "judge"}]
        # A lesson retired while the judge's model thinks gets no version from it.
        second = create(rasi, situation="Customer asks to downgrade to a cheaper plan")
        wait_for(lambda: len(examples_prompts(model)) == 2, what="the second request to the judge's model")
        assert rasi.api("PATCH", f"/api/v1/lessons/{second['id']}", json={"status": "retired"}).status_code == 200
        time.sleep(4)  # the answer came 3 s after it was asked
        assert [(v["version"], v["status"]) for v in versions(rasi, second["id"])] == [(1, "active"), (2, "retired")]
        assert JUDGE not in [v["changed_by"] for v in versions(rasi, second["id"])]
    finally:
        rasi.stop()


def test_no_examples_are_asked_for_when_turned_off(workdir, model):
    model.script([], default=answer(["a1"]))
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_JUDGE_MODEL": "editor", "RASI_LESSON_EXAMPLES": "0"})
    try:
        lesson = create(rasi)
        time.sleep(1)  # time enough for a background call (they take milliseconds here)
        assert examples_prompts(model) == []
        assert [v["version"] for v in versions(rasi, lesson["id"])] == [1]
    finally:
        rasi.stop()


def test_bad_input_to_the_examples_endpoints_is_400_naming_the_field(rasi, model, agent_key, reviewer_key):
    lesson = create(rasi)
    path = f"/api/v1/lessons/{lesson['id']}/examples"
    for body, field in (({"request": ASKED}, "applies"),
                        ({"request": ASKED, "applies": "no"}, "applies"),
                        ({"request": 3, "applies": False}, "request"),
                        ({"request": "   ", "applies": False}, "request"),
                        ({"applies": False}, "request"),
                        ({"request": ASKED, "interaction_id": "int_x", "applies": False}, "request"),
                        ({"request": ASKED, "applies": False, "source": "judge"}, "source"),
                        ({"request": ASKED, "applies": False, "source": "oracle"}, "source"),
                        ({"request": "x" * 501, "applies": False}, "request")):
        response = rasi.api("POST", path, key=reviewer_key, json=body)
        assert response.status_code == 400, (body, response.text)
        assert f"`{field}`" in response.json()["error"]["message"], (body, response.text)
    malformed = rasi.api("POST", path, key=reviewer_key, content=b'{"request": ')
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    assert rasi.api("POST", "/api/v1/lessons/les_unknown/examples", key=reviewer_key,
                    json={"request": ASKED, "applies": False}).status_code == 404
    assert rasi.api("POST", path, key=reviewer_key, json={"interaction_id": "int_unknown", "applies": False}).status_code == 404
    assert rasi.api("POST", path, key=agent_key, json={"request": ASKED, "applies": False}).status_code == 403

    for body, field in (({"examples": [""]}, "examples[0]"),
                        ({"examples": [ASKED, {"text": "x" * 501}]}, "examples[1]"),
                        ({"counter_examples": [{"source": "judge"}]}, "counter_examples[0].text"),
                        ({"examples": [{"text": ASKED, "source": "robot"}]}, "examples[0].source"),
                        ({"counter_examples": ASKED}, "counter_examples"),
                        ({"examples": [ASKED] * 51}, "examples")):
        response = rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key, json=body)
        assert response.status_code == 400, (body, response.text)
        assert f"`{field}`" in response.json()["error"]["message"], (body, response.text)
        response = rasi.api("POST", "/api/v1/lessons", key=reviewer_key, json={
            "situation": SITUATION, "should_have_done": "x", "correct_behavior": "y", **body})
        assert response.status_code == 400 and f"`{field}`" in response.json()["error"]["message"], (body, response.text)
    # None of it changed the lesson. Without RASI_JUDGE_MODEL or a source interaction there is no model to ask.
    assert [v["version"] for v in versions(rasi, lesson["id"])] == [1]
    assert rasi.api("POST", f"{path}/proposals", key=reviewer_key).status_code == 503
    assert examples_prompts(model) == []
    # What is marked is redacted like the rest of the lesson.
    marked = mark(rasi, reviewer_key, lesson["id"], True, request="I am jane.roe@example.com, stop charging me monthly")
    assert marked["examples"] == [{"text": "I am [EMAIL_1], stop charging me monthly", "source": "reviewer"}]


def test_examples_edited_by_patch_are_versioned_and_survive_export_and_import(workdir, model):
    model.script([], default={"content": "Happy to help."})
    rasi = Rasi(workdir, upstream=model.url + "/v1")
    try:
        reviewer_key = rasi.create_key("reviewer")
        lesson = create(rasi, examples=[JUDGE_EXAMPLES[1]], counter_examples=[{"text": "Customer asks for a refund", "source": "outcome"}])
        assert lesson["examples"] == [{"text": JUDGE_EXAMPLES[1], "source": "reviewer"}]
        assert retrieve(rasi, ASKED) == []

        examples = [{"text": JUDGE_EXAMPLES[0], "source": "judge"}, {"text": JUDGE_EXAMPLES[1], "source": "reviewer"}]
        counters = [{"text": JUDGE_COUNTERS[0], "source": "reviewer"}]
        edited = rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key,
                          json={"examples": examples, "counter_examples": counters})
        assert edited.status_code == 200, edited.text
        assert (edited.json()["version"], edited.json()["examples"], edited.json()["counter_examples"]) == (2, examples, counters)
        # Another edit leaves the examples as they are.
        rasi.api("PATCH", f"/api/v1/lessons/{lesson['id']}", json={"why": "Most want a break, not an exit"}).raise_for_status()
        history = versions(rasi, lesson["id"])
        assert [(v["version"], v["changed_by"].split(" (")[0]) for v in history] == [
            (1, "bootstrap admin"), (2, "e2e reviewer"), (3, "bootstrap admin")]
        assert history[0]["examples"] == lesson["examples"] and history[2]["examples"] == examples
        assert history[2]["counter_examples"] == counters

        def check_retrieval():
            [hit] = retrieve(rasi, ASKED)
            assert hit["lesson"]["id"] == lesson["id"] and hit["matched"] == examples[0]
            assert retrieve(rasi, NEAR_MISS) == []

        check_retrieval()
        exported = workdir / "lessons.jsonl"
        done = rasi.cli("lessons", "export", "--out", str(exported))
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert [(l["lesson"]["version"], l["lesson"]["examples"], l["lesson"]["counter_examples"]) for l in lines] == [
            (v["version"], v["examples"], v["counter_examples"]) for v in history]
        rasi.stop()

        other = workdir / "other.sqlite"
        imported = rasi.cli("lessons", "import", str(exported), "--database-url", f"sqlite:{other}")
        assert imported.returncode == 0, imported.stderr
        rasi.env["RASI_DATABASE_URL"] = f"sqlite:{other}"
        rasi.start()
        assert versions(rasi, lesson["id"]) == history
        current = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
        assert (current["version"], current["examples"], current["counter_examples"]) == (3, examples, counters)
        # The imported examples and counter-examples are embedded: they match and block as before.
        check_retrieval()
    finally:
        rasi.stop()
