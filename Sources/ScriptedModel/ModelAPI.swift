import Foundation
import RasiCore

/// One model API the scripted model speaks. Each reads its own requests into a `ScriptedRequest`
/// and writes the common `Answer` in its own wire format; matching the script and working out the
/// reply happen once, in `ScriptedModelServer.answer`, whatever the API.
protocol ModelAPI {
    /// The request field without which a body is not one of this API's requests.
    static var requiredField: String { get }
    /// The request in chat terms, or nil when the body is not one of this API's requests.
    static func read(_ body: JSONValue) -> ScriptedRequest?
    /// The whole reply, as a non-streaming request gets it.
    static func message(_ answer: Answer, for request: ScriptedRequest) -> JSONValue
    /// The reply as server-sent events, as a streaming request gets it.
    static func events(_ answer: Answer, for request: ScriptedRequest) -> EventStream
    /// An error body in this API's shape.
    static func error(status: Int, message: String) -> JSONValue
}

/// A request to any of the APIs, read into what the script and the tool router work on.
struct ScriptedRequest {
    let body: JSONValue
    let prompt: Prompt
    let tools: [ToolRouter.Tool]

    var model: String { body["model"]?.stringValue ?? ScriptedModelServer.modelName }
    var stream: Bool { body["stream"]?.boolValue == true }
}

/// The scripted reply to one request, worked out once for every API: `{{last_tool_result}}`
/// filled in, the tool router consulted, tokens counted (a token is four characters here).
struct Answer {
    struct ToolCall {
        let name: String
        /// JSON text, passed through exactly as scripted.
        let arguments: String
    }

    /// The request's number since the server started, which makes ids unique.
    let number: Int
    let content: String?
    let reasoning: String?
    let toolCalls: [ToolCall]
    /// Streaming only: the gate to wait on after the first content event.
    let gate: String?
    let inputTokens: Int
    let outputTokens: Int

    init(reply: Script.Reply, to request: ScriptedRequest, number: Int) {
        let prompt = request.prompt
        var calls = (reply.toolCalls ?? []).map { ToolCall(name: $0.name, arguments: $0.arguments?.text ?? "{}") }
        var content = reply.content.map { $0.replacingOccurrences(of: "{{last_tool_result}}", with: prompt.lastToolResult) }
        if reply.route == true {
            if let tool = ToolRouter.route(tools: request.tools, prompt: prompt) {
                calls = [ToolCall(name: tool, arguments: "{}")]
                content = nil
            } else {
                content = content ?? "No tool handles this request; it is out of scope."
            }
        }
        self.number = number
        self.content = content
        self.reasoning = reply.reasoning
        self.toolCalls = calls
        self.gate = reply.holdAfterFirstChunk
        inputTokens = max(1, prompt.whole.count / 4)
        outputTokens = max(1, ((content ?? "") + (reply.reasoning ?? "") + calls.map(\.arguments).joined()).count / 4)
    }
}

/// A reply's server-sent events, in the order they are written. The stream waits for the
/// answer's gate right after the event at `holdAfter`.
struct EventStream {
    private(set) var events: [String] = []
    var holdAfter: Int?

    /// The next event's position, which Responses also sends as its `sequence_number`.
    var count: Int { events.count }

    /// `data: JSON`, as Chat Completions sends its chunks.
    mutating func data(_ value: JSONValue) {
        events.append("data: " + String(decoding: RasiJSON.canonical(value), as: UTF8.self) + "\n\n")
    }

    /// `event: TYPE` then `data: JSON`, as Responses and Messages send theirs; TYPE is the data's `type`.
    mutating func event(_ value: JSONValue) {
        let type = value["type"]?.stringValue ?? "message"
        events.append("event: \(type)\ndata: " + String(decoding: RasiJSON.canonical(value), as: UTF8.self) + "\n\n")
    }

    /// A line as it is, such as Chat Completions' closing `data: [DONE]`.
    mutating func raw(_ line: String) {
        events.append(line)
    }

    /// Hold after the event just written, unless an earlier one holds already.
    mutating func holdHere() {
        if holdAfter == nil { holdAfter = events.count - 1 }
    }
}
