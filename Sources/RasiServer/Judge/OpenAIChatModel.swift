import AsyncHTTPClient
import Foundation
import NIOCore
import RasiCore

/// An OpenAI-compatible `/chat/completions` endpoint, as the judge calls it: one
/// non-streaming completion at temperature 0.
public struct OpenAIChatModel: ChatModel {
    let upstream: Upstream
    let maxBodyBytes: Int

    public init(upstream: Upstream, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.upstream = upstream
        self.maxBodyBytes = maxBodyBytes
    }

    public func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion {
        let request: JSONValue = .object(["model": .string(model), "messages": .array(messages), "temperature": .int(0)])
        let response = try await upstream.send(.POST, "chat/completions", json: request)
        let body = try await response.body.collect(upTo: maxBodyBytes)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw RasiError.upstream(status: status, message: Upstream.errorMessage(body))
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)),
              let message = json["choices"]?.arrayValue?.first?["message"]
        else { throw RasiError.upstream(status: 502, message: "the reply has no choices[0].message") }
        let usage = json["usage"]
        return ChatCompletion(
            content: message["content"]?.stringValue ?? "", model: json["model"]?.stringValue,
            usage: TokenUsage(prompt: Int(usage?["prompt_tokens"]?.intValue ?? 0), completion: Int(usage?["completion_tokens"]?.intValue ?? 0)))
    }
}
