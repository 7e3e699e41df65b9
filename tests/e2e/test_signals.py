"""Implicit signals from scripted conversations, and the flag rules over them."""
import time

import pytest

from conftest import Rasi, wait_for

AGENT_RULES = [
    {"when": {"last_user_contains": "table"}, "reply": {"content": "Sure. For how many people?"}},
    {"when": {"last_user_contains": "hours"}, "reply": {"content": "We are open from 9 to 17."}},
    {"when": {"last_user_contains_any": ["refund", "money back"]},
     "reply": {"tool_calls": [{"name": "escalate_to_human", "arguments": {"reason": "refund"}}]}},
]


def chat(client, text, conversation):
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": text}], extra_headers={"X-RASI-Conversation": conversation})
    return raw.headers["X-RASI-Interaction"]


def logged(rasi, interaction_id):
    return rasi.api("GET", f"/api/v1/interactions/{interaction_id}").json()


def signals(interaction):
    return sorted(f["signal"] for f in interaction["feedback"] if f["source"] == "implicit")


def test_asking_the_same_thing_again_in_other_words_is_a_rephrase(rasi, model, agent_key):
    model.script(AGENT_RULES, default={"content": "I am not sure what you mean."})
    client = rasi.openai(agent_key)
    first = chat(client, "How do I reset my password?", "c-rephrase")
    second = chat(client, "What are the steps to change my password?", "c-rephrase")
    third = chat(client, "ok thanks!", "c-rephrase")
    unrelated = chat(client, "What are your opening hours on Sunday?", "c-rephrase")

    earlier = logged(rasi, first)
    assert signals(earlier) == ["rephrase"]
    assert second in next(f["comment"] for f in earlier["feedback"])
    assert [f["rule"] for f in earlier["flags"]] == ["rephrase"]
    # "ok thanks" acknowledges; it is not the question again. An unrelated request is not either.
    assert signals(logged(rasi, second)) == []
    assert signals(logged(rasi, third)) == []
    assert signals(logged(rasi, unrelated)) == []
    # The same words in another conversation are not a rephrase of this one.
    other = chat(client, "How do I reset my password?", "c-other")
    assert signals(logged(rasi, other)) == []
    assert 'rasi_signals_total{signal="rephrase"} 1' in rasi.api("GET", "/metrics").text


def test_strangers_opening_with_the_same_words_are_not_rephrases_of_each_other(rasi, model, agent_key):
    """Without a conversation header or an end-user id, a conversation is derived from its opening
    words, which many users share ("Where is my order?"): one user's opening is not a rephrase of
    another's. A later turn that resends the conversation, or the same end user asking again, still is."""
    model.script(AGENT_RULES, default={"content": "I am not sure what you mean."})
    client = rasi.openai(agent_key)

    def ask(messages, **headers):
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, extra_headers=headers)
        return raw.headers["X-RASI-Interaction"]

    opening = [{"role": "user", "content": "How do I reset my password?"}]
    strangers = [ask(opening) for _ in range(3)]
    assert len({logged(rasi, i)["conversation_id"] for i in strangers}) == 1  # one derived conversation
    assert all(signals(logged(rasi, i)) == [] for i in strangers)
    # The same chat going on (its history resent) and asking again in other words: a rephrase.
    follow_up = opening + [{"role": "assistant", "content": "I am not sure what you mean."},
                           {"role": "user", "content": "What are the steps to change my password?"}]
    ask(follow_up)
    assert [signals(logged(rasi, i)) for i in strangers].count(["rephrase"]) == 1
    # One end user asking the same again (a retry) is a rephrase too.
    mine = ask(opening, **{"X-RASI-User": "u-42"})
    ask(opening, **{"X-RASI-User": "u-42"})
    assert signals(logged(rasi, mine)) == ["rephrase"]


def test_a_rephrase_followed_by_a_thumbs_up_leaves_the_review_queue(rasi, model, agent_key):
    model.script(AGENT_RULES, default={"content": "I am not sure what you mean."})
    client = rasi.openai(agent_key)
    first = chat(client, "How do I reset my password?", "c-up")
    chat(client, "What are the steps to change my password?", "c-up")
    assert [i["id"] for i in rasi.api("GET", "/api/v1/interactions?flagged=true").json()["interactions"]] == [first]
    rasi.api("POST", f"/api/v1/interactions/{first}/feedback", key=agent_key, json={"rating": "up"}).raise_for_status()
    assert rasi.api("GET", "/api/v1/interactions?flagged=true").json()["interactions"] == []


def test_escalations_from_the_user_the_agent_and_the_api(rasi, model, agent_key):
    model.script(AGENT_RULES, default={"content": "I am not sure what you mean."})
    client = rasi.openai(agent_key)

    # The user asks for a human: the turn before gets the signal.
    first = chat(client, "Can I change my delivery address?", "c-human")
    chat(client, "This is not helping, can I talk to a human?", "c-human")
    assert signals(logged(rasi, first)) == ["escalate"]

    # The agent calls a hand-off tool: its own turn gets the signal.
    handed_off = chat(client, "I want my money back", "c-tool")
    turn = logged(rasi, handed_off)
    assert signals(turn) == ["escalate"]
    assert "escalate_to_human" in turn["feedback"][0]["comment"]
    assert [f["rule"] for f in turn["flags"]] == ["escalate"]

    # A client reports it; reported twice, it counts once.
    reported = chat(client, "What are your opening hours?", "c-api")
    body = {"signal": "escalate", "source": "implicit", "comment": "user pressed the call-centre button"}
    assert rasi.api("POST", f"/api/v1/interactions/{reported}/feedback", key=agent_key, json=body).status_code == 201
    assert rasi.api("POST", f"/api/v1/interactions/{reported}/feedback", key=agent_key, json=body).status_code == 200
    assert signals(logged(rasi, reported)) == ["escalate"]


def test_abandonment_after_a_question_is_found_by_the_sweeper_once_across_restarts(workdir, model):
    model.script(AGENT_RULES, default={"content": "I am not sure what you mean."})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={
        "RASI_ABANDON_AFTER": "1", "RASI_SWEEP_INTERVAL": "1", "RASI_FLAG_RULES": "thumbs_down,abandon"})
    try:
        client = rasi.openai(rasi.create_key("agent"))
        asked = chat(client, "I'd like to book a table", "c-abandon")
        answered = chat(client, "What are your opening hours?", "c-answered")
        followed = chat(client, "Book a table for tonight", "c-followed")
        chat(client, "What are your opening hours?", "c-followed")

        turn = wait_for(lambda: (t := logged(rasi, asked)) and signals(t) and t, what="the abandon signal")
        assert signals(turn) == ["abandon"]
        assert [f["rule"] for f in turn["flags"]] == ["abandon"]
        assert signals(logged(rasi, answered)) == []  # answered, no question: not abandoned
        assert signals(logged(rasi, followed)) == []  # asked, but the user came back

        # Killed and restarted, the sweeper looks again and counts nothing twice.
        rasi.kill9()
        rasi.start()
        time.sleep(2.5)
        rasi.stop()
        rasi.start()
        time.sleep(1.5)
        assert signals(logged(rasi, asked)) == ["abandon"]
    finally:
        rasi.stop()


def test_a_failed_tool_and_an_upstream_error_flag_the_interaction(rasi, model, agent_key):
    logged_turn = rasi.api("POST", "/api/v1/interactions", key=agent_key, json={
        "agent": "shop", "request": "where is order 1234?", "response": "I could not find it.",
        "steps": [{"kind": "tool_call", "name": "lookup_order", "arguments": "{\"id\": \"1234\"}", "call_id": "c1"},
                  {"kind": "tool_result", "name": "lookup_order", "content": "{\"error\": \"timeout\"}", "call_id": "c1"}]})
    assert logged_turn.status_code == 201, logged_turn.text
    flags = logged_turn.json()["flags"]
    assert [f["rule"] for f in flags] == ["tool_failed"]
    assert "lookup_order" in flags[0]["reason"]

    model.script([{"when": {"last_user_contains": "boom"}, "reply": {"error": {"status": 500, "message": "model crashed"}}}])
    client = rasi.openai(agent_key)
    with pytest.raises(Exception):
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "boom"}])
    queue = rasi.api("GET", "/api/v1/interactions?flagged=true").json()["interactions"]
    assert [f["rule"] for f in queue[-1]["flags"]] == ["upstream_error"]


def test_a_reviewer_dismisses_a_flag_and_the_rule_does_not_raise_it_again(rasi, model, agent_key, reviewer_key):
    model.script(AGENT_RULES, default={"content": "I am not sure."})
    client = rasi.openai(agent_key)
    turn = chat(client, "What are your opening hours?", "c-dismiss")
    rasi.api("POST", f"/api/v1/interactions/{turn}/feedback", key=agent_key, json={"rating": "down"}).raise_for_status()
    dismissed = rasi.api("DELETE", f"/api/v1/interactions/{turn}/flags", key=reviewer_key)
    assert dismissed.json() == {"dismissed": 1}
    rasi.api("POST", f"/api/v1/interactions/{turn}/feedback", key=agent_key, json={"rating": "down"}).raise_for_status()
    assert rasi.api("GET", "/api/v1/interactions?flagged=true", key=reviewer_key).json()["interactions"] == []
    assert rasi.api("DELETE", "/api/v1/interactions/int_unknown/flags", key=reviewer_key).status_code == 404
