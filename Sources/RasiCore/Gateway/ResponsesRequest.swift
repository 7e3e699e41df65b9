import Foundation

/// A request to OpenAI's Responses API (`POST /v1/responses`): `input` as a string or as items
/// (messages, `function_call`, `function_call_output`, ...), `instructions`, and
/// `previous_response_id` when the upstream keeps the earlier turns.
public struct ResponsesRequest: AgentRequest {
    public typealias Events = ResponsesStreamReader

    public static let api = AgentAPI.responses
    public let body: [String: JSONValue]
    /// The input as items; a string input is one user message.
    public let items: [JSONValue]
    public let instructions: String?
    public let previousResponseId: String?
    /// `instructions` (as a system message) then the items: built once, read by every question asked of the call.
    public let transcript: [JSONValue]

    /// Validates the fields rasi relies on; throws `invalidField` naming the first bad one.
    public init(json: JSONValue) throws {
        let body = try RequestFields.object(json)
        if let previous = body["previous_response_id"], previous.stringValue == nil, !previous.isNull {
            throw RasiError.invalidField("previous_response_id", "must be a string, not \(previous.typeName)")
        }
        let previousResponseId = body["previous_response_id"]?.stringValue
        switch body["instructions"] {
        case nil, .null?, .string?: break
        case let other?: throw RasiError.invalidField("instructions", "must be a string, not \(other.typeName)")
        }
        let items: [JSONValue]
        switch body["input"] {
        case .string(let text)?: items = [["role": "user", "content": .string(text)]]
        case .array(let array)?:
            for (i, item) in array.enumerated() where item.objectValue == nil {
                throw RasiError.invalidField("input[\(i)]", "must be an object")
            }
            items = array
        case nil, .null?:
            guard previousResponseId != nil else { throw RasiError.invalidField("input", "is required") }
            items = []
        case let other?:
            throw RasiError.invalidField("input", "must be a string or an array of items, not \(other.typeName)")
        }
        self.body = body
        self.items = items
        self.instructions = body["instructions"]?.stringValue
        self.previousResponseId = previousResponseId
        self.transcript = (instructions.map { [["role": "system", "content": .string($0)]] } ?? []) + items
        guard latestUserIndex != nil || previousResponseId != nil else {
            throw RasiError.invalidField("input", "must contain a message with role \"user\"")
        }
    }

    public var model: String { body["model"]?.stringValue ?? "" }
    public var isStreaming: Bool { body["stream"]?.boolValue ?? false }

    static func isUserMessage(_ item: JSONValue) -> Bool {
        item["role"]?.stringValue == "user" && [nil, "message"].contains(item["type"]?.stringValue)
    }

    public var firstUserIndex: Int? { transcript.firstIndex(where: Self.isUserMessage) }
    public var latestUserIndex: Int? { transcript.lastIndex(where: Self.isUserMessage) }
    public var userRequest: String? { latestUserIndex.map { RequestFields.text(of: transcript[$0]["content"]) } }

    /// Lessons go in as a system message after the client's own leading system and developer
    /// messages; `instructions` stays as the client wrote it.
    public func forwarded(injecting context: String) -> JSONValue {
        guard !context.isEmpty else { return .object(body) }
        let roles: Set<String> = ["system", "developer"]
        let position = items.firstIndex(where: { !roles.contains($0["role"]?.stringValue ?? "") }) ?? items.count
        var injected = items
        injected.insert(["role": "system", "content": .string(context)], at: position)
        var copy = body
        copy["input"] = .array(injected)
        return .object(copy)
    }

    public func toolResultSteps(excluding loggedCallIds: Set<String>, at date: Date = Date()) -> [Step] {
        let start = latestUserIndex.map { $0 + 1 } ?? 0
        var names: [String: String] = [:]
        var steps: [Step] = []
        for item in transcript[start...] {
            switch item["type"]?.stringValue {
            case "function_call":
                if let id = item["call_id"]?.stringValue, let name = item["name"]?.stringValue { names[id] = name }
            case "function_call_output":
                guard let callId = item["call_id"]?.stringValue, !loggedCallIds.contains(callId) else { continue }
                steps.append(
                    Step(kind: .toolResult, name: names[callId], content: RequestFields.text(of: item["output"]), callId: callId, at: date))
            default: continue
            }
        }
        return steps
    }

    public static func reply(from json: JSONValue) -> ModelReply { ModelReply(response: json) }
}

extension ModelReply {
    /// Reads a Responses API `response` object: its output items (reasoning summaries, function
    /// calls, messages), usage and id.
    public init(response json: JSONValue) {
        var texts: [String] = []
        var reasoning: [String] = []
        var calls: [ToolCall] = []
        for item in json["output"]?.arrayValue ?? [] {
            switch item["type"]?.stringValue {
            case "message":
                let parts = (item["content"]?.arrayValue ?? []).filter { $0["type"]?.stringValue == "output_text" }
                texts += parts.compactMap { $0["text"]?.stringValue }
            case "reasoning":
                reasoning += ((item["summary"]?.arrayValue ?? []) + (item["content"]?.arrayValue ?? [])).compactMap { $0["text"]?.stringValue }
            case "function_call":
                calls.append(
                    ToolCall(
                        id: item["call_id"]?.stringValue ?? item["id"]?.stringValue ?? "", name: item["name"]?.stringValue ?? "",
                        arguments: item["arguments"]?.stringValue ?? ""))
            default: continue
            }
        }
        self.init(
            content: texts.isEmpty ? nil : texts.joined(separator: "\n"), reasoning: reasoning.isEmpty ? nil : reasoning.joined(separator: "\n"),
            toolCalls: calls, model: json["model"]?.stringValue, usage: Self.responsesUsage(in: json["usage"]),
            finishReason: json["status"]?.stringValue, responseId: json["id"]?.stringValue)
    }

    static func responsesUsage(in json: JSONValue?) -> TokenUsage? {
        guard let json, json.objectValue != nil else { return nil }
        return TokenUsage(prompt: Int(json["input_tokens"]?.intValue ?? 0), completion: Int(json["output_tokens"]?.intValue ?? 0))
    }
}

/// The Responses API's semantic events. `response.completed` (or `.incomplete`, `.failed`)
/// carries the whole response, which is what is logged; the deltas stand in when the stream
/// breaks off before it.
public struct ResponsesStreamReader: StreamEventReader {
    private var final: ModelReply?
    private var content = ""
    private var sawContent = false
    private var reasoning = ""
    private var calls: [ModelReply.ToolCall] = []
    private var model: String?
    private var responseId: String?

    public init() {}

    public mutating func read(_ event: JSONValue) {
        switch event["type"]?.stringValue {
        case "response.created", "response.in_progress":
            responseId = event["response"]?["id"]?.stringValue ?? responseId
            model = event["response"]?["model"]?.stringValue ?? model
        case "response.output_text.delta":
            content += event["delta"]?.stringValue ?? ""
            sawContent = true
        case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
            reasoning += event["delta"]?.stringValue ?? ""
        case "response.output_item.done":
            guard let item = event["item"], item["type"]?.stringValue == "function_call" else { return }
            calls.append(
                .init(
                    id: item["call_id"]?.stringValue ?? "", name: item["name"]?.stringValue ?? "",
                    arguments: item["arguments"]?.stringValue ?? ""))
        case "response.completed", "response.incomplete", "response.failed":
            if let response = event["response"] { final = ModelReply(response: response) }
        default: return
        }
    }

    public func reply() -> ModelReply {
        if let final { return final }
        return ModelReply(
            content: sawContent ? content : nil, reasoning: reasoning.isEmpty ? nil : reasoning, toolCalls: calls, model: model,
            responseId: responseId)
    }
}
