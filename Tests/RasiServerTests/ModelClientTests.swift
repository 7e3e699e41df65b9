import AsyncHTTPClient
import Foundation
import RasiAgent
import RasiCore
import RasiModelClient
import ScriptedModel
import Testing

/// The agent's model clients for the Responses and Messages APIs: the conversation, kept in Chat
/// Completions format, converted for each call, and the replies read back.
@Suite struct ModelClientTests {
    /// A tool-calling conversation in Chat Completions format: instructions and a lesson, the
    /// user's request, an assistant turn calling two tools at once, and both results.
    static let conversation: [JSONValue] = [
        ["role": "system", "content": "You help customers with orders."],
        ["role": "system", "content": "<lessons>Say when it ships.</lessons>"],
        ["role": "user", "content": "Where are my orders?"],
        [
            "role": "assistant", "content": "Looking them up.",
            "tool_calls": [
                ["id": "call_1", "type": "function", "function": ["name": "lookup_order", "arguments": #"{"order_id":41}"#]],
                ["id": "call_2", "type": "function", "function": ["name": "lookup_order", "arguments": #"{"order_id":42}"#]]
            ]
        ],
        ["role": "tool", "tool_call_id": "call_1", "content": "order 41: delivered"],
        ["role": "tool", "tool_call_id": "call_2", "content": "order 42: shipped"]
    ]
    static let tools: [JSONValue] = [LookupOrder().definition]

    @Test func theResponsesRequestCarriesInstructionsAndItems() throws {
        let request = OpenAIResponsesModel.request(model: "m", messages: Self.conversation, tools: Self.tools)

        #expect(request["instructions"] == "You help customers with orders.\n\n<lessons>Say when it ships.</lessons>")
        #expect(request["store"] == false)
        let items = try #require(request["input"]?.arrayValue)
        #expect(
            items.map { $0["type"]?.stringValue } == [
                "message", "message", "function_call", "function_call", "function_call_output", "function_call_output"
            ])
        #expect(items[0]["role"] == "user" && items[0]["content"] == "Where are my orders?")
        #expect(items[1]["role"] == "assistant" && items[1]["content"] == "Looking them up.")
        #expect(items[3] == ["type": "function_call", "call_id": "call_2", "name": "lookup_order", "arguments": #"{"order_id":42}"#])
        #expect(items[5] == ["type": "function_call_output", "call_id": "call_2", "output": "order 42: shipped"])
        // Flat, and not strict unless asked: Responses would otherwise refuse this schema.
        let tool = try #require(request["tools"]?.arrayValue?.first)
        #expect(tool["name"] == "lookup_order" && tool["description"] == "Finds an order by its number" && tool["strict"] == false)
        #expect(tool["parameters"]?["required"] == ["order_id"] && tool["function"] == nil)
    }

    @Test func theMessagesRequestCarriesSystemAndBlocksWithToolResultsTogether() throws {
        let request = AnthropicMessagesModel.request(model: "m", messages: Self.conversation, tools: Self.tools, maxTokens: 4096)

        #expect(request["system"] == "You help customers with orders.\n\n<lessons>Say when it ships.</lessons>")
        #expect(request["max_tokens"] == 4096)
        let messages = try #require(request["messages"]?.arrayValue)
        #expect(messages.map { $0["role"]?.stringValue } == ["user", "assistant", "user"])
        #expect(messages[0]["content"] == [["type": "text", "text": "Where are my orders?"]])
        #expect(
            messages[1]["content"] == [
                ["type": "text", "text": "Looking them up."],
                ["type": "tool_use", "id": "call_1", "name": "lookup_order", "input": ["order_id": 41]],
                ["type": "tool_use", "id": "call_2", "name": "lookup_order", "input": ["order_id": 42]]
            ])
        #expect(
            messages[2]["content"] == [
                ["type": "tool_result", "tool_use_id": "call_1", "content": [["type": "text", "text": "order 41: delivered"]]],
                ["type": "tool_result", "tool_use_id": "call_2", "content": [["type": "text", "text": "order 42: shipped"]]]
            ])
        let tool = try #require(request["tools"]?.arrayValue?.first)
        #expect(tool["name"] == "lookup_order" && tool["description"] == "Finds an order by its number")
        #expect(tool["input_schema"]?["required"] == ["order_id"] && tool["type"] == nil)
    }

    @Test func malformedToolArgumentsGoToMessagesAsAnEmptyInput() {
        let call: JSONValue = ["id": "call_1", "type": "function", "function": ["name": "lookup_order", "arguments": "{order 42"]]
        let messages: [JSONValue] = [["role": "user", "content": "Where is my order?"], ["role": "assistant", "content": nil, "tool_calls": [call]]]

        let request = AnthropicMessagesModel.request(model: "m", messages: messages, tools: [], maxTokens: 1024)

        #expect(request["messages"]?.arrayValue?.last?["content"] == [["type": "tool_use", "id": "call_1", "name": "lookup_order", "input": [:]]])
    }

    /// The three clients on one scripted model, each in an agent with the same tool.
    func withClients(_ script: String, _ body: @Sendable @escaping ([(AgentAPI, any ChatModel)], ScriptedModelState) async throws -> Void)
        async throws
    {
        try await withScriptedModel(try JSONDecoder().decode(Script.self, from: Data(script.utf8))) { port, state in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let base = "http://127.0.0.1:\(port)"
            let clients: [(AgentAPI, any ChatModel)] = [
                (.chat, OpenAIChatModel(client: http, baseURL: base + "/v1", apiKey: "sk-test")),
                (.responses, OpenAIResponsesModel(client: http, baseURL: base + "/v1", apiKey: "sk-test")),
                (.messages, AnthropicMessagesModel(client: http, baseURL: base, apiKey: "sk-test"))
            ]
            do {
                try await body(clients, state)
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    @Test func aToolCallingTurnGivesTheSameAnswerThroughEachAPI() async throws {
        let script = """
            {"rules": [
              {"when": {"last_role": "tool"}, "reply": {"content": "Your order: {{last_tool_result}}"}},
              {"when": {"last_user_contains": "order"}, "reply": {"reasoning": "Look the order up.", \
            "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": 42}}]}}
            ]}
            """
        try await withClients(script) { clients, state in
            var answers: [AgentAPI: String] = [:]
            for (api, client) in clients {
                let agent = Agent(
                    name: "support", model: "scripted", instructions: "You help customers with orders.", tools: [LookupOrder()],
                    chatModel: client, rasi: nil)
                let before = await state.requests.count

                let run = try await agent.run("Where is my order?")

                answers[api] = run.answer
                #expect(run.toolCalls == ["lookup_order"], "\(api)")
                #expect(run.interaction.steps.first { $0.kind == .thinking }?.content == "Look the order up.", "\(api)")
                #expect(run.interaction.tokens.prompt > 0 && run.interaction.tokens.completion > 0, "\(api)")
                // Two calls, the second carrying the tool's result in the API's own shape.
                let requests = Array(await state.requests.dropFirst(before))
                try #require(requests.count == 2, "\(api)")
                switch api {
                case .chat: #expect(requests[1]["messages"]?.arrayValue?.last?["role"] == "tool")
                case .responses: #expect(requests[1]["input"]?.arrayValue?.last?["output"] == "order 42: shipped")
                case .messages: #expect(requests[1]["messages"]?.arrayValue?.last?["content"]?.arrayValue?.first?["type"] == "tool_result")
                }
            }
            #expect(answers[.chat] == "Your order: order 42: shipped")
            #expect(answers[.responses] == answers[.chat] && answers[.messages] == answers[.chat])
        }
    }

    @Test func anUpstreamErrorIsReportedWithItsMessageThroughEachAPI() async throws {
        try await withClients(#"{"rules": [{"when": {}, "reply": {"error": {"status": 503, "message": "overloaded"}}}]}"#) { clients, _ in
            for (api, client) in clients {
                await #expect(throws: RasiError.upstream(status: 503, message: "overloaded"), "\(api)") {
                    _ = try await client.complete(model: "scripted", messages: [["role": "user", "content": "hi"]])
                }
            }
        }
    }
}
