import AsyncHTTPClient
import Foundation
import RasiCore
import RasiModelClient

/// An agent in Swift: instructions, tools and an OpenAI-compatible model, run in a tool-calling
/// loop. Before the first model call it retrieves the lessons that fit the request and places
/// them in the context; every step is traced, and the turn is logged to rasi as one interaction.
///
/// ```swift
/// let agent = Agent(name: "support", model: "gpt-4o-mini", instructions: "You help customers.",
///                   tools: [LookupOrder()], chatModel: OpenAIChatModel(client: http, baseURL: url, apiKey: key),
///                   rasi: RasiClient(baseURL: "http://127.0.0.1:8080", key: agentKey, httpClient: http))
/// let run = try await agent.run("Where is my order 42?")
/// try await agent.feedback(on: run.interactionId, rating: .down, comment: "It was order 43")
/// ```
public struct Agent: Sendable {
    /// Lessons are scoped per agent name, as the gateway's `X-RASI-Agent`.
    public var name: String
    public var model: String
    public var instructions: String
    public var tools: [any Tool]
    /// The loop stops after this many model calls, with an error.
    public var maxModelCalls: Int
    public let chatModel: any ChatModel
    /// Nil runs the agent without lessons or logging.
    public let rasi: (any RasiConnection)?

    public init(
        name: String = "default", model: String, instructions: String, tools: [any Tool] = [], maxModelCalls: Int = 8,
        chatModel: any ChatModel, rasi: (any RasiConnection)?
    ) {
        self.name = name
        self.model = model
        self.instructions = instructions
        self.tools = tools
        self.maxModelCalls = max(1, maxModelCalls)
        self.chatModel = chatModel
        self.rasi = rasi
    }

    /// Runs one turn: `request` is the user's message, after `history` (earlier messages of the
    /// conversation, in OpenAI's format). Throws `AgentFailure` when the model fails; the
    /// interaction is logged first, with the error.
    public func run(_ request: String, history: [JSONValue] = [], conversation: String? = nil, user: String? = nil) async throws -> AgentRun {
        let started = ContinuousClock.now
        let lessons = try await rasi?.lessons(agent: name, query: request, model: model) ?? .empty
        let turn: [JSONValue] = [["role": "system", "content": .string(instructions)]] + history + [["role": "user", "content": .string(request)]]
        // Placed as the gateway places them: after the agent's own system messages.
        var messages =
            try ChatRequest(json: ["model": .string(model), "messages": .array(turn)])
            .injecting(lessons.context)["messages"]?.arrayValue ?? turn

        var trace = AgentTrace(request: request)
        let definitions = tools.map(\.definition)
        var failure: String?
        var calls = 0
        while failure == nil {
            guard calls < maxModelCalls else {
                failure = "the agent stopped after \(maxModelCalls) model calls without a final answer"
                break
            }
            calls += 1
            let reply: ModelReply
            do {
                reply = try await chatModel.reply(model: model, messages: messages, tools: definitions)
            } catch {
                failure = "the model failed: \(error)"
                break
            }
            trace.add(reply)
            guard !reply.toolCalls.isEmpty else { break }
            messages.append(Self.assistantMessage(reply))
            for call in reply.toolCalls {
                let output = await invoke(call)
                trace.add(result: output, of: call)
                messages.append(["role": "tool", "tool_call_id": .string(call.id), "content": .string(output.content)])
            }
        }

        let elapsed = ContinuousClock.now - started
        var interaction = Interaction(
            agent: name, conversationId: conversation, userId: user, request: request, messages: .array(messages),
            steps: trace.steps, response: trace.answer, model: trace.model ?? model, latencyMs: elapsed.milliseconds,
            tokens: trace.tokens, lessonsInjected: lessons.lessons.map(\.lesson.id), error: failure)
        if let rasi { interaction = try await rasi.record(interaction, injected: lessons) }
        if let failure { throw AgentFailure(interactionId: interaction.id, message: failure) }
        return AgentRun(interaction: interaction, lessons: lessons)
    }

    /// Feedback on a turn this agent ran, by the interaction's id.
    public func feedback(on interactionId: String, rating: Rating? = nil, comment: String? = nil) async throws {
        guard let rasi else { throw RasiError.unavailable("this agent has no rasi connection to send feedback to") }
        try await rasi.feedback(on: interactionId, rating: rating, comment: comment)
    }

    /// Runs the named tool; every failure becomes the result the model sees.
    func invoke(_ call: ModelReply.ToolCall) async -> ToolOutput {
        guard let tool = tools.first(where: { $0.name == call.name }) else {
            return ToolOutput("error: there is no tool named \(call.name); the tools are \(tools.map(\.name).joined(separator: ", "))")
        }
        do {
            return try await tool.invoke(arguments: call.arguments)
        } catch {
            return ToolOutput("error: \(error)")
        }
    }

    static func assistantMessage(_ reply: ModelReply) -> JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "content": reply.content.map(JSONValue.string) ?? .null]
        message["tool_calls"] = .array(
            reply.toolCalls.map { call in
                ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
            })
        return .object(message)
    }
}

/// One finished turn of an agent.
public struct AgentRun: Sendable {
    /// The turn as logged, with every step.
    public var interaction: Interaction
    /// The lessons injected before the first model call.
    public var lessons: LessonSelection

    public var interactionId: String { interaction.id }
    public var answer: String? { interaction.response }
    /// The tools called, in order.
    public var toolCalls: [String] { interaction.steps.filter { $0.kind == .toolCall }.compactMap(\.name) }
}

/// The model failed or the loop ran out of calls; the turn is logged under `interactionId`.
public struct AgentFailure: Error, CustomStringConvertible {
    public var interactionId: String
    public var message: String
    public var description: String { "\(message) (interaction \(interactionId))" }
}

/// The steps of a turn as they happen.
struct AgentTrace {
    var steps: [Step]
    var answer: String?
    var model: String?
    var tokens = TokenUsage()

    init(request: String) {
        steps = [Step(kind: .message, name: "user", content: request)]
    }

    mutating func add(_ reply: ModelReply) {
        steps += reply.steps()
        if let content = reply.content, !content.isEmpty { answer = content }
        if let model = reply.model { self.model = model }
        if let usage = reply.usage { tokens = tokens + usage }
    }

    mutating func add(result output: ToolOutput, of call: ModelReply.ToolCall) {
        steps.append(Step(kind: .toolResult, name: call.name, content: output.content, callId: call.id))
        for change in output.stateChanges {
            steps.append(Step(kind: .stateChange, name: change.name, content: change.value, callId: call.id))
        }
    }
}
