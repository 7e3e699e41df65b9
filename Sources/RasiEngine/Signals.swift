import Foundation
import Logging
import RasiCore

/// Implicit signals and flags: every way feedback reaches an interaction ends in
/// `applySignals`, which stores it and re-evaluates the flag rules in one transaction.
extension RasiServices {
    @discardableResult
    public func applySignals(_ interactionId: String, adding feedback: [Feedback] = []) async throws -> SignalOutcome {
        // Only with a holdout somewhere does the interaction's agent need reading first.
        var lift: LiftPolicy?
        if configuration.anyHoldout, !feedback.isEmpty, let agent = try await store.interaction(id: interactionId)?.agent {
            lift = configuration.liftPolicy(for: agent)
        }
        let outcome = try await store.applySignals(
            interactionId: interactionId, adding: feedback, rules: configuration.flagRules, efficacy: configuration.efficacy, lift: lift,
            enqueueJudge: configuration.judge.automatic, now: Date())
        RasiMetrics(metrics).recorded(outcome)
        return outcome
    }

    /// A new turn began: did the user ask for a human, or ask the previous turn's question again?
    /// The earlier turn gets the signal, as it is the one that failed the user. Without
    /// `findingEarlierTurn` (a conversation only derived from its opening words, which strangers
    /// share) the turn is looked at alone.
    public func detectSignals(startingTurn interaction: Interaction, findingEarlierTurn: Bool = true) async throws {
        let policy = configuration.signals
        var previous: Interaction?
        if findingEarlierTurn, let conversation = interaction.conversationId {
            previous = try await store.previousTurn(conversationId: conversation, before: interaction.id)
        }
        let now = interaction.createdAt
        if let phrase = policy.escalationPhrase(in: interaction.request) {
            // Asked for a human at the start of a conversation: the turn itself is the case to review.
            let target = previous?.id ?? interaction.id
            try await applySignals(
                target,
                adding: [
                    implicit(
                        .escalate, on: target, at: now,
                        comment: "the user asked for a human (\"\(phrase)\") in \(interaction.id)")
                ])
            return
        }
        guard let previous, policy.couldRephrase(previous, by: interaction.request, at: now) else { return }
        let similarity = try await textSimilarity(previous.request, interaction.request)
        guard policy.isRephrase(of: previous, by: interaction.request, similarity: similarity, lexical: embedder == nil, at: now) else { return }
        try await applySignals(
            previous.id,
            adding: [
                implicit(
                    .rephrase, on: previous.id, at: now,
                    comment: String(format: "asked again in %@ (similarity %.2f)", interaction.id, similarity))
            ])
    }

    /// A model call's outcome was logged: a hand-off tool call is an escalation, and the rules
    /// over the trace (an upstream error, a failed tool) may flag the turn.
    public func detectSignals(afterCall interaction: Interaction) async throws {
        var signals: [Feedback] = []
        if let handoff = configuration.signals.handoffCall(in: interaction.steps) {
            signals.append(implicit(.escalate, on: interaction.id, at: Date(), comment: "the agent handed off with \(handoff.name ?? "a tool")"))
        }
        let open = Set(interaction.flags.compactMap(\.rule))
        let holding = configuration.flagRules.evaluate(interaction)
        guard !signals.isEmpty || holding.contains(where: { !open.contains($0.rule) }) else { return }
        try await applySignals(interaction.id, adding: signals)
    }

    /// Both, for an interaction logged whole through the API.
    public func detectSignals(logged interaction: Interaction, logger: Logger) async {
        await neverFailing(interaction, logger: logger) {
            try await detectSignals(startingTurn: interaction)
            try await detectSignals(afterCall: interaction)
        }
    }

    /// Signals must never fail the call that logged the interaction: a failure is logged and the call goes on.
    public func neverFailing(_ interaction: Interaction, logger: Logger, _ detect: () async throws -> Void) async {
        do {
            try await detect()
        } catch {
            logger.warning("signal detection failed", metadata: ["interaction": "\(interaction.id)", "error": "\(error)"])
        }
    }

    /// How alike two texts are: the cosine of their embeddings, or of their terms without an embedder.
    public func textSimilarity(_ a: String, _ b: String) async throws -> Double {
        guard let embedder else { return TextTerms.similarity(TextTerms.terms(a), TextTerms.terms(b)) }
        let vectors = try await embedder.embed([a, b])
        guard vectors.count == 2 else { return 0 }
        return Embeddings.cosine(vectors[0], vectors[1])
    }

    public func implicit(_ signal: Signal, on interactionId: String, at date: Date, comment: String?) -> Feedback {
        Feedback(
            id: Identifier.make("fb"), interactionId: interactionId, rating: nil, comment: comment, source: .implicit, signal: signal, createdAt: date
        )
    }

    /// One pass of the abandonment sweep: every interaction quiet for longer than the
    /// abandonment window is looked at once; those that asked the user something or failed,
    /// and that nothing followed, get the abandon signal. Returns how many did.
    @discardableResult
    public func sweepAbandoned(now: Date = Date(), batch: Int = 200) async throws -> Int {
        let policy = configuration.signals
        var abandoned = 0
        while true {
            let candidates = try await store.unsweptInteractions(updatedBefore: now.addingTimeInterval(-policy.abandonAfter), limit: batch)
            for (interaction, followed) in candidates where policy.wasAbandoned(interaction, followedByAnotherTurn: followed, at: now) {
                // Stored before the batch is marked, and at most once: a crash in between repeats nothing.
                let outcome = try await applySignals(
                    interaction.id,
                    adding: [
                        implicit(
                            .abandon, on: interaction.id, at: now,
                            comment: interaction.error != nil
                                ? "no further message after an error" : "no further message after the agent asked a question")
                    ])
                abandoned += outcome.added.count
            }
            try await store.markSwept(candidates.map(\.interaction.id))
            if candidates.count < batch || Task.isCancelled { return abandoned }
        }
    }
}
