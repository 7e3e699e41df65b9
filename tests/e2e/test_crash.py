"""A SIGKILL in the middle of streamed calls: the calls that never finished are marked interrupted, not answered."""
import httpx

from conftest import Rasi, wait_for

INTERRUPTED = "interrupted: rasi stopped before the model's reply ended"
STORY_RULES = [{"when": {"last_user_contains": "story"},
                "reply": {"content": "Once upon a time there was a gateway.", "hold_after_first_chunk": "story"}}]


def hold_a_stream_open(rasi, agent_key, model) -> str:
    """Starts a streamed chat call that the upstream holds open after its first chunk; returns its interaction."""
    client = rasi.openai(agent_key)
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", stream=True, messages=[{"role": "user", "content": "Tell me a story"}])
    interaction_id = raw.headers["X-RASI-Interaction"]
    stream = raw.parse()
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break  # the first piece arrived; the rest is held back
    assert "story" in model.holding()
    return interaction_id


def logged(rasi, interaction_id, key):
    response = rasi.api("GET", f"/api/v1/interactions/{interaction_id}", key=key)
    assert response.status_code == 200, response.text
    return response.json()


def interrupted(rasi, interaction_id, key):
    turn = logged(rasi, interaction_id, key)
    return turn if turn.get("error") else None


def test_a_streamed_call_cut_by_sigkill_is_marked_interrupted_at_the_next_start(rasi, model, agent_key, reviewer_key):
    model.script(STORY_RULES, default={"content": "Paris."})
    answered = rasi.api("POST", "/v1/chat/completions", key=agent_key,
                        json={"model": "m", "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    assert answered.status_code == 200
    answered_id = answered.headers["X-RASI-Interaction"]
    held_id = hold_a_stream_open(rasi, agent_key, model)

    rasi.kill9()
    rasi.start()

    # The killed process's lease runs out unrenewed (15 seconds), and the new one marks its call.
    turn = wait_for(lambda: interrupted(rasi, held_id, reviewer_key), timeout=45, interval=0.5, what="the interrupted call")
    assert turn["error"] == INTERRUPTED
    assert turn.get("response") is None  # not an answer, however much of it was streamed
    assert [f["rule"] for f in turn["flags"]] == ["upstream_error"]
    assert turn["updated_at"] >= turn["created_at"]

    # The call answered before the kill is as it was.
    before = logged(rasi, answered_id, reviewer_key)
    assert before["response"] == "Paris." and before.get("error") is None and before["flags"] == []
    model.release("story")


def test_a_replica_that_dies_mid_stream_is_cleaned_up_by_one_that_survives(workdir, model, postgres_url):
    model.script(STORY_RULES)
    # The surviving call is held longer than the default upstream timeout (10 s) of these tests.
    extra = {"RASI_DATABASE_URL": postgres_url, "RASI_UPSTREAM_TIMEOUT": "60"}
    dying = Rasi(workdir, upstream=model.url + "/v1", extra_env=extra)
    surviving = None
    try:
        surviving = Rasi(workdir, upstream=model.url + "/v1", extra_env=extra)
        agent_key = dying.create_key("agent")
        reviewer_key = dying.create_key("reviewer")
        on_dying = hold_a_stream_open(dying, agent_key, model)
        # A call open on the surviving replica, held by the same gate, must stay open.
        with httpx.stream("POST", surviving.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {agent_key}"},
                          json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "Another story"}]},
                          timeout=60) as on_surviving:
            assert on_surviving.status_code == 200
            surviving_id = on_surviving.headers["X-RASI-Interaction"]
            dying.kill9()

            turn = wait_for(lambda: interrupted(surviving, on_dying, reviewer_key), timeout=45, interval=0.5,
                            what="the dead replica's call marked")
            assert turn["error"] == INTERRUPTED
            assert logged(surviving, surviving_id, reviewer_key).get("error") is None

            # Released, the surviving replica's stream ends and is logged as answered.
            model.release("story")
            assert "gateway" in "".join(on_surviving.iter_text())
        answered = wait_for(lambda: logged(surviving, surviving_id, reviewer_key).get("response"), what="the answer logged")
        assert answered == "Once upon a time there was a gateway."
        assert logged(surviving, surviving_id, reviewer_key).get("error") is None
    finally:
        dying.stop()
        if surviving:
            surviving.stop()
