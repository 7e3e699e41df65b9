import Foundation

/// One reply of an OpenAI-compatible chat model.
public struct ChatCompletion: Sendable, Equatable {
    public var content: String
    public var model: String?
    public var usage: TokenUsage

    public init(content: String, model: String?, usage: TokenUsage) {
        self.content = content
        self.model = model
        self.usage = usage
    }
}

/// An OpenAI-compatible chat model, as the judge and the agent library use it.
public protocol ChatModel: Sendable {
    /// One non-streaming completion. Throws when the endpoint cannot be reached or answers with an error.
    func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion
    /// One non-streaming completion that may call the given tools (OpenAI's `tools`, each
    /// `{"type": "function", "function": {...}}`): the reply with its reasoning and tool calls.
    func reply(model: String, messages: [JSONValue], tools: [JSONValue]) async throws -> ModelReply
}

extension ChatModel {
    /// For models that only answer in text: without tools, the completion as a reply.
    public func reply(model: String, messages: [JSONValue], tools: [JSONValue]) async throws -> ModelReply {
        guard tools.isEmpty else { throw RasiError.unavailable("this chat model cannot call tools") }
        let completion = try await complete(model: model, messages: messages)
        return ModelReply(content: completion.content, model: completion.model, usage: completion.usage, finishReason: "stop")
    }
}

/// One run of the judge over one interaction, logged whatever its outcome.
public struct JudgeRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// The judge answered with a valid verdict.
        case ok
        /// The judge's output failed validation on every attempt: a judge failure, never a lesson.
        case invalid
        /// The judge's model could not be reached or answered with an error.
        case error
    }

    public var id: String
    public var interactionId: String
    /// The queued job this run belongs to; nil for a run on demand.
    public var jobId: String?
    public var status: Status
    public var model: String
    /// The messages of the last attempt, earlier attempts and the errors shown included.
    public var prompt: [JSONValue]
    /// The model's raw reply of each attempt.
    public var outputs: [String]
    public var verdict: JudgeVerdict?
    /// The lesson the verdict became, once stored.
    public var lessonId: String?
    public var error: String?
    public var tokens: TokenUsage
    public var latencyMs: Int
    public var createdAt: Date

    public init(
        id: String = Identifier.make("jud"), interactionId: String, jobId: String? = nil, status: Status, model: String,
        prompt: [JSONValue], outputs: [String], verdict: JudgeVerdict? = nil, lessonId: String? = nil, error: String? = nil,
        tokens: TokenUsage = TokenUsage(), latencyMs: Int = 0, createdAt: Date = Date()
    ) {
        self.id = id
        self.interactionId = interactionId
        self.jobId = jobId
        self.status = status
        self.model = model
        self.prompt = prompt
        self.outputs = outputs
        self.verdict = verdict
        self.lessonId = lessonId
        self.error = error
        self.tokens = tokens
        self.latencyMs = latencyMs
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, status, model, prompt, outputs, verdict, error, tokens
        case interactionId = "interaction_id"
        case jobId = "job_id"
        case lessonId = "lesson_id"
        case latencyMs = "latency_ms"
        case createdAt = "created_at"
    }
}

/// The judge agent: an LLM with a rubric that reads a turn's full trace and says whether it
/// served the user, and for a problem proposes a lesson.
public struct Judge: Sendable {
    public var rubric: JudgeRubric
    /// Tries per run: the first, then retries that show the model what was wrong with its output.
    public var attempts: Int
    let model: any ChatModel

    public init(model: any ChatModel, rubric: JudgeRubric = JudgeRubric(), attempts: Int = 2) {
        self.model = model
        self.rubric = rubric
        self.attempts = max(1, attempts)
    }

    /// Judges one interaction with the named model. Never throws: every outcome is a run to log.
    public func run(_ interaction: Interaction, modelName: String, jobId: String? = nil) async -> JudgeRun {
        let started = ContinuousClock.now
        var messages = JudgePrompt.messages(for: interaction, rubric: rubric)
        var run = JudgeRun(interactionId: interaction.id, jobId: jobId, status: .invalid, model: modelName, prompt: messages, outputs: [])
        func finish(_ status: JudgeRun.Status, error: String?) -> JudgeRun {
            let elapsed = ContinuousClock.now - started
            run.status = status
            run.error = error
            run.prompt = messages
            run.latencyMs = elapsed.milliseconds
            return run
        }
        var lastError = ""
        for attempt in 1...attempts {
            let reply: ChatCompletion
            do {
                reply = try await model.complete(model: modelName, messages: messages)
            } catch {
                return finish(.error, error: "the judge's model failed: \(error)")
            }
            run.outputs.append(reply.content)
            run.tokens = run.tokens + reply.usage
            if let name = reply.model { run.model = name }
            do {
                run.verdict = try JudgeVerdict.parse(reply.content, rubric: rubric)
                return finish(.ok, error: nil)
            } catch {
                lastError = error.message
                guard attempt < attempts else { break }
                messages.append(.object(["role": .string("assistant"), "content": .string(reply.content)]))
                messages.append(.object(["role": .string("user"), "content": .string(JudgePrompt.retry(error: error.message))]))
            }
        }
        return finish(.invalid, error: "invalid output after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(lastError)")
    }
}
