import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import RasiCore

/// An OpenAI-compatible `/chat/completions` endpoint, called without streaming at temperature 0:
/// by the judge, and by the agent library's tool-calling loop.
public struct OpenAIChatModel: ChatModel {
    let upstream: Upstream
    let maxBodyBytes: Int

    public init(upstream: Upstream, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.upstream = upstream
        self.maxBodyBytes = maxBodyBytes
    }

    /// The endpoint at `baseURL` (with `/v1`), e.g. `https://api.openai.com/v1` or a local vLLM.
    public init(client: HTTPClient, baseURL: String, apiKey: String?, timeoutSeconds: Int = 120) {
        self.init(upstream: Upstream(client: client, baseURL: baseURL, apiKey: apiKey, timeoutSeconds: timeoutSeconds))
    }

    public func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion {
        let reply = try await reply(model: model, messages: messages, tools: [])
        return ChatCompletion(content: reply.content ?? "", model: reply.model, usage: reply.usage ?? TokenUsage())
    }

    public func reply(model: String, messages: [JSONValue], tools: [JSONValue]) async throws -> ModelReply {
        var request: [String: JSONValue] = ["model": .string(model), "messages": .array(messages), "temperature": .int(0)]
        if !tools.isEmpty { request["tools"] = .array(tools) }
        let json = try await upstream.call(
            "chat/completions", json: .object(request), maxBodyBytes: maxBodyBytes, expecting: "choices[0].message"
        ) { $0["choices"]?.arrayValue?.first?["message"]?.objectValue != nil }
        return ModelReply(completion: json)
    }
}
