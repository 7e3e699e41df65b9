import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RasiCore

/// The OpenAI-compatible model the gateway forwards to.
public struct Upstream: Sendable {
    public let client: HTTPClient
    public let baseURL: String
    public let apiKey: String?
    public let timeout: TimeAmount

    public init(client: HTTPClient, baseURL: String, apiKey: String?, timeoutSeconds: Int) {
        self.client = client
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.timeout = .seconds(Int64(timeoutSeconds))
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
    public func send(_ method: HTTPMethod, _ path: String, json: JSONValue? = nil) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + "/" + path)
        request.method = method
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(json)))
        }
        return try await client.execute(request, timeout: timeout)
    }

    /// The message inside an OpenAI-style error body, or the body's start.
    public static func errorMessage(_ body: ByteBuffer) -> String {
        let data = Data(buffer: body)
        if let json = try? JSONDecoder().decode(JSONValue.self, from: data), let message = json["error"]?["message"]?.stringValue {
            return message
        }
        return String(decoding: data.prefix(300), as: UTF8.self)
    }
}
