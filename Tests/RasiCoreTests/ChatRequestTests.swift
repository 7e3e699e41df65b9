import Foundation
import Testing

@testable import RasiCore

@Suite struct ChatRequestTests {
    func request(_ messages: [JSONValue], extra: [String: JSONValue] = [:]) throws -> ChatRequest {
        var body: [String: JSONValue] = ["model": "m", "messages": .array(messages)]
        body.merge(extra) { _, new in new }
        return try ChatRequest(json: .object(body))
    }

    @Test func missingOrMistypedFieldsAreNamed() throws {
        func field(_ json: JSONValue) -> String? {
            do {
                _ = try ChatRequest(json: json)
                return nil
            } catch RasiError.invalidField(let name, _) {
                return name
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(field(["messages": []]) == "model")
        #expect(field(["model": 1, "messages": []]) == "model")
        #expect(field(["model": "m"]) == "messages")
        #expect(field(["model": "m", "messages": "hi"]) == "messages")
        #expect(field(["model": "m", "messages": [["content": "hi"]]]) == "messages[0].role")
        #expect(field(["model": "m", "messages": [["role": "system", "content": "hi"]]]) == "messages")
        #expect(field(["model": "m", "stream": "yes", "messages": [["role": "user", "content": "hi"]]]) == "stream")
        #expect(field(["model": "m", "tools": "x", "messages": [["role": "user", "content": "hi"]]]) == "tools")
    }

    @Test func latestUserTextReadsStringsAndContentParts() throws {
        let chat = try request([
            ["role": "user", "content": "first"],
            ["role": "assistant", "content": "reply"],
            [
                "role": "user",
                "content": [["type": "text", "text": "second"], ["type": "image_url", "image_url": ["url": "x"]], ["type": "text", "text": "part"]]
            ]
        ])
        #expect(chat.latestUserText == "second\npart")
        #expect(!chat.continuesTurn)
    }

    @Test func callsOfOneTurnShareTheTurnKeyAndANewUserMessageStartsAnother() throws {
        let user: JSONValue = ["role": "user", "content": "Where is order 42?"]
        let call: JSONValue = [
            "role": "assistant", "content": nil, "tool_calls": [["id": "c1", "type": "function", "function": ["name": "lookup", "arguments": "{}"]]]
        ]
        let result: JSONValue = ["role": "tool", "tool_call_id": "c1", "content": "shipped"]
        let first = try request([user])
        let second = try request([user, call, result])
        #expect(second.continuesTurn)
        #expect(first.turnKey(agent: "a", userId: nil) == second.turnKey(agent: "a", userId: nil))
        #expect(first.turnKey(agent: "a", userId: nil) != first.turnKey(agent: "b", userId: nil))
        #expect(first.turnKey(agent: "a", userId: nil) != first.turnKey(agent: "a", userId: "u"))

        let next = try request([user, call, result, ["role": "assistant", "content": "It shipped."], ["role": "user", "content": "thanks"]])
        #expect(next.turnKey(agent: "a", userId: nil) != first.turnKey(agent: "a", userId: nil))
        #expect(next.conversationId(agent: "a", userId: nil, header: nil) == first.conversationId(agent: "a", userId: nil, header: nil))
        #expect(next.conversationId(agent: "a", userId: nil, header: "c-9") == "c-9")
    }

    @Test func toolResultsAreNamedByTheirCallAndLoggedOnce() throws {
        let chat = try request([
            ["role": "user", "content": "q"],
            [
                "role": "assistant",
                "tool_calls": [
                    ["id": "c1", "function": ["name": "lookup", "arguments": "{}"]], ["id": "c2", "function": ["name": "policy", "arguments": "{}"]]
                ]
            ],
            ["role": "tool", "tool_call_id": "c1", "content": "r1"],
            ["role": "tool", "tool_call_id": "c2", "content": [["type": "text", "text": "r2"]]]
        ])
        let steps = chat.toolResultSteps(excluding: ["c1"])
        #expect(steps.map(\.name) == ["policy"])
        #expect(steps.map(\.content) == ["r2"])
        #expect(steps.map(\.kind) == [.toolResult])
    }

    @Test func lessonsGoAfterTheClientsSystemMessagesAndNothingElseChanges() throws {
        let tools: JSONValue = [["type": "function", "function": ["name": "f", "parameters": ["type": "object"]]]]
        let chat = try request(
            [["role": "system", "content": "You are helpful."], ["role": "developer", "content": "Rules."], ["role": "user", "content": "hi"]],
            extra: ["tools": tools, "temperature": 0.2, "seed": 12_345_678_901_234])
        let injected = chat.injecting("<rasi-lessons>x</rasi-lessons>")
        let messages = try #require(injected["messages"]?.arrayValue)
        #expect(messages.map { $0["role"]?.stringValue } == ["system", "developer", "system", "user"])
        #expect(messages[2]["content"]?.stringValue == "<rasi-lessons>x</rasi-lessons>")
        #expect(injected["tools"] == tools)
        #expect(injected["seed"] == .int(12_345_678_901_234))
        #expect(chat.injecting("") == .object(chat.body))
    }

    @Test func streamingAsksForUsageUnlessTheClientChose() {
        #expect(ChatRequest.askingForStreamUsage(["stream": true])["stream_options"] == ["include_usage": true])
        let chosen: JSONValue = ["stream_options": ["include_usage": false]]
        #expect(ChatRequest.askingForStreamUsage(chosen) == chosen)
    }
}

@Suite struct ModelReplyTests {
    @Test func aCompletionBecomesThinkingToolCallAndMessageSteps() throws {
        let json = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(
                """
                {"model": "gpt-x", "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Looking.",
                 "reasoning_content": "Need the order.",
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\\"id\\":42}"}}]}}],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
                """.utf8))
        let reply = ModelReply(completion: json)
        #expect(reply.steps().map(\.kind) == [.thinking, .toolCall, .message])
        #expect(reply.toolCalls == [.init(id: "c1", name: "lookup", arguments: "{\"id\":42}")])
        #expect(reply.usage == TokenUsage(prompt: 10, completion: 5))
        #expect(reply.model == "gpt-x")
    }

    @Test func aStreamIsAssembledEvenWhenLinesAreSplitAcrossChunks() {
        let events = [
            #"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            #"{"choices":[{"index":0,"delta":{"reasoning":"Think "}}]}"#,
            #"{"choices":[{"index":0,"delta":{"reasoning":"hard."}}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":"Hello "}}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":"world"}}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"look","arguments":""}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            #"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            #"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#
        ]
        let text = events.map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n"
        var accumulator = StreamAccumulator<ChatStreamReader>()
        let bytes = Array(text.utf8)
        // Cut into 7-byte pieces, so every line arrives split.
        for start in stride(from: 0, to: bytes.count, by: 7) { accumulator.consume(bytes[start..<min(start + 7, bytes.count)]) }
        let reply = accumulator.finish()
        #expect(reply.content == "Hello world")
        #expect(reply.reasoning == "Think hard.")
        #expect(reply.toolCalls == [.init(id: "c1", name: "look", arguments: "{\"a\":1}")])
        #expect(reply.usage == TokenUsage(prompt: 3, completion: 4))
        #expect(reply.finishReason == "tool_calls")
    }
}
