import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RasiCore

/// A rasi server, through its REST API: `POST /api/v1/retrieve`, `/interactions`, `/feedback`,
/// `/lessons` and `/evaluations`. Retrieval and logging need an agent key; lessons and
/// evaluations a reviewer's.
public struct RasiClient: RasiConnection {
    public let baseURL: String
    let key: String
    let client: HTTPClient
    let timeout: TimeAmount

    /// `baseURL` is the server's root, e.g. `http://127.0.0.1:8080`.
    public init(baseURL: String, key: String, httpClient: HTTPClient, timeoutSeconds: Int64 = 30) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = key
        self.client = httpClient
        self.timeout = .seconds(timeoutSeconds)
    }

    func call(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let data = Data(buffer: try await response.body.collect(upTo: 32 * 1024 * 1024))
        guard (200..<300).contains(Int(response.status.code)) else {
            let message =
                (try? JSONValue(parsing: data))?["error"]?["message"]?.stringValue
                ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw RasiError.upstream(
                status: Int(response.status.code), message: "rasi answered \(method) \(path) with \(response.status.code): \(message)")
        }
        return data
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ what: String) throws -> T {
        do {
            return try RasiJSON.decoder().decode(type, from: data)
        } catch {
            throw RasiError.upstream(status: 502, message: "rasi's \(what) could not be read: \(error)")
        }
    }

    public func lessons(agent: String, query: String, model: String?) async throws -> LessonSelection {
        let body = RasiJSON.canonical(["agent": .string(agent), "query": .string(query)])
        return try decode(LessonSelection.self, try await call(.POST, "/api/v1/retrieve", body: body), "retrieval")
    }

    public func record(_ interaction: Interaction, injected: LessonSelection) async throws -> Interaction {
        let data = try await call(.POST, "/api/v1/interactions", body: try RasiJSON.encoder().encode(interaction))
        return try decode(Interaction.self, data, "interaction")
    }

    public func feedback(on interactionId: String, rating: Rating?, comment: String?) async throws {
        var body: [String: JSONValue] = [:]
        if let rating { body["rating"] = .string(rating.rawValue) }
        if let comment { body["comment"] = .string(comment) }
        _ = try await call(.POST, "/api/v1/interactions/\(interactionId)/feedback", body: RasiJSON.canonical(.object(body)))
    }

    public func createLesson(_ fields: LessonFields) async throws -> Lesson {
        try decode(Lesson.self, try await call(.POST, "/api/v1/lessons", body: try RasiJSON.encoder().encode(fields)), "lesson")
    }

    public func saveEvaluation(_ report: EvaluationReport) async throws {
        _ = try await call(.POST, "/api/v1/evaluations", body: try RasiJSON.encoder().encode(report))
    }
}
