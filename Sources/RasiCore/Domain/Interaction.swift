import Foundation

/// One thing that happened inside an interaction, in order.
public struct Step: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case thinking
        case toolCall = "tool_call"
        case toolResult = "tool_result"
        case stateChange = "state_change"
        case message
    }

    public var kind: Kind
    /// The tool's name for tool calls and results; the role for messages.
    public var name: String?
    /// The tool call's arguments, as the model wrote them (usually a JSON string).
    public var arguments: String?
    public var content: String?
    /// The tool call id that links a tool result to its call.
    public var callId: String?
    public var at: Date

    public init(kind: Kind, name: String? = nil, arguments: String? = nil, content: String? = nil, callId: String? = nil, at: Date = Date()) {
        self.kind = kind
        self.name = name
        self.arguments = arguments
        self.content = content
        self.callId = callId
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case kind, name, arguments, content, at
        case callId = "call_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        arguments = try c.decodeIfPresent(String.self, forKey: .arguments)
        content = try c.decodeIfPresent(String.self, forKey: .content)
        callId = try c.decodeIfPresent(String.self, forKey: .callId)
        // Agents logging through the API may leave the time out: it is then the time of logging.
        at = try c.decodeIfPresent(Date.self, forKey: .at) ?? Date()
    }
}

public enum Rating: String, Codable, Sendable, CaseIterable {
    case up
    case down
}

public enum FeedbackSource: String, Codable, Sendable, CaseIterable {
    case user
    case reviewer
    case implicit
}

public enum Signal: String, Codable, Sendable, CaseIterable {
    case rephrase
    case abandon
    case escalate
}

public struct Feedback: Codable, Sendable, Equatable {
    public var id: String
    public var interactionId: String
    public var rating: Rating?
    public var comment: String?
    public var source: FeedbackSource
    public var signal: Signal?
    public var createdAt: Date

    public init(id: String, interactionId: String, rating: Rating?, comment: String?, source: FeedbackSource, signal: Signal?, createdAt: Date) {
        self.id = id
        self.interactionId = interactionId
        self.rating = rating
        self.comment = comment
        self.source = source
        self.signal = signal
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, rating, comment, source, signal
        case interactionId = "interaction_id"
        case createdAt = "created_at"
    }
}

/// A mark that puts an interaction in the review queue, with the reason.
public struct Flag: Codable, Sendable, Equatable {
    /// The rule that raised it; nil for a flag set by hand.
    public var rule: FlagRule?
    public var reason: String
    public var createdAt: Date

    public init(rule: FlagRule? = nil, reason: String, createdAt: Date) {
        self.rule = rule
        self.reason = reason
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case rule, reason
        case createdAt = "created_at"
    }
}

public struct TokenUsage: Codable, Sendable, Equatable {
    public var prompt: Int
    public var completion: Int
    public var total: Int { prompt + completion }

    public init(prompt: Int = 0, completion: Int = 0) {
        self.prompt = prompt
        self.completion = completion
    }

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        TokenUsage(prompt: a.prompt + b.prompt, completion: a.completion + b.completion)
    }

    enum CodingKeys: String, CodingKey {
        case prompt, completion, total
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decodeIfPresent(Int.self, forKey: .prompt) ?? 0
        completion = try c.decodeIfPresent(Int.self, forKey: .completion) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(completion, forKey: .completion)
        try c.encode(total, forKey: .total)
    }
}

/// The agent API a gateway call came through.
public enum AgentAPI: String, Codable, Sendable, CaseIterable {
    case chat, responses, messages
}

/// One agent turn: from a user's request to the final answer, with every step between.
public struct Interaction: Codable, Sendable, Equatable {
    public var id: String
    public var agent: String
    public var conversationId: String?
    public var userId: String?
    /// The latest user message: what the user asked in this turn.
    public var request: String
    /// The full message list of the turn's latest model call, as the client sent it.
    public var messages: JSONValue
    public var steps: [Step]
    /// The final answer, when there is one.
    public var response: String?
    public var model: String?
    /// The API the turn came through; nil when it was logged through the REST API, which does not say.
    public var api: AgentAPI?
    public var latencyMs: Int
    public var tokens: TokenUsage
    public var lessonsInjected: [String]
    /// Lessons the policy selected and the holdout withheld (the control arm).
    public var lessonsWithheld: [String] = []
    public var topic: String?
    public var flags: [Flag]
    public var feedback: [Feedback]
    /// Set when the upstream failed; the interaction is logged all the same.
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The process (`RasiServices.instance`) with a model call open on this interaction: set as
    /// a gateway call begins, cleared as it ends. One left open by a process that stopped marks
    /// the call as interrupted. Stored, never in the API's JSON.
    public var callOpenBy: String? = nil

    public init(
        id: String = Identifier.make("int"), agent: String, conversationId: String? = nil, userId: String? = nil,
        request: String, messages: JSONValue = .array([]), steps: [Step] = [], response: String? = nil,
        model: String? = nil, api: AgentAPI? = nil, latencyMs: Int = 0, tokens: TokenUsage = TokenUsage(), lessonsInjected: [String] = [],
        topic: String? = nil, flags: [Flag] = [], feedback: [Feedback] = [], error: String? = nil,
        createdAt: Date = Date(), updatedAt: Date? = nil
    ) {
        self.id = id
        self.agent = agent
        self.conversationId = conversationId
        self.userId = userId
        self.request = request
        self.messages = messages
        self.steps = steps
        self.response = response
        self.model = model
        self.api = api
        self.latencyMs = latencyMs
        self.tokens = tokens
        self.lessonsInjected = lessonsInjected
        self.topic = topic
        self.flags = flags
        self.feedback = feedback
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, request, messages, steps, response, model, api, tokens, topic, flags, feedback, error
        case conversationId = "conversation_id"
        case userId = "user_id"
        case latencyMs = "latency_ms"
        case lessonsInjected = "lessons_injected"
        case lessonsWithheld = "lessons_withheld"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

extension Interaction {
    /// The error of an interaction whose call was still open when its process stopped (killed,
    /// crashed): the reply never ended, so the turn counts as failed, not as answered.
    public static let interruptedError = "interrupted: rasi stopped before the model's reply ended"

    /// What the agent did in this turn, in a few lines: the tools it called and its answer.
    /// The correction box starts from this.
    public var didSummary: String {
        var parts: [String] = []
        let calls = steps.filter { $0.kind == .toolCall }
        if !calls.isEmpty {
            parts.append("Called " + calls.map { "\($0.name ?? "a tool")(\($0.arguments ?? ""))" }.joined(separator: ", ") + ".")
        }
        if let response, !response.isEmpty {
            let clipped = response.count > 600 ? String(response.prefix(600)) + "…" : response
            parts.append("Answered: \(clipped)")
        } else if let error {
            parts.append("Failed: \(error)")
        }
        return parts.isEmpty ? "Gave no answer." : parts.joined(separator: " ")
    }
}

/// Filters of the interaction list. `nil` means "any".
public struct InteractionFilter: Sendable, Equatable {
    public enum FeedbackFilter: String, Sendable, CaseIterable {
        case up, down, any, none
    }

    public var agent: String?
    public var api: AgentAPI?
    public var flagged: Bool?
    public var feedback: FeedbackFilter?
    public var topic: String?
    public var text: String?
    public var since: Date?
    public var limit: Int
    /// The page after this id: strictly older, or strictly newer when `oldestFirst` (ids sort by time).
    public var before: String?
    /// Oldest first, as the review queue is worked; newest first otherwise.
    public var oldestFirst: Bool

    public init(
        agent: String? = nil, api: AgentAPI? = nil, flagged: Bool? = nil, feedback: FeedbackFilter? = nil, topic: String? = nil,
        text: String? = nil, since: Date? = nil, limit: Int = 50, before: String? = nil, oldestFirst: Bool = false
    ) {
        self.oldestFirst = oldestFirst
        self.agent = agent
        self.api = api
        self.flagged = flagged
        self.feedback = feedback
        self.topic = topic
        self.text = text
        self.since = since
        self.limit = limit
        self.before = before
    }
}

public struct LessonFilter: Sendable, Equatable {
    public var agent: String?
    public var status: LessonStatus?
    public var topic: String?
    public var text: String?
    public var limit: Int
    public var before: String?

    public init(agent: String? = nil, status: LessonStatus? = nil, topic: String? = nil, text: String? = nil, limit: Int = 50, before: String? = nil)
    {
        self.agent = agent
        self.status = status
        self.topic = topic
        self.text = text
        self.limit = limit
        self.before = before
    }
}

/// One lesson placed into one model call's context.
public struct Injection: Codable, Sendable, Equatable {
    public var interactionId: String
    public var lessonId: String
    public var version: Int
    public var rank: Int
    public var score: Double
    /// `treatment`: injected; `control`: selected and withheld by the holdout.
    public var arm: ExposureArm
    /// When it was recorded; set by the store.
    public var at: Date?

    public init(
        interactionId: String, lessonId: String, version: Int, rank: Int, score: Double, arm: ExposureArm = .treatment, at: Date? = nil
    ) {
        self.at = at
        self.arm = arm
        self.interactionId = interactionId
        self.lessonId = lessonId
        self.version = version
        self.rank = rank
        self.score = score
    }

    enum CodingKeys: String, CodingKey {
        case rank, score, version, at, arm
        case interactionId = "interaction_id"
        case lessonId = "lesson_id"
    }
}
