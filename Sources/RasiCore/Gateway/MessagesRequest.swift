import Foundation

/// A request to Anthropic's Messages API (`POST /v1/messages`): `system` as a string or text
/// blocks, `messages` whose content is a string or blocks (`text`, `image`, `tool_use`,
/// `tool_result`, `thinking`). Tool results come back in user messages; the latest user
/// request is the latest user message with something other than tool results in it.
public struct MessagesRequest: AgentRequest {
    public typealias Events = MessagesStreamReader

    public static let api = AgentAPI.messages
    public let body: [String: JSONValue]
    public let messages: [[String: JSONValue]]
    /// `system` (as a system message) then the messages: built once.
    public let transcript: [JSONValue]
    let userIndex: Int

    /// Validates the fields rasi relies on; throws `invalidField` naming the first bad one.
    public init(json: JSONValue) throws {
        let body = try RequestFields.object(json)
        let messages = try RequestFields.array(body, "messages")
        for (i, message) in messages.enumerated() {
            guard let role = message["role"]?.stringValue else { throw RasiError.invalidField("messages[\(i)].role", "must be a string") }
            guard ["user", "assistant"].contains(role) else {
                throw RasiError.invalidField("messages[\(i)].role", "must be \"user\" or \"assistant\", not \"\(role)\"")
            }
            switch message["content"] {
            case .string?, .array?: continue
            case nil: throw RasiError.invalidField("messages[\(i)].content", "is required")
            case let other?: throw RasiError.invalidField("messages[\(i)].content", "must be a string or an array of blocks, not \(other.typeName)")
            }
        }
        switch body["system"] {
        case nil, .null?, .string?, .array?: break
        case let other?: throw RasiError.invalidField("system", "must be a string or an array of text blocks, not \(other.typeName)")
        }
        guard let userIndex = messages.lastIndex(where: Self.isUserRequest) else {
            throw RasiError.invalidField("messages", "must contain a user message with text")
        }
        self.body = body
        self.messages = messages
        self.userIndex = userIndex
        let conversation = messages.map { JSONValue.object($0) }
        if let system = body["system"], !system.isNull {
            transcript = [["role": "system", "content": system]] + conversation
        } else {
            transcript = conversation
        }
    }

    /// A user message that is more than tool results: something the user asked.
    static func isUserRequest(_ message: [String: JSONValue]) -> Bool {
        guard message["role"]?.stringValue == "user" else { return false }
        if message["content"]?.stringValue != nil { return true }
        return (message["content"]?.arrayValue ?? []).contains { $0["type"]?.stringValue != "tool_result" }
    }

    /// The text blocks of a content value (or the string), one per line.
    static func text(of content: JSONValue?) -> String {
        if let string = content?.stringValue { return string }
        let blocks = (content?.arrayValue ?? []).filter { $0["type"]?.stringValue == "text" }
        return blocks.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
    }

    public var model: String { body["model"]?.stringValue ?? "" }
    public var isStreaming: Bool { body["stream"]?.boolValue ?? false }

    private var offset: Int { transcript.count - messages.count }
    public var firstUserIndex: Int? { messages.firstIndex(where: Self.isUserRequest).map { $0 + offset } }
    public var latestUserIndex: Int? { userIndex + offset }
    public var userRequest: String? { Self.text(of: messages[userIndex]["content"]) }

    /// Lessons are added to `system` after the client's own: a further text block when the
    /// client sent blocks (its cache breakpoints stay where they were), a further paragraph
    /// when it sent a string.
    public func forwarded(injecting context: String) -> JSONValue {
        guard !context.isEmpty else { return .object(body) }
        var copy = body
        switch body["system"] {
        case .string(let system)? where !system.isEmpty: copy["system"] = .string(system + "\n\n" + context)
        case .array(let blocks)?: copy["system"] = .array(blocks + [["type": "text", "text": .string(context)]])
        default: copy["system"] = .string(context)
        }
        return .object(copy)
    }

    public func toolResultSteps(excluding loggedCallIds: Set<String>, at date: Date = Date()) -> [Step] {
        var names: [String: String] = [:]
        var steps: [Step] = []
        for message in messages[userIndex...] {
            for block in message["content"]?.arrayValue ?? [] {
                switch block["type"]?.stringValue {
                case "tool_use":
                    if let id = block["id"]?.stringValue, let name = block["name"]?.stringValue { names[id] = name }
                case "tool_result":
                    guard let callId = block["tool_use_id"]?.stringValue, !loggedCallIds.contains(callId) else { continue }
                    steps.append(Step(kind: .toolResult, name: names[callId], content: Self.text(of: block["content"]), callId: callId, at: date))
                default: continue
                }
            }
        }
        return steps
    }

    public static func reply(from json: JSONValue) -> ModelReply { ModelReply(message: json) }
}

extension ModelReply {
    /// Reads an Anthropic `message`: its content blocks (thinking, text, tool_use), usage and
    /// stop reason.
    public init(message json: JSONValue) {
        var texts: [String] = []
        var thinking: [String] = []
        var calls: [ToolCall] = []
        for block in json["content"]?.arrayValue ?? [] {
            switch block["type"]?.stringValue {
            case "text": texts.append(block["text"]?.stringValue ?? "")
            case "thinking": thinking.append(block["thinking"]?.stringValue ?? "")
            case "tool_use":
                calls.append(
                    ToolCall(
                        id: block["id"]?.stringValue ?? "", name: block["name"]?.stringValue ?? "",
                        arguments: String(decoding: RasiJSON.canonical(block["input"] ?? [:]), as: UTF8.self)))
            default: continue
            }
        }
        self.init(
            content: texts.isEmpty ? nil : texts.joined(separator: "\n"), reasoning: thinking.isEmpty ? nil : thinking.joined(separator: "\n"),
            toolCalls: calls, model: json["model"]?.stringValue, usage: Self.messagesUsage(in: json["usage"]),
            finishReason: json["stop_reason"]?.stringValue)
    }

    /// Anthropic counts cached input apart from `input_tokens`; all of it was the prompt.
    static func messagesUsage(in json: JSONValue?) -> TokenUsage? {
        guard let json, json.objectValue != nil else { return nil }
        let input = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"].map { Int(json[$0]?.intValue ?? 0) }
        return TokenUsage(prompt: input.reduce(0, +), completion: Int(json["output_tokens"]?.intValue ?? 0))
    }
}

/// Anthropic's stream: `message_start`, then per content block `content_block_start`,
/// `content_block_delta` (`text_delta`, `input_json_delta`, `thinking_delta`) and
/// `content_block_stop`, then `message_delta` (stop reason, output tokens) and `message_stop`.
public struct MessagesStreamReader: StreamEventReader {
    private var message: [String: JSONValue] = [:]
    private var blocks: [Int: [String: JSONValue]] = [:]
    private var partialJSON: [Int: String] = [:]
    private var usage: [String: JSONValue] = [:]

    public init() {}

    public mutating func read(_ event: JSONValue) {
        switch event["type"]?.stringValue {
        case "message_start":
            message = event["message"]?.objectValue ?? [:]
            usage.merge(message["usage"]?.objectValue ?? [:]) { _, new in new }
        case "content_block_start":
            guard let index = event["index"]?.intValue, let block = event["content_block"]?.objectValue else { return }
            blocks[Int(index)] = block
        case "content_block_delta":
            guard let index = event["index"]?.intValue.map(Int.init), let delta = event["delta"], var block = blocks[index] else { return }
            switch delta["type"]?.stringValue {
            case "text_delta": block["text"] = .string((block["text"]?.stringValue ?? "") + (delta["text"]?.stringValue ?? ""))
            case "thinking_delta":
                block["thinking"] = .string((block["thinking"]?.stringValue ?? "") + (delta["thinking"]?.stringValue ?? ""))
            case "input_json_delta": partialJSON[index, default: ""] += delta["partial_json"]?.stringValue ?? ""
            default: break
            }
            blocks[index] = block
        case "message_delta":
            if let reason = event["delta"]?["stop_reason"], !reason.isNull { message["stop_reason"] = reason }
            usage.merge(event["usage"]?.objectValue ?? [:]) { _, new in new }
        default: return
        }
    }

    public func reply() -> ModelReply {
        var content: [JSONValue] = []
        for index in blocks.keys.sorted() {
            var block = blocks[index]!
            if let json = partialJSON[index] {
                // The tool's input arrives as pieces of JSON text; logged as the whole reply logs it.
                block["input"] = json.isEmpty ? [:] : (try? JSONValue(parsing: json)) ?? .string(json)
            }
            content.append(.object(block))
        }
        var whole = message
        whole["content"] = .array(content)
        whole["usage"] = .object(usage)
        return ModelReply(message: .object(whole))
    }
}
