import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RasiCore
import RasiServer

/// Where an agent's lessons come from and its interactions go: a rasi store in this process
/// (`LocalRasi`) or a rasi server (`RasiClient`). Both apply the same selection policy.
public protocol RasiConnection: Sendable {
    /// The lessons to inject before the agent reasons about `query`.
    func lessons(agent: String, query: String, model: String?) async throws -> LessonSelection
    /// Logs a finished turn; returns it as stored (the server assigns the id when remote).
    func record(_ interaction: Interaction, injected: LessonSelection) async throws -> Interaction
    /// Feedback on a logged interaction, by its id.
    func feedback(on interactionId: String, rating: Rating?, comment: String?) async throws
    /// A new lesson, redacted and embedded as any other (`active` unless the fields say otherwise).
    func createLesson(_ fields: LessonFields) async throws -> Lesson
    /// Keeps an evaluation's report, for the admin panel.
    func saveEvaluation(_ report: EvaluationReport) async throws
}

/// rasi in this process, over a store opened with `RasiServices.open` (SQLite or PostgreSQL,
/// the same one a `rasi serve` may share).
public struct LocalRasi: RasiConnection {
    public let services: RasiServices
    /// Who the audit log names for lessons made through this connection.
    public var author: String
    let logger: Logger

    public init(services: RasiServices, author: String = "rasi library", logger: Logger = Logger(label: "rasi.agent")) {
        self.services = services
        self.author = author
        self.logger = logger
    }

    /// Opens the store and embedder `configuration` names, migrated and ready.
    public static func open(_ configuration: RasiConfiguration, httpClient: HTTPClient, logger: Logger = Logger(label: "rasi.agent")) async throws -> LocalRasi {
        LocalRasi(services: try await RasiServices.open(configuration, httpClient: httpClient, logger: logger), logger: logger)
    }

    /// Closes the store's connections.
    public func close() async {
        await closeStore(services.store)
    }

    public func lessons(agent: String, query: String, model: String?) async throws -> LessonSelection {
        try await services.selectLessons(agent: agent, query: query, model: model)
    }

    public func record(_ interaction: Interaction, injected: LessonSelection) async throws -> Interaction {
        try await services.ingest(interaction, injections: injected.injections(into: interaction.id), logger: logger)
    }

    public func feedback(on interactionId: String, rating: Rating?, comment: String?) async throws {
        guard try await services.store.interaction(id: interactionId) != nil else { throw RasiError.notFound("interaction \(interactionId)") }
        _ = try await services.addFeedback(to: interactionId, rating: rating, comment: comment)
    }

    public func createLesson(_ fields: LessonFields) async throws -> Lesson {
        try await services.createLesson(fields, author: author)
    }

    public func saveEvaluation(_ report: EvaluationReport) async throws {
        try await services.store.saveEvaluation(report)
    }
}

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
            let message = (try? JSONDecoder().decode(JSONValue.self, from: data))?["error"]?["message"]?.stringValue ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw RasiError.upstream(status: Int(response.status.code), message: "rasi answered \(method) \(path) with \(response.status.code): \(message)")
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
