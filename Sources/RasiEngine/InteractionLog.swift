import Foundation
import Logging
import RasiCore

/// Reading the interaction log, and a reviewer's actions on it.
extension RasiServices {
    /// Interactions matching `filter`; the review queue (`flagged`) is worked oldest first.
    public func interactions(_ filter: InteractionFilter) async throws -> [Interaction] {
        var filter = filter
        filter.oldestFirst = filter.flagged == true
        return try await store.listInteractions(filter)
    }

    /// One interaction with its steps, feedback and flags.
    public func interaction(_ id: String) async throws -> Interaction {
        guard let interaction = try await store.interaction(id: id) else { throw RasiError.notFound("interaction \(id)") }
        return interaction
    }

    /// Takes an interaction out of the review queue; a rule does not raise a dismissed flag again.
    /// Returns how many flags were dismissed.
    /// The interaction of `agent` whose call produced the upstream response `responseId` (a
    /// Responses API call's `previous_response_id`), if rasi logged it.
    public func interaction(producing responseId: String, agent: String) async throws -> Interaction? {
        guard let interaction = try await store.interaction(responseId: responseId), interaction.agent == agent else { return nil }
        return interaction
    }

    public func dismissFlags(of interactionId: String, by actor: String) async throws -> Int {
        try await store.dismissFlags(interactionId: interactionId, by: actor, at: Date())
    }

    /// The correction box: a reviewer says what should have happened; the lesson's situation,
    /// `did`, agent and topic default to the interaction's.
    public func correct(_ interactionId: String, with fields: LessonFields, by actor: String) async throws -> Lesson {
        let interaction = try await interaction(interactionId)
        var fields = fields
        fields.agent = fields.agent ?? interaction.agent
        fields.situation = fields.situation ?? interaction.request
        fields.did = fields.did ?? interaction.didSummary
        fields.topic = fields.topic ?? interaction.topic
        fields.sourceInteractionId = interaction.id
        return try await createLesson(fields, author: actor)
    }

    /// The judge's runs on an interaction, oldest first.
    public func judgeRuns(of interactionId: String) async throws -> [JudgeRun] {
        _ = try await interaction(interactionId)
        return try await store.judgeRuns(interactionId: interactionId)
    }

    /// The judge's queue, optionally only the jobs in one status.
    public func judgeJobs(status: Job.Status?, limit: Int) async throws -> [Job] {
        try await store.listJobs(status: status, limit: limit)
    }
}

/// Writing the interaction log: interactions from agents outside the gateway, and feedback.
extension RasiServices {
    /// An interaction as it is logged: redacted as one record when `RASI_REDACT_INTERACTIONS`
    /// is on (the upstream still gets the user's words; only the log is redacted).
    /// `context` is read only when redacting: the common case pays nothing for it.
    public func forLog(_ interaction: Interaction, appending steps: [Step], context: @autoclosure () -> [String] = []) -> (Interaction, [Step]) {
        configuration.redactInteractions ? redactor.redact(interaction, appending: steps, context: context()) : (interaction, steps)
    }

    /// Logs an interaction from an agent that does not use the gateway (the REST API, the Swift
    /// library in process): topic filed, redacted when configured, the lessons it names recorded
    /// as injections (at their current versions, unless `injections` says more), signals detected.
    public func ingest(_ interaction: Interaction, injections: [Injection]? = nil, logger: Logger) async throws -> Interaction {
        var interaction = interaction
        if interaction.topic == nil { interaction.topic = try? await topics.classify(interaction.request) ?? nil }
        var recorded = injections ?? []
        if injections == nil {
            for (rank, id) in interaction.lessonsInjected.enumerated() {
                guard let lesson = try await store.lesson(id: id) else { continue }
                recorded.append(Injection(interactionId: interaction.id, lessonId: id, version: lesson.version, rank: rank + 1, score: 0))
            }
        }
        let logged = forLog(interaction, appending: []).0
        try await store.createInteraction(logged, turnKey: nil, injections: recorded)
        await detectSignals(logged: logged, logger: logger)
        return try await store.interaction(id: interaction.id) ?? logged
    }

    /// Feedback on an interaction, from its user, a reviewer or a signal. False when it was an
    /// implicit signal the interaction already had: acknowledged, not counted twice.
    public func addFeedback(
        to interactionId: String, rating: Rating?, comment: String?, source: FeedbackSource = .user, signal: Signal? = nil
    ) async throws -> (feedback: Feedback, added: Bool) {
        let comment = comment?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard rating != nil || signal != nil || !(comment ?? "").isEmpty else {
            throw RasiError.invalidField("rating", "one of rating, comment or signal is required")
        }
        if let comment, comment.count > 4000 { throw RasiError.invalidField("comment", "must be at most 4000 characters") }
        let feedback = Feedback(
            id: Identifier.make("fb"), interactionId: interactionId, rating: rating,
            comment: configuration.redactInteractions ? comment.map(redactor.redact) : comment,
            source: source, signal: signal, createdAt: Date())
        let outcome = try await applySignals(interactionId, adding: [feedback])
        return (feedback, !outcome.added.isEmpty)
    }
}
