import AsyncHTTPClient
import Foundation
import RasiCore

/// An Anthropic Messages API endpoint (`POST {base}/v1/messages`, the key as `x-api-key`), called
/// without streaming at temperature 0, for an agent that speaks in Chat Completions terms: each
/// call converts the whole conversation to Messages blocks.
public struct AnthropicMessagesModel: ChatModel {
    /// The API version every call names, as rasi's gateway does when a client names none.
    public static let version = "2023-06-01"

    let upstream: Upstream
    let maxTokens: Int
    let maxBodyBytes: Int

    /// `maxTokens` bounds each reply, as the Messages API requires of every request.
    public init(upstream: Upstream, maxTokens: Int = 4096, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.upstream = upstream
        self.maxTokens = maxTokens
        self.maxBodyBytes = maxBodyBytes
    }

    /// The endpoint at `baseURL`, without `/v1` (as `RASI_ANTHROPIC_BASE_URL`), e.g. `https://api.anthropic.com`.
    public init(client: HTTPClient, baseURL: String, apiKey: String?, timeoutSeconds: Int = 120, maxTokens: Int = 4096) {
        self.init(
            upstream: Upstream(client: client, baseURL: baseURL, apiKey: apiKey, keyHeader: .apiKey, timeoutSeconds: timeoutSeconds),
            maxTokens: maxTokens)
    }

    public func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion {
        let reply = try await reply(model: model, messages: messages, tools: [])
        return ChatCompletion(content: reply.content ?? "", model: reply.model, usage: reply.usage ?? TokenUsage())
    }

    public func reply(model: String, messages: [JSONValue], tools: [JSONValue]) async throws -> ModelReply {
        let json = try await upstream.call(
            "v1/messages", json: Self.request(model: model, messages: messages, tools: tools, maxTokens: maxTokens),
            headers: [("anthropic-version", Self.version)], maxBodyBytes: maxBodyBytes, expecting: "content"
        ) { $0["content"]?.arrayValue != nil }
        return ModelReply(message: json)
    }

    /// The Messages request for a conversation in Chat Completions format. System (and developer)
    /// messages join `system`. An assistant message becomes its text and a `tool_use` block per
    /// tool call, with the call's arguments parsed; a tool message becomes a `tool_result` block
    /// of a user message. Messages of the same role in a row are merged into one, so the tool
    /// results of one turn go back together, as the API asks.
    public static func request(model: String, messages: [JSONValue], tools: [JSONValue], maxTokens: Int) -> JSONValue {
        var system: [String] = []
        var conversation: [(role: String, blocks: [JSONValue])] = []
        for message in messages {
            let role = message["role"]?.stringValue ?? "user"
            let blocks: [JSONValue]
            switch role {
            case "system", "developer":
                system.append(ChatContent.text(message["content"]))
                continue
            case "assistant":
                blocks =
                    Self.blocks(message["content"])
                    + (message["tool_calls"]?.arrayValue ?? []).map { call in
                        ["type": "tool_use", "id": call["id"] ?? "", "name": call["function"]?["name"] ?? "", "input": input(call)]
                    }
            case "tool":
                var result: [String: JSONValue] = ["type": "tool_result", "tool_use_id": message["tool_call_id"] ?? ""]
                let content = Self.blocks(message["content"])
                if !content.isEmpty { result["content"] = .array(content) }
                blocks = [.object(result)]
            default:
                blocks = Self.blocks(message["content"])
            }
            // A message with nothing in it is refused; a tool result always has its block.
            guard !blocks.isEmpty else { continue }
            let apiRole = role == "assistant" ? "assistant" : "user"
            if conversation.last?.role == apiRole {
                conversation[conversation.count - 1].blocks += blocks
            } else {
                conversation.append((apiRole, blocks))
            }
        }
        var request: [String: JSONValue] = [
            "model": .string(model), "max_tokens": .int(Int64(maxTokens)), "temperature": 0,
            "messages": .array(conversation.map { ["role": .string($0.role), "content": .array($0.blocks)] })
        ]
        let instructions = system.filter { !$0.isEmpty }
        if !instructions.isEmpty { request["system"] = .string(instructions.joined(separator: "\n\n")) }
        if !tools.isEmpty { request["tools"] = .array(tools.map(tool)) }
        return .object(request)
    }

    /// A Chat Completions tool, `{"type": "function", "function": {...}}`, as a Messages one:
    /// name, description and the parameters' schema as `input_schema`.
    static func tool(_ tool: JSONValue) -> JSONValue {
        guard tool["type"]?.stringValue == "function", let function = tool["function"]?.objectValue else { return tool }
        var converted: [String: JSONValue] = ["name": function["name"] ?? ""]
        if let description = function["description"] { converted["description"] = description }
        converted["input_schema"] = function["parameters"] ?? ["type": "object", "properties": [:]]
        return .object(converted)
    }

    /// A tool call's arguments, JSON text in Chat Completions, as the object `tool_use` takes;
    /// arguments that are not a JSON object (a model's malformed call) as an empty one.
    static func input(_ call: JSONValue) -> JSONValue {
        let arguments = call["function"]?["arguments"]?.stringValue ?? ""
        guard let parsed = try? JSONValue(parsing: arguments), parsed.objectValue != nil else {
            return [:]
        }
        return parsed
    }

    /// Message content as Messages blocks: a string as one text block, Chat Completions parts as
    /// text and image blocks; empty text is left out, as the API refuses it.
    static func blocks(_ content: JSONValue?) -> [JSONValue] {
        guard let parts = content?.arrayValue else {
            let text = ChatContent.text(content)
            return text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        }
        return parts.compactMap { part in
            switch part["type"]?.stringValue {
            case "text":
                guard let text = part["text"]?.stringValue, !text.isEmpty else { return nil }
                return ["type": "text", "text": .string(text)]
            case "image_url":
                return image(part["image_url"]?["url"]?.stringValue ?? part["image_url"]?.stringValue ?? "")
            default:
                return part
            }
        }
    }

    /// An image part's URL as an image block: a `data:` URL as base64 data, another as a URL source.
    static func image(_ url: String) -> JSONValue {
        // data:image/png;base64,DATA
        if url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") {
            let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
            if header.hasSuffix(";base64") {
                let source: JSONValue = [
                    "type": "base64", "media_type": .string(String(header.dropLast(7))), "data": .string(String(url[url.index(after: comma)...]))
                ]
                return ["type": "image", "source": source]
            }
        }
        return ["type": "image", "source": ["type": "url", "url": .string(url)]]
    }
}
