"""The OpenAI-compatible gateway, driven by the official OpenAI Python SDK."""
import concurrent.futures
import json
import subprocess
import threading

import httpx
import openai
import pytest

from conftest import RASI_BIN, Rasi, collect, free_port

TOOLS = [{
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by its id",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
}]

ORDER_RULES = [
    {"when": {"last_role": "tool", "prompt_contains": "refund_policy"},
     "reply": {"content": "Order 42 shipped and is refundable. {{last_tool_result}}"}},
    {"when": {"last_role": "tool"},
     "reply": {"reasoning": "Now the policy.", "tool_calls": [{"name": "refund_policy", "arguments": {"country": "DE"}}]}},
    {"when": {"last_user_contains": "order"},
     "reply": {"reasoning": "I should look the order up.", "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "42"}}]}},
    {"when": {"last_user_contains": "thanks"}, "reply": {"content": "You're welcome."}},
]


def test_non_streaming_completion_is_answered_and_logged(rasi, model, agent_key, reviewer_key):
    model.script([{"when": {"last_user_contains": "capital"},
                   "reply": {"content": "Paris.", "reasoning": "France's capital is Paris."}}])
    client = rasi.openai(agent_key, **{"X-RASI-User": "user-7", "X-RASI-Conversation": "conv-1"})
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Paris."
    assert completion.usage.total_tokens > 0
    interaction_id = raw.headers["X-RASI-Interaction"]
    assert raw.headers["X-RASI-Lessons"] == ""

    logged = rasi.api("GET", f"/api/v1/interactions/{interaction_id}", key=reviewer_key).json()
    assert logged["request"] == "What is the capital of France?"
    assert logged["response"] == "Paris."
    assert logged["user_id"] == "user-7" and logged["conversation_id"] == "conv-1" and logged["agent"] == "default"
    assert [s["kind"] for s in logged["steps"]] == ["message", "thinking", "message"]
    assert logged["steps"][1]["content"] == "France's capital is Paris."
    assert logged["tokens"]["total"] == completion.usage.total_tokens
    assert logged["messages"][0] == {"role": "system", "content": "Be brief."}


def test_stream_is_passed_through_chunk_by_chunk_as_it_arrives(rasi, model, agent_key, reviewer_key):
    # The scripted model sends its first content chunk, then holds the stream open until the
    # test releases the gate. A gateway that buffered would deliver nothing before the release.
    model.script([{"when": {"last_user_contains": "story"},
                   "reply": {"content": "Once upon a time there was a gateway.", "reasoning": "A short story.",
                             "hold_after_first_chunk": "story"}}])
    client = rasi.openai(agent_key)
    raw = client.chat.completions.with_raw_response.create(
        model="scripted", stream=True, messages=[{"role": "user", "content": "Tell me a story"}])
    interaction_id = raw.headers["X-RASI-Interaction"]
    stream = raw.parse()
    pieces = []
    released = False
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
            if not released:
                # We hold the first piece while the upstream is still holding back the rest.
                assert pieces == ["Once "]
                assert model.holding() == ["story"]
                model.release("story")
                released = True
    assert "".join(pieces) == "Once upon a time there was a gateway."

    logged = rasi.api("GET", f"/api/v1/interactions/{interaction_id}", key=reviewer_key).json()
    assert logged["response"] == "Once upon a time there was a gateway."
    assert [s["kind"] for s in logged["steps"]] == ["message", "thinking", "message"]
    assert logged["steps"][1]["content"] == "A short story."
    assert logged["tokens"]["total"] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calling_turn_of_several_calls_is_one_interaction(rasi, model, agent_key, reviewer_key, stream):
    model.script(ORDER_RULES)
    client = rasi.openai(agent_key, **{"X-RASI-Agent": "shop"})
    messages = [{"role": "system", "content": "You are a shop assistant."},
                {"role": "user", "content": "Where is my order 42?"}]
    ids = []
    for expected_tool in ["lookup_order", "refund_policy", None]:
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, tools=TOOLS, stream=stream)
        ids.append(raw.headers["X-RASI-Interaction"])
        content, calls = collect(raw.parse(), stream)
        if expected_tool is None:
            assert content.startswith("Order 42 shipped")
            break
        assert [c["function"]["name"] for c in calls] == [expected_tool]
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        for call in calls:
            result = {"lookup_order": '{"status": "shipped"}', "refund_policy": '{"days": 30}'}[call["function"]["name"]]
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    assert len(set(ids)) == 1, "all calls of one turn belong to one interaction"

    logged = rasi.api("GET", f"/api/v1/interactions/{ids[0]}", key=reviewer_key).json()
    kinds = [(s["kind"], s.get("name")) for s in logged["steps"]]
    assert kinds == [
        ("message", "user"), ("thinking", None), ("tool_call", "lookup_order"), ("tool_result", "lookup_order"),
        ("thinking", None), ("tool_call", "refund_policy"), ("tool_result", "refund_policy"), ("message", "assistant"),
    ]
    tool_call = logged["steps"][2]
    assert json.loads(tool_call["arguments"]) == {"order_id": "42"}
    assert logged["steps"][3]["content"] == '{"status": "shipped"}'
    assert logged["response"].startswith("Order 42 shipped")

    # Tools reached the upstream exactly as the client sent them.
    for received in model.requests():
        assert received["tools"] == TOOLS

    # A new user message in the same conversation starts a new interaction.
    messages += [{"role": "assistant", "content": content}, {"role": "user", "content": "thanks!"}]
    raw = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, tools=TOOLS, stream=stream)
    collect(raw.parse(), stream)
    next_id = raw.headers["X-RASI-Interaction"]
    assert next_id != ids[0]
    following = rasi.api("GET", f"/api/v1/interactions/{next_id}", key=reviewer_key).json()
    assert following["conversation_id"] == logged["conversation_id"]
    assert following["request"] == "thanks!"


def test_upstream_server_error_is_502_and_the_interaction_is_logged(rasi, model, agent_key, reviewer_key):
    model.script([{"when": {"last_user_contains": "boom"}, "reply": {"error": {"status": 500, "message": "model crashed"}}}])
    client = rasi.openai(agent_key)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "boom"}])
    assert raised.value.status_code == 502
    assert "model crashed" in raised.value.message
    interaction_id = raised.value.response.headers["X-RASI-Interaction"]
    logged = rasi.api("GET", "/api/v1/interactions", key=reviewer_key).json()["interactions"]
    assert len(logged) == 1 and logged[0]["request"] == "boom" and logged[0]["id"] == interaction_id
    assert "500" in logged[0]["error"] and "model crashed" in logged[0]["error"]
    assert 'rasi_gateway_calls_total{api="chat",status="502"} 1' in rasi.api("GET", "/metrics").text


def test_upstream_client_error_is_passed_through_and_logged(rasi, model, agent_key, reviewer_key):
    model.script([{"when": {"last_user_contains": "bad"}, "reply": {"error": {"status": 400, "message": "context too long"}}}])
    with pytest.raises(openai.BadRequestError) as raised:
        rasi.openai(agent_key).chat.completions.create(model="scripted", messages=[{"role": "user", "content": "bad"}])
    assert "context too long" in raised.value.message
    logged = rasi.api("GET", "/api/v1/interactions", key=reviewer_key).json()["interactions"]
    assert "context too long" in logged[0]["error"]


def test_unreachable_upstream_is_502_and_logged(workdir, model):
    from conftest import Rasi
    closed = free_port()
    rasi = Rasi(workdir, upstream=f"http://127.0.0.1:{closed}/v1", extra_env={"RASI_UPSTREAM_CONNECT_TIMEOUT": "1"})
    try:
        key = rasi.create_key("agent")
        ids = []
        for stream in (False, True):
            response = rasi.api("POST", "/v1/chat/completions", key=key,
                                json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
            assert response.status_code == 502
            assert response.json()["error"]["type"] == "upstream_error"
            ids.append(response.headers["X-RASI-Interaction"])
        logged = rasi.api("GET", "/api/v1/interactions").json()["interactions"]
        assert sorted(i["id"] for i in logged) == sorted(ids)
        assert all("unreachable" in i["error"] for i in logged)
    finally:
        rasi.stop()


def test_models_are_passed_through(rasi, agent_key):
    models = rasi.openai(agent_key).models.list()
    assert [m.id for m in models.data] == ["rasi-scripted-model"]


def test_metrics_count_requests_gateway_calls_and_injections(rasi, model, agent_key):
    model.script([], default={"content": "ok"})
    rasi.openai(agent_key).chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hello"}])
    assert rasi.api("GET", "/metrics", key=None).status_code == 401
    response = rasi.api("GET", "/metrics", key=agent_key)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'rasi_gateway_calls_total{api="chat",status="200"} 1' in text
    assert 'rasi_lessons_injected_total{agent="default"} 0' in text
    assert "hb_requests" in text  # Hummingbird's request counter, through swift-metrics


def server_timing(headers):
    """The phases of a Server-Timing header, in milliseconds."""
    phases = {}
    for metric in headers["Server-Timing"].split(","):
        name, *parameters = [part.strip() for part in metric.split(";")]
        phases[name] = next(float(p[4:]) for p in parameters if p.startswith("dur="))
    return phases


@pytest.mark.parametrize("stream", [False, True])
def test_every_reply_says_what_rasi_spent_on_it_in_server_timing(rasi, model, agent_key, reviewer_key, stream):
    model.script([], default={"content": "Pause it first.", "delay_ms": 150})
    rasi.api("POST", "/api/v1/lessons", key=reviewer_key, json={
        "agent": "default", "situation": "Customer asks to cancel a subscription",
        "should_have_done": "Offer to pause first", "correct_behavior": "Mention the pause option before cancelling",
    }).raise_for_status()
    client = rasi.openai(agent_key)
    messages = [{"role": "user", "content": "How do I cancel my subscription?"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(model="scripted", messages=messages, stream=True) as raw:
            headers = raw.headers
            body = "".join(raw.iter_lines())  # the reply comes word by word
            assert "Pause" in body and body.endswith("data: [DONE]")
    else:
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=messages)
        headers = raw.headers
    assert headers["X-RASI-Lessons"] != ""
    phases = server_timing(headers)
    # The selection and each of its parts; the model's own time, which rasi did not add.
    for part in ["embed", "lexical", "dense", "select"]:
        assert 0 < phases[part] <= phases["lessons"]
    assert phases["upstream"] >= 150
    # The closing write is on a plain reply's path; a stream is logged after it ends.
    assert ("log" in phases) == (not stream)

    # The retrieve endpoint selects the same way, and says so the same way.
    retrieved = rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={"query": "How do I cancel my subscription?"})
    assert retrieved.json()["lessons"]
    phases = server_timing(retrieved.headers)
    assert {"lessons", "embed", "lexical", "dense", "select"} <= set(phases) and "upstream" not in phases

    # An agent without lessons is not embedded for: one lookup, then the model.
    other = rasi.openai(agent_key, **{"X-RASI-Agent": "no-lessons-yet"}).chat.completions.with_raw_response.create(
        model="scripted", messages=messages)
    phases = server_timing(other.headers)
    assert "embed" not in phases and "dense" not in phases
    assert phases["upstream"] >= 150 and phases["lessons"] < phases["upstream"]


def test_requests_the_busy_model_cannot_take_in_time_get_lessons_chosen_by_words(workdir, model):
    """RASI_EMBED_WAIT_MS=0: a request embeds only when the model is free; one that arrives while
    it embeds others gets its lessons by words alone at once, says so (`words` in Server-Timing),
    and is counted. Nothing fails and a lesson sharing the request's words is still injected."""
    model.script([], default={"content": "Pause it first.", "delay_ms": 50})
    busy = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_EMBED_WAIT_MS": "0"})
    try:
        busy.api("POST", "/api/v1/lessons", json={
            "agent": "default", "situation": "Customer asks to cancel a subscription",
            "should_have_done": "Offer to pause first", "correct_behavior": "Mention the pause option before cancelling",
        }).raise_for_status()
        key = busy.create_key("agent")

        def call(i):
            return httpx.post(busy.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30, json={
                "model": "m", "messages": [{"role": "user", "content": f"Please cancel my subscription ({i})"}]})

        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            responses = list(pool.map(call, range(48)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
        by_words = [r for r in responses if "words" in server_timing(r.headers)]
        embedded = [r for r in responses if "dense" in server_timing(r.headers)]
        assert len(by_words) + len(embedded) == len(responses)
        assert by_words and embedded
        for r in responses:
            assert r.headers["X-RASI-Lessons"] != "", server_timing(r.headers)
        # A request chosen by words waited for no embedding.
        assert all("embed" not in server_timing(r.headers) or server_timing(r.headers)["embed"] < 5 for r in by_words)
        metrics = busy.api("GET", "/metrics").text
        assert f"rasi_lessons_by_words_total {len(by_words)}" in metrics

        # The setting is checked at start.
        bad = subprocess.run([RASI_BIN, "serve"], env={**busy.env, "RASI_EMBED_WAIT_MS": "-3"}, capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "RASI_EMBED_WAIT_MS" in bad.stderr + bad.stdout
    finally:
        busy.stop()
