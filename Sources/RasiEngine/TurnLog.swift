import Foundation
import Logging
import RasiCore

/// Groups the calls of one agent turn into one interaction and logs each call's outcome.
public struct TurnLog: Sendable {
    let services: RasiServices
    let logger: Logger
    var store: any InteractionStore { services.store }

    public init(services: RasiServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    /// Finds the turn this call continues, or starts a new interaction; records what the
    /// client sent (the user's request, tool results) and which lessons were injected.
    public func begin(
        _ chat: ChatRequest, agent: String, userId: String?, conversationHeader: String?, selection: LessonSelection
    ) async throws -> (Interaction, isNew: Bool) {
        let now = Date()
        let turnKey = chat.turnKey(agent: agent, userId: userId)
        let injectedIds = selection.lessons.map(\.lesson.id)
        var interaction: Interaction
        var isNew = false
        if chat.continuesTurn,
            let existing = try await store.interaction(
                turnKey: turnKey, since: now.addingTimeInterval(-TimeInterval(services.configuration.turnWindowSeconds)))
        {
            interaction = existing
            let known = Set(existing.steps.filter { $0.kind == .toolResult }.compactMap(\.callId))
            let steps = chat.toolResultSteps(excluding: known, at: now)
            interaction.messages = .array(chat.messages.map { .object($0) })
            interaction.lessonsInjected += injectedIds.filter { !interaction.lessonsInjected.contains($0) }
            interaction.updatedAt = now
            let (logged, loggedSteps) = services.forLog(interaction, appending: steps, context: chat.conversationTexts)
            // The injections go in the same transaction: one fsync per call, not two.
            try await store.updateInteraction(logged, appendingSteps: loggedSteps, injections: selection.injections(into: logged.id))
            interaction = logged
            interaction.steps += loggedSteps
        } else {
            // Filed under a topic as it is logged; the request's vector is the one retrieval just made.
            let topic = try? await services.topics.classify(chat.latestUserText)
            interaction = Interaction(
                agent: agent, conversationId: chat.conversationId(agent: agent, userId: userId, header: conversationHeader),
                userId: userId, request: chat.latestUserText, messages: .array(chat.messages.map { .object($0) }),
                steps: [Step(kind: .message, name: "user", content: chat.latestUserText, at: now)] + chat.toolResultSteps(excluding: [], at: now),
                model: chat.model, lessonsInjected: injectedIds, topic: topic ?? nil, createdAt: now)
            interaction = services.forLog(interaction, appending: [], context: chat.conversationTexts).0
            try await store.createInteraction(interaction, turnKey: turnKey, injections: selection.injections(into: interaction.id))
            isNew = true
        }
        return (interaction, isNew)
    }

    public func detectSignals(startingTurn interaction: Interaction, isNew: Bool) async {
        guard isNew else { return }
        await services.neverFailing(interaction, logger: logger) { try await services.detectSignals(startingTurn: interaction) }
    }

    /// Records one model call's reply (or failure), its latency and tokens.
    public func finish(
        _ interaction: inout Interaction, chat: ChatRequest, reply: ModelReply?, error: String?, since started: ContinuousClock.Instant
    ) async throws {
        let elapsed = ContinuousClock.now - started
        let now = Date()
        let steps = reply?.steps(at: now) ?? []
        if let reply {
            if let content = reply.content, !content.isEmpty { interaction.response = content }
            if let model = reply.model { interaction.model = model }
            if let usage = reply.usage { interaction.tokens = interaction.tokens + usage }
        }
        interaction.error = error
        interaction.latencyMs += elapsed.milliseconds
        interaction.updatedAt = now
        let (logged, loggedSteps) = services.forLog(interaction, appending: steps, context: chat.conversationTexts)
        try await PhaseTimings.measure("log") { try await store.updateInteraction(logged, appendingSteps: loggedSteps) }
        interaction = logged
        interaction.steps += loggedSteps
        let finished = interaction
        await services.neverFailing(finished, logger: logger) { try await services.detectSignals(afterCall: finished) }
    }
}
