import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RasiCore

/// Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (`RASI_EMBEDDER=openai:MODEL`).
/// Vectors are L2-normalised here, so cosine is an inner product whatever the provider returns.
public struct OpenAIEmbedder: Embedder {
    public let model: String
    public let dimensions: Int
    let client: HTTPClient
    let baseURL: String
    let apiKey: String?

    /// Connects and embeds a probe text to learn the dimensions; throws a clear error when the
    /// endpoint cannot be used, so a bad configuration stops the start.
    public static func connect(client: HTTPClient, baseURL: String, apiKey: String?, model: String) async throws -> OpenAIEmbedder {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let probe = OpenAIEmbedder(model: model, dimensions: 0, client: client, baseURL: base, apiKey: apiKey)
        guard let vector = try await probe.request(["dimension probe"]).first, !vector.isEmpty else {
            throw EmbeddingError.upstream("\(base)/embeddings returned no vector for model \(model)")
        }
        return OpenAIEmbedder(model: model, dimensions: vector.count, client: client, baseURL: base, apiKey: apiKey)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let vectors = try await request(texts)
        guard vectors.allSatisfy({ $0.count == dimensions }) else {
            throw EmbeddingError.upstream("\(baseURL)/embeddings changed its dimensions (expected \(dimensions))")
        }
        return vectors
    }

    func request(_ texts: [String]) async throws -> [[Float]] {
        var request = HTTPClientRequest(url: baseURL + "/embeddings")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let body: JSONValue = ["model": .string(model), "input": .array(texts.map(JSONValue.string))]
        request.body = .bytes(ByteBuffer(bytes: RasiJSON.canonical(body)))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(60))
            bytes = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw EmbeddingError.upstream("\(baseURL)/embeddings unreachable: \(error)")
        }
        guard response.status == .ok else {
            throw EmbeddingError.upstream("\(baseURL)/embeddings returned \(response.status.code): \(String(buffer: bytes).prefix(300))")
        }
        guard let json = try? JSONValue(parsing: bytes.readableBytesView), let data = json["data"]?.arrayValue,
            data.count == texts.count
        else {
            throw EmbeddingError.upstream("\(baseURL)/embeddings returned an unexpected body")
        }
        // Providers may return items out of order: `index` says which input each belongs to.
        var vectors = [[Float]](repeating: [], count: texts.count)
        for (position, item) in data.enumerated() {
            let index = Int(item["index"]?.intValue ?? Int64(position))
            let values: [Float] = (item["embedding"]?.arrayValue ?? []).compactMap {
                switch $0 {
                case .double(let d): Float(d)
                case .int(let i): Float(i)
                default: nil
                }
            }
            guard vectors.indices.contains(index) else { continue }
            let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vectors[index] = norm > 0 ? values.map { $0 / norm } : values
        }
        return vectors
    }
}
