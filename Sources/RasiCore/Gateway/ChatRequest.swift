import Crypto
import Foundation

/// A chat completion request as the gateway sees it: the client's JSON, kept whole, plus
/// what rasi needs from it (the latest user request, the turn it belongs to).
public struct ChatRequest: Sendable {
    public private(set) var body: [String: JSONValue]
    public let messages: [[String: JSONValue]]
    /// Index in `messages` of the latest user message.
    public let latestUserIndex: Int

    /// Validates the fields rasi relies on; throws `invalidField` naming the first bad one.
    public init(json: JSONValue) throws {
        guard let body = json.objectValue else {
            throw RasiError.invalidField("body", "must be a JSON object")
        }
        guard let model = body["model"] else { throw RasiError.invalidField("model", "is required") }
        guard model.stringValue != nil else { throw RasiError.invalidField("model", "must be a string, not \(model.typeName)") }
        guard let rawMessages = body["messages"] else { throw RasiError.invalidField("messages", "is required") }
        guard let array = rawMessages.arrayValue else {
            throw RasiError.invalidField("messages", "must be an array, not \(rawMessages.typeName)")
        }
        var messages: [[String: JSONValue]] = []
        for (i, element) in array.enumerated() {
            guard let message = element.objectValue else { throw RasiError.invalidField("messages[\(i)]", "must be an object") }
            guard message["role"]?.stringValue != nil else { throw RasiError.invalidField("messages[\(i)].role", "must be a string") }
            messages.append(message)
        }
        if let stream = body["stream"], stream.boolValue == nil, !stream.isNull {
            throw RasiError.invalidField("stream", "must be a boolean, not \(stream.typeName)")
        }
        if let tools = body["tools"], tools.arrayValue == nil, !tools.isNull {
            throw RasiError.invalidField("tools", "must be an array, not \(tools.typeName)")
        }
        guard let userIndex = messages.lastIndex(where: { $0["role"]?.stringValue == "user" }) else {
            throw RasiError.invalidField("messages", "must contain at least one message with role \"user\"")
        }
        self.body = body
        self.messages = messages
        self.latestUserIndex = userIndex
    }

    public var model: String { body["model"]?.stringValue ?? "" }
    public var isStreaming: Bool { body["stream"]?.boolValue ?? false }

    /// The text of the latest user message: what this turn is about.
    public var latestUserText: String { Self.text(of: messages[latestUserIndex]["content"]) }

    /// True when messages follow the latest user message (the assistant's tool calls and
    /// their results): this call continues a turn that an earlier call started.
    public var continuesTurn: Bool { latestUserIndex < messages.count - 1 }

    /// Identifies the agent turn: the same for every call that extends the same messages up to
    /// and including the latest user message, for the same agent and end user.
    public func turnKey(agent: String, userId: String?) -> String {
        let prefix = JSONValue.array(messages[...latestUserIndex].map { .object($0) })
        return Self.digest([agent, userId ?? "", String(decoding: RasiJSON.canonical(prefix), as: UTF8.self)])
    }

    /// The conversation: the client's header when given, otherwise derived from the messages
    /// up to the first user message, which every later call of the conversation resends.
    public func conversationId(agent: String, userId: String?, header: String?) -> String {
        if let header, !header.isEmpty { return header }
        let firstUser = messages.firstIndex(where: { $0["role"]?.stringValue == "user" }) ?? latestUserIndex
        let prefix = JSONValue.array(messages[...firstUser].map { .object($0) })
        return "conv_" + Self.digest([agent, userId ?? "", String(decoding: RasiJSON.canonical(prefix), as: UTF8.self)]).prefix(20)
    }

    /// The request with lessons placed as a system message after the client's own leading
    /// system (or developer) messages, before the conversation.
    public func injecting(_ context: String) -> JSONValue {
        guard !context.isEmpty else { return .object(body) }
        let position = messages.firstIndex(where: { !["system", "developer"].contains($0["role"]?.stringValue ?? "") }) ?? 0
        var injected = messages.map { JSONValue.object($0) }
        injected.insert(["role": "system", "content": .string(context)], at: position)
        var copy = body
        copy["messages"] = .array(injected)
        return .object(copy)
    }

    /// The request as forwarded for streaming: with usage reported in the last chunk, so the
    /// interaction records tokens. The client still receives that chunk; OpenAI's SDKs accept it.
    public static func askingForStreamUsage(_ body: JSONValue) -> JSONValue {
        guard var object = body.objectValue, object["stream_options"] == nil else { return body }
        object["stream_options"] = ["include_usage": true]
        return .object(object)
    }

    /// Steps for the tool results the client sent back after the latest user message, except
    /// those already logged (by call id). Tool names come from the assistant's calls.
    public func toolResultSteps(excluding loggedCallIds: Set<String>, at date: Date = Date()) -> [Step] {
        var names: [String: String] = [:]
        var steps: [Step] = []
        for message in messages[(latestUserIndex + 1)...] {
            let role = message["role"]?.stringValue
            if role == "assistant", let calls = message["tool_calls"]?.arrayValue {
                for call in calls {
                    if let id = call["id"]?.stringValue, let name = call["function"]?["name"]?.stringValue { names[id] = name }
                }
            } else if role == "tool", let callId = message["tool_call_id"]?.stringValue, !loggedCallIds.contains(callId) {
                steps.append(
                    Step(
                        kind: .toolResult, name: names[callId] ?? message["name"]?.stringValue,
                        content: Self.text(of: message["content"]), callId: callId, at: date))
            }
        }
        return steps
    }

    /// A message's content as text: the string, or the text parts of a content array.
    public static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let s): return s
        case .array(let parts):
            return parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        default: return ""
        }
    }

    static func digest(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hasher.finalize().hexadecimal
    }

    /// Every string of the conversation as the client sent it, in order: what a log redacted as
    /// one record numbers its placeholders by.
    public var conversationTexts: [String] { messages.flatMap { JSONValue.object($0).strings } }
}
