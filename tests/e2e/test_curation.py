"""Curation: conflicting lessons, measured efficacy, impact preview, per-agent policy, export/import."""
import json

from conftest import Rasi

REFUND = "Customer asks for a refund for a parcel that arrived damaged"


def lesson(rasi, **fields):
    body = {"should_have_done": "x", "correct_behavior": "Offer a refund or a replacement", **fields}
    response = rasi.api("POST", "/api/v1/lessons", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_contradicting_lessons_are_paired_for_review_and_only_the_winner_is_injected(rasi, model, agent_key, reviewer_key):
    model.script([], default={"content": "ok"})
    keep = lesson(rasi, situation=REFUND, correct_behavior="Refund at once without asking for photos", confidence=0.9)
    contra = lesson(rasi, situation="A customer wants a refund because the parcel came damaged", polarity="positive",
                    correct_behavior="Ask for photos of the damage before any refund", confidence=0.6)
    unrelated = lesson(rasi, situation="User asks how to reset a forgotten password", correct_behavior="Send the reset link")

    conflicts = rasi.api("GET", "/api/v1/conflicts", key=reviewer_key).json()["conflicts"]
    assert len(conflicts) == 1
    assert {l["id"] for l in conflicts[0]["lessons"]} == {keep["id"], contra["id"]}
    assert "polarity" in conflicts[0]["reason"]

    # At retrieval the more confident lesson wins; the other is set aside.
    client = rasi.openai(agent_key)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "My parcel arrived damaged, I want a refund"}])
    assert raw.headers["X-RASI-Lessons"] == keep["id"]
    retrieved = rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={"query": "My parcel arrived damaged, I want a refund"}).json()
    assert retrieved["set_aside"] == [{"lesson_id": contra["id"], "reason": "conflict", "to": keep["id"]}]

    # A reviewer resolves the pair by keeping one: the other is retired.
    resolved = rasi.api("POST", f"/api/v1/conflicts/{conflicts[0]['id']}/resolve", key=reviewer_key, json={"keep": keep["id"]})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == f"kept {keep['id']}"
    assert rasi.api("GET", f"/api/v1/lessons/{contra['id']}").json()["status"] == "retired"
    assert rasi.api("GET", "/api/v1/conflicts", key=reviewer_key).json()["conflicts"] == []
    again = rasi.api("POST", f"/api/v1/conflicts/{conflicts[0]['id']}/resolve", key=reviewer_key, json={"keep": "both"})
    assert again.status_code == 409
    assert unrelated["status"] == "active"


def test_feedback_measures_injected_lessons_and_a_harmful_one_is_retired(workdir, model):
    model.script([], default={"content": "Here is what to do."})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_EFFICACY_MIN_RATED": "3"})
    try:
        agent = rasi.create_key("agent")
        bad = lesson(rasi, situation=REFUND, correct_behavior="Tell the customer refunds are impossible")
        client = rasi.openai(agent)

        def ask_and_rate(rating):
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "My parcel arrived damaged, can I get a refund?"}])
            assert raw.headers["X-RASI-Lessons"] == bad["id"]
            rasi.api("POST", f"/api/v1/interactions/{raw.headers['X-RASI-Interaction']}/feedback", key=agent,
                     json={"rating": rating}).raise_for_status()

        ask_and_rate("up")
        ask_and_rate("down")
        counted = rasi.api("GET", f"/api/v1/lessons/{bad['id']}").json()
        assert (counted["helpful"], counted["harmful"], counted["status"]) == (1, 1, "active")
        ask_and_rate("down")  # 2 harmful of 3 rated uses: retired
        retired = rasi.api("GET", f"/api/v1/lessons/{bad['id']}").json()
        assert (retired["helpful"], retired["harmful"], retired["status"]) == (1, 2, "retired")
        assert retired["review_reason"] == "retired automatically: harmful in 2 of 3 rated uses"
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "My parcel arrived damaged, can I get a refund?"}])
        assert raw.headers["X-RASI-Lessons"] == ""
    finally:
        rasi.stop()


def test_impact_preview_replays_the_log_before_activation(workdir, model):
    policies = workdir / "policies.json"
    policies.write_text(json.dumps({"agents": {"shop": {"max_lessons": 1}}}))
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_POLICY_FILE": str(policies)})
    try:
        agent = rasi.create_key("agent")
        requests = ["My parcel arrived damaged, can I get a refund?", "The box was crushed and the item broken, I want my money back",
                    "Refund please, the parcel was damaged in transit", "What are your opening hours?", "How do I reset my password?"]
        for text in requests:
            assert rasi.api("POST", "/api/v1/interactions", key=agent, json={"agent": "shop", "request": text}).status_code == 201
        existing = lesson(rasi, agent="shop", situation="Customer reports a damaged parcel and wants a refund",
                          correct_behavior="Apologise", confidence=0.5)
        proposed = lesson(rasi, agent="shop", situation=REFUND, correct_behavior="Offer a refund or a replacement",
                          confidence=0.95, status="proposed")

        impact = rasi.api("GET", f"/api/v1/lessons/{proposed['id']}/impact").json()
        assert impact["status"] == "proposed" and impact["checked"] == 5
        matched = {r["request"] for r in impact["requests"]}
        assert "What are your opening hours?" not in matched and "How do I reset my password?" not in matched
        assert "My parcel arrived damaged, can I get a refund?" in matched
        # With one lesson per request for this agent, the more confident proposal would push the existing one out.
        assert impact["injected"] >= 1 and impact["displaces"].get(existing["id"], 0) == impact["injected"]
        # Still only a preview: the proposal is not live.
        assert rasi.api("GET", f"/api/v1/lessons/{proposed['id']}").json()["status"] == "proposed"
    finally:
        rasi.stop()


def test_export_then_import_round_trips_and_is_idempotent(workdir, model):
    rasi = Rasi(workdir, upstream=model.url + "/v1")
    first = lesson(rasi, situation=REFUND)
    rasi.api("PATCH", f"/api/v1/lessons/{first['id']}", json={"correct_behavior": "Offer a replacement first"}).raise_for_status()
    lesson(rasi, situation="User asks how to reset a forgotten password", correct_behavior="Send the reset link")
    exported = workdir / "lessons.jsonl"
    done = rasi.cli("lessons", "export", "--out", str(exported))
    assert done.returncode == 0, done.stderr
    lines = exported.read_text().splitlines()
    assert len(lines) == 3
    assert [(json.loads(l)["lesson"]["id"], json.loads(l)["lesson"]["version"]) for l in lines] == sorted(
        (json.loads(l)["lesson"]["id"], json.loads(l)["lesson"]["version"]) for l in lines)
    rasi.stop()

    other = workdir / "other.sqlite"
    imported = rasi.cli("lessons", "import", str(exported), "--database-url", f"sqlite:{other}")
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 versions (0 already present); 2 lessons updated" in imported.stdout
    again = rasi.cli("lessons", "import", str(exported), "--database-url", f"sqlite:{other}")
    assert "imported 0 versions (3 already present); 0 lessons updated" in again.stdout
    reexported = workdir / "again.jsonl"
    assert rasi.cli("lessons", "export", "--out", str(reexported), "--database-url", f"sqlite:{other}").returncode == 0
    assert reexported.read_bytes() == exported.read_bytes()

    # The imported lessons are live: a server on the new store retrieves them.
    rasi.env["RASI_DATABASE_URL"] = f"sqlite:{other}"
    rasi.start()
    try:
        hits = rasi.api("POST", "/api/v1/retrieve", json={"query": "my parcel is damaged, I want a refund"}).json()["lessons"]
        assert [h["lesson"]["id"] for h in hits] == [first["id"]]
        assert hits[0]["lesson"]["correct_behavior"] == "Offer a replacement first"
    finally:
        rasi.stop()


def test_interactions_and_lessons_are_filed_under_admin_topics_and_the_rest_is_suggested(rasi, model, agent_key, reviewer_key):
    model.script([], default={"content": "ok"})
    reviewer_put = rasi.api("PUT", "/api/v1/topics/billing", key=reviewer_key, json={"description": "invoices"})
    assert reviewer_put.status_code == 403  # topics are an admin's
    saved = rasi.api("PUT", "/api/v1/topics/billing", json={
        "description": "Billing, invoices, charges and refunds",
        "examples": ["I was charged twice this month", "Where can I download my invoice?", "I want a refund for my last payment"]})
    assert saved.status_code == 200, saved.text
    rasi.api("PUT", "/api/v1/topics/account", json={
        "description": "Logging in, passwords and account settings",
        "examples": ["I forgot my password", "How do I change the e-mail on my account?"]}).raise_for_status()
    assert [t["name"] for t in rasi.api("GET", "/api/v1/topics", key=reviewer_key).json()["topics"]] == ["account", "billing"]

    client = rasi.openai(agent_key)

    def topic_of(text, conversation):
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": text}], extra_headers={"X-RASI-Conversation": conversation})
        return rasi.api("GET", f"/api/v1/interactions/{raw.headers['X-RASI-Interaction']}", key=reviewer_key).json()["topic"]

    assert topic_of("Why did you charge my card two times?", "t1") == "billing"
    assert topic_of("I can't log in, I think I lost my password", "t2") == "account"
    for n, text in enumerate(["Which wine goes with salmon?", "What wine should I serve with fish?",
                              "Recommend a wine for a seafood dinner", "What is the capital of Peru?"]):
        assert topic_of(text, f"u{n}") == "unclassified"
    created = rasi.api("POST", "/api/v1/lessons", json={
        "situation": "Customer disputes a duplicate charge on their invoice", "should_have_done": "x", "correct_behavior": "y"}).json()
    assert created["topic"] == "billing"

    suggestions = rasi.api("GET", "/api/v1/topics/suggestions", key=reviewer_key).json()["suggestions"]
    assert len(suggestions) == 1 and suggestions[0]["size"] == 3 and "wine" in suggestions[0]["name"]


def test_a_configured_synthesis_merges_conflicting_lessons_once_per_set_of_versions(workdir, model):
    merged = "Refund damaged parcels at once; ask for photos only when the order is over 500 euros."
    model.script([{"when": {"prompt_contains": "rasi's lesson editor"}, "reply": {"content": merged}}], default={"content": "ok"})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={
        # No example proposals: the merge is the only lesson editor task asked here.
        "RASI_CONFLICT_SYNTHESIS": "true", "RASI_JUDGE_MODEL": "editor", "RASI_LESSON_EXAMPLES": "0"})
    try:
        agent = rasi.create_key("agent")
        a = lesson(rasi, situation=REFUND, correct_behavior="Refund at once without asking for photos", confidence=0.9)
        b = lesson(rasi, situation="A customer wants a refund because the parcel came damaged", polarity="positive",
                   correct_behavior="Ask for photos of the damage before any refund", confidence=0.6)
        client = rasi.openai(agent)
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "My parcel arrived damaged, I want a refund"}])
            assert set(raw.headers["X-RASI-Lessons"].split(",")) == {a["id"], b["id"]}
            upstream = model.requests()[-1]
            block = next(m["content"] for m in upstream["messages"] if "<rasi-lessons>" in (m.get("content") or ""))
            assert merged in block
        # Merged once, then served from the cache for the same versions; the merge is logged.
        assert sum(1 for r in model.requests() if "rasi's lesson editor" in json.dumps(r)) == 1
        logged = rasi.api("GET", "/api/v1/syntheses").json()["syntheses"]
        assert len(logged) == 1 and logged[0]["output"] == merged and logged[0]["model"] == "editor"
        assert logged[0]["key"] == ",".join(sorted([f"{a['id']}@1", f"{b['id']}@1"]))
    finally:
        rasi.stop()


def test_the_judge_model_decides_whether_similar_lessons_contradict_when_configured(workdir, model):
    model.script([{"when": {"prompt_contains": ["rasi's lesson editor", "mention the tracking link"]},
                   "reply": {"content": '{"contradict": false, "reason": "both can be done"}'}},
                  {"when": {"prompt_contains": "rasi's lesson editor"},
                   "reply": {"content": '{"contradict": true, "reason": "one refunds at once, the other waits for photos"}'}}])
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_CONFLICT_CHECK": "judge", "RASI_JUDGE_MODEL": "editor"})
    try:
        lesson(rasi, situation=REFUND, correct_behavior="Refund at once without asking for photos")
        lesson(rasi, situation="A customer wants a refund because the parcel came damaged",
               correct_behavior="Ask for photos of the damage before any refund")
        conflicts = rasi.api("GET", "/api/v1/conflicts").json()["conflicts"]
        assert [c["reason"] for c in conflicts] == ["the judge: one refunds at once, the other waits for photos"]
        # Opposite polarity, but the judge says they can both be followed: no conflict.
        lesson(rasi, situation="Customer asks for a refund for a parcel that arrived damaged and late", polarity="positive",
               correct_behavior="Apologise and mention the tracking link")
        assert len(rasi.api("GET", "/api/v1/conflicts").json()["conflicts"]) == 1
    finally:
        rasi.stop()
