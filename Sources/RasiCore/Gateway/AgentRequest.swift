import Crypto
import Foundation

/// One agent API's request as the gateway sees it: the client's JSON kept whole, plus what the
/// one gateway pipeline needs from it. Each API (Chat Completions, Responses, Messages) knows
/// only its wire format: where the latest user request is, where lessons go, how its replies
/// and streams read. Retrieval, turn grouping, logging and signals are written once, over this.
public protocol AgentRequest: Sendable {
    /// How this API reads a streamed reply.
    associatedtype Events: StreamEventReader

    static var api: AgentAPI { get }
    var model: String { get }
    var isStreaming: Bool { get }
    /// The conversation as the client sent it, one JSON object per message or item, in order,
    /// with the client's standing instructions (`instructions`, `system`) first as a system
    /// message: what the interaction logs as its `messages`, and what identifies its turn.
    var transcript: [JSONValue] { get }
    /// Index in `transcript` of the first and of the latest user request (a message a user
    /// wrote, not a tool result); nil when the call carries none, as a Responses call that
    /// only sends tool outputs after `previous_response_id`.
    var firstUserIndex: Int? { get }
    var latestUserIndex: Int? { get }
    /// The text of the latest user request: what this turn is about, and what lessons are
    /// retrieved for.
    var userRequest: String? { get }
    /// The response whose conversation this call continues, when the upstream keeps it.
    var previousResponseId: String? { get }
    /// The body to forward upstream, with the lessons' text placed where this API puts standing
    /// instructions, and the client's own left as they were.
    func forwarded(injecting context: String) -> JSONValue
    /// Steps for the tool results the client sent back after the latest user request, except
    /// those already logged (by call id).
    func toolResultSteps(excluding loggedCallIds: Set<String>, at date: Date) -> [Step]
    /// Reads a whole (non-streamed) reply.
    static func reply(from json: JSONValue) -> ModelReply
}

extension AgentRequest {
    public var previousResponseId: String? { nil }

    /// True when something follows the latest user request (the model's tool calls and their
    /// results): this call continues a turn that an earlier call started.
    public var continuesTurn: Bool {
        guard let latestUserIndex else { return true }
        return latestUserIndex < transcript.count - 1
    }

    /// True when the client resent earlier user requests: this call is a later turn of a
    /// conversation the client keeps, not the opening of one.
    public var resendsHistory: Bool {
        guard let first = firstUserIndex, let latest = latestUserIndex else { return false }
        return latest > first
    }

    /// Identifies the agent turn: the same for every call that extends the same conversation up
    /// to and including the latest user request, for the same agent and end user.
    public func turnKey(agent: String, userId: String?) -> String {
        guard let latestUserIndex else { return RequestDigest.of([agent, userId ?? "", previousResponseId ?? ""]) }
        let prefix = JSONValue.array(Array(transcript[...latestUserIndex]))
        return RequestDigest.of([agent, userId ?? "", String(decoding: RasiJSON.canonical(prefix), as: UTF8.self)])
    }

    /// The conversation: the client's header when given, otherwise derived from the transcript
    /// up to the first user request, which every later call of the conversation resends.
    public func conversationId(agent: String, userId: String?, header: String?) -> String {
        if let header, !header.isEmpty { return header }
        guard let first = firstUserIndex ?? latestUserIndex else {
            return "conv_" + RequestDigest.of([agent, userId ?? "", previousResponseId ?? ""]).prefix(20)
        }
        let prefix = JSONValue.array(Array(transcript[...first]))
        return "conv_" + RequestDigest.of([agent, userId ?? "", String(decoding: RasiJSON.canonical(prefix), as: UTF8.self)]).prefix(20)
    }

    /// Every string of the conversation as the client sent it, in order: what a log redacted as
    /// one record numbers its placeholders by.
    public var conversationTexts: [String] { transcript.flatMap(\.strings) }
}

enum RequestDigest {
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hasher.finalize().hexadecimal
    }
}

/// Shared by the request parsers: the checks every API's body gets, naming the field.
enum RequestFields {
    static func object(_ json: JSONValue) throws -> [String: JSONValue] {
        guard let body = json.objectValue else { throw RasiError.invalidField("body", "must be a JSON object") }
        guard let model = body["model"] else { throw RasiError.invalidField("model", "is required") }
        guard model.stringValue != nil else { throw RasiError.invalidField("model", "must be a string, not \(model.typeName)") }
        if let stream = body["stream"], stream.boolValue == nil, !stream.isNull {
            throw RasiError.invalidField("stream", "must be a boolean, not \(stream.typeName)")
        }
        if let tools = body["tools"], tools.arrayValue == nil, !tools.isNull {
            throw RasiError.invalidField("tools", "must be an array, not \(tools.typeName)")
        }
        return body
    }

    static func array(_ body: [String: JSONValue], _ name: String) throws -> [[String: JSONValue]] {
        guard let raw = body[name] else { throw RasiError.invalidField(name, "is required") }
        guard let array = raw.arrayValue else { throw RasiError.invalidField(name, "must be an array, not \(raw.typeName)") }
        return try array.enumerated().map { i, element in
            guard let object = element.objectValue else { throw RasiError.invalidField("\(name)[\(i)]", "must be an object") }
            return object
        }
    }

    /// Text of a content value: the string, or the text of its parts (`text`, `input_text`,
    /// `output_text`), one per line.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let s): return s
        case .array(let parts): return parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        default: return ""
        }
    }
}
