import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RasiCore

/// A model endpoint the gateway forwards to: OpenAI-compatible (the key as a Bearer token) or
/// Anthropic's (the key as `x-api-key`).
public struct Upstream: Sendable {
    /// How the upstream's key is sent.
    public enum KeyHeader: Sendable {
        case bearer
        case apiKey
    }

    public let client: HTTPClient
    public let baseURL: String
    public let apiKey: String?
    public let keyHeader: KeyHeader
    public let timeout: TimeAmount

    public init(client: HTTPClient, baseURL: String, apiKey: String?, keyHeader: KeyHeader = .bearer, timeoutSeconds: Int) {
        self.client = client
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.keyHeader = keyHeader
        self.timeout = .seconds(Int64(timeoutSeconds))
    }

    /// The upstream's own credentials, replacing whatever the client sent to rasi.
    public func authorize(_ headers: inout HTTPHeaders) {
        headers.remove(name: "Authorization")
        headers.remove(name: "x-api-key")
        guard let apiKey else { return }
        switch keyHeader {
        case .bearer: headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        case .apiKey: headers.add(name: "x-api-key", value: apiKey)
        }
    }

    /// Response headers a client acts on, passed back on every route, errors included: when to
    /// retry, how much of its rate limit is left, and the id the provider's support asks for.
    public static func relayedHeaders(_ headers: HTTPHeaders) -> [(name: String, value: String)] {
        headers.filter { name, _ in
            let name = name.lowercased()
            return ["retry-after", "retry-after-ms", "request-id", "x-request-id"].contains(name) || name.hasPrefix("x-ratelimit-")
                || name.hasPrefix("anthropic-ratelimit-")
        }.map { (name: $0.name, value: $0.value) }
    }

    /// An HTTP client whose read timeout bounds the silence between two bytes of a stream.
    /// `maxInFlight` is the most calls the gateway lets run at once (0: no bound).
    public static func makeClient(connectTimeoutSeconds: Int, timeoutSeconds: Int, maxInFlight: Int) -> HTTPClient {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout = .init(connect: .seconds(Int64(connectTimeoutSeconds)), read: .seconds(Int64(timeoutSeconds)))
        // The client's default of 8 connections per host would queue every call past the
        // eighth behind the others: allow as many as the gateway lets in flight.
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maxInFlight > 0 ? max(8, maxInFlight) : 512
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// Sends a request and returns once the response head has arrived; the body is left to stream.
    public func send(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, headers: [(name: String, value: String)] = []
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + "/" + path)
        request.method = method
        request.headers.add(contentsOf: headers)
        authorize(&request.headers)
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(json)))
        }
        return try await client.execute(request, timeout: timeout)
    }

    /// The message inside an OpenAI-style error body, or the body's start.
    public static func errorMessage(_ body: ByteBuffer) -> String {
        let data = Data(buffer: body)
        if let json = try? JSONValue(parsing: data), let message = json["error"]?["message"]?.stringValue {
            return message
        }
        return String(decoding: data.prefix(300), as: UTF8.self)
    }
}
