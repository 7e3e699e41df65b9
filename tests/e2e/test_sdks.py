"""The gateway through clients nobody here wrote: the official `openai` and `anthropic` SDKs, the
OpenAI Agents SDK and LangChain. Each call is checked where rasi matters: the agent's lesson
reached the model (and changed its answer), and the interaction was logged under its API.

One rasi and one scripted model serve the whole module; each test works as an agent of its own,
so that one test's lessons never reach another's calls."""
import json
import re
import time

import anthropic
import httpx
import openai
import pytest

from conftest import ADMIN_KEY, Rasi, ScriptedModel, collect, injected_lessons

CANCEL = "How do I cancel my subscription?"
ORDER = "What is the delivery status of my order 42?"

# The scripted model mentions pausing only when the pause lesson is in its prompt, and gives the
# tracking link only when the tracking lesson is.
RULES = [
    {"when": {"last_user_contains": "cancel", "prompt_contains": "pause option"},
     "reply": {"content": "You can pause your subscription instead of cancelling it."}},
    {"when": {"last_user_contains": "cancel"}, "reply": {"content": "Your subscription is cancelled."}},
    {"when": {"last_role": "tool", "prompt_contains": "tracking link"},
     "reply": {"content": "Order 42 {{last_tool_result}}. Tracking link: https://track.example/42"}},
    {"when": {"last_role": "tool"}, "reply": {"content": "Order 42 {{last_tool_result}}."}},
    {"when": {"last_user_contains": "order"},
     "reply": {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "42"}}]}},
]
PAUSED = "You can pause your subscription instead of cancelling it."
TRACKED = "Order 42 shipped on Monday. Tracking link: https://track.example/42"

PAUSE_LESSON = {"situation": "Customer asks to cancel a subscription", "should_have_done": "Offer to pause first",
                "correct_behavior": "Mention the pause option before cancelling"}
TRACKING_LESSON = {"situation": "Customer asks for the delivery status of an order", "should_have_done": "Share how to follow the parcel",
                   "correct_behavior": "After looking the order up, give its tracking link"}
# The steps of a turn in which the model looked the order up and then answered.
ORDER_TURN = [("message", "user"), ("tool_call", "lookup_order"), ("tool_result", "lookup_order"), ("message", "assistant")]

CHAT_TOOLS = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Find an order by its id",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
RESPONSES_TOOLS = [{"type": "function", "name": "lookup_order", "description": "Find an order by its id",
                    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}]
MESSAGES_TOOLS = [{"name": "lookup_order", "description": "Find an order by its id",
                   "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    m = ScriptedModel(tmp_path_factory.mktemp("sdks"))
    yield m
    m.stop()


@pytest.fixture(scope="module")
def rasi(model):
    r = Rasi(model.log.parent, upstream=model.url + "/v1")
    yield r
    r.stop()


@pytest.fixture(scope="module")
def agent_key(rasi):
    return rasi.create_key("agent")


@pytest.fixture(scope="module")
def reviewer_key(rasi):
    return rasi.create_key("reviewer")


@pytest.fixture(autouse=True)
def scripted(model):
    """Every test starts from RULES; those about errors script their own."""
    model.script(RULES)


@pytest.fixture
def agent(request):
    """The agent this test speaks as (`X-RASI-Agent`): its own, so its lessons are its own."""
    return "sdk-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower()).strip("-")[:90]


def teach(rasi, reviewer_key, agent, lesson) -> str:
    created = rasi.api("POST", "/api/v1/lessons", key=reviewer_key, json={"agent": agent, **lesson})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def logged(rasi, reviewer_key, interaction_id):
    response = rasi.api("GET", f"/api/v1/interactions/{interaction_id}", key=reviewer_key)
    assert response.status_code == 200, response.text
    return response.json()


def only_interaction(rasi, reviewer_key, agent):
    """The one interaction logged for `agent`, for clients that do not show response headers."""
    listed = rasi.api("GET", "/api/v1/interactions", key=reviewer_key, params={"agent": agent}).json()["interactions"]
    assert len(listed) == 1, listed
    return logged(rasi, reviewer_key, listed[0]["id"])


def steps(interaction):
    return [(s["kind"], s.get("name")) for s in interaction["steps"]]


def openai_client(rasi, key, agent) -> openai.OpenAI:
    return rasi.openai(key, **{"X-RASI-Agent": agent})


def anthropic_client(rasi, key, agent) -> anthropic.Anthropic:
    # The SDK picks the header its key goes in (`x-api-key` in 0.x, a bearer token in 2.x); rasi takes either.
    return anthropic.Anthropic(base_url=rasi.url, api_key=key, default_headers={"X-RASI-Agent": agent}, max_retries=0, timeout=20)


# --- the official openai SDK: Chat Completions --------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openai_chat_gets_the_lesson_and_is_logged(rasi, model, agent_key, reviewer_key, agent, stream):
    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    raw = openai_client(rasi, agent_key, agent).chat.completions.with_raw_response.create(
        model="scripted", stream=stream, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": CANCEL}])
    if stream:
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    else:
        answer = raw.parse().choices[0].message.content
    assert answer == PAUSED
    assert raw.headers["X-RASI-Lessons"] == lesson

    sent = model.requests()[-1]
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "Mention the pause option before cancelling" in injected_lessons(sent)

    interaction = logged(rasi, reviewer_key, raw.headers["X-RASI-Interaction"])
    assert interaction["api"] == "chat" and interaction["agent"] == agent
    assert interaction["request"] == CANCEL and interaction["response"] == PAUSED
    assert interaction["lessons_injected"] == [lesson]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openai_chat_tool_turn_is_one_interaction(rasi, model, agent_key, reviewer_key, agent, stream):
    lesson = teach(rasi, reviewer_key, agent, TRACKING_LESSON)
    client = openai_client(rasi, agent_key, agent)
    messages = [{"role": "user", "content": ORDER}]

    first = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, tools=CHAT_TOOLS, stream=stream)
    content, calls = collect(first.parse(), stream)
    assert content == ""
    [call] = calls
    assert call["function"]["name"] == "lookup_order" and json.loads(call["function"]["arguments"]) == {"order_id": "42"}
    messages += [{"role": "assistant", "content": None, "tool_calls": calls},
                 {"role": "tool", "tool_call_id": call["id"], "content": "shipped on Monday"}]
    second = client.chat.completions.with_raw_response.create(model="scripted", messages=messages, tools=CHAT_TOOLS, stream=stream)
    assert collect(second.parse(), stream) == (TRACKED, [])

    assert first.headers["X-RASI-Interaction"] == second.headers["X-RASI-Interaction"]
    assert first.headers["X-RASI-Lessons"] == second.headers["X-RASI-Lessons"] == lesson
    assert "give its tracking link" in injected_lessons(model.requests()[-1])
    interaction = logged(rasi, reviewer_key, first.headers["X-RASI-Interaction"])
    assert interaction["api"] == "chat"
    assert steps(interaction) == ORDER_TURN
    assert interaction["steps"][2]["content"] == "shipped on Monday"
    assert interaction["steps"][1]["call_id"] == interaction["steps"][2]["call_id"] == call["id"]
    assert interaction["response"] == TRACKED and interaction["lessons_injected"] == [lesson]


# --- the official openai SDK: Responses ---------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openai_responses_gets_the_lesson_and_is_logged(rasi, model, agent_key, reviewer_key, agent, stream):
    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    raw = openai_client(rasi, agent_key, agent).responses.with_raw_response.create(
        model="scripted", instructions="Be brief.", input=CANCEL, stream=stream)
    if stream:
        events = list(raw.parse())
        answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert events[-1].type == "response.completed" and events[-1].response.output_text == answer
    else:
        answer = raw.parse().output_text
    assert answer == PAUSED
    assert raw.headers["X-RASI-Lessons"] == lesson

    # The lessons come as a system item before the input; the client's instructions stay as they were.
    sent = model.requests()[-1]
    assert sent["instructions"] == "Be brief."
    assert sent["input"][0]["role"] == "system" and "Mention the pause option" in sent["input"][0]["content"]
    assert sent["input"][1] == {"role": "user", "content": CANCEL}

    interaction = logged(rasi, reviewer_key, raw.headers["X-RASI-Interaction"])
    assert interaction["api"] == "responses" and interaction["agent"] == agent
    assert interaction["request"] == CANCEL and interaction["response"] == PAUSED
    assert interaction["lessons_injected"] == [lesson]


@pytest.mark.parametrize("continued", ["full input", "previous_response_id"])
def test_openai_responses_tool_turn_is_one_interaction(rasi, model, agent_key, reviewer_key, agent, continued):
    lesson = teach(rasi, reviewer_key, agent, TRACKING_LESSON)
    client = openai_client(rasi, agent_key, agent)
    question = [{"role": "user", "content": ORDER}]

    first = client.responses.with_raw_response.create(model="scripted", input=question, tools=RESPONSES_TOOLS)
    response = first.parse()
    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == "lookup_order" and json.loads(call.arguments) == {"order_id": "42"}
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "shipped on Monday"}
    if continued == "full input":
        second = client.responses.with_raw_response.create(
            model="scripted", input=question + response.output + [output], tools=RESPONSES_TOOLS)
    else:
        second = client.responses.with_raw_response.create(
            model="scripted", previous_response_id=response.id, input=[output], tools=RESPONSES_TOOLS)
    assert second.parse().output_text == TRACKED

    assert first.headers["X-RASI-Interaction"] == second.headers["X-RASI-Interaction"]
    assert first.headers["X-RASI-Lessons"] == second.headers["X-RASI-Lessons"] == lesson
    sent = model.requests()[-1]
    assert "give its tracking link" in injected_lessons(sent)
    if continued == "previous_response_id":
        assert sent["previous_response_id"] == response.id
        assert [i.get("type", "message") for i in sent["input"]] == ["message", "function_call_output"]
    interaction = logged(rasi, reviewer_key, first.headers["X-RASI-Interaction"])
    assert interaction["api"] == "responses"
    assert steps(interaction) == ORDER_TURN
    assert interaction["steps"][1]["call_id"] == interaction["steps"][2]["call_id"] == call.call_id
    assert interaction["steps"][2]["content"] == "shipped on Monday"
    assert interaction["response"] == TRACKED and interaction["lessons_injected"] == [lesson]


def test_openai_responses_stream_helper_tool_turn_continued_by_previous_response_id(rasi, model, agent_key, reviewer_key, agent):
    lesson = teach(rasi, reviewer_key, agent, TRACKING_LESSON)
    client = openai_client(rasi, agent_key, agent)
    with client.responses.stream(model="scripted", input=ORDER, tools=RESPONSES_TOOLS) as stream:
        arguments = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        response = stream.get_final_response()
    [call] = [item for item in response.output if item.type == "function_call"]
    assert json.loads(arguments) == json.loads(call.arguments) == {"order_id": "42"}
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "shipped on Monday"}
    with client.responses.stream(model="scripted", previous_response_id=response.id, input=[output], tools=RESPONSES_TOOLS) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == TRACKED
    assert "give its tracking link" in injected_lessons(model.requests()[-1])

    # The id of a streamed response leads back to its interaction just as a whole one's does.
    interaction = only_interaction(rasi, reviewer_key, agent)
    assert interaction["api"] == "responses"
    assert steps(interaction) == ORDER_TURN
    assert interaction["response"] == TRACKED and interaction["lessons_injected"] == [lesson]


# --- the official anthropic SDK -----------------------------------------------------------------

def test_anthropic_message_gets_the_lesson_in_system_and_is_logged(rasi, model, agent_key, reviewer_key, agent):
    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    raw = anthropic_client(rasi, agent_key, agent).messages.with_raw_response.create(
        model="claude-scripted", max_tokens=256, system="Be brief.", messages=[{"role": "user", "content": CANCEL}])
    message = raw.parse()
    assert [block.text for block in message.content] == [PAUSED]
    assert message.stop_reason == "end_turn"
    assert raw.headers["X-RASI-Lessons"] == lesson

    # The lessons follow the client's own system text.
    sent = model.requests()[-1]
    assert sent["system"].startswith("Be brief.\n\n<rasi-lessons>")
    assert "Mention the pause option" in injected_lessons(sent)

    interaction = logged(rasi, reviewer_key, raw.headers["X-RASI-Interaction"])
    assert interaction["api"] == "messages" and interaction["agent"] == agent
    assert interaction["request"] == CANCEL and interaction["response"] == PAUSED
    assert interaction["lessons_injected"] == [lesson]


def test_anthropic_stream_gets_the_lesson_and_is_logged(rasi, model, agent_key, reviewer_key, agent):
    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    with anthropic_client(rasi, agent_key, agent).messages.stream(
            model="claude-scripted", max_tokens=256, system=system, messages=[{"role": "user", "content": CANCEL}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        headers = stream.response.headers
    assert text == PAUSED and final.content[0].text == PAUSED
    assert headers["X-RASI-Lessons"] == lesson

    # The client's system blocks stay as they were (its cache breakpoint too); the lessons are one more block.
    sent = model.requests()[-1]
    assert sent["stream"] is True
    assert sent["system"][0] == system[0]
    assert len(sent["system"]) == 2 and "Mention the pause option" in injected_lessons(sent)

    interaction = logged(rasi, reviewer_key, headers["X-RASI-Interaction"])
    assert interaction["api"] == "messages"
    assert interaction["response"] == PAUSED and interaction["lessons_injected"] == [lesson]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_anthropic_tool_turn_is_one_interaction(rasi, model, agent_key, reviewer_key, agent, stream):
    lesson = teach(rasi, reviewer_key, agent, TRACKING_LESSON)
    client = anthropic_client(rasi, agent_key, agent)
    messages = [{"role": "user", "content": ORDER}]

    def send():
        if not stream:
            raw = client.messages.with_raw_response.create(model="claude-scripted", max_tokens=256, messages=messages, tools=MESSAGES_TOOLS)
            return raw.parse(), raw.headers
        with client.messages.stream(model="claude-scripted", max_tokens=256, messages=messages, tools=MESSAGES_TOOLS) as events:
            return events.get_final_message(), events.response.headers

    reply, first = send()
    assert reply.stop_reason == "tool_use"
    [use] = [block for block in reply.content if block.type == "tool_use"]
    assert use.name == "lookup_order" and use.input == {"order_id": "42"}
    messages += [{"role": "assistant", "content": [block.model_dump() for block in reply.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "shipped on Monday"}]}]
    reply, second = send()
    assert [block.text for block in reply.content] == [TRACKED]

    assert first["X-RASI-Interaction"] == second["X-RASI-Interaction"]
    assert first["X-RASI-Lessons"] == second["X-RASI-Lessons"] == lesson
    assert "give its tracking link" in injected_lessons(model.requests()[-1])
    interaction = logged(rasi, reviewer_key, first["X-RASI-Interaction"])
    assert interaction["api"] == "messages"
    assert steps(interaction) == ORDER_TURN
    assert interaction["steps"][1]["call_id"] == interaction["steps"][2]["call_id"] == use.id
    assert json.loads(interaction["steps"][1]["arguments"]) == {"order_id": "42"}
    assert interaction["steps"][2]["content"] == "shipped on Monday"
    assert interaction["response"] == TRACKED and interaction["lessons_injected"] == [lesson]


def test_anthropic_sdk_key_is_accepted_as_x_api_key_and_as_bearer_token(rasi, agent_key, agent, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    as_header = anthropic.Anthropic(base_url=rasi.url, default_headers={"x-api-key": agent_key, "X-RASI-Agent": agent}, max_retries=0)
    as_token = anthropic.Anthropic(base_url=rasi.url, auth_token=agent_key, default_headers={"X-RASI-Agent": agent}, max_retries=0)
    for client in [as_header, as_token]:
        message = client.messages.create(model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": CANCEL}])
        assert message.content[0].text == "Your subscription is cancelled."


def test_anthropic_sdk_reads_a_bad_key_as_authentication_error(rasi, model, agent):
    calls_before = len(model.requests())
    with pytest.raises(anthropic.AuthenticationError) as raised:
        anthropic_client(rasi, "rasi_not_a_real_key", agent).messages.create(
            model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": CANCEL}])
    assert raised.value.status_code == 401
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "authentication_error"
    assert len(model.requests()) == calls_before


def test_anthropic_sdk_reads_a_bad_request_as_bad_request_error(rasi, model, agent_key, agent):
    # rasi's own check: a Messages conversation has no "system" role.
    client = anthropic_client(rasi, agent_key, agent)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="claude-scripted", max_tokens=256, messages=[{"role": "system", "content": CANCEL}])
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "invalid_request_error"
    assert "messages[0].role" in raised.value.body["error"]["message"]

    # The upstream's refusal comes back as the upstream said it.
    model.script([{"when": {"last_user_contains": "too long"}, "reply": {"error": {"status": 400, "message": "prompt is too long"}}}])
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": "a prompt too long"}])
    assert raised.value.body == {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}


# --- the OpenAI Agents SDK, on its default model: the Responses API -----------------------------

@pytest.mark.parametrize("run", ["run_sync", "run_streamed", "auto_previous_response_id"])
def test_openai_agents_sdk_runs_a_tool_through_the_responses_api(rasi, model, agent_key, reviewer_key, agent, run):
    import asyncio

    from agents import Agent, Runner, function_tool, set_default_openai_api, set_default_openai_client, set_tracing_disabled

    lesson = teach(rasi, reviewer_key, agent, TRACKING_LESSON)
    looked_up = []

    @function_tool
    def lookup_order(order_id: str) -> str:
        """Find an order by its id."""
        looked_up.append(order_id)
        return "shipped on Monday"

    # The SDK's settings are global; no other test here uses the SDK.
    set_tracing_disabled(True)
    set_default_openai_api("responses")
    set_default_openai_client(openai.AsyncOpenAI(
        base_url=rasi.url + "/v1", api_key=agent_key, default_headers={"X-RASI-Agent": agent}, max_retries=0), use_for_tracing=False)
    shop = Agent(name="shop", instructions="You are a shop assistant.", tools=[lookup_order])
    if run == "run_streamed":
        async def streamed():
            result = Runner.run_streamed(shop, ORDER)
            [_ async for _ in result.stream_events()]
            return result
        result = asyncio.run(streamed())
    else:
        # With auto_previous_response_id the SDK sends only the tool output after the response's id.
        result = Runner.run_sync(shop, ORDER, auto_previous_response_id=run == "auto_previous_response_id")
    assert looked_up == ["42"]
    assert result.final_output == TRACKED

    sent = model.requests()[-2:]
    assert [request.get("stream", False) for request in sent] == [run == "run_streamed"] * 2
    assert ("previous_response_id" in sent[1]) == (run == "auto_previous_response_id")
    assert all("input" in request and request["instructions"] == "You are a shop assistant." for request in sent)
    assert all("give its tracking link" in injected_lessons(request) for request in sent)
    interaction = only_interaction(rasi, reviewer_key, agent)
    assert interaction["api"] == "responses"
    assert steps(interaction) == ORDER_TURN
    assert interaction["steps"][2]["content"] == "shipped on Monday"
    assert interaction["response"] == TRACKED and interaction["lessons_injected"] == [lesson]


# --- LangChain -----------------------------------------------------------------------------------

def test_langchain_chat_openai_gets_the_lesson(rasi, model, agent_key, reviewer_key, agent):
    from langchain_openai import ChatOpenAI

    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    llm = ChatOpenAI(model="scripted", base_url=rasi.url + "/v1", api_key=agent_key, default_headers={"X-RASI-Agent": agent},
                     max_retries=0, include_response_headers=True)
    reply = llm.invoke(CANCEL)
    assert reply.content == PAUSED
    headers = {name.lower(): value for name, value in reply.response_metadata["headers"].items()}
    assert headers["x-rasi-lessons"] == lesson
    assert "Mention the pause option" in injected_lessons(model.requests()[-1])

    interaction = logged(rasi, reviewer_key, headers["x-rasi-interaction"])
    assert interaction["api"] == "chat" and interaction["agent"] == agent
    assert interaction["response"] == PAUSED and interaction["lessons_injected"] == [lesson]


def test_langchain_chat_anthropic_gets_the_lesson(rasi, model, agent_key, reviewer_key, agent):
    from langchain_anthropic import ChatAnthropic

    lesson = teach(rasi, reviewer_key, agent, PAUSE_LESSON)
    llm = ChatAnthropic(model="claude-scripted", anthropic_api_url=rasi.url, api_key=agent_key,
                        default_headers={"X-RASI-Agent": agent}, max_retries=0, max_tokens=256)
    reply = llm.invoke([("system", "Be brief."), ("human", CANCEL)])
    assert reply.content == PAUSED
    sent = model.requests()[-1]
    assert "max_tokens" in sent and sent["system"].startswith("Be brief.")
    assert "Mention the pause option" in injected_lessons(sent)

    interaction = only_interaction(rasi, reviewer_key, agent)
    assert interaction["api"] == "messages"
    assert interaction["request"] == CANCEL and interaction["response"] == PAUSED
    assert interaction["lessons_injected"] == [lesson]


# --- one agent's lessons, whichever API it speaks ----------------------------------------------

def test_a_lesson_corrected_on_a_chat_interaction_reaches_responses_and_messages_calls(rasi, model, agent_key, reviewer_key, agent):
    chat = openai_client(rasi, agent_key, agent).chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": CANCEL}])
    assert chat.parse().choices[0].message.content == "Your subscription is cancelled."
    assert chat.headers["X-RASI-Lessons"] == ""
    corrected = rasi.api("POST", f"/api/v1/interactions/{chat.headers['X-RASI-Interaction']}/lessons", key=reviewer_key, json=PAUSE_LESSON)
    assert corrected.status_code == 201, corrected.text
    lesson = corrected.json()
    assert lesson["agent"] == agent and lesson["source_interaction_id"] == chat.headers["X-RASI-Interaction"]

    responses = openai_client(rasi, agent_key, agent).responses.with_raw_response.create(model="scripted", input=CANCEL)
    assert responses.parse().output_text == PAUSED
    assert responses.headers["X-RASI-Lessons"] == lesson["id"]
    assert "Mention the pause option" in injected_lessons(model.requests()[-1])

    messages = anthropic_client(rasi, agent_key, agent).messages.with_raw_response.create(
        model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": CANCEL}])
    assert messages.parse().content[0].text == PAUSED
    assert messages.headers["X-RASI-Lessons"] == lesson["id"]
    assert "Mention the pause option" in injected_lessons(model.requests()[-1])

    for raw, api in [(responses, "responses"), (messages, "messages")]:
        interaction = logged(rasi, reviewer_key, raw.headers["X-RASI-Interaction"])
        assert interaction["api"] == api and interaction["lessons_injected"] == [lesson["id"]]


def test_a_lesson_corrected_on_a_messages_interaction_reaches_a_chat_call(rasi, model, agent_key, reviewer_key, agent):
    messages = anthropic_client(rasi, agent_key, agent).messages.with_raw_response.create(
        model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": CANCEL}])
    assert messages.parse().content[0].text == "Your subscription is cancelled."
    corrected = rasi.api("POST", f"/api/v1/interactions/{messages.headers['X-RASI-Interaction']}/lessons",
                         key=reviewer_key, json=PAUSE_LESSON)
    assert corrected.status_code == 201, corrected.text
    lesson = corrected.json()
    assert lesson["agent"] == agent and "Your subscription is cancelled." in lesson["did"]

    chat = openai_client(rasi, agent_key, agent).chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": CANCEL}])
    assert chat.parse().choices[0].message.content == PAUSED
    assert chat.headers["X-RASI-Lessons"] == lesson["id"]
    assert "Mention the pause option" in injected_lessons(model.requests()[-1])
    interaction = logged(rasi, reviewer_key, chat.headers["X-RASI-Interaction"])
    assert interaction["api"] == "chat" and interaction["lessons_injected"] == [lesson["id"]]


# --- the rest of /v1, passed through ------------------------------------------------------------

def test_openai_sdk_embeddings_and_models_pass_through(rasi, model, agent_key, reviewer_key, agent):
    before = rasi.api("GET", "/api/v1/interactions", key=reviewer_key, params={"limit": 200}).json()["interactions"]
    client = openai_client(rasi, agent_key, agent)
    embedded = client.embeddings.create(model="scripted-embedding", input=["refund for a damaged parcel", "tokyo time"])
    assert [e.index for e in embedded.data] == [0, 1]
    assert all(len(e.embedding) == 64 for e in embedded.data)
    assert embedded.data[0].embedding != embedded.data[1].embedding
    assert [m.id for m in client.models.list()] == ["rasi-scripted-model"]

    # Passed through, not interactions; counted by route.
    after = rasi.api("GET", "/api/v1/interactions", key=reviewer_key, params={"limit": 200}).json()["interactions"]
    assert after == before
    metrics = rasi.api("GET", "/metrics").text
    assert 'rasi_passthrough_calls_total{route="embeddings",status="200"}' in metrics
    assert 'rasi_passthrough_calls_total{route="models",status="200"}' in metrics


# --- the upstream's headers reach the SDKs ------------------------------------------------------

RATE_LIMITED = [{"when": {"last_user_contains": "busy"},
                 "reply": {"error": {"status": 429, "message": "slow down"}, "headers": {"Retry-After": "7", "x-request-id": "req_1"}}}]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_openai_sdk_sees_the_upstream_rate_limit_headers(rasi, model, agent_key, reviewer_key, agent, api):
    model.script(RATE_LIMITED)
    client = openai_client(rasi, agent_key, agent)
    with pytest.raises(openai.RateLimitError) as raised:
        if api == "chat":
            client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "are you busy?"}])
        else:
            client.responses.create(model="scripted", input="are you busy?")
    headers = raised.value.response.headers
    assert headers["retry-after"] == "7" and headers["x-request-id"] == "req_1"
    assert raised.value.request_id == "req_1"
    assert "slow down" in raised.value.message
    interaction = logged(rasi, reviewer_key, headers["X-RASI-Interaction"])
    assert interaction["api"] == api and "429" in interaction["error"]


def test_anthropic_sdk_sees_the_upstream_rate_limit_headers(rasi, model, agent_key, reviewer_key, agent):
    model.script(RATE_LIMITED)
    with pytest.raises(anthropic.RateLimitError) as raised:
        anthropic_client(rasi, agent_key, agent).messages.create(
            model="claude-scripted", max_tokens=256, messages=[{"role": "user", "content": "are you busy?"}])
    headers = raised.value.response.headers
    assert headers["retry-after"] == "7" and headers["x-request-id"] == "req_1"
    assert raised.value.body["error"] == {"type": "rate_limit_error", "message": "slow down"}
    assert logged(rasi, reviewer_key, headers["X-RASI-Interaction"])["api"] == "messages"


# --- a passed-through body the upstream leaves unread -----------------------------------------

def test_a_body_the_upstream_leaves_unread_is_passed_through_and_rasi_keeps_serving(model, tmp_path):
    """Anthropic's `count_tokens` goes to its base URL as it is; the scripted model has no such route
    and answers 404 without reading the body rasi streams to it. Sent in two pieces, the body is
    still being read when that answer comes back, and the same connection then asks again; a few
    times, as what comes first is a race. The test runs its own rasi, so that if that one goes
    down no other test goes with it."""
    own = Rasi(tmp_path, upstream=model.url + "/v1")
    try:
        sdk = anthropic.Anthropic(base_url=own.url, api_key=ADMIN_KEY, max_retries=0, timeout=5)
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.count_tokens(model="claude-scripted", messages=[{"role": "user", "content": CANCEL}])

        def in_two_pieces():
            yield b'{"model": "claude-scripted", '
            time.sleep(0.3)
            yield b'"messages": [{"role": "user", "content": "hi"}]}'

        with httpx.Client(base_url=own.url, headers={"x-api-key": ADMIN_KEY}, timeout=3) as client:
            try:
                for _ in range(3):
                    assert client.post("/v1/messages/count_tokens", content=in_two_pieces()).status_code == 404
                serving = client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                serving = False
        assert serving, "rasi stopped serving:\n" + "\n".join(own.log.read_text().splitlines()[:10])
    finally:
        own.stop()
