import AsyncHTTPClient
import Foundation
import RasiCore

/// An OpenAI Responses API endpoint (`POST {base}/responses`), called without streaming at
/// temperature 0, for an agent that speaks in Chat Completions terms: each call sends the whole
/// conversation, converted to `instructions` and input items, and keeps nothing upstream.
public struct OpenAIResponsesModel: ChatModel {
    let upstream: Upstream
    let maxBodyBytes: Int

    public init(upstream: Upstream, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.upstream = upstream
        self.maxBodyBytes = maxBodyBytes
    }

    /// The endpoint at `baseURL` (with `/v1`), e.g. `https://api.openai.com/v1`.
    public init(client: HTTPClient, baseURL: String, apiKey: String?, timeoutSeconds: Int = 120) {
        self.init(upstream: Upstream(client: client, baseURL: baseURL, apiKey: apiKey, timeoutSeconds: timeoutSeconds))
    }

    public func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion {
        let reply = try await reply(model: model, messages: messages, tools: [])
        return ChatCompletion(content: reply.content ?? "", model: reply.model, usage: reply.usage ?? TokenUsage())
    }

    public func reply(model: String, messages: [JSONValue], tools: [JSONValue]) async throws -> ModelReply {
        let json = try await upstream.call(
            "responses", json: Self.request(model: model, messages: messages, tools: tools), maxBodyBytes: maxBodyBytes, expecting: "output"
        ) { $0["output"]?.arrayValue != nil }
        if json["status"]?.stringValue == "failed" {
            throw RasiError.upstream(status: 502, message: json["error"]?["message"]?.stringValue ?? "the response failed")
        }
        return ModelReply(response: json)
    }

    /// The Responses request for a conversation in Chat Completions format. The leading system
    /// (or developer) messages become `instructions`; later ones stay system messages among the
    /// input items. An assistant message becomes its text, if any, and a `function_call` item per
    /// tool call; a tool message becomes a `function_call_output`. Tools are flattened.
    public static func request(model: String, messages: [JSONValue], tools: [JSONValue]) -> JSONValue {
        let leading = messages.prefix { ["system", "developer"].contains($0["role"]?.stringValue ?? "") }
        var items: [JSONValue] = []
        for message in messages.dropFirst(leading.count) {
            let role = message["role"]?.stringValue ?? "user"
            switch role {
            case "assistant":
                if let content = message["content"], !ChatContent.isEmpty(content) {
                    items.append(["type": "message", "role": "assistant", "content": parts(content, textType: "output_text")])
                }
                for call in message["tool_calls"]?.arrayValue ?? [] {
                    items.append([
                        "type": "function_call", "call_id": call["id"] ?? "", "name": call["function"]?["name"] ?? "",
                        "arguments": call["function"]?["arguments"] ?? "{}"
                    ])
                }
            case "tool":
                items.append([
                    "type": "function_call_output", "call_id": message["tool_call_id"] ?? "", "output": .string(ChatContent.text(message["content"]))
                ])
            default:
                items.append(["type": "message", "role": .string(role), "content": parts(message["content"], textType: "input_text")])
            }
        }
        var request: [String: JSONValue] = [
            // The whole conversation goes with every call, so nothing needs keeping upstream.
            "model": .string(model), "input": .array(items), "temperature": 0, "store": false
        ]
        if !leading.isEmpty { request["instructions"] = .string(leading.map { ChatContent.text($0["content"]) }.joined(separator: "\n\n")) }
        if !tools.isEmpty { request["tools"] = .array(tools.map(tool)) }
        return .object(request)
    }

    /// A Chat Completions tool, `{"type": "function", "function": {...}}`, as a Responses one, with
    /// the function's fields at the top. `strict` stays off unless the tool asked for it: Responses
    /// turns it on by default, and then refuses schemas that Chat Completions takes.
    static func tool(_ tool: JSONValue) -> JSONValue {
        guard tool["type"]?.stringValue == "function", let function = tool["function"]?.objectValue else { return tool }
        var flat: [String: JSONValue] = ["type": "function", "name": function["name"] ?? "", "strict": function["strict"] ?? false]
        if let description = function["description"] { flat["description"] = description }
        flat["parameters"] = function["parameters"] ?? ["type": "object", "properties": [:]]
        return .object(flat)
    }

    /// Message content: a string as it is; Chat Completions parts as Responses parts, text as
    /// `textType` (`input_text` from users and systems, `output_text` from the assistant).
    static func parts(_ content: JSONValue?, textType: String) -> JSONValue {
        guard let parts = content?.arrayValue else { return .string(ChatContent.text(content)) }
        return .array(
            parts.map { part in
                switch part["type"]?.stringValue {
                case "text": ["type": .string(textType), "text": part["text"] ?? ""]
                case "image_url": ["type": "input_image", "image_url": part["image_url"]?["url"] ?? part["image_url"] ?? ""]
                default: part
                }
            })
    }
}

/// The content of a Chat Completions message: a string, null, or an array of parts.
enum ChatContent {
    /// Its text: the string, or the text parts one per line.
    static func text(_ content: JSONValue?) -> String {
        if let string = content?.stringValue { return string }
        return (content?.arrayValue ?? []).filter { $0["type"]?.stringValue == "text" }.compactMap { $0["text"]?.stringValue }
            .joined(separator: "\n")
    }

    /// Whether it says nothing: null, an empty string, or no parts.
    static func isEmpty(_ content: JSONValue) -> Bool {
        switch content {
        case .null: true
        case .string(let text): text.isEmpty
        case .array(let parts): parts.isEmpty
        default: false
        }
    }
}
