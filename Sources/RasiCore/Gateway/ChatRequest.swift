import Foundation

/// A chat completion request as the gateway sees it: the client's JSON, kept whole, plus
/// what rasi needs from it (the latest user request, the turn it belongs to).
public struct ChatRequest: AgentRequest {
    public typealias Events = ChatStreamReader

    public static let api = AgentAPI.chat
    public private(set) var body: [String: JSONValue]
    public let messages: [[String: JSONValue]]
    /// Index in `messages` of the latest user message.
    let userIndex: Int

    /// Validates the fields rasi relies on; throws `invalidField` naming the first bad one.
    public init(json: JSONValue) throws {
        let body = try RequestFields.object(json)
        let messages = try RequestFields.array(body, "messages")
        for (i, message) in messages.enumerated() where message["role"]?.stringValue == nil {
            throw RasiError.invalidField("messages[\(i)].role", "must be a string")
        }
        guard let userIndex = messages.lastIndex(where: { $0["role"]?.stringValue == "user" }) else {
            throw RasiError.invalidField("messages", "must contain at least one message with role \"user\"")
        }
        self.body = body
        self.messages = messages
        self.userIndex = userIndex
    }

    public var model: String { body["model"]?.stringValue ?? "" }
    public var isStreaming: Bool { body["stream"]?.boolValue ?? false }

    /// The text of the latest user message: what this turn is about.
    public var latestUserText: String { RequestFields.text(of: messages[userIndex]["content"]) }
    public var userRequest: String? { latestUserText }
    public var transcript: [JSONValue] { messages.map { .object($0) } }
    public var latestUserIndex: Int? { userIndex }
    public var firstUserIndex: Int? { messages.firstIndex(where: { $0["role"]?.stringValue == "user" }) }

    /// Streamed, the request also asks for usage in the last chunk, so the interaction records tokens.
    public func forwarded(injecting context: String) -> JSONValue {
        isStreaming ? Self.askingForStreamUsage(injecting(context)) : injecting(context)
    }

    public static func reply(from json: JSONValue) -> ModelReply { ModelReply(completion: json) }

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
        for message in messages[(userIndex + 1)...] {
            let role = message["role"]?.stringValue
            if role == "assistant", let calls = message["tool_calls"]?.arrayValue {
                for call in calls {
                    if let id = call["id"]?.stringValue, let name = call["function"]?["name"]?.stringValue { names[id] = name }
                }
            } else if role == "tool", let callId = message["tool_call_id"]?.stringValue, !loggedCallIds.contains(callId) {
                steps.append(
                    Step(
                        kind: .toolResult, name: names[callId] ?? message["name"]?.stringValue,
                        content: RequestFields.text(of: message["content"]), callId: callId, at: date))
            }
        }
        return steps
    }
}
