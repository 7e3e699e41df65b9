"""The whole loop, as a user meets it: wrong answer → feedback → lesson → next request answered right."""
from conftest import injected_lessons

RULES = [
    # The scripted model considers minerals only when a lesson about them is in its prompt.
    {"name": "with lesson", "when": {"last_user_contains_any": ["gut", "digest"], "prompt_contains": "minerals"},
     "reply": {"content": "Besides fibre, check magnesium, zinc and iron: mineral gaps often cause low energy."}},
    {"name": "without lesson", "when": {"last_user_contains_any": ["gut", "digest"]},
     "reply": {"content": "Eat more fibre and fermented foods."}},
]


def test_reviewed_lesson_changes_the_next_similar_request_and_deletion_removes_it(rasi, model, agent_key, reviewer_key):
    model.script(RULES)
    client = rasi.openai(agent_key, **{"X-RASI-Agent": "nutrition", "X-RASI-User": "u-1"})

    # 1. The agent answers without considering minerals.
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "How can I fix my gut health? I'm also low on energy all the time."}])
    first = raw.parse()
    first_id = raw.headers["X-RASI-Interaction"]
    assert raw.headers["X-RASI-Lessons"] == ""
    assert "magnesium" not in first.choices[0].message.content
    assert injected_lessons(model.requests()[-1]) == ""

    # 2. The user gives a thumbs-down; the interaction enters the review queue.
    feedback = rasi.api("POST", f"/api/v1/interactions/{first_id}/feedback", key=agent_key,
                        json={"rating": "down", "comment": "nothing about minerals"})
    assert feedback.status_code == 201, feedback.text
    queue = rasi.api("GET", "/api/v1/interactions?flagged=true", key=reviewer_key).json()["interactions"]
    assert [i["id"] for i in queue] == [first_id]

    # 3. A reviewer writes the correction; the lesson defaults its situation and `did` from the trace.
    created = rasi.api("POST", f"/api/v1/interactions/{first_id}/lessons", key=reviewer_key, json={
        "situation": "User asks about gut health together with low energy or fatigue",
        "should_have_done": "Consider minerals as well as fibre",
        "why": "Magnesium, zinc and iron deficiencies commonly cause both digestive trouble and fatigue",
        "correct_behavior": "Ask about diet and mention minerals such as magnesium, zinc and iron",
    })
    assert created.status_code == 201, created.text
    lesson = created.json()
    assert lesson["status"] == "active" and lesson["agent"] == "nutrition"
    assert lesson["source_interaction_id"] == first_id
    assert "Eat more fibre" in lesson["did"]

    # 4. A differently worded, similar request gets the lesson, and the model now answers right.
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "What should I eat for better digestion and gut health when my energy is low?"}])
    second = raw.parse()
    assert raw.headers["X-RASI-Lessons"] == lesson["id"]
    block = injected_lessons(model.requests()[-1])
    assert "Lessons from reviewed past cases" in block
    assert "magnesium, zinc and iron" in block
    assert "magnesium" in second.choices[0].message.content
    logged = rasi.api("GET", f"/api/v1/interactions/{raw.headers['X-RASI-Interaction']}", key=reviewer_key).json()
    assert logged["lessons_injected"] == [lesson["id"]]

    # An unrelated request gets nothing.
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "Can you recommend a good book about sailing?"}])
    assert raw.headers["X-RASI-Lessons"] == ""

    # Lessons are scoped per agent: another agent does not get it.
    other = rasi.openai(agent_key, **{"X-RASI-Agent": "support"})
    raw = other.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "What should I eat for better gut health when my energy is low?"}])
    assert raw.headers["X-RASI-Lessons"] == ""

    # 5. The lesson is deleted: the very next request gets nothing injected.
    assert rasi.api("DELETE", f"/api/v1/lessons/{lesson['id']}", key=reviewer_key).status_code == 204
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "What should I eat for better digestion and gut health when my energy is low?"}])
    assert raw.headers["X-RASI-Lessons"] == ""
    assert injected_lessons(model.requests()[-1]) == ""
    assert "magnesium" not in raw.parse().choices[0].message.content


def test_retired_lesson_leaves_retrieval_and_reactivated_returns(rasi, model, reviewer_key, agent_key):
    created = rasi.api("POST", "/api/v1/lessons", key=reviewer_key, json={
        "agent": "default", "situation": "Customer asks to cancel a subscription",
        "should_have_done": "Offer to pause first", "correct_behavior": "Mention the pause option before cancelling",
    }).json()
    query = {"agent": "default", "query": "How do I cancel my subscription?"}
    hits = rasi.api("POST", "/api/v1/retrieve", key=agent_key, json=query).json()
    assert [h["lesson"]["id"] for h in hits["lessons"]] == [created["id"]]
    assert hits["tokens"] > 0 and "pause option" in hits["context"]

    retired = rasi.api("PATCH", f"/api/v1/lessons/{created['id']}", key=reviewer_key, json={"status": "retired"})
    assert retired.json()["version"] == 2
    assert rasi.api("POST", "/api/v1/retrieve", key=agent_key, json=query).json() == {"lessons": [], "context": "", "tokens": 0, "set_aside": []}

    rasi.api("PATCH", f"/api/v1/lessons/{created['id']}", key=reviewer_key, json={"status": "active"})
    assert len(rasi.api("POST", "/api/v1/retrieve", key=agent_key, json=query).json()["lessons"]) == 1
    versions = rasi.api("GET", f"/api/v1/lessons/{created['id']}/versions", key=reviewer_key).json()["versions"]
    assert [v["status"] for v in versions] == ["active", "retired", "active"]
    assert all(v["changed_by"].startswith("e2e reviewer") and v["changed_at"] for v in versions)


def test_lessons_made_without_the_model_are_embedded_when_it_is_turned_on(workdir, model):
    from conftest import Rasi
    lexical = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_EMBEDDER": "none"})
    try:
        created = lexical.api("POST", "/api/v1/lessons", json={
            "situation": "Customer wants to return a damaged parcel", "should_have_done": "Offer a prepaid label",
            "correct_behavior": "Send a prepaid return label"}).json()
    finally:
        lexical.stop()
    dense = Rasi(workdir, upstream=model.url + "/v1")
    try:
        # No word in common with the situation: only the embedding can find it.
        hits = dense.api("POST", "/api/v1/retrieve", json={"query": "my package arrived broken, can I send it back?"}).json()
        assert [h["lesson"]["id"] for h in hits["lessons"]] == [created["id"]]
        assert dense.api("GET", f"/api/v1/lessons/{created['id']}").json()["version"] == 1
    finally:
        dense.stop()


def test_an_openai_compatible_embedder_serves_retrieval_and_its_outage_only_skips_lessons(workdir, model):
    from conftest import Rasi, ScriptedModel
    model.script([], default={"content": "ok"})
    embeddings = ScriptedModel(workdir)  # a separate endpoint, so it can fail alone
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={
        "RASI_EMBEDDER": "openai:scripted-embedding", "RASI_EMBEDDINGS_BASE_URL": embeddings.url + "/v1",
        "RASI_LESSONS_MIN_SCORE": "0.3"})
    try:
        lesson = rasi.api("POST", "/api/v1/lessons", json={
            "situation": "refund for a damaged parcel", "should_have_done": "x", "correct_behavior": "Offer a refund or a replacement"}).json()
        hits = rasi.api("POST", "/api/v1/retrieve", json={"query": "can I get a refund, my parcel is damaged"}).json()
        assert [h["lesson"]["id"] for h in hits["lessons"]] == [lesson["id"]]
        assert rasi.api("POST", "/api/v1/retrieve", json={"query": "what time is it in tokyo"}).json()["lessons"] == []
        chat = {"model": "m", "messages": [{"role": "user", "content": "can I get a refund, my parcel is damaged"}]}
        assert rasi.api("POST", "/v1/chat/completions", json=chat).headers["X-RASI-Lessons"] == lesson["id"]

        # The embeddings endpoint goes away: retrieval of a new text says 502; the gateway still
        # answers, without lessons. (A request embedded moments ago is remembered, so it keeps its lessons.)
        embeddings.stop()
        assert rasi.api("POST", "/api/v1/retrieve", json={"query": "refund damaged parcel"}).status_code == 502
        assert rasi.api("POST", "/v1/chat/completions", json=chat).headers["X-RASI-Lessons"] == lesson["id"]
        unseen = {"model": "m", "messages": [{"role": "user", "content": "my parcel arrived damaged, can I have a refund"}]}
        answered = rasi.api("POST", "/v1/chat/completions", json=unseen)
        assert answered.status_code == 200 and answered.headers["X-RASI-Lessons"] == ""
        assert answered.json()["choices"][0]["message"]["content"] == "ok"
    finally:
        rasi.stop()


def test_an_unusable_embeddings_endpoint_stops_the_start(workdir, model):
    from conftest import Rasi, free_port
    import pytest
    with pytest.raises(RuntimeError) as failed:
        Rasi(workdir, upstream=model.url + "/v1", extra_env={
            "RASI_EMBEDDER": "openai:x", "RASI_EMBEDDINGS_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
            "RASI_UPSTREAM_CONNECT_TIMEOUT": "1"})
    assert "embeddings unreachable" in str(failed.value)
