import AsyncHTTPClient
import Foundation
import RasiAgent
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer
import ScriptedModel
import Testing

@testable import rasi

/// A tool declared as a Swift type: an order lookup that records the lookup as a state change.
struct LookupOrder: Tool {
    struct Arguments: Decodable, Sendable {
        var orderId: Int

        enum CodingKeys: String, CodingKey {
            case orderId = "order_id"
        }
    }

    let name = "lookup_order"
    let description = "Finds an order by its number"
    let parameters = JSONSchema.object(["order_id": JSONSchema.integer("The order number")], required: ["order_id"])

    func call(_ arguments: Arguments) async throws -> ToolOutput {
        ToolOutput("order \(arguments.orderId): shipped", stateChanges: [StateChange("order_viewed", "\(arguments.orderId)")])
    }
}

@Suite struct AgentTests {
    static let orderScript = """
        {"rules": [
          {"when": {"last_role": "tool"}, "reply": {"content": "Your order: {{last_tool_result}}"}},
          {"when": {"last_user_contains": "order"}, "reply": {"reasoning": "The user asks about an order; look it up.", \
        "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": 42}}]}}
        ]}
        """

    func script(_ text: String) throws -> Script {
        try JSONDecoder().decode(Script.self, from: Data(text.utf8))
    }

    /// An agent on the scripted model, logging to a test rasi in process.
    func withAgent(
        _ script: Script, tools: [any Tool] = [LookupOrder()], _ body: @Sendable @escaping (Agent, TestRasi, ScriptedModelState) async throws -> Void
    ) async throws {
        try await withScriptedModel(script) { port, state in
            try await TestRasi.run { rasi, _ in
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                let agent = Agent(
                    name: "support", model: "scripted", instructions: "You help customers with orders.", tools: tools,
                    chatModel: OpenAIChatModel(client: http, baseURL: "http://127.0.0.1:\(port)/v1", apiKey: nil),
                    rasi: LocalRasi(services: rasi.services))
                do {
                    try await body(agent, rasi, state)
                } catch {
                    try await http.shutdown()
                    throw error
                }
                try await http.shutdown()
            }
        }
    }

    @Test func theLoopCallsATypedToolAndTracesEveryStep() async throws {
        try await withAgent(try script(Self.orderScript)) { agent, rasi, state in
            let run = try await agent.run("Where is my order?")

            #expect(run.answer == "Your order: order 42: shipped")
            #expect(run.toolCalls == ["lookup_order"])
            let logged = try #require(try await rasi.store.interaction(id: run.interactionId))
            #expect(logged.agent == "support")
            try #require(logged.steps.map(\.kind) == [.message, .thinking, .toolCall, .toolResult, .stateChange, .message])
            #expect(logged.steps[2].arguments == #"{"order_id":42}"#)
            #expect(logged.steps[3].content == "order 42: shipped")
            #expect(logged.steps[4].name == "order_viewed" && logged.steps[4].content == "42")
            #expect(logged.response == "Your order: order 42: shipped")
            // The model saw the tool's schema and, on the second call, the tool's result.
            let requests = await state.requests
            #expect(requests.count == 2)
            #expect(requests[0]["tools"]?.arrayValue?.first?["function"]?["parameters"]?["required"] == ["order_id"])
            #expect(requests[1]["messages"]?.arrayValue?.last?["role"] == "tool")
        }
    }

    @Test func argumentsThatDoNotFitTheSchemaAreShownToTheModel() async throws {
        try await withAgent(try script(Self.orderScript)) { agent, rasi, _ in
            var unnamed = agent
            unnamed.tools = [DynamicTool(name: "other", description: "Not the one the model calls") { _ in "unused" }]
            // Without lookup_order among the agent's tools, the model's call names no tool.
            let missing = try await unnamed.run("Where is my order?")
            #expect(
                missing.interaction.steps.first { $0.kind == .toolResult }?.content?.hasPrefix("error: there is no tool named lookup_order") == true)
        }
        let badArguments = """
            {"rules": [{"when": {"last_role": "tool"}, "reply": {"content": "{{last_tool_result}}"}},
                       {"when": {}, "reply": {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "forty-two"}}]}}]}
            """
        try await withAgent(try script(badArguments)) { agent, _, _ in
            let run = try await agent.run("Where is my order?")
            #expect(run.answer?.contains("invalid arguments for lookup_order: order_id") == true)
        }
    }

    @Test func lessonsAreInjectedBeforeTheFirstModelCallAndRecorded() async throws {
        let gated = """
            {"rules": [{"when": {"prompt_contains": "VAT number"}, "reply": {"content": "Please send your VAT number."}},
                       {"when": {}, "reply": {"content": "Here is your invoice."}}]}
            """
        try await withAgent(try script(gated), tools: []) { agent, rasi, state in
            #expect(try await agent.run("I need an invoice for my company").answer == "Here is your invoice.")
            let lesson = try await rasi.services.createLesson(
                LessonFields(
                    agent: "support", situation: "Company asks for an invoice", shouldHaveDone: "Ask for the VAT number",
                    correctBehavior: "Ask for the company's VAT number before issuing a company invoice"), author: "test")

            let run = try await agent.run("I need an invoice for my company")

            #expect(run.answer == "Please send your VAT number.")
            #expect(run.lessons.lessons.map(\.lesson.id) == [lesson.id])
            let first = try #require(await state.requests.last?["messages"]?.arrayValue)
            #expect(first.map { $0["role"]?.stringValue } == ["system", "system", "user"])
            #expect(first[1]["content"]?.stringValue?.hasPrefix(LessonRenderer.openingTag) == true)
            let logged = try #require(try await rasi.store.interaction(id: run.interactionId))
            #expect(logged.lessonsInjected == [lesson.id])
            #expect(try await rasi.store.injections(lessonId: lesson.id, limit: 10).map(\.interactionId) == [run.interactionId])
            // Another agent's requests do not get this agent's lessons.
            var other = agent
            other.name = "billing"
            #expect(try await other.run("I need an invoice for my company").lessons.lessons.isEmpty)
        }
    }

    @Test func feedbackIsAttachedAfterwardsById() async throws {
        try await withAgent(try script(Self.orderScript)) { agent, rasi, _ in
            let run = try await agent.run("Where is my order?")
            try await agent.feedback(on: run.interactionId, rating: .down, comment: "That was not my order")

            let logged = try #require(try await rasi.store.interaction(id: run.interactionId))
            #expect(logged.feedback.map(\.rating) == [.down])
            #expect(logged.feedback.first?.comment == "That was not my order")
            #expect(!logged.flags.isEmpty)
            await #expect(throws: RasiError.self) { try await agent.feedback(on: "int_missing", rating: .up) }
        }
    }

    @Test func aFailingModelIsLoggedAndReportedWithTheInteraction() async throws {
        let failing = #"{"rules": [{"when": {}, "reply": {"error": {"status": 503, "message": "overloaded"}}}]}"#
        try await withAgent(try script(failing)) { agent, rasi, _ in
            let failure = try await #require(throws: AgentFailure.self) { try await agent.run("Where is my order?") }
            let logged = try #require(try await rasi.store.interaction(id: failure.interactionId))
            #expect(logged.error?.contains("overloaded") == true)
            #expect(logged.request == "Where is my order?")
        }
    }
}
