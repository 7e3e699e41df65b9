import Foundation

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
