import Foundation
import Testing

@testable import RasiCore

func json(_ text: String) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

/// Feeds a stream of events to an API's reader in 7-byte pieces, so every line arrives split.
func assemble<Reader: StreamEventReader>(_ events: [String], as reader: Reader.Type) -> ModelReply {
    let text = events.map { "event: x\ndata: \($0)\n\n" }.joined()
    var accumulator = StreamAccumulator<Reader>()
    let bytes = Array(text.utf8)
    for start in stride(from: 0, to: bytes.count, by: 7) { accumulator.consume(bytes[start..<min(start + 7, bytes.count)]) }
    return accumulator.finish()
}

func invalidField(_ parse: () throws -> Void) -> String? {
    do {
        try parse()
        return nil
    } catch RasiError.invalidField(let name, _) {
        return name
    } catch {
        return "unexpected \(error)"
    }
}

@Suite struct ResponsesRequestTests {
    @Test func badFieldsAreNamed() {
        func field(_ body: JSONValue) -> String? { invalidField { _ = try ResponsesRequest(json: body) } }
        #expect(field(["input": "hi"]) == "model")
        #expect(field(["model": "m"]) == "input")
        #expect(field(["model": "m", "input": 3]) == "input")
        #expect(field(["model": "m", "input": ["x"]]) == "input[0]")
        #expect(field(["model": "m", "input": [["role": "system", "content": "be brief"]]]) == "input")
        #expect(field(["model": "m", "input": "hi", "instructions": 1]) == "instructions")
        #expect(field(["model": "m", "input": "hi", "previous_response_id": 1]) == "previous_response_id")
        #expect(field(["model": "m", "input": "hi", "stream": "yes"]) == "stream")
        #expect(field(["model": "m", "previous_response_id": "resp_1"]) == nil)
    }

    @Test func aStringInputIsTheUserRequestAndLessonsGoInWithoutTouchingInstructions() throws {
        let call = try ResponsesRequest(json: ["model": "m", "instructions": "Be brief.", "input": "Where is order 42?"])
        #expect(call.userRequest == "Where is order 42?")
        #expect(!call.continuesTurn)
        let forwarded = call.forwarded(injecting: "LESSONS")
        #expect(forwarded["instructions"] == "Be brief.")
        #expect(forwarded["input"] == [["role": "system", "content": "LESSONS"], ["role": "user", "content": "Where is order 42?"]])
        #expect(call.forwarded(injecting: "") == .object(call.body))
        #expect(call.transcript.first == ["role": "system", "content": "Be brief."])
    }

    @Test func lessonsFollowTheClientsOwnLeadingDeveloperItems() throws {
        let call = try ResponsesRequest(json: [
            "model": "m",
            "input": [
                ["role": "developer", "content": "House rules."],
                ["role": "user", "content": [["type": "input_text", "text": "Hello"], ["type": "input_image", "image_url": "x"]]]
            ]
        ])
        #expect(call.userRequest == "Hello")
        let input = call.forwarded(injecting: "LESSONS")["input"]?.arrayValue ?? []
        #expect(input.map { $0["role"]?.stringValue } == ["developer", "system", "user"])
    }

    @Test func functionCallOutputsContinueTheTurnAndBecomeToolResults() throws {
        let user: JSONValue = ["role": "user", "content": "Where is order 42?"]
        let first = try ResponsesRequest(json: ["model": "m", "input": [user]])
        let second = try ResponsesRequest(json: [
            "model": "m",
            "input": [
                user, ["type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"],
                ["type": "function_call_output", "call_id": "c1", "output": "shipped"]
            ]
        ])
        #expect(second.continuesTurn)
        #expect(first.turnKey(agent: "a", userId: nil) == second.turnKey(agent: "a", userId: nil))
        #expect(first.conversationId(agent: "a", userId: nil, header: nil) == second.conversationId(agent: "a", userId: nil, header: nil))
        let steps = second.toolResultSteps(excluding: [], at: Date())
        #expect(steps.map(\.kind) == [.toolResult])
        #expect(steps.first?.name == "lookup")
        #expect(steps.first?.content == "shipped")
        #expect(second.toolResultSteps(excluding: ["c1"], at: Date()).isEmpty)
    }

    @Test func onlyToolOutputsAfterAPreviousResponseCarryNoUserRequest() throws {
        let call = try ResponsesRequest(json: [
            "model": "m", "previous_response_id": "resp_1", "input": [["type": "function_call_output", "call_id": "c1", "output": "ok"]]
        ])
        #expect(call.userRequest == nil)
        #expect(call.continuesTurn)
        #expect(call.previousResponseId == "resp_1")
        #expect(call.toolResultSteps(excluding: [], at: Date()).map(\.callId) == ["c1"])
    }

    @Test func aResponseBecomesReasoningToolCallAndMessage() throws {
        let reply = ResponsesRequest.reply(
            from: try json(
                """
                {"id": "resp_9", "model": "gpt-x", "status": "completed", "output": [
                  {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Need the order."}]},
                  {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "lookup", "arguments": "{\\"id\\":42}"},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]}],
                 "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}
                """))
        #expect(reply.steps().map(\.kind) == [.thinking, .toolCall, .message])
        #expect(reply.toolCalls == [.init(id: "c1", name: "lookup", arguments: "{\"id\":42}")])
        #expect(reply.usage == TokenUsage(prompt: 10, completion: 5))
        #expect(reply.responseId == "resp_9")
        #expect(reply.content == "Looking.")
    }

    @Test func aStreamIsReadFromItsDeltasUntilCompletedGivesTheWholeResponse() {
        let head = [
            #"{"type":"response.created","sequence_number":0,"response":{"id":"resp_7","model":"m","output":[]}}"#,
            #"{"type":"response.reasoning_summary_text.delta","delta":"Think."}"#,
            #"{"type":"response.output_text.delta","delta":"Hello "}"#,
            #"{"type":"response.output_text.delta","delta":"world"}"#,
            #"{"type":"response.function_call_arguments.delta","delta":"{}"}"#,
            #"{"type":"response.output_item.done","item":{"type":"function_call","call_id":"c1","name":"look","arguments":"{}"}}"#
        ]
        let broken = assemble(head, as: ResponsesStreamReader.self)
        #expect(broken.content == "Hello world")
        #expect(broken.reasoning == "Think.")
        #expect(broken.toolCalls == [.init(id: "c1", name: "look", arguments: "{}")])
        #expect(broken.responseId == "resp_7")

        let completed =
            #"{"type":"response.completed","response":{"id":"resp_7","model":"m","status":"completed","output":["#
            + #"{"type":"message","content":[{"type":"output_text","text":"Hello world"}]}],"usage":{"input_tokens":3,"output_tokens":4}}}"#
        let whole = assemble(head + [completed], as: ResponsesStreamReader.self)
        #expect(whole.content == "Hello world")
        #expect(whole.usage == TokenUsage(prompt: 3, completion: 4))
        #expect(whole.finishReason == "completed")
    }
}

@Suite struct MessagesRequestTests {
    @Test func badFieldsAreNamed() {
        func field(_ body: JSONValue) -> String? { invalidField { _ = try MessagesRequest(json: body) } }
        #expect(field(["messages": [["role": "user", "content": "hi"]]]) == "model")
        #expect(field(["model": "m"]) == "messages")
        #expect(field(["model": "m", "messages": [["role": "system", "content": "hi"]]]) == "messages[0].role")
        #expect(field(["model": "m", "messages": [["role": "user", "content": 1]]]) == "messages[0].content")
        #expect(field(["model": "m", "messages": [["role": "user", "content": "hi"]], "system": 1]) == "system")
        #expect(field(["model": "m", "messages": [["role": "assistant", "content": "hi"]]]) == "messages")
    }

    @Test func lessonsAreAddedToSystemKeepingTheClientsOwn() throws {
        let user: JSONValue = ["role": "user", "content": "Hello"]
        let plain = try MessagesRequest(json: ["model": "m", "messages": [user]])
        #expect(plain.forwarded(injecting: "LESSONS")["system"] == "LESSONS")
        let string = try MessagesRequest(json: ["model": "m", "system": "Be brief.", "messages": [user]])
        #expect(string.forwarded(injecting: "LESSONS")["system"] == "Be brief.\n\nLESSONS")
        let blocks = try MessagesRequest(json: [
            "model": "m", "system": [["type": "text", "text": "Be brief.", "cache_control": ["type": "ephemeral"]]], "messages": [user]
        ])
        #expect(
            blocks.forwarded(injecting: "LESSONS")["system"] == [
                ["type": "text", "text": "Be brief.", "cache_control": ["type": "ephemeral"]], ["type": "text", "text": "LESSONS"]
            ])
        #expect(blocks.forwarded(injecting: "LESSONS")["messages"] == [user])
        #expect(blocks.transcript.count == 2)
    }

    @Test func toolResultsInUserMessagesContinueTheTurn() throws {
        let user: JSONValue = ["role": "user", "content": [["type": "text", "text": "Where is order 42?"]]]
        let use: JSONValue = [
            "role": "assistant",
            "content": [["type": "text", "text": "Looking."], ["type": "tool_use", "id": "t1", "name": "lookup", "input": ["id": 42]]]
        ]
        let result: JSONValue = [
            "role": "user", "content": [["type": "tool_result", "tool_use_id": "t1", "content": [["type": "text", "text": "shipped"]]]]
        ]
        let first = try MessagesRequest(json: ["model": "m", "messages": [user]])
        let second = try MessagesRequest(json: ["model": "m", "system": "S", "messages": [user, use, result]])
        #expect(second.userRequest == "Where is order 42?")
        #expect(second.continuesTurn)
        #expect(!first.continuesTurn)
        let steps = second.toolResultSteps(excluding: [], at: Date())
        #expect(steps.map(\.name) == ["lookup"])
        #expect(steps.map(\.content) == ["shipped"])
        let next = try MessagesRequest(json: [
            "model": "m", "messages": [user, use, result, ["role": "assistant", "content": "Shipped."], ["role": "user", "content": "thanks"]]
        ])
        #expect(next.userRequest == "thanks")
        #expect(!next.continuesTurn)
    }

    @Test func aMessageBecomesThinkingToolUseAndText() throws {
        let reply = MessagesRequest.reply(
            from: try json(
                """
                {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": "tool_use", "content": [
                  {"type": "thinking", "thinking": "Need the order.", "signature": "s"},
                  {"type": "text", "text": "Looking."},
                  {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"id": 42}}],
                 "usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "output_tokens": 5}}
                """))
        #expect(reply.steps().map(\.kind) == [.thinking, .toolCall, .message])
        #expect(reply.toolCalls == [.init(id: "t1", name: "lookup", arguments: "{\"id\":42}")])
        #expect(reply.usage == TokenUsage(prompt: 12, completion: 5))
        #expect(reply.finishReason == "tool_use")
        #expect(reply.responseId == nil)
    }

    @Test func aStreamIsAssembledBlockByBlock() {
        let reply = assemble(
            [
                #"{"type":"message_start","message":{"id":"msg_1","model":"claude-x","content":[],"usage":{"input_tokens":7,"output_tokens":1}}}"#,
                #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
                #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}"#,
                #"{"type":"content_block_stop","index":0}"#,
                #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
                #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello "}}"#,
                #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"world"}}"#,
                #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t1","name":"look","input":{}}}"#,
                #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
                #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" 1}"}}"#,
                #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
                #"{"type":"message_stop"}"#
            ], as: MessagesStreamReader.self)
        #expect(reply.content == "Hello world")
        #expect(reply.reasoning == "Hmm.")
        #expect(reply.toolCalls == [.init(id: "t1", name: "look", arguments: "{\"a\":1}")])
        #expect(reply.usage == TokenUsage(prompt: 7, completion: 9))
        #expect(reply.finishReason == "tool_use")
        #expect(reply.model == "claude-x")
    }
}
