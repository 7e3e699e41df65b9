import Foundation
import Logging
import RasiCore

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
